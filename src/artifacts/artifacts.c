/* The k3s release artifacts under <out>/artifacts: fetch order (sum file first, then the assets
 * it lists), verification, reuse through verified.json, the offline folder, and the two parsers
 * (sum file, image list) prep relies on. */
#include "k3sforge/artifacts.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "k3sforge/download.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/strv.h"

#define SUMFILE_MAX_BYTES ((size_t)1 << 20)
#define SUMFILE_MAX_ENTRIES 10000
#define IMAGES_MAX_BYTES ((size_t)4 << 20)
#define IMAGES_MAX_REFS 10000
#define IMAGE_REF_MAX 512
#define MANIFEST_MAX_BYTES ((size_t)1 << 20)
#define SYNC_HASH_MAX ((off_t)64 << 20)  /* offline-folder files we hash to notice changes */

/* One artifact to obtain: where from, what it must hash to. */
struct want {
	enum kf_artifact_kind kind;
	const char *name;          /* file name under artifacts/ */
	char *source;              /* URL, or a local file when local */
	bool local;                /* copy instead of download */
	const char *expected;      /* verified digest, or NULL when not pinned */
	mode_t mode;
};

struct ctx {
	const struct kf_config *cfg;
	const struct kf_artifacts_opts *opts;
	struct kf_artifacts_report *rep;
	json_t *manifest;          /* {"version":1,"files":{...}} */
	char *manifest_path;
};

static bool is_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

char *kf_artifacts_asset_url(const char *release_url, const char *version, const char *asset)
{
	size_t n = strlen(release_url);
	char *ver, *out;
	size_t len;

	while (n && release_url[n - 1] == '/')
		n--;
	ver = kf_url_escape_segment(version);
	if (!ver)
		return NULL;
	len = n + strlen(ver) + strlen(asset) + 3;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%.*s/%s/%s", (int)n, release_url, ver, asset);
	free(ver);
	return out;
}

int kf_artifacts_chart_version(char **out, const char *chart, struct kf_err *err)
{
	const char *b, *end;
	size_t n;

	*out = NULL;
	if (!chart || !*chart)
		return kf_err_set(err, KF_ECONFIG, "addons.kubesphere_chart is empty; give the ks-core "
				  "chart URL or path (ks-core-<version>.tgz)");
	end = chart + strcspn(chart, "?#");
	n = (size_t)(end - chart);
	b = chart;
	for (const char *p = chart; p < end; p++)
		if (*p == '/')
			b = p + 1;
	n = (size_t)(end - b);
	if (n <= strlen("ks-core-.tgz") || strncmp(b, "ks-core-", 8) != 0 ||
	    strncmp(end - 4, ".tgz", 4) != 0)
		goto bad;
	for (const char *p = b + 8; p < end - 4; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      *p == '.' || *p == '-' || *p == '+' || *p == '_'))
			goto bad;
	*out = strndup(b + 8, n - 12);
	return *out ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
bad:
	return kf_err_set(err, KF_ECONFIG, "addons.kubesphere_chart %s: cannot tell the chart "
			  "version; the file must be named ks-core-<version>.tgz", chart);
}

void kf_sumfile_free(struct kf_sumfile *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i].name);
	free(s->entries);
	free(s);
}

const char *kf_sumfile_lookup(const struct kf_sumfile *s, const char *name)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->entries[i].name, name) == 0)
			return s->entries[i].sha256;
	return NULL;
}

int kf_sumfile_parse(struct kf_sumfile **out, const char *name, const char *data, size_t len,
		     struct kf_err *err)
{
	struct kf_sumfile *s = calloc(1, sizeof(*s));
	size_t cap = 0, pos = 0;
	int line = 0, r = 0;

