/* k3sforge prep: the prep stage (src/lab/prep.c) from the command line. */
#include "k3sforge/cmd.h"

extern const struct kf_cmd kf_cmd_prep;

static bool opt_force;
static const char *opt_artifacts_from;
static const char *opt_ca_bundle;
static const char *opt_from_bundle;

static const struct kf_opt prep_opts[] = {
	KF_OPT_STR_(0, "artifacts-from", &opt_artifacts_from, "DIR",
		    "take the k3s release files from DIR (still verified) instead of downloading"),
	KF_OPT_STR_(0, "from-bundle", &opt_from_bundle, "FILE",
		    "offline: load the images and k3s files of an air-gap bundle (`k3sforge bundle "
		    "export`), verified completely before anything is loaded"),
	KF_OPT_STR_(0, "ca-bundle", &opt_ca_bundle, "FILE",
		    "extra CA bundle for downloads (corporate proxies)"),
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "run again even if up to date, and regenerate the CA, keys and token"),
	KF_OPT_END_,
};

static int prep_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_force = false;
	opt_artifacts_from = opt_from_bundle = opt_ca_bundle = NULL;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_prep, argc, argv)) != 0)
		return r;
	ctx->lab.opts.artifacts_from = opt_artifacts_from;
	ctx->lab.opts.from_bundle = opt_from_bundle;
	ctx->lab.opts.ca_bundle = opt_ca_bundle;
	ctx->lab.opts.regenerate = opt_force;
	/* A bundle given is always loaded, even when prep is otherwise up to date. */
	return kf_stage_execute(&ctx->lab, &kf_stage_prep, opt_force || opt_from_bundle, NULL,
				&ctx->err);
}

const struct kf_cmd kf_cmd_prep = {
	.name = "prep",
	.summary = "make the trust material, fetch and verify k3s, start the TLS registry, mirror images",
	.usage = "k3sforge [-c FILE] [-o DIR] prep [--artifacts-from DIR | --from-bundle FILE] "
		 "[--ca-bundle FILE] [--force]",
	.description =
		"Creates <out>/pki (CA, registry certificate with the registry IP in its SANs),\n"
		"<out>/ssh (operator key, one pinned host key per node, known_hosts), the k3s token;\n"
		"downloads and sha256-verifies the k3s release files (resuming partial downloads);\n"
		"writes registries.yaml; starts (or reuses) the registry over TLS and proves it with a\n"
		"real handshake against the CA: read-only where the lab reaches it, writable only\n"
		"through a second instance on 127.0.0.1; mirrors every image of the release's\n"
		"k3s-images.txt, the pinned pause image and the image list (the add-ons) through that\n"
		"one and checks that every image the pinned k3s release needs is served. A rerun\n"
		"does only what is missing. Offline, --from-bundle FILE takes the images and the k3s files from a\n"
		"bundle made by `k3sforge bundle export` on a connected machine; the whole bundle\n"
		"is verified first and a truncated or altered one is refused before anything is\n"
		"loaded. Under WSL2 in NAT mode it also sets up the Windows port proxy <registry\n"
		"ip>:<port> -> WSL and a firewall rule (netsh, administrator once); in mirrored mode\n"
		"nothing is needed. --force also regenerates the CA and keys: nodes built with the\n"
		"old ones will no longer be trusted.",
	.example = "  k3sforge -c lab.yaml prep\n"
		   "  k3sforge -c lab.yaml prep --artifacts-from /media/usb/k3s-v1.33.4\n"
		   "  k3sforge -c lab.yaml prep --from-bundle /media/usb/lab-bundle.tar",
	.opts = prep_opts,
	.run = prep_cmd,
	.needs = KF_CMD_CONFIG | KF_CMD_LOCK,
};
