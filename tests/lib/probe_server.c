/* A helper server on a loopback address of its own (probe_server.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3sforge/proc.h"
#include "probe_server.h"
#include "registry_fixture.h"

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

int probe_free_port(const char *ip)
{
	struct sockaddr_in a = addr_of(ip, 0);
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

long probe_server_start(const char *const *argv, const char *log, const char *ip, int port)
{
	struct kf_proc p;
	struct kf_err err;
	long pid;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.log_file = log;
	assert_int_equal(kf_proc_start(&p, &err), 0);
	pid = p.pid;
	kf_proc_free(&p);
	if (regfix_wait_listen(ip, port, 5000))
		return pid;
	kf_proc_stop(pid, 2000);
	fail_msg("%s did not listen on %s:%d within 5 s", argv[1] ? argv[1] : argv[0], ip, port);
	return 0;
}
