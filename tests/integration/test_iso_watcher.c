/* libisoburn's message watcher thread handing xorriso's messages over late. This binary is
 * linked with -Wl,--wrap=pthread_mutex_init,--wrap=pthread_mutex_lock (tests/CMakeLists.txt):
 * when armed, the watcher thread's first lock of the struct xr's mutex, i.e. on_result about to
 * store the -lsdi answer, waits longer than the 5 s src/iso/iso.c's old
 * Xorriso_peek_outlists(x, -1, 5, 4) gave the watcher before reading the result anyway: the
 * answer was lost and an Ubuntu image refused as "not an Ubuntu live-server ISO (no /casper)".
 * iso.c now fetches pending messages on its own thread once the watcher is idle (the watcher's
 * 25 ms naps were most of build-iso's time); so that the watcher, not our thread, takes the
 * answer here, each look of our thread at the outlists (--wrap=Xorriso_peek_outlists) comes
 * only after many of the watcher's rounds until the watcher has been held.
 * (The remaster's progress object, freed while the watcher could still use it, is not
 * reproducible this way: xorriso prints a "Writing: n%" line for a small image only now and
 * then; TSan's run of test_iso reports that race, scripts/test.sh --tsan.) Real xorriso, a real
 * image. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/iso.h"
#include "k3sforge/proc.h"

/* longer than the old wait: 5 s plus up to 1 s of its time() granularity */
#define LATE_S 7

/* how long each look of our thread waits while armed: many of the watcher's 25 ms rounds */
#define WATCHER_FIRST_MS 300

static char g_dir[64], g_ubuntu[128];
static pthread_t g_main;
static atomic_int g_find_xr_mu, g_delay_lock, g_delay_peek;
static pthread_mutex_t *_Atomic g_xr_mu;

struct XorrisO;
int __real_Xorriso_peek_outlists(struct XorrisO *x, int stack_handle, int timeout, int flag);
int __wrap_Xorriso_peek_outlists(struct XorrisO *x, int stack_handle, int timeout, int flag);
int __real_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a);
int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a);
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);

/* Armed right before kf_iso_check_ubuntu: its first mutex is xr_open's struct xr.mu. */
int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	if (atomic_exchange(&g_find_xr_mu, 0))
		atomic_store(&g_xr_mu, m);
	return __real_pthread_mutex_init(m, a);
}

int __wrap_Xorriso_peek_outlists(struct XorrisO *x, int stack_handle, int timeout, int flag)
{
	/* until the watcher has taken (and been held on) the answer */
	if (atomic_load(&g_delay_peek) && atomic_load(&g_delay_lock))
		usleep(WATCHER_FIRST_MS * 1000);
	return __real_Xorriso_peek_outlists(x, stack_handle, timeout, flag);
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (m == atomic_load(&g_xr_mu) && !pthread_equal(pthread_self(), g_main) &&
	    atomic_exchange(&g_delay_lock, 0))
		sleep(LATE_S);
	return __real_pthread_mutex_lock(m);
}

static int group_setup(void **state)
{
	char script[512];
	const char *argv[] = { "bash", "-c", script, "_", NULL, NULL };
	struct kf_proc p;
	struct kf_err err;
	int r;

	(void)state;
	g_main = pthread_self();
	snprintf(g_dir, sizeof(g_dir), "/tmp/kfisow.XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_ubuntu, sizeof(g_ubuntu), "%s/ubuntu.iso", g_dir);
	/* what kf_iso_check_ubuntu looks for: /casper and /.disk/info */
	snprintf(script, sizeof(script),
		 "set -e; t=$(dirname \"$1\")/tree; mkdir -p \"$t/casper\" \"$t/.disk\"; "
		 "echo 'Ubuntu-Server 22.04.5 LTS' >\"$t/.disk/info\"; echo k >\"$t/casper/vmlinuz\"; "
		 "xorriso -as mkisofs -r -o \"$1\" \"$t\" 2>/dev/null");
	argv[4] = g_ubuntu;
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 300000;
	p.out_max = 1024 * 1024;
	r = kf_proc_run(&p, &err);
	if (r != 0 || p.exit_code != 0) {
		fprintf(stderr, "fixture: %s%s\n", r ? err.msg : "", kf_buf_str(&p.errout));
		r = -1;
	}
	kf_proc_free(&p);
	return r;
}

static int group_teardown(void **state)
{
	(void)state;
	kf_fs_remove_tree(g_dir, NULL);
	return 0;
}

static void test_iso_check_waits_for_a_late_lsdi_answer(void **state)
{
	struct kf_err err;
	int r;

	(void)state;
	atomic_store(&g_find_xr_mu, 1);
	atomic_store(&g_delay_lock, 1);
	atomic_store(&g_delay_peek, 1);
	r = kf_iso_check_ubuntu(g_ubuntu, &err);
	atomic_store(&g_xr_mu, NULL);
	atomic_store(&g_delay_peek, 0);
	assert_int_equal(atomic_load(&g_delay_lock), 0); /* the watcher was late */
	if (r != 0)
		fail_msg("an Ubuntu-shaped image refused: %s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso_check_waits_for_a_late_lsdi_answer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
