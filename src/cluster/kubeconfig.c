/* The cluster's kubeconfig: rewrite k3s.yaml, merge it into a user's kubeconfig as parsed YAML,
 * and prove it against the API server with libcurl. */
#include "k3sforge/kubeconfig.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>

#include "k3sforge/http.h"
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"

#define KUBECONFIG_MAX_BYTES (4u * 1024 * 1024)

static const char *const sections[] = { "clusters", "users", "contexts" };

/* The single entry of a section of k3s.yaml. */
static struct kf_ynode *only_entry(struct kf_ynode *kc, const char *section, const char *what,
				   struct kf_err *err)
{
	struct kf_ynode *seq = kf_ymap_get(kc, section);

	if (!seq || seq->type != KF_Y_SEQ || seq->n != 1 || seq->items[0]->type != KF_Y_MAP) {
		kf_err_set(err, KF_EPARSE, "%s: expected exactly one entry in '%s' (%s), as k3s "
			   "writes it", KF_K3S_KUBECONFIG_PATH, section, what);
		return NULL;
	}
	return seq->items[0];
}

int kf_kubeconfig_rewrite(struct kf_ynode **out, const char *k3s_yaml, size_t len,
			  const char *name, const char *server_url, struct kf_err *err)
{
	struct kf_ynode *kc = NULL, *cl, *us, *cx, *cluster, *context, *user;
	int r;

	*out = NULL;
	if ((r = kf_yaml_parse(&kc, KF_K3S_KUBECONFIG_PATH, k3s_yaml, len, err)) != 0)
		return r;
	if (kc->type != KF_Y_MAP) {
		r = kf_err_set(err, KF_EPARSE, "%s: not a kubeconfig (top level is not a mapping)",
			       KF_K3S_KUBECONFIG_PATH);
		goto out;
	}
	if (!(cl = only_entry(kc, "clusters", "cluster", err)) ||
	    !(us = only_entry(kc, "users", "user", err)) ||
	    !(cx = only_entry(kc, "contexts", "context", err))) {
		r = err->code;
		goto out;
	}
	cluster = kf_ymap_get(cl, "cluster");
	context = kf_ymap_get(cx, "context");
	user = kf_ymap_get(us, "user");
	if (!cluster || cluster->type != KF_Y_MAP || !context || context->type != KF_Y_MAP ||
	    !user || user->type != KF_Y_MAP) {
		r = kf_err_set(err, KF_EPARSE, "%s: cluster, context or user entry is malformed",
			       KF_K3S_KUBECONFIG_PATH);
		goto out;
	}
	if ((r = kf_ymap_set_str(cluster, "server", server_url)) != 0 ||
	    (r = kf_ymap_set_str(cl, "name", name)) != 0 ||
	    (r = kf_ymap_set_str(us, "name", name)) != 0 ||
	    (r = kf_ymap_set_str(cx, "name", name)) != 0 ||
	    (r = kf_ymap_set_str(context, "cluster", name)) != 0 ||
	    (r = kf_ymap_set_str(context, "user", name)) != 0 ||
	    (r = kf_ymap_set_str(kc, "current-context", name)) != 0) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	{
		const char *key = kf_ymap_str(user, "client-key-data");
		if (key)
			kf_log_add_secret(key);
	}
	*out = kc;
	kc = NULL;
	r = 0;
out:
	kf_ynode_free(kc);
	return r;
}

char *kf_kubeconfig_text(const struct kf_ynode *kc, struct kf_err *err)
{
	struct kf_buf b;

	kf_buf_init(&b, KUBECONFIG_MAX_BYTES);
	if (kf_yaml_emit(kc, &b, err) != 0) {
		kf_buf_free_secret(&b);
		return NULL;
	}
	return kf_buf_detach(&b);
}

static struct kf_ynode *entry_named(struct kf_ynode *seq, const char *name, size_t *idx)
{
	for (size_t i = 0; seq && i < seq->n; i++) {
		const char *n = kf_ymap_str(seq->items[i], "name");
		if (n && strcmp(n, name) == 0) {
			if (idx)
				*idx = i;
			return seq->items[i];
		}
	}
	return NULL;
}

