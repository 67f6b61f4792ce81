/* The KubeSphere console probe (finalize and status) against the stand-in console
 * (tests/fakes/e2e/console), which answers as ks-console v4.1.3 does without a session:
 * `/` is a 302 to /login, /login renders 200. The probe must call a healthy console healthy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cluster.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "probe_server.h"

#define CONSOLE_IP "127.0.0.33"

struct fx {
	int port;
	long pid;
	char base[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char script[512], port[16];

	f->port = probe_free_port(CONSOLE_IP);
	snprintf(script, sizeof(script), "%s/fakes/e2e/console", KF_TESTS_DIR);
	snprintf(port, sizeof(port), "%d", f->port);
	{
		const char *argv[] = { "python3", script, "--ip", CONSOLE_IP, "--port", port, NULL };
		f->pid = probe_server_start(argv, "/dev/null", CONSOLE_IP, f->port);
	}
	snprintf(f->base, sizeof(f->base), "http://%s:%d", CONSOLE_IP, f->port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_proc_stop(f->pid, 2000);
	free(f);
	return 0;
}

/* The stand-in is faithful: the root page without a session is a redirect, not a page. */
static void test_console_root_without_session_is_a_redirect(void **state)
{
	struct fx *f = *state;
	char url[128], why[256];

	snprintf(url, sizeof(url), "%s/", f->base);
	assert_int_equal(kf_http_status(url, 5000, why, sizeof(why)), 302);
}

static void test_console_probe_calls_a_serving_console_healthy(void **state)
{
	struct fx *f = *state;
	char why[256];

	assert_int_equal(kf_console_status(f->base, 5000, why, sizeof(why)), 200);
}

static void test_console_probe_names_why_when_nothing_answers(void **state)
{
	char why[256] = "";

	(void)state;
	/* port 1 on a loopback address nobody listens on */
	assert_int_equal(kf_console_status("http://127.0.0.34:1", 2000, why, sizeof(why)), 0);
	assert_true(why[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_root_without_session_is_a_redirect),
		cmocka_unit_test(test_console_probe_calls_a_serving_console_healthy),
		cmocka_unit_test(test_console_probe_names_why_when_nothing_answers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
