/* The air-gap bundle's reader: an OCI image layout plus extra files in one ustar archive
 * (written by bundle_export.c), imported in two passes over the archive: verify everything, then
 * load. The reader refuses anything but regular files with short names, the safer choice for
 * input from outside. */
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
#include "k3sforge/imageref.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"
#include "k3sforge/tar.h"

#include "bundle_internal.h"

#define JSON_MAX ((size_t)16 * 1024 * 1024)
#define ENTRY_MAX ((uint64_t)64 * 1024 * 1024 * 1024)
#define ENTRIES_MAX 200000

/* ---------------------------------------------------------------- names */

bool kf_bundle_file_name_ok(const char *n)
{
	size_t l = strlen(n);

	if (l == 0 || l > KF_BUNDLE_FILE_NAME_MAX || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return false;
	for (size_t i = 0; i < l; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- import */

struct entry {
	char name[160];
	uint64_t off, size;
	char sha[KF_SHA256_HEX_LEN + 1];
};

struct archive {
	FILE *f;
	const char *path;
	struct kf_progress *progress;   /* the verification pass; may be NULL */
	struct entry *v;
	size_t n, cap;
	json_t *by_name;                /* entry name -> index in v: lookups stay O(1) however
	                                   many entries a hostile archive holds */
	char *index, *bjson, *layout;
	size_t index_len, bjson_len;
};

static bool name_allowed(const char *n)
{
	if (strcmp(n, "oci-layout") == 0 || strcmp(n, "index.json") == 0 ||
	    strcmp(n, BUNDLE_JSON) == 0)
		return true;
	if (strncmp(n, "blobs/sha256/", 13) == 0)
		return kf_sha256_valid_hex(n + 13);
	if (strncmp(n, "files/", 6) == 0)
		return kf_bundle_file_name_ok(n + 6);
	return false;
}

static struct entry *find_entry(struct archive *a, const char *name)
{
	json_t *i = json_object_get(a->by_name, name);

	return i ? &a->v[json_integer_value(i)] : NULL;
}

/* Pass 1: reads every header and hashes every entry; refuses unknown, duplicate, malformed and
 * truncated entries and blobs whose content does not match their name. */
static int scan(struct archive *a, struct kf_err *err)
{
	unsigned char h[BLOCK];
	char *buf = malloc(65536);
	uint64_t off = 0;
	int zeros = 0, rc = 0;

	if (!buf)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (;;) {
		struct entry *e;
		uint64_t size, left;
		char name[160];
		struct kf_sha256 *hs;
		char **mem = NULL;
		size_t *mem_len = NULL;

		if (kf_interrupted()) {
			rc = kf_err_set(err, KF_EINTR, "interrupted");
			break;
		}
		if (fread(h, 1, BLOCK, a->f) != BLOCK) {
			rc = kf_err_set(err, KF_EPARSE,
					"bundle %s is truncated at byte %llu (no end-of-archive "
					"marker); copy it again", a->path, (unsigned long long)off);
			break;
		}
		off += BLOCK;
		{
			bool all_zero = true;
			for (int i = 0; i < BLOCK; i++)
				if (h[i]) {
					all_zero = false;
					break;
				}
			if (all_zero) {
				if (++zeros == 2)
					break;
				continue;
			}
			if (zeros) {
				rc = kf_err_set(err, KF_EPARSE, "bundle %s: data after an empty block",
						a->path);
				break;
			}
		}
		if (!kf_tar_checksum_ok(h)) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: bad tar header checksum at byte %llu",
					a->path, (unsigned long long)off - BLOCK);
			break;
		}
		if (h[156] != '0' && h[156] != '\0') {
			rc = kf_err_set(err, KF_EPARSE,
					"bundle %s: entry type '%c' at byte %llu is not a regular file",
					a->path, h[156], (unsigned long long)off - BLOCK);
			break;
		}
		if (h[345]) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: unexpected long name", a->path);
			break;
		}
		memcpy(name, h, 100);
		name[100] = '\0';
		if (!kf_tar_number(h + 124, 12, &size) || size > ENTRY_MAX) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: entry %s has a bad size", a->path,
					name);
			break;
		}
		if (!name_allowed(name)) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: unexpected entry '%s'", a->path,
					name);
			break;
		}
		if (find_entry(a, name)) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: entry %s appears twice", a->path,
					name);
			break;
		}
		if (a->n >= ENTRIES_MAX) {
			rc = kf_err_set(err, KF_ELIMIT, "bundle %s: more than %d entries", a->path,
					ENTRIES_MAX);
			break;
		}
		if (a->n == a->cap) {
			size_t nc = a->cap ? a->cap * 2 : 256;
			struct entry *nv = realloc(a->v, nc * sizeof(*nv));
			if (!nv) {
				rc = kf_err_set(err, KF_ENOMEM, "out of memory");
				break;
			}
			a->v = nv;
			a->cap = nc;
		}
		if ((!a->by_name && !(a->by_name = json_object())) ||
		    json_object_set_new_nocheck(a->by_name, name, json_integer((json_int_t)a->n))) {
			rc = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		}
		e = &a->v[a->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->off = off;
		e->size = size;
		if (strcmp(name, "index.json") == 0) {
			mem = &a->index;
			mem_len = &a->index_len;
		} else if (strcmp(name, BUNDLE_JSON) == 0) {
			mem = &a->bjson;
			mem_len = &a->bjson_len;
		}
		if (mem) {
			if (size > JSON_MAX || !(*mem = malloc((size_t)size + 1))) {
				rc = kf_err_set(err, KF_ELIMIT, "bundle %s: %s is too large", a->path,
						name);
				break;
			}
			(*mem)[size] = '\0';
			*mem_len = (size_t)size;
		}
		hs = kf_sha256_new();
		for (left = size; left > 0;) {
			size_t want2 = left < 65536 ? (size_t)left : 65536;
			size_t got = fread(buf, 1, want2, a->f);
			if (got == 0)
				break;
			kf_sha256_update(hs, buf, got);
			if (mem)
				memcpy(*mem + (size - left), buf, got);
			left -= got;
			kf_progress_update(a->progress, off + (size - left), 0);
		}
		kf_sha256_final_hex(hs, e->sha);
		if (left) {
			rc = kf_err_set(err, KF_EPARSE,
					"bundle %s is truncated inside %s (%llu of %llu bytes); copy "
					"it again", a->path, name, (unsigned long long)(size - left),
					(unsigned long long)size);
			break;
		}
		off += size;
		if (size % BLOCK) {
			size_t pad = (size_t)(BLOCK - size % BLOCK);
			if (fread(buf, 1, pad, a->f) != pad) {
				rc = kf_err_set(err, KF_EPARSE, "bundle %s is truncated after %s",
						a->path, name);
				break;
			}
			off += pad;
		}
		if (strncmp(name, "blobs/sha256/", 13) == 0 && strcmp(name + 13, e->sha) != 0) {
			rc = kf_err_set(err, KF_EDIGEST,
					"bundle %s: %s hashes to sha256:%s; the bundle was altered or "
					"damaged, nothing was loaded", a->path, name, e->sha);
			break;
		}
	}
	if (rc == 0)
		kf_progress_update(a->progress, off, 0);
	free(buf);
	return rc;
}

