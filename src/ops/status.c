/* The lab's health, collected for `k3sforge status` (include/k3sforge/status.h). */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/addons.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/buf.h"
#include "k3sforge/cluster.h"
#include "k3sforge/fanout.h"
#include "k3sforge/fs.h"
#include "k3sforge/kubeconfig.h"
#include "k3sforge/log.h"
#include "k3sforge/mirror.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"
#include "k3sforge/regserver.h"
#include "k3sforge/ssh.h"
#include "k3sforge/status.h"
#include "k3sforge/yaml.h"
#include "k3sforge/strv.h"

#define KUBECONFIG_MAX (1u << 20)

struct node_job {
	const struct kf_config *cfg;
	const struct kf_status_opts *o;
	struct kf_status_node *sn;
	char *nodes_json;        /* master: `kubectl get nodes -o json` */
};

static const char *tri_name(enum kf_tri t)
{
	return t == KF_TRI_YES ? "yes" : t == KF_TRI_NO ? "no" : "unknown";
}

static json_t *tri_json(enum kf_tri t)
{
	return t == KF_TRI_UNKNOWN ? json_null() : json_boolean(t == KF_TRI_YES);
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Runs cmd; *out gets trimmed stdout (caller frees). Returns the exit status, or -1 when the
 * command could not run. */
static int run(struct kf_ssh *s, const char *cmd, int timeout_ms, char **out)
{
	struct kf_ssh_result res = { 0 };
	struct kf_err e;
	int status;

	*out = NULL;
	if (kf_ssh_exec(s, cmd, timeout_ms, 64 * 1024, &res, &e) != 0) {
		kf_ssh_result_free(&res);
		return -1;
	}
	*out = strdup(kf_buf_str(&res.out));
	if (*out)
		trim(*out);
	status = res.exit_status;
	kf_ssh_result_free(&res);
	return status;
}

enum kf_tri kf_status_node_ready(const char *nodes_json, const char *name)
{
	json_t *root = json_loads(nodes_json, 0, NULL), *item, *cond;
	enum kf_tri t = KF_TRI_UNKNOWN;
	size_t i, k;

	json_array_foreach(json_object_get(root, "items"), i, item) {
		const char *n = json_string_value(
			json_object_get(json_object_get(item, "metadata"), "name"));
		if (!n || strcmp(n, name) != 0)
			continue;
		t = KF_TRI_NO;
		json_array_foreach(json_object_get(json_object_get(item, "status"), "conditions"), k,
				   cond) {
			const char *type = json_string_value(json_object_get(cond, "type"));
			const char *st = json_string_value(json_object_get(cond, "status"));
			if (type && st && strcmp(type, "Ready") == 0)
				t = strcmp(st, "True") == 0 ? KF_TRI_YES : KF_TRI_NO;
		}
	}
	json_decref(root);
	return t;
}

static void *node_main(void *arg)
{
	struct node_job *j = arg;
	struct kf_status_node *sn = j->sn;
	const struct kf_node *n = sn->node;
	int tmo = j->o->ssh_timeout_ms > 0 ? j->o->ssh_timeout_ms : 3000;
	enum kf_ssh_fail why = KF_SSH_OK;
	struct kf_ssh *s = NULL;
	struct kf_err e;
	char *text = NULL, cmd[512];
	int status;

	kf_err_clear(&e);
	if (j->o->vm) {
		bool on = false;
		char *ip = NULL;
		if (j->o->vm->powered_on(j->o->vm->ctx, n, &on, &e) == 0)
			sn->power = on ? KF_TRI_YES : KF_TRI_NO;
		if (on && j->o->vm->guest_ip &&
		    j->o->vm->guest_ip(j->o->vm->ctx, n, &ip, &e) == 0 && ip && *ip &&
		    strcmp(ip, n->ip) != 0)
			snprintf(sn->ip, sizeof(sn->ip), "%s (hypervisor: %s)", n->ip, ip);
		free(ip);
	}
	if (kf_node_connect(&s, j->cfg, n, j->o->out_dir, tmo, &why, &e) != 0) {
		sn->ssh = KF_TRI_NO;
		snprintf(sn->ssh_error, sizeof(sn->ssh_error), "%s", e.msg);
		return NULL;
	}
	sn->ssh = KF_TRI_YES;
	snprintf(cmd, sizeof(cmd), "test -e %s", kf_role_marker(n->role));
	status = run(s, cmd, tmo, &text);
	sn->marker = status < 0 ? KF_TRI_UNKNOWN : status == 0 ? KF_TRI_YES : KF_TRI_NO;
	free(text);
	snprintf(cmd, sizeof(cmd), "systemctl is-active %s",
		 n->role == KF_ROLE_MASTER ? "k3s" : "k3s-agent");
	status = run(s, cmd, tmo, &text);
	if (status >= 0 && text) {
		snprintf(sn->k3s_state, sizeof(sn->k3s_state), "%s", *text ? text : "unknown");
		sn->k3s_active = strcmp(text, "active") == 0 ? KF_TRI_YES : KF_TRI_NO;
	}
	free(text);
	sn->skew_known = kf_node_clock_skew(s, tmo, &sn->skew_s, &e) == 0;
	if (n->role == KF_ROLE_MASTER) {
		char *json = NULL;
		if (kf_cluster_kubectl_json(s, "get nodes", &json, &e) == 0)
			j->nodes_json = json;
	}
	kf_ssh_close(s);
	return NULL;
}

static int problem(struct kf_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int problem(struct kf_status *st, const char *fmt, ...)
{
	char line[1024], **nv;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	nv = realloc(st->problems, (st->n_problems + 1) * sizeof(*nv));
	if (!nv)
		return KF_ENOMEM;
	st->problems = nv;
	if (!(nv[st->n_problems] = strdup(line)))
		return KF_ENOMEM;
	st->n_problems++;
	return 0;
}

static void check_registry(struct kf_status *st, const struct kf_config *cfg, const char *out_dir)
{
	struct kf_regserver_status rs;
	struct kf_tls_probe probe;
	char listen[128], host[128], to[200];
	char *ca = kf_path_join(out_dir, KF_OUT_CA_CRT);
	char **k3s = NULL;
	const char **wanted = NULL;
	const char *const *addon = kf_addon_images(cfg);
	size_t n_k3s = 0, n_addon = 0;
	struct kf_err e;
	int port = 0;

	memset(&rs, 0, sizeof(rs));
	memset(&probe, 0, sizeof(probe));
	kf_err_clear(&e);
	if (kf_regserver_status(cfg, out_dir, &rs, &e) == 0) {
		st->registry.running = rs.running ? KF_TRI_YES : KF_TRI_NO;
		st->registry.healthy = rs.healthy ? KF_TRI_YES : KF_TRI_NO;
		st->registry.cert_known = rs.cert_present;
		st->registry.cert_days_left = rs.cert_days_left;
	}
	if (!ca || kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port, &e))
		goto out;
	if (kf_regserver_tls_check(&probe, host, port, ca, NULL, 3000, &e) == 0) {
		st->registry.tls_ok = KF_TRI_YES;
	} else {
		st->registry.tls_ok = KF_TRI_NO;
		snprintf(st->registry.tls_detail, sizeof(st->registry.tls_detail), "%s", e.msg);
	}
	kf_tls_probe_free(&probe);
	if (st->registry.tls_ok != KF_TRI_YES)
		goto out;
	{
		bool accepts = false;
		kf_err_clear(&e);
		if (kf_regserver_lab_accepts_pushes(cfg, out_dir, &accepts, st->registry.lab_addr,
						    sizeof(st->registry.lab_addr), &e) == 0)
			st->registry.accepts_pushes = accepts ? KF_TRI_YES : KF_TRI_NO;
	}
	snprintf(to, sizeof(to), "%s:%d", host, port);
	if (kf_artifacts_images(&k3s, &n_k3s, out_dir, &e) != 0) {
		snprintf(st->registry.images_error, sizeof(st->registry.images_error), "%s", e.msg);
		goto out;
	}
	while (addon[n_addon])
		n_addon++;
	if (!(wanted = calloc(n_k3s + n_addon + 1, sizeof(*wanted))))
		goto out;
	for (size_t i = 0; i < n_k3s; i++)
		wanted[i] = k3s[i];
	for (size_t i = 0; i < n_addon; i++)
		wanted[n_k3s + i] = addon[i];
	st->registry.images_wanted = n_k3s + n_addon;
	kf_err_clear(&e);
	if (kf_mirror_verify_present(to, ca, wanted, n_k3s + n_addon, &st->registry.missing,
				     &st->registry.n_missing, &e) == 0 ||
	    e.code == KF_ENOTFOUND)
		st->registry.images_checked = true;
	else
		snprintf(st->registry.images_error, sizeof(st->registry.images_error), "%s", e.msg);
out:
	free(wanted);
	kf_artifacts_images_free(k3s);
	free(ca);
}

static void check_api(struct kf_status *st, const char *out_dir)
{
	char *path = kf_path_join(out_dir, KF_OUT_KUBECONFIG), *text = NULL, *version = NULL;
	struct kf_ynode *kc = NULL;
	size_t len = 0;
	struct kf_err e;

	kf_err_clear(&e);
	if (!path)
		return;
	if (kf_fs_read(&text, &len, path, KUBECONFIG_MAX, &e) != 0 ||
	    kf_yaml_parse(&kc, path, text, len, &e) != 0) {
		st->api.ok = KF_TRI_UNKNOWN;
		snprintf(st->api.error, sizeof(st->api.error), "%s", e.msg);
	} else if (kf_kubeconfig_probe(kc, 5000, &version, &e) == 0) {
		st->api.ok = KF_TRI_YES;
		snprintf(st->api.version, sizeof(st->api.version), "%s", version ? version : "");
	} else {
		st->api.ok = KF_TRI_NO;
		snprintf(st->api.error, sizeof(st->api.error), "%s", e.msg);
	}
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
	free(version);
	kf_ynode_free(kc);
	free(path);
}

static const struct kf_node *master_of(const struct kf_config *cfg)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i].role == KF_ROLE_MASTER)
			return &cfg->nodes[i];
	return NULL;
}

