/* A hostile registry / file server on loopback (tests/lib/hostile_server.py), started and stopped
 * by PID; the repository name (or first path segment) picks the misbehaviour. */
#ifndef KF_TEST_HOSTILE_FIXTURE_H
#define KF_TEST_HOSTILE_FIXTURE_H

#include <stdbool.h>

struct kf_hostile {
	char *dir;          /* scratch dir (port file, log, certificate) */
	char *ca;           /* TLS: the self-signed certificate to trust */
	long pid;
	int port;           /* the main listener (TLS when asked) */
	int plain_port;     /* the plain-http listener downgrades point to */
	char base[64];      /* "http(s)://127.0.0.1:<port>" */
};

/* Starts the server under dir (created by the caller). 0 or -1. */
int kf_hostile_start(struct kf_hostile *h, const char *dir, bool tls);
/* Stops it by PID and frees the strings (the dir stays). */
void kf_hostile_stop(struct kf_hostile *h);

#endif
