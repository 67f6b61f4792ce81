/* Test helpers for the mirror: real docker-registry instances and the fault proxy on loopback,
 * synthetic images pushed through the OCI API. */
#ifndef KF_TEST_MIRROR_FIXTURE_H
#define KF_TEST_MIRROR_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "k3sforge/oci.h"

struct mt_server {
	long pid;
	int port;
	char addr[64];      /* "127.0.0.1:PORT" */
	char url[80];       /* "http://127.0.0.1:PORT" (or host:port for TLS) */
};

/* A free TCP port on 127.0.0.1. */
int mt_free_port(void);
/* Starts docker-registry serving dir on 127.0.0.1 (TLS with cert/key when not NULL); waits until
 * /v2/ answers. 0 on success. */
int mt_registry_start(struct mt_server *s, const char *dir, const char *cert, const char *key);
/* Starts tests/lib/mirror_fault_proxy.py in front of upstream with extra arguments (NULL-ended). */
int mt_proxy_start(struct mt_server *s, const char *dir, const struct mt_server *upstream,
		   const char *const *extra);
void mt_server_stop(struct mt_server *s);
/* Stops every server still running (group teardown: failed assertions skip a test's own stop). */
void mt_stop_all(void);

/* A blob to push: data + its digest. */
struct mt_blob {
	unsigned char *data;
	size_t len;
	char digest[KF_OCI_DIGEST_LEN];
};
/* Random bytes (seeded) as a blob. */
void mt_blob_random(struct mt_blob *b, size_t len, unsigned seed);
void mt_blob_text(struct mt_blob *b, const char *text);
void mt_blob_free(struct mt_blob *b);
/* Pushes the blobs and a manifest of media type mt (Docker schema 2 or OCI) with config + layers
 * under repo:tag (tag NULL = by digest only). The manifest text and digest are returned
 * (caller frees *manifest). */
int mt_push_image(struct kf_oci_registry *r, const char *repo, const char *tag, const char *mt,
		  const struct mt_blob *config, const struct mt_blob *layers, size_t n_layers,
		  char **manifest, char digest[KF_OCI_DIGEST_LEN]);
/* Runs a program to completion (argv), returns its exit code (-1 on failure to run); stdout
 * captured into *out when out is not NULL (caller frees). */
int mt_run(const char *const *argv, char **out, int timeout_ms);
/* Makes a temp dir (caller frees). */
char *mt_tmpdir(const char *tag);

#endif