/* Makes sure key holds a sequence (k3s and kubectl write `null` or omit empty lists). */
static struct kf_ynode *ensure_seq(struct kf_ynode *map, const char *key)
{
	struct kf_ynode *v = kf_ymap_get(map, key);

	if (v && v->type == KF_Y_SEQ)
		return v;
	if (v && !(v->type == KF_Y_SCALAR && (v->value[0] == '\0' || strcmp(v->value, "null") == 0 ||
					       strcmp(v->value, "~") == 0)))
		return NULL;
	if (kf_ymap_set(map, key, kf_yseq_new()) != 0)
		return NULL;
	return kf_ymap_get(map, key);
}

static char *backup_name(const char *path)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	size_t n = strlen(path) + 48;
	char *b = malloc(n);

	if (!b)
		return NULL;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(b, n, "%s.bak-%s", path, stamp);
	return b;
}

static char *parent_dir(const char *path)
{
	char *d = strdup(path);
	char *slash = d ? strrchr(d, '/') : NULL;

	if (!d)
		return NULL;
	if (!slash) {
		strcpy(d, ".");
	} else if (slash == d) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	return d;
}

/* The symlink hops followed before giving up (the kernel's own limit, MAXSYMLINKS, is 40). */
#define KUBECONFIG_MAX_LINKS 40

int kf_kubeconfig_write_target(char **out, const char *path, struct kf_err *err)
{
	char *cur = strdup(path), link[PATH_MAX];
	struct stat st;
	int r;

	*out = NULL;
	if (!cur)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (int hop = 0; hop <= KUBECONFIG_MAX_LINKS; hop++) {
		ssize_t n;
		char *next, *dir;

		if (lstat(cur, &st) != 0) {
			if (errno == ENOENT) /* the end of the chain: created there */
				break;
			r = kf_err_set(err, KF_EIO, "%s: %s", cur, strerror(errno));
			goto fail;
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (hop == KUBECONFIG_MAX_LINKS) {
			r = kf_err_set(err, KF_EFAIL, "%s: more than %d symbolic links to follow (a "
				       "loop?); point it at a file", path, KUBECONFIG_MAX_LINKS);
			goto fail;
		}
		n = readlink(cur, link, sizeof(link) - 1);
		if (n < 0 || n == (ssize_t)sizeof(link) - 1) {
			r = kf_err_set(err, KF_EIO, "%s: cannot read the symbolic link: %s", cur,
				       n < 0 ? strerror(errno) : "target too long");
			goto fail;
		}
		link[n] = '\0';
		if (link[0] == '/') {
			next = strdup(link);
		} else {
			dir = parent_dir(cur);
			next = dir ? kf_path_join(dir, link) : NULL;
			free(dir);
		}
		if (!next) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto fail;
		}
		free(cur);
		cur = next;
	}
	*out = cur;
	return 0;
fail:
	free(cur);
	return r;
}

/* Equal as kubeconfig data: mappings compare by key, not by order (kubectl rewrites the file
 * with its keys sorted, so `kubectl config set-context` alone must not make our entry look
 * different); sequences and scalars as kf_ynode_equal. */
static bool same_data(const struct kf_ynode *a, const struct kf_ynode *b)
{
	if (!a || !b || a->type != KF_Y_MAP || b->type != KF_Y_MAP) {
		if (a && b && a->type == KF_Y_SEQ && b->type == KF_Y_SEQ) {
			if (a->n != b->n)
				return false;
			for (size_t i = 0; i < a->n; i++)
				if (!same_data(a->items[i], b->items[i]))
					return false;
			return true;
		}
		return kf_ynode_equal(a, b);
	}
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const char *k = a->keys[i]->type == KF_Y_SCALAR ? a->keys[i]->value : NULL;
		if (!k || !same_data(a->items[i], kf_ymap_get(b, k)))
			return false;
	}
	return true;
}

/* A namespace the user set on an existing entry of the lab's context survives the merge: k3s
 * never sets one, so its absence from ours is no reason to drop theirs (or to call the entries
 * different). Returns the entry to merge (caller frees). */
