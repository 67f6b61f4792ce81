/* Shared between the backup writer (backup_write.c) and the restore (backup_restore.c) only:
 * the archive format's constants (docs/backup.md) and the two facts both sides use. */
#ifndef K3SFORGE_BACKUP_INTERNAL_H
#define K3SFORGE_BACKUP_INTERNAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "k3sforge/err.h"

#define HDR_LEN 40          /* magic 8, kdf 1, log2n 1, r 1, p 1, salt 16, nonce 12 */
#define TAG_LEN 16
#define CHUNK 65536
#define MANIFEST_MAX (1u << 20)
#define MEMBERS_MAX 10000
#define NAME_MAX_LEN 99
#define KDF_SCRYPT 1
#define SCRYPT_LOG2N 15
#define SCRYPT_R 8
#define SCRYPT_P 1

/* Archive names: out/<rel path>, config/<name>, images/<name>; [A-Za-z0-9._+-] components,
 * none "." or "..", shorter than 100 bytes (one ustar name field). */
bool kf_backup_name_ok(const char *n);
/* scrypt(pass, salt[16], 2^log2n, rr, p) -> key[32]. */
int kf_backup_derive_key(unsigned char key[32], const char *pass, const unsigned char *salt,
			 int log2n, int rr, int p, struct kf_err *err);

/* Reads a backup archive, plain or encrypted (AES-256-GCM after the 40-byte header). */
struct kf_backup_reader {
	FILE *f;
	const char *path;
	EVP_CIPHER_CTX *c;
	uint64_t ct_left;       /* encrypted: ciphertext bytes not yet read */
	uint64_t plain_len;     /* bytes of the tar stream (the bound on what a manifest lists) */
	unsigned char *ct;
};

/* Opens path; an encrypted archive needs passphrase (KF_EAUTH without one). The reader is
 * closed with kf_backup_reader_close even when this fails. */
int kf_backup_reader_open(struct kf_backup_reader *rs, const char *path, const char *passphrase,
			  struct kf_err *err);
void kf_backup_reader_close(struct kf_backup_reader *rs);
/* Reads exactly n plaintext bytes; KF_EPARSE (truncated) when the archive ends first. */
int kf_backup_reader_read(struct kf_backup_reader *rs, void *buf, size_t n, struct kf_err *err);
/* After the end-of-archive marker: only zero padding (kf_tar_pad) may follow, and the GCM tag
 * must verify. buf: CHUNK bytes of scratch. */
int kf_backup_reader_finish(struct kf_backup_reader *rs, unsigned char *buf,
			    struct kf_err *err);
/* After a failed parse of an encrypted archive: when the tag does not verify, err becomes the
 * real reason (wrong passphrase or tampering). */
void kf_backup_reader_check_tag(struct kf_backup_reader *rs, unsigned char *buf,
				struct kf_err *err);
/* Reads one header: 1 = an entry (name, size, type '0' file or '5' directory), 0 = the end
 * marker, <0 error (links, devices, FIFOs, extended headers refused by name). */
int kf_backup_next_header(struct kf_backup_reader *rs, char name[101], uint64_t *size, char *type,
			  struct kf_err *err);

#endif
