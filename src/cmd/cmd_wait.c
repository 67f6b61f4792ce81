/* k3sforge wait: the wait stage (src/lab/wait.c) from the command line. */
#include "k3sforge/cmd.h"

extern const struct kf_cmd kf_cmd_wait;

static bool opt_force, opt_no_vmrun;
static int opt_timeout;

static const struct kf_opt wait_opts[] = {
	KF_OPT_INT_(0, "timeout", &opt_timeout, "SECONDS",
		    "give up on a node after this long (default timeouts.wait, 20 min)", 1, 86400),
	KF_OPT_FLAG_(0, "no-vmrun", &opt_no_vmrun,
		     "use SSH only, no hypervisor signals (VMs on another host)"),
	KF_OPT_FLAG_(0, "force", &opt_force, "run even if up to date"),
	KF_OPT_END_,
};

static int wait_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_force = opt_no_vmrun = false;
	opt_timeout = 0;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_wait, argc, argv)) != 0)
		return r;
	ctx->lab.opts.wait_timeout_s = opt_timeout;
	ctx->lab.opts.no_hv_signals = opt_no_vmrun;
	return kf_stage_execute(&ctx->lab, &kf_stage_wait, opt_force, NULL, &ctx->err);
}

const struct kf_cmd kf_cmd_wait = {
	.name = "wait",
	.summary = "wait for every node until its role's completion marker exists",
	.usage = "k3sforge [-c FILE] [-o DIR] wait [--timeout SECONDS] [--no-vmrun] [--force]",
	.description =
		"All nodes at once. Each walks: powered on → VMware Tools → its configured IP → TCP 22\n"
		"→ SSH authenticated with its pinned host key → /var/lib/k3s-bootstrap.done (master) or\n"
		"/var/lib/k3s-agent-bootstrap.done (worker). Earlier markers are progress, never\n"
		"completion. When a node's bootstrap unit has failed (it can never finish), waiting\n"
		"stops for every node at once (exit 1) instead of running out the deadline. A node that\n"
		"failed or did not finish in time (exit 5) is reported with its last phase, the reason,\n"
		"and (when SSH works) its bootstrap journal and cloud-init status.",
	.example = "  k3sforge -c lab.yaml wait\n  k3sforge -c lab.yaml --json wait --timeout 900",
	.opts = wait_opts,
	.run = wait_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
