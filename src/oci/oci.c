/* OCI distribution client on libcurl: one endpoint per struct kf_oci_registry, shared by threads.
 * Requests go through request(): auth (Bearer token per scope, or basic), retries with backoff on
 * connection errors and 429/5xx honouring Retry-After, bounded response bodies. Blob bodies are
 * streamed through a bounded ring buffer (blob_reader) and hashed on the way. */
#include "k3sforge/oci.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#include "oci_internal.h"

/* ---------------------------------------------------------------- registry object */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *ud)
{
	struct kf_oci_registry *r = ud;
	(void)h;
	(void)a;
	pthread_mutex_lock(&r->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct kf_oci_registry *r = ud;
	(void)h;
	pthread_mutex_unlock(&r->share_mu[data]);
}

int kf_oci_registry_new(struct kf_oci_registry **out, const char *spec,
			const struct kf_oci_registry_opts *opts, struct kf_err *err)
{
	static const struct kf_oci_registry_opts none;
	struct kf_oci_registry *r;
	const char *scheme = "https", *name = spec;
	size_t n;

	*out = NULL;
	if (!opts)
		opts = &none;
	if (!spec || !*spec)
		return kf_err_set(err, KF_EUSAGE, "empty registry address");
	if (strncmp(spec, "http://", 7) == 0) {
		scheme = "http";
		name = spec + 7;
		if (!kf_http_host_is_loopback(name))
			return kf_err_set(err, KF_EUSAGE,
					  "registry %s: plain http is allowed only for loopback hosts "
					  "(127.0.0.0/8, localhost); use host:port for TLS", spec);
	} else if (strncmp(spec, "https://", 8) == 0) {
		name = spec + 8;
	}
	n = strlen(name);
	while (n > 0 && name[n - 1] == '/')
		n--;
	if (n == 0 || n > 255 || memchr(name, '/', n))
		return kf_err_set(err, KF_EUSAGE, "registry '%s' must be host[:port]", spec);
	if (!(r = calloc(1, sizeof(*r))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r->name = strndup(name, n);
	if (r->name) {
		const char *host = kf_oci_request_host(r->name);
		size_t bl = strlen(scheme) + strlen(host) + 4;
		if ((r->base = malloc(bl)))
			snprintf(r->base, bl, "%s://%s", scheme, host);
	}
	r->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	r->push = opts->push;
	r->max_retries = opts->max_retries > 0 ? opts->max_retries : 4;
	r->connect_timeout_s = opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 15;
	r->stall_timeout_s = opts->stall_timeout_s > 0 ? opts->stall_timeout_s : 60;
	r->chunk_size = opts->chunk_size ? opts->chunk_size : (uint64_t)512 * 1024 * 1024;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->pool_mu, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&r->share_mu[i], NULL);
	if (!r->name || !r->base || (opts->ca_file && !r->ca_file) || !(r->share = curl_share_init())) {
		kf_oci_registry_free(r);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (kf_http_can_share_tls_sessions())
		curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (opts->ca_file && !kf_fs_exists(opts->ca_file)) {
		kf_err_set(err, KF_ENOTFOUND, "registry %s: CA file %s does not exist", r->name,
			   opts->ca_file);
		kf_oci_registry_free(r);
		return KF_ENOTFOUND;
	}
	if (opts->user && opts->password) {
		r->user = strdup(opts->user);
		r->password = strdup(opts->password);
	} else if (getenv("K3SFORGE_REGISTRY_USER") && getenv("K3SFORGE_REGISTRY_PASSWORD")) {
		r->user = strdup(getenv("K3SFORGE_REGISTRY_USER"));
		r->password = strdup(getenv("K3SFORGE_REGISTRY_PASSWORD"));
	} else {
		kf_oci_load_docker_config_creds(r, opts->docker_config);
	}
	if (r->password)
		kf_log_add_secret(r->password);
	*out = r;
	return 0;
}

void kf_oci_registry_free(struct kf_oci_registry *r)
{
	struct token *t, *next;

	if (!r)
		return;
	while (r->slots) {
		struct slot *sl = r->slots;
		r->slots = sl->next;
		if (sl->reasy) {
			curl_multi_remove_handle(sl->rmulti, sl->reasy);
			curl_easy_cleanup(sl->reasy);
		}
		if (sl->rmulti)
			curl_multi_cleanup(sl->rmulti);
		if (sl->easy)
			curl_easy_cleanup(sl->easy);
		free(sl);
	}
	if (r->share)
		curl_share_cleanup(r->share);
	for (t = r->tokens; t; t = next) {
		next = t->next;
		kf_freezero_str(t->value);
		free(t->scope);
		free(t);
	}
	kf_freezero_str(r->password);
	free(r->user);
	free(r->name);
	free(r->base);
	free(r->ca_file);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->pool_mu);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&r->share_mu[i]);
	free(r);
}

const char *kf_oci_registry_name(const struct kf_oci_registry *r)
{
	return r->name;
}

uint64_t kf_oci_registry_requests(const struct kf_oci_registry *r)
{
	return atomic_load(&((struct kf_oci_registry *)r)->requests);
}

/* A free slot of the pool (made when every slot is busy); NULL when out of memory. */
struct slot *kf_oci_slot_take(struct kf_oci_registry *r)
{
	struct slot *sl;

	pthread_mutex_lock(&r->pool_mu);
	for (sl = r->slots; sl && sl->busy; sl = sl->next)
		;
	if (!sl && (sl = calloc(1, sizeof(*sl)))) {
		sl->next = r->slots;
		r->slots = sl;
	}
	if (sl)
		sl->busy = true;
	pthread_mutex_unlock(&r->pool_mu);
	return sl;
}

void kf_oci_slot_give(struct kf_oci_registry *r, struct slot *sl)
{
	if (!sl)
		return;
	pthread_mutex_lock(&r->pool_mu);
	sl->busy = false;
	pthread_mutex_unlock(&r->pool_mu);
}

/* ---------------------------------------------------------------- requests */

void kf_oci_resp_init(struct resp *rs, size_t max)
{
	memset(rs, 0, sizeof(*rs));
	kf_buf_init(&rs->body, max ? max : BODY_MAX);
	rs->content_length = -1;
}

void kf_oci_resp_free(struct resp *rs)
{
	kf_buf_free(&rs->body);
	free(rs->location);
	free(rs->content_type);
	free(rs->digest);
	free(rs->auth);
	free(rs->link);
	free(rs->chunk_min);
	memset(rs, 0, sizeof(*rs));
}

static size_t body_cb(char *p, size_t sz, size_t nm, void *ud)
{
	struct resp *rs = ud;
	if (kf_buf_append(&rs->body, p, sz * nm) != 0) {
		rs->overflow = true;
		return 0;
	}
	return sz * nm;
}

char *kf_oci_header_value(const char *line, size_t n, const char *name)
{
	size_t kl = strlen(name);
	const char *v, *e;

	if (n <= kl + 1 || strncasecmp(line, name, kl) != 0 || line[kl] != ':')
		return NULL;
	v = line + kl + 1;
	e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	return strndup(v, (size_t)(e - v));
}

/* Bounds one header line: 0 when it may be taken, else the name of the bound it breaks. */
const char *kf_oci_header_bound(size_t *total, const char *p, size_t n)
{
	*total += n;
	if (*total > HEADERS_MAX)
		return "response header";
	if (n > KF_OCI_CHALLENGE_MAX && n > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		return "WWW-Authenticate";
	if (n > KF_OCI_CHALLENGE_MAX && n > 9 && strncasecmp(p, "Location:", 9) == 0)
		return "Location";
	if (n > KF_OCI_CHALLENGE_MAX && n > 5 && strncasecmp(p, "Link:", 5) == 0)
		return "Link";
	return NULL;
}

static size_t header_cb(char *p, size_t sz, size_t nm, void *ud)
{
	struct resp *rs = ud;
	size_t n = sz * nm;
	char *v;

	if ((rs->hdr_over = kf_oci_header_bound(&rs->hdr_bytes, p, n)))
		return 0;
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		rs->hdr_bytes = n;
		/* a new response (after 100-continue or a redirect): forget earlier headers */
		free(rs->location);
		free(rs->content_type);
		free(rs->digest);
		free(rs->auth);
		free(rs->link);
		free(rs->chunk_min);
		rs->location = rs->content_type = rs->digest = rs->auth = rs->link = rs->chunk_min =
			NULL;
		rs->retry_after = 0;
		return n;
	}
#define HDR(field, name)                         \
	if ((v = kf_oci_header_value(p, n, name))) {    \
		free(rs->field);                 \
		rs->field = v;                   \
		return n;                        \
	}
	HDR(location, "Location")
	HDR(content_type, "Content-Type")
	HDR(digest, "Docker-Content-Digest")
	HDR(auth, "WWW-Authenticate")
	HDR(link, "Link")
	HDR(chunk_min, "OCI-Chunk-Min-Length")
#undef HDR
	if ((v = kf_oci_header_value(p, n, "Retry-After"))) {
		char *end;
		long s = strtol(v, &end, 10);
		rs->retry_after = (end != v && *end == '\0' && s >= 0) ? s : 1;
		free(v);
	}
	return n;
}

/* The one handle set-up (k3sforge/http.h) with this registry's trust and limits. total_s bounds
 * the whole transfer (0 = only the progress window). */
int kf_oci_setup_easy(struct kf_oci_registry *r, CURL *h, char *errbuf, struct kf_http_watch *w,
		      double total_s)
{
	struct kf_http_opts o = { 0 };

	o.ca_file = r->ca_file;
	o.direct = kf_http_url_is_loopback(r->base);  /* a proxy could never reach it */
	o.allow_http = true;      /* http only from loopback specs; redirects are checked */
	o.connect_timeout_ms = r->connect_timeout_s * 1000;
	o.watch = w;
	o.errbuf = errbuf;
	kf_http_watch_arm(w, (double)r->stall_timeout_s, total_s);
	if (kf_http_easy_setup(h, &o) != 0)
		return KF_ECONFIG;
	curl_easy_setopt(h, CURLOPT_SHARE, r->share);
	return 0;
}

/* Overall limit of a request that is not a blob transfer (manifests, tokens, HEAD, lists). */
static double small_request_limit(const struct kf_oci_registry *r)
{
	double t = (double)r->connect_timeout_s + 3.0 * (double)r->stall_timeout_s;

	return t < 30 ? 30 : t;
}

static size_t mem_read_cb(char *dst, size_t sz, size_t nm, void *ud)
{
	struct { const char *p; size_t left; } *m = ud;
	size_t n = sz * nm < m->left ? sz * nm : m->left;

	memcpy(dst, m->p, n);
	m->p += n;
	m->left -= n;
	return n;
}

int kf_oci_perform(struct kf_oci_registry *r, const struct req *q, const char *auth,
		   struct resp *rs, CURLcode *cc)
{
	struct slot *sl = kf_oci_slot_take(r);
	CURL *h;
	struct curl_slist *hl = NULL, *tmp;
	struct { const char *p; size_t left; } mem = { q->body, q->body_len };
	int rc = 0;

	if (!sl)
		return KF_ENOMEM;
	if (sl->easy) {
		curl_easy_reset(sl->easy);   /* options go; connections and sessions stay */
	} else if (!(sl->easy = curl_easy_init())) {
		kf_oci_slot_give(r, sl);
		return KF_ENOMEM;
	}
	h = sl->easy;
	atomic_fetch_add(&r->requests, 1);
	if (kf_oci_setup_easy(r, h, rs->curl_err, &rs->watch,
			      q->read_fn ? 0 : small_request_limit(r))) {
		kf_oci_slot_give(r, sl);
		return KF_ECONFIG;
	}
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
	hl = curl_slist_append(hl, "Expect:");
	for (int i = 0; hl && q->headers[i]; i++)
		if ((tmp = curl_slist_append(hl, q->headers[i])))
			hl = tmp;
	if (hl && auth && (tmp = curl_slist_append(hl, auth)))
		hl = tmp;
	if (!hl) {
		kf_oci_slot_give(r, sl);
		return KF_ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "GET") != 0) {
		if (q->read_fn) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, q->read_fn);
			curl_easy_setopt(h, CURLOPT_READDATA, q->read_ud);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->upload_size);
		} else if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "PATCH") == 0) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, mem_read_cb);
			curl_easy_setopt(h, CURLOPT_READDATA, &mem);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
		} else if (strcmp(q->method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		}
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	*cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	{
		curl_off_t cl = -1;
		if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
			rs->content_length = cl;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hl);
	kf_oci_slot_give(r, sl);
	return rc;
}

