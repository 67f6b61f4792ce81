/* The command table (src/main.c) and what every command receives. Each src/cmd/cmd_<name>.c
 * exports one `const struct kf_cmd kf_cmd_<name>`. --help text is generated from it. */
#ifndef K3SFORGE_CMD_H
#define K3SFORGE_CMD_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/opt.h"

struct kf_run;
struct kf_state;

/* Global options and lazily loaded shared objects for one invocation. */
struct kf_ctx {
	const char *config_path;    /* -c, default ./k3sforge.yaml */
	bool config_explicit;       /* -c given */
	const char *out_dir;        /* -o, default ./k3sforge-out */
	bool json, verbose, quiet, no_color;
	struct kf_config *cfg;      /* loaded by kf_ctx_config */
	struct kf_run *run;         /* stage timings of this invocation */
	struct kf_lock *lock;       /* output-dir lock, taken by kf_ctx_lock */
	struct kf_err err;          /* the failure reported at exit */
};

struct kf_cmd {
	const char *name;
	const char *summary;       /* one line for the command list */
	const char *usage;         /* "k3sforge prep [options]" */
	const char *description;   /* a paragraph for `help <command>`; may be NULL */
	const char *example;       /* one or more example lines; may be NULL */
	const struct kf_opt *opts; /* for parsing and help; may be NULL */
	/* argv[0] is the command name. Returns 0 or a KF_E* code with ctx->err set. */
	int (*run)(struct kf_ctx *ctx, int argc, char **argv);
};

/* Loads (once) and returns the configuration; a missing default file yields the built-in
 * defaults with a notice, a missing explicit -c file is an error. */
int kf_ctx_config(struct kf_ctx *ctx, struct kf_config **out);
/* Creates the output dir, opens its log file and takes its lock (once). */
int kf_ctx_lock(struct kf_ctx *ctx);
/* Path under the output dir (caller frees). */
char *kf_ctx_path(const struct kf_ctx *ctx, const char *rel);

/* Parses a command's own options after its name; prints help and returns 1 when asked.
 * Returns 0 to continue, 1 when help was printed, KF_EUSAGE on error (ctx->err set). */
int kf_cmd_parse(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv, int *npos);
/* kf_cmd_parse for a command that takes options only: also refuses positional arguments
 * ("<name> takes no arguments"). Same return values. */
int kf_cmd_parse_no_args(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv);
/* Prints a command's help (usage, description, options, example). */
void kf_cmd_help(const struct kf_cmd *cmd);

/* The one confirmation before something that cannot be undone (create-vms replacing VMs, up,
 * snapshot revert): 0 when `yes` (the command's --yes) or the answer to "<prompt> [y/N] " on the
 * terminal starts with y/Y; off a terminal (stdin not a tty) it does not ask and fails with
 * KF_ESTATE and `offtty` (which names --yes); any other answer fails with `refused`. */
int kf_cmd_confirm(bool yes, const char *prompt, const char *offtty, const char *refused,
		   struct kf_err *err);
/* The usage error for an unknown sub-verb of cmd ("snapshot creat"): names the verbs and the
 * closest one ("did you mean 'create'?"). Returns KF_EUSAGE with ctx->err set. */
int kf_cmd_unknown_verb(struct kf_ctx *ctx, const char *cmd, const char *word,
			const char *const *verbs, int n);

#endif
