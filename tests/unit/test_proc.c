/* The process runner: exit codes, capture, stdin, env, cwd, not found, timeouts that kill the
 * whole group, bounded output, signals, error messages, quoting and masking, servers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"

static int teardown(void **state)
{
	(void)state;
	kf_log_shutdown();
	return 0;
}

/* Waits (bounded) for a pid that became our child through the subreaper setting; returns its
 * wait status, or -1 if it did not end (then it is killed so no test leaves it behind). */
static int reap_orphan(pid_t pid)
{
	int status;

	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return status;
		if (w < 0 && errno == ECHILD)
			return kill(pid, 0) == 0 ? -1 : 0;
		kf_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void test_proc_reports_exit_code(void **state)
{
	const char *argv[] = { "sh", "-c", "exit 7", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 7);
	assert_false(p.signaled);
	assert_false(p.timed_out);
	assert_true(p.pid > 0);
	kf_proc_free(&p);
}

static void test_proc_captures_stdout_and_stderr_separately(void **state)
{
	const char *argv[] = { "sh", "-c", "echo to-out; echo to-err >&2; echo more-out", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 0);
	assert_string_equal(kf_buf_str(&p.out), "to-out\nmore-out\n");
	assert_string_equal(kf_buf_str(&p.errout), "to-err\n");
	kf_proc_free(&p);
}

static void test_proc_feeds_stdin(void **state)
{
	const char *argv[] = { "cat", NULL };
	const char *in = "line one\nline two\n";
	struct kf_proc p = { .argv = argv, .stdin_data = in, .stdin_len = strlen(in) };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_string_equal(kf_buf_str(&p.out), in);
	kf_proc_free(&p);
}

static void test_proc_feeds_large_stdin_while_reading_output(void **state)
{
	const char *argv[] = { "cat", NULL };
	size_t n = 8u * 1024 * 1024;
	char *in = malloc(n);
	struct kf_proc p = { .argv = argv, .out_max = n };
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	p.stdin_data = in;
	p.stdin_len = n;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.out.len, n);
	assert_memory_equal(p.out.data, in, n);
	assert_false(p.truncated);
	kf_proc_free(&p);
	free(in);
}

static void test_proc_child_ignoring_stdin_does_not_kill_us_with_sigpipe(void **state)
{
	const char *argv[] = { "true", NULL };
	size_t n = 4u * 1024 * 1024;
	char *in = calloc(1, n);
	struct kf_proc p = { .argv = argv, .stdin_len = n };
	struct kf_err err;

	(void)state;
	p.stdin_data = in;
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 0);
	kf_proc_free(&p);
	free(in);
}

static void test_proc_env_additions_override_inherited_variables(void **state)
{
	const char *argv[] = { "sh", "-c", "echo \"$KF_T_VAR|$KF_T_NEW|$KF_T_KEPT\"", NULL };
	const char *env[] = { "KF_T_VAR=override", "KF_T_NEW=added", NULL };
	struct kf_proc p = { .argv = argv, .env = env };
	struct kf_err err;

	(void)state;
	setenv("KF_T_VAR", "inherited", 1);
	setenv("KF_T_KEPT", "kept", 1);
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_string_equal(kf_buf_str(&p.out), "override|added|kept\n");
	unsetenv("KF_T_VAR");
	unsetenv("KF_T_KEPT");
	kf_proc_free(&p);
}

static void test_proc_runs_in_the_given_directory(void **state)
{
	char dir[] = "/tmp/kf_test_proc.XXXXXX";
	const char *argv[] = { "pwd", "-P", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;
	char *real, *expect;

	(void)state;
	assert_non_null(mkdtemp(dir));
	p.cwd = dir;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	real = realpath(dir, NULL);
	assert_non_null(real);
	assert_int_equal(asprintf(&expect, "%s\n", real), (int)strlen(real) + 1);
	assert_string_equal(kf_buf_str(&p.out), expect);
	free(expect);
	free(real);
	rmdir(dir);
	kf_proc_free(&p);
}

static void test_proc_missing_program_is_not_found(void **state)
{
	const char *argv[] = { "kf-no-such-program-here", NULL };
	const char *argv2[] = { "/nonexistent/dir/prog", NULL };
	struct kf_proc p = { .argv = argv }, p2 = { .argv = argv2 };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "kf-no-such-program-here"));
	assert_non_null(strstr(err.msg, "not found"));
	assert_int_equal(kf_proc_run(&p2, &err), KF_ENOTFOUND);
	kf_proc_free(&p);
	kf_proc_free(&p2);
}