static bool curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_COULDNT_RESOLVE_HOST:
		return true;
	default:
		return false;
	}
}

int kf_oci_curl_code_err(CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return KF_ETLS;
	case CURLE_OPERATION_TIMEDOUT:
		return KF_ETIMEOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return KF_EINTR;
	default:
		return KF_ENET;
	}
}

/* Sleeps before retry `attempt` (0-based): Retry-After when given (bounded), else 200ms·2^n. */
void kf_oci_backoff(int attempt, long retry_after)
{
	long ms;

	if (retry_after > 0)
		ms = (retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after) * 1000;
	else
		ms = 200L << (attempt > 6 ? 6 : attempt);
	for (long left = ms; left > 0 && !kf_interrupted(); left -= 100)
		kf_sleep_ms(left < 100 ? left : 100);
}

/* One logical request with auth and retries. Returns 0 with rs filled whatever the HTTP status
 * (callers judge it), or a KF_E* when no answer could be had. */
int kf_oci_request(struct kf_oci_registry *r, const struct req *q, struct resp *rs,
		   struct kf_err *err)
{
	bool authed = false;
	int rc;

	for (int attempt = 0;; attempt++) {
		char *auth = kf_oci_auth_header(r, q->scope);
		CURLcode cc;

		if (kf_interrupted())
			return kf_err_set(err, KF_EINTR, "interrupted");
		kf_oci_resp_free(rs);
		kf_oci_resp_init(rs, q->body_max);
		rc = kf_oci_perform(r, q, auth, rs, &cc);
		kf_oci_free_secret(auth);
		if (rc)
			return kf_err_set(err, rc, rc == KF_ENOMEM ? "out of memory"
								   : "libcurl refused an option");
		if (cc == CURLE_WRITE_ERROR && rs->overflow)
			return kf_err_set(err, KF_ELIMIT, "%s %s: the answer is larger than %zu bytes",
					  q->method, q->url, q->body_max ? q->body_max : BODY_MAX);
		if (cc == CURLE_WRITE_ERROR && rs->hdr_over)
			return kf_err_set(err, KF_ELIMIT, "%s %s: the %s is longer than %zu bytes; "
					  "refusing the answer", q->method, q->url, rs->hdr_over,
					  strcmp(rs->hdr_over, "response header") == 0
						  ? HEADERS_MAX : (size_t)KF_OCI_CHALLENGE_MAX);
		if (cc == CURLE_ABORTED_BY_CALLBACK && rs->watch.stop == KF_HTTP_INTERRUPTED)
			return kf_err_set(err, KF_EINTR, "%s %s: interrupted", q->method, q->url);
		if (cc == CURLE_ABORTED_BY_CALLBACK && rs->watch.stop != KF_HTTP_RUNNING) {
			char why[160];
			kf_http_watch_reason(&rs->watch, why, sizeof(why));
			if (!q->no_retry && attempt < r->max_retries) {
				kf_debug("%s %s: %s; retrying", q->method, q->url, why);
				kf_oci_backoff(attempt, 0);
				continue;
			}
			return kf_err_set(err, KF_ETIMEOUT, "%s %s: %s", q->method, q->url, why);
		}
		if (cc != CURLE_OK) {
			if (curl_retryable(cc) && !q->no_retry && attempt < r->max_retries) {
				kf_debug("%s %s: %s; retrying", q->method, q->url,
					 rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(cc));
				kf_oci_backoff(attempt, 0);
				continue;
			}
			return kf_err_set(err, kf_oci_curl_code_err(cc), "%s %s: %s", q->method,
					  q->url, rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(cc));
		}
		if (rs->status == 401 && rs->auth && !authed) {
			authed = true;
			if ((rc = kf_oci_authenticate(r, rs->auth, q->scope, err)) != 0)
				return rc;
			attempt--;
			continue;
		}
		if ((rs->status == 429 || rs->status >= 500) && !q->no_retry &&
		    attempt < r->max_retries) {
			kf_debug("%s %s: HTTP %ld; retrying", q->method, q->url, rs->status);
			kf_oci_backoff(attempt, rs->retry_after);
			continue;
		}
		return 0;
	}
}

