/* k3sforge: the command table and dispatch. Each command lives in src/cmd/cmd_<name>.c. */
#include <curl/curl.h>
#include <jansson.h>
#include <libssh2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/run.h"

#ifndef KF_VERSION
#define KF_VERSION "0.0.0-dev"
#endif

extern const struct kf_cmd kf_cmd_up;
extern const struct kf_cmd kf_cmd_prep;
extern const struct kf_cmd kf_cmd_build_iso;
extern const struct kf_cmd kf_cmd_create_vms;
extern const struct kf_cmd kf_cmd_wait;
extern const struct kf_cmd kf_cmd_finalize;
extern const struct kf_cmd kf_cmd_kubeconfig;
extern const struct kf_cmd kf_cmd_mirror;
extern const struct kf_cmd kf_cmd_bundle;
extern const struct kf_cmd kf_cmd_registry;
extern const struct kf_cmd kf_cmd_render;
extern const struct kf_cmd kf_cmd_doctor;
extern const struct kf_cmd kf_cmd_destroy;
extern const struct kf_cmd kf_cmd_config;
extern const struct kf_cmd kf_cmd_snapshot;
extern const struct kf_cmd kf_cmd_status;
extern const struct kf_cmd kf_cmd_backup;
extern const struct kf_cmd kf_cmd_restore;
extern const struct kf_cmd kf_cmd_version;
extern const struct kf_cmd kf_cmd_completion;
extern const struct kf_cmd kf_cmd_man;

/* Order is the order of `k3sforge --help`: up, the stages in order, then the tools. */
static const struct kf_cmd *const commands[] = {
	&kf_cmd_up,
	&kf_cmd_prep,
	&kf_cmd_build_iso,
	&kf_cmd_create_vms,
	&kf_cmd_wait,
	&kf_cmd_finalize,
	&kf_cmd_kubeconfig,
	&kf_cmd_mirror,
	&kf_cmd_bundle,
	&kf_cmd_registry,
	&kf_cmd_render,
	&kf_cmd_status,
	&kf_cmd_doctor,
	&kf_cmd_snapshot,
	&kf_cmd_backup,
	&kf_cmd_restore,
	&kf_cmd_destroy,
	&kf_cmd_config,
	&kf_cmd_version,
	&kf_cmd_completion,
	&kf_cmd_man, /* hidden: the man page, generated at build time */
	NULL,
};

static const char *exit_codes_help =
	"Exit codes:\n"
	"  0  success            1  failure (the message says what and what to do)\n"
	"  2  usage error        3  configuration error\n"
	"  4  output dir locked  5  timed out\n"
	"  130 interrupted\n";

static void print_help(FILE *out, const struct kf_opt *global_opts)
{
	char *opts = kf_opt_usage(global_opts);

	fprintf(out,
		"k3sforge %s: an air-gapped k3s lab on VMware Workstation, in one command.\n\n"
		"Usage: k3sforge [global options] <command> [options]\n"
		"(global options may also follow the command: k3sforge up -c lab.yaml)\n\n"
		"Commands:\n",
		KF_VERSION);
	for (int i = 0; commands[i]; i++)
		if (!commands[i]->hidden)
			fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "  %-12s %s\n", "help", "show help for a command (k3sforge help <command>)");
	fprintf(out, "\nGlobal options:\n%s\n%s\n"
		"Docs: docs/ in the source tree (docs/cli.md, docs/exit-codes.md);\n"
		"`k3sforge help <command>` for one command.\n",
		opts ? opts : "", exit_codes_help);
	free(opts);
}

