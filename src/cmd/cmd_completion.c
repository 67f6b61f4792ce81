/* k3sforge completion bash|zsh|fish|powershell, and the hidden `k3sforge __man`: shell
 * completions and the man page, generated from the same command table and option arrays as
 * --help (kf_cmd_table, kf_cmd_globals, each command's opts), the subcommands named in each
 * command's usage line, and the stage names of `up` for --from. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

const struct kf_cmd *const *kf_cmd_table;
const struct kf_opt *kf_cmd_globals;

extern const struct kf_cmd kf_cmd_completion;
extern const struct kf_cmd kf_cmd_man;

static int write_out(struct kf_ctx *ctx, struct kf_buf *b)
{
	const char *s = kf_buf_str(b);
	int bad;

	if (!s) {
		kf_buf_free(b);
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	}
	bad = fputs(s, stdout) == EOF;
	bad = fflush(stdout) != 0 || bad;
	kf_buf_free(b);
	if (bad)
		return kf_err_set(&ctx->err, KF_EIO, "cannot write to standard output");
	return 0;
}

static const struct kf_opt completion_opts[] = {
	KF_OPT_END_,
};

static int completion_run(struct kf_ctx *ctx, int argc, char **argv)
{
	static const char *const shells[] = { "bash", "zsh", "fish", "powershell" };
	struct kf_buf b;
	int npos = 0, r;

	if ((r = kf_cmd_parse(ctx, &kf_cmd_completion, argc, argv, &npos)) != 0)
		return r;
	if (npos != 1) {
		return kf_err_set(&ctx->err, KF_EUSAGE, "completion needs one shell: bash, zsh, fish "
				  "or powershell%s", npos > 1 ? " (more than one given)" : "");
	}
	if (!kf_cmd_table || !kf_cmd_globals)
		return kf_err_set(&ctx->err, KF_EFAIL, "completion: no command table");
	kf_buf_init(&b, 0);
	if (strcmp(argv[1], "bash") == 0)
		kf_gen_bash(&b);
	else if (strcmp(argv[1], "zsh") == 0)
		kf_gen_zsh(&b);
	else if (strcmp(argv[1], "fish") == 0)
		kf_gen_fish(&b);
	else if (strcmp(argv[1], "powershell") == 0 || strcmp(argv[1], "pwsh") == 0)
		kf_gen_powershell(&b);
	else {
		const char *best = kf_closest(argv[1], shells, 4);
		kf_buf_free(&b);
		return kf_err_set(&ctx->err, KF_EUSAGE, "completion: unknown shell '%s'%s%s%s "
				  "(bash, zsh, fish or powershell)", argv[1],
				  best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
	}
	return write_out(ctx, &b);
}

static int man_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_buf b;
	int r;

	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_man, argc, argv)) != 0)
		return r;
	if (!kf_cmd_table || !kf_cmd_globals)
		return kf_err_set(&ctx->err, KF_EFAIL, "__man: no command table");
	kf_buf_init(&b, 0);
	kf_gen_man(&b);
	return write_out(ctx, &b);
}

const struct kf_cmd kf_cmd_completion = {
	.name = "completion",
	.summary = "print the shell completion script for bash, zsh, fish or powershell",
	.usage = "k3sforge completion bash|zsh|fish|powershell",
	.description =
		"Prints a completion script generated from the same command table and options as\n"
		"--help: commands, subcommands, options, the stage names for up --from, file and\n"
		"directory arguments, and (bash, zsh, fish) the node names of the configuration for\n"
		"render --node, read with `k3sforge config show`. The package installs the bash,\n"
		"zsh and fish scripts where those shells look for them.",
	.example = "source <(k3sforge completion bash)             # this bash session\n"
		   "k3sforge completion fish > ~/.config/fish/completions/k3sforge.fish\n"
		   "k3sforge completion powershell | Out-String | Invoke-Expression",
	.opts = completion_opts,
	.run = completion_run,
};

const struct kf_cmd kf_cmd_man = {
	.name = "__man",
	.summary = "print the man page (roff), generated at build time",
	.usage = "k3sforge __man",
	.opts = completion_opts,
	.run = man_run,
	.hidden = true,
};