static int judge(struct kf_status *st, double max_skew)
{
	int r = 0;

	for (size_t i = 0; i < st->n && !r; i++) {
		const struct kf_status_node *sn = &st->nodes[i];
		const char *name = sn->node->name;
		if (sn->power == KF_TRI_NO)
			r = problem(st, "%s: powered off (`k3sforge create-vms` starts it)", name);
		else if (sn->ssh != KF_TRI_YES)
			r = problem(st, "%s: SSH not reachable: %s", name, sn->ssh_error);
		if (r || sn->ssh != KF_TRI_YES)
			continue;
		if (sn->marker != KF_TRI_YES)
			r = problem(st, "%s: role marker %s missing (bootstrap not finished; "
					"`k3sforge doctor` shows why)",
				    name, kf_role_marker(sn->node->role));
		if (!r && sn->k3s_active != KF_TRI_YES)
			r = problem(st, "%s: %s service is %s", name,
				    sn->node->role == KF_ROLE_MASTER ? "k3s" : "k3s-agent",
				    sn->k3s_state[0] ? sn->k3s_state : "unknown");
		if (!r && sn->ready != KF_TRI_YES)
			r = problem(st, "%s: node %s", name,
				    sn->ready == KF_TRI_NO ? "not Ready" : "Ready state unknown");
		if (!r && !sn->skew_known)
			r = problem(st, "%s: clock could not be read", name);
		else if (!r && fabs(sn->skew_s) > max_skew)
			r = problem(st, "%s: clock skew %+.1f s against the host (more than %.1f s; "
					"`systemctl restart sync-time` on the node)",
				    name, sn->skew_s, max_skew);
	}
	if (!r && st->registry.tls_ok != KF_TRI_YES)
		r = problem(st, "registry: not reachable over TLS: %s%s", st->registry.tls_detail,
			    st->registry.running == KF_TRI_NO ? " (`k3sforge registry start`)" : "");
	if (!r && st->registry.accepts_pushes == KF_TRI_YES)
		r = problem(st, "registry: %s (%s took an anonymous upload): %s",
			    KF_REGSERVER_OPEN_FINDING, st->registry.lab_addr, KF_REGSERVER_OPEN_FIX);
	if (!r && st->registry.cert_known && st->registry.cert_days_left < 0)
		r = problem(st, "registry: certificate expired (`k3sforge prep` re-issues it)");
	if (!r && st->registry.tls_ok == KF_TRI_YES && !st->registry.images_checked)
		r = problem(st, "registry: image set not checked: %s", st->registry.images_error);
	if (!r && st->registry.n_missing) {
		struct kf_buf b;
		kf_buf_init(&b, 8192);
		for (size_t i = 0; i < st->registry.n_missing; i++)
			kf_buf_printf(&b, "%s%s", i ? ", " : "", st->registry.missing[i]);
		r = problem(st, "registry: %zu of %zu images missing: %s (`k3sforge prep` mirrors them)",
			    st->registry.n_missing, st->registry.images_wanted, kf_buf_str(&b));
		kf_buf_free(&b);
	}
	if (!r && st->api.ok != KF_TRI_YES)
		r = problem(st, "cluster: API server does not answer: %s", st->api.error);
	if (!r && st->console.wanted && st->console.ok != KF_TRI_YES)
		r = problem(st, "cluster: KubeSphere console does not answer: %s", st->console.error);
	return r;
}

