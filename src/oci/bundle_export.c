/* The air-gap bundle's writer (bundle.c reads it back): an OCI image layout plus extra files
 * in one ustar archive, written while streaming blobs from the source (each verified by
 * kf_oci_blob_get). ustar is written here directly (512-byte headers, sizes past 8 GiB in the
 * GNU base-256 form) rather than pulling in libarchive: the format needs only regular files
 * with short names. */
#include "k3sforge/bundle.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/tar.h"

#include "bundle_internal.h"

/* ---------------------------------------------------------------- tar writer */

struct tar_w {
	FILE *f;
	struct kf_sha256 *h;   /* over the whole archive */
	uint64_t entry_left;
	int failed;
};

static int tw_write(struct tar_w *w, const void *p, size_t n)
{
	if (w->failed || fwrite(p, 1, n, w->f) != n) {
		w->failed = 1;
		return KF_EIO;
	}
	kf_sha256_update(w->h, p, n);
	return 0;
}

static int tw_header(struct tar_w *w, const char *name, uint64_t size)
{
	unsigned char h[KF_TAR_BLOCK];

	if (strlen(name) >= 100)
		return KF_ELIMIT;
	/* mtime 0: the same inputs make the same bundle */
	kf_tar_header(h, name, size, 0644, 0);
	w->entry_left = size;
	return tw_write(w, h, KF_TAR_BLOCK);
}

static int tw_pad(struct tar_w *w, uint64_t size)
{
	static const unsigned char zero[BLOCK];
	size_t pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);

	return pad ? tw_write(w, zero, pad) : 0;
}

static int tw_mem(struct tar_w *w, const char *name, const void *data, size_t len)
{
	int rc;

	if ((rc = tw_header(w, name, len)) != 0 || (rc = tw_write(w, data, len)) != 0)
		return rc;
	return tw_pad(w, len);
}

/* ---------------------------------------------------------------- export */

struct exporter {
	struct tar_w tw;
	json_t *index;       /* OCI index.json manifests array */
	json_t *images, *blobs, *files;
	json_t *written;     /* digest -> true */
	const char *path;
};

static int blob_sink(void *ud, const void *data, size_t len)
{
	struct tar_w *w = ud;

	return tw_write(w, data, len);
}

static int ex_blob(void *ud, struct kf_oci_registry *src, const char *src_repo, const char *digest,
		   uint64_t size, struct kf_err *err)
{
	struct exporter *x = ud;
	char name[100];
	int rc;

	if (json_object_get(x->written, digest))
		return 0;
	if ((rc = kf_digest_check(digest, "bundle: blob", err)) != 0)
		return rc;
	snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(digest));
	if ((rc = tw_header(&x->tw, name, size)) != 0)
		return kf_err_set(err, rc, "%s: cannot write", x->path);
	if ((rc = kf_oci_blob_get(src, src_repo, digest, size, blob_sink, &x->tw, err)) != 0)
		return kf_err_wrap(err, "bundle");
	if ((rc = tw_pad(&x->tw, size)) != 0)
		return kf_err_set(err, rc, "%s: cannot write", x->path);
	json_object_set_new(x->written, digest, json_true());
	json_array_append_new(x->blobs, json_pack("{s:s,s:I}", "digest", digest, "size",
						  (json_int_t)size));
	return 0;
}

static int ex_manifest(void *ud, const struct kf_oci_manifest *m, struct kf_err *err)
{
	struct exporter *x = ud;
	char name[100];

	if (json_object_get(x->written, m->digest))
		return 0;
	if (kf_digest_check(m->digest, "bundle: manifest", err) != 0)
		return KF_EPARSE;
	snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(m->digest));
	if (tw_mem(&x->tw, name, m->data, m->len) != 0)
		return kf_err_set(err, KF_EIO, "%s: cannot write", x->path);
	json_object_set_new(x->written, m->digest, json_true());
	json_array_append_new(x->blobs, json_pack("{s:s,s:I}", "digest", m->digest, "size",
						  (json_int_t)m->len));
	return 0;
}

static int ex_image(void *ud, const char *ref, const char *source,
		    const struct kf_oci_manifest *top, const char *platform, struct kf_err *err)
{
	struct exporter *x = ud;

	(void)err;
	json_array_append_new(x->index,
			      json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "mediaType", top->media_type,
					"digest", top->digest, "size", (json_int_t)top->len,
					"annotations", "org.opencontainers.image.ref.name", ref,
					"io.k3sforge.source", source));
	json_array_append_new(x->images,
			      json_pack("{s:s,s:s,s:s,s:s,s:s?}", "ref", ref, "source", source,
					"digest", top->digest, "mediaType", top->media_type,
					"platform", platform));
	return 0;
}

