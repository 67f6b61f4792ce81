/* k3sforge finalize: the finalize stage (src/lab/finalize.c) from the command line. */
#include "k3sforge/cmd.h"

extern const struct kf_cmd kf_cmd_finalize;

static bool opt_force, opt_keep_iso;

static const struct kf_opt finalize_opts[] = {
	KF_OPT_FLAG_(0, "keep-iso", &opt_keep_iso,
		     "leave the ISOs attached (VMs on another host; boot order is disk first)"),
	KF_OPT_FLAG_(0, "force", &opt_force, "run even if up to date"),
	KF_OPT_END_,
};

static int finalize_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_force = opt_keep_iso = false;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_finalize, argc, argv)) != 0)
		return r;
	ctx->lab.opts.keep_iso = opt_keep_iso;
	return kf_stage_execute(&ctx->lab, &kf_stage_finalize, opt_force, NULL, &ctx->err);
}

const struct kf_cmd kf_cmd_finalize = {
	.name = "finalize",
	.summary = "detach the ISOs, then wait until every node is Ready and the add-ons answer",
	.usage = "k3sforge [-c FILE] [-o DIR] finalize [--keep-iso] [--force]",
	.description =
		"Detaches the CD-ROMs from every node in parallel (QEMU: ejected while it runs;\n"
		"VMware: VM stopped, VMX edited, started, then SSH and the role markers again),\n"
		"then asks the master until every node is\n"
		"Ready, coredns, traefik, svclb, local-path-provisioner and metrics-server run (minus\n"
		"what k3s.disable turns off) and, with KubeSphere on, ks-console runs and\n"
		"http://<master>:30880/login answers 200 (ks-console sends / to /login with a 302\n"
		"when there is no session). Bounded by timeouts.finalize.",
	.example = "  k3sforge -c lab.yaml finalize",
	.opts = finalize_opts,
	.run = finalize_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
