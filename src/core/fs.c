/* File system helpers: bounded reads, atomic writes, mkdir -p, rm -rf, the output-dir lock. */
#include "k3sforge/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/labpaths.h"

int kf_fs_read(char **out, size_t *len, const char *path, size_t max, struct kf_err *err)
{
	int fd;
	struct stat st;
	char *data = NULL;
	size_t cap, n = 0;
	ssize_t r;

	*out = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return kf_err_set(err, KF_EIO, "%s: is a directory", path);
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
		close(fd);
		return kf_err_set(err, KF_ELIMIT, "%s: file is %lld bytes, more than the limit of %zu",
				  path, (long long)st.st_size, max);
	}
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	data = malloc(cap);
	if (!data) {
		close(fd);
		return kf_err_set(err, KF_ENOMEM, "out of memory reading %s", path);
	}
	for (;;) {
		if (n + 1 >= cap) {
			size_t ncap = cap * 2;
			char *p;
			if (cap > max + 1) {
				free(data);
				close(fd);
				return kf_err_set(err, KF_ELIMIT, "%s: more than the limit of %zu bytes",
						  path, max);
			}
			p = realloc(data, ncap);
			if (!p) {
				free(data);
				close(fd);
				return kf_err_set(err, KF_ENOMEM, "out of memory reading %s", path);
			}
			data = p;
			cap = ncap;
		}
		r = read(fd, data + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(data);
			close(fd);
			return kf_err_set(err, KF_EIO, "%s: read: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(data);
			close(fd);
			return kf_err_set(err, KF_ELIMIT, "%s: more than the limit of %zu bytes", path,
					  max);
		}
	}
	close(fd);
	data[n] = '\0';
	*out = data;
	if (len)
		*len = n;
	return 0;
}

