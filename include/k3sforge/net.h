/* TCP connect with a deadline: every address of the name tried in turn until one answers, the
 * deadline passes, or SIGINT/SIGTERM arrive (kf_interrupted). The ssh session and the registry's
 * TLS probe both connect this way; each words the failure for its own reader. */
#ifndef K3SFORGE_NET_H
#define K3SFORGE_NET_H

enum kf_connect_fail {
	KF_CONNECT_OK = 0,
	KF_CONNECT_RESOLVE,      /* the name did not resolve: gai holds getaddrinfo's code */
	KF_CONNECT_TIMEOUT,      /* nothing answered before the deadline */
	KF_CONNECT_INTERRUPTED,  /* SIGINT/SIGTERM while waiting */
	KF_CONNECT_ERRNO,        /* every address failed: sys holds the last errno (ECONNREFUSED...) */
};

struct kf_connect_result {
	enum kf_connect_fail fail;
	int gai;   /* with KF_CONNECT_RESOLVE */
	int sys;   /* with KF_CONNECT_ERRNO (0 when no address could even be tried) */
};

/* Connects to host:port before deadline (kf_now_mono seconds). Returns the connected socket
 * (non-blocking, close-on-exec), or -1 with *res saying why. */
int kf_tcp_connect(const char *host, int port, double deadline, struct kf_connect_result *res);

#endif
