/* The one way k3sforge sets up a libcurl easy handle: TLS verified (a pinned CA file or blob, or
 * the system store), http/https only, a redirect policy, one proxy policy, a user agent, and a
 * progress watch that ends a transfer on SIGINT/SIGTERM (kf_interrupted), when fewer than a
 * minimum number of bytes moved in a window (a drip cannot keep it alive) and at an overall
 * deadline.
 *
 * Proxy policy (the same for every module): what k3sforge knows to be the lab's or this host's
 * own (the lab registry's health, the API server, the lab console, an OCI registry on loopback)
 * is reached directly (`direct`: no proxy at all, not even from the environment); everything else
 * (source registries, release downloads) goes through the proxy the environment names
 * (http_proxy/https_proxy/no_proxy, read by libcurl) or the explicit `proxy`/`no_proxy`.
 *
 * The process calls curl_global_init once in main() (and each test binary in its set-up) before
 * any thread starts; nothing here initialises libcurl. */
#ifndef K3SFORGE_HTTP_H
#define K3SFORGE_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lowest transfer rate a watched transfer may keep up over its window (bytes per second). */
#define KF_HTTP_MIN_RATE 1024

/* Why the watch ended a transfer (CURLE_ABORTED_BY_CALLBACK). */
enum kf_http_stop {
	KF_HTTP_RUNNING = 0,
	KF_HTTP_INTERRUPTED,  /* SIGINT/SIGTERM */
	KF_HTTP_TOO_SLOW,     /* fewer than min_bytes moved within window_s */
	KF_HTTP_DEADLINE,     /* the overall deadline passed */
};

/* Progress watch of one transfer. Owned by the caller, armed before each perform. */
struct kf_http_watch {
	double window_s;          /* 0 = no progress window */
	uint64_t min_bytes;       /* bytes (received + sent) every window must move */
	double deadline;          /* monotonic seconds the transfer must end by; 0 = none */
	bool hold;                /* the owner paused the transfer: the window does not run */
	/* kept by the callback */
	double window_start;
	uint64_t window_base;
	enum kf_http_stop stop;
};

struct kf_http_opts {
	const char *ca_file;           /* PEM bundle; NULL = system store */
	bool ca_only;                  /* trust only ca_file / ca_blob, not the system directory */
	const struct curl_blob *ca_blob; /* PEM CA in memory (kubeconfig data); NULL = none */
	bool direct;                   /* never through a proxy (lab or loopback target) */
	const char *url;               /* CURLOPT_URL, or NULL to set it later */
	const char *proxy;             /* explicit proxy URL when not direct; NULL = environment */
	const char *no_proxy;          /* explicit no-proxy list when not direct; NULL = environment */
	const char *proxy_ca_file;     /* PEM bundle for an https proxy; NULL = system store */
	bool allow_http;               /* http:// targets allowed (else https only) */
	int max_redirects;             /* 0 = redirects are not followed */
	long connect_timeout_ms;       /* 0 = 15000 */
	struct kf_http_watch *watch;   /* NULL = the interrupt check only */
	char *errbuf;                  /* CURL_ERROR_SIZE bytes, or NULL */
};

/* Sets every option above on h (fresh or after curl_easy_reset: connections, DNS and TLS
 * sessions cached in h survive). 0, or KF_ECONFIG when libcurl refuses an option. */
int kf_http_easy_setup(CURL *h, const struct kf_http_opts *o);
/* curl_easy_init + kf_http_easy_setup; NULL when out of memory or an option was refused. */
CURL *kf_http_easy_new(const struct kf_http_opts *o);

/* Arms w for a new transfer: a window of window_s seconds that must move at least
 * window_s * KF_HTTP_MIN_RATE bytes (0 = none), an overall limit of total_s seconds (0 = none). */
void kf_http_watch_arm(struct kf_http_watch *w, double window_s, double total_s);
/* One line on why the watch stopped a transfer ("interrupted", "less than 5120 bytes in 5 s"),
 * written into out. */
const char *kf_http_watch_reason(const struct kf_http_watch *w, char *out, size_t n);

/* The XFERINFOFUNCTION kf_http_easy_setup installs (its data is the watch, or NULL). */
curl_xferinfo_callback kf_http_progress_callback(void);

/* Is the host of this URL (scheme://host[:port]/...) or host[:port] a loopback address written
 * as such (localhost, 127.0.0.0/8 dotted quad, [::1])? Names that merely resolve to loopback
 * do not count. */
bool kf_http_url_is_loopback(const char *url);
bool kf_http_host_is_loopback(const char *hostport);

/* May a response to a request for from_url redirect to location? Refuses an https -> http
 * downgrade unless the new target is loopback; relative and scheme-relative locations keep the
 * scheme and are allowed; schemes other than http/https are refused. */
bool kf_http_redirect_allowed(const char *from_url, const char *location);

/* The libcurl in use shares TLS sessions safely between threads (curl >= 8.10.0 with OpenSSL:
 * curl commit a2bcec0 "openssl: fix the data race when sharing an SSL session between threads",
 * PR #14751, first in curl-8_10_0). */
bool kf_http_can_share_tls_sessions(void);

#endif