/* Short text of a registry error body ({"errors":[{"code":..,"message":..}]}) for messages. */
static void describe_status(const struct resp *rs, char *out, size_t n)
{
	json_t *root = json_loadb(kf_buf_str(&rs->body), rs->body.len, 0, NULL);
	json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);

	if (e0 && json_is_string(json_object_get(e0, "code")))
		snprintf(out, n, "HTTP %ld %s: %s", rs->status,
			 json_string_value(json_object_get(e0, "code")),
			 json_is_string(json_object_get(e0, "message"))
				 ? json_string_value(json_object_get(e0, "message"))
				 : "");
	else
		snprintf(out, n, "HTTP %ld", rs->status);
	json_decref(root);
}

int kf_oci_status_err(struct kf_oci_registry *r, const struct resp *rs, struct kf_err *err,
		      const char *what)
{
	char d[300];
	int code = rs->status == 401 || rs->status == 403 ? KF_EAUTH
		   : rs->status == 404			 ? KF_ENOTFOUND
							 : KF_EHTTP;

	describe_status(rs, d, sizeof(d));
	return kf_err_set(err, code, "%s on %s: %s", what, r->name, d);
}

char *kf_oci_mkurl(struct kf_oci_registry *r, const char *fmt, ...)
{
	struct kf_buf b = KF_BUF_INIT;
	va_list ap;

	kf_buf_init(&b, 16384);
	kf_buf_puts(&b, r->base);
	va_start(ap, fmt);
	kf_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return kf_buf_detach(&b);
}

