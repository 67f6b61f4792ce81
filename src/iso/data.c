/* Data ISOs — the per-node NoCloud seed (volume id cidata) and image mode's payload CD — written
 * with libisofs directly: the image is built in memory from the named files and read out of
 * libisofs's burn_source into a temporary file next to dst, which is renamed into place once
 * complete. No xorriso session: its -commit runs libburn's write on a stdio drive and polls it
 * for completion every 100 ms (the pacifier loop), so even a 3-file seed took 0.10 s of wall
 * time; read out here it takes well under a millisecond, so the seeds of a lab are written one
 * after another in the calling thread (the build-iso stage no longer forks a writer per seed).
 *
 * libisofs keeps one process-wide message queue; iso_init/iso_finish set it up and tear it
 * down, and libisoburn's isoburn_initialize (every xorriso session's start) calls iso_init
 * again. A write here must therefore not overlap an xorriso session of the same process (the
 * build-iso stage runs them one after another); kf_iso_write_data counts on that. */
#include "k3sforge/iso.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN 1 /* libisofs.h then declares struct burn_source itself */
#include <libisofs/libisofs.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/progress.h"

#define ISO_BLOCK 2048
#define READ_BLOCKS 32                       /* 64 KiB per read from the burn_source */
#define PROGRESS_FROM ((off_t)64 * 1024 * 1024) /* a progress line for images this big */
#define REPRO_TIME ((time_t)946684800)       /* 2000-01-01T00:00:00Z */
#define REPRO_UUID "2000010100000000"         /* the same as YYYYMMDDhhmmsscc */

/* libisofs's queued problem messages (SORRY and worse) joined into err's message after what
 * we were doing; the queue is emptied either way. */
static int iso_fail(struct kf_err *err, int code, const char *what, int iso_r)
{
	char msg[4096], sev[80], text[sizeof(err->msg)];
	size_t used = 0;
	int ecode, imgid;

	text[0] = '\0';
	while (iso_obtain_msgs("SORRY", &ecode, &imgid, msg, sev) > 0) {
		int w;

		if (used + 3 >= sizeof(text))
			continue; /* drain the rest */
		w = snprintf(text + used, sizeof(text) - used, "%s%s", used ? "; " : "", msg);
		if (w > 0)
			used += (size_t)w < sizeof(text) - used ? (size_t)w : sizeof(text) - used - 1;
	}
	if (used)
		return kf_err_set(err, code, "%s: %s (libisofs: %s)", what,
				  iso_r < 0 ? iso_error_to_msg(iso_r) : "failed", text);
	return kf_err_set(err, code, "%s: %s", what, iso_r < 0 ? iso_error_to_msg(iso_r) : "failed");
}

static void iso_drain(void)
{
	char msg[4096], sev[80];
	int ecode, imgid;

	while (iso_obtain_msgs("ALL", &ecode, &imgid, msg, sev) > 0)
		;
}

/* The directory for an absolute path inside the image ("/k3sforge/k3s" → /k3sforge, made when
 * missing) and the leaf name. Empty, "." and ".." components are refused. */
static int parent_dir(IsoImage *img, const char *iso_path, IsoDir **dir, char *leaf,
		      size_t leaf_len, struct kf_err *err)
{
	const char *p = iso_path, *slash;
	IsoDir *cur = iso_image_get_root(img);

	if (*p != '/')
		return kf_err_set(err, KF_EFAIL, "%s: not an absolute path inside the image", iso_path);
	for (;;) {
		size_t len;
		char name[256];
		IsoNode *node = NULL;
		int r;

		p++;
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len >= sizeof(name) || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return kf_err_set(err, KF_EFAIL, "%s: not a usable path inside the image",
					  iso_path);
		memcpy(name, p, len);
		name[len] = '\0';
		if (!slash) {
			if (len >= leaf_len)
				return kf_err_set(err, KF_EFAIL, "%s: name too long", iso_path);
			memcpy(leaf, name, len + 1);
			*dir = cur;
			return 0;
		}
		if ((r = iso_dir_get_node(cur, name, &node)) < 0)
			return iso_fail(err, KF_EFAIL, iso_path, r);
		if (r == 0) {
			IsoDir *made = NULL;

			if ((r = iso_tree_add_new_dir(cur, name, &made)) < 0)
				return iso_fail(err, KF_EFAIL, iso_path, r);
			cur = made;
		} else if (iso_node_get_type(node) == LIBISO_DIR) {
			cur = (IsoDir *)node;
		} else {
			return kf_err_set(err, KF_EFAIL, "%s: %.*s is a file in the image", iso_path,
					  (int)(slash - iso_path), iso_path);
		}
		p = slash;
	}
}

