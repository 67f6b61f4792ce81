/* TCP connect with a deadline (net.h), on loopback only: a listening port connects, a closed one
 * is refused with ECONNREFUSED. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3sforge/net.h"
#include "k3sforge/platform.h"

/* A listening loopback socket on a free port; *port gets it. */
static int listener(int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_connect_reaches_a_listening_port(void **state)
{
	struct kf_connect_result res;
	int port, l = listener(&port), fd;

	(void)state;
	fd = kf_tcp_connect("127.0.0.1", port, kf_now_mono() + 5, &res);
	assert_true(fd >= 0);
	assert_int_equal(res.fail, KF_CONNECT_OK);
	close(fd);
	close(l);
}

static void test_connect_to_a_closed_port_is_refused(void **state)
{
	struct kf_connect_result res;
	int port, l = listener(&port);

	(void)state;
	close(l);   /* the port is free again: nothing listens there */
	assert_int_equal(kf_tcp_connect("127.0.0.1", port, kf_now_mono() + 5, &res), -1);
	assert_int_equal(res.fail, KF_CONNECT_ERRNO);
	assert_int_equal(res.sys, ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_reaches_a_listening_port),
		cmocka_unit_test(test_connect_to_a_closed_port_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
