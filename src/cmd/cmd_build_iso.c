/* k3sforge build-iso: the build-iso stage (src/lab/build_iso.c) from the command line. */
#include "k3sforge/cmd.h"
#include "k3sforge/log.h"

extern const struct kf_cmd kf_cmd_build_iso;

static bool opt_force;
static const char *opt_ubuntu_iso;

static const struct kf_opt build_iso_opts[] = {
	KF_OPT_FLAG_(0, "force", &opt_force, "rebuild every image even when its inputs did not change"),
	KF_OPT_STR_(0, "ubuntu-iso", &opt_ubuntu_iso, "FILE",
		    "the Ubuntu 22.04.5 live-server ISO (overrides paths.ubuntu_iso)"),
	KF_OPT_END_,
};

static int build_iso_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int npos = 0, r;
	bool skipped = false;

	opt_force = false;
	opt_ubuntu_iso = NULL;
	if ((r = kf_cmd_parse(ctx, &kf_cmd_build_iso, argc, argv, &npos)) != 0)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "build-iso takes no arguments (got '%s')",
				  argv[1]);
	if (opt_ubuntu_iso && (r = kf_cmd_set_ubuntu_iso(ctx, opt_ubuntu_iso)) != 0)
		return r;
	ctx->lab.opts.rebuild_isos = opt_force;
	r = kf_stage_execute(&ctx->lab, &kf_stage_build_iso, opt_force, &skipped, &ctx->err);
	if (!r && skipped)
		kf_ok("build-iso: nothing to do, the images are up to date");
	return r;
}

const struct kf_cmd kf_cmd_build_iso = {
	.name = "build-iso",
	.summary = "render the guest recipe, write the seed ISOs, remaster the installer ISO",
	.usage = "k3sforge build-iso [--force] [--ubuntu-iso FILE]",
	.description =
		"Renders every node's cloud-init recipe into <out>/render/<node>/, writes\n"
		"<out>/iso/seed-<node>.iso (NoCloud, label cidata) and remasters paths.ubuntu_iso\n"
		"into <out>/iso/installer.iso (GRUB autoinstall entry, /k3sforge/ payload with k3s,\n"
		"install.sh, the airgap images, the CA and SHA256SUMS; BIOS and UEFI boot replayed).\n"
		"In image mode (guest.image) there is no installer: the seeds carry the installed\n"
		"system's user-data and the payload goes on <out>/iso/payload.iso (label KFPAYLOAD).\n"
		"Needs `k3sforge prep` first. Images whose inputs did not change are not rebuilt.",
	.example = "  k3sforge -c lab.yaml build-iso",
	.opts = build_iso_opts,
	.run = build_iso_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