int kf_fs_write_fd(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void fsync_parent(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int fd;

	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

int kf_fs_temp_open(const char *path, mode_t mode, int *fd, char **tmp, struct kf_err *err)
{
	size_t n = strlen(path) + sizeof(".tmp.XXXXXX");
	int r;

	*fd = -1;
	/* A unique temporary name, so two threads writing the same file never share one. */
	if (!(*tmp = malloc(n)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
	if ((*fd = mkostemp(*tmp, O_CLOEXEC)) < 0) {
		r = kf_err_set(err, KF_EIO, "%s: cannot create: %s", *tmp, strerror(errno));
	} else if (fchmod(*fd, mode) != 0) {
		r = kf_err_set(err, KF_EIO, "%s: chmod: %s", *tmp, strerror(errno));
		close(*fd);
		*fd = -1;
		unlink(*tmp);
	} else {
		return 0;
	}
	free(*tmp);
	*tmp = NULL;
	return r;
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync,
			struct kf_err *err)
{
	char *tmp = NULL;
	int fd, e, r;

	if ((r = kf_fs_temp_open(path, mode, &fd, &tmp, err)) != 0)
		return r;
	if (kf_fs_write_fd(fd, data, len) != 0 || (sync && fsync(fd) != 0)) {
		e = errno;
		close(fd);
		r = kf_err_set(err, KF_EIO, "%s: write failed: %s%s", path, strerror(e),
			       e == ENOSPC ? " (free some disk space and run again)" : "");
	} else if (close(fd) != 0) {
		r = kf_err_set(err, KF_EIO, "%s: close: %s", path, strerror(errno));
	} else if (rename(tmp, path) != 0) {
		r = kf_err_set(err, KF_EIO, "%s: rename: %s", path, strerror(errno));
	}
	if (r)
		unlink(tmp);
	else if (sync)
		fsync_parent(path);
	free(tmp);
	return r;
}

int kf_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct kf_err *err)
{
	return write_atomic(path, data, len, mode, true, err);
}

int kf_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode,
			struct kf_err *err)
{
	return write_atomic(path, data, len, mode, false, err);
}

int kf_fs_mkdirs(const char *path, mode_t mode, struct kf_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0)
		return 0;
	if (len >= sizeof(buf))
		return kf_err_set(err, KF_EIO, "%s: path too long", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return kf_err_set(err, KF_EIO, "cannot create directory %s: %s", buf,
					  strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return kf_err_set(err, KF_EIO, "cannot create directory %s: %s", buf, strerror(errno));
	if (!kf_fs_is_dir(buf))
		return kf_err_set(err, KF_EIO, "%s exists and is not a directory", buf);
	return 0;
}

bool kf_fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool kf_fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int kf_fs_remove_tree(const char *path, struct kf_err *err)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : kf_err_set(err, KF_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) != 0)
			return kf_err_set(err, KF_EIO, "cannot remove %s: %s", path, strerror(errno));
		return 0;
	}
	d = opendir(path);
	if (!d)
		return kf_err_set(err, KF_EIO, "cannot open %s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *child;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = kf_path_join(path, de->d_name);
		if (!child) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		}
		r = kf_fs_remove_tree(child, err);
		free(child);
		if (r)
			break;
	}
	closedir(d);
	if (r)
		return r;
	if (rmdir(path) != 0)
		return kf_err_set(err, KF_EIO, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

char *kf_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *r;

	if (b[0] == '/' || la == 0)
		return strdup(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	r = malloc(la + strlen(b) + 2);
	if (!r)
		return NULL;
	memcpy(r, a, la);
	/* "/" stays the root: "/" + "b" is "/b", not "//b". */
	if (a[la - 1] != '/')
		r[la++] = '/';
	strcpy(r + la, b);
	return r;
}

char *kf_path_abs(const char *path)
{
	char cwd[PATH_MAX];
	char *real = realpath(path, NULL);

	if (real)
		return real;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	return kf_path_join(cwd, path);
}

int kf_fs_copy(const char *src, const char *dst, mode_t mode, struct kf_err *err)
{
	char *tmp = NULL, *buf = NULL;
	int in, out = -1, e = 0, r;
	ssize_t n = 0;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s", src,
				  strerror(errno));
	if ((r = kf_fs_temp_open(dst, mode, &out, &tmp, err)) != 0) {
		close(in);
		return r;
	}
	if (!(buf = malloc(1 << 20))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	while ((n = read(in, buf, 1 << 20)) > 0)
		if (kf_fs_write_fd(out, buf, (size_t)n) != 0)
			break;
	if (n != 0) {
		e = errno;
		r = kf_err_set(err, KF_EIO, "copy %s -> %s: %s%s", src, dst, strerror(e),
			       e == ENOSPC ? " (free some disk space and run again)" : "");
	} else if (fsync(out) != 0) {
		r = kf_err_set(err, KF_EIO, "%s: %s", dst, strerror(errno));
	}
out:
	free(buf);
	close(in);
	if (close(out) != 0 && !r)
		r = kf_err_set(err, KF_EIO, "%s: close: %s", dst, strerror(errno));
	if (!r && rename(tmp, dst) != 0)
		r = kf_err_set(err, KF_EIO, "%s: rename: %s", dst, strerror(errno));
	if (r)
		unlink(tmp);
	else
		fsync_parent(dst);
	free(tmp);
	return r;
}

struct kf_lock {
	int fd;
	char *path;
};

int kf_lock_acquire(struct kf_lock **out, const char *dir, struct kf_err *err)
{
	struct kf_lock *lk;
	char pidbuf[32];
	int fd, n;

	*out = NULL;
	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	lk->path = kf_path_join(dir, KF_OUT_LOCK);
	fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		int e = errno;
		kf_err_set(err, KF_EIO, "%s: %s", lk->path, strerror(e));
		free(lk->path);
		free(lk);
		return KF_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char holder[32] = "";
		ssize_t r = pread(fd, holder, sizeof(holder) - 1, 0);
		if (r > 0) {
			holder[r] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		close(fd);
		if (strspn(holder, "0123456789") == strlen(holder) && holder[0])
			kf_err_set(err, KF_ELOCKED,
				   "output directory %s is in use by another k3sforge run (pid %s); "
				   "wait for it to finish or use another --out",
				   dir, holder);
		else
			kf_err_set(err, KF_ELOCKED,
				   "output directory %s is locked by another process (%s); wait for it "
				   "to finish or use another --out",
				   dir, lk->path);
		free(lk->path);
		free(lk);
		return KF_ELOCKED;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pidbuf, (size_t)n, 0) < 0) {
		/* the pid is informational only */
	}
	lk->fd = fd;
	*out = lk;
	return 0;
}

void kf_lock_release(struct kf_lock *lk)
{
	if (!lk)
		return;
	if (ftruncate(lk->fd, 0) != 0) {
		/* informational content only */
	}
	flock(lk->fd, LOCK_UN);
	close(lk->fd);
	free(lk->path);
	free(lk);
}