static struct kf_ynode *keep_user_namespace(const struct kf_ynode *ours, const struct kf_ynode *have)
{
	struct kf_ynode *cand = kf_ynode_clone(ours);
	struct kf_ynode *cctx = cand ? kf_ymap_get(cand, "context") : NULL;
	struct kf_ynode *hctx = have ? kf_ymap_get(have, "context") : NULL;
	const char *ns = hctx && hctx->type == KF_Y_MAP ? kf_ymap_str(hctx, "namespace") : NULL;

	if (cand && cctx && cctx->type == KF_Y_MAP && ns && *ns && !kf_ymap_get(cctx, "namespace") &&
	    kf_ymap_set_str(cctx, "namespace", ns) != 0) {
		kf_ynode_free(cand);
		return NULL;
	}
	return cand;
}

int kf_kubeconfig_merge_file(const char *path, const struct kf_ynode *src,
			     const struct kf_kubeconfig_merge_opts *opts, bool *changed,
			     char **backup, struct kf_err *err)
{
	struct kf_ynode *dst = NULL;
	char *data = NULL, *text = NULL, *dir = NULL, *target = NULL;
	size_t len = 0;
	bool existed = false, dirty = false;
	const char *name = kf_ymap_str(src, "current-context");
	int r;

	*changed = false;
	if (backup)
		*backup = NULL;
	if (!name)
		return kf_err_set(err, KF_EFAIL, "kubeconfig to merge has no current-context");
	/* Through a symlinked kubeconfig (WSL's ~/.kube/config -> /mnt/c/Users/.../config) to the
	 * file itself: the backup and the temp file sit beside it and the rename replaces it, so the
	 * link stays a link and its target is what kubectl reads afterwards. */
	if ((r = kf_kubeconfig_write_target(&target, path, err)) != 0)
		return r;
	path = target;
	r = kf_fs_read(&data, &len, path, KUBECONFIG_MAX_BYTES, err);
	if (r == KF_ENOTFOUND) {
		kf_err_clear(err);
		r = kf_yaml_parse(&dst, path, "", 0, err);
	} else if (r == 0) {
		existed = true;
		r = kf_yaml_parse(&dst, path, data, len, err);
		if (r)
			kf_err_wrap(err, "cannot merge into %s (fix or move the file, or use --no-merge)",
				    path);
	}
	if (r)
		goto out;
	if (dst->type != KF_Y_MAP) {
		r = kf_err_set(err, KF_EPARSE, "%s: not a kubeconfig (top level is not a mapping)", path);
		goto out;
	}
	if (!kf_ymap_get(dst, "apiVersion"))
		dirty |= kf_ymap_set_str(dst, "apiVersion", "v1") == 0;
	if (!kf_ymap_get(dst, "kind"))
		dirty |= kf_ymap_set_str(dst, "kind", "Config") == 0;

	/* First pass: find conflicts before changing anything. */
	for (size_t s = 0; s < 3; s++) {
		struct kf_ynode *dseq = ensure_seq(dst, sections[s]);
		struct kf_ynode *sseq = kf_ymap_get(src, sections[s]);
		if (!dseq) {
			r = kf_err_set(err, KF_EPARSE, "%s: '%s' is not a list", path, sections[s]);
			goto out;
		}
		for (size_t i = 0; sseq && i < sseq->n; i++) {
			const char *n = kf_ymap_str(sseq->items[i], "name");
			struct kf_ynode *have = n ? entry_named(dseq, n, NULL) : NULL;
			struct kf_ynode *cand = have ? keep_user_namespace(sseq->items[i], have) : NULL;
			bool differs = have && (!cand || !same_data(have, cand));

			kf_ynode_free(cand);
			if (differs && !opts->overwrite) {
				r = kf_err_set(err, KF_EEXIST,
					       "%s already has a different %.*s entry named '%s' (an "
					       "older lab?); run `k3sforge kubeconfig --overwrite` to "
					       "replace it (`up` then goes on from there), or "
					       "`k3sforge kubeconfig --no-merge` to leave the file alone",
					       path, (int)strlen(sections[s]) - 1, sections[s], n);
				goto out;
			}
		}
	}
	for (size_t s = 0; s < 3; s++) {
		struct kf_ynode *dseq = kf_ymap_get(dst, sections[s]);
		struct kf_ynode *sseq = kf_ymap_get(src, sections[s]);
		for (size_t i = 0; sseq && i < sseq->n; i++) {
			const char *n = kf_ymap_str(sseq->items[i], "name");
			size_t idx = 0;
			struct kf_ynode *have = n ? entry_named(dseq, n, &idx) : NULL;
			struct kf_ynode *cand = keep_user_namespace(sseq->items[i], have);

			if (!cand) {
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
			if (have && same_data(have, cand)) {
				kf_ynode_free(cand);
				continue;
			}
			if (have) {
				kf_ynode_free(dseq->items[idx]);
				dseq->items[idx] = cand;
			} else if (kf_yseq_append(dseq, cand) != 0) { /* frees cand */
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
			dirty = true;
		}
	}
	{
		const char *cur = kf_ymap_str(dst, "current-context");
		if ((opts->switch_context || !cur || !*cur) && (!cur || strcmp(cur, name) != 0)) {
			kf_ymap_set_str(dst, "current-context", name);
			dirty = true;
		}
	}
	if (!dirty) {
		r = 0;
		goto out;
	}
	if (!(text = kf_kubeconfig_text(dst, err))) {
		r = err->code;
		goto out;
	}
	dir = parent_dir(path);
	if (dir && (r = kf_fs_mkdirs(dir, 0700, err)) != 0)
		goto out;
	if (existed && backup) {
		*backup = backup_name(path);
		if (*backup && (r = kf_fs_write_atomic(*backup, data, len, 0600, err)) != 0)
			goto out;
	}
	if ((r = kf_fs_write_atomic(path, text, strlen(text), 0600, err)) != 0)
		goto out;
	*changed = true;
out:
	if (r && backup && *backup) {
		free(*backup);
		*backup = NULL;
	}
	kf_freezero(data, len);
	kf_freezero_str(text);
	free(dir);
	free(target);
	kf_ynode_free(dst);
	return r;
}

/* base64 (kubeconfig *-data fields) to bytes; caller frees and cleanses. */
static unsigned char *b64_decode(const char *in, size_t *outlen)
{
	size_t len = strlen(in);
	unsigned char *out = malloc(len + 4);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0;

	if (!out || !ctx) {
		free(out);
		EVP_ENCODE_CTX_free(ctx);
		return NULL;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)in, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, out + n1, &n2) < 0) {
		free(out);
		EVP_ENCODE_CTX_free(ctx);
		return NULL;
	}
	EVP_ENCODE_CTX_free(ctx);
	*outlen = (size_t)(n1 + n2);
	return out;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t n = size * nmemb;

	return kf_buf_append(userdata, ptr, n) == 0 ? n : 0;
}

