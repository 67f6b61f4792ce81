/* Shared between the backup writer (backup_write.c) and the restore (backup_restore.c) only:
 * the archive format's constants (docs/backup.md) and the two facts both sides use. */
#ifndef K3SFORGE_BACKUP_INTERNAL_H
#define K3SFORGE_BACKUP_INTERNAL_H

#include <stdbool.h>

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

#endif
