/* The registry server seen over HTTP: the health check (GET /v2/ over TLS, answered as a
 * registry answers) and the probe whether a registry takes anonymous pushes (server.c starts
 * and stops it). */
#include "k3sforge/regserver.h"

#include <jansson.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "server_internal.h"

/* ---- health over TLS ---- */

struct health_ctx {
	bool api_header;
	size_t body;
};

static size_t health_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct health_ctx *h = data;
	size_t n = size * nitems;
	const char *name = "docker-distribution-api-version:";
	if (n >= strlen(name) && strncasecmp(buf, name, strlen(name)) == 0)
		h->api_header = true;
	return n;
}

static size_t health_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct health_ctx *h = data;
	size_t n = size * nitems;
	(void)buf;
	h->body += n;
	return h->body > HEALTH_BODY_MAX ? 0 : n;
}

int kf_regserver_health(const char *host, int port, const char *ca_file, int timeout_ms,
			struct kf_err *err)
{
	CURL *c;
	CURLcode cc;
	struct kf_http_opts ho = { 0 };
	struct kf_http_watch w;
	struct health_ctx h = { false, 0 };
	char url[300], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	int r = 0;

	if (strchr(host, ':'))
		snprintf(url, sizeof(url), "https://[%s]:%d/v2/", host, port);
	else
		snprintf(url, sizeof(url), "https://%s:%d/v2/", host, port);
	/* the lab registry: only the lab CA, never through a proxy, one overall limit */
	ho.url = url;
	ho.ca_file = ca_file;
	ho.ca_only = true;
	ho.direct = true;
	ho.connect_timeout_ms = timeout_ms;
	ho.watch = &w;
	ho.errbuf = errbuf;
	kf_http_watch_arm(&w, 0, timeout_ms / 1000.0);
	c = kf_http_easy_new(&ho);
	if (!c)
		return kf_err_set(err, KF_ENOMEM, "cannot initialise libcurl");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, health_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, health_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cc == CURLE_ABORTED_BY_CALLBACK && w.stop == KF_HTTP_INTERRUPTED) {
		r = kf_err_set(err, KF_EINTR, "GET %s: interrupted", url);
	} else if (cc != CURLE_OK) {
		int code = KF_ENET;
		if (cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_ABORTED_BY_CALLBACK)
			code = KF_ETIMEOUT;
		else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
			 cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM)
			code = KF_ETLS;
		r = kf_err_set(err, code, "GET %s: %s", url, errbuf[0] ? errbuf :
			       curl_easy_strerror(cc));
	} else if (status != 200) {
		r = kf_err_set(err, KF_EHTTP, "GET %s answered HTTP %ld, not 200: is it a "
			       "registry without authentication?", url, status);
	} else if (!h.api_header) {
		r = kf_err_set(err, KF_EHTTP, "GET %s answered 200 without a "
			       "Docker-Distribution-Api-Version header: not a registry", url);
	}
	return r;
}
/* ---- does it take pushes? ---- */

struct probe_ctx {
	char location[1024];
	struct kf_buf body;
};

static size_t probe_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct probe_ctx *pc = data;
	size_t n = size * nitems;
	const char *name = "location:";

	if (n > strlen(name) && strncasecmp(buf, name, strlen(name)) == 0) {
		const char *v = buf + strlen(name);
		size_t vl = n - strlen(name);
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(pc->location))
			snprintf(pc->location, sizeof(pc->location), "%.*s", (int)vl, v);
	}
	return n;
}

static size_t probe_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct probe_ctx *pc = data;
	size_t n = size * nitems;

	return kf_buf_append(&pc->body, buf, n) == 0 ? n : 0;
}

/* Ctrl-C ends a probe at once (the libcurl transfer is aborted). */
static int probe_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return kf_interrupted() ? 1 : 0;
}

