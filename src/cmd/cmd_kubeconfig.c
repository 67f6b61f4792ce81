/* k3sforge kubeconfig: the kubeconfig stage (src/lab/kubeconfig.c) from the command line. */
#include "k3sforge/cmd.h"

extern const struct kf_cmd kf_cmd_kubeconfig;

static bool opt_no_merge, opt_overwrite, opt_switch, opt_windows, opt_force;
static const char *opt_target;

static const struct kf_opt kubeconfig_opts[] = {
	KF_OPT_FLAG_(0, "no-merge", &opt_no_merge, "only write <out>/kubeconfig"),
	KF_OPT_STR_(0, "kubeconfig", &opt_target, "FILE",
		    "merge into FILE (default: first of $KUBECONFIG, else ~/.kube/config)"),
	KF_OPT_FLAG_(0, "overwrite", &opt_overwrite, "replace a different entry of the same name"),
	KF_OPT_FLAG_(0, "switch", &opt_switch, "make the lab the current context"),
	KF_OPT_FLAG_(0, "windows", &opt_windows,
		     "from WSL: also merge into %USERPROFILE%\\.kube\\config"),
	KF_OPT_FLAG_(0, "force", &opt_force, "run even if up to date"),
	KF_OPT_END_,
};

static int kubeconfig_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_no_merge = opt_overwrite = opt_switch = opt_windows = opt_force = false;
	opt_target = NULL;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_kubeconfig, argc, argv)) != 0)
		return r;
	ctx->lab.opts.kubeconfig.target = opt_target;
	ctx->lab.opts.kubeconfig.no_merge = opt_no_merge;
	ctx->lab.opts.kubeconfig.overwrite = opt_overwrite;
	ctx->lab.opts.kubeconfig.switch_context = opt_switch;
	ctx->lab.opts.kubeconfig.windows = opt_windows;
	return kf_stage_execute(&ctx->lab, &kf_stage_kubeconfig, opt_force, NULL, &ctx->err);
}

const struct kf_cmd kf_cmd_kubeconfig = {
	.name = "kubeconfig",
	.summary = "fetch the cluster's kubeconfig, prove it, and merge it into yours",
	.usage = "k3sforge [-c FILE] [-o DIR] kubeconfig [--no-merge] [--kubeconfig FILE] "
		 "[--overwrite] [--switch] [--windows]",
	.description =
		"Reads /etc/rancher/k3s/k3s.yaml from the master over SSH (pinned host key), points it\n"
		"at https://<master ip>:6443, names its cluster, user and context k3sforge-<cluster>,\n"
		"writes <out>/kubeconfig (0600), and proves it with GET /version using its own CA and\n"
		"client certificate. Then merges it into your kubeconfig as parsed YAML: other\n"
		"contexts are kept, the old file is backed up, a different entry of the same name is\n"
		"refused unless --overwrite (a namespace you set on the lab's context is kept). A\n"
		"symlinked kubeconfig is written through to its target, backup beside it. Comments\n"
		"in your file survive only in the backup.",
	.example = "  k3sforge -c lab.yaml kubeconfig --switch\n"
		   "  k3sforge -c lab.yaml kubeconfig --windows   # from WSL: Windows kubectl too",
	.opts = kubeconfig_opts,
	.run = kubeconfig_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