static void test_proc_missing_working_directory_is_named(void **state)
{
	const char *argv[] = { "true", NULL };
	struct kf_proc p = { .argv = argv, .cwd = "/nonexistent/kf-dir" };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), KF_ENOTFOUND);
	assert_string_equal(err.msg, "cannot run true in /nonexistent/kf-dir: no such directory");
	kf_proc_free(&p);
}

static void test_proc_timeout_kills_the_whole_process_group(void **state)
{
	/* The child starts a grandchild and waits on it; both must die at the deadline. */
	const char *argv[] = { "sh", "-c", "sleep 100 & echo $!; wait", NULL };
	struct kf_proc p = { .argv = argv, .timeout_ms = 300 };
	struct kf_err err;
	long gpid;
	int status;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), KF_ETIMEOUT);
	assert_true(p.timed_out);
	assert_non_null(strstr(err.msg, "sh did not finish"));
	gpid = strtol(kf_buf_str(&p.out), NULL, 10);
	assert_true(gpid > 1);
	status = reap_orphan((pid_t)gpid);
	assert_int_not_equal(status, -1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_false(kf_proc_alive(gpid));
	kf_proc_free(&p);
}

static void test_proc_timeout_applies_after_child_closes_its_output(void **state)
{
	/* Output closed at once, then a long sleep: the wait for the exit keeps the deadline. */
	const char *argv[] = { "sh", "-c", "exec >/dev/null 2>&1; exec sleep 30", NULL };
	struct kf_proc p = { .argv = argv, .timeout_ms = 200 };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), KF_ETIMEOUT);
	assert_true(p.timed_out);
	assert_false(kf_proc_alive(p.pid));
	kf_proc_free(&p);
}