/* The image with every file at its place (regular files only, symlinks resolved). */
static int build_tree(IsoImage *img, const struct kf_iso_file *files, size_t n,
		      struct kf_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char leaf[256];
		IsoDir *dir = NULL;
		IsoNode *node = NULL;
		struct stat st;
		char *abs;
		int r;

		if (stat(files[i].disk_path, &st) != 0)
			return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s",
					  files[i].disk_path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return kf_err_set(err, KF_EIO, "%s: not a regular file", files[i].disk_path);
		if ((r = parent_dir(img, files[i].iso_path, &dir, leaf, sizeof(leaf), err)) != 0)
			return r;
		/* libisofs walks a local path from / (a relative one "does not exist") */
		if (!(abs = realpath(files[i].disk_path, NULL)))
			return kf_err_set(err, errno == ENOMEM ? KF_ENOMEM : KF_EIO, "%s: %s",
					  files[i].disk_path, strerror(errno));
		r = iso_tree_add_new_node(img, dir, leaf, abs, &node);
		free(abs);
		if (r < 0) {
			char what[1200];

			snprintf(what, sizeof(what), "%s (as %s)", files[i].disk_path,
				 files[i].iso_path);
			return iso_fail(err, r == (int)ISO_NODE_NAME_NOT_UNIQUE ? KF_EEXIST : KF_EFAIL,
					what, r);
		}
	}
	return 0;
}

/* Reads the whole image out of the burn_source into fd: exactly get_size() bytes, asking
 * never for more than what is left (libisofs answers 0 to a read past the end, not a short
 * count). */
static int drain_source(struct burn_source *bs, int fd, const char *dst, struct kf_err *err)
{
	static const size_t chunk = (size_t)ISO_BLOCK * READ_BLOCKS;
	unsigned char *buf = malloc(chunk);
	off_t total = bs->get_size(bs), done = 0;
	struct kf_progress *progress = NULL;
	int r = 0;

	if (!buf)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (total >= PROGRESS_FROM) {
		char what[300];
		const char *base = strrchr(dst, '/');

		snprintf(what, sizeof(what), "write %s", base ? base + 1 : dst);
		progress = kf_progress_new(what, (uint64_t)total, 0);
	}
	while (done < total) {
		size_t want = (size_t)(total - done) < chunk ? (size_t)(total - done) : chunk;
		int got = bs->read_xt(bs, buf, (int)want);

		if (got <= 0 || (size_t)got != want) {
			r = iso_fail(err, KF_EIO, dst, got < 0 ? got : 0);
			break;
		}
		if (kf_fs_write_fd(fd, buf, want) != 0) {
			int e = errno;

			r = kf_err_set(err, KF_EIO, "%s: write failed: %s%s", dst, strerror(e),
				       e == ENOSPC ? " (free some disk space and run again)" : "");
			break;
		}
		done += got;
		if (progress)
			kf_progress_update(progress, (uint64_t)done, 0);
	}
	kf_progress_done(progress, r == 0);
	free(buf);
	return r;
}

int kf_iso_write_seed(const char *dst, const struct kf_iso_file *files, size_t n,
		      struct kf_err *err)
{
	return kf_iso_write_data(dst, "cidata", files, n, err);
}

