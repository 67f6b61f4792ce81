/* The lab's fan-out (src/core/fanout.c): every item once, a result each, at most `limit` at a
 * time, and after an interrupt nothing new begins. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "k3sforge/err.h"
#include "k3sforge/fanout.h"
#include "k3sforge/platform.h"

#define N 12

struct load {
	atomic_int running, most, calls;
	atomic_int seen[N];
	int fail_from;          /* items >= this fail with KF_EFAIL */
	int interrupt_at;       /* the item that raises SIGTERM (-1 = none) */
};

static int work(void *arg, size_t i)
{
	struct load *l = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int now = atomic_fetch_add(&l->running, 1) + 1, most;

	while ((most = atomic_load(&l->most)) < now &&
	       !atomic_compare_exchange_weak(&l->most, &most, now))
		;
	atomic_fetch_add(&l->seen[i], 1);
	atomic_fetch_add(&l->calls, 1);
	if ((int)i == l->interrupt_at)
		raise(SIGTERM);
	nanosleep(&ts, NULL);
	atomic_fetch_sub(&l->running, 1);
	return (int)i >= l->fail_from ? KF_EFAIL : 0;
}

static void test_every_item_once_with_its_result(void **state)
{
	static struct load l;
	int rcs[N];

	(void)state;
	memset(&l, 0, sizeof(l));
	l.fail_from = 9;
	l.interrupt_at = -1;
	assert_int_equal(kf_each_node(N, 0, work, &l, rcs), 3);
	for (int i = 0; i < N; i++) {
		assert_int_equal(atomic_load(&l.seen[i]), 1);
		assert_int_equal(rcs[i], i >= 9 ? KF_EFAIL : 0);
	}
	/* 0 = all at once: more than one ran side by side */
	assert_true(atomic_load(&l.most) > 1);
}

static void test_limit_bounds_the_concurrency(void **state)
{
	static struct load l;

	(void)state;
	memset(&l, 0, sizeof(l));
	l.fail_from = N;
	l.interrupt_at = -1;
	assert_int_equal(kf_each_node(N, 3, work, &l, NULL), 0);
	assert_int_equal(atomic_load(&l.calls), N);
	assert_true(atomic_load(&l.most) <= 3);
	assert_true(atomic_load(&l.most) >= 2);
}

static void test_begin_end_lets_the_caller_work_meanwhile(void **state)
{
	static struct load l;
	struct kf_each *e;
	int rcs[N];

	(void)state;
	memset(&l, 0, sizeof(l));
	l.fail_from = N;
	l.interrupt_at = -1;
	e = kf_each_node_begin(N, 0, work, &l, rcs);
	assert_non_null(e);
	/* the items run while this thread goes on */
	assert_int_equal(kf_each_node_end(e), 0);
	assert_int_equal(atomic_load(&l.calls), N);
	assert_int_equal(kf_each_node(0, 0, work, &l, NULL), 0);
}

/* Last: the interrupt flag stays set for the rest of the process. */
static void test_nothing_new_begins_after_an_interrupt(void **state)
{
	static struct load l;
	int rcs[N];
	size_t failed;

	(void)state;
	memset(&l, 0, sizeof(l));
	l.fail_from = N;
	l.interrupt_at = 0;
	kf_platform_install_signals();
	/* one at a time: item 0 raises SIGTERM, nothing after it begins */
	failed = kf_each_node(N, 1, work, &l, rcs);
	assert_true(kf_interrupted());
	assert_int_equal(atomic_load(&l.calls), 1);
	assert_int_equal(rcs[0], 0);
	for (int i = 1; i < N; i++)
		assert_int_equal(rcs[i], KF_EINTR);
	assert_int_equal(failed, N - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item_once_with_its_result),
		cmocka_unit_test(test_limit_bounds_the_concurrency),
		cmocka_unit_test(test_begin_end_lets_the_caller_work_meanwhile),
		cmocka_unit_test(test_nothing_new_begins_after_an_interrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