/* One request to url (method, empty body); status and Location into pc. */
static int probe_request(const char *method, const char *url, const char *ca_file,
			 int timeout_ms, long *status, struct probe_ctx *pc, struct kf_err *err)
{
	CURL *c = curl_easy_init();
	CURLcode cc;
	char errbuf[CURL_ERROR_SIZE] = "";
	int code;

	*status = 0;
	if (!c)
		return kf_err_set(err, KF_ENOMEM, "cannot initialise libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, probe_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, pc);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, pc);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, probe_progress);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (cc == CURLE_OK)
		return 0;
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return kf_err_set(err, KF_EINTR, "interrupted: %s %s", method, url);
	code = cc == CURLE_OPERATION_TIMEDOUT ? KF_ETIMEOUT :
	       cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ? KF_ETLS :
	       KF_ENET;
	return kf_err_set(err, code, "%s %s: %s", method, url, errbuf[0] ? errbuf :
			  curl_easy_strerror(cc));
}

int kf_regserver_push_probe(const char *host, int port, const char *ca_file, const char *repo,
			    int timeout_ms, bool *accepts, struct kf_err *err)
{
	struct probe_ctx pc;
	char base[300], url[1400];
	long status = 0;
	int r;

	*accepts = false;
	memset(&pc, 0, sizeof(pc));
	kf_buf_init(&pc.body, HEALTH_BODY_MAX);
	if (strchr(host, ':'))
		snprintf(base, sizeof(base), "https://[%s]:%d", host, port);
	else
		snprintf(base, sizeof(base), "https://%s:%d", host, port);
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", base, repo);
	if ((r = probe_request("POST", url, ca_file, timeout_ms, &status, &pc, err)) != 0)
		goto out;
	if (status == 202) {
		struct probe_ctx dc;
		struct kf_err e;
		long ds = 0;
		*accepts = true;
		/* cancel the session at once: nothing of it stays in the storage */
		if (pc.location[0] == '/')
			snprintf(url, sizeof(url), "%s%s", base, pc.location);
		else if (strncmp(pc.location, base, strlen(base)) == 0)
			snprintf(url, sizeof(url), "%s", pc.location);
		else
			url[0] = '\0';  /* not ours to send a DELETE to */
		memset(&dc, 0, sizeof(dc));
		kf_buf_init(&dc.body, HEALTH_BODY_MAX);
		kf_err_clear(&e);
		if (url[0] && probe_request("DELETE", url, ca_file, timeout_ms, &ds, &dc, &e) != 0)
			kf_debug("cancelling the probe upload: %s", e.msg);
		kf_buf_free(&dc.body);
	} else if (status == 401 || status == 403 || status == 405) {
		*accepts = false;
	} else {
		r = kf_err_set(err, KF_EHTTP, "POST %s answered HTTP %ld (neither an accepted "
			       "upload nor a refusal)", url, status);
	}
out:
	kf_buf_free(&pc.body);
	return r;
}

int kf_regserver_lab_accepts_pushes(const struct kf_config *cfg, const char *out_dir,
				    bool *accepts, char *addr, size_t an, struct kf_err *err)
{
	struct kf_regserver_paths p;
	char listen[300], probe[256];
	const char *host;
	int port, r;

	*accepts = false;
	if (an)
		addr[0] = '\0';
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		goto out;
	host = probe;
	if (cfg->registry.host_ip && kf_regserver_addr_is_local(cfg->registry.host_ip)) {
		host = cfg->registry.host_ip;
		port = cfg->registry.port;
	}
	snprintf(addr, an, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	if ((r = kf_regserver_push_probe(host, port, p.ca, KF_REGSERVER_PROBE_REPO,
					 HEALTH_TIMEOUT_MS, accepts, err)) != 0)
		goto out;
	if (*accepts) {
		/* distribution 2.8's cancel leaves the session's hashstates behind (and its empty
		 * repository would show in the catalog): the probe's own repository goes, in our
		 * storage; a foreign registry keeps one cancelled session under that name */
		char *d = kf_path_join(p.data, "docker/registry/v2/repositories/"
				       KF_REGSERVER_PROBE_REPO);
		struct kf_err e;
		kf_err_clear(&e);
		if (d && kf_fs_exists(d) && kf_fs_remove_tree(d, &e) != 0)
			kf_debug("removing the push probe's repository: %s", e.msg);
		free(d);
	}
out:
	kf_regserver_paths_free(&p);
	return r;
}

json_t *kf_regserver_status_json(const struct kf_regserver_status *st)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "state", json_string(st->running ? "running" : "stopped"));
	json_object_set_new(o, "running", json_boolean(st->running));
	json_object_set_new(o, "healthy", json_boolean(st->healthy));
	json_object_set_new(o, "serves_our_cert", json_boolean(st->serves_our_cert));
	json_object_set_new(o, "pid", st->pid ? json_integer(st->pid) : json_null());
	json_object_set_new(o, "program", st->program[0] ? json_string(st->program) :
		    json_null());
	json_object_set_new(o, "url", json_string(st->url));
	json_object_set_new(o, "probe_url", st->probe_url[0] ? json_string(st->probe_url) :
		    json_null());
	json_object_set_new(o, "health_error", st->health_error[0] ?
		    kf_json_text(st->health_error) : json_null());
	json_object_set_new(o, "cert_present", json_boolean(st->cert_present));
	json_object_set_new(o, "cert_days_left", st->cert_present ?
		    json_integer(st->cert_days_left) : json_null());
	json_object_set_new(o, "cert_not_after", st->cert_present ?
		    json_string(st->cert_not_after) : json_null());
	json_object_set_new(o, "storage_dir", json_string(st->storage_dir));
	json_object_set_new(o, "storage_bytes", json_integer((json_int_t)st->storage_bytes));
	json_object_set_new(o, "storage_files", json_integer((json_int_t)st->storage_files));
	json_object_set_new(o, "read_only", json_boolean(st->read_only));
	json_object_set_new(o, "delete_enabled", json_boolean(st->delete_enabled));
	json_object_set_new(o, "push", json_pack("{s:b,s:b,s:o,s:o,s:o}", "running",
		st->push_running, "healthy", st->push_healthy, "pid",
		st->push_pid ? json_integer(st->push_pid) : json_null(), "addr",
		st->push_addr[0] ? json_string(st->push_addr) : json_null(), "health_error",
		st->push_health_error[0] ? kf_json_text(st->push_health_error) : json_null()));
	return o;
}
