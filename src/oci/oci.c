/* OCI distribution client on libcurl: one endpoint per struct kf_oci_registry, shared by threads.
 * Requests go through request(): auth (Bearer token per scope, or basic), retries with backoff on
 * connection errors and 429/5xx honouring Retry-After, bounded response bodies. Blob bodies are
 * streamed through a bounded ring buffer (blob_reader) and hashed on the way. */
#include "k3sforge/oci.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#define BODY_MAX ((size_t)1024 * 1024)     /* JSON answers other than manifests */
#define HEADERS_MAX ((size_t)256 * 1024)   /* all header lines of one response */
#define ERROR_BODY_MAX ((size_t)64 * 1024) /* error body of a blob GET read before giving up */
#define TOKEN_MAX ((size_t)64 * 1024)
#define RING_SIZE ((size_t)1024 * 1024)    /* per streamed blob */
#define RETRY_AFTER_MAX_S 60
#define CHUNK_AFTER_413 ((uint64_t)32 * 1024 * 1024)
#define LIST_PAGES_MAX 10000

static const char *const accept_manifests =
	"Accept: " KF_OCI_MT_OCI_INDEX ", " KF_OCI_MT_OCI_MANIFEST ", " KF_OCI_MT_DOCKER_LIST
	", " KF_OCI_MT_DOCKER_MANIFEST;

struct token {
	char *scope;
	char *value;
	double expires;    /* monotonic */
	struct token *next;
};

/* One thread's libcurl handles: an easy handle for requests and a multi + easy pair for blob
 * reads, each keeping its own connection cache. A slot is used by one thread at a time and
 * handed back to the registry's pool afterwards (libcurl does not support a connection cache
 * shared by concurrent threads: CURLSHOPT_SHARE, curl issue #4915). */
struct slot {
	CURL *easy;
	CURLM *rmulti;
	CURL *reasy;
	bool busy;
	struct slot *next;
};

struct kf_oci_registry {
	char *name;        /* as given, without scheme */
	char *base;        /* scheme://request-host */
	char *ca_file;
	bool push;
	char *user, *password;
	int max_retries;
	long connect_timeout_s, stall_timeout_s;
	uint64_t chunk_size;
	CURLSH *share;       /* DNS, and TLS sessions where libcurl shares them safely */
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_mu;
	struct slot *slots;
	pthread_mutex_t mu;  /* tokens, basic flag */
	struct token *tokens;
	bool use_basic;      /* the registry asked for basic auth */
	atomic_bool chunked_only;  /* the registry refused a monolithic PUT as too large (413) */
	atomic_uint_fast64_t requests;
};

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

/* base64 decode for docker config "auth" values. */
static int b64_decode(const char *in, char **out)
{
	size_t n = strlen(in);
	unsigned char *buf = malloc(n + 4);
	int len;

	if (!buf)
		return -1;
	len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (len < 0) {
		free(buf);
		return -1;
	}
	while (n > 0 && in[n - 1] == '=') {
		len--;
		n--;
	}
	buf[len] = '\0';
	*out = (char *)buf;
	return 0;
}

static void load_docker_config_creds(struct kf_oci_registry *r, const char *path)
{
	char *data = NULL, *dflt = NULL, *decoded = NULL;
	size_t len;
	json_t *root = NULL, *auths, *ent, *auth;
	struct kf_err e;
	const char *host = r->name;
	const char *keys[4];

	if (!path) {
		const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
		if (dc)
			dflt = kf_path_join(dc, "config.json");
		else if (home)
			dflt = kf_path_join(home, ".docker/config.json");
		path = dflt;
	}
	if (!path || kf_fs_read(&data, &len, path, 1024 * 1024, &e) != 0)
		goto out;
	if (!(root = json_loadb(data, len, 0, NULL)) || !(auths = json_object_get(root, "auths")))
		goto out;
	keys[0] = host;
	keys[1] = strcmp(host, "docker.io") == 0 ? "https://index.docker.io/v1/" : host;
	keys[2] = strcmp(host, "docker.io") == 0 ? "index.docker.io" : host;
	keys[3] = NULL;
	for (int i = 0; keys[i]; i++) {
		char *colon;
		if (!(ent = json_object_get(auths, keys[i])))
			continue;
		if (!(auth = json_object_get(ent, "auth")) || !json_is_string(auth))
			continue;
		if (b64_decode(json_string_value(auth), &decoded) != 0)
			continue;
		if ((colon = strchr(decoded, ':'))) {
			*colon = '\0';
			r->user = strdup(decoded);
			r->password = strdup(colon + 1);
			if (r->password)
				kf_log_add_secret(r->password);
		}
		OPENSSL_cleanse(decoded, strlen(decoded) + (colon ? strlen(colon + 1) + 1 : 0));
		free(decoded);
		decoded = NULL;
		break;
	}
out:
	if (data) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	json_decref(root);
	free(dflt);
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
		load_docker_config_creds(r, opts->docker_config);
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
		OPENSSL_cleanse(t->value, strlen(t->value));
		free(t->value);
		free(t->scope);
		free(t);
	}
	if (r->password) {
		OPENSSL_cleanse(r->password, strlen(r->password));
		free(r->password);
	}
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
static struct slot *slot_take(struct kf_oci_registry *r)
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

static void slot_give(struct kf_oci_registry *r, struct slot *sl)
{
	if (!sl)
		return;
	pthread_mutex_lock(&r->pool_mu);
	sl->busy = false;
	pthread_mutex_unlock(&r->pool_mu);
}

/* ---------------------------------------------------------------- requests */

struct resp {
	long status;
	struct kf_buf body;
	char *location, *content_type, *digest, *auth, *link, *chunk_min;
	long retry_after;
	int64_t content_length;
	bool overflow;           /* the body was larger than the bound */
	const char *hdr_over;    /* name of a header past its bound (static), or NULL */
	size_t hdr_bytes;        /* header bytes of this response */
	struct kf_http_watch watch;
	char curl_err[CURL_ERROR_SIZE];
};

struct req {
	const char *method;
	const char *url;
	const char *scope;       /* token scope(s), space separated; NULL = none */
	const char *headers[6];  /* extra header lines, NULL-terminated */
	const void *body;
	size_t body_len;
	size_t body_max;         /* response body bound; 0 = BODY_MAX */
	/* streamed upload body (PUT/PATCH of a blob); no retry once started */
	size_t (*read_fn)(char *, size_t, size_t, void *);
	void *read_ud;
	int64_t upload_size;
	bool no_retry;
};

static void resp_init(struct resp *rs, size_t max)
{
	memset(rs, 0, sizeof(*rs));
	kf_buf_init(&rs->body, max ? max : BODY_MAX);
	rs->content_length = -1;
}

static void resp_free(struct resp *rs)
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

