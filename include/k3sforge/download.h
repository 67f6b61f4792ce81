/* kf_download: fetches one URL into one file with libcurl, the way large release assets need it:
 * SHA-256 computed while streaming and checked against an expected digest, the partial data kept
 * as `<file>.part` and resumed with an HTTP Range request on the next attempt or run, bounded
 * retries with backoff on connection errors, 5xx and 429 (Retry-After honoured), a stall timeout,
 * bounded redirects, TLS always verified (system store, or a custom CA file), proxies from the
 * environment (http_proxy/https_proxy/no_proxy, read by libcurl) or given explicitly. The final
 * name only ever holds a complete, verified file. */
#ifndef K3SFORGE_DOWNLOAD_H
#define K3SFORGE_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "k3sforge/digest.h"
#include "k3sforge/err.h"

/* Environment variable naming a PEM CA bundle to trust for downloads (corporate TLS proxies). */
#define KF_DOWNLOAD_CA_ENV "K3SFORGE_CA_BUNDLE"

struct kf_download_opts {
	const char *url;             /* http:// or https:// */
	const char *dest;            /* final path; partial data lives in dest + ".part" */
	const char *expected_sha256; /* 64 hex chars, or NULL: no check (digest still reported) */
	const char *label;           /* name in progress and messages; NULL = basename of dest */
	mode_t mode;                 /* final file mode; 0 = 0644 */
	int stall_timeout_s;         /* abort an attempt when no byte arrives for this long; 0 = 60 */
	int connect_timeout_s;       /* 0 = 30 */
	int max_attempts;            /* 0 = 5; 1 = no retry */
	int max_redirects;           /* 0 = 10 */
	long retry_base_ms;          /* first backoff, doubled per attempt; 0 = 1000 */
	long retry_max_ms;           /* cap on one wait, also on Retry-After; 0 = 60000 */
	uint64_t max_bytes;          /* refuse larger files; 0 = 64 GiB */
	const char *ca_file;         /* PEM CA bundle trusted in addition to the system CA directory;
	                                NULL = $K3SFORGE_CA_BUNDLE, else the system store only */
	const char *proxy;           /* explicit proxy URL; NULL = libcurl's environment handling */
	const char *no_proxy;        /* explicit no-proxy list; NULL = $no_proxy */
	bool no_progress;            /* no progress line/events */
};

struct kf_download_result {
	char sha256[KF_SHA256_HEX_LEN + 1]; /* digest of the final file */
	uint64_t size;
	int attempts;                /* transfer attempts made */
	uint64_t resumed_from;       /* bytes taken over from an existing .part (0 = fresh) */
	bool restarted;              /* the server ignored Range (or the range was stale) */
	long http_status;            /* status of the last response */
};

/* Downloads opts->url to opts->dest. 0 on success (dest complete and verified, .part gone).
 * Errors: KF_ENET unreachable host / connection failures (URL in the message), KF_EHTTP HTTP
 * status >= 400 (status + URL) or too many redirects, KF_ETLS certificate problems, KF_ETIMEOUT
 * stalled transfer, KF_EDIGEST mismatch (file deleted; names file, expected and actual digest),
 * KF_EIO disk full / write errors (the .part is kept for a later resume), KF_ELIMIT too large,
 * KF_EINTR interrupted. res may be NULL. */
int kf_download_file(const struct kf_download_opts *opts, struct kf_download_result *res,
		     struct kf_err *err);

/* Copies a local file to dest the same way (streamed through SHA-256 into dest.part, checked
 * against expected_sha256 when not NULL, renamed into place with mode). Used for offline
 * artifact folders. sha256_out (may be NULL) receives the digest. */
int kf_download_copy_verified(const char *src, const char *dest, const char *expected_sha256,
			      mode_t mode, char sha256_out[KF_SHA256_HEX_LEN + 1],
			      struct kf_err *err);

/* Percent-encodes one URL path segment (RFC 3986 unreserved characters stay; '+' → %2B).
 * Caller frees; NULL on allocation failure. */
char *kf_url_escape_segment(const char *s);

#endif