	*out = NULL;
	if (!s)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	while (pos < len) {
		const char *l = data + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		const char *fname;
		size_t fl;
		char hex[KF_SHA256_HEX_LEN + 1];

		pos += ll + (nl ? 1 : 0);
		line++;
		while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ' || l[ll - 1] == '\t'))
			ll--;
		while (ll && (*l == ' ' || *l == '\t')) {
			l++;
			ll--;
		}
		if (!ll || *l == '#')
			continue;
		if (ll < KF_SHA256_HEX_LEN + 2 || (l[64] != ' ' && l[64] != '\t'))
			goto malformed;
		memcpy(hex, l, 64);
		hex[64] = '\0';
		if (!kf_sha256_valid_hex(hex))
			goto malformed;
		for (int i = 0; i < 64; i++)
			if (hex[i] >= 'A' && hex[i] <= 'F')
				hex[i] = (char)(hex[i] - 'A' + 'a');
		fname = l + 65;
		fl = ll - 65;
		/* "<hex>  name" (text mode) or "<hex> *name" (binary mode) */
		while (fl && (*fname == ' ' || *fname == '\t')) {
			fname++;
			fl--;
		}
		if (fl && *fname == '*') {
			fname++;
			fl--;
		}
		if (fl > 2 && fname[0] == '.' && fname[1] == '/') {
			fname += 2;
			fl -= 2;
		}
		if (!fl || memchr(fname, '\0', fl))
			goto malformed;
		{
			char *fn = strndup(fname, fl);
			const char *prev;
			if (!fn) {
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
			prev = kf_sumfile_lookup(s, fn);
			if (prev) {
				bool same = strcmp(prev, hex) == 0;
				if (!same) {
					r = kf_err_set(err, KF_EPARSE, "%s:%d: %s is listed twice with "
						       "different digests", name, line, fn);
					free(fn);
					goto out;
				}
				free(fn);
				continue;
			}
			if (s->n >= SUMFILE_MAX_ENTRIES) {
				free(fn);
				r = kf_err_set(err, KF_ELIMIT, "%s: more than %d entries", name,
					       SUMFILE_MAX_ENTRIES);
				goto out;
			}
			if (s->n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct kf_sum_entry *ne = realloc(s->entries, nc * sizeof(*ne));
				if (!ne) {
					free(fn);
					r = kf_err_set(err, KF_ENOMEM, "out of memory");
					goto out;
				}
				s->entries = ne;
				cap = nc;
			}
			s->entries[s->n].name = fn;
			memcpy(s->entries[s->n].sha256, hex, sizeof(hex));
			s->n++;
		}
		continue;
malformed:
		r = kf_err_set(err, KF_EPARSE, "%s:%d: not a sha256sum line (expected \"<64 hex "
			       "digits>  <file name>\")", name, line);
		goto out;
	}
out:
	if (r) {
		kf_sumfile_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void kf_artifacts_images_free(char **refs)
{
	kf_argv_free(refs);
}

static bool image_ref_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
}

int kf_artifacts_images_parse(char ***refs, size_t *n, const char *name, const char *data,
			      size_t len, struct kf_err *err)
{
	char **v = NULL;
	size_t cnt = 0, pos = 0;
	int line = 0, r = 0;

	*refs = NULL;
	*n = 0;
	while (pos < len) {
		const char *l = data + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;

		pos += ll + (nl ? 1 : 0);
		line++;
		while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ' || l[ll - 1] == '\t'))
			ll--;
		while (ll && (*l == ' ' || *l == '\t')) {
			l++;
			ll--;
		}
		if (!ll || *l == '#')
			continue;
		if (ll > IMAGE_REF_MAX) {
			r = kf_err_set(err, KF_EPARSE, "%s:%d: image reference longer than %d "
				       "characters", name, line, IMAGE_REF_MAX);
			goto out;
		}
		for (size_t i = 0; i < ll; i++) {
			if (!image_ref_char(l[i])) {
				r = kf_err_set(err, KF_EPARSE, "%s:%d: \"%.*s\" is not an image "
					       "reference", name, line, (int)(ll > 80 ? 80 : ll), l);
				goto out;
			}
		}
		if (!((l[0] >= 'a' && l[0] <= 'z') || (l[0] >= 'A' && l[0] <= 'Z') ||
		      (l[0] >= '0' && l[0] <= '9'))) {
			r = kf_err_set(err, KF_EPARSE, "%s:%d: \"%.*s\" is not an image reference",
				       name, line, (int)(ll > 80 ? 80 : ll), l);
			goto out;
		}
		if (cnt >= IMAGES_MAX_REFS) {
			r = kf_err_set(err, KF_ELIMIT, "%s: more than %d images", name,
				       IMAGES_MAX_REFS);
			goto out;
		}
		if (kf_strv_append(&v, &cnt, l, ll) != 0) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
out:
	if (r) {
		kf_strv_free(v, cnt);
		return r;
	}
	*refs = v;
	*n = cnt;
	return 0;
}

int kf_artifacts_images(char ***refs, size_t *n, const char *out_dir, struct kf_err *err)
{
	char *path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	*refs = NULL;
	*n = 0;
	if (asprintf(&path, "%s/%s/%s", out_dir, KF_ARTIFACTS_SUBDIR, KF_ARTIFACT_IMAGES_NAME) < 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_fs_read(&data, &len, path, IMAGES_MAX_BYTES, err);
	if (r == KF_ENOTFOUND)
		kf_err_wrap(err, "the k3s image list is missing (run `k3sforge prep`)");
	if (r == 0)
		r = kf_artifacts_images_parse(refs, n, path, data, len, err);
	free(data);
	free(path);
	return r;
}

/* ---- verified.json ---- */

static long long mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static json_t *manifest_files(json_t *m)
{
	json_t *f = json_object_get(m, "files");

	if (!json_is_object(f)) {
		f = json_object();
		json_object_set_new(m, "files", f);
	}
	return f;
}

static json_t *manifest_load(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	json_t *m = NULL;
	struct kf_err e;

	kf_err_clear(&e);
	if (kf_fs_read(&data, &len, path, MANIFEST_MAX_BYTES, &e) == 0) {
		m = json_loadb(data, len, 0, NULL);
		if (!json_is_object(m) || json_integer_value(json_object_get(m, "version")) != 1) {
			kf_warn("%s is not a valid artifact manifest; re-verifying every artifact",
				path);
			json_decref(m);
			m = NULL;
		}
	}
	free(data);
	if (!m) {
		m = json_object();
		json_object_set_new(m, "version", json_integer(1));
	}
	manifest_files(m);
	return m;
}

static int manifest_save(struct ctx *c, struct kf_err *err)
{
	char *s = json_dumps(c->manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
	int r;

	if (!s)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_fs_write_atomic(c->manifest_path, s, strlen(s), 0644, err);
	free(s);
	return r;
}

static int manifest_record(struct ctx *c, const char *name, const char *path, const char *sha,
			   const char *source, struct kf_err *err)
{
	struct stat st;
	json_t *e;

	if (stat(path, &st) != 0)
		return kf_err_set(err, KF_EIO, "%s: %s", path, strerror(errno));
	e = json_pack("{s:s, s:I, s:I, s:s}", "sha256", sha, "size", (json_int_t)st.st_size,
		      "mtime_ns", (json_int_t)mtime_ns(&st), "source", source);
	if (!e)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	json_object_set_new(manifest_files(c->manifest), name, e);
	return manifest_save(c, err);
}

/* The manifest's digest for a file that is still exactly as recorded (size and mtime), or NULL.
 * *source receives the recorded source (borrowed). */
static const char *manifest_match(json_t *m, const char *name, const char *path,
				  const char **source)
{
	json_t *e = json_object_get(manifest_files(m), name);
	const char *sha;
	struct stat st;

	*source = NULL;
	if (!json_is_object(e) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	sha = json_string_value(json_object_get(e, "sha256"));
	if (!sha || !kf_sha256_valid_hex(sha) ||
	    json_integer_value(json_object_get(e, "size")) != (json_int_t)st.st_size ||
	    json_integer_value(json_object_get(e, "mtime_ns")) != (json_int_t)mtime_ns(&st))
		return NULL;
	*source = json_string_value(json_object_get(e, "source"));
	return sha;
}

/* ---- obtaining one artifact ---- */

static int fill_item(struct ctx *c, const struct want *w, const char *path, const char *sha,
		     bool fetched, struct kf_err *err)
{
	struct kf_artifact *a = &c->rep->items[w->kind];
	struct stat st;

	a->wanted = true;
	free(a->name);
	free(a->path);
	free(a->source);
	a->name = strdup(w->name);
	a->path = strdup(path);
	a->source = strdup(w->source);
	if (!a->name || !a->path || !a->source)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	memcpy(a->sha256, sha, KF_SHA256_HEX_LEN + 1);
	a->size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	a->fetched = fetched;
	if (fetched)
		c->rep->n_fetched++;
	else
		c->rep->n_reused++;
	{
		json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:b}", "name", a->name, "sha256",
				       a->sha256, "size", (json_int_t)a->size, "source", a->source,
				       "fetched", fetched);
		char *txt = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (txt)
			kf_log_event("artifact", txt);
		free(txt);
		json_decref(ev);
	}
	return 0;
}

/* Digest that decides whether an existing copy may be kept: the verified digest when known;
 * for unpinned files from an offline folder, the folder file's own digest (to notice changes). */
static int sync_digest(const struct want *w, char out[KF_SHA256_HEX_LEN + 1], bool *have,
		       struct kf_err *err)
{
	struct stat st;

	*have = false;
	if (w->expected) {
		snprintf(out, KF_SHA256_HEX_LEN + 1, "%s", w->expected);
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		*have = true;
		return 0;
	}
	if (w->local && stat(w->source, &st) == 0 && st.st_size <= SYNC_HASH_MAX) {
		int r = kf_sha256_file(w->source, out, err);
		if (r)
			return r;
		*have = true;
	}
	return 0;
}

static int obtain(struct ctx *c, const struct want *w, char sha_out[KF_SHA256_HEX_LEN + 1],
		  struct kf_err *err)
{
	const struct kf_artifacts_opts *o = c->opts;
	char *path = kf_path_join(c->rep->dir, w->name);
	char want_sha[KF_SHA256_HEX_LEN + 1], cur[KF_SHA256_HEX_LEN + 1];
	const char *rec_sha, *rec_src;
	bool have_want = false;
	struct stat st;
	int r;

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = sync_digest(w, want_sha, &have_want, err)) != 0)
		goto out;

	/* 1. Recorded and unchanged: no hashing, no network. */
	rec_sha = o->force ? NULL : manifest_match(c->manifest, w->name, path, &rec_src);
	if (rec_sha && (have_want ? strcmp(rec_sha, want_sha) == 0
				  : rec_src && strcmp(rec_src, w->source) == 0)) {
		memcpy(sha_out, rec_sha, KF_SHA256_HEX_LEN + 1);
		if (chmod(path, w->mode) != 0) {
			r = kf_err_set(err, KF_EIO, "%s: chmod: %s", path, strerror(errno));
			goto out;
		}
		kf_debug("artifact %s already verified (%s)", w->name, sha_out);
		r = fill_item(c, w, path, sha_out, false, err);
		goto out;
	}
	/* 2. Present but unrecorded or changed: re-hash when we know what it must be. */
	if (have_want && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((r = kf_sha256_file(path, cur, err)) != 0)
			goto out;
		if (strcmp(cur, want_sha) == 0) {
			if (chmod(path, w->mode) != 0) {
				r = kf_err_set(err, KF_EIO, "%s: chmod: %s", path, strerror(errno));
				goto out;
			}
			memcpy(sha_out, cur, sizeof(cur));
			if ((r = manifest_record(c, w->name, path, cur, w->source, err)) != 0)
				goto out;
			kf_info("artifact %s is present and verified", w->name);
			r = fill_item(c, w, path, cur, false, err);
			goto out;
		}
		kf_info("artifact %s does not match its expected digest; fetching it again", w->name);
	}
	/* 3. Fetch. */
	if (w->local) {
		kf_info("copying %s from %s", w->name, w->source);
		r = kf_download_copy_verified(w->source, path, w->expected, w->mode, cur, err);
	} else {
		struct kf_download_opts d = { 0 };
		struct kf_download_result res;
		kf_info("downloading %s from %s", w->name, w->source);
		d.url = w->source;
		d.dest = path;
		d.expected_sha256 = w->expected;
		d.label = w->name;
		d.mode = w->mode;
		d.stall_timeout_s = c->cfg->timeouts.download_s;
		d.max_attempts = o->max_attempts;
		d.retry_base_ms = o->retry_base_ms;
		d.ca_file = o->ca_file;
		d.proxy = o->proxy;
		d.no_progress = o->no_progress;
		r = kf_download_file(&d, &res, err);
		if (r == 0)
			memcpy(cur, res.sha256, sizeof(cur));
	}
	if (r)
		goto out;
	memcpy(sha_out, cur, sizeof(cur));
	if ((r = manifest_record(c, w->name, path, cur, w->source, err)) != 0)
		goto out;
	kf_ok("%s %s (sha256 %s)", w->expected ? "verified" : "fetched", w->name, cur);
	r = fill_item(c, w, path, cur, true, err);
out:
	free(path);
	return r;
}

/* ---- the whole set ---- */

static char *local_source(const char *dir, const char *name, struct kf_err *err)
{
	char *p = kf_path_join(dir, name);

	if (!p) {
		kf_err_set(err, KF_ENOMEM, "out of memory");
		return NULL;
	}
	if (!kf_fs_exists(p)) {
		kf_err_set(err, KF_ENOTFOUND, "--artifacts-from %s has no %s; put the k3s release "
			   "assets there (%s, %s, %s, %s) plus %s", dir, name, KF_ARTIFACT_SUMS_NAME,
			   KF_ARTIFACT_K3S_NAME, KF_ARTIFACT_AIRGAP_NAME, KF_ARTIFACT_IMAGES_NAME,
			   KF_ARTIFACT_INSTALL_NAME);
		free(p);
		return NULL;
	}
	return p;
}

/* A path in the configuration is relative to the configuration file. */
static char *config_relative(const struct kf_config *cfg, const char *p)
{
	const char *slash;

	if (p[0] == '/' || !cfg->path || !(slash = strrchr(cfg->path, '/')))
		return strdup(p);
	{
		char *dir = strndup(cfg->path, (size_t)(slash - cfg->path));
		char *r = dir ? kf_path_join(dir, p) : NULL;
		free(dir);
		return r;
	}
}

/* Where an artifact comes from. Release assets and install.sh come from the offline folder when
 * one is given; the chart too when configured as a URL (a configured local path is used as is). */
static int set_source(struct want *w, const struct ctx *c, const char *url_or_path,
		      bool release_asset, struct kf_err *err)
{
	const struct kf_artifacts_opts *o = c->opts;
	bool offline = o->from_dir && (release_asset || w->kind == KF_ARTIFACT_INSTALL ||
				       is_url(url_or_path));

	if (offline) {
		w->source = local_source(o->from_dir, w->name, err);
		w->local = true;
		return w->source ? 0 : err->code;
	}
	if (release_asset) {
		w->source = kf_artifacts_asset_url(c->cfg->k3s.release_url, c->cfg->k3s.version,
						   w->name);
		w->local = false;
	} else if (is_url(url_or_path)) {
		w->source = strdup(url_or_path);
		w->local = false;
	} else {
		w->source = config_relative(c->cfg, url_or_path);
		w->local = true;
		if (w->source && !kf_fs_exists(w->source)) {
			kf_err_set(err, KF_ENOTFOUND, "%s does not exist (set by the configuration)",
				   w->source);
			free(w->source);
			w->source = NULL;
			return KF_ENOTFOUND;
		}
	}
	return w->source ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

static void unpinned_warning(const char *name, const char *sha, const char *key)
{
	kf_warn("%s is not pinned: its sha256 is %s; pin it by setting %s: %s in the configuration",
		name, sha, key, sha);
}

int kf_artifacts_ensure(const struct kf_config *cfg, const char *out_dir,
			const struct kf_artifacts_opts *opts, struct kf_artifacts_report *rep,
			struct kf_err *err)
{
	static const struct kf_artifacts_opts no_opts;
	static const enum kf_artifact_kind assets[] = { KF_ARTIFACT_K3S, KF_ARTIFACT_AIRGAP,
							KF_ARTIFACT_IMAGES };
	static const char *const asset_names[] = { KF_ARTIFACT_K3S_NAME, KF_ARTIFACT_AIRGAP_NAME,
						   KF_ARTIFACT_IMAGES_NAME };
	struct kf_err local;
	struct ctx c = { 0 };
	struct want w = { 0 };
	struct kf_sumfile *sums = NULL;
	char sha[KF_SHA256_HEX_LEN + 1], *chart_name = NULL, *data = NULL;
	const char *ver = cfg->k3s.version;
	size_t len = 0;
	int r;

	if (!err)
		err = &local;
	memset(rep, 0, sizeof(*rep));
	c.cfg = cfg;
	c.opts = opts ? opts : &no_opts;
	c.rep = rep;
	if (!ver || !*ver || !cfg->k3s.release_url || !*cfg->k3s.release_url)
		return kf_err_set(err, KF_ECONFIG, "k3s.version and k3s.release_url must be set");
	if (c.opts->from_dir && !kf_fs_is_dir(c.opts->from_dir))
		return kf_err_set(err, KF_ENOTFOUND, "--artifacts-from %s is not a directory",
				  c.opts->from_dir);
	if (cfg->k3s.install_script_sha256 && !kf_sha256_valid_hex(cfg->k3s.install_script_sha256))
		return kf_err_set(err, KF_ECONFIG, "k3s.install_script_sha256 is not 64 hex digits");
	if (cfg->addons.kubesphere && cfg->addons.kubesphere_chart_sha256 &&
	    !kf_sha256_valid_hex(cfg->addons.kubesphere_chart_sha256))
		return kf_err_set(err, KF_ECONFIG, "addons.kubesphere_chart_sha256 is not 64 hex "
				  "digits");
	rep->dir = kf_path_join(out_dir, KF_ARTIFACTS_SUBDIR);
	c.manifest_path = rep->dir ? kf_path_join(rep->dir, KF_ARTIFACTS_MANIFEST) : NULL;
	if (!c.manifest_path) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = kf_fs_mkdirs(rep->dir, 0755, err)) != 0)
		goto out;
	c.manifest = manifest_load(c.manifest_path);

	/* The sum file first: it decides what every release asset must hash to. */
	w.kind = KF_ARTIFACT_SUMS;
	w.name = KF_ARTIFACT_SUMS_NAME;
	w.mode = 0644;
	if ((r = set_source(&w, &c, NULL, true, err)) != 0)
		goto out;
	if ((r = obtain(&c, &w, sha, err)) != 0)
		goto fetch_failed;
	free(w.source);
	w.source = NULL;
	if ((r = kf_fs_read(&data, &len, rep->items[KF_ARTIFACT_SUMS].path, SUMFILE_MAX_BYTES,
			    err)) != 0 ||
	    (r = kf_sumfile_parse(&sums, rep->items[KF_ARTIFACT_SUMS].path, data, len, err)) != 0)
		goto out;

	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		memset(&w, 0, sizeof(w));
		w.kind = assets[i];
		w.name = asset_names[i];
		w.mode = assets[i] == KF_ARTIFACT_K3S ? 0755 : 0644;
		w.expected = kf_sumfile_lookup(sums, w.name);
		if (!w.expected) {
			r = kf_err_set(err, KF_ENOTFOUND, "%s of k3s %s has no entry for %s; the "
				       "release (or --artifacts-from folder) does not match k3s.version",
				       KF_ARTIFACT_SUMS_NAME, ver, w.name);
			goto out;
		}
		if ((r = set_source(&w, &c, NULL, true, err)) != 0)
			goto out;
		if ((r = obtain(&c, &w, sha, err)) != 0)
			goto fetch_failed;
		free(w.source);
		w.source = NULL;
	}