static int ex_file(struct exporter *x, const struct kf_bundle_file *f, struct kf_err *err)
{
	FILE *in = NULL;
	struct stat st;
	struct kf_sha256 *h = NULL;
	char name[128], hex[KF_SHA256_HEX_LEN + 1], *buf = NULL;
	uint64_t left;
	int rc = 0;

	if (!kf_bundle_file_name_ok(f->name))
		return kf_err_set(err, KF_EUSAGE, "bundle: file name '%s' must be [A-Za-z0-9._+-]",
				  f->name);
	if (!(in = fopen(f->path, "rb")) || fstat(fileno(in), &st) != 0) {
		rc = kf_err_set(err, KF_EIO, "bundle: %s: %s", f->path, strerror(errno));
		goto out;
	}
	snprintf(name, sizeof(name), "files/%s", f->name);
	h = kf_sha256_new();
	buf = malloc(65536);
	if (!h || !buf) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (tw_header(&x->tw, name, (uint64_t)st.st_size) != 0) {
		rc = kf_err_set(err, KF_EIO, "%s: cannot write", x->path);
		goto out;
	}
	for (left = (uint64_t)st.st_size; left > 0;) {
		size_t want = left < 65536 ? (size_t)left : 65536;
		size_t got = fread(buf, 1, want, in);
		if (got == 0) {
			rc = kf_err_set(err, KF_EIO, "bundle: %s changed while being read", f->path);
			goto out;
		}
		kf_sha256_update(h, buf, got);
		if (tw_write(&x->tw, buf, got) != 0) {
			rc = kf_err_set(err, KF_EIO, "%s: cannot write", x->path);
			goto out;
		}
		left -= got;
	}
	kf_sha256_final_hex(h, hex);
	h = NULL;
	if (tw_pad(&x->tw, (uint64_t)st.st_size) != 0) {
		rc = kf_err_set(err, KF_EIO, "%s: cannot write", x->path);
		goto out;
	}
	json_array_append_new(x->files, json_pack("{s:s,s:s,s:I}", "name", f->name, "sha256", hex,
						  "size", (json_int_t)st.st_size));
out:
	kf_sha256_free(h);
	free(buf);
	if (in)
		fclose(in);
	return rc;
}

int kf_bundle_export(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		     size_t n, const struct kf_bundle_file *files, size_t n_files, const char *path,
		     char *sha256_hex, struct kf_err *err)
{
	struct exporter x;
	struct kf_mirror_writer w = { ex_blob, ex_manifest, ex_image, &x };
	char *tmp = NULL, *idx = NULL, *bj = NULL, hex[KF_SHA256_HEX_LEN + 1], ihex[65];
	int fd = -1;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const unsigned char zero[2 * BLOCK];
	json_t *root = NULL, *bundle = NULL;
	int rc;

	memset(&x, 0, sizeof(x));
	x.path = path;
	x.index = json_array();
	x.images = json_array();
	x.blobs = json_array();
	x.files = json_array();
	x.written = json_object();
	x.tw.h = kf_sha256_new();
	/* a fresh name made with O_EXCL: never a file or symlink someone planted */
	if ((rc = kf_fs_temp_open(path, 0644, &fd, &tmp, err)) != 0)
		goto out;
	if (!(x.tw.f = fdopen(fd, "wb"))) {
		rc = kf_err_set(err, KF_EIO, "bundle: cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if ((rc = tw_mem(&x.tw, "oci-layout", layout, strlen(layout))) != 0) {
		rc = kf_err_set(err, KF_EIO, "%s: cannot write", tmp);
		goto out;
	}
	if ((rc = kf_mirror_export(opts, images, n, &w, err)) != 0)
		goto out;
	for (size_t i = 0; i < n_files; i++)
		if ((rc = ex_file(&x, &files[i], err)) != 0)
			goto out;
	root = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", KF_OCI_MT_OCI_INDEX,
			 "manifests", x.index);
	idx = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!idx) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	kf_sha256_hex(idx, strlen(idx), ihex);
	bundle = json_pack("{s:i,s:s,s:O,s:O,s:O}", "k3sforgeBundle", 1, "indexSha256", ihex,
			   "images", x.images, "blobs", x.blobs, "files", x.files);
	bj = json_dumps(bundle, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!bj || tw_mem(&x.tw, "index.json", idx, strlen(idx)) != 0 ||
	    tw_mem(&x.tw, BUNDLE_JSON, bj, strlen(bj)) != 0 ||
	    tw_write(&x.tw, zero, sizeof(zero)) != 0 || fflush(x.tw.f) != 0 ||
	    fsync(fileno(x.tw.f)) != 0) {
		rc = kf_err_set(err, KF_EIO, "%s: cannot write", tmp);
		goto out;
	}
	{
		int closed = fclose(x.tw.f);
		x.tw.f = NULL;
		if (closed != 0 || rename(tmp, path) != 0) {
			rc = kf_err_set(err, KF_EIO, "bundle: %s to %s: %s",
					closed ? "close before the rename" : "rename", path,
					strerror(errno));
			unlink(tmp);
			goto out;
		}
	}
	kf_sha256_final_hex(x.tw.h, hex);
	x.tw.h = NULL;
	{
		char *sp = malloc(strlen(path) + 8), line[200];
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		if (sp) {
			sprintf(sp, "%s.sha256", path);
			snprintf(line, sizeof(line), "%s  %s\n", hex, base);
			kf_fs_write_atomic(sp, line, strlen(line), 0644, err);
			free(sp);
		}
	}
	if (sha256_hex)
		memcpy(sha256_hex, hex, sizeof(hex));
	kf_info("bundle %s: %zu images, %zu blobs, %zu files; sha256 %s", path,
		json_array_size(x.images), json_array_size(x.blobs), json_array_size(x.files), hex);
out:
	if (x.tw.f) {
		fclose(x.tw.f);
		unlink(tmp);
	}
	kf_sha256_free(x.tw.h);
	json_decref(root);
	json_decref(bundle);
	json_decref(x.index);
	json_decref(x.images);
	json_decref(x.blobs);
	json_decref(x.files);
	json_decref(x.written);
	free(idx);
	free(bj);
	free(tmp);
	return rc;
}
