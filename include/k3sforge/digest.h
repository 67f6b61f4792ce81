/* SHA-256 helpers (OpenSSL EVP) and the input fingerprints of stages. */
#ifndef K3SFORGE_DIGEST_H
#define K3SFORGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"

#define KF_SHA256_HEX_LEN 64

struct kf_sha256;
struct kf_sha256 *kf_sha256_new(void);
void kf_sha256_update(struct kf_sha256 *h, const void *data, size_t len);
/* Writes 64 lowercase hex chars + NUL into hex (65 bytes) and frees h. */
void kf_sha256_final_hex(struct kf_sha256 *h, char hex[KF_SHA256_HEX_LEN + 1]);
void kf_sha256_free(struct kf_sha256 *h);
void kf_sha256_hex(const void *data, size_t len, char hex[KF_SHA256_HEX_LEN + 1]);
/* Streams a file through SHA-256. */
int kf_sha256_file(const char *path, char hex[KF_SHA256_HEX_LEN + 1], struct kf_err *err);
/* True when s is exactly 64 hex chars. */
int kf_sha256_valid_hex(const char *s);

/* OCI content digests ("sha256:" + 64 lowercase hex = 71 chars). The one check for every digest
 * that comes from outside (a manifest, an index, a bundle, a reference, a header): only sha256,
 * the algorithm the OCI image spec requires registries to support, is accepted, since it is the
 * only one k3sforge computes; sha512 and the rest are refused rather than trusted unchecked. */
#define KF_DIGEST_STR_LEN 71
bool kf_digest_valid(const char *d);
/* The 64 hex chars of a valid digest (borrowed: points into d), or NULL when d is not one. */
const char *kf_digest_hex(const char *d);
/* KF_EPARSE with "<what>: '<d>' is not a sha256 digest ..." unless d is valid. */
int kf_digest_check(const char *d, const char *what, struct kf_err *err);

/* A stage input fingerprint: a running SHA-256 over tagged values. */
struct kf_fp;
struct kf_fp *kf_fp_new(void);
void kf_fp_str(struct kf_fp *fp, const char *key, const char *value); /* value may be NULL */
void kf_fp_int(struct kf_fp *fp, const char *key, long long value);
/* Adds a file: its content hash when smaller than 4 MiB, else path + size + mtime (so a no-op
 * rerun stays fast on multi-GB artifacts). A missing file adds a "missing" marker. */
void kf_fp_file(struct kf_fp *fp, const char *key, const char *path);
/* Finishes into hex and frees fp. */
void kf_fp_final(struct kf_fp *fp, char hex[KF_SHA256_HEX_LEN + 1]);
void kf_fp_free(struct kf_fp *fp);

/* "SHA256:" + 43 base64 characters + NUL. */
#define KF_SSH_FP_LEN 51
/* "SHA256:<base64 without padding>" of an SSH public key's wire blob of any type, as
 * `ssh-keygen -l` prints it (what libssh2_session_hostkey returns, or an ed25519 key's blob):
 * names a presented host key in a mismatch message. */
void kf_ssh_fingerprint_blob(const void *blob, size_t len, char out[KF_SSH_FP_LEN]);

#endif
