/* Backup and restore of a lab's identity: the configuration, state.json, pki/, ssh/, secrets/,
 * kubeconfig, registries.yaml and optionally the registry content (an air-gap bundle), in one
 * archive with a digest manifest, written 0600 atomically and optionally encrypted with a
 * passphrase (scrypt + AES-256-GCM). Restore verifies every digest and the GCM tag before it
 * changes anything, and changes everything or nothing. The format is docs/backup.md. */
#ifndef K3SFORGE_BACKUP_H
#define K3SFORGE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"

#define KF_BACKUP_MANIFEST "k3sforge-backup.json"
#define KF_BACKUP_MAGIC "K3SFBAK1"  /* first 8 bytes of an encrypted archive */

/* One file to archive: name inside the archive ("out/pki/ca.crt", "config/lab.yaml",
 * "images/bundle.tar") and where it is on disk. */
struct kf_backup_item {
	char *name;
	char *path;
};

struct kf_backup_items {
	struct kf_backup_item *v;
	size_t n;
};

/* Adds the lab files found under out_dir (state.json, pki/, ssh/, secrets/, kubeconfig,
 * registries.yaml) as out/<rel>, and config_path (when not NULL and it exists) as
 * config/<basename>. KF_ENOTFOUND when out_dir holds no PKI (nothing worth a backup). */
int kf_backup_collect(struct kf_backup_items *items, const char *out_dir, const char *config_path,
		      struct kf_err *err);
/* Adds one more file under the given archive name. */
int kf_backup_items_add(struct kf_backup_items *items, const char *name, const char *path);
void kf_backup_items_free(struct kf_backup_items *items);

/* Writes the archive to path (temp + fsync + rename, mode 0600): the manifest (every member's
 * sha256, size, mode) then every member. passphrase NULL = not encrypted. */
int kf_backup_write(const char *path, const struct kf_backup_items *items, const char *cluster,
		    const char *passphrase, struct kf_err *err);

struct kf_restore_opts {
	const char *out_dir;      /* where out/<rel> members go */
	const char *config_dir;   /* where config/<name> goes; NULL = out_dir */
	const char *images_dir;   /* where images/<name> goes; NULL = out_dir */
	const char *passphrase;   /* for an encrypted archive */
	bool force;               /* overwrite existing files that differ */
};

struct kf_restore_stats {
	size_t files, unchanged;
	char *config_path;        /* where the configuration went (NULL if none); caller frees */
	char *images_path;        /* where the image bundle went (NULL if none); caller frees */
};

/* Verifies the whole archive (manifest and member list, every digest, GCM tag) and every
 * destination, refuses existing files that differ (unless force), writes the members into a
 * staging directory next to each destination directory and only then moves them into place,
 * undoing the moves made if one fails. Modes come from k3sforge's table of what each file is,
 * never from the archive (docs/backup.md). Any error (KF_EDIGEST / KF_EPARSE / KF_EAUTH for a
 * wrong passphrase or tampered ciphertext / KF_EEXIST / KF_ELIMIT / KF_EIO) leaves the
 * destinations as they were. */
int kf_restore(const char *path, const struct kf_restore_opts *opts,
	       struct kf_restore_stats *stats, struct kf_err *err);
void kf_restore_stats_free(struct kf_restore_stats *st);
/* Reads a passphrase: the first line of file (at most 1 KiB, trailing CR/LF dropped) or the
 * value of the environment variable env (exactly one of them non-NULL). Registered with the
 * logger's masking. Caller wipes and frees with kf_backup_passphrase_free. */
int kf_backup_passphrase(char **out, const char *file, const char *env, struct kf_err *err);
void kf_backup_passphrase_free(char *pass);
/* Is the file an encrypted backup (starts with KF_BACKUP_MAGIC)? */
bool kf_backup_is_encrypted(const char *path);

#endif
