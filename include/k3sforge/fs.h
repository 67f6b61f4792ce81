/* File system helpers: bounded reads, atomic writes (temp + fsync + rename), directories, the
 * output-directory lock. */
#ifndef K3SFORGE_FS_H
#define K3SFORGE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "k3sforge/err.h"

/* Reads a whole file of at most max bytes into *out (NUL-terminated; caller frees).
 * KF_ENOTFOUND if it does not exist, KF_ELIMIT if larger than max. */
int kf_fs_read(char **out, size_t *len, const char *path, size_t max, struct kf_err *err);
/* Writes data to path atomically: a unique path.tmp.XXXXXX with mode, fsync, rename. Never leaves a
 * half-written file under the final name. */
int kf_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct kf_err *err);
/* The same without the fsyncs: readers never see a half-written file, but after a crash the
 * file may be old, empty or gone. Only for files made again from their inputs on every run
 * (build-iso's rendered recipes), never for a record or state. */
int kf_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode,
			struct kf_err *err);
/* write(2) until all len bytes are out (again after EINTR); -1 with errno on failure. */
int kf_fs_write_fd(int fd, const void *data, size_t len);
/* Creates a unique temporary file next to path (path.tmp.XXXXXX, close-on-exec) with mode, for a
 * writer that renames it over path when complete: 0 with *fd open and *tmp its name (caller
 * frees), or an error with nothing left behind. The name is random and made with
 * O_CREAT|O_EXCL (mkostemp), 0600 until mode is set, so a file or symlink planted beside path
 * is never opened or followed: the only way any write-then-rename in k3sforge opens its file. */
int kf_fs_temp_open(const char *path, mode_t mode, int *fd, char **tmp, struct kf_err *err);
/* mkdir -p with mode for the created components. */
int kf_fs_mkdirs(const char *path, mode_t mode, struct kf_err *err);
bool kf_fs_exists(const char *path);
bool kf_fs_is_dir(const char *path);
/* Removes a file or a whole directory tree (like rm -rf). Missing path is success. */
int kf_fs_remove_tree(const char *path, struct kf_err *err);
/* Joins two path parts with one '/' (caller frees). */
char *kf_path_join(const char *a, const char *b);
/* Absolute path of an existing or not yet existing path (caller frees). */
char *kf_path_abs(const char *path);
/* Copies a file (streaming), atomically at the destination. */
int kf_fs_copy(const char *src, const char *dst, mode_t mode, struct kf_err *err);

/* The lock on an output directory, so two runs cannot trample each other. */
struct kf_lock;
/* Takes <dir>/.lock (flock, non-blocking). KF_ELOCKED with the holder's pid if already held. */
int kf_lock_acquire(struct kf_lock **out, const char *dir, struct kf_err *err);
void kf_lock_release(struct kf_lock *lock);

#endif