static int node_each(void *arg, size_t i)
{
	struct node_job *jobs = arg;

	node_main(&jobs[i]);
	return 0;
}

int kf_status_collect(struct kf_status **out, const struct kf_config *cfg,
		      const struct kf_status_opts *opts, struct kf_err *err)
{
	struct kf_status *st = calloc(1, sizeof(*st));
	struct node_job *jobs = NULL;
	struct kf_each *each;
	const struct kf_node *m = master_of(cfg);
	const char *nodes_json = NULL;
	int r = 0;

	*out = NULL;
	if (!st)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	st->n = cfg->n_nodes;
	st->nodes = calloc(st->n + 1, sizeof(*st->nodes));
	jobs = calloc(st->n + 1, sizeof(*jobs));
	if (!st->nodes || !jobs)
		goto nomem;
	for (size_t i = 0; i < st->n; i++) {
		struct kf_status_node *sn = &st->nodes[i];
		sn->node = &cfg->nodes[i];
		sn->power = sn->ssh = sn->marker = sn->k3s_active = sn->ready = KF_TRI_UNKNOWN;
		snprintf(sn->ip, sizeof(sn->ip), "%s", cfg->nodes[i].ip);
		jobs[i] = (struct node_job){ .cfg = cfg, .o = opts, .sn = sn };
	}
	if (!(each = kf_each_node_begin(st->n, 0, node_each, jobs, NULL)))
		goto nomem;
	/* Host-side checks run while the nodes answer. */
	st->registry.running = st->registry.healthy = st->registry.tls_ok = KF_TRI_UNKNOWN;
	st->registry.accepts_pushes = KF_TRI_UNKNOWN;
	check_registry(st, cfg, opts->out_dir);
	st->api.ok = KF_TRI_UNKNOWN;
	check_api(st, opts->out_dir);
	st->console.wanted = cfg->addons.kubesphere;
	st->console.ok = KF_TRI_UNKNOWN;
	if (st->console.wanted && m) {
		char url[128];
		snprintf(url, sizeof(url), "http://%s:30880", m->ip);
		st->console.http_status = kf_console_status(url, 5000, st->console.error,
							    sizeof(st->console.error));
		st->console.ok = st->console.http_status == 200 ? KF_TRI_YES : KF_TRI_NO;
		if (st->console.http_status && st->console.http_status != 200)
			snprintf(st->console.error, sizeof(st->console.error), "%s%s answered HTTP %ld",
				 url, KF_CONSOLE_PROBE_PATH, st->console.http_status);
	}
	kf_each_node_end(each);
	for (size_t i = 0; i < st->n; i++)
		if (jobs[i].nodes_json)
			nodes_json = jobs[i].nodes_json;
	for (size_t i = 0; nodes_json && i < st->n; i++)
		st->nodes[i].ready = kf_status_node_ready(nodes_json, st->nodes[i].node->name);
	if ((r = judge(st, opts->max_skew_s > 0 ? opts->max_skew_s : 2.0)) != 0)
		goto nomem;
	*out = st;
	st = NULL;
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	for (size_t i = 0; jobs && i < cfg->n_nodes; i++)
		free(jobs[i].nodes_json);
	free(jobs);
	kf_status_free(st);
	return r;
}

