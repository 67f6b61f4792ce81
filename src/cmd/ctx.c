/* What every command shares: the lazily loaded configuration, the output-dir lock and log file,
 * and per-command option parsing and help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

/* With --json, every problem of the file as a config_problem event (the result event carries
 * only the first): scripts get all of them, typed, as `config check` gives them. */
static void report_config_problems(const char *path)
{
	char **msgs = NULL;
	size_t n = 0;
	struct kf_err err;

	if (kf_config_check(path, &msgs, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		kf_report_config_problem(msgs[i]);
		free(msgs[i]);
	}
	free(msgs);
}

int kf_ctx_config(struct kf_ctx *ctx, struct kf_config **out)
{
	int r;

	if (ctx->cfg) {
		*out = ctx->cfg;
		return 0;
	}
	if (ctx->config_explicit && !kf_fs_exists(ctx->config_path))
		return kf_err_set(&ctx->err, KF_ECONFIG,
				  "%s: no such configuration file (check the -c path, or leave -c out "
				  "to use ./k3sforge.yaml or the built-in lab defaults)",
				  ctx->config_path);
	if (!ctx->config_explicit && !kf_fs_exists(ctx->config_path)) {
		kf_info("no %s here: using the built-in lab defaults (k3sforge config show prints "
			"them; -c FILE picks a file)",
			ctx->config_path);
		r = kf_config_default(&ctx->cfg, &ctx->err);
	} else {
		r = kf_config_load(&ctx->cfg, ctx->config_path, &ctx->err);
		if (r == KF_ECONFIG && kf_log_json())
			report_config_problems(ctx->config_path);
	}
	if (r)
		return r;
	if (ctx->cfg->addons.admin_password)
		kf_log_add_secret(ctx->cfg->addons.admin_password);
	ctx->lab.cfg = ctx->cfg;
	ctx->lab.out_dir = ctx->out_dir;
	ctx->lab.run = ctx->run;
	*out = ctx->cfg;
	return 0;
}

int kf_ctx_lock(struct kf_ctx *ctx)
{
	char *log_path;
	int r;

	if (ctx->lock)
		return 0;
	if (kf_fs_exists(ctx->out_dir) && !kf_fs_is_dir(ctx->out_dir))
		return kf_err_set(&ctx->err, KF_EIO, "the output directory %s (-o) is not a "
				  "directory; name a directory with -o DIR (default ./k3sforge-out)",
				  ctx->out_dir);
	if ((r = kf_fs_mkdirs(ctx->out_dir, 0755, &ctx->err)) != 0 ||
	    (r = kf_lock_acquire(&ctx->lock, ctx->out_dir, &ctx->err)) != 0) {
		/* "Permission denied" alone does not say which path is meant or why it matters */
		if (r == KF_EIO) {
			char why[KF_ERR_MSG_MAX];
			snprintf(why, sizeof(why), "%s", ctx->err.msg);
			kf_err_set(&ctx->err, r, "cannot use the output directory %s (-o, where the "
				   "lab's files go): %.300s; make it writable for this user, or name "
				   "another with -o DIR", ctx->out_dir, why);
		}
		return r;
	}
	log_path = kf_path_join(ctx->out_dir, KF_OUT_LOG);
	if (log_path && kf_log_open_file(log_path) != 0)
		kf_warn("cannot write the log copy %s; going on without it", log_path);
	free(log_path);
	return 0;
}

int kf_cmd_unknown_verb(struct kf_ctx *ctx, const char *cmd, const char *word,
			const char *const *verbs, int n)
{
	const char *best = kf_closest(word, verbs, n);
	char list[256] = "";
	size_t len = 0;

	for (int i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i == 0 ? "" : i == n - 1 ? " or " : ", ", verbs[i]);
	if (best)
		return kf_err_set(&ctx->err, KF_EUSAGE, "%s: unknown verb '%s' (did you mean '%s'?)",
				  cmd, word, best);
	return kf_err_set(&ctx->err, KF_EUSAGE, "%s: unknown verb '%s' (%s)", cmd, word, list);
}

int kf_cmd_set_ubuntu_iso(struct kf_ctx *ctx, const char *path)
{
	struct kf_config *cfg = NULL;
	char *iso;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if (!(iso = kf_path_abs(path)))
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	free(cfg->paths.ubuntu_iso);
	cfg->paths.ubuntu_iso = iso;
	return 0;
}

char *kf_ctx_path(const struct kf_ctx *ctx, const char *rel)
{
	return kf_path_join(ctx->out_dir, rel);
}

void kf_cmd_help(const struct kf_cmd *cmd)
{
	/* -h/--help is a row of the generated table, so it lines up with the other options. */
	struct kf_opt all[65];
	int n = 0;
	char *opts;

	for (const struct kf_opt *o = cmd->opts; o && o->type != KF_OPT_END && n < 63; o++)
		all[n++] = *o;
	all[n++] = (struct kf_opt)KF_OPT_FLAG_('h', "help", NULL, "show this help");
	all[n] = (struct kf_opt)KF_OPT_END_;
	opts = kf_opt_usage(all);
	printf("Usage: %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->description)
		printf("\n%s\n", cmd->description);
	if (opts && *opts)
		printf("\nOptions:\n%s", opts);
	if (cmd->example)
		printf("\nExample:\n%s\n", cmd->example);
	printf("\nGlobal options (before or after the command): -c FILE, -o DIR, -v, -q, --json,\n"
	       "--no-color. See `k3sforge --help`.\n");
	free(opts);
}

/* The common set-up a command's `needs` asks for, after its options parsed. */
static int cmd_setup(struct kf_ctx *ctx, const struct kf_cmd *cmd)
{
	struct kf_config *cfg;
	int r;

	if ((cmd->needs & KF_CMD_CONFIG) && (r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((cmd->needs & KF_CMD_LOCK) && (r = kf_ctx_lock(ctx)) != 0)
		return r;
	return 0;
}

static int parse_only(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv,
		      int *npos)
{
	bool help = false;
	int r;

	/* argv[0] is the command name; parse the rest. */
	r = kf_opt_parse(cmd->opts, argc - 1, argv + 1, npos, &help, false, &ctx->err);
	if (r) {
		kf_err_wrap(&ctx->err, "%s", cmd->name);
		return r;
	}
	if (help) {
		kf_cmd_help(cmd);
		return 1;
	}
	return 0;
}

int kf_cmd_parse(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv, int *npos)
{
	int r = parse_only(ctx, cmd, argc, argv, npos);

	return r ? r : cmd_setup(ctx, cmd);
}

int kf_cmd_parse_no_args(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv)
{
	int npos = 0, r;

	if ((r = parse_only(ctx, cmd, argc, argv, &npos)) != 0)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "%s takes no arguments ('%s' given)",
				  cmd->name, argv[1]);
	return cmd_setup(ctx, cmd);
}