/* A listing's ref is repo:tag without a registry: parsed by the one reference grammar under a
 * placeholder registry, so no docker.io rules apply. */
static int bundle_ref_parse(struct kf_oci_ref *pr, const char *ref, struct kf_err *err)
{
	static const char reg[] = "bundle.invalid/";
	char full[KF_IMAGEREF_MAX + 32], why[160];
	size_t off;

	if (strlen(ref) > KF_IMAGEREF_MAX)
		return kf_err_set(err, KF_EPARSE, "ref longer than %d characters", KF_IMAGEREF_MAX);
	snprintf(full, sizeof(full), "%s%s", reg, ref);
	if (kf_imageref_parse(full, NULL, &off, why, sizeof(why)) != 0)
		return kf_err_set(err, KF_EPARSE, "ref '%s' is not an image reference (at character "
				  "%zu): %s", ref, off >= sizeof(reg) - 1 ? off - (sizeof(reg) - 1) + 1 : 1,
				  why);
	return kf_oci_ref_parse(pr, full, err);
}

/* Pass 1b: the listing in k3sforge-bundle.json and the index agree with what is there. */
static int check_listing(struct archive *a, json_t **bundle_out, struct kf_err *err)
{
	json_t *b = NULL, *v, *it;
	char hex[KF_SHA256_HEX_LEN + 1], name[160];
	size_t i, listed = 3;
	int rc;

	*bundle_out = NULL;
	if (!a->bjson || !a->index || !find_entry(a, "oci-layout"))
		return kf_err_set(err, KF_EPARSE,
				  "bundle %s: missing %s, index.json or oci-layout; not a k3sforge "
				  "bundle", a->path, BUNDLE_JSON);
	if (!(b = json_loadb(a->bjson, a->bjson_len, 0, NULL)) ||
	    json_integer_value(json_object_get(b, "k3sforgeBundle")) != 1) {
		rc = kf_err_set(err, KF_EPARSE, "bundle %s: %s is not a version 1 listing", a->path,
				BUNDLE_JSON);
		goto out;
	}
	kf_sha256_hex(a->index, a->index_len, hex);
	if (!json_is_string(json_object_get(b, "indexSha256")) ||
	    strcmp(json_string_value(json_object_get(b, "indexSha256")), hex) != 0) {
		rc = kf_err_set(err, KF_EDIGEST, "bundle %s: index.json does not match its listed digest",
			   a->path);
		goto out;
	}
	v = json_object_get(b, "blobs");
	json_array_foreach(v, i, it) {
		const char *d = json_string_value(json_object_get(it, "digest"));
		struct entry *e;
		if (!kf_digest_valid(d)) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: malformed blob entry %zu", a->path, i);
			goto out;
		}
		snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(d));
		if (!(e = find_entry(a, name)) ||
		    e->size != (uint64_t)json_integer_value(json_object_get(it, "size"))) {
			rc = kf_err_set(err, KF_EDIGEST, "bundle %s: blob %s is %s", a->path, d,
				   e ? "of the wrong size" : "missing");
			goto out;
		}
		listed++;
	}
	v = json_object_get(b, "files");
	json_array_foreach(v, i, it) {
		const char *fn = json_string_value(json_object_get(it, "name"));
		const char *sha = json_string_value(json_object_get(it, "sha256"));
		struct entry *e;
		if (!fn || !sha || !kf_bundle_file_name_ok(fn)) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: malformed file entry %zu", a->path, i);
			goto out;
		}
		snprintf(name, sizeof(name), "files/%s", fn);
		if (!(e = find_entry(a, name)) || strcmp(e->sha, sha) != 0) {
			rc = kf_err_set(err, KF_EDIGEST, "bundle %s: file %s is %s", a->path, fn,
				   e ? "altered (sha256 mismatch)" : "missing");
			goto out;
		}
		listed++;
	}
	if (listed != a->n) {
		rc = kf_err_set(err, KF_EPARSE, "bundle %s holds %zu entries that are not listed",
			   a->path, a->n - listed);
		goto out;
	}
	v = json_object_get(b, "images");
	if (!json_is_array(v) || json_array_size(v) > ENTRIES_MAX) {
		rc = kf_err_set(err, KF_EPARSE, "bundle %s: %s has no list of images", a->path,
				BUNDLE_JSON);
		goto out;
	}
	json_array_foreach(v, i, it) {
		const char *d = json_string_value(json_object_get(it, "digest"));
		const char *ref = json_string_value(json_object_get(it, "ref"));
		struct kf_oci_ref pr;
		if (!kf_digest_valid(d) || !ref ||
		    !json_is_string(json_object_get(it, "mediaType"))) {
			rc = kf_err_set(err, KF_EPARSE, "bundle %s: malformed image entry %zu", a->path, i);
			goto out;
		}
		/* the same grammar as the command line and the config: no "..", no bad tag */
		if ((rc = bundle_ref_parse(&pr, ref, err)) != 0) {
			kf_err_wrap(err, "bundle %s: image entry %zu", a->path, i);
			goto out;
		}
		kf_oci_ref_free(&pr);
		snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(d));
		if (!find_entry(a, name)) {
			rc = kf_err_set(err, KF_EDIGEST, "bundle %s: manifest of %s is missing", a->path,
					ref);
			goto out;
		}
	}
	*bundle_out = b;
	b = NULL;
	rc = 0;
