/* Resumable, verified downloads with libcurl. One attempt is one curl_easy_perform with a
 * `Range: bytes=<have>-` header when a .part exists; the callbacks below decide per response
 * what to do with the body (append, restart from zero when Range was ignored, discard error
 * pages), and the attempt loop classifies the outcome as done, retry (with backoff) or fail. */
#include "k3sforge/download.h"
#include "k3sforge/fs.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"

#define DL_DEFAULT_STALL_S 60
#define DL_DEFAULT_CONNECT_S 30
#define DL_DEFAULT_ATTEMPTS 5
#define DL_DEFAULT_REDIRECTS 10
#define DL_DEFAULT_RETRY_BASE_MS 1000L
#define DL_DEFAULT_RETRY_MAX_MS 60000L
#define DL_DEFAULT_MAX_BYTES ((uint64_t)64 << 30)
#define DL_MAX_DISCARD ((size_t)1 << 20)   /* error/redirect body bytes we read and drop */
#define DL_IO_CHUNK ((size_t)1 << 20)
#define DL_MAX_HEADERS ((size_t)256 << 10) /* header bytes of one response */

/* Outcome of one attempt. */
enum attempt_result { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_FAIL };

struct dl {
	const struct kf_download_opts *o;
	const char *label;
	char *part;
	int fd;
	struct kf_sha256 *h;
	uint64_t have;          /* bytes in .part, all of them hashed */
	uint64_t total;         /* full size when known, else 0 */
	uint64_t max_bytes;
	int stall_s;
	struct kf_progress *prog;
	uint64_t resumed_from;
	bool restarted;
	int attempts;

	/* per response (reset on every status line) */
	long status;
	char reason[96];
	bool crange, crange_star;
	uint64_t crange_start, crange_total;
	bool body_started;
	size_t discarded;

	/* per attempt */
	CURL *easy;
	struct kf_http_watch watch; /* interrupt, progress window */
	size_t hdr_bytes;
	char *refused;          /* a redirect target refused (https -> http downgrade) */
	bool hdr_over;
	bool want_restart;
	int abort_code;        /* KF_EIO / KF_ELIMIT set by the write path */
	int write_errno;
};

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The directory part of a path, for "free space in DIR" (static buffer owned by the caller). */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *s = strrchr(path, '/');

	if (!s)
		snprintf(out, len, ".");
	else if (s == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(s - path), path);
}

static int set_write_error(struct kf_err *err, const char *path, int e, uint64_t have,
			   uint64_t total)
{
	char dir[PATH_MAX], need[32], kept[32];

	if (e == ENOSPC || e == EDQUOT) {
		dir_of(path, dir, sizeof(dir));
		kf_size_format(have, kept, sizeof(kept));
		if (total > have) {
			kf_size_format(total - have, need, sizeof(need));
			return kf_err_set(err, KF_EIO,
					  "disk full writing %s: free at least %s in %s and run again "
					  "(the %s already downloaded are kept and the download resumes)",
					  path, need, dir, kept);
		}
		return kf_err_set(err, KF_EIO,
				  "disk full writing %s: free space in %s and run again (the %s "
				  "already downloaded are kept and the download resumes)",
				  path, dir, kept);
	}
	return kf_err_set(err, KF_EIO, "write error on %s: %s", path, strerror(e));
}

static int reset_hash(struct dl *d)
{
	kf_sha256_free(d->h);
	d->h = kf_sha256_new();
	return d->h ? 0 : KF_ENOMEM;
}