char *kf_oci_scope_for(struct kf_oci_registry *r, const char *repo)
{
	size_t n = strlen(repo) + 32;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "repository:%s:%s", repo, r->push ? "pull,push" : "pull");
	return s;
}

/* Absolute URL of a Location header, with extra query appended (caller frees). */
char *kf_oci_location_url(struct kf_oci_registry *r, const char *loc, const char *query)
{
	struct kf_buf b = KF_BUF_INIT;

	kf_buf_init(&b, 16384);
	if (strncmp(loc, "http://", 7) != 0 && strncmp(loc, "https://", 8) != 0)
		kf_buf_puts(&b, r->base);
	kf_buf_puts(&b, loc);
	if (query) {
		kf_buf_putc(&b, strchr(loc, '?') ? '&' : '?');
		kf_buf_puts(&b, query);
	}
	return kf_buf_detach(&b);
}

int kf_oci_ping(struct kf_oci_registry *r, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = kf_oci_mkurl(r, "/v2/");
	int rc;

	kf_oci_resp_init(&rs, 0);
	if (!url) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "GET";
	q.url = url;
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status != 200)
		rc = kf_oci_status_err(r, &rs, err, "GET /v2/");
out:
	kf_oci_resp_free(&rs);
	free(url);
	return rc;
}