out:
	json_decref(b);
	return rc;
}

/* Reads an entry's bytes from the archive (manifests). */
static int read_entry(struct archive *a, const struct entry *e, char **out, struct kf_err *err)
{
	char *p;

	if (e->size > KF_OCI_MANIFEST_MAX)
		return kf_err_set(err, KF_ELIMIT, "bundle: manifest %s is too large", e->name);
	if (!(p = malloc((size_t)e->size + 1)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (fseeko(a->f, (off_t)e->off, SEEK_SET) != 0 ||
	    fread(p, 1, (size_t)e->size, a->f) != e->size) {
		free(p);
		return kf_err_set(err, KF_EIO, "bundle %s: cannot read %s", a->path, e->name);
	}
	p[e->size] = '\0';
	*out = p;
	return 0;
}

struct file_source {
	FILE *f;
	uint64_t left;
};

static long file_source_fn(void *ud, char *buf, size_t n)
{
	struct file_source *s = ud;
	size_t want = n < s->left ? n : (size_t)s->left, got;

	if (want == 0)
		return 0;
	got = fread(buf, 1, want, s->f);
	if (got == 0)
		return KF_EIO;
	s->left -= got;
	return (long)got;
}

static int load_blob(struct archive *a, struct kf_oci_registry *r, const char *repo,
		     const char *digest, struct kf_bundle_import_stats *st, struct kf_err *err)
{
	char name[160];
	struct entry *e;
	struct file_source fs;
	int rc;

	if ((rc = kf_digest_check(digest, "bundle: blob", err)) != 0)
		return rc;
	snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(digest));
	if (!(e = find_entry(a, name)))
		return kf_err_set(err, KF_EDIGEST, "bundle %s: blob %s is missing", a->path, digest);
	if (kf_oci_blob_head(r, repo, digest, NULL, err) == 0) {
		st->blobs_present++;
		return 0;
	}
	if (fseeko(a->f, (off_t)e->off, SEEK_SET) != 0)
		return kf_err_set(err, KF_EIO, "bundle %s: seek failed", a->path);
	fs.f = a->f;
	fs.left = e->size;
	kf_err_clear(err);
	if ((rc = kf_oci_blob_upload(r, repo, digest, e->size, file_source_fn, &fs, NULL, err)))
		return rc;
	st->blobs_loaded++;
	return 0;
}

/* Reads, re-hashes and parses the manifest entry of digest: pass 1 hashed every entry, but the
 * file may have changed since. */
static int read_doc(struct archive *a, const char *digest, const char *fallback_mt,
		    const struct entry **e_out, char **data, struct kf_oci_doc *doc,
		    struct kf_err *err)
{
	char name[160], hex[KF_SHA256_HEX_LEN + 1];
	const struct entry *e;
	int rc;

	*data = NULL;
	if ((rc = kf_digest_check(digest, "bundle: manifest", err)) != 0)
		return rc;
	snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(digest));
	if (!(e = find_entry(a, name)))
		return kf_err_set(err, KF_EDIGEST, "bundle %s: manifest %s is missing", a->path,
				  digest);
	if ((rc = read_entry(a, e, data, err)) != 0)
		return rc;
	kf_sha256_hex(*data, (size_t)e->size, hex);
	if (strcmp(hex, kf_digest_hex(digest)) != 0)
		rc = kf_err_set(err, KF_EDIGEST, "bundle %s changed while being loaded (%s)", a->path,
				name);
	else if ((rc = kf_oci_doc_parse(doc, *data, (size_t)e->size, fallback_mt, err)) != 0)
		kf_err_wrap(err, "bundle %s: %s", a->path, digest);
	if (rc) {
		free(*data);
		*data = NULL;
		return rc;
	}
	*e_out = e;
	return 0;
}

