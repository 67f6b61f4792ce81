/* The cluster's own view of its health, read from kubectl's JSON on the master. */
#include "k3sforge/cluster.h"

#include <curl/curl.h>

#include "k3sforge/http.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

static json_t *load(const char *json, const char *what, struct kf_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(json ? json : "", 0, &jerr);

	if (!root || !json_is_array(json_object_get(root, "items"))) {
		kf_err_set(err, KF_EPARSE, "kubectl %s: not a JSON list (%s)", what,
			   root ? "no items" : jerr.text);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Appends "what state" to a comma-separated list. */
static void add(struct kf_buf *b, const char *what, const char *state)
{
	if (b->len)
		kf_buf_puts(b, ", ");
	kf_buf_printf(b, "%s %s", what, state);
}

int kf_cluster_parse_nodes(const struct kf_config *cfg, const char *json, struct kf_check *out,
			   struct kf_err *err)
{
	json_t *root = load(json, "get nodes", err), *items, *item;
	struct kf_buf missing;
	size_t i;

	if (!root)
		return KF_EPARSE;
	items = json_object_get(root, "items");
	kf_buf_init(&missing, 4096);
	for (size_t k = 0; k < cfg->n_nodes; k++) {
		const char *want = cfg->nodes[k].name;
		bool found = false, ready = false;
		json_array_foreach(items, i, item) {
			const char *name = json_string_value(
				json_object_get(json_object_get(item, "metadata"), "name"));
			json_t *conds, *c;
			size_t j;
			if (!name || strcmp(name, want) != 0)
				continue;
			found = true;
			conds = json_object_get(json_object_get(item, "status"), "conditions");
			json_array_foreach(conds, j, c) {
				const char *type = json_string_value(json_object_get(c, "type"));
				const char *st = json_string_value(json_object_get(c, "status"));
				if (type && st && strcmp(type, "Ready") == 0)
					ready = strcmp(st, "True") == 0;
			}
		}
		if (!found)
			add(&missing, want, "not registered");
		else if (!ready)
			add(&missing, want, "not Ready");
	}
	out->ok = missing.len == 0;
	snprintf(out->detail, sizeof(out->detail), "%s",
		 out->ok ? "all nodes Ready" : kf_buf_str(&missing));
	kf_buf_free(&missing);
	json_decref(root);
	return 0;
}

static bool disabled(const struct kf_config *cfg, const char *what)
{
	for (size_t i = 0; i < cfg->k3s.n_disable; i++)
		if (strcmp(cfg->k3s.disable[i], what) == 0)
			return true;
	return false;
}

/* Why the pod is not running, from the first container that says: "(Pending: ImagePullBackOff:
 * Back-off pulling image ...)", else "(<phase>)" / "(Running, not ready)". */
static void pod_reason(json_t *item, char *buf, size_t size)
{
	json_t *status = json_object_get(item, "status"), *c;
	const char *phase = json_string_value(json_object_get(status, "phase"));
	json_t *lists[2] = { json_object_get(status, "initContainerStatuses"),
			     json_object_get(status, "containerStatuses") };
	size_t j;

	for (int l = 0; l < 2; l++) {
		json_array_foreach(lists[l], j, c) {
			json_t *w = json_object_get(json_object_get(c, "state"), "waiting");
			const char *reason = json_string_value(json_object_get(w, "reason"));
			const char *msg = json_string_value(json_object_get(w, "message"));
			if (!reason || strcmp(reason, "PodInitializing") == 0)
				continue;
			snprintf(buf, size, "(%s: %s%s%.160s)", phase ? phase : "no phase", reason,
				 msg ? ": " : "", msg ? msg : "");
			return;
		}
	}
	if (phase && strcmp(phase, "Running") == 0)
		snprintf(buf, size, "(Running, not ready)");
	else
		snprintf(buf, size, "(%s)", phase ? phase : "no phase");
}

/* Is there a Running pod whose name starts with prefix, with every container ready? If not,
 * why (into why, when not NULL): the reason of the first such pod, or that there is none. */
static bool pod_running(json_t *items, const char *prefix, char *why, size_t why_size)
{
	size_t i;
	json_t *item, *first = NULL;

	json_array_foreach(items, i, item) {
		const char *name = json_string_value(
			json_object_get(json_object_get(item, "metadata"), "name"));
		json_t *status = json_object_get(item, "status");
		const char *phase = json_string_value(json_object_get(status, "phase"));
		json_t *cs = json_object_get(status, "containerStatuses"), *c;
		bool all_ready = json_array_size(cs) > 0;
		size_t j;
		if (!name || strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		if (!first)
			first = item;
		if (!phase || strcmp(phase, "Running") != 0)
			continue;
		json_array_foreach(cs, j, c)
			all_ready &= json_is_true(json_object_get(c, "ready"));
		if (all_ready)
			return true;
	}
	if (why) {
		if (first)
			pod_reason(first, why, why_size);
		else
			snprintf(why, why_size, "(no pod)");
	}
	return false;
}

int kf_cluster_parse_system_pods(const struct kf_config *cfg, const char *json,
				 struct kf_check *out, struct kf_err *err)
{
	static const struct {
		const char *component;   /* name in k3s --disable */
		const char *prefix;      /* pod name prefix */
	} parts[] = {
		{ "coredns", "coredns-" },
		{ "traefik", "traefik-" },
		{ "local-storage", "local-path-provisioner-" },
		{ "metrics-server", "metrics-server-" },
		{ "servicelb", "svclb-" },
	};
	json_t *root = load(json, "get pods -n kube-system", err), *items;
	struct kf_buf missing;

	if (!root)
		return KF_EPARSE;
	items = json_object_get(root, "items");
	kf_buf_init(&missing, 4096);
	for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
		if (disabled(cfg, parts[k].component))
			continue;
		/* svclb pods exist for LoadBalancer services: traefik's, when traefik is on. */
		if (strcmp(parts[k].component, "servicelb") == 0 && disabled(cfg, "traefik"))
			continue;
		char why[300], state[320];
		if (!pod_running(items, parts[k].prefix, why, sizeof(why))) {
			snprintf(state, sizeof(state), "not running %s", why);
			add(&missing, strcmp(parts[k].component, "servicelb") == 0 ? "svclb" :
					  parts[k].component, state);
		}
	}
	out->ok = missing.len == 0;
	snprintf(out->detail, sizeof(out->detail), "%s",
		 out->ok ? "kube-system components running" : kf_buf_str(&missing));
	kf_buf_free(&missing);
	json_decref(root);
	return 0;
}

int kf_cluster_parse_kubesphere_pods(const char *json, struct kf_check *out, struct kf_err *err)
{
	static const char *const parts[] = { "ks-apiserver-", "ks-console-", "ks-controller-manager-" };
	json_t *root = load(json, "get pods -n kubesphere-system", err), *items;
	struct kf_buf missing;

	if (!root)
		return KF_EPARSE;
	items = json_object_get(root, "items");
	kf_buf_init(&missing, 4096);
	for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
		char name[64], why[300], state[320];
		snprintf(name, sizeof(name), "%.*s", (int)strlen(parts[k]) - 1, parts[k]);
		if (!pod_running(items, parts[k], why, sizeof(why))) {
			snprintf(state, sizeof(state), "not running %s", why);
			add(&missing, name, state);
		}
	}
	out->ok = missing.len == 0;
	snprintf(out->detail, sizeof(out->detail), "%s",
		 out->ok ? "KubeSphere pods running" : kf_buf_str(&missing));
	kf_buf_free(&missing);
	json_decref(root);
	return 0;
}

int kf_cluster_kubectl_json(struct kf_ssh *s, const char *args, char **json, struct kf_err *err)
{
	struct kf_ssh_result res;
	struct kf_buf cmd;
	int r;

	*json = NULL;
	kf_buf_init(&cmd, 0);
	kf_buf_printf(&cmd, "sudo -n k3s kubectl %s -o json", args);
	r = kf_ssh_exec(s, kf_buf_str(&cmd), 60000, 16 * 1024 * 1024, &res, err);
	if (r == 0 && res.exit_status != 0)
		r = kf_err_set(err, KF_EFAIL, "k3s kubectl %s exited %d: %.300s", args, res.exit_status,
			       res.errout.len ? kf_buf_str(&res.errout) : kf_buf_str(&res.out));
	if (r == 0)
		*json = kf_buf_detach(&res.out);
	kf_ssh_result_free(&res);
	kf_buf_free(&cmd);
	return r;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

long kf_http_status(const char *url, int timeout_ms, char *why, size_t why_len)
{
	struct kf_http_opts ho = { 0 };
	struct kf_http_watch w;
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	CURL *c;

	if (why_len)
		why[0] = '\0';
	/* a lab address: direct, never through a proxy; one overall limit */
	ho.url = url;
	ho.direct = true;
	ho.allow_http = true;
	ho.connect_timeout_ms = timeout_ms;
	ho.watch = &w;
	ho.errbuf = cerr;
	kf_http_watch_arm(&w, 0, timeout_ms / 1000.0);
	if (!(c = kf_http_easy_new(&ho))) {
		snprintf(why, why_len, "cannot create an HTTP handle");
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (cc == CURLE_ABORTED_BY_CALLBACK)
		kf_http_watch_reason(&w, why, why_len);
	else
		snprintf(why, why_len, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	return status;
}

long kf_console_status(const char *console_url, int timeout_ms, char *why, size_t why_len)
{
	char url[512];

	if ((size_t)snprintf(url, sizeof(url), "%s%s", console_url, KF_CONSOLE_PROBE_PATH) >=
	    sizeof(url)) {
		snprintf(why, why_len, "console URL too long");
		return 0;
	}
	return kf_http_status(url, timeout_ms, why, why_len);
}

/* One round of every check; fills `missing` with what is not there yet. */
static int check_round(struct kf_ssh *s, const struct kf_config *cfg, const char *console_url,
		       struct kf_buf *missing, struct kf_err *err)
{
	struct kf_check ck;
	char *json = NULL;
	int r;

	if ((r = kf_cluster_kubectl_json(s, "get nodes", &json, err)) != 0)
		return r;
	r = kf_cluster_parse_nodes(cfg, json, &ck, err);
	free(json);
	if (r)
		return r;
	if (!ck.ok) {
		kf_buf_printf(missing, "nodes: %s", ck.detail);
		return 0;
	}
	if ((r = kf_cluster_kubectl_json(s, "get pods -n kube-system", &json, err)) != 0)
		return r;
	r = kf_cluster_parse_system_pods(cfg, json, &ck, err);
	free(json);
	if (r)
		return r;
	if (!ck.ok) {
		kf_buf_printf(missing, "kube-system: %s", ck.detail);
		return 0;
	}
	if (!cfg->addons.kubesphere)
		return 0;
	if ((r = kf_cluster_kubectl_json(s, "get pods -n kubesphere-system", &json, err)) != 0)
		return r;
	r = kf_cluster_parse_kubesphere_pods(json, &ck, err);
	free(json);
	if (r)
		return r;
	if (!ck.ok) {
		kf_buf_printf(missing, "kubesphere-system: %s", ck.detail);
		return 0;
	}
	{
		char why[256];
		long st = kf_console_status(console_url, 10000, why, sizeof(why));
		if (st != 200 && st)
			kf_buf_printf(missing, "KubeSphere console %s%s: HTTP %ld, not 200 yet",
				      console_url, KF_CONSOLE_PROBE_PATH, st);
		else if (st != 200)
			kf_buf_printf(missing, "KubeSphere console %s%s: %s", console_url,
				      KF_CONSOLE_PROBE_PATH, why);
	}
	return 0;
}

int kf_cluster_wait_healthy(struct kf_ssh *s, const struct kf_config *cfg, int timeout_s,
			    const char *console_url, struct kf_err *err)
{
	double deadline = kf_now_mono() + timeout_s, interval = 1.0, last_log = 0;
	struct kf_buf missing, last;
	int r = 0;

	kf_buf_init(&missing, 8192);
	kf_buf_init(&last, 8192);
	for (;;) {
		kf_buf_reset(&missing);
		kf_err_clear(err);
		r = check_round(s, cfg, console_url, &missing, err);
		if (r == 0 && missing.len == 0)
			break;
		if (r) {
			/* kubectl not answering yet is "not ready", unless the session died. */
			kf_buf_reset(&missing);
			kf_buf_puts(&missing, err->msg);
		}
		if (strcmp(kf_buf_str(&missing), kf_buf_str(&last)) != 0 ||
		    kf_now_mono() - last_log > 30) {
			kf_info("cluster: waiting for %s", kf_buf_str(&missing));
			kf_buf_reset(&last);
			kf_buf_puts(&last, kf_buf_str(&missing));
			last_log = kf_now_mono();
		}
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "interrupted while waiting for %s",
				       kf_buf_str(&missing));
			goto out;
		}
		if (kf_now_mono() + interval > deadline) {
			r = kf_err_set(err, KF_ETIMEOUT, "cluster not healthy after %ds: %s", timeout_s,
				       kf_buf_str(&missing));
			goto out;
		}
		kf_sleep_ms((long)(interval * 1000));
		interval = interval * 1.5 > 10 ? 10 : interval * 1.5;
	}
	kf_ok("cluster healthy: every node Ready, kube-system running%s",
	      cfg->addons.kubesphere ? ", KubeSphere console answering" : "");
	r = 0;
out:
	kf_buf_free(&missing);
	kf_buf_free(&last);
	return r;
}