	/* install.sh: its own URL, pinned digest when configured. */
	memset(&w, 0, sizeof(w));
	w.kind = KF_ARTIFACT_INSTALL;
	w.name = KF_ARTIFACT_INSTALL_NAME;
	w.mode = 0755;
	w.expected = cfg->k3s.install_script_sha256;
	if (!cfg->k3s.install_script_url || !*cfg->k3s.install_script_url) {
		r = kf_err_set(err, KF_ECONFIG, "k3s.install_script_url is not set");
		goto out;
	}
	if ((r = set_source(&w, &c, cfg->k3s.install_script_url, false, err)) != 0 ||
	    (r = obtain(&c, &w, sha, err)) != 0)
		goto fetch_failed;
	if (!w.expected)
		unpinned_warning(KF_ARTIFACT_INSTALL_NAME, sha, "k3s.install_script_sha256");
	free(w.source);
	w.source = NULL;

	/* The ks-core chart, with the KubeSphere add-on. */
	if (cfg->addons.kubesphere) {
		const char *chart = cfg->addons.kubesphere_chart;
		if ((r = kf_artifacts_chart_version(&rep->chart_version, chart, err)) != 0)
			goto out;
		if (asprintf(&chart_name, "ks-core-%s.tgz", rep->chart_version) < 0) {
			chart_name = NULL;
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		memset(&w, 0, sizeof(w));
		w.kind = KF_ARTIFACT_CHART;
		w.name = chart_name;
		w.mode = 0644;
		w.expected = cfg->addons.kubesphere_chart_sha256;
		if ((r = set_source(&w, &c, chart, false, err)) != 0)
			goto out;
		if ((r = obtain(&c, &w, sha, err)) != 0)
			goto fetch_failed;
		if (!w.expected)
			unpinned_warning(chart_name, sha, "addons.kubesphere_chart_sha256");
	}
	r = 0;
	goto out;
fetch_failed:
	if (w.name && r != KF_EINTR)
		kf_err_wrap(err, "artifact %s", w.name);
out:
	free(w.source);
	free(chart_name);
	free(data);
	kf_sumfile_free(sums);
	json_decref(c.manifest);
	free(c.manifest_path);
	return r;
}

void kf_artifacts_report_free(struct kf_artifacts_report *rep)
{
	if (!rep)
		return;
	for (int i = 0; i < KF_ARTIFACT_COUNT; i++) {
		free(rep->items[i].name);
		free(rep->items[i].path);
		free(rep->items[i].source);
	}
	free(rep->dir);
	free(rep->chart_version);
	memset(rep, 0, sizeof(*rep));
}

json_t *kf_artifacts_report_json(const struct kf_artifacts_report *rep)
{
	json_t *o = json_object(), *files = json_object();

	if (!o || !files) {
		json_decref(o);
		json_decref(files);
		return NULL;
	}
	for (int i = 0; i < KF_ARTIFACT_COUNT; i++) {
		const struct kf_artifact *a = &rep->items[i];
		if (!a->wanted || !a->name)
			continue;
		json_object_set_new(files, a->name,
				    json_pack("{s:s, s:s, s:I, s:s, s:b}", "path", a->path,
					      "sha256", a->sha256, "size", (json_int_t)a->size,
					      "source", a->source, "fetched", a->fetched));
	}
	json_object_set_new(o, "files", files);
	if (rep->chart_version)
		json_object_set_new(o, "chart_version", json_string(rep->chart_version));
	json_object_set_new(o, "fetched", json_integer(rep->n_fetched));
	json_object_set_new(o, "reused", json_integer(rep->n_reused));
	return o;
}

void kf_artifacts_fingerprint(const struct kf_config *cfg, const struct kf_artifacts_opts *opts,
			      struct kf_fp *fp)
{
	kf_fp_str(fp, "artifacts.k3s.version", cfg->k3s.version);
	kf_fp_str(fp, "artifacts.k3s.release_url", cfg->k3s.release_url);
	kf_fp_str(fp, "artifacts.k3s.install_script_url", cfg->k3s.install_script_url);
	kf_fp_str(fp, "artifacts.k3s.install_script_sha256", cfg->k3s.install_script_sha256);
	kf_fp_int(fp, "artifacts.kubesphere", cfg->addons.kubesphere);
	if (cfg->addons.kubesphere) {
		kf_fp_str(fp, "artifacts.kubesphere_chart", cfg->addons.kubesphere_chart);
		kf_fp_str(fp, "artifacts.kubesphere_chart_sha256",
			  cfg->addons.kubesphere_chart_sha256);
	}
	kf_fp_str(fp, "artifacts.from_dir", opts ? opts->from_dir : NULL);
}

int kf_artifacts_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	const char *names[KF_ARTIFACT_COUNT] = { KF_ARTIFACT_SUMS_NAME, KF_ARTIFACT_K3S_NAME,
						 KF_ARTIFACT_AIRGAP_NAME, KF_ARTIFACT_IMAGES_NAME,
						 KF_ARTIFACT_INSTALL_NAME, NULL };
	char *dir = kf_path_join(out_dir, KF_ARTIFACTS_SUBDIR), *mpath = NULL, *ver = NULL;
	char *chart_name = NULL;
	json_t *m = NULL;
	int r = 0;

