/* OpenSSH ed25519 keys: generated with OpenSSL (EVP_PKEY_ED25519), written in the unencrypted
 * "openssh-key-v1" private-key format that both OpenSSH and libssh2 read, the one-line public
 * key format, known_hosts lines, and SHA256 fingerprints exactly as `ssh-keygen -l` prints them. */
#ifndef K3SFORGE_SSHKEY_H
#define K3SFORGE_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/err.h"

#define KF_ED25519_PK_LEN 32
#define KF_ED25519_SEED_LEN 32
/* string("ssh-ed25519") || string(pk): 4 + 11 + 4 + 32 bytes. */
#define KF_SSHKEY_BLOB_LEN 51
/* Bound on a key file read from disk. */
#define KF_SSHKEY_FILE_MAX (64 * 1024)

/* An ed25519 key. `has_private` says whether seed is set (a key read from a .pub has only pk). */
struct kf_sshkey {
	unsigned char pk[KF_ED25519_PK_LEN];
	unsigned char seed[KF_ED25519_SEED_LEN];
	bool has_private;
	char *comment;          /* may be "" never NULL */
};

/* Generates a fresh key from the OpenSSL CSPRNG. */
int kf_sshkey_generate(struct kf_sshkey **out, const char *comment, struct kf_err *err);
/* Wipes the seed and frees; NULL is fine. */
void kf_sshkey_free(struct kf_sshkey *key);

/* The "-----BEGIN OPENSSH PRIVATE KEY-----" text (cipher none, base64 wrapped at 70 columns).
 * The caller wipes it with OPENSSL_cleanse(*out, *len) and frees. */
int kf_sshkey_private_text(char **out, size_t *len, const struct kf_sshkey *key,
			   struct kf_err *err);
/* "ssh-ed25519 <base64> <comment>\n" (no trailing space when the comment is empty). */
int kf_sshkey_public_line(char **out, const struct kf_sshkey *key, struct kf_err *err);
/* The wire blob string("ssh-ed25519")||string(pk). */
void kf_sshkey_blob(const struct kf_sshkey *key, unsigned char blob[KF_SSHKEY_BLOB_LEN]);
/* base64 of the blob, as in the middle field of a public key line (caller frees). */
char *kf_sshkey_blob_b64(const struct kf_sshkey *key);

/* Parses openssh-key-v1 text. Refuses encrypted keys, non-ed25519 keys, bad checkints or padding,
 * and a secret half that does not derive the stored public key. `name` (a path) is used in
 * messages. */
int kf_sshkey_parse_private(struct kf_sshkey **out, const char *text, size_t len, const char *name,
			    struct kf_err *err);
/* Parses a "ssh-ed25519 <base64> [comment]" line. */
int kf_sshkey_parse_public(struct kf_sshkey **out, const char *text, size_t len, const char *name,
			   struct kf_err *err);
/* Reads and parses a private key file (KF_ENOTFOUND when absent). */
int kf_sshkey_load_private(struct kf_sshkey **out, const char *path, struct kf_err *err);
/* Reads and parses a public key file (KF_ENOTFOUND when absent). */
int kf_sshkey_load_public(struct kf_sshkey **out, const char *path, struct kf_err *err);
/* Writes <path> (private, 0600) and <path>.pub (0644), each atomically. */
int kf_sshkey_write(const struct kf_sshkey *key, const char *path, struct kf_err *err);

/* True when both keys have the same public half. */
bool kf_sshkey_same_public(const struct kf_sshkey *a, const struct kf_sshkey *b);
/* "SHA256:<base64 without padding>" of a public key, as `ssh-keygen -l` prints it. */
void kf_sshkey_fingerprint(const struct kf_sshkey *key, char out[KF_SSH_FP_LEN]);
/* (kf_ssh_fingerprint_blob in digest.h does the same for a raw wire blob of any type.) */

/* Sets KF_EHOSTKEY: "host key mismatch for k3s-master1 (192.168.6.10): expected SHA256:...,
 * got SHA256:..." with what to do. `got_blob` is the wire blob the server presented (any type). */
int kf_sshkey_mismatch_error(struct kf_err *err, const char *node, const char *host,
			     const struct kf_sshkey *expected, const void *got_blob, size_t got_len);

/* Appends one known_hosts line for host/port: "host ssh-ed25519 <b64>\n" when port is 22 (or 0),
 * "[host]:port ssh-ed25519 <b64>\n" otherwise. */
int kf_sshkey_known_hosts_line(struct kf_buf *b, const char *host, int port,
			       const struct kf_sshkey *key);

#endif