static int need_blob(struct archive *a, const struct kf_oci_desc *d, const char *manifest,
		     struct kf_err *err)
{
	char name[160];
	const struct entry *e;

	snprintf(name, sizeof(name), "blobs/sha256/%s", kf_digest_hex(d->digest));
	if (!(e = find_entry(a, name)))
		return kf_err_set(err, KF_EDIGEST,
				  "bundle %s: blob %s named by manifest %s is not in the bundle; "
				  "nothing was loaded", a->path, d->digest, manifest);
	if (e->size != d->size)
		return kf_err_set(err, KF_EDIGEST,
				  "bundle %s: blob %s is %llu bytes but manifest %s says %llu",
				  a->path, d->digest, (unsigned long long)e->size, manifest,
				  (unsigned long long)d->size);
	return 0;
}

/* Pass 2: the closure of every listed image (index → manifests, nested indexes up to
 * BUNDLE_DEPTH → config and layers) is in the archive with the sizes its descriptors give, so
 * a load never stops half-way on a missing blob. `seen` holds the manifests already walked. */
#define BUNDLE_DEPTH 4
static int verify_manifest(struct archive *a, const char *digest, const char *fallback_mt,
			   int depth, json_t *seen, struct kf_err *err)
{
	const struct entry *e;
	struct kf_oci_doc doc;
	char *data = NULL;
	int rc;

	if (json_object_get(seen, digest))
		return 0;
	if ((rc = read_doc(a, digest, fallback_mt, &e, &data, &doc, err)) != 0)
		return rc;
	free(data);
	if (doc.is_index && depth + 1 >= BUNDLE_DEPTH) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "bundle %s: indexes nested deeper than %d at %s",
				a->path, BUNDLE_DEPTH, digest);
		goto out;
	}
	if (!doc.is_index && (rc = need_blob(a, &doc.config, digest, err)) != 0)
		goto out;
	for (size_t i = 0; i < doc.n; i++) {
		if (kf_interrupted()) {
			rc = kf_err_set(err, KF_EINTR, "interrupted");
			goto out;
		}
		if ((rc = need_blob(a, &doc.v[i], digest, err)) != 0)
			goto out;
		if (doc.is_index &&
		    (rc = verify_manifest(a, doc.v[i].digest,
					  doc.v[i].media_type[0] ? doc.v[i].media_type : NULL,
					  depth + 1, seen, err)) != 0)
			goto out;
	}
	json_object_set_new(seen, digest, json_true());