	if (!dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (cfg->addons.kubesphere) {
		if ((r = kf_artifacts_chart_version(&ver, cfg->addons.kubesphere_chart, err)) != 0)
			goto out;
		if (asprintf(&chart_name, "ks-core-%s.tgz", ver) < 0) {
			chart_name = NULL;
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		names[KF_ARTIFACT_CHART] = chart_name;
	}
	mpath = kf_path_join(dir, KF_ARTIFACTS_MANIFEST);
	if (!mpath) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (!kf_fs_exists(mpath)) {
		r = kf_err_set(err, KF_ENOTFOUND, "%s is missing; run `k3sforge prep`", mpath);
		goto out;
	}
	m = manifest_load(mpath);
	for (int i = 0; i < KF_ARTIFACT_COUNT; i++) {
		const char *src, *sha;
		char *p;
		if (!names[i])
			continue;
		p = kf_path_join(dir, names[i]);
		if (!p) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		sha = manifest_match(m, names[i], p, &src);
		if (!sha) {
			r = kf_err_set(err, KF_ESTATE, "%s is missing or changed since it was verified; "
				       "run `k3sforge prep` again", p);
		} else {
			/* Damaged in place with size and mtime kept (a crash zero-fills a file): only
			 * its digest tells. */
			char cur[KF_SHA256_HEX_LEN + 1];
			if ((r = kf_sha256_file(p, cur, err)) == 0 && strcmp(cur, sha) != 0)
				r = kf_err_set(err, KF_EDIGEST, "%s is damaged: its sha256 is %s, not the "
					       "%s it was verified with; `k3sforge prep` fetches it "
					       "again", p, cur, sha);
		}
		free(p);
		if (r)
			goto out;
	}
out:
	json_decref(m);
	free(mpath);
	free(chart_name);
	free(ver);
	free(dir);
	return r;
}
