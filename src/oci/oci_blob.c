/* Blobs on a registry (see oci.c): HEAD, streamed GET through a bounded ring buffer hashed on
 * the way (blob_reader), upload (monolithic or chunked), cross-repository mount, copy. */
#include "k3sforge/oci.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/digest.h"
#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#include "oci_internal.h"

/* ---------------------------------------------------------------- blobs */

int kf_oci_blob_head(struct kf_oci_registry *r, const char *repo, const char *digest,
		     int64_t *size, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = kf_oci_mkurl(r, "/v2/%s/blobs/%s", repo, digest);
	char *scope = kf_oci_scope_for(r, repo);
	int rc;

	kf_oci_resp_init(&rs, 0);
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
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 404)
		rc = kf_err_set(err, KF_ENOTFOUND, "blob %s not in %s/%s", digest, r->name, repo);
	else if (rs.status == 301 || rs.status == 302 || rs.status == 303 || rs.status == 307 ||
		 rs.status == 308) {
		/* served from elsewhere (object storage, a CDN): present, size unknown here */
		if (size)
			*size = -1;
	} else if (rs.status != 200)
		rc = kf_oci_status_err(r, &rs, err, "HEAD blob");
	else if (size)
		*size = rs.content_length;
out:
	kf_oci_resp_free(&rs);
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

	if ((br->hdr_over = kf_oci_header_bound(&br->hdr_bytes, p, n)))
		return 0;
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		br->hdr_bytes = n;
		return n;
	}
	curl_easy_getinfo(br->easy, CURLINFO_RESPONSE_CODE, &st);
	if (st >= 300 && st < 400 && (loc = kf_oci_header_value(p, n, "Location"))) {
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
	v = kf_oci_header_value(p, n, "Retry-After");
	ch = kf_oci_header_value(p, n, "WWW-Authenticate");

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
	if (kf_oci_setup_easy(br->r, br->easy, br->errbuf, &br->watch, 0))
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
	char *scope = kf_oci_scope_for(r, repo);

	memset(br, 0, sizeof(*br));
	br->r = r;
	br->err = err;
	br->size = size;
	br->cap = RING_SIZE;
	/* no HEAD first (a round trip per blob on a far registry): a 401 on the GET itself is
	 * answered, a size that differs from the descriptor is caught while streaming */
	br->scope = scope;
	br->auth = kf_oci_auth_header(r, scope);
	br->url = kf_oci_mkurl(r, "/v2/%s/blobs/%s", repo, digest);
	br->ring = malloc(br->cap);
	if ((br->slot = kf_oci_slot_take(r)) && !br->slot->rmulti)
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
		kf_oci_slot_give(br->r, br->slot);
	free(br->refused);
	curl_slist_free_all(br->hl);
	kf_oci_free_secret(br->auth);
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
					if ((arc = kf_oci_authenticate(br->r, br->challenge,
									       br->scope, br->err)) != 0)
						return arc;
					kf_oci_free_secret(br->auth);
					br->auth = kf_oci_auth_header(br->r, br->scope);
					if (reader_start(br))
						return kf_err_set(br->err, KF_ENOMEM, "out of memory");
					continue;
				}
				if ((st == 429 || st >= 500) && br->attempts < br->r->max_retries) {
					kf_debug("GET %s: HTTP %ld; retrying", br->url, st);
					kf_oci_backoff(br->attempts++, br->retry_after);
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
								  : kf_oci_curl_code_err(br->result),
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
				kf_oci_backoff(br->attempts++, 0);
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
	char *url = kf_oci_location_url(r, loc, NULL);

	kf_oci_resp_init(&rs, 0);
	if (url) {
		q.method = "DELETE";
		q.url = url;
		q.scope = scope;
		q.no_retry = true;
		kf_oci_request(r, &q, &rs, &e);
	}
	kf_oci_resp_free(&rs);
	free(url);
}

int kf_oci_blob_upload(struct kf_oci_registry *r, const char *repo, const char *digest,
		       uint64_t size, kf_oci_source_fn source, void *ud, const char *location,
		       struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	struct verifier v = { 0 };
	char *scope = kf_oci_scope_for(r, repo), *loc = NULL, *url = NULL, *dq = NULL;
	uint64_t chunk;
	int rc = 0;

	kf_oci_resp_init(&rs, 0);
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
		url = kf_oci_mkurl(r, "/v2/%s/blobs/uploads/", repo);
		q.method = "POST";
		q.url = url;
		q.scope = scope;
		if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
			goto out;
		if (rs.status != 202 || !rs.location) {
			rc = kf_oci_status_err(r, &rs, err, "POST blob upload");
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
			url = kf_oci_location_url(r, loc, NULL);
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
			rc = kf_oci_request(r, &q, &rs, err);
			if (v.rc) {
				rc = v.rc;
				*err = v.own;
				goto fail;
			}
			if (rc)
				goto fail;
			if (rs.status != 202 || !rs.location) {
				rc = kf_oci_status_err(r, &rs, err, "PATCH blob chunk");
				goto fail;
			}
			free(loc);
			loc = rs.location;
			rs.location = NULL;
			start = end;
		}
		free(url);
		url = kf_oci_location_url(r, loc, dq);
		memset(&q, 0, sizeof(q));
		q.method = "PUT";
		q.url = url;
		q.scope = scope;
		q.headers[0] = "Content-Type: application/octet-stream";
		q.no_retry = true;
	} else {
		free(url);
		url = kf_oci_location_url(r, loc, dq);
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
	rc = kf_oci_request(r, &q, &rs, err);
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
		rc = kf_oci_status_err(r, &rs, err, "PUT blob (closing a chunked upload)");
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
		rc = kf_oci_status_err(r, &rs, err, "PUT blob");
		kf_err_wrap(err, "%s@%s", repo, digest);
		goto fail;
	}
	goto out;
fail:
	delete_session(r, loc, scope);
out:
	kf_sha256_free(v.h);
	kf_oci_resp_free(&rs);
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
	char *url = kf_oci_mkurl(r, "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest,
				 from_repo);
	char *scope = NULL;
	size_t sl = strlen(repo) + strlen(from_repo) + 64;
	int rc = 0;

	*mounted = false;
	if (location)
		*location = NULL;
	kf_oci_resp_init(&rs, 0);
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
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 201) {
		*mounted = true;
	} else if (rs.status == 202 && rs.location) {
		if (location)
			*location = strdup(rs.location);
		else
			delete_session(r, rs.location, scope);
	} else {
		rc = kf_oci_status_err(r, &rs, err, "POST blob mount");
	}
out:
	kf_oci_resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