int kf_iso_write_data(const char *dst, const char *volid, const struct kf_iso_file *files,
		      size_t n, struct kf_err *err)
{
	IsoImage *img = NULL;
	IsoWriteOpts *opts = NULL;
	struct burn_source *bs = NULL;
	char *tmp = NULL;
	int fd = -1, r, ir;

	/* bit0: leave the process's locale alone (the names here are ASCII) */
	if ((ir = iso_init_with_flag(1)) < 0)
		return kf_err_set(err, KF_EFAIL, "libisofs: cannot initialize: %s",
				  iso_error_to_msg(ir));
	/* problems are queued for our message, nothing is printed to stderr */
	iso_set_msgs_severities("SORRY", "NEVER", "libisofs: ");
	if ((ir = iso_image_new(volid, &img)) < 0) {
		r = iso_fail(err, KF_ENOMEM, dst, ir);
		goto out;
	}
	if ((r = build_tree(img, files, n, err)) != 0)
		goto out;
	/* profile 1: Rock Ridge (long lower-case names, modes), ISO level 3 (files over 4 GiB
	 * in sections), Joliet for Windows; the volume id kept as given (lower-case "cidata" is
	 * what cloud-init's NoCloud looks for besides CIDATA) */
	/* Byte-reproducible: the same files give the same image, whenever they were written --
	 * every timestamp (volume, Rock Ridge, the directory records of ECMA-119 and Joliet) is
	 * REPRO_TIME in GMT. A seed rewritten from unchanged inputs (a run killed before its
	 * record) then leaves create-vms' fingerprint, which hashes the seeds, as it was. */
	if ((ir = iso_write_opts_new(&opts, 1)) < 0 ||
	    (ir = iso_write_opts_set_iso_level(opts, 3)) < 0 ||
	    (ir = iso_write_opts_set_joliet(opts, 1)) < 0 ||
	    (ir = iso_write_opts_set_relaxed_vol_atts(opts, 1)) < 0 ||
	    (ir = iso_write_opts_set_always_gmt(opts, 1)) < 0 ||
	    (ir = iso_write_opts_set_dir_rec_mtime(opts, 1 | 2 | 4)) < 0 ||
	    (ir = iso_write_opts_set_replace_timestamps(opts, 2)) < 0 ||
	    (ir = iso_write_opts_set_default_timestamp(opts, REPRO_TIME)) < 0 ||
	    (ir = iso_write_opts_set_pvd_times(opts, REPRO_TIME, REPRO_TIME, 0, REPRO_TIME,
					       (char *)REPRO_UUID)) < 0) {
		r = iso_fail(err, KF_EFAIL, dst, ir);
		goto out;
	}
	if ((ir = iso_image_create_burn_source(img, opts, &bs)) < 0) {
		bs = NULL;
		r = iso_fail(err, KF_EFAIL, dst, ir);
		goto out;
	}
	/* a seed holds the k3s token and the node's private host key (a payload CD nothing
	 * secret, but the same mode does no harm) */
	if ((r = kf_fs_temp_open(dst, 0600, &fd, &tmp, err)) != 0)
		goto out;
	/* not fsynced here: the caller makes it durable before it records it (flush.h) */
	if ((r = drain_source(bs, fd, dst, err)) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		r = kf_err_set(err, KF_EIO, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		r = kf_err_set(err, KF_EIO, "rename %s to %s: %s", tmp, dst, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp && r != 0)
		unlink(tmp);
	free(tmp);
	if (bs) {
		/* a write cut short: stop libisofs's writer thread before free_data joins it */
		if (r != 0 && bs->version >= 1 && bs->cancel)
			bs->cancel(bs);
		bs->free_data(bs);
		free(bs);
	}
	if (opts)
		iso_write_opts_free(opts);
	if (img)
		iso_image_unref(img);
	iso_drain();
	iso_finish();
	return r;
}
