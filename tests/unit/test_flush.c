/* The flush thread (src/core/flush.c): every file made durable once, its hook run after it on
 * the flush thread in the order given, a failure named and kept (the first), every argument
 * released, and a new batch after a wait. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/err.h"
#include "k3sforge/flush.h"
#include "k3sforge/fs.h"

static char g_dir[64];

struct hook {
	int order[8];
	int n, freed;
	pthread_t caller;
	int other_thread;
	int fail_at; /* the hook of this index fails (-1 = none) */
};

struct arg {
	struct hook *h;
	int i;
};

static int done(void *a, struct kf_err *err)
{
	struct arg *x = a;

	x->h->order[x->h->n++] = x->i;
	if (!pthread_equal(pthread_self(), x->h->caller))
		x->h->other_thread++;
	if (x->i == x->h->fail_at)
		return kf_err_set(err, KF_EIO, "hook %d failed", x->i);
	return 0;
}

static void arg_free(void *a)
{
	struct arg *x = a;

	x->h->freed++;
	free(x);
}

static void hand_over(struct hook *h, const char *name, int i, int expect)
{
	char path[128];
	struct arg *x = malloc(sizeof(*x));
	struct kf_err err;

	assert_non_null(x);
	x->h = h;
	x->i = i;
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	assert_int_equal(kf_flush_later(path, done, x, arg_free, &err), expect);
}

static int setup(void **state)
{
	struct kf_err err;

	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/kf-flush-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	for (int i = 0; i < 3; i++) {
		char p[128];

		snprintf(p, sizeof(p), "%s/f%d", g_dir, i);
		if (kf_fs_write_atomic(p, "x", 1, 0644, &err) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct kf_err err;

	(void)state;
	return kf_fs_remove_tree(g_dir, &err);
}

static void test_flush_runs_each_hook_after_its_file_in_order(void **state)
{
	struct hook h = { .fail_at = -1, .caller = pthread_self() };
	struct kf_err err;

	(void)state;
	hand_over(&h, "f0", 0, 0);
	hand_over(&h, "f1", 1, 0);
	hand_over(&h, "f2", 2, 0);
	assert_int_equal(kf_flush_wait(&err), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.order[0], 0);
	assert_int_equal(h.order[1], 1);
	assert_int_equal(h.order[2], 2);
	assert_int_equal(h.other_thread, 3);
	assert_int_equal(h.freed, 3);
	/* nothing pending: nothing to report */
	assert_int_equal(kf_flush_wait(&err), 0);
}

static void test_flush_names_the_first_failure_and_goes_on(void **state)
{
	struct hook h = { .fail_at = 2, .caller = pthread_self() };
	struct kf_err err;

	(void)state;
	hand_over(&h, "f0", 0, 0);
	hand_over(&h, "missing", 1, 0); /* no file: its hook never runs */
	hand_over(&h, "f2", 2, 0);      /* its hook fails: a second failure, not reported */
	hand_over(&h, "f1", 3, 0);
	assert_int_equal(kf_flush_wait(&err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/missing"));
	assert_int_equal(h.n, 3);
	assert_int_equal(h.order[0], 0);
	assert_int_equal(h.order[1], 2);
	assert_int_equal(h.order[2], 3);
	assert_int_equal(h.freed, 4);
	/* the failure was reported once; a new batch starts clean */
	h = (struct hook){ .fail_at = -1, .caller = pthread_self() };
	hand_over(&h, "f1", 0, 0);
	assert_int_equal(kf_flush_wait(&err), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.freed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_runs_each_hook_after_its_file_in_order),
		cmocka_unit_test(test_flush_names_the_first_failure_and_goes_on),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
