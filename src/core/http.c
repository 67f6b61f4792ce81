/* The one libcurl handle set-up (see http.h): trust, protocols, redirects, proxy policy, user
 * agent, and the progress watch that makes every transfer interruptible and bounded. */
#include "k3sforge/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/err.h"
#include "k3sforge/platform.h"

#define DEFAULT_CONNECT_MS 15000L

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct kf_http_watch *w = ud;
	uint64_t moved;
	double now;

	(void)dltotal;
	(void)ultotal;
	if (kf_interrupted()) {
		if (w)
			w->stop = KF_HTTP_INTERRUPTED;
		return 1;
	}
	if (!w)
		return 0;
	now = kf_now_mono();
	if (w->deadline > 0 && now > w->deadline) {
		w->stop = KF_HTTP_DEADLINE;
		return 1;
	}
	if (w->window_s <= 0)
		return 0;
	moved = (uint64_t)(dlnow > 0 ? dlnow : 0) + (uint64_t)(ulnow > 0 ? ulnow : 0);
	if (w->hold || moved < w->window_base || moved - w->window_base >= w->min_bytes) {
		/* paused by its owner, a new request of a redirect chain, or enough moved: a new
		 * window starts now */
		w->window_start = now;
		w->window_base = moved;
		return 0;
	}
	if (now - w->window_start >= w->window_s) {
		w->stop = KF_HTTP_TOO_SLOW;
		return 1;
	}
	return 0;
}

curl_xferinfo_callback kf_http_progress_callback(void)
{
	return on_progress;
}

void kf_http_watch_arm(struct kf_http_watch *w, double window_s, double total_s)
{
	double now = kf_now_mono();

	w->window_s = window_s > 0 ? window_s : 0;
	w->min_bytes = (uint64_t)(w->window_s * KF_HTTP_MIN_RATE);
	w->deadline = total_s > 0 ? now + total_s : 0;
	w->hold = false;
	w->window_start = now;
	w->window_base = 0;
	w->stop = KF_HTTP_RUNNING;
}

const char *kf_http_watch_reason(const struct kf_http_watch *w, char *out, size_t n)
{
	switch (w ? w->stop : KF_HTTP_RUNNING) {
	case KF_HTTP_INTERRUPTED:
		snprintf(out, n, "interrupted");
		break;
	case KF_HTTP_TOO_SLOW:
		snprintf(out, n, "less than %llu bytes moved in %.0f s (a stalled or dripping "
			 "transfer)", (unsigned long long)w->min_bytes, w->window_s);
		break;
	case KF_HTTP_DEADLINE:
		snprintf(out, n, "not finished within its time limit");
		break;
	default:
		snprintf(out, n, "aborted");
		break;
	}
	return out;
}

bool kf_http_host_is_loopback(const char *hostport)
{
	char host[256];
	size_t n;

	if (!hostport)
		return false;
	if (hostport[0] == '[') {
		const char *e = strchr(hostport, ']');
		if (!e)
			return false;
		n = (size_t)(e - hostport - 1);
		if (n >= sizeof(host))
			return false;
		memcpy(host, hostport + 1, n);
		host[n] = '\0';
		return strcmp(host, "::1") == 0;
	}
	n = strcspn(hostport, ":/?#");
	if (n >= sizeof(host))
		return false;
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (strncmp(host, "127.", 4) == 0) {
		unsigned a, b, c, d;
		char extra;
		return sscanf(host, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &extra) == 4 && b < 256 &&
		       c < 256 && d < 256;
	}
	return false;
}

/* The authority of an absolute URL (after "scheme://", past any userinfo), or NULL. */
static const char *url_authority(const char *url)
{
	const char *p = strstr(url, "://"), *at, *end;

	if (!p)
		return NULL;
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	return at ? at + 1 : p;
}

bool kf_http_url_is_loopback(const char *url)
{
	const char *a;

	if (!url)
		return false;
	a = url_authority(url);
	return kf_http_host_is_loopback(a ? a : url);
}

bool kf_http_redirect_allowed(const char *from_url, const char *location)
{
	const char *colon;
	size_t sl;

	if (!location)
		return false;
	while (*location == ' ' || *location == '\t')
		location++;
	colon = strchr(location, ':');
	sl = strcspn(location, ":/?#");
	if (!colon || (size_t)(colon - location) != sl || sl == 0)
		return true;  /* relative or scheme-relative: same scheme as the request */
	if (sl == 5 && strncasecmp(location, "https", 5) == 0)
		return true;
	if (sl != 4 || strncasecmp(location, "http", 4) != 0)
		return false;
	/* plain http: fine from http, a downgrade from https unless it stays on loopback */
	if (from_url && strncasecmp(from_url, "https:", 6) == 0)
		return kf_http_url_is_loopback(location);
	return true;
}

bool kf_http_can_share_tls_sessions(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	return v && v->version_num >= 0x080a00 && v->ssl_version &&
	       strncmp(v->ssl_version, "OpenSSL", 7) == 0;
}

int kf_http_easy_setup(CURL *h, const struct kf_http_opts *o)
{
	static const struct kf_http_opts none;
	CURLcode c = CURLE_OK;

	if (!o)
		o = &none;
#define SET(opt, val)                                   \
	do {                                            \
		if (c == CURLE_OK)                      \
			c = curl_easy_setopt(h, opt, val); \
	} while (0)
	if (o->url)
		SET(CURLOPT_URL, o->url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, o->allow_http ? "http,https" : "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, o->allow_http ? "http,https" : "https");
#else
	SET(CURLOPT_PROTOCOLS, o->allow_http ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)
					      : (long)CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, o->allow_http ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)
						    : (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, o->max_redirects > 0 ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, (long)(o->max_redirects > 0 ? o->max_redirects : 0));
	SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->ca_blob)
		SET(CURLOPT_CAINFO_BLOB, o->ca_blob);
	if (o->ca_only && (o->ca_file || o->ca_blob))
		SET(CURLOPT_CAPATH, (char *)NULL);
	if (o->direct) {
		SET(CURLOPT_PROXY, "");  /* not even the environment's proxy */
		SET(CURLOPT_NOPROXY, "*");
	} else {
		/* without CURLOPT_PROXY libcurl reads http_proxy/https_proxy/no_proxy itself */
		if (o->proxy && *o->proxy)
			SET(CURLOPT_PROXY, o->proxy);
		if (o->no_proxy)
			SET(CURLOPT_NOPROXY, o->no_proxy);
		SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
		SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
		if (o->proxy_ca_file)
			SET(CURLOPT_PROXY_CAINFO, o->proxy_ca_file);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms > 0 ? o->connect_timeout_ms
								 : DEFAULT_CONNECT_MS);
	SET(CURLOPT_USERAGENT, "k3sforge/" KF_VERSION);
	SET(CURLOPT_TCP_NODELAY, 1L);
	if (o->errbuf) {
		o->errbuf[0] = '\0';
		SET(CURLOPT_ERRORBUFFER, o->errbuf);
	}
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, o->watch);
	SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
	return c == CURLE_OK ? 0 : KF_ECONFIG;
}

CURL *kf_http_easy_new(const struct kf_http_opts *o)
{
	CURL *h = curl_easy_init();

	if (h && kf_http_easy_setup(h, o) != 0) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}
