/* Internal to src/oci: what the OCI client's files share — the registry object and its handle
 * pool, one request with auth and retries (oci.c), token and basic auth (oci_auth.c); manifests
 * (oci_manifest_io.c), blobs (oci_blob.c) and listings (oci_list.c) are built on them. Not a
 * public interface. */
#ifndef KF_OCI_INTERNAL_H
#define KF_OCI_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"
#include "k3sforge/http.h"
#include "k3sforge/oci.h"

#define BODY_MAX ((size_t)1024 * 1024)     /* JSON answers other than manifests */
#define HEADERS_MAX ((size_t)256 * 1024)   /* all header lines of one response */
#define ERROR_BODY_MAX ((size_t)64 * 1024) /* error body of a blob GET read before giving up */
#define TOKEN_MAX ((size_t)64 * 1024)
#define RING_SIZE ((size_t)1024 * 1024)    /* per streamed blob */
#define RETRY_AFTER_MAX_S 60
#define CHUNK_AFTER_413 ((uint64_t)32 * 1024 * 1024)
#define LIST_PAGES_MAX 10000

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

/* oci.c: the registry's handle pool. A slot is one thread's until it is given back. */
struct slot *kf_oci_slot_take(struct kf_oci_registry *r);
void kf_oci_slot_give(struct kf_oci_registry *r, struct slot *sl);

/* oci.c: responses and requests. */
void kf_oci_resp_init(struct resp *rs, size_t max);
void kf_oci_resp_free(struct resp *rs);
/* One header value when the line is "name: value" (caller frees), else NULL. */
char *kf_oci_header_value(const char *line, size_t n, const char *name);
/* Bounds one header line: NULL when it may be taken, else the name of the bound it breaks. */
const char *kf_oci_header_bound(size_t *total, const char *p, size_t n);
/* The one handle set-up (k3sforge/http.h) with this registry's trust and limits. */
int kf_oci_setup_easy(struct kf_oci_registry *r, CURL *h, char *errbuf, struct kf_http_watch *w,
		      double total_s);
/* One try of a request, without auth handling or retries. */
int kf_oci_perform(struct kf_oci_registry *r, const struct req *q, const char *auth,
		   struct resp *rs, CURLcode *cc);
/* One logical request with auth and retries: 0 with rs filled whatever the HTTP status. */
int kf_oci_request(struct kf_oci_registry *r, const struct req *q, struct resp *rs,
		   struct kf_err *err);
int kf_oci_curl_code_err(CURLcode cc);
void kf_oci_backoff(int attempt, long retry_after);
/* The error for an unexpected status: KF_EAUTH, KF_ENOTFOUND or KF_EHTTP, with the body's text. */
int kf_oci_status_err(struct kf_oci_registry *r, const struct resp *rs, struct kf_err *err,
		      const char *what);
/* base + the formatted path (caller frees). */
char *kf_oci_mkurl(struct kf_oci_registry *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "repository:<repo>:pull[,push]" (caller frees). */
char *kf_oci_scope_for(struct kf_oci_registry *r, const char *repo);
/* Absolute URL of a Location header, with extra query appended (caller frees). */
char *kf_oci_location_url(struct kf_oci_registry *r, const char *loc, const char *query);

/* oci_auth.c: credentials and tokens. */
/* Takes the registry's user and password from a docker config.json, if it has them. */
void kf_oci_load_docker_config_creds(struct kf_oci_registry *r, const char *path);
/* The Authorization header line for a scope (caller frees with kf_oci_free_secret), or NULL. */
char *kf_oci_auth_header(struct kf_oci_registry *r, const char *scope);
/* Answers a 401: a Bearer token for the scope from the challenge's realm, or basic credentials. */
int kf_oci_authenticate(struct kf_oci_registry *r, const char *challenge, const char *scope,
			struct kf_err *err);
/* Wipes and frees a secret string (NULL is fine). */
void kf_oci_free_secret(char *s);

#endif
