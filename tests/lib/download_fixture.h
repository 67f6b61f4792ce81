/* Test helpers for downloads: a loopback HTTP(S) file server (tests/lib/download_fileserver.py,
 * started by PID, stopped by PID), its access log, its fault control file, and a fake k3s
 * release built by the test itself. */
#ifndef KF_TEST_DOWNLOAD_FIXTURE_H
#define KF_TEST_DOWNLOAD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/digest.h"

struct kf_dlsrv {
	char *dir;          /* scratch dir of the server (logs, port file, certs) */
	char *www;          /* document root */
	char *access_log;
	char *faults;
	char *server_log;
	char *ca_crt;       /* TLS: the CA that signed the server certificate */
	char *other_ca_crt; /* TLS: an unrelated CA */
	int port;
	long pid;
	bool tls;
	char base[64];      /* "http(s)://127.0.0.1:<port>" */
};

/* Makes a scratch dir under /tmp (caller frees the string, removes the tree). */
char *kf_test_tmpdir(const char *tag);
/* Starts the server with its root in <dir>/www (created); TLS makes a CA and a server cert for
 * 127.0.0.1 with the openssl CLI. Returns 0 or -1. */
int kf_dlsrv_start(struct kf_dlsrv *s, const char *dir, bool tls);
/* Stops the server by PID and frees the strings (the scratch dir stays for the caller). */
void kf_dlsrv_stop(struct kf_dlsrv *s);
/* Replaces the fault control file with this JSON text ("{}" for none). */
int kf_dlsrv_set_faults(struct kf_dlsrv *s, const char *json);
/* Empties the access log. */
int kf_dlsrv_clear_log(struct kf_dlsrv *s);
/* Counts access log entries whose path contains `path_part` (NULL = any), with the given status
 * (0 = any), and, when `range` is not NULL, whose Range header equals it ("" = any Range
 * header present). `proxied` < 0 = any, else must match. */
int kf_dlsrv_count(const struct kf_dlsrv *s, const char *path_part, int status, const char *range,
		   int proxied);

/* Writes `len` random bytes to path. */
int kf_test_random_file(const char *path, size_t len);
/* Writes a string to a file. */
int kf_test_write(const char *path, const char *text);
/* Reads a whole small file (caller frees), NULL on failure. */
char *kf_test_read(const char *path);

/* A fake k3s release in <www>/<prefix>/<version>/: k3s, k3s-airgap-images-amd64.tar.zst,
 * k3s-images.txt, sha256sum-amd64.txt (correct, unless bad_entry names an asset to list with a
 * wrong digest, or omit_entry names one to leave out), plus install.sh and ks-core-1.1.4.tgz, so
 * the folder also serves as an --artifacts-from folder. Digests are returned for the checks. */
struct kf_fake_release {
	char *dir;           /* <www>/<prefix>/<version> */
	char k3s[KF_SHA256_HEX_LEN + 1];
	char airgap[KF_SHA256_HEX_LEN + 1];
	char images[KF_SHA256_HEX_LEN + 1];
	char install[KF_SHA256_HEX_LEN + 1];
	char chart[KF_SHA256_HEX_LEN + 1];
};
int kf_fake_release_make(struct kf_fake_release *rel, const char *www, const char *prefix,
			 const char *version, const char *bad_entry, const char *omit_entry);
void kf_fake_release_free(struct kf_fake_release *rel);

#endif
