/* TCP connect with a deadline (net.h). */
#include "k3sforge/net.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3sforge/platform.h"

/* Waits for a non-blocking connect on fd, in slices so that a signal is seen within 200 ms;
 * sets *soerr (0 = connected) or *timed_out. */
static void wait_connect(int fd, double deadline, int *soerr, bool *timed_out)
{
	struct pollfd p = { fd, POLLOUT, 0 };

	for (;;) {
		int left = (int)((deadline - kf_now_mono()) * 1000);
		socklen_t sl = sizeof(*soerr);
		int rc;
		if (left <= 0 || kf_interrupted()) {
			*timed_out = true;
			return;
		}
		rc = poll(&p, 1, left > 200 ? 200 : left);
		if ((rc < 0 && errno == EINTR) || (rc == 0 && left > 200))
			continue;
		if (rc == 0) {
			*timed_out = true;
			return;
		}
		*soerr = 0;
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, soerr, &sl) != 0)
			*soerr = errno ? errno : EIO;
		return;
	}
}

int kf_tcp_connect(const char *host, int port, double deadline, struct kf_connect_result *res)
{
	struct addrinfo hints, *ais = NULL, *ai;
	char portstr[16];
	int fd = -1, rc, last_errno = 0;
	bool timed_out = false;

	memset(res, 0, sizeof(*res));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &ais)) != 0) {
		res->fail = KF_CONNECT_RESOLVE;
		res->gai = rc;
		return -1;
	}
	for (ai = ais; ai && !timed_out; ai = ai->ai_next) {
		int soerr = 0;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			wait_connect(fd, deadline, &soerr, &timed_out);
			if (!timed_out && soerr == 0)
				break;
			last_errno = soerr;
		} else {
			last_errno = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ais);
	if (fd >= 0)
		return fd;
	if (timed_out)
		res->fail = kf_interrupted() ? KF_CONNECT_INTERRUPTED : KF_CONNECT_TIMEOUT;
	else {
		res->fail = KF_CONNECT_ERRNO;
		res->sys = last_errno;
	}
	return -1;
}