out:
	kf_oci_doc_free(&doc);
	return rc;
}

static int verify_closure(struct archive *a, json_t *listing, struct kf_err *err)
{
	json_t *seen = json_object(), *it;
	size_t i;
	int rc = 0;

	if (!seen)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	json_array_foreach(json_object_get(listing, "images"), i, it) {
		const char *d = json_string_value(json_object_get(it, "digest"));
		const char *mt = json_string_value(json_object_get(it, "mediaType"));
		if ((rc = verify_manifest(a, d, mt, 0, seen, err)) != 0) {
			kf_err_wrap(err, "image %s",
				    json_string_value(json_object_get(it, "ref")));
			break;
		}
	}
	json_decref(seen);
	return rc;
}

/* Pushes one manifest's blobs (or, for an index, its manifests) and then the manifest by its
 * digest. Tags are set only once every image is in (kf_bundle_load). */
static int load_manifest(struct archive *a, struct kf_oci_registry *r, const char *repo,
			 const char *digest, const char *fallback_mt, int depth,
			 struct kf_bundle_import_stats *st, struct kf_err *err)
{
	const struct entry *e;
	struct kf_oci_doc doc;
	char *data = NULL;
	int rc;

	if (depth >= BUNDLE_DEPTH)
		return kf_err_set(err, KF_EUNSUPPORTED, "bundle: indexes nested too deep at %s",
				  digest);
	if ((rc = read_doc(a, digest, fallback_mt, &e, &data, &doc, err)) != 0)
		return rc;
	if (!doc.is_index && (rc = load_blob(a, r, repo, doc.config.digest, st, err)) != 0)
		goto out;
	for (size_t i = 0; i < doc.n; i++) {
		if (doc.is_index)
			rc = load_manifest(a, r, repo, doc.v[i].digest,
					   doc.v[i].media_type[0] ? doc.v[i].media_type : NULL,
					   depth + 1, st, err);
		else
			rc = load_blob(a, r, repo, doc.v[i].digest, st, err);
		if (rc)
			goto out;
	}
	rc = kf_oci_manifest_put(r, repo, digest, data, (size_t)e->size, doc.media_type, err);
out:
	kf_oci_doc_free(&doc);
	free(data);
	return rc;
}