static char *header_value(const char *line, size_t n, const char *name)
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
static const char *header_bound(size_t *total, const char *p, size_t n)
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

	if ((rs->hdr_over = header_bound(&rs->hdr_bytes, p, n)))
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
	if ((v = header_value(p, n, name))) {    \
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
	if ((v = header_value(p, n, "Retry-After"))) {
		char *end;
		long s = strtol(v, &end, 10);
		rs->retry_after = (end != v && *end == '\0' && s >= 0) ? s : 1;
		free(v);
	}
	return n;
}

/* The one handle set-up (k3sforge/http.h) with this registry's trust and limits. total_s bounds
 * the whole transfer (0 = only the progress window). */
static int setup_easy(struct kf_oci_registry *r, CURL *h, char *errbuf, struct kf_http_watch *w,
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

/* The Authorization header for a scope from the token cache or basic credentials (caller
 * frees; wiped). NULL when none. */
static char *auth_header(struct kf_oci_registry *r, const char *scope)
{
	char *out = NULL;
	double now = kf_now_mono();

	pthread_mutex_lock(&r->mu);
	for (struct token *t = r->tokens; t; t = t->next) {
		if (strcmp(t->scope, scope ? scope : "") == 0 && t->expires > now) {
			size_t n = strlen(t->value) + 32;
			if ((out = malloc(n)))
				snprintf(out, n, "Authorization: Bearer %s", t->value);
			break;
		}
	}
	if (!out && r->use_basic && r->user && r->password) {
		size_t n = strlen(r->user) + strlen(r->password) + 2;
		size_t en = 4 * ((n + 2) / 3) + 1;
		char *plain = malloc(n), *enc = malloc(en);
		if (plain && enc) {
			snprintf(plain, n, "%s:%s", r->user, r->password);
			EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)strlen(plain));
			if ((out = malloc(en + 32)))
				snprintf(out, en + 32, "Authorization: Basic %s", enc);
			OPENSSL_cleanse(plain, n);
			OPENSSL_cleanse(enc, en);
		}
		free(plain);
		free(enc);
	}
	pthread_mutex_unlock(&r->mu);
	return out;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static int url_escape_append(struct kf_buf *b, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	int r;

	if (!e)
		return KF_ENOMEM;
	r = kf_buf_puts(b, e);
	curl_free(e);
	return r;
}

static int perform(struct kf_oci_registry *r, const struct req *q, const char *auth,
		   struct resp *rs, CURLcode *cc);

/* Answers a 401: fetches a Bearer token for the scope from the challenge's realm, or switches to
 * basic credentials. */
static int authenticate(struct kf_oci_registry *r, const char *challenge, const char *scope,
			struct kf_err *err)
{
	char *tok = NULL, *basic = NULL;
	const char *realm, *service;
	struct kf_oci_challenge ch;
	struct kf_buf url = KF_BUF_INIT;
	struct resp rs;
	json_t *root = NULL, *v;
	struct req q = { 0 };
	CURLcode cc;
	long expires_in = 60;
	int rc = 0;