static const struct kf_cmd *find_command(const char *name)
{
	for (int i = 0; commands[i]; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static int unknown_command(struct kf_ctx *ctx, const char *name)
{
	const char *names[64];
	int n = 0;
	const char *best;

	for (int i = 0; commands[i] && n < 63; i++)
		names[n++] = commands[i]->name;
	names[n++] = "help";
	best = kf_closest(name, names, n);
	if (best)
		return kf_err_set(&ctx->err, KF_EUSAGE, "unknown command '%s' (did you mean '%s'?)", name,
				  best);
	return kf_err_set(&ctx->err, KF_EUSAGE, "unknown command '%s' (k3sforge --help lists them)",
			  name);
}

static void emit_result(int r, const struct kf_err *err, int status)
{
	json_t *o = json_object();
	char *text;

	json_object_set_new(o, "ok", json_boolean(r == 0));
	json_object_set_new(o, "exit", json_integer(status));
	if (r) {
		json_object_set_new(o, "code", json_string(kf_err_name(r)));
		json_object_set_new(o, "error", kf_json_text(err->msg[0] ? err->msg : kf_err_name(r)));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	kf_log_event("result", text);
	free(text);
	json_decref(o);
}

/* Was --json among the global options (before the command)? For errors found while parsing
 * them, when the parser may have stopped before reaching it. */
static bool json_requested(int argc, char **argv)
{
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--json-ascii") == 0)
			return true;
	}
	return false;
}

/* The one way out: reports a failure (one line), emits the result event, frees, exit status. */
static int finish(struct kf_ctx *ctx, int r, const char *hint)
{
	int status = r ? kf_err_exit_status(r) : 0;

	if (r) {
		const char *m = ctx->err.msg;
		/* A hint only when the message has none of its own: one line either way. */
		if (hint && !ctx->json && !strstr(m, "did you mean") && !strstr(m, "--help"))
			kf_error("%s (%s)", ctx->err.msg[0] ? ctx->err.msg : kf_err_name(r), hint);
		else
			kf_error("%s", ctx->err.msg[0] ? ctx->err.msg : kf_err_name(r));
	}
	emit_result(r, &ctx->err, status);
	kf_run_free(ctx->run);
	kf_config_free(ctx->cfg);
	kf_lock_release(ctx->lock);
	kf_log_shutdown();
	return status;
}

/* Global options may also follow the command (`k3sforge up -c lab.yaml`, as people type it):
 * takes them out of args[1..*n) and applies them, leaving the command's own options (and their
 * values) alone; a command's own option of the same name (doctor/status --json) wins. */
static int take_trailing_globals(const struct kf_cmd *cmd, const struct kf_opt *globals,
				 char **args, int *n, struct kf_err *err)
{
	int out = 1, i = 1;

	while (i < *n) {
		const struct kf_opt *o;
		bool inl;
		int take, npos = 0, r;

		if (strcmp(args[i], "--") == 0) {
			while (i < *n)
				args[out++] = args[i++];
			break;
		}
		if ((o = kf_opt_find(cmd->opts, args[i], &inl)) != NULL) {
			/* the command's own: keep it, and its value */
			take = (o->type != KF_OPT_FLAG && !inl && i + 1 < *n) ? 2 : 1;
			while (take--)
				args[out++] = args[i++];
			continue;
		}
		if ((o = kf_opt_find(globals, args[i], &inl)) == NULL ||
		    strcmp(o->long_name, "help") == 0 || strcmp(o->long_name, "version") == 0) {
			args[out++] = args[i++];
			continue;
		}
		take = (o->type != KF_OPT_FLAG && !inl) ? 2 : 1;
		if (i + take > *n)
			return kf_err_set(err, KF_EUSAGE, "option %s needs a value (%s)", args[i],
					  o->argname ? o->argname : "VALUE");
		if ((r = kf_opt_parse(globals, take, args + i, &npos, NULL, true, err)) != 0)
			return r;
		i += take;
	}
	*n = out;
	return 0;
}

/* kubectl users type `-o json`, but -o is the output directory here: a format name that is no
 * existing directory is a usage error with the option they meant, not a directory "json". */
static int out_dir_is_a_format(struct kf_ctx *ctx, const char *cmd)
{
	static const char *const formats[] = { "json", "yaml", "wide", "name" };

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(ctx->out_dir, formats[i]) == 0 && !kf_fs_exists(ctx->out_dir))
			return kf_err_set(&ctx->err, KF_EUSAGE,
					  "-o %s: -o is the output directory here, not an output "
					  "format; for JSON use --json (`k3sforge --json %s`), or "
					  "-o ./%s for a directory of that name",
					  ctx->out_dir, cmd, ctx->out_dir);
	return 0;
}

/* libcurl and libssh2 are initialised once, here, before any thread (curl_global_init is not
 * thread-safe before curl 7.84, Ubuntu 22.04 has 7.81), and cleaned up at exit. */
static void net_cleanup(void)
{
	libssh2_exit();
	curl_global_cleanup();
}

int main(int argc, char **argv)
{
	struct kf_ctx ctx;
	bool help = false, version = false, json_ascii = false;
	int npos = 0, r;
	const struct kf_cmd *cmd;
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_AUTO };
	const struct kf_opt global_opts[] = {
		KF_OPT_STR_('c', "config", &ctx.config_path, "FILE",
			    "configuration file (default ./k3sforge.yaml)"),
		KF_OPT_STR_('o', "out", &ctx.out_dir, "DIR", "output directory (default ./k3sforge-out; for JSON output see --json)"),
		KF_OPT_FLAG_('v', "verbose", &ctx.verbose,
			     "also print debug lines (the log file always has them)"),
		KF_OPT_FLAG_('q', "quiet", &ctx.quiet, "print only warnings, errors and the closing result line"),
		KF_OPT_FLAG_(0, "json", &ctx.json, "newline-delimited JSON events on stdout, for scripts"),
		KF_OPT_FLAG_(0, "json-ascii", &json_ascii,
			     "--json with non-ASCII escaped as \\uXXXX (Windows PowerShell 5.1)"),
		KF_OPT_FLAG_(0, "no-color", &ctx.no_color, "no colour (also when NO_COLOR is set)"),
		KF_OPT_FLAG_(0, "version", &version, "print the version"),
		KF_OPT_FLAG_('h', "help", &help, "this help"),
		KF_OPT_END_,
	};

	memset(&ctx, 0, sizeof(ctx));
	ctx.out_dir = "k3sforge-out";
	kf_cmd_table = commands;
	kf_cmd_globals = global_opts;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || libssh2_init(0) != 0) {
		fprintf(stderr, "k3sforge: cannot initialise libcurl/libssh2\n");
		return 1;
	}
	atexit(net_cleanup);
	kf_platform_utf8_console();
	kf_platform_install_signals();

	r = kf_opt_parse(global_opts, argc - 1, argv + 1, &npos, &help, true, &ctx.err);
	if (r) {
		ctx.json = ctx.json || json_requested(argc, argv);
		lo.json = ctx.json;
		lo.color = ctx.no_color ? KF_COLOR_NEVER : KF_COLOR_AUTO;
		kf_log_init(&lo);
		return finish(&ctx, r, "k3sforge --help lists the options");
	}
	if (r == 0 && npos > 1 && (cmd = find_command(argv[1])) != NULL)
		r = take_trailing_globals(cmd, global_opts, argv + 1, &npos, &ctx.err);
	if (r) {
		lo.json = ctx.json;
		lo.color = ctx.no_color ? KF_COLOR_NEVER : KF_COLOR_AUTO;
		kf_log_init(&lo);
		return finish(&ctx, r, "k3sforge --help lists the options");
	}
	ctx.json = ctx.json || json_ascii;
	kf_log_set_json_ascii(json_ascii);
	ctx.config_explicit = ctx.config_path != NULL;
	if (!ctx.config_path)
		ctx.config_path = "k3sforge.yaml";
	lo.level = ctx.verbose ? KF_LOG_DEBUG : ctx.quiet ? KF_LOG_WARN : KF_LOG_INFO;
	lo.json = ctx.json;
	lo.color = ctx.no_color ? KF_COLOR_NEVER : KF_COLOR_AUTO;
	kf_log_init(&lo);

	if (version) {
		kf_version_print(ctx.json);
		if (ctx.json)
			return finish(&ctx, 0, NULL);
		kf_log_shutdown();
		return 0;
	}
	if (help && npos == 0) {
		print_help(stdout, global_opts);
		kf_log_shutdown();
		return 0;
	}
	if (npos == 0) {
		if (!ctx.json)
			print_help(stderr, global_opts);
		kf_err_set(&ctx.err, KF_EUSAGE, "no command given (k3sforge --help lists them)");
		return finish(&ctx, KF_EUSAGE, NULL);
	}
	argv += 1;
	argc = npos;
	if (strcmp(argv[0], "help") == 0) {
		if (argc < 2 || strcmp(argv[1], "help") == 0) {
			print_help(stdout, global_opts);
			kf_log_shutdown();
			return 0;
		}
		cmd = find_command(argv[1]);
		if (!cmd)
			return finish(&ctx, unknown_command(&ctx, argv[1]), NULL);
		kf_cmd_help(cmd);
		kf_log_shutdown();
		return 0;
	}
	cmd = find_command(argv[0]);
	if (!cmd)
		return finish(&ctx, unknown_command(&ctx, argv[0]), NULL);
	if (help) {
		kf_cmd_help(cmd);
		kf_log_shutdown();
		return 0;
	}
	if ((r = out_dir_is_a_format(&ctx, cmd->name)) != 0)
		return finish(&ctx, r, NULL);
	if ((r = kf_run_new(&ctx.run)) != 0) {
		kf_err_set(&ctx.err, r, "out of memory");
		return finish(&ctx, r, NULL);
	}
	ctx.lab.run = ctx.run;
	ctx.lab.out_dir = ctx.out_dir;
	r = cmd->run(&ctx, argc, argv);
	if (r == 1) { /* help was printed */
		kf_run_free(ctx.run);
		kf_config_free(ctx.cfg);
		kf_lock_release(ctx.lock);
		kf_log_shutdown();
		return 0;
	}
	kf_run_summary(ctx.run);
	if (r == KF_EUSAGE) {
		char hint[64];
		snprintf(hint, sizeof(hint), "k3sforge help %s shows its usage", cmd->name);
		return finish(&ctx, r, hint);
	}
	return finish(&ctx, r, NULL);
}
