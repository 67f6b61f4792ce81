/* k3sforge registry start|stop|status|ls: run, stop and inspect the local TLS registry that prep
 * set up (<out>/registry, certificates from <out>/pki), and list what it holds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/regserver.h"

#include "cmd_registry.h"

extern const struct kf_cmd kf_cmd_registry;

const char *kf_registry_opt_registry, *kf_registry_opt_ca;

static const struct kf_opt registry_opts[] = {
	KF_OPT_STR_(0, "registry", &kf_registry_opt_registry, "REGISTRY",
		    "ls: list this registry (host:port, or http://127.0.0.1:port) instead of the "
		    "lab's"),
	KF_OPT_STR_(0, "ca", &kf_registry_opt_ca, "FILE", "ls: CA for --registry (default: the system store)"),
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

struct reg_verb {
	const char *name;
	int (*run)(struct kf_ctx *ctx, int argc, char **argv);
};

/* One line per verb. */
static const struct reg_verb verbs[] = {
	{ "start", reg_start },
	{ "stop", reg_stop },
	{ "status", kf_cmd_registry_status },
	{ "ls", kf_cmd_registry_ls },
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
			if (npos > 1 && verbs[i].run != kf_cmd_registry_ls)
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