int kf_kubeconfig_probe(const struct kf_ynode *kc, int timeout_ms, char **version,
			struct kf_err *err)
{
	const char *ctxname = kf_ymap_str(kc, "current-context");
	struct kf_ynode *cx, *cl, *us, *context, *cluster, *user;
	const char *server, *ca64, *cert64, *key64;
	unsigned char *ca = NULL, *cert = NULL, *key = NULL;
	size_t calen = 0, certlen = 0, keylen = 0;
	struct curl_blob bca, bcert, bkey;
	struct kf_http_opts ho = { 0 };
	struct kf_http_watch w;
	struct kf_buf body;
	char url[1024], cerr[CURL_ERROR_SIZE] = "";
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	int r;

	*version = NULL;
	kf_buf_init(&body, 1024 * 1024);
	cx = ctxname ? entry_named(kf_ymap_get(kc, "contexts"), ctxname, NULL) : NULL;
	context = kf_ymap_get(cx, "context");
	cl = entry_named(kf_ymap_get(kc, "clusters"), kf_ymap_str(context, "cluster") ?
				 kf_ymap_str(context, "cluster") : "", NULL);
	us = entry_named(kf_ymap_get(kc, "users"), kf_ymap_str(context, "user") ?
				 kf_ymap_str(context, "user") : "", NULL);
	cluster = kf_ymap_get(cl, "cluster");
	user = kf_ymap_get(us, "user");
	server = kf_ymap_str(cluster, "server");
	ca64 = kf_ymap_str(cluster, "certificate-authority-data");
	cert64 = kf_ymap_str(user, "client-certificate-data");
	key64 = kf_ymap_str(user, "client-key-data");
	if (!server || !ca64 || !cert64 || !key64)
		return kf_err_set(err, KF_EPARSE, "kubeconfig context '%s' lacks a server, its CA or "
				  "the client certificate/key", ctxname ? ctxname : "(none)");
	ca = b64_decode(ca64, &calen);
	cert = b64_decode(cert64, &certlen);
	key = b64_decode(key64, &keylen);
	if (!ca || !cert || !key) {
		r = kf_err_set(err, KF_EPARSE, "kubeconfig: certificate data is not valid base64");
		goto out;
	}
	snprintf(url, sizeof(url), "%s/version", server);
	bca = (struct curl_blob){ ca, calen, CURL_BLOB_NOCOPY };
	bcert = (struct curl_blob){ cert, certlen, CURL_BLOB_NOCOPY };
	bkey = (struct curl_blob){ key, keylen, CURL_BLOB_NOCOPY };
	/* the lab's API server: only the kubeconfig's CA, direct, one overall limit */
	ho.url = url;
	ho.ca_blob = &bca;
	ho.ca_only = true;
	ho.direct = true;
	ho.connect_timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	ho.watch = &w;
	ho.errbuf = cerr;
	kf_http_watch_arm(&w, 0, (timeout_ms > 0 ? timeout_ms : 10000) / 1000.0);
	c = kf_http_easy_new(&ho);
	if (!c) {
		r = kf_err_set(err, KF_ENOMEM, "cannot create an HTTP handle");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &bcert);
	curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &bkey);
	curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	cc = curl_easy_perform(c);
	if (cc == CURLE_ABORTED_BY_CALLBACK && w.stop == KF_HTTP_INTERRUPTED) {
		r = kf_err_set(err, KF_EINTR, "GET %s: interrupted", url);
		goto out;
	}
	if (cc != CURLE_OK) {
		r = kf_err_set(err, cc == CURLE_OPERATION_TIMEDOUT ? KF_ETIMEOUT :
				    (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
				     cc == CURLE_SSL_CONNECT_ERROR) ? KF_ETLS : KF_ENET,
			       "GET %s with the kubeconfig's CA and client certificate failed: %s",
			       url, cerr[0] ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		r = kf_err_set(err, KF_EHTTP, "GET %s answered HTTP %ld (the client certificate was %s)",
			       url, status, status == 401 || status == 403 ? "refused" : "accepted");
		goto out;
	}
	{
		json_error_t jerr;
		json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
		const char *v = json_string_value(json_object_get(j, "gitVersion"));
		if (!v) {
			json_decref(j);
			r = kf_err_set(err, KF_EPARSE, "GET %s: no gitVersion in the answer", url);
			goto out;
		}
		*version = strdup(v);
		json_decref(j);
	}
	r = 0;
out:
	if (c)
		curl_easy_cleanup(c);
	if (key)
		OPENSSL_cleanse(key, keylen);
	free(ca);
	free(cert);
	free(key);
	kf_buf_free(&body);
	return r;
}

char *kf_kubeconfig_default_path(void)
{
	const char *kc = getenv("KUBECONFIG");
	const char *home = getenv("HOME");

	if (kc && *kc) {
		const char *colon = strchr(kc, ':');
		return colon ? strndup(kc, (size_t)(colon - kc)) : strdup(kc);
	}
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	{
		size_t n = strlen(home) + 16;
		char *p = malloc(n);
		if (p)
			snprintf(p, n, "%s/.kube/config", home);
		return p;
	}
}
