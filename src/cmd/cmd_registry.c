/* k3sforge registry start|stop|status|ls: run, stop and inspect the local TLS registry that prep
 * set up (<out>/registry, certificates from <out>/pki), and list what it holds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/progress.h"
#include "k3sforge/regserver.h"
#include "k3sforge/strv.h"

extern const struct kf_cmd kf_cmd_registry;

/* Bounds for `ls`: repositories in the catalog, tags per repository. */
#define LS_MAX_REPOS 100000
#define LS_MAX_TAGS 100000

static const char *opt_registry, *opt_ca;

static const struct kf_opt registry_opts[] = {
	KF_OPT_STR_(0, "registry", &opt_registry, "REGISTRY",
		    "ls: list this registry (host:port, or http://127.0.0.1:port) instead of the "
		    "lab's"),
	KF_OPT_STR_(0, "ca", &opt_ca, "FILE", "ls: CA for --registry (default: the system store)"),
	KF_OPT_END_,
};

static int reg_start(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_regserver_report rep;
	int r;

	(void)argc;
	(void)argv;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_ctx_lock(ctx)) != 0)
		return r;
	if ((r = kf_regserver_ensure(cfg, ctx->out_dir, &rep, &ctx->err)) != 0)
		return r;
	if (ctx->json) {
		json_t *o = json_pack("{s:I,s:b,s:b,s:s,s:s,s:s,s:I,s:s}", "pid",
				      (json_int_t)rep.pid, "reused", rep.reused, "restarted",
				      rep.restarted, "url", rep.url, "probe_url", rep.probe_url,
				      "server", rep.kind == KF_REGSERVER_DOCKER ? "docker" : "binary",
				      "push_pid", (json_int_t)rep.push_pid, "push_addr",
				      rep.push_addr);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		kf_log_event("registry_start", text);
		free(text);
		json_decref(o);
	}
	return 0;
}

static int reg_stop(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	bool was = false;
	int r;

	(void)argc;
	(void)argv;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_ctx_lock(ctx)) != 0)
		return r;
	if ((r = kf_regserver_stop(cfg, ctx->out_dir, &was, &ctx->err)) != 0)
		return r;
	if (was)
		kf_ok("registry stopped");
	else
		kf_info("the registry was not running");
	return 0;
}

static int reg_status(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_regserver_status st;
	char size[32];
	int r;

	(void)argc;
	(void)argv;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_regserver_status(cfg, ctx->out_dir, &st, &ctx->err)) != 0)
		return r;
	if (ctx->json) {
		json_t *o = json_object();
		char *text;
		json_object_set_new(o, "state", json_string(st.running ? "running" : "stopped"));
		json_object_set_new(o, "running", json_boolean(st.running));
		json_object_set_new(o, "healthy", json_boolean(st.healthy));
		json_object_set_new(o, "serves_our_cert", json_boolean(st.serves_our_cert));
		json_object_set_new(o, "pid", st.pid ? json_integer(st.pid) : json_null());
		json_object_set_new(o, "program", st.program[0] ? json_string(st.program) :
				    json_null());
		json_object_set_new(o, "url", json_string(st.url));
		json_object_set_new(o, "probe_url", st.probe_url[0] ? json_string(st.probe_url) :
				    json_null());
		json_object_set_new(o, "health_error", st.health_error[0] ?
				    kf_json_text(st.health_error) : json_null());
		json_object_set_new(o, "cert_present", json_boolean(st.cert_present));
		json_object_set_new(o, "cert_days_left", st.cert_present ?
				    json_integer(st.cert_days_left) : json_null());
		json_object_set_new(o, "cert_not_after", st.cert_present ?
				    json_string(st.cert_not_after) : json_null());
		json_object_set_new(o, "storage_dir", json_string(st.storage_dir));
		json_object_set_new(o, "storage_bytes", json_integer((json_int_t)st.storage_bytes));
		json_object_set_new(o, "storage_files", json_integer((json_int_t)st.storage_files));
		json_object_set_new(o, "read_only", json_boolean(st.read_only));
		json_object_set_new(o, "delete_enabled", json_boolean(st.delete_enabled));
		json_object_set_new(o, "push", json_pack("{s:b,s:b,s:o,s:o,s:o}", "running",
			st.push_running, "healthy", st.push_healthy, "pid",
			st.push_pid ? json_integer(st.push_pid) : json_null(), "addr",
			st.push_addr[0] ? json_string(st.push_addr) : json_null(), "health_error",
			st.push_health_error[0] ? kf_json_text(st.push_health_error) : json_null()));
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		kf_log_event("registry_status", text);
		free(text);
		json_decref(o);
		return 0;
	}
	kf_size_format(st.storage_bytes, size, sizeof(size));
	if (st.running)
		printf("registry:    running (pid %ld, %s)\n", st.pid, st.program);
	else
		printf("registry:    stopped (k3sforge registry start)\n");
	printf("url:         %s\n", st.url);
	if (st.running)
		printf("health:      %s%s%s\n", st.probe_url,
		       st.healthy && st.serves_our_cert ? " answers, serving our certificate" :
		       st.healthy ? " answers, but NOT with our certificate: " : " fails: ",
		       st.serves_our_cert ? "" : st.health_error);
	if (st.running)
		printf("lab side:    %s\n", st.read_only ? "read-only (pulls only)" :
		       "ACCEPTS PUSHES from the lab network (started by an older k3sforge; `k3sforge "
		       "registry stop` and `start` make it read-only)");
	if (st.push_running)
		printf("push:        https://%s/v2/ (pid %ld, loopback only)%s%s\n",
		       st.push_addr[0] ? st.push_addr : "?", st.push_pid,
		       st.push_healthy ? "" : " fails: ", st.push_healthy ? "" : st.push_health_error);
	else
		printf("push:        stopped (prep, mirror and bundle import start it)\n");
	if (st.cert_present)
		printf("certificate: expires %s (%d day%s left)\n", st.cert_not_after,
		       st.cert_days_left, st.cert_days_left == 1 ? "" : "s");
	else
		printf("certificate: missing (run `k3sforge prep` first)\n");
	printf("storage:     %s (%s in %llu file%s%s)\n", st.storage_dir, size, st.storage_files,
	       st.storage_files == 1 ? "" : "s", st.storage_truncated ? ", counting stopped early" :
	       "");
	return 0;
}