/* Puts the (verified) manifest of digest under tag. */
static int tag_image(struct archive *a, struct kf_oci_registry *r, const char *repo,
		     const char *tag, const char *digest, const char *fallback_mt,
		     struct kf_err *err)
{
	const struct entry *e;
	struct kf_oci_doc doc;
	char *data = NULL;
	int rc;

	if ((rc = read_doc(a, digest, fallback_mt, &e, &data, &doc, err)) != 0)
		return rc;
	rc = kf_oci_manifest_put(r, repo, tag, data, (size_t)e->size, doc.media_type, err);
	kf_oci_doc_free(&doc);
	free(data);
	return rc;
}

static int copy_out(struct archive *a, const struct entry *e, const char *dir, struct kf_err *err)
{
	char *dst = kf_path_join(dir, e->name + 6), *tmp = NULL, *buf = malloc(65536);
	char hex[KF_SHA256_HEX_LEN + 1];
	struct kf_sha256 *h = kf_sha256_new();
	FILE *out = NULL;
	uint64_t left = e->size;
	int rc = 0, fd = -1;

	if (!dst || !buf || !h) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (fseeko(a->f, (off_t)e->off, SEEK_SET) != 0) {
		rc = kf_err_set(err, KF_EIO, "bundle %s: seek failed", a->path);
		goto out;
	}
	/* a fresh O_EXCL name: a symlink planted in the files directory is never followed */
	if ((rc = kf_fs_temp_open(dst, 0644, &fd, &tmp, err)) != 0)
		goto out;
	if (!(out = fdopen(fd, "wb"))) {
		rc = kf_err_set(err, KF_EIO, "bundle: cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	while (left > 0) {
		size_t got = fread(buf, 1, left < 65536 ? (size_t)left : 65536, a->f);
		if (got == 0 || fwrite(buf, 1, got, out) != got) {
			rc = kf_err_set(err, KF_EIO, "bundle: copying %s failed", e->name);
			goto out;
		}
		kf_sha256_update(h, buf, got);
		left -= got;
	}
	kf_sha256_final_hex(h, hex);
	h = NULL;
	if (strcmp(hex, e->sha) != 0) {
		rc = kf_err_set(err, KF_EDIGEST, "bundle %s changed while being loaded (%s)", a->path,
				e->name);
		goto out;
	}
	if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0) {
		out = NULL;
		rc = kf_err_set(err, KF_EIO, "bundle: cannot write %s", tmp);
		goto out;
	}
	out = NULL;
	if (rename(tmp, dst) != 0)
		rc = kf_err_set(err, KF_EIO, "bundle: rename to %s: %s", dst, strerror(errno));
out:
	if (out)
		fclose(out);
	if (rc && tmp)
		unlink(tmp);
	kf_sha256_free(h);
	free(dst);
	free(tmp);
	free(buf);
	return rc;
}

struct kf_bundle {
	struct archive a;
	json_t *listing;   /* k3sforge-bundle.json, checked against the entries */
	char *path;
	size_t n_files;
};

void kf_bundle_close(struct kf_bundle *b)
{
	if (!b)
		return;
	json_decref(b->listing);
	if (b->a.f)
		fclose(b->a.f);
	free(b->a.v);
	json_decref(b->a.by_name);
	free(b->a.index);
	free(b->a.bjson);
	free(b->a.layout);
	free(b->path);
	free(b);
}