bool kf_status_healthy(const struct kf_status *st)
{
	return st->n_problems == 0;
}

json_t *kf_status_json(const struct kf_status *st)
{
	json_t *o = json_object(), *nodes = json_array(), *reg, *missing = json_array(), *probs;

	for (size_t i = 0; i < st->n; i++) {
		const struct kf_status_node *sn = &st->nodes[i];
		json_t *n = json_object();
		json_object_set_new(n, "name", json_string(sn->node->name));
		json_object_set_new(n, "role", json_string(sn->node->role == KF_ROLE_MASTER ? "master"
											 : "worker"));
		json_object_set_new(n, "power", sn->power == KF_TRI_UNKNOWN ? json_null()
					 : json_string(sn->power == KF_TRI_YES ? "on" : "off"));
		json_object_set_new(n, "ip", json_string(sn->ip));
		json_object_set_new(n, "ssh", tri_json(sn->ssh));
		if (sn->ssh_error[0])
			json_object_set_new(n, "ssh_error", kf_json_text(sn->ssh_error));
		json_object_set_new(n, "marker", tri_json(sn->marker));
		json_object_set_new(n, "k3s_active", tri_json(sn->k3s_active));
		json_object_set_new(n, "k3s_state", sn->k3s_state[0] ? json_string(sn->k3s_state)
								    : json_null());
		json_object_set_new(n, "ready", tri_json(sn->ready));
		json_object_set_new(n, "clock_skew_s", sn->skew_known ? json_real(sn->skew_s)
								      : json_null());
		json_array_append_new(nodes, n);
	}
	for (size_t i = 0; i < st->registry.n_missing; i++)
		json_array_append_new(missing, json_string(st->registry.missing[i]));
	reg = json_object();
	json_object_set_new(reg, "running", tri_json(st->registry.running));
	json_object_set_new(reg, "tls_ok", tri_json(st->registry.tls_ok));
	json_object_set_new(reg, "accepts_pushes", tri_json(st->registry.accepts_pushes));
	if (st->registry.tls_detail[0])
		json_object_set_new(reg, "tls_error", json_string(st->registry.tls_detail));
	json_object_set_new(reg, "cert_days_left", st->registry.cert_known
				   ? json_integer(st->registry.cert_days_left) : json_null());
	json_object_set_new(reg, "images_wanted", json_integer((json_int_t)st->registry.images_wanted));
	json_object_set_new(reg, "images_present",
			    st->registry.images_checked
				    ? json_integer((json_int_t)(st->registry.images_wanted -
								st->registry.n_missing))
				    : json_null());
	json_object_set_new(reg, "missing", missing);
	json_object_set_new(o, "healthy", json_boolean(kf_status_healthy(st)));
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "registry", reg);
	json_object_set_new(o, "api", json_pack("{s:o,s:s?,s:s?}", "ok", tri_json(st->api.ok),
						"version", st->api.version[0] ? st->api.version : NULL,
						"error", st->api.error[0] ? st->api.error : NULL));
	json_object_set_new(o, "console",
			    json_pack("{s:b,s:o,s:I,s:s?}", "wanted", st->console.wanted, "ok",
				      tri_json(st->console.ok), "http_status",
				      (json_int_t)st->console.http_status, "error",
				      st->console.error[0] ? st->console.error : NULL));
	probs = json_array();
	for (size_t i = 0; i < st->n_problems; i++)
		json_array_append_new(probs, json_string(st->problems[i]));
	json_object_set_new(o, "problems", probs);
	return o;
}