/* The repositories to list: the arguments, else the whole catalog (following pagination). */
static int ls_repos(struct kf_oci_registry *r, int argc, char **argv, char ***repos, size_t *n,
		    struct kf_err *err)
{
	if (argc <= 1)
		return kf_oci_catalog(r, repos, n, LS_MAX_REPOS, err);
	if (!(*repos = calloc((size_t)argc - 1, sizeof(char *))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (int i = 1; i < argc; i++)
		if (!((*repos)[(*n)++] = strdup(argv[i])))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
	return 0;
}

static int reg_ls(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	char spec[300], listen[128], host[128], *ca = NULL, **repos = NULL;
	size_t n_repos = 0, n_tags_total = 0, width = 10;
	json_t *jrepos = NULL;
	struct kf_buf table = KF_BUF_INIT;
	int port = 0, rc;

	if (opt_registry) {
		snprintf(spec, sizeof(spec), "%s", opt_registry);
		o.ca_file = opt_ca;
	} else {
		if ((rc = kf_ctx_config(ctx, &cfg)) != 0)
			return rc;
		if ((rc = kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port,
					      &ctx->err)) != 0)
			return rc;
		snprintf(spec, sizeof(spec), "%s:%d", host, port);
		ca = kf_ctx_path(ctx, KF_OUT_CA_CRT);
		o.ca_file = opt_ca ? opt_ca : ca;
	}
	if ((rc = kf_oci_registry_new(&r, spec, &o, &ctx->err)) != 0 ||
	    (rc = ls_repos(r, argc, argv, &repos, &n_repos, &ctx->err)) != 0) {
		if (!opt_registry && rc != KF_ENOMEM)
			kf_err_wrap(&ctx->err, "the lab registry (`k3sforge registry status` tells "
					       "whether it runs; `k3sforge prep` sets it up)");
		goto out;
	}
	if (!(jrepos = json_array())) {
		rc = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_repos; i++)
		if (strlen(repos[i]) > width)
			width = strlen(repos[i]);
	for (size_t i = 0; i < n_repos; i++) {
		char **tags = NULL;
		size_t n_tags = 0;
		json_t *jt = json_array();
		if ((rc = kf_oci_tags(r, repos[i], &tags, &n_tags, LS_MAX_TAGS, &ctx->err)) != 0) {
			json_decref(jt);
			kf_err_wrap(&ctx->err, "repository %s", repos[i]);
			goto out;
		}
		kf_buf_printf(&table, "%-*s  ", (int)width, repos[i]);
		for (size_t k = 0; k < n_tags; k++) {
			json_array_append_new(jt, json_string(tags[k]));
			kf_buf_printf(&table, "%s%s", k ? " " : "", tags[k]);
		}
		kf_buf_puts(&table, n_tags ? "\n" : "(no tags)\n");
		json_array_append_new(jrepos, json_pack("{s:s,s:o}", "name", repos[i], "tags", jt));
		n_tags_total += n_tags;
		kf_strv_free(tags, n_tags);
	}
	if (ctx->json) {
		json_t *ev = json_pack("{s:s,s:O,s:I,s:I}", "registry", spec, "repositories",
				       jrepos, "repository_count", (json_int_t)n_repos, "tag_count",
				       (json_int_t)n_tags_total);
		char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		kf_log_event("registry_ls", text);
		free(text);
		json_decref(ev);
	} else {
		printf("%-*s  %s\n%s", (int)width, "REPOSITORY", "TAGS", kf_buf_str(&table));
		printf("%zu repositor%s, %zu tag%s in %s\n", n_repos, n_repos == 1 ? "y" : "ies",
		       n_tags_total, n_tags_total == 1 ? "" : "s", spec);
	}
	rc = 0;
out:
	json_decref(jrepos);
	kf_buf_free(&table);
	kf_strv_free(repos, n_repos);
	kf_oci_registry_free(r);
	free(ca);
	return rc;
}

struct reg_verb {
	const char *name;
	int (*run)(struct kf_ctx *ctx, int argc, char **argv);
};

/* One line per verb. */
static const struct reg_verb verbs[] = {
	{ "start", reg_start },
	{ "stop", reg_stop },
	{ "status", reg_status },
	{ "ls", reg_ls },
};
#define N_VERBS ((int)(sizeof(verbs) / sizeof(verbs[0])))

static int registry_run(struct kf_ctx *ctx, int argc, char **argv)
{
	const char *names[N_VERBS];
	const char *best;
	int npos = 0, r;

	r = kf_cmd_parse(ctx, &kf_cmd_registry, argc, argv, &npos);
	if (r)
		return r;
	for (int i = 0; i < N_VERBS; i++)
		names[i] = verbs[i].name;
	if (npos < 1)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "registry needs a verb: start, stop, status or ls");
	for (int i = 0; i < N_VERBS; i++)
		if (strcmp(argv[1], verbs[i].name) == 0) {
			if (npos > 1 && verbs[i].run != reg_ls)
				return kf_err_set(&ctx->err, KF_EUSAGE,
						  "registry %s takes no arguments ('%s' given)",
						  argv[1], argv[2]);
			return verbs[i].run(ctx, npos, argv + 1);
		}
	best = kf_closest(argv[1], names, N_VERBS);
	return kf_err_set(&ctx->err, KF_EUSAGE, "registry: unknown verb '%s'%s%s%s", argv[1],
			  best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
}

const struct kf_cmd kf_cmd_registry = {
	.name = "registry",
	.summary = "start, stop or inspect the local TLS registry",
	.usage = "k3sforge registry start|stop|status | registry ls [REPOSITORY...] "
		 "[--registry REGISTRY [--ca FILE]]",
	.description =
		"start:  starts the registry prep set up (or keeps the running one when it serves\n"
		"        the current certificate) and waits until GET /v2/ answers over TLS: the\n"
		"        read-only instance the lab pulls from, and the push instance on 127.0.0.1\n"
		"        through which only k3sforge writes (same storage).\n"
		"stop:   stops both (SIGTERM, then SIGKILL), only pids that really are ours.\n"
		"status: running or stopped, pid, URL, read-only or not, the push instance,\n"
		"        certificate expiry, storage size (one JSON event with --json).\n"
		"ls:     every repository of the registry (_catalog) with its tags, following\n"
		"        pagination; only the named repositories when given. A table, or one\n"
		"        registry_ls JSON event with --json. --registry lists another registry.\n"
		"The certificates come from `k3sforge prep` (<out>/pki).",
	.example = "  k3sforge registry status\n  k3sforge --json registry status\n"
		   "  k3sforge registry ls\n  k3sforge registry ls rancher/mirrored-pause",
	.opts = registry_opts,
	.run = registry_run,
};
