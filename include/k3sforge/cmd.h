/* The command table (src/main.c) and what every command receives. Each src/cmd/cmd_<name>.c
 * exports one `const struct kf_cmd kf_cmd_<name>`. --help text is generated from it. */
#ifndef K3SFORGE_CMD_H
#define K3SFORGE_CMD_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h" /* kf_ctx_path takes these <out>-relative paths */
#include "k3sforge/opt.h"
#include "k3sforge/report.h"

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
	/* What the stages see (lab.h): cfg, out_dir and run mirrored from here once the
	 * configuration is loaded; the stage commands' options go into lab.opts. */
	struct kf_lab lab;
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
	bool hidden;               /* not in --help, completions or the man page (__man) */
	/* What kf_cmd_parse sets up once the options parsed (help printed nothing up): */
	unsigned needs;            /* KF_CMD_CONFIG | KF_CMD_LOCK */
};

/* kf_cmd.needs: load the configuration (kf_ctx_config); take the output directory's lock,
 * open its log file (kf_ctx_lock). */
#define KF_CMD_CONFIG 0x1u
#define KF_CMD_LOCK 0x2u

/* Loads (once) and returns the configuration; a missing default file yields the built-in
 * defaults with a notice, a missing explicit -c file is an error. */
int kf_ctx_config(struct kf_ctx *ctx, struct kf_config **out);
/* Creates the output dir, opens its log file and takes its lock (once). */
int kf_ctx_lock(struct kf_ctx *ctx);
/* --ubuntu-iso FILE (build-iso, up): the configured ISO, for this run. */
int kf_cmd_set_ubuntu_iso(struct kf_ctx *ctx, const char *path);
/* Path under the output dir (caller frees). */
char *kf_ctx_path(const struct kf_ctx *ctx, const char *rel);

/* Parses a command's own options after its name; prints help and returns 1 when asked. Then
 * sets up what cmd->needs (configuration, lock). Returns 0 to continue, 1 when help was
 * printed, KF_EUSAGE on a usage error, or the set-up's error (ctx->err set). */
int kf_cmd_parse(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv, int *npos);
/* kf_cmd_parse for a command that takes options only: also refuses positional arguments
 * ("<name> takes no arguments"). Same return values. */
int kf_cmd_parse_no_args(struct kf_ctx *ctx, const struct kf_cmd *cmd, int argc, char **argv);
/* Prints a command's help (usage, description, options, example). */
void kf_cmd_help(const struct kf_cmd *cmd);

/* The command table and the global options, as main has them (set by main before dispatch), for
 * what is generated from them: shell completions and the man page (src/cmd/cmd_completion.c). */
extern const struct kf_cmd *const *kf_cmd_table;
extern const struct kf_opt *kf_cmd_globals;

/* The git commit the binary was built from ("unknown" outside git), written at build time. */
extern const char kf_build_commit[];
/* `k3sforge --version` and `k3sforge version`: "k3sforge 0.2.0 (abc1234)" on stdout, or the
 * version event under --json. */
void kf_version_print(bool json);

/* The usage error for an unknown sub-verb of cmd ("snapshot creat"): names the verbs and the
 * closest one ("did you mean 'create'?"). Returns KF_EUSAGE with ctx->err set. */
int kf_cmd_unknown_verb(struct kf_ctx *ctx, const char *cmd, const char *word,
			const char *const *verbs, int n);

#endif
