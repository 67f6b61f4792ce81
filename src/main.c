/* k3sforge: the command table and dispatch. Each command lives in src/cmd/cmd_<name>.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/stage.h"

#ifndef KF_VERSION
#define KF_VERSION "0.0.0-dev"
#endif

extern const struct kf_cmd kf_cmd_up;
extern const struct kf_cmd kf_cmd_config;
extern const struct kf_cmd kf_cmd_mirror;
extern const struct kf_cmd kf_cmd_bundle;

/* Order is the order of `k3sforge --help`. */
static const struct kf_cmd *const commands[] = {
	&kf_cmd_up,
	&kf_cmd_config,
	&kf_cmd_mirror,
	&kf_cmd_bundle,
	NULL,
};

static const char *exit_codes_help =
	"Exit codes:\n"
	"  0  success            1  failure (the message says what and what to do)\n"
	"  2  usage error        3  configuration error\n"
	"  4  output dir locked  5  timed out\n"
	"  130 interrupted\n";

static void print_help(FILE *out)
{
	fprintf(out,
		"k3sforge %s: an air-gapped k3s lab on VMware Workstation, in one command.\n\n"
		"Usage: k3sforge [global options] <command> [options]\n\n"
		"Commands:\n",
		KF_VERSION);
	for (int i = 0; commands[i]; i++)
		fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "  %-12s %s\n", "help", "show help for a command (k3sforge help <command>)");
	fprintf(out,
		"\nGlobal options:\n"
		"  -c, --config FILE   configuration file (default ./k3sforge.yaml)\n"
		"  -o, --out DIR       output directory (default ./k3sforge-out)\n"
		"  -v, --verbose       also print debug lines (the log file always has them)\n"
		"  -q, --quiet         print only warnings and errors\n"
		"      --json          newline-delimited JSON events on stdout, for scripts\n"
		"      --no-color      no colour (also when NO_COLOR is set)\n"
		"      --version       print the version\n"
		"  -h, --help          this help\n\n%s\n"
		"Docs: docs/ in the source tree; `k3sforge help <command>` for one command.\n",
		exit_codes_help);
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
		json_object_set_new(o, "error", json_string(err->msg));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	kf_log_event("result", text);
	free(text);
	json_decref(o);
}

int main(int argc, char **argv)
{
	struct kf_ctx ctx;
	bool help = false, version = false;
	int npos = 0, r, status;
	const struct kf_cmd *cmd;
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_AUTO };
	const struct kf_opt global_opts[] = {
		KF_OPT_STR_('c', "config", &ctx.config_path, "FILE", "configuration file"),
		KF_OPT_STR_('o', "out", &ctx.out_dir, "DIR", "output directory"),
		KF_OPT_FLAG_('v', "verbose", &ctx.verbose, "debug output"),
		KF_OPT_FLAG_('q', "quiet", &ctx.quiet, "warnings and errors only"),
		KF_OPT_FLAG_(0, "json", &ctx.json, "JSON events on stdout"),
		KF_OPT_FLAG_(0, "no-color", &ctx.no_color, "no colour"),
		KF_OPT_FLAG_(0, "version", &version, "print the version"),
		KF_OPT_END_,
	};

	memset(&ctx, 0, sizeof(ctx));
	ctx.out_dir = "k3sforge-out";
	kf_platform_utf8_console();
	kf_platform_install_signals();

	r = kf_opt_parse(global_opts, argc - 1, argv + 1, &npos, &help, true, &ctx.err);
	if (r) {
		kf_log_init(&lo);
		kf_error("%s", ctx.err.msg);
		fprintf(stderr, "Run 'k3sforge --help' for usage.\n");
		return 2;
	}
	ctx.config_explicit = ctx.config_path != NULL;
	if (!ctx.config_path)
		ctx.config_path = "k3sforge.yaml";
	lo.level = ctx.verbose ? KF_LOG_DEBUG : ctx.quiet ? KF_LOG_WARN : KF_LOG_INFO;
	lo.json = ctx.json;
	lo.color = ctx.no_color ? KF_COLOR_NEVER : KF_COLOR_AUTO;
	kf_log_init(&lo);

	if (version) {
		if (ctx.json)
			printf("{\"type\":\"version\",\"version\":\"%s\"}\n", KF_VERSION);
		else
			printf("k3sforge %s\n", KF_VERSION);
		return 0;
	}
	if (help && npos == 0) {
		print_help(stdout);
		return 0;
	}
	if (npos == 0) {
		print_help(stderr);
		return 2;
	}
	argv += 1;
	argc = npos;
	if (strcmp(argv[0], "help") == 0) {
		if (argc < 2) {
			print_help(stdout);
			return 0;
		}
		cmd = find_command(argv[1]);
		if (!cmd) {
			unknown_command(&ctx, argv[1]);
			kf_error("%s", ctx.err.msg);
			return 2;
		}
		kf_cmd_help(cmd);
		return 0;
	}
	cmd = find_command(argv[0]);
	if (!cmd) {
		unknown_command(&ctx, argv[0]);
		kf_error("%s", ctx.err.msg);
		fprintf(stderr, "Run 'k3sforge --help' for usage.\n");
		emit_result(KF_EUSAGE, &ctx.err, 2);
		return 2;
	}
	if (help) {
		kf_cmd_help(cmd);
		return 0;
	}
	kf_run_new(&ctx.run);
	r = cmd->run(&ctx, argc, argv);
	if (r == 1) /* help was printed */
		r = 0;
	kf_run_summary(ctx.run);
	status = r ? kf_err_exit_status(r) : 0;
	if (r) {
		kf_error("%s", ctx.err.msg[0] ? ctx.err.msg : kf_err_name(r));
		if (r == KF_EUSAGE && !ctx.json)
			fprintf(stderr, "Run 'k3sforge help %s' for usage.\n", cmd->name);
	}
	emit_result(r, &ctx.err, status);
	kf_run_free(ctx.run);
	kf_config_free(ctx.cfg);
	kf_lock_release(ctx.lock);
	kf_log_shutdown();
	return status;
}