static void test_proc_interrupt_stops_the_child(void **state)
{
	/* In a forked copy of the test, since the interrupted flag cannot be cleared. */
	pid_t t;
	int status;

	(void)state;
	t = fork();
	assert_true(t >= 0);
	if (t == 0) {
		/* Ctrl-C arrives while the program runs: the program sends it to us itself. */
		const char *argv[] = { "sh", "-c", "kill -INT $PPID; exec sleep 30", NULL };
		struct kf_proc p = { .argv = argv };
		struct kf_err err;
		int r;
		kf_platform_install_signals();
		r = kf_proc_run(&p, &err);
		_exit(r == KF_EINTR && !kf_proc_alive(p.pid) && p.signaled &&
				      p.term_signal == SIGTERM
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(t, &status, 0), t);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_proc_runs_normally_after_an_earlier_interrupt(void **state)
{
	pid_t t;
	int status;

	(void)state;
	t = fork();
	assert_true(t >= 0);
	if (t == 0) {
		const char *argv[] = { "sh", "-c", "sleep 0.3; exit 6", NULL };
		struct kf_proc p = { .argv = argv };
		struct kf_err err;
		int r;
		kf_platform_install_signals();
		raise(SIGINT);
		r = kf_proc_run(&p, &err);
		_exit(r == 0 && !p.signaled && p.exit_code == 6 ? 0 : 1);
	}
	assert_int_equal(waitpid(t, &status, 0), t);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_proc_returns_when_child_exits_though_grandchild_holds_pipes(void **state)
{
	/* A program that starts a daemon and exits: we return at its exit, not the daemon's. */
	const char *argv[] = { "sh", "-c", "sleep 60 & echo $!", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;
	long gpid;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 0);
	gpid = strtol(kf_buf_str(&p.out), NULL, 10);
	assert_true(gpid > 1);
	assert_true(kf_proc_alive(gpid));
	kill((pid_t)gpid, SIGKILL);
	assert_int_not_equal(reap_orphan((pid_t)gpid), -1);
	kf_proc_free(&p);
}

static void test_proc_big_output_is_bounded_and_marked_truncated(void **state)
{
	/* 50 MB on each stream at once, 1 MiB kept of each: no deadlock, bounded memory. */
	const char *argv[] = { "sh", "-c",
			       "head -c 52428800 /dev/zero >&2 & head -c 52428800 /dev/zero; wait",
			       NULL };
	struct kf_proc p = { .argv = argv, .out_max = 1024 * 1024 };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 0);
	assert_true(p.truncated);
	assert_int_equal(p.out.len, 1024 * 1024);
	assert_int_equal(p.errout.len, 1024 * 1024);
	kf_proc_free(&p);
}

static void test_proc_output_within_the_bound_is_complete(void **state)
{
	const char *argv[] = { "seq", "1", "200000", NULL };
	struct kf_proc p = { .argv = argv, .out_max = 4 * 1024 * 1024 };
	struct kf_err err;
	size_t expect = 0;
	char num[16];

	(void)state;
	for (int i = 1; i <= 200000; i++)
		expect += (size_t)snprintf(num, sizeof(num), "%d\n", i);
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_false(p.truncated);
	assert_int_equal(p.out.len, expect);
	assert_non_null(strstr(kf_buf_str(&p.out), "\n199999\n200000\n"));
	kf_proc_free(&p);
}

static void test_proc_reports_segv_signal(void **state)
{
	const char *argv[] = { "sh", "-c", "kill -SEGV $$", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_true(p.signaled);
	assert_int_equal(p.term_signal, SIGSEGV);
	assert_false(p.timed_out);
	kf_proc_free(&p);
}

static void test_proc_reports_term_signal(void **state)
{
	const char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_true(p.signaled);
	assert_int_equal(p.term_signal, SIGTERM);
	kf_proc_free(&p);
}

static void test_proc_run_ok_message_names_program_status_and_last_stderr_line(void **state)
{
	const char *argv[] = { "sh", "-c", "echo noise; echo first >&2; echo 'last words' >&2; exit 3",
			       NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run_ok(&p, &err), KF_EPROC);
	assert_int_equal(err.code, KF_EPROC);
	assert_string_equal(err.msg, "sh exited with status 3: last words");
	kf_proc_free(&p);
}

static void test_proc_run_ok_uses_stdout_when_stderr_is_empty(void **state)
{
	const char *argv[] = { "sh", "-c", "echo 'only stdout'; exit 1", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run_ok(&p, &err), KF_EPROC);
	assert_string_equal(err.msg, "sh exited with status 1: only stdout");
	kf_proc_free(&p);
}

static void test_proc_run_ok_names_the_signal(void **state)
{
	const char *argv[] = { "sh", "-c", "kill -SEGV $$", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;
	char expect[64];

	(void)state;
	assert_int_equal(kf_proc_run_ok(&p, &err), KF_EPROC);
	snprintf(expect, sizeof(expect), "sh was killed by signal %d", SIGSEGV);
	assert_non_null(strstr(err.msg, expect));
	kf_proc_free(&p);
}

static void test_proc_run_ok_masks_secrets_in_the_message(void **state)
{
	const char *argv[] = { "sh", "-c", "echo 'login failed for token tok-SECRET-99' >&2; exit 1",
			       NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	kf_log_add_secret("tok-SECRET-99");
	assert_int_equal(kf_proc_run_ok(&p, &err), KF_EPROC);
	assert_null(strstr(err.msg, "SECRET"));
	assert_non_null(strstr(err.msg, "token ***"));
	kf_proc_free(&p);
}

static void test_proc_run_ok_succeeds_on_exit_zero(void **state)
{
	const char *argv[] = { "true", NULL };
	struct kf_proc p = { .argv = argv };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run_ok(&p, &err), 0);
	kf_proc_free(&p);
}

static void test_proc_cmdline_quotes_only_what_needs_it(void **state)
{
	const char *argv[] = { "vmrun", "-T", "ws", "/a b/c.vmx", "it's", "", "a$b", "x=y,z", NULL };
	char *s;

	(void)state;
	s = kf_proc_cmdline(argv);
	assert_string_equal(s, "vmrun -T ws '/a b/c.vmx' 'it'\\''s' '' 'a$b' x=y,z");
	free(s);
}

static void test_proc_cmdline_masks_secrets_even_with_quotes_inside(void **state)
{
	const char *argv[] = { "tool", "--password=it's-a-secret", "plain-secret-42", NULL };
	char *s;

	(void)state;
	kf_log_add_secret("it's-a-secret");
	kf_log_add_secret("plain-secret-42");
	s = kf_proc_cmdline(argv);
	assert_null(strstr(s, "secret"));
	assert_string_equal(s, "tool '--password=***' '***'");
	free(s);
}

static void test_proc_alive_is_false_for_someone_elses_zombie(void **state)
{
	int fds[2];
	pid_t a;
	long b = 0;
	(void)state;
	assert_int_equal(pipe(fds), 0);
	a = fork();
	if (a == 0) {
		/* A: makes B, which exits at once; A never reaps it. */
		pid_t child = fork();
		if (child == 0)
			_exit(0);
		long v = child;
		if (write(fds[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &b, sizeof(b)), sizeof(b));
	close(fds[0]);
	for (int i = 0; i < 200 && kf_proc_alive(b); i++)
		kf_sleep_ms(10);
	assert_false(kf_proc_alive(b));
	assert_true(kf_proc_alive(a));
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	assert_false(kf_proc_alive(a));
}

static void test_proc_start_and_stop_a_server(void **state)
{
	const char *argv[] = { "sleep", "100", NULL };
	struct kf_proc p = { .argv = argv, .detach = true };
	struct kf_err err;
	int status;

	(void)state;
	assert_int_equal(kf_proc_start(&p, &err), 0);
	assert_true(p.pid > 0);
	assert_true(kf_proc_alive(p.pid));
	assert_int_equal(kf_proc_stop(p.pid, 2000), 0);
	assert_false(kf_proc_alive(p.pid));
	/* reaped: no zombie left */
	assert_int_equal(waitpid((pid_t)p.pid, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	kf_proc_free(&p);
}

static void test_proc_stop_kills_a_server_that_ignores_sigterm(void **state)
{
	const char *argv[] = { "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done",
			       NULL };
	char dir[] = "/tmp/kf_test_proc.XXXXXX";
	struct kf_proc p = { .argv = argv, .detach = true };
	struct kf_err err;
	char *log, *data = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	log = kf_path_join(dir, "server.log");
	p.log_file = log;
	assert_int_equal(kf_proc_start(&p, &err), 0);
	for (int i = 0; i < 500; i++) {
		free(data);
		data = NULL;
		if (kf_fs_read(&data, NULL, log, 4096, NULL) == 0 && strstr(data, "ready"))
			break;
		kf_sleep_ms(10);
	}
	assert_non_null(data);
	assert_string_equal(data, "ready\n");
	assert_int_equal(kf_proc_stop(p.pid, 200), 0);
	assert_false(kf_proc_alive(p.pid));
	free(data);
	free(log);
	kf_fs_remove_tree(dir, NULL);
	kf_proc_free(&p);
}

static void test_proc_which_finds_programs_in_path_only(void **state)
{
	char *sh = kf_proc_which("sh");

	(void)state;
	assert_non_null(sh);
	assert_true(sh[0] == '/');
	assert_int_equal(access(sh, X_OK), 0);
	assert_string_equal(strrchr(sh, '/'), "/sh");
	free(sh);
	assert_null(kf_proc_which("kf-no-such-program-here"));
	assert_null(kf_proc_which("/tmp"));
	assert_null(kf_proc_which(""));
}

static void test_proc_inherited_output_still_reports_exit_code(void **state)
{
	const char *argv[] = { "sh", "-c", "exit 4", NULL };
	struct kf_proc p = { .argv = argv, .inherit_output = true };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 4);
	kf_proc_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, teardown)
		T(test_proc_reports_exit_code),
		T(test_proc_captures_stdout_and_stderr_separately),
		T(test_proc_feeds_stdin),
		T(test_proc_feeds_large_stdin_while_reading_output),
		T(test_proc_child_ignoring_stdin_does_not_kill_us_with_sigpipe),
		T(test_proc_env_additions_override_inherited_variables),
		T(test_proc_runs_in_the_given_directory),
		T(test_proc_missing_program_is_not_found),
		T(test_proc_missing_working_directory_is_named),
		T(test_proc_timeout_kills_the_whole_process_group),
		T(test_proc_timeout_applies_after_child_closes_its_output),
		T(test_proc_interrupt_stops_the_child),
		T(test_proc_runs_normally_after_an_earlier_interrupt),
		T(test_proc_returns_when_child_exits_though_grandchild_holds_pipes),
		T(test_proc_big_output_is_bounded_and_marked_truncated),
		T(test_proc_output_within_the_bound_is_complete),
		T(test_proc_reports_segv_signal),
		T(test_proc_reports_term_signal),
		T(test_proc_run_ok_message_names_program_status_and_last_stderr_line),
		T(test_proc_run_ok_uses_stdout_when_stderr_is_empty),
		T(test_proc_run_ok_names_the_signal),
		T(test_proc_run_ok_masks_secrets_in_the_message),
		T(test_proc_run_ok_succeeds_on_exit_zero),
		T(test_proc_cmdline_quotes_only_what_needs_it),
		T(test_proc_cmdline_masks_secrets_even_with_quotes_inside),
		T(test_proc_start_and_stop_a_server),
		T(test_proc_alive_is_false_for_someone_elses_zombie),
		T(test_proc_stop_kills_a_server_that_ignores_sigterm),
		T(test_proc_which_finds_programs_in_path_only),
		T(test_proc_inherited_output_still_reports_exit_code),
#undef T
	};

	/* Orphaned grandchildren become our children, so a test can prove by pid how they ended. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
