/* k3sforge config check|show: validate a configuration file, print the effective one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"

extern const struct kf_cmd kf_cmd_config;

static const struct kf_opt config_opts[] = {
	KF_OPT_END_,
};

static int check(struct kf_ctx *ctx)
{
	char **msgs = NULL;
	size_t n = 0;
	int r;

	if (!kf_fs_exists(ctx->config_path) && ctx->config_explicit)
		return kf_err_set(&ctx->err, KF_ECONFIG,
				  "%s: no such configuration file (the file -c names does not exist; "
				  "check the path, or copy examples/lab.yaml there)", ctx->config_path);
	if (!kf_fs_exists(ctx->config_path))
		return kf_err_set(&ctx->err, KF_ECONFIG,
				  "%s: no such configuration file (give one with -c FILE; "
				  "`k3sforge config show` prints the built-in defaults)",
				  ctx->config_path);
	r = kf_config_check(ctx->config_path, &msgs, &n, &ctx->err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		kf_report_config_problem(msgs[i]);
		free(msgs[i]);
	}
	free(msgs);
	if (n) {
		return kf_err_set(&ctx->err, KF_ECONFIG, "%s: %zu problem%s found", ctx->config_path, n,
				  n == 1 ? "" : "s");
	}
	kf_ok("%s: configuration is valid", ctx->config_path);
	return 0;
}

static int show(struct kf_ctx *ctx)
{
	struct kf_config *cfg;
	char *text;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	text = kf_config_show(cfg);
	if (!text)
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	if (ctx->json) {
		json_t *o = json_pack("{s:s}", "yaml", text);
		char *ev = json_dumps(o, JSON_COMPACT);
		kf_log_event("config", ev);
		free(ev);
		json_decref(o);
	} else {
		fputs(text, stdout);
	}
	free(text);
	return 0;
}

static int config_run(struct kf_ctx *ctx, int argc, char **argv)
{
	int npos = 0, r;

	r = kf_cmd_parse(ctx, &kf_cmd_config, argc, argv, &npos);
	if (r)
		return r;
	if (npos < 1)
		return kf_err_set(&ctx->err, KF_EUSAGE, "config needs a verb: check or show");
	if (strcmp(argv[1], "check") == 0)
		return check(ctx);
	if (strcmp(argv[1], "show") == 0)
		return show(ctx);
	{
		const char *verbs[] = { "check", "show" };
		const char *best = kf_closest(argv[1], verbs, 2);
		return kf_err_set(&ctx->err, KF_EUSAGE, "config: unknown verb '%s'%s%s%s", argv[1],
				  best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
	}
}

const struct kf_cmd kf_cmd_config = {
	.name = "config",
	.summary = "check a configuration file, or show the effective configuration",
	.usage = "k3sforge [-c FILE] config check|show",
	.description =
		"check: validates the file and prints every problem as file:line:col: message.\n"
		"show:  prints the configuration with every default filled in, secrets as ***.",
	.example = "  k3sforge -c examples/lab.yaml config check\n  k3sforge -c lab.yaml config show",
	.opts = config_opts,
	.run = config_run,
};