char *kf_status_text(const struct kf_status *st)
{
	struct kf_buf b;

	kf_buf_init(&b, 1u << 20);
	kf_buf_printf(&b, "%-16s %-6s %-5s %-15s %-4s %-6s %-9s %-6s %s\n", "NODE", "ROLE", "POWER",
		      "IP", "SSH", "MARKER", "K3S", "READY", "SKEW");
	for (size_t i = 0; i < st->n; i++) {
		const struct kf_status_node *sn = &st->nodes[i];
		char skew[32];
		if (sn->skew_known)
			snprintf(skew, sizeof(skew), "%+.2fs", sn->skew_s);
		else
			snprintf(skew, sizeof(skew), "-");
		kf_buf_printf(&b, "%-16s %-6s %-5s %-15s %-4s %-6s %-9s %-6s %s\n", sn->node->name,
			      sn->node->role == KF_ROLE_MASTER ? "master" : "worker",
			      sn->power == KF_TRI_UNKNOWN ? "?" : sn->power == KF_TRI_YES ? "on" : "off",
			      sn->ip, tri_name(sn->ssh), tri_name(sn->marker),
			      sn->k3s_state[0] ? sn->k3s_state : "-", tri_name(sn->ready), skew);
	}
	kf_buf_printf(&b, "\nregistry: TLS %s", tri_name(st->registry.tls_ok));
	if (st->registry.cert_known)
		kf_buf_printf(&b, ", certificate %d days left", st->registry.cert_days_left);
	if (st->registry.images_checked)
		kf_buf_printf(&b, ", images %zu/%zu", st->registry.images_wanted - st->registry.n_missing,
			      st->registry.images_wanted);
	kf_buf_printf(&b, "\ncluster:  API %s%s%s", tri_name(st->api.ok),
		      st->api.version[0] ? " " : "", st->api.version);
	if (st->console.wanted)
		kf_buf_printf(&b, ", KubeSphere console %s", tri_name(st->console.ok));
	kf_buf_printf(&b, "\n\n");
	if (st->n_problems == 0)
		kf_buf_printf(&b, "healthy\n");
	for (size_t i = 0; i < st->n_problems; i++)
		kf_buf_printf(&b, "problem: %s\n", st->problems[i]);
	return kf_buf_detach(&b);
}

void kf_status_free(struct kf_status *st)
{
	if (!st)
		return;
	free(st->nodes);
	kf_strv_free(st->registry.missing, st->registry.n_missing);
	for (size_t i = 0; i < st->n_problems; i++)
		free(st->problems[i]);
	free(st->problems);
	free(st);
}