/* Throws away the partial data: the next bytes start the file again. */
static int restart_from_zero(struct dl *d, struct kf_err *err)
{
	if (ftruncate(d->fd, 0) != 0)
		return kf_err_set(err, KF_EIO, "%s: truncate: %s", d->part, strerror(errno));
	d->have = 0;
	d->resumed_from = 0;
	if (reset_hash(d) != 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	return 0;
}

/* Opens (creating) the .part and hashes what a previous attempt or run left in it. */
static int open_part(struct dl *d, bool fresh, struct kf_err *err)
{
	struct stat st;
	unsigned char *buf = NULL;
	uint64_t left;
	int rfd = -1, r = 0;

	/* The .part's name is known in advance (it is what a later run resumes), so it is
	 * opened without following a symlink planted there, and only a regular file is used. */
	d->fd = open(d->part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->fd < 0 && errno == ELOOP)
		return kf_err_set(err, KF_EIO, "%s is a symbolic link: k3sforge does not write "
				  "through one; remove it and run again", d->part);
	if (d->fd < 0)
		return kf_err_set(err, KF_EIO, "cannot create %s: %s", d->part, strerror(errno));
	if (reset_hash(d) != 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	d->have = 0;
	if (fstat(d->fd, &st) != 0)
		return kf_err_set(err, KF_EIO, "%s: %s", d->part, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kf_err_set(err, KF_EIO, "%s is not a regular file: remove it and run again",
				  d->part);
	if (st.st_size == 0 || fresh || (uint64_t)st.st_size > d->max_bytes) {
		if (st.st_size > 0 && ftruncate(d->fd, 0) != 0)
			return kf_err_set(err, KF_EIO, "%s: truncate: %s", d->part, strerror(errno));
		return 0;
	}
	rfd = open(d->part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf = malloc(DL_IO_CHUNK);
	if (rfd < 0 || !buf) {
		r = rfd < 0 ? kf_err_set(err, KF_EIO, "%s: %s", d->part, strerror(errno))
			    : kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	left = (uint64_t)st.st_size;
	while (left) {
		size_t want = left < DL_IO_CHUNK ? (size_t)left : DL_IO_CHUNK;
		ssize_t n = read(rfd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		kf_sha256_update(d->h, buf, (size_t)n);
		d->have += (uint64_t)n;
		left -= (uint64_t)n;
	}
	if (left) {
		/* Could not read it back: start clean rather than trust it. */
		r = restart_from_zero(d, err);
		goto out;
	}
	d->resumed_from = d->have;
	if (d->have)
		kf_info("resuming %s from %llu bytes already in %s", d->label,
			(unsigned long long)d->have, d->part);
out:
	free(buf);
	if (rfd >= 0)
		close(rfd);
	return r;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n;
	char line[512];
	size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;

	if ((d->hdr_bytes += len) > DL_MAX_HEADERS) {
		d->hdr_over = true;
		return 0;
	}
	memcpy(line, buf, l);
	line[l] = '\0';
	while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
		line[--l] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		char *sp = strchr(line, ' ');
		d->status = sp ? strtol(sp + 1, &sp, 10) : 0;
		while (sp && *sp == ' ')
			sp++;
		snprintf(d->reason, sizeof(d->reason), "%s", sp ? sp : "");
		d->crange = d->crange_star = false;
		d->crange_start = d->crange_total = 0;
		d->body_started = false;
		d->discarded = 0;
		d->hdr_bytes = len;
	} else if (d->status >= 300 && d->status < 400 && len > 9 &&
		   strncasecmp(buf, "location:", 9) == 0) {
		/* libcurl follows this next: refuse an https -> http downgrade before it does */
		char *from = NULL, *loc;
		const char *v = buf + 9, *e = buf + len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
			e--;
		if (!(loc = strndup(v, (size_t)(e - v))))
			return 0;
		curl_easy_getinfo(d->easy, CURLINFO_EFFECTIVE_URL, &from);
		if (!kf_http_redirect_allowed(from ? from : d->o->url, loc)) {
			free(d->refused);
			d->refused = loc;
			return 0;
		}
		free(loc);
	} else if (strncasecmp(line, "content-range:", 14) == 0) {
		const char *p = line + 14;
		unsigned long long a = 0, b = 0, t = 0;
		while (*p == ' ')
			p++;
		if (sscanf(p, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			d->crange = true;
			d->crange_start = a;
			d->crange_total = t;
		} else if (sscanf(p, "bytes */%llu", &t) == 1) {
			d->crange_star = true;
			d->crange_total = t;
		}
	}
	return len;
}

/* First body bytes of a 2xx response: decide whether they continue the .part. */
static int begin_body(struct dl *d, CURL *h)
{
	curl_off_t cl = -1;
	struct kf_err e;

	if (d->status == 206) {
		if (!d->crange || d->crange_start != d->have) {
			kf_warn("%s: server answered a range we did not ask for; starting over",
				d->label);
			d->want_restart = true;
			return -1;
		}
		d->total = d->crange_total;
	} else {
		if (d->have > 0) {
			kf_info("%s: the server ignored the Range request; downloading from the start",
				d->label);
			if (restart_from_zero(d, &e) != 0) {
				d->abort_code = KF_EIO;
				d->write_errno = errno;
				return -1;
			}
			d->restarted = true;
		}
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		d->total = cl > 0 ? (uint64_t)cl : 0;
	}
	if (d->total > d->max_bytes) {
		d->abort_code = KF_ELIMIT;
		return -1;
	}
	if (!d->o->no_progress) {
		if (!d->prog) {
			char what[300];
			snprintf(what, sizeof(what), "download %s", d->label);
			d->prog = kf_progress_new(what, d->total, 0);
		} else {
			kf_progress_set_total(d->prog, d->total, 0);
		}
	}
	return 0;
}

struct write_ctx {
	struct dl *d;
	CURL *h;
};

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
	struct write_ctx *w = ud;
	struct dl *d = w->d;
	size_t len = size * n;

	if (d->status < 200 || d->status >= 300) {
		/* Body of an error or redirect answer: not file content. */
		d->discarded += len;
		return d->discarded > DL_MAX_DISCARD ? 0 : len;
	}
	if (!d->body_started) {
		d->body_started = true;
		if (begin_body(d, w->h) != 0)
			return 0;
	}
	if (d->have + len > d->max_bytes) {
		d->abort_code = KF_ELIMIT;
		return 0;
	}
	if (write_all(d->fd, ptr, len) != 0) {
		d->write_errno = errno;
		d->abort_code = KF_EIO;
		/* Drop any bytes of this chunk that did land, so the .part stays what we hashed. */
		if (ftruncate(d->fd, (off_t)d->have) != 0)
			kf_debug("%s: truncate after write error: %s", d->part, strerror(errno));
		return 0;
	}
	kf_sha256_update(d->h, ptr, len);
	d->have += len;
	kf_progress_update(d->prog, d->have, 0);
	return len;
}

static bool curl_is_tls_error(CURLcode c)
{
	switch (c) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static bool curl_is_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long s)
{
	return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

static const char *errtext(const char *ebuf, CURLcode c)
{
	return ebuf[0] ? ebuf : curl_easy_strerror(c);
}

/* Runs one attempt and classifies it. On ATTEMPT_RETRY/ATTEMPT_FAIL err holds the reason;
 * *retry_after_ms receives the server's Retry-After (or -1). */
static enum attempt_result attempt(struct dl *d, CURL *h, long *retry_after_ms,
				   struct kf_err *err)
{
	char range[48], ebuf[CURL_ERROR_SIZE];
	struct write_ctx w = { d, h };
	curl_off_t ra = -1;
	CURLcode c;
	const char *url = d->o->url;

	*retry_after_ms = -1;
	d->status = 0;
	d->reason[0] = '\0';
	d->body_started = false;
	d->discarded = 0;
	d->crange = d->crange_star = false;
	d->want_restart = d->hdr_over = false;
	d->hdr_bytes = 0;
	free(d->refused);
	d->refused = NULL;
	d->abort_code = 0;
	d->write_errno = 0;
	d->easy = h;
	/* at least window * KF_HTTP_MIN_RATE bytes every stall window: a drip cannot hold an
	 * attempt open; no overall limit (release assets are large) */
	kf_http_watch_arm(&d->watch, (double)d->stall_s, 0);
	ebuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	if (d->have) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)d->have);
		curl_easy_setopt(h, CURLOPT_RANGE, range);
	} else {
		curl_easy_setopt(h, CURLOPT_RANGE, NULL);
	}
	d->attempts++;
	c = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		*retry_after_ms = (long)(ra > 86400 ? 86400 : ra) * 1000L;

	if (c == CURLE_ABORTED_BY_CALLBACK && d->watch.stop == KF_HTTP_INTERRUPTED) {
		kf_err_set(err, KF_EINTR, "download of %s interrupted (partial data kept in %s)",
			   url, d->part);
		return ATTEMPT_FAIL;
	}
	if (d->abort_code == KF_EIO) {
		set_write_error(err, d->part, d->write_errno, d->have, d->total);
		return ATTEMPT_FAIL;
	}
	if (d->abort_code == KF_ELIMIT) {
		kf_err_set(err, KF_ELIMIT, "%s is larger than the limit of %llu bytes; refusing it",
			   url, (unsigned long long)d->max_bytes);
		return ATTEMPT_FAIL;
	}
	if (d->refused) {
		kf_err_set(err, KF_EHTTP, "%s redirected to %s: refused (an https download may not "
			   "continue over plain http; only loopback targets may)", url, d->refused);
		return ATTEMPT_FAIL;
	}
	if (d->hdr_over) {
		kf_err_set(err, KF_ELIMIT, "%s: the response headers are longer than %zu bytes; "
			   "refusing the answer", url, DL_MAX_HEADERS);
		return ATTEMPT_FAIL;
	}
	if (c == CURLE_ABORTED_BY_CALLBACK && d->watch.stop != KF_HTTP_RUNNING) {
		char why[160];
		kf_err_set(err, KF_ETIMEOUT,
			   "%s from %s (stalled transfer; partial data kept in %s, a rerun resumes it)",
			   kf_http_watch_reason(&d->watch, why, sizeof(why)), url, d->part);
		return ATTEMPT_RETRY;
	}
	if (d->want_restart) {
		if (restart_from_zero(d, err) != 0)
			return ATTEMPT_FAIL;
		d->restarted = true;
		kf_err_set(err, KF_EHTTP, "server sent an unexpected range for %s", url);
		return ATTEMPT_RETRY;
	}
	if (c == CURLE_OK || (c == CURLE_WRITE_ERROR && d->discarded > DL_MAX_DISCARD)) {
		long s = d->status;
		if (s >= 200 && s < 300) {
			if (!d->body_started && s != 206 && d->have > 0) {
				/* Empty 200 answer to a Range request: the file is empty. */
				if (restart_from_zero(d, err) != 0)
					return ATTEMPT_FAIL;
				d->restarted = true;
			}
			if (d->total && d->have != d->total) {
				kf_err_set(err, KF_ENET, "transfer of %s ended after %llu of %llu bytes",
					   url, (unsigned long long)d->have,
					   (unsigned long long)d->total);
				return ATTEMPT_RETRY;
			}
			return ATTEMPT_DONE;
		}
		if (s == 416) {
			if (d->crange_star && d->have > 0 && d->crange_total == d->have) {
				d->total = d->have;
				return ATTEMPT_DONE;  /* the .part already holds the whole file */
			}
			if (restart_from_zero(d, err) != 0)
				return ATTEMPT_FAIL;
			d->restarted = true;
			kf_err_set(err, KF_EHTTP, "HTTP 416 (range not satisfiable) for %s; the partial "
				   "data did not fit the remote file and was dropped", url);
			*retry_after_ms = 0;
			return ATTEMPT_RETRY;
		}
		if (s >= 300 && s < 400) {
			kf_err_set(err, KF_EHTTP, "HTTP %ld %s for %s: a redirect without a usable "
				   "Location", s, d->reason, url);
			return ATTEMPT_FAIL;
		}
		kf_err_set(err, KF_EHTTP, "HTTP %ld%s%s for %s%s", s, d->reason[0] ? " " : "",
			   d->reason, url,
			   s == 404 ? " (not found: check the URL, the version and the release)"
			   : s == 401 || s == 403 ? " (access denied)" : "");
		return status_retryable(s) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
	}
	if (c == CURLE_TOO_MANY_REDIRECTS) {
		kf_err_set(err, KF_EHTTP, "too many redirects (more than %d) for %s",
			   d->o->max_redirects > 0 ? d->o->max_redirects : DL_DEFAULT_REDIRECTS, url);
		return ATTEMPT_FAIL;
	}
	if (curl_is_tls_error(c)) {
		kf_err_set(err, KF_ETLS,
			   "TLS verification failed for %s: %s (the server certificate is not trusted; "
			   "behind a TLS-inspecting proxy give its CA bundle with %s=<file.pem>; "
			   "verification is never turned off)", url, errtext(ebuf, c), KF_DOWNLOAD_CA_ENV);
		return ATTEMPT_FAIL;
	}
	if (c == CURLE_URL_MALFORMAT || c == CURLE_UNSUPPORTED_PROTOCOL) {
		kf_err_set(err, KF_ECONFIG, "cannot download %s: %s (only http:// and https:// URLs "
			   "are supported)", url, errtext(ebuf, c));
		return ATTEMPT_FAIL;
	}
	if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	    c == CURLE_COULDNT_RESOLVE_PROXY || (c == CURLE_OPERATION_TIMEDOUT && !d->status)) {
		kf_err_set(err, KF_ENET, "cannot reach the host of %s: %s (check the network and the "
			   "URL; behind a proxy set https_proxy/http_proxy)", url, errtext(ebuf, c));
		return ATTEMPT_RETRY;
	}
	kf_err_set(err, KF_ENET, "download of %s failed: %s", url, errtext(ebuf, c));
	return curl_is_retryable(c) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
}

static void sleep_interruptible(long ms)
{
	double end = kf_now_mono() + (double)ms / 1000.0;

	while (!kf_interrupted()) {
		double left = end - kf_now_mono();
		if (left <= 0)
			break;
		kf_sleep_ms(left > 0.1 ? 100 : (long)(left * 1000) + 1);
	}
}

static CURL *make_handle(struct dl *d, struct kf_err *err)
{
	const struct kf_download_opts *o = d->o;
	const char *ca = o->ca_file;
	CURL *h;

	if (!ca || !*ca) {
		ca = getenv(KF_DOWNLOAD_CA_ENV);
		if (ca && !*ca)
			ca = NULL;
	}
	if (ca && access(ca, R_OK) != 0) {
		kf_err_set(err, KF_ECONFIG, "CA bundle %s%s cannot be read: %s", ca,
			   o->ca_file ? "" : " (from " KF_DOWNLOAD_CA_ENV ")", strerror(errno));
		return NULL;
	}
	{
		struct kf_http_opts ho = { 0 };
		ho.url = o->url;
		ho.ca_file = ca;
		ho.proxy_ca_file = ca;   /* the CA bundle is for TLS-inspecting proxies too */
		ho.proxy = o->proxy;
		ho.no_proxy = o->no_proxy;
		ho.allow_http = true;
		ho.max_redirects = o->max_redirects > 0 ? o->max_redirects : DL_DEFAULT_REDIRECTS;
		ho.connect_timeout_ms = 1000L * (o->connect_timeout_s > 0 ? o->connect_timeout_s
									 : DL_DEFAULT_CONNECT_S);
		ho.watch = &d->watch;
		h = kf_http_easy_new(&ho);
	}
	if (!h) {
		kf_err_set(err, KF_ENOMEM, "cannot initialise libcurl");
		return NULL;
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	return h;
}

/* Hash check and rename into place. On a mismatch the .part is deleted. */
static int finish(struct dl *d, struct kf_download_result *res, struct kf_err *err)
{
	char hex[KF_SHA256_HEX_LEN + 1];
	mode_t mode = d->o->mode ? d->o->mode : 0644;

	kf_sha256_final_hex(d->h, hex);
	d->h = NULL;
	if (d->o->expected_sha256 && strcasecmp(hex, d->o->expected_sha256) != 0) {
		close(d->fd);
		d->fd = -1;
		unlink(d->part);
		return kf_err_set(err, KF_EDIGEST,
				  "sha256 mismatch for %s: expected %s, got %s (downloaded from %s; the "
				  "file was deleted)", d->o->dest, d->o->expected_sha256, hex, d->o->url);
	}
	if (fchmod(d->fd, mode) != 0 || fsync(d->fd) != 0) {
		int e = errno;
		return set_write_error(err, d->part, e, d->have, d->total);
	}
	if (close(d->fd) != 0) {
		d->fd = -1;
		return set_write_error(err, d->part, errno, d->have, d->total);
	}
	d->fd = -1;
	if (rename(d->part, d->o->dest) != 0)
		return kf_err_set(err, KF_EIO, "cannot rename %s to %s: %s", d->part, d->o->dest,
				  strerror(errno));
	fsync_dir_of(d->o->dest);
	if (res) {
		memcpy(res->sha256, hex, sizeof(hex));
		res->size = d->have;
	}
	return 0;
}

/* One full run: open the .part (fresh or resuming), attempts with backoff, then finish. */
static int run(struct dl *d, bool fresh, struct kf_download_result *res, struct kf_err *err)
{
	const struct kf_download_opts *o = d->o;
	int max_attempts = o->max_attempts > 0 ? o->max_attempts : DL_DEFAULT_ATTEMPTS;
	long base = o->retry_base_ms > 0 ? o->retry_base_ms : DL_DEFAULT_RETRY_BASE_MS;
	long cap = o->retry_max_ms > 0 ? o->retry_max_ms : DL_DEFAULT_RETRY_MAX_MS;
	CURL *h = NULL;
	int r, n;

	if ((r = open_part(d, fresh, err)) != 0)
		goto out;
	if (!(h = make_handle(d, err))) {
		r = err->code ? err->code : KF_EFAIL;
		goto out;
	}
	for (n = 1;; n++) {
		long ra, wait;
		enum attempt_result ar = attempt(d, h, &ra, err);
		if (res)
			res->http_status = d->status;
		if (ar == ATTEMPT_DONE)
			break;
		if (ar == ATTEMPT_FAIL || n >= max_attempts) {
			if (ar == ATTEMPT_RETRY && n > 1)
				kf_err_wrap(err, "after %d attempts", n);
			r = err->code ? err->code : KF_EFAIL;
			goto out;
		}
		wait = base;
		for (int i = 1; i < n && wait < cap; i++)
			wait *= 2;
		if (ra >= 0)
			wait = ra;
		if (wait > cap)
			wait = cap;
		kf_warn("%s: %s; retrying in %.1f s (attempt %d of %d)", d->label, err->msg,
			(double)wait / 1000.0, n + 1, max_attempts);
		sleep_interruptible(wait);
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "download of %s interrupted (partial data kept in "
				       "%s)", o->url, d->part);
			goto out;
		}
	}
	r = finish(d, res, err);
out:
	if (h)
		curl_easy_cleanup(h);
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	return r;
}

int kf_download_file(const struct kf_download_opts *opts, struct kf_download_result *res,
		     struct kf_err *err)
{
	struct kf_err local;
	struct dl d;
	size_t n;
	int r;

	if (!err)
		err = &local;  /* the attempt loop reads the reason back */
	if (!opts || !opts->url || !opts->dest)
		return kf_err_set(err, KF_EUSAGE, "download: url and dest are required");
	if (opts->expected_sha256 && !kf_sha256_valid_hex(opts->expected_sha256))
		return kf_err_set(err, KF_ECONFIG, "expected sha256 for %s is not 64 hex characters: "
				  "%s", opts->dest, opts->expected_sha256);
	memset(&d, 0, sizeof(d));
	d.o = opts;
	d.fd = -1;
	d.label = opts->label ? opts->label : base_name(opts->dest);
	d.max_bytes = opts->max_bytes ? opts->max_bytes : DL_DEFAULT_MAX_BYTES;
	d.stall_s = opts->stall_timeout_s > 0 ? opts->stall_timeout_s : DL_DEFAULT_STALL_S;
	if (res)
		memset(res, 0, sizeof(*res));
	n = strlen(opts->dest) + sizeof(".part");
	d.part = malloc(n);
	if (!d.part)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	snprintf(d.part, n, "%s.part", opts->dest);

	r = run(&d, false, res, err);
	if (r == KF_EDIGEST && d.resumed_from > 0 && !d.restarted) {
		/* Data from an earlier run may belong to another file version: one clean retry. */
		kf_warn("%s: resumed data did not verify; downloading it again from the start",
			d.label);
		d.resumed_from = 0;
		d.restarted = true;
		kf_err_clear(err);
		r = run(&d, true, res, err);
	}
	if (res) {
		res->attempts = d.attempts;
		res->resumed_from = d.resumed_from;
		res->restarted = d.restarted;
	}
	kf_progress_done(d.prog, r == 0);
	kf_sha256_free(d.h);
	free(d.refused);
	free(d.part);
	if (r == 0)
		kf_debug("downloaded %s (%llu bytes, %d attempt(s))", opts->url,
			 (unsigned long long)(res ? res->size : 0), d.attempts);
	return r;
}

int kf_download_copy_verified(const char *src, const char *dest, const char *expected_sha256,
			      mode_t mode, char sha256_out[KF_SHA256_HEX_LEN + 1],
			      struct kf_err *err)
{
	char *part = NULL, hex[KF_SHA256_HEX_LEN + 1];
	struct kf_progress *prog = NULL;
	struct kf_sha256 *h = NULL;
	unsigned char *buf = NULL;
	uint64_t done = 0;
	struct stat st;
	int in = -1, out = -1, r = 0;
	ssize_t n;

	if (expected_sha256 && !kf_sha256_valid_hex(expected_sha256))
		return kf_err_set(err, KF_ECONFIG, "expected sha256 for %s is not 64 hex characters",
				  dest);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "cannot open %s: %s",
				  src, strerror(errno));
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = kf_err_set(err, KF_EIO, "%s is not a regular file", src);
		goto out;
	}
	/* a fresh unpredictable name next to dest (O_EXCL, never through a symlink) */
	if ((r = kf_fs_temp_open(dest, 0600, &out, &part, err)) != 0)
		goto out;
	h = kf_sha256_new();
	buf = malloc(DL_IO_CHUNK);
	if (!h || !buf) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (st.st_size >= (off_t)DL_IO_CHUNK) {
		char what[300];
		snprintf(what, sizeof(what), "copy %s", base_name(dest));
		prog = kf_progress_new(what, (uint64_t)st.st_size, 0);
	}
	while ((n = read(in, buf, DL_IO_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = kf_err_set(err, KF_EIO, "read error on %s: %s", src, strerror(errno));
			goto out;
		}
		if (write_all(out, buf, (size_t)n) != 0) {
			r = set_write_error(err, part, errno, done, (uint64_t)st.st_size);
			goto out;
		}
		kf_sha256_update(h, buf, (size_t)n);
		done += (uint64_t)n;
		kf_progress_update(prog, done, 0);
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "copy of %s interrupted", src);
			goto out;
		}
	}
	kf_sha256_final_hex(h, hex);
	h = NULL;
	if (expected_sha256 && strcasecmp(hex, expected_sha256) != 0) {
		r = kf_err_set(err, KF_EDIGEST, "sha256 mismatch for %s (copied from %s): expected %s, "
			       "got %s (the copy was deleted)", dest, src, expected_sha256, hex);
		goto out;
	}
	if (fchmod(out, mode ? mode : 0644) != 0 || fsync(out) != 0) {
		r = set_write_error(err, part, errno, done, done);
		goto out;
	}
	if (close(out) != 0) {
		out = -1;
		r = set_write_error(err, part, errno, done, done);
		goto out;
	}
	out = -1;
	if (rename(part, dest) != 0) {
		r = kf_err_set(err, KF_EIO, "cannot rename %s to %s: %s", part, dest, strerror(errno));
		goto out;
	}
	fsync_dir_of(dest);
	if (sha256_out)
		memcpy(sha256_out, hex, sizeof(hex));
out:
	kf_progress_done(prog, r == 0);
	if (out >= 0)
		close(out);
	if (r != 0 && part)
		unlink(part);
	free(part);
	if (in >= 0)
		close(in);
	free(buf);
	kf_sha256_free(h);
	return r;
}

char *kf_url_escape_segment(const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hexd[c >> 4];
			*p++ = hexd[c & 15];
		}
	}
	*p = '\0';
	return out;
}
