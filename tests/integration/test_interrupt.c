/* SIGTERM ends every long network call within a second: SSH (handshake with a server that never
 * speaks), the lab registry health check and the console status check (servers that accept and
 * stay silent), each given 30 s of timeout. Each case runs in a forked child, because the
 * interrupt flag, once set, stays set for the process. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "k3sforge/cluster.h"
#include "k3sforge/platform.h"
#include "k3sforge/regserver.h"
#include "k3sforge/ssh.h"

#define SILENT_IP "127.0.0.24"

/* A listener that never accepts: TCP connects, then nothing ever comes back. */
static int silent_listener(int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, SILENT_IP, &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &al);
	*port = ntohs(a.sin_port);
	return fd;
}

static void *term_soon(void *ud)
{
	(void)ud;
	kf_sleep_ms(700);
	kill(getpid(), SIGTERM);
	return NULL;
}

enum call { CALL_SSH, CALL_REGISTRY_HEALTH, CALL_HTTP_STATUS };

/* In a child: installs the handlers, starts the call, SIGTERM after 0.7 s; exits 0 when the
 * call came back interrupted within 2 s of the start, else 1 with the reason on stderr. */
static void run_child(enum call c, int port)
{
	pthread_t t;
	double t0 = kf_now_mono(), took;
	struct kf_err err;
	bool interrupted = false;
	char url[128], why[1100] = "";

	kf_platform_install_signals();
	pthread_create(&t, NULL, term_soon, NULL);
	memset(&err, 0, sizeof(err));
	switch (c) {
	case CALL_SSH: {
		struct kf_ssh_target tg = { "node-a", SILENT_IP, port, "nobody", "/nonexistent",
					    "/nonexistent", 30000 };
		struct kf_ssh *s = NULL;
		enum kf_ssh_fail fw;
		interrupted = kf_ssh_connect(&s, &tg, &fw, &err) == KF_EINTR;
		kf_ssh_close(s);
		snprintf(why, sizeof(why), "%.1000s", err.msg);
		break;
	}
	case CALL_REGISTRY_HEALTH:
		interrupted = kf_regserver_health(SILENT_IP, port, "/etc/ssl/certs/ca-certificates.crt",
						  30000, &err) == KF_EINTR;
		snprintf(why, sizeof(why), "%.1000s", err.msg);
		break;
	case CALL_HTTP_STATUS:
		snprintf(url, sizeof(url), "http://%s:%d/", SILENT_IP, port);
		interrupted = kf_http_status(url, 30000, why, sizeof(why)) == 0 &&
			      strcmp(why, "interrupted") == 0;
		break;
	}
	took = kf_now_mono() - t0;
	pthread_join(t, NULL);
	if (!interrupted || took > 2.0) {
		fprintf(stderr, "call %d: %s after %.1f s (%s)\n", (int)c,
			interrupted ? "interrupted" : "not interrupted", took, why);
		_exit(1);
	}
	_exit(0);
}

static void expect_interrupted(enum call c)
{
	int port = 0, fd = silent_listener(&port), status = 0;
	pid_t pid;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_child(c, port);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sigterm_ends_an_ssh_handshake_within_a_second(void **state)
{
	(void)state;
	expect_interrupted(CALL_SSH);
}

static void test_sigterm_ends_the_registry_health_check_within_a_second(void **state)
{
	(void)state;
	expect_interrupted(CALL_REGISTRY_HEALTH);
}

static void test_sigterm_ends_the_console_status_check_within_a_second(void **state)
{
	(void)state;
	expect_interrupted(CALL_HTTP_STATUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_ends_an_ssh_handshake_within_a_second),
		cmocka_unit_test(test_sigterm_ends_the_registry_health_check_within_a_second),
		cmocka_unit_test(test_sigterm_ends_the_console_status_check_within_a_second),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
