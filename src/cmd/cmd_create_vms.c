/* k3sforge create-vms: the create-vms stage (src/lab/create_vms.c) from the command line. */
#include "k3sforge/cmd.h"

extern const struct kf_cmd kf_cmd_create_vms;

static bool opt_force, opt_yes;

static const struct kf_opt create_vms_opts[] = {
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "run even if up to date, and replace unmarked folders that hold this node's VM"),
	KF_OPT_FLAG_('y', "yes", &opt_yes,
		     "replace VMs made earlier without asking (required when not on a terminal)"),
	KF_OPT_END_,
};

static int create_vms_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_force = false;
	opt_yes = false;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_create_vms, argc, argv)) != 0)
		return r;
	ctx->lab.opts.replace_vms = opt_yes;
	ctx->lab.opts.replace_unmarked = opt_force;
	return kf_stage_execute(&ctx->lab, &kf_stage_create_vms, opt_force, NULL, &ctx->err);
}

const struct kf_cmd kf_cmd_create_vms = {
	.name = "create-vms",
	.summary = "create one VM per node (VMware or QEMU) and start them all in parallel",
	.usage = "k3sforge [-c FILE] [-o DIR] create-vms [--force] [--yes]",
	.description =
		"Needs <out>/iso/installer.iso (image mode, guest.image: <out>/iso/payload.iso) and\n"
		"<out>/iso/seed-<node>.iso (k3sforge build-iso). With hypervisor: qemu each VM is a\n"
		"daemonized QEMU on a tap in qemu.bridge (docs/qemu.md); image mode makes each disk\n"
		"from guest.image, grown to nodes[].disk.\n"
		"Checks the host first (vmrun or QEMU, memory, disk), replaces VMs of the same names\n"
		"that k3sforge made earlier (stop, unregister, delete their folder), writes each node's\n"
		"folder under paths.vm_dir (default <out>/vms): disk, VMX, and a .k3sforge-owned\n"
		"mark, then starts every VM at once (nogui). Folders k3sforge did not make are never\n"
		"touched; --force replaces an unmarked folder only when it holds just this node's VM.\n"
		"Replacing VMs made earlier (changed inputs, or --force) is asked on a terminal and\n"
		"needs --yes (or --force) elsewhere: everything in them is lost.\n"
		"A rerun with unchanged inputs does nothing. vmware.host_checks: warn in the\n"
		"configuration (or K3SFORGE_HOST_CHECKS=warn in the environment, for one run) turns\n"
		"failed host checks into warnings (hosts that overcommit memory or thin-provision\n"
		"disks on purpose).",
	.example = "  k3sforge -c lab.yaml create-vms",
	.opts = create_vms_opts,
	.run = create_vms_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