int kf_bundle_open(struct kf_bundle **out, const char *path, struct kf_err *err)
{
	struct kf_bundle *b;
	int rc;

	*out = NULL;
	if (!(b = calloc(1, sizeof(*b))) || !(b->path = strdup(path))) {
		free(b);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	b->a.path = b->path;
	if (!(b->a.f = fopen(path, "rb"))) {
		rc = kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "bundle %s: %s", path,
				strerror(errno));
		goto out;
	}
	{
		/* Every byte is read and hashed before anything loads: minutes for a big bundle. */
		struct stat sb;
		uint64_t total = fstat(fileno(b->a.f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
		b->a.progress = kf_progress_new("verify bundle", total, 0);
		rc = scan(&b->a, err);
		if (b->a.progress)
			kf_progress_done(b->a.progress, rc == 0);
		b->a.progress = NULL;
	}
	if (rc != 0 || (rc = check_listing(&b->a, &b->listing, err)) != 0 ||
	    (rc = verify_closure(&b->a, b->listing, err)) != 0)
		goto out;
	for (size_t k = 0; k < b->a.n; k++)
		b->n_files += strncmp(b->a.v[k].name, "files/", 6) == 0;
	kf_info("bundle %s verified: %zu entries, every digest matches", path, b->a.n);
	*out = b;
	b = NULL;
out:
	kf_bundle_close(b);
	return rc;
}

size_t kf_bundle_file_count(const struct kf_bundle *b)
{
	return b ? b->n_files : 0;
}

size_t kf_bundle_image_count(const struct kf_bundle *b)
{
	return b ? json_array_size(json_object_get(b->listing, "images")) : 0;
}

int kf_bundle_load(struct kf_bundle *b, const char *to, const char *to_ca, const char *files_dir,
		   struct kf_bundle_import_stats *stats, struct kf_err *err)
{
	struct archive *a = &b->a;
	struct kf_bundle_import_stats st = { 0 };
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	json_t *it;
	size_t i;
	int rc = 0;

	if (to) {
		o.ca_file = to_ca;
		o.push = true;
		if ((rc = kf_oci_registry_new(&r, to, &o, err)) != 0)
			goto out;
	}
	/* Every image's blobs and manifests go in by digest first; tags only when all are in, so
	 * a failure leaves no tag pointing at a half-loaded set. (kf_bundle_open verified the
	 * whole closure, so a missing blob cannot stop it half-way.) */
	for (int tagging = 0; r && tagging < 2; tagging++) {
		json_array_foreach(json_object_get(b->listing, "images"), i, it) {
			const char *ref = json_string_value(json_object_get(it, "ref"));
			const char *digest = json_string_value(json_object_get(it, "digest"));
			const char *mt = json_string_value(json_object_get(it, "mediaType"));
			struct kf_oci_ref pr;
			if ((rc = bundle_ref_parse(&pr, ref, err)) != 0)
				goto out;
			if (!tagging)
				rc = load_manifest(a, r, pr.repo, digest, mt, 0, &st, err);
			else if (pr.tag)
				rc = tag_image(a, r, pr.repo, pr.tag, digest, mt, err);
			kf_oci_ref_free(&pr);
			if (rc) {
				kf_err_wrap(err, "%s %s", tagging ? "tagging" : "loading", ref);
				goto out;
			}
			st.images += tagging;
		}
	}
	if (files_dir) {
		if ((rc = kf_fs_mkdirs(files_dir, 0755, err)) != 0)
			goto out;
		for (size_t k = 0; k < a->n; k++) {
			if (strncmp(a->v[k].name, "files/", 6) != 0)
				continue;
			if ((rc = copy_out(a, &a->v[k], files_dir, err)) != 0)
				goto out;
			st.files++;
		}
	}
	kf_info("bundle %s loaded%s%s: %zu images, %zu blobs uploaded, %zu already there, %zu files",
		b->path, to ? " into " : "", to ? to : "", st.images, st.blobs_loaded,
		st.blobs_present, st.files);
	if (stats)
		*stats = st;
out:
	kf_oci_registry_free(r);
	return rc;
}

int kf_bundle_import(const char *path, const char *to, const char *to_ca, const char *files_dir,
		     struct kf_bundle_import_stats *stats, struct kf_err *err)
{
	struct kf_bundle *b = NULL;
	int rc;

	if ((rc = kf_bundle_open(&b, path, err)) != 0)
		return rc;
	rc = kf_bundle_load(b, to, to_ca, files_dir, stats, err);
	kf_bundle_close(b);
	return rc;
}
