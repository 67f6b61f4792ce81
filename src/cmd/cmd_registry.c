/* k3sforge registry start|stop|status: run, stop and inspect the local TLS registry that prep
 * set up (<out>/registry, certificates from <out>/pki). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/regserver.h"

extern const struct kf_cmd kf_cmd_registry;

static const struct kf_opt registry_opts[] = {
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
		json_t *o = json_pack("{s:I,s:b,s:b,s:s,s:s,s:s}", "pid", (json_int_t)rep.pid,
				      "reused", rep.reused, "restarted", rep.restarted, "url",
				      rep.url, "probe_url", rep.probe_url, "server",
				      rep.kind == KF_REGSERVER_DOCKER ? "docker" : "binary");
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

static void human_size(unsigned long long b, char *out, size_t n)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%llu B", b);
	else
		snprintf(out, n, "%.1f %s", v, units[u]);
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
				    json_string(st.health_error) : json_null());
		json_object_set_new(o, "cert_present", json_boolean(st.cert_present));
		json_object_set_new(o, "cert_days_left", st.cert_present ?
				    json_integer(st.cert_days_left) : json_null());
		json_object_set_new(o, "cert_not_after", st.cert_present ?
				    json_string(st.cert_not_after) : json_null());
		json_object_set_new(o, "storage_dir", json_string(st.storage_dir));
		json_object_set_new(o, "storage_bytes", json_integer((json_int_t)st.storage_bytes));
		json_object_set_new(o, "storage_files", json_integer((json_int_t)st.storage_files));
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		kf_log_event("registry_status", text);
		free(text);
		json_decref(o);
		return 0;
	}
	human_size(st.storage_bytes, size, sizeof(size));
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

struct reg_verb {
	const char *name;
	int (*run)(struct kf_ctx *ctx, int argc, char **argv);
};

/* One line per verb. */
static const struct reg_verb verbs[] = {
	{ "start", reg_start },
	{ "stop", reg_stop },
	{ "status", reg_status },
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
		return kf_err_set(&ctx->err, KF_EUSAGE, "registry needs a verb: start, stop or status");
	for (int i = 0; i < N_VERBS; i++)
		if (strcmp(argv[1], verbs[i].name) == 0) {
			if (npos > 1)
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
	.usage = "k3sforge registry start|stop|status",
	.description =
		"start:  starts the registry prep set up (or keeps the running one when it serves\n"
		"        the current certificate) and waits until GET /v2/ answers over TLS.\n"
		"stop:   stops it (SIGTERM, then SIGKILL), only if the pid really is our registry.\n"
		"status: running or stopped, pid, URL, certificate expiry, storage size\n"
		"        (one JSON event with --json).\n"
		"The certificates come from `k3sforge prep` (<out>/pki).",
	.example = "  k3sforge registry status\n  k3sforge --json registry status",
	.opts = registry_opts,
	.run = registry_run,
};