	resp_init(&rs, TOKEN_MAX);
	if ((rc = kf_oci_challenge_parse(challenge, &ch)) != 0) {
		rc = kf_err_set(err, rc == KF_ENOMEM ? KF_ENOMEM : KF_EAUTH,
				"registry %s: %s WWW-Authenticate challenge '%.60s'", r->name,
				rc == KF_ELIMIT ? "an oversized" : "a malformed", challenge);
		goto out;
	}
	realm = ch.realm;
	service = ch.service;
	if (ch.scheme == KF_OCI_AUTH_BASIC) {
		if (!r->user || !r->password) {
			rc = kf_err_set(err, KF_EAUTH,
					"registry %s asks for a user name and password; set "
					"K3SFORGE_REGISTRY_USER/K3SFORGE_REGISTRY_PASSWORD or log in "
					"with docker login", r->name);
			goto out;
		}
		pthread_mutex_lock(&r->mu);
		r->use_basic = true;
		pthread_mutex_unlock(&r->mu);
		goto out;
	}
	if (ch.scheme != KF_OCI_AUTH_BEARER) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: unsupported authentication scheme '%s'",
				r->name, ch.scheme_name);
		goto out;
	}
	if (!realm) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: Bearer challenge without realm", r->name);
		goto out;
	}
	if (strncasecmp(realm, "https://", 8) != 0 &&
	    !(strncasecmp(realm, "http://", 7) == 0 && kf_http_url_is_loopback(realm))) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: token realm %s is not https", r->name,
				realm);
		goto out;
	}
	kf_buf_init(&url, 8192);
	rc = kf_buf_puts(&url, realm);
	if (!rc && service) {
		rc = kf_buf_puts(&url, strchr(realm, '?') ? "&service=" : "?service=");
		if (!rc)
			rc = url_escape_append(&url, service);
	}
	if (!rc && scope) {
		/* one scope= per space-separated scope */
		char *copy = strdup(scope), *save = NULL, *s;
		for (s = copy ? strtok_r(copy, " ", &save) : NULL; s && !rc;
		     s = strtok_r(NULL, " ", &save)) {
			rc = kf_buf_puts(&url, (strchr(kf_buf_str(&url), '?')) ? "&scope=" : "?scope=");
			if (!rc)
				rc = url_escape_append(&url, s);
		}
		free(copy);
	}
	if (rc) {
		rc = kf_err_set(err, KF_ELIMIT, "registry %s: token URL too long", r->name);
		goto out;
	}
	q.method = "GET";
	q.url = kf_buf_str(&url);
	q.body_max = TOKEN_MAX;
	if (r->user && r->password) {
		size_t n = strlen(r->user) + strlen(r->password) + 2, en = 4 * ((n + 2) / 3) + 1;
		char *plain = malloc(n), *enc = malloc(en);
		if (plain && enc) {
			snprintf(plain, n, "%s:%s", r->user, r->password);
			EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)strlen(plain));
			if ((basic = malloc(en + 32)))
				snprintf(basic, en + 32, "Authorization: Basic %s", enc);
			OPENSSL_cleanse(plain, n);
			OPENSSL_cleanse(enc, en);
		}
		free(plain);
		free(enc);
	}
	if ((rc = perform(r, &q, basic, &rs, &cc)) != 0 || cc != CURLE_OK) {
		char why[160];
		if (!rc && cc == CURLE_ABORTED_BY_CALLBACK && rs.watch.stop != KF_HTTP_RUNNING)
			rc = kf_err_set(err, rs.watch.stop == KF_HTTP_INTERRUPTED ? KF_EINTR
										  : KF_ETIMEOUT,
					"token request to %s: %s", realm,
					kf_http_watch_reason(&rs.watch, why, sizeof(why)));
		else if (!rc && cc == CURLE_WRITE_ERROR && rs.hdr_over)
			rc = kf_err_set(err, KF_ELIMIT, "token request to %s: the %s is too long",
					realm, rs.hdr_over);
		else
			rc = kf_err_set(err, KF_ENET, "token request to %s failed: %s", realm,
					rs.curl_err[0] ? rs.curl_err : curl_easy_strerror(cc));
		goto out;
	}
	if (rs.status != 200) {
		rc = kf_err_set(err, rs.status == 401 || rs.status == 403 ? KF_EAUTH : KF_EHTTP,
				"token request to %s: HTTP %ld (check the registry credentials)", realm,
				rs.status);
		goto out;
	}
	if (!(root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL))) {
		rc = kf_err_set(err, KF_EPARSE, "token answer from %s is not JSON", realm);
		goto out;
	}
	v = json_object_get(root, "token");
	if (!json_is_string(v))
		v = json_object_get(root, "access_token");
	if (!json_is_string(v) || !json_string_length(v)) {
		rc = kf_err_set(err, KF_EAUTH, "token answer from %s has no token", realm);
		goto out;
	}
	tok = strdup(json_string_value(v));
	if (json_is_integer(json_object_get(root, "expires_in")))
		expires_in = (long)json_integer_value(json_object_get(root, "expires_in"));
	if (expires_in < 10)
		expires_in = 10;
	if (!tok) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	kf_log_add_secret(tok);
	{
		struct token *t = calloc(1, sizeof(*t));
		if (!t || !(t->scope = strdup(scope ? scope : ""))) {
			free(t);
			rc = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		t->value = tok;
		tok = NULL;
		t->expires = kf_now_mono() + (double)expires_in - 5;
		pthread_mutex_lock(&r->mu);
		t->next = r->tokens;
		r->tokens = t;
		pthread_mutex_unlock(&r->mu);
	}
out:
	if (root) {
		/* the JSON held the token */
		json_decref(root);
	}
	if (rs.body.data)
		OPENSSL_cleanse(rs.body.data, rs.body.len);
	resp_free(&rs);
	kf_buf_free(&url);
	free_secret(tok);
	free_secret(basic);
	kf_oci_challenge_free(&ch);
	return rc;
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

static int perform(struct kf_oci_registry *r, const struct req *q, const char *auth,
		   struct resp *rs, CURLcode *cc)
{
	struct slot *sl = slot_take(r);
	CURL *h;
	struct curl_slist *hl = NULL, *tmp;
	struct { const char *p; size_t left; } mem = { q->body, q->body_len };
	int rc = 0;

	if (!sl)
		return KF_ENOMEM;
	if (sl->easy) {
		curl_easy_reset(sl->easy);   /* options go; connections and sessions stay */
	} else if (!(sl->easy = curl_easy_init())) {
		slot_give(r, sl);
		return KF_ENOMEM;
	}
	h = sl->easy;
	atomic_fetch_add(&r->requests, 1);
	if (setup_easy(r, h, rs->curl_err, &rs->watch, q->read_fn ? 0 : small_request_limit(r))) {
		slot_give(r, sl);
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
		slot_give(r, sl);
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
	slot_give(r, sl);
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

static int curl_code_err(CURLcode cc)
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
static void backoff(int attempt, long retry_after)
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
static int request(struct kf_oci_registry *r, const struct req *q, struct resp *rs,
		   struct kf_err *err)
{
	bool authed = false;
	int rc;

	for (int attempt = 0;; attempt++) {
		char *auth = auth_header(r, q->scope);
		CURLcode cc;

		if (kf_interrupted())
			return kf_err_set(err, KF_EINTR, "interrupted");
		resp_free(rs);
		resp_init(rs, q->body_max);
		rc = perform(r, q, auth, rs, &cc);
		free_secret(auth);
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
				backoff(attempt, 0);
				continue;
			}
			return kf_err_set(err, KF_ETIMEOUT, "%s %s: %s", q->method, q->url, why);
		}
		if (cc != CURLE_OK) {
			if (curl_retryable(cc) && !q->no_retry && attempt < r->max_retries) {
				kf_debug("%s %s: %s; retrying", q->method, q->url,
					 rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(cc));
				backoff(attempt, 0);
				continue;
			}
			return kf_err_set(err, curl_code_err(cc), "%s %s: %s", q->method, q->url,
					  rs->curl_err[0] ? rs->curl_err : curl_easy_strerror(cc));
		}
		if (rs->status == 401 && rs->auth && !authed) {
			authed = true;
			if ((rc = authenticate(r, rs->auth, q->scope, err)) != 0)
				return rc;
			attempt--;
			continue;
		}
		if ((rs->status == 429 || rs->status >= 500) && !q->no_retry &&
		    attempt < r->max_retries) {
			kf_debug("%s %s: HTTP %ld; retrying", q->method, q->url, rs->status);
			backoff(attempt, rs->retry_after);
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

static int status_err(struct kf_oci_registry *r, const struct resp *rs, struct kf_err *err,
		      const char *what)
{
	char d[300];
	int code = rs->status == 401 || rs->status == 403 ? KF_EAUTH
		   : rs->status == 404			 ? KF_ENOTFOUND
							 : KF_EHTTP;

	describe_status(rs, d, sizeof(d));
	return kf_err_set(err, code, "%s on %s: %s", what, r->name, d);
}

static char *mkurl(struct kf_oci_registry *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *mkurl(struct kf_oci_registry *r, const char *fmt, ...)
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

static char *scope_for(struct kf_oci_registry *r, const char *repo)
{
	size_t n = strlen(repo) + 32;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "repository:%s:%s", repo, r->push ? "pull,push" : "pull");
	return s;
}

/* Absolute URL of a Location header, with extra query appended (caller frees). */
static char *location_url(struct kf_oci_registry *r, const char *loc, const char *query)
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
	char *url = mkurl(r, "/v2/");
	int rc;

	resp_init(&rs, 0);
	if (!url) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "GET";
	q.url = url;
	if ((rc = request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status != 200)
		rc = status_err(r, &rs, err, "GET /v2/");
out:
	resp_free(&rs);
	free(url);
	return rc;
}

/* ---------------------------------------------------------------- manifests */

void kf_oci_manifest_free(struct kf_oci_manifest *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

int kf_oci_manifest_get(struct kf_oci_registry *r, const char *repo, const char *reference,
			struct kf_oci_manifest *out, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = mkurl(r, "/v2/%s/manifests/%s", repo, reference), *scope = scope_for(r, repo);
	char hex[KF_SHA256_HEX_LEN + 1];
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	resp_init(&rs, KF_OCI_MANIFEST_MAX);
	if (strchr(reference, ':') && (rc = kf_digest_check(reference, "manifest reference", err)))
		goto out;
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "GET";
	q.url = url;
	q.scope = scope;
	q.headers[0] = accept_manifests;
	q.body_max = KF_OCI_MANIFEST_MAX;
	if ((rc = request(r, &q, &rs, err)) != 0) {
		if (rc == KF_ELIMIT && rs.overflow)
			rc = kf_err_set(err, KF_ELIMIT, "manifest %s/%s:%s is larger than %zu bytes",
					r->name, repo, reference, KF_OCI_MANIFEST_MAX);
		goto out;
	}
	if (rs.status != 200) {
		rc = status_err(r, &rs, err, "GET manifest");
		kf_err_wrap(err, "%s:%s", repo, reference);
		goto out;
	}
	kf_sha256_hex(rs.body.data ? rs.body.data : "", rs.body.len, hex);
	snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
	if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, out->digest) != 0) {
		rc = kf_err_set(err, KF_EDIGEST,
				"manifest %s/%s@%s: the bytes received hash to %s; refusing it", r->name,
				repo, reference, out->digest);
		goto out;
	}
	if (rs.digest && strncmp(rs.digest, "sha256:", 7) == 0 && strcmp(rs.digest, out->digest)) {
		rc = kf_err_set(err, KF_EDIGEST,
				"manifest %s/%s:%s: Docker-Content-Digest %s but the bytes hash to %s",
				r->name, repo, reference, rs.digest, out->digest);
		goto out;
	}
	root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL);
	if (!root) {
		rc = kf_err_set(err, KF_EPARSE, "manifest %s/%s:%s is not JSON", r->name, repo,
				reference);
		goto out;
	}
	if (json_is_string(json_object_get(root, "mediaType")))
		out->media_type = strdup(json_string_value(json_object_get(root, "mediaType")));
	else if (rs.content_type)
		out->media_type = strndup(rs.content_type, strcspn(rs.content_type, "; "));
	if (!out->media_type) {
		rc = kf_err_set(err, KF_EPARSE, "manifest %s/%s:%s has no media type", r->name, repo,
				reference);
		goto out;
	}
	out->len = rs.body.len;
	out->data = kf_buf_detach(&rs.body);
	if (!out->data)
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	if (rc)
		kf_oci_manifest_free(out);
	json_decref(root);
	resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

int kf_oci_manifest_head(struct kf_oci_registry *r, const char *repo, const char *reference,
			 char digest[KF_OCI_DIGEST_LEN], struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = mkurl(r, "/v2/%s/manifests/%s", repo, reference), *scope = scope_for(r, repo);
	int rc;

	resp_init(&rs, 0);
	if (digest)
		digest[0] = '\0';
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "HEAD";
	q.url = url;
	q.scope = scope;
	q.headers[0] = accept_manifests;
	if ((rc = request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 404) {
		rc = kf_err_set(err, KF_ENOTFOUND, "manifest %s/%s:%s not found", r->name, repo,
				reference);
	} else if (rs.status != 200) {
		rc = status_err(r, &rs, err, "HEAD manifest");
	} else if (digest && rs.digest) {
		snprintf(digest, KF_OCI_DIGEST_LEN, "%s", rs.digest);
	}
out:
	resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

int kf_oci_manifest_put(struct kf_oci_registry *r, const char *repo, const char *reference,
			const char *data, size_t len, const char *media_type, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = mkurl(r, "/v2/%s/manifests/%s", repo, reference), *scope = scope_for(r, repo);
	char ct[256];
	int rc;

	resp_init(&rs, 0);
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", media_type);
	q.method = "PUT";
	q.url = url;
	q.scope = scope;
	q.headers[0] = ct;
	q.body = data;
	q.body_len = len;
	if ((rc = request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status != 201 && rs.status != 200) {
		rc = status_err(r, &rs, err, "PUT manifest");
		kf_err_wrap(err, "%s:%s", repo, reference);
	}
out:
	resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

/* ---------------------------------------------------------------- blobs */

int kf_oci_blob_head(struct kf_oci_registry *r, const char *repo, const char *digest,
		     int64_t *size, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = mkurl(r, "/v2/%s/blobs/%s", repo, digest), *scope = scope_for(r, repo);
	int rc;

	resp_init(&rs, 0);
	if (!kf_digest_valid(digest)) {
		rc = kf_digest_check(digest, "blob", err);
		goto out;
	}
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "HEAD";
	q.url = url;
	q.scope = scope;
	if ((rc = request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 404)
		rc = kf_err_set(err, KF_ENOTFOUND, "blob %s not in %s/%s", digest, r->name, repo);
	else if (rs.status == 301 || rs.status == 302 || rs.status == 303 || rs.status == 307 ||
		 rs.status == 308) {
		/* served from elsewhere (object storage, a CDN): present, size unknown here */
		if (size)
			*size = -1;
	} else if (rs.status != 200)
		rc = status_err(r, &rs, err, "HEAD blob");
	else if (size)
		*size = rs.content_length;
out:
	resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

/* A blob GET driven by pulls: its own multi handle, the body landing in a bounded ring that the
 * consumer drains; the transfer is paused while the ring is full. A dropped connection is
 * resumed with Range from the byte reached. */
struct blob_reader {
	struct kf_oci_registry *r;
	char *url, *auth;
	struct slot *slot;       /* this thread's handles (the multi keeps the connections) */
	CURLM *multi;
	CURL *easy;
	bool added;              /* easy is in multi */
	struct curl_slist *hl;
	struct kf_http_watch watch;
	char *refused;           /* a redirect target refused (https -> http downgrade) */
	const char *hdr_over;    /* a header past its bound */
	size_t hdr_bytes;
	char *ring;
	size_t cap, head, len;   /* ring: data at [head, head+len) mod cap */
	uint64_t size, received, delivered, resume_from;
	bool done, paused, bad_status;
	bool too_long;           /* more bytes than the descriptor's size */
	bool range_ignored;      /* a resume with Range was answered 200 (the whole blob) */
	size_t discarded;        /* bytes of an error body read and dropped */
	CURLcode result;
	long status;
	long retry_after;        /* from a 429/503 answer */
	char *challenge;         /* WWW-Authenticate of a 401 */
	char *scope;
	bool authed;             /* answered a challenge already */
	int attempts;
	char errbuf[CURL_ERROR_SIZE];
	struct kf_err *err;
};

static size_t reader_write_cb(char *p, size_t sz, size_t nm, void *ud)
{
	struct blob_reader *br = ud;
	size_t n = sz * nm, first;

	if (!br->status)
		curl_easy_getinfo(br->easy, CURLINFO_RESPONSE_CODE, &br->status);
	if (br->resume_from > 0 && br->status == 200) {
		/* the whole blob again: the bytes before resume_from were handed on already */
		br->range_ignored = br->bad_status = true;
		return 0;
	}
	if (br->status != 200 && br->status != 206) {
		br->bad_status = true;
		br->discarded += n;
		return br->discarded > ERROR_BODY_MAX ? 0 : n;   /* drop an error body, bounded */
	}
	if (br->received + n > br->size) {
		br->too_long = br->bad_status = true;
		return 0;   /* longer than the descriptor says: abort */
	}
	if (n > br->cap - br->len) {
		if (br->len == 0 && n > br->cap) {
			char *nr = realloc(br->ring, n);
			if (!nr)
				return 0;
			br->ring = nr;
			br->cap = n;
			br->head = 0;
		} else {
			br->paused = true;
			br->watch.hold = true;  /* waiting for our consumer is not a stall */
			return CURL_WRITEFUNC_PAUSE;
		}
	}
	{
		size_t tail = (br->head + br->len) % br->cap;
		first = br->cap - tail < n ? br->cap - tail : n;
		memcpy(br->ring + tail, p, first);
		memcpy(br->ring, p + first, n - first);
	}
	br->len += n;
	br->received += n;
	return n;
}

static size_t reader_header_cb(char *p, size_t sz, size_t nm, void *ud)
{
	struct blob_reader *br = ud;
	size_t n = sz * nm;
	char *v, *ch, *loc;
	long st = 0;

	if ((br->hdr_over = header_bound(&br->hdr_bytes, p, n)))
		return 0;
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		br->hdr_bytes = n;
		return n;
	}
	curl_easy_getinfo(br->easy, CURLINFO_RESPONSE_CODE, &st);
	if (st >= 300 && st < 400 && (loc = header_value(p, n, "Location"))) {
		/* libcurl follows this next: refuse an https -> http downgrade before it does */
		char *from = NULL;
		curl_easy_getinfo(br->easy, CURLINFO_EFFECTIVE_URL, &from);
		if (!kf_http_redirect_allowed(from ? from : br->url, loc)) {
			free(br->refused);
			br->refused = loc;
			return 0;
		}
		free(loc);
		return n;
	}
	v = header_value(p, n, "Retry-After");
	ch = header_value(p, n, "WWW-Authenticate");

	if (ch) {
		free(br->challenge);
		br->challenge = ch;
	}
	if (v) {
		char *end;
		long s = strtol(v, &end, 10);
		br->retry_after = (end != v && *end == '\0' && s >= 0) ? s : 1;
		free(v);
	}
	return n;
}

static int reader_start(struct blob_reader *br)
{
	char range[64];
	struct curl_slist *tmp;

	if (br->added) {
		curl_multi_remove_handle(br->multi, br->easy);
		br->added = false;
	}
	curl_slist_free_all(br->hl);
	br->hl = NULL;
	free(br->refused);
	br->refused = NULL;
	br->hdr_over = NULL;
	br->hdr_bytes = 0;
	br->done = br->paused = br->bad_status = br->too_long = br->range_ignored = false;
	br->discarded = 0;
	br->status = 0;
	br->retry_after = 0;
	free(br->challenge);
	br->challenge = NULL;
	br->resume_from = br->received;
	br->errbuf[0] = '\0';
	if (!br->slot->reasy && !(br->slot->reasy = curl_easy_init()))
		return KF_ENOMEM;
	br->easy = br->slot->reasy;
	curl_easy_reset(br->easy);
	atomic_fetch_add(&br->r->requests, 1);
	if (setup_easy(br->r, br->easy, br->errbuf, &br->watch, 0))
		return KF_ECONFIG;
	curl_easy_setopt(br->easy, CURLOPT_URL, br->url);
	curl_easy_setopt(br->easy, CURLOPT_WRITEFUNCTION, reader_write_cb);
	curl_easy_setopt(br->easy, CURLOPT_WRITEDATA, br);
	curl_easy_setopt(br->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(br->easy, CURLOPT_HEADERFUNCTION, reader_header_cb);
	curl_easy_setopt(br->easy, CURLOPT_HEADERDATA, br);
	/* registries answer blob GETs with a redirect to storage (S3, CDN) */
	curl_easy_setopt(br->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(br->easy, CURLOPT_MAXREDIRS, 5L);
	if (br->auth)
		br->hl = curl_slist_append(br->hl, br->auth);
	if (br->received > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-",
			 (unsigned long long)br->received);
		if ((tmp = curl_slist_append(br->hl, range)))
			br->hl = tmp;
	}
	curl_easy_setopt(br->easy, CURLOPT_HTTPHEADER, br->hl);
	if (curl_multi_add_handle(br->multi, br->easy) != CURLM_OK)
		return KF_ENOMEM;
	br->added = true;
	return 0;
}

static int reader_open(struct blob_reader *br, struct kf_oci_registry *r, const char *repo,
		       const char *digest, uint64_t size, struct kf_err *err)
{
	char *scope = scope_for(r, repo);

	memset(br, 0, sizeof(*br));
	br->r = r;
	br->err = err;
	br->size = size;
	br->cap = RING_SIZE;
	/* no HEAD first (a round trip per blob on a far registry): a 401 on the GET itself is
	 * answered, a size that differs from the descriptor is caught while streaming */
	br->scope = scope;
	br->auth = auth_header(r, scope);
	br->url = mkurl(r, "/v2/%s/blobs/%s", repo, digest);
	br->ring = malloc(br->cap);
	if ((br->slot = slot_take(r)) && !br->slot->rmulti)
		br->slot->rmulti = curl_multi_init();
	br->multi = br->slot ? br->slot->rmulti : NULL;
	if (!br->scope || !br->url || !br->ring || !br->multi)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (size == 0) {
		br->done = true;
		return 0;
	}
	return reader_start(br) ? kf_err_set(err, KF_ENOMEM, "out of memory") : 0;
}

static void reader_close(struct blob_reader *br)
{
	if (br->added) {
		curl_multi_remove_handle(br->multi, br->easy);
		curl_easy_setopt(br->easy, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(br->easy, CURLOPT_ERRORBUFFER, NULL);
	}
	if (br->slot)
		slot_give(br->r, br->slot);
	free(br->refused);
	curl_slist_free_all(br->hl);
	free_secret(br->auth);
	free(br->challenge);
	free(br->scope);
	free(br->url);
	free(br->ring);
	memset(br, 0, sizeof(*br));
}

/* Pulls up to n bytes: >0 bytes copied, 0 at the end of the blob, <0 KF_E* (br->err set). */
static long reader_pull(struct blob_reader *br, char *dst, size_t n)
{
	size_t first, take;

	/* keep the download moving while the upload drains the ring: without this the two only
	 * alternate (fill when empty, send when full) instead of overlapping */
	if (!br->done && !br->paused && br->easy && br->len < br->cap / 2) {
		int running = 0, left;
		CURLMsg *m;
		curl_multi_perform(br->multi, &running);
		while ((m = curl_multi_info_read(br->multi, &left))) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == br->easy) {
				br->done = true;
				br->result = m->data.result;
				curl_easy_getinfo(br->easy, CURLINFO_RESPONSE_CODE, &br->status);
				if (br->status == 206 && br->received == 0)
					br->status = 200;
			}
		}
	}
	while (br->len == 0) {
		int running = 0;
		CURLMsg *m;
		int left;

		if (br->delivered == br->size)
			return 0;
		if (kf_interrupted())
			return kf_err_set(br->err, KF_EINTR, "interrupted");
		if (br->done) {
			long st = br->status;
			if (br->refused)
				return kf_err_set(br->err, KF_EHTTP,
						  "GET %s: refused its redirect to %s (an https source "
						  "may not move a transfer to plain http; only loopback "
						  "targets may)", br->url, br->refused);
			if (br->hdr_over)
				return kf_err_set(br->err, KF_ELIMIT,
						  "GET %s: the %s is longer than %zu bytes", br->url,
						  br->hdr_over, (size_t)KF_OCI_CHALLENGE_MAX);
			if (br->result == CURLE_ABORTED_BY_CALLBACK &&
			    br->watch.stop == KF_HTTP_INTERRUPTED)
				return kf_err_set(br->err, KF_EINTR, "GET %s: interrupted", br->url);
			if (br->result == CURLE_TOO_MANY_REDIRECTS)
				return kf_err_set(br->err, KF_EHTTP, "GET %s: %s", br->url,
						  br->errbuf[0] ? br->errbuf
								: curl_easy_strerror(br->result));
			if (br->bad_status || (st != 200 && st != 206 && br->result == CURLE_OK)) {
				if (br->too_long)
					return kf_err_set(br->err, KF_EDIGEST,
							  "GET %s: more bytes than the %llu announced",
							  br->url, (unsigned long long)br->size);
				if (br->range_ignored)
					return kf_err_set(br->err, KF_EHTTP,
							  "GET %s: the server ignored the Range request "
							  "to resume at byte %llu of %llu (it answered 200)",
							  br->url, (unsigned long long)br->resume_from,
							  (unsigned long long)br->size);
				if (st == 401 && br->challenge && !br->authed) {
					int arc;
					br->authed = true;
					if ((arc = authenticate(br->r, br->challenge, br->scope,
								br->err)) != 0)
						return arc;
					free_secret(br->auth);
					br->auth = auth_header(br->r, br->scope);
					if (reader_start(br))
						return kf_err_set(br->err, KF_ENOMEM, "out of memory");
					continue;
				}
				if ((st == 429 || st >= 500) && br->attempts < br->r->max_retries) {
					kf_debug("GET %s: HTTP %ld; retrying", br->url, st);
					backoff(br->attempts++, br->retry_after);
					if (reader_start(br))
						return kf_err_set(br->err, KF_ENOMEM, "out of memory");
					continue;
				}
				return kf_err_set(br->err, st == 404 ? KF_ENOTFOUND : KF_EHTTP,
						  "GET %s: HTTP %ld", br->url, st);
			}
			if (br->received < br->size) {
				/* dropped (or a clean end too early): resume from here with Range */
				char why[160];
				if (br->result == CURLE_ABORTED_BY_CALLBACK &&
				    br->watch.stop != KF_HTTP_RUNNING)
					snprintf(br->errbuf, sizeof(br->errbuf), "%s",
						 kf_http_watch_reason(&br->watch, why, sizeof(why)));
				if (br->attempts >= br->r->max_retries)
					return kf_err_set(br->err,
							  br->watch.stop != KF_HTTP_RUNNING
								  ? KF_ETIMEOUT
								  : curl_code_err(br->result),
							  "GET %s: %s after %llu of %llu bytes",
							  br->url,
							  br->errbuf[0] ? br->errbuf
									: curl_easy_strerror(br->result),
							  (unsigned long long)br->received,
							  (unsigned long long)br->size);
				kf_debug("GET %s interrupted at %llu/%llu bytes (%s); resuming",
					 br->url, (unsigned long long)br->received,
					 (unsigned long long)br->size,
					 br->errbuf[0] ? br->errbuf : curl_easy_strerror(br->result));
				backoff(br->attempts++, 0);
				if (reader_start(br))
					return kf_err_set(br->err, KF_ENOMEM, "out of memory");
				continue;
			}
			return 0;
		}
		if (br->paused) {
			br->paused = false;
			br->watch.hold = false;
			curl_easy_pause(br->easy, CURLPAUSE_CONT);
		}
		if (curl_multi_perform(br->multi, &running) != CURLM_OK)
			return kf_err_set(br->err, KF_ENET, "GET %s: curl multi failure", br->url);
		while ((m = curl_multi_info_read(br->multi, &left))) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == br->easy) {
				br->done = true;
				br->result = m->data.result;
				curl_easy_getinfo(br->easy, CURLINFO_RESPONSE_CODE, &br->status);
				if (br->status == 206 && br->received == 0)
					br->status = 200;
			}
		}
		if (br->len == 0 && !br->done)
			curl_multi_poll(br->multi, NULL, 0, 200, NULL);
	}
	take = n < br->len ? n : br->len;
	first = br->cap - br->head < take ? br->cap - br->head : take;
	memcpy(dst, br->ring + br->head, first);
	memcpy(dst + first, br->ring, take - first);
	br->head = (br->head + take) % br->cap;
	br->len -= take;
	br->delivered += take;
	if (br->len == 0)
		br->head = 0;
	if (br->paused && br->cap - br->len >= br->cap / 2) {
		br->paused = false;
		br->watch.hold = false;
		curl_easy_pause(br->easy, CURLPAUSE_CONT);
	}
	return (long)take;
}

/* Verifies a stream against a digest: hashes every byte and refuses to hand over the bytes that
 * complete the blob unless the sha256 matches (so an upload is never committed with them). */
struct verifier {
	kf_oci_source_fn source;
	void *ud;
	const char *digest;
	uint64_t size, total;
	struct kf_sha256 *h;
	int rc;              /* first failure */
	struct kf_err *err;  /* the verifier's own error (curl's abort message must not win) */
	struct kf_err own;
	uint64_t limit;      /* bytes this request may take (chunk end); 0 = no limit */
};

static long verifier_pull(struct verifier *v, char *buf, size_t n)
{
	long got;

	if (v->rc)
		return v->rc;
	if (v->limit && v->total + n > v->limit)
		n = (size_t)(v->limit - v->total);
	if (n == 0 || v->total == v->size)
		return 0;
	if (n > v->size - v->total)
		n = (size_t)(v->size - v->total);
	got = v->source(v->ud, buf, n);
	if (got < 0)
		return v->rc = (int)got;
	if (got == 0)
		return v->rc = kf_err_set(v->err, KF_EIO, "blob %s ended after %llu of %llu bytes",
					  v->digest, (unsigned long long)v->total,
					  (unsigned long long)v->size);
	kf_sha256_update(v->h, buf, (size_t)got);
	v->total += (uint64_t)got;
	if (v->total == v->size) {
		char hex[KF_SHA256_HEX_LEN + 1];
		kf_sha256_final_hex(v->h, hex);
		v->h = NULL;
		if (strcmp(hex, v->digest + 7) != 0)
			return v->rc = kf_err_set(v->err, KF_EDIGEST,
						  "blob %s: the bytes received hash to sha256:%s; "
						  "not stored (the source or the network corrupted it)",
						  v->digest, hex);
	}
	return got;
}

static size_t upload_read_cb(char *dst, size_t sz, size_t nm, void *ud)
{
	struct verifier *v = ud;
	long got = verifier_pull(v, dst, sz * nm);

	if (got < 0)
		return CURL_READFUNC_ABORT;
	return (size_t)got;
}

static void delete_session(struct kf_oci_registry *r, const char *loc, const char *scope)
{
	struct req q = { 0 };
	struct resp rs;
	struct kf_err e;
	char *url = location_url(r, loc, NULL);

	resp_init(&rs, 0);
	if (url) {
		q.method = "DELETE";
		q.url = url;
		q.scope = scope;
		q.no_retry = true;
		request(r, &q, &rs, &e);
	}
	resp_free(&rs);
	free(url);
}

int kf_oci_blob_upload(struct kf_oci_registry *r, const char *repo, const char *digest,
		       uint64_t size, kf_oci_source_fn source, void *ud, const char *location,
		       struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	struct verifier v = { 0 };
	char *scope = scope_for(r, repo), *loc = NULL, *url = NULL, *dq = NULL;
	uint64_t chunk;
	int rc = 0;

	resp_init(&rs, 0);
	if (!scope || !kf_digest_valid(digest)) {
		rc = kf_err_set(err, scope ? KF_EPARSE : KF_ENOMEM, "bad blob digest '%s'", digest);
		goto out;
	}
	v.source = source;
	v.ud = ud;
	v.digest = digest;
	v.size = size;
	v.err = &v.own;
	kf_err_clear(&v.own);
	if (!(v.h = kf_sha256_new())) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	chunk = r->chunk_size;
	if (location) {
		loc = strdup(location);
	} else {
		url = mkurl(r, "/v2/%s/blobs/uploads/", repo);
		q.method = "POST";
		q.url = url;
		q.scope = scope;
		if ((rc = request(r, &q, &rs, err)) != 0)
			goto out;
		if (rs.status != 202 || !rs.location) {
			rc = status_err(r, &rs, err, "POST blob upload");
			kf_err_wrap(err, "%s", repo);
			goto out;
		}
		if (rs.chunk_min) {
			unsigned long long m = strtoull(rs.chunk_min, NULL, 10);
			if (m > chunk && m < (1ULL << 34))
				chunk = m;
		}
		loc = rs.location;
		rs.location = NULL;
	}
	if (!loc) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	dq = malloc(strlen(digest) + 8);
	if (!dq) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	sprintf(dq, "digest=%s", digest);
	if (atomic_load(&r->chunked_only) && chunk > CHUNK_AFTER_413)
		chunk = CHUNK_AFTER_413;
	if (size > chunk || atomic_load(&r->chunked_only)) {
		/* chunked: PATCH pieces with Content-Range, then PUT ?digest= without a body */
		uint64_t start = 0;
		while (start < size) {
			uint64_t end = start + chunk < size ? start + chunk : size;
			char cr[80];
			free(url);
			url = location_url(r, loc, NULL);
			snprintf(cr, sizeof(cr), "Content-Range: %llu-%llu", (unsigned long long)start,
				 (unsigned long long)end - 1);
			memset(&q, 0, sizeof(q));
			q.method = "PATCH";
			q.url = url;
			q.scope = scope;
			q.headers[0] = "Content-Type: application/octet-stream";
			q.headers[1] = cr;
			q.read_fn = upload_read_cb;
			q.read_ud = &v;
			q.upload_size = (int64_t)(end - start);
			q.no_retry = true;
			v.limit = end;
			rc = request(r, &q, &rs, err);
			if (v.rc) {
				rc = v.rc;
				*err = v.own;
				goto fail;
			}
			if (rc)
				goto fail;
			if (rs.status != 202 || !rs.location) {
				rc = status_err(r, &rs, err, "PATCH blob chunk");
				goto fail;
			}
			free(loc);
			loc = rs.location;
			rs.location = NULL;
			start = end;
		}
		free(url);
		url = location_url(r, loc, dq);
		memset(&q, 0, sizeof(q));
		q.method = "PUT";
		q.url = url;
		q.scope = scope;
		q.headers[0] = "Content-Type: application/octet-stream";
		q.no_retry = true;
	} else {
		free(url);
		url = location_url(r, loc, dq);
		memset(&q, 0, sizeof(q));
		q.method = "PUT";
		q.url = url;
		q.scope = scope;
		q.headers[0] = "Content-Type: application/octet-stream";
		q.read_fn = upload_read_cb;
		q.read_ud = &v;
		q.upload_size = (int64_t)size;
		q.no_retry = true;
		v.limit = 0;
	}
	if (!url) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto fail;
	}
	rc = request(r, &q, &rs, err);
	if (v.rc) {
		rc = v.rc;
		*err = v.own;
		goto fail;
	}
	if (rc)
		goto fail;
	if (v.total != size) {
		rc = kf_err_set(err, KF_EIO, "blob %s: only %llu of %llu bytes sent", digest,
				(unsigned long long)v.total, (unsigned long long)size);
		goto fail;
	}
	if (rs.status == 413 && !q.read_fn) {
		rc = status_err(r, &rs, err, "PUT blob (closing a chunked upload)");
		goto fail;
	}
	if (rs.status == 413) {
		/* the registry (or a proxy before it) wants smaller requests: chunks from now on */
		atomic_store(&r->chunked_only, true);
		kf_warn("registry %s refused a %llu-byte PUT as too large; uploading in chunks of at "
			"most %llu bytes from now on", r->name, (unsigned long long)size,
			(unsigned long long)(r->chunk_size < CHUNK_AFTER_413 ? r->chunk_size
									: CHUNK_AFTER_413));
	}
	if (rs.status != 201) {
		rc = status_err(r, &rs, err, "PUT blob");
		kf_err_wrap(err, "%s@%s", repo, digest);
		goto fail;
	}
	goto out;
fail:
	delete_session(r, loc, scope);
out:
	kf_sha256_free(v.h);
	resp_free(&rs);
	free(scope);
	free(loc);
	free(url);
	free(dq);
	return rc;
}

struct mem_source {
	const char *p;
	size_t left;
};

static long mem_source_fn(void *ud, char *buf, size_t n)
{
	struct mem_source *m = ud;
	size_t take = n < m->left ? n : m->left;

	memcpy(buf, m->p, take);
	m->p += take;
	m->left -= take;
	return (long)take;
}

int kf_oci_blob_put(struct kf_oci_registry *r, const char *repo, const char *digest,
		    const void *data, size_t len, struct kf_err *err)
{
	struct mem_source m = { data, len };

	return kf_oci_blob_upload(r, repo, digest, len, mem_source_fn, &m, NULL, err);
}

struct copy_source {
	struct blob_reader br;
	struct kf_err rerr;   /* the reader's own failure, kept apart from the upload's */
	void (*on_bytes)(void *, uint64_t);
	void *ud;
};

static long copy_source_fn(void *ud, char *buf, size_t n)
{
	struct copy_source *cs = ud;
	long got = reader_pull(&cs->br, buf, n);

	if (got > 0 && cs->on_bytes)
		cs->on_bytes(cs->ud, (uint64_t)got);
	return got;
}

int kf_oci_blob_copy(struct kf_oci_registry *src, const char *src_repo,
		     struct kf_oci_registry *dst, const char *dst_repo, const char *digest,
		     uint64_t size, void (*on_bytes)(void *ud, uint64_t n), void *ud,
		     struct kf_err *err)
{
	struct copy_source cs;
	int rc;

	if (!kf_digest_valid(digest))
		return kf_digest_check(digest, "blob", err);
	if ((rc = reader_open(&cs.br, src, src_repo, digest, size, err)) != 0) {
		reader_close(&cs.br);
		return rc;
	}
	cs.on_bytes = on_bytes;
	cs.ud = ud;
	kf_err_clear(&cs.rerr);
	cs.br.err = &cs.rerr;
	rc = kf_oci_blob_upload(dst, dst_repo, digest, size, copy_source_fn, &cs, NULL, err);
	if (rc && cs.rerr.code) {
		*err = cs.rerr;
		rc = cs.rerr.code;
	}
	reader_close(&cs.br);
	return rc;
}

int kf_oci_blob_get(struct kf_oci_registry *r, const char *repo, const char *digest,
		    uint64_t size, kf_oci_sink_fn sink, void *ud, struct kf_err *err)
{
	struct copy_source cs;
	struct verifier v = { 0 };
	char *buf;
	int rc;

	if (!kf_digest_valid(digest))
		return kf_digest_check(digest, "blob", err);
	if (!(buf = malloc(65536)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((rc = reader_open(&cs.br, r, repo, digest, size, err)) != 0)
		goto out;
	cs.on_bytes = NULL;
	v.source = copy_source_fn;
	v.ud = &cs;
	v.digest = digest;
	v.size = size;
	v.err = err;
	if (!(v.h = kf_sha256_new())) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (size == 0) {
		char hex[KF_SHA256_HEX_LEN + 1];
		kf_sha256_final_hex(v.h, hex);
		v.h = NULL;
		if (strcmp(hex, digest + 7) != 0)
			rc = kf_err_set(err, KF_EDIGEST, "blob %s: empty but the digest says otherwise",
					digest);
		goto out;
	}
	for (;;) {
		long got = verifier_pull(&v, buf, 65536);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		if (got == 0)
			break;
		if (sink(ud, buf, (size_t)got) != 0) {
			rc = kf_err_set(err, KF_EIO, "blob %s: the receiver failed", digest);
			break;
		}
	}
out:
	kf_sha256_free(v.h);
	reader_close(&cs.br);
	free(buf);
	return rc;
}

int kf_oci_blob_mount(struct kf_oci_registry *r, const char *repo, const char *digest,
		      const char *from_repo, bool *mounted, char **location, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = mkurl(r, "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, from_repo);
	char *scope = NULL;
	size_t sl = strlen(repo) + strlen(from_repo) + 64;
	int rc = 0;

	*mounted = false;
	if (location)
		*location = NULL;
	resp_init(&rs, 0);
	if (!kf_digest_valid(digest)) {
		rc = kf_digest_check(digest, "blob", err);
		goto out;
	}
	if (!url || !(scope = malloc(sl))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(scope, sl, "repository:%s:pull,push repository:%s:pull", repo, from_repo);
	q.method = "POST";
	q.url = url;
	q.scope = scope;
	if ((rc = request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 201) {
		*mounted = true;
	} else if (rs.status == 202 && rs.location) {
		if (location)
			*location = strdup(rs.location);
		else
			delete_session(r, rs.location, scope);
	} else {
		rc = status_err(r, &rs, err, "POST blob mount");
	}
out:
	resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

/* ---------------------------------------------------------------- listing */

/* The URL of a Link: <...>; rel="next" header (caller frees), NULL when none. */
static char *link_next(struct kf_oci_registry *r, const char *link)
{
	const char *lt, *gt;
	char *path, *u;

	if (!link || !strstr(link, "rel=\"next\"") || !(lt = strchr(link, '<')) ||
	    !(gt = strchr(lt, '>')))
		return NULL;
	if (!(path = strndup(lt + 1, (size_t)(gt - lt - 1))))
		return NULL;
	u = location_url(r, path, NULL);
	free(path);
	return u;
}

static int list_pages(struct kf_oci_registry *r, const char *first_url, const char *scope,
		      const char *key, char ***out, size_t *n, size_t max, struct kf_err *err)
{
	char *url = strdup(first_url);
	char **v = NULL;
	size_t cnt = 0, capv = 0;
	int rc = 0;

	if (!max)
		max = 100000;
	for (int page = 0; url && page < LIST_PAGES_MAX; page++) {
		struct req q = { 0 };
		struct resp rs;
		json_t *root, *arr, *it;
		size_t i;

		resp_init(&rs, 0);
		q.method = "GET";
		q.url = url;
		q.scope = scope;
		if ((rc = request(r, &q, &rs, err)) != 0) {
			resp_free(&rs);
			break;
		}
		if (rs.status != 200) {
			rc = status_err(r, &rs, err, "GET list");
			resp_free(&rs);
			break;
		}
		root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL);
		arr = json_object_get(root, key);
		json_array_foreach(arr, i, it) {
			if (!json_is_string(it))
				continue;
			if (cnt >= max) {
				rc = kf_err_set(err, KF_ELIMIT, "%s lists more than %zu entries",
						r->name, max);
				break;
			}
			if (cnt == capv) {
				size_t nc = capv ? capv * 2 : 64;
				char **nv = realloc(v, nc * sizeof(*v));
				if (!nv) {
					rc = kf_err_set(err, KF_ENOMEM, "out of memory");
					break;
				}
				v = nv;
				capv = nc;
			}
			if (!(v[cnt] = strdup(json_string_value(it)))) {
				rc = kf_err_set(err, KF_ENOMEM, "out of memory");
				break;
			}
			cnt++;
		}
		json_decref(root);
		free(url);
		url = rc ? NULL : link_next(r, rs.link);
		resp_free(&rs);
	}
	free(url);
	if (rc) {
		kf_oci_strv_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int kf_oci_catalog(struct kf_oci_registry *r, char ***repos, size_t *n, size_t max,
		   struct kf_err *err)
{
	char *url = mkurl(r, "/v2/_catalog?n=100");
	int rc;

	*repos = NULL;
	*n = 0;
	if (!url)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	rc = list_pages(r, url, "registry:catalog:*", "repositories", repos, n, max, err);
	free(url);
	return rc;
}

int kf_oci_tags(struct kf_oci_registry *r, const char *repo, char ***tags, size_t *n, size_t max,
		struct kf_err *err)
{
	char *url = mkurl(r, "/v2/%s/tags/list?n=100", repo), *scope = scope_for(r, repo);
	int rc;

	*tags = NULL;
	*n = 0;
	if (!url || !scope) {
		free(url);
		free(scope);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	rc = list_pages(r, url, scope, "tags", tags, n, max, err);
	free(url);
	free(scope);
	return rc;
}

void kf_oci_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}
