/* k3sforge prep: everything the offline cluster must trust and install — PKI and SSH material,
 * verified k3s artifacts, registries.yaml, a running TLS registry proven by a real handshake,
 * and every image mirrored into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/artifacts.h"
#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/pki.h"
#include "k3sforge/prep.h"
#include "k3sforge/registries_yaml.h"
#include "k3sforge/regserver.h"
#include "k3sforge/stage.h"
#include "k3sforge/wslproxy.h"

extern const struct kf_cmd kf_cmd_prep;

static bool opt_force;
static const char *opt_artifacts_from;
static const char *opt_ca_bundle;

static const struct kf_opt prep_opts[] = {
	KF_OPT_STR_(0, "artifacts-from", &opt_artifacts_from, "DIR",
		    "take the k3s release files from DIR (still verified) instead of downloading"),
	KF_OPT_STR_(0, "ca-bundle", &opt_ca_bundle, "FILE",
		    "extra CA bundle for downloads (corporate proxies)"),
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "run again even if up to date, and regenerate the CA, keys and token"),
	KF_OPT_END_,
};

static void artifacts_opts(struct kf_artifacts_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->from_dir = opt_artifacts_from;
	o->ca_file = opt_ca_bundle;
	o->force = opt_force;
}

int kf_prep_fingerprint(struct kf_ctx *ctx, struct kf_fp *fp, struct kf_err *err)
{
	struct kf_config *cfg;
	struct kf_artifacts_opts ao;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	artifacts_opts(&ao);
	kf_pki_fingerprint(fp, cfg);
	kf_artifacts_fingerprint(cfg, &ao, fp);
	kf_regserver_fingerprint(cfg, fp);
	for (size_t i = 0; i < cfg->registry.n_mirrors; i++)
		kf_fp_str(fp, "registry.mirror", cfg->registry.mirrors[i]);
	kf_prep_images_fingerprint(cfg, fp);
	(void)err;
	return 0;
}

/* The registry's listen port (what a WSL port proxy forwards to). */
static int registry_port(const struct kf_config *cfg, int *port, struct kf_err *err)
{
	char listen[128], host[128];

	return kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), port, err);
}

int kf_prep_check(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_pki_check(cfg, ctx->out_dir, err)) != 0)
		return r;
	if ((r = kf_artifacts_check(cfg, ctx->out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_check(cfg, ctx->out_dir, err)) != 0)
		return r;
	/* WSL's address changes when WSL restarts: a stale port proxy makes prep run again. */
	if (kf_wslproxy_netmode(NULL) == KF_WSL_NAT) {
		int port = 0;
		if ((r = registry_port(cfg, &port, err)) != 0)
			return r;
		return kf_wslproxy_check(cfg->registry.host_ip, cfg->registry.port, port, err);
	}
	return 0;
}

static int prep_run(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	struct kf_pki_report pki = { 0 };
	struct kf_artifacts_report art;
	struct kf_artifacts_opts ao;
	struct kf_regserver_report reg;
	bool changed = false, checked_ip = false;
	int r;

	memset(&art, 0, sizeof(art));
	memset(&reg, 0, sizeof(reg));
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;

	kf_info("prep 1/5: CA, registry certificate, SSH keys, token");
	if ((r = kf_pki_ensure(cfg, ctx->out_dir, opt_force, &pki, err)) != 0)
		goto out;
	if (kf_pki_report_changes(&pki) == 0)
		kf_info("trust material: all in place, nothing to do");

	kf_info("prep 2/5: k3s %s artifacts%s", cfg->k3s.version,
		opt_artifacts_from ? " (from a folder)" : "");
	artifacts_opts(&ao);
	if ((r = kf_artifacts_ensure(cfg, ctx->out_dir, &ao, &art, err)) != 0)
		goto out;

	kf_info("prep 3/5: registries.yaml");
	if ((r = kf_registries_yaml_write(cfg, ctx->out_dir, &changed, err)) != 0)
		goto out;
	kf_info("registries.yaml %s", changed ? "written" : "unchanged");

	kf_info("prep 4/5: TLS registry");
	if ((r = kf_regserver_ensure(cfg, ctx->out_dir, &reg, err)) != 0)
		goto out;
	kf_ok("registry %s (pid %ld) at %s", reg.reused ? "already running" :
					      reg.restarted ? "restarted" : "started",
	      reg.pid, reg.url);
	if ((r = kf_regserver_tls_selfcheck(cfg, ctx->out_dir, &checked_ip, err)) != 0)
		goto out;
	kf_ok("registry TLS verified against the CA%s", checked_ip ? ", also at the registry IP" : "");
	if (kf_platform_is_wsl()) {
		/* The guests reach Windows at the registry IP; in WSL's NAT mode Windows must forward
		 * that port into WSL (mirrored mode: nothing to do, said so). */
		struct kf_wslproxy_report wr;
		int port = 0;
		if ((r = registry_port(cfg, &port, err)) != 0 ||
		    (r = kf_wslproxy_ensure(cfg->registry.host_ip, cfg->registry.port, port, &wr,
					    err)) != 0)
			goto out;
	}

	kf_info("prep 5/5: images");
	if ((r = kf_prep_images(ctx, cfg, err)) != 0)
		goto out;
out:
	kf_pki_report_free(&pki);
	kf_artifacts_report_free(&art);
	return r;
}

const struct kf_stage_def kf_stage_prep = {
	.name = "prep",
	.fingerprint = kf_prep_fingerprint,
	.check = kf_prep_check,
	.run = prep_run,
};

static int prep_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int npos = 0, r;

	if ((r = kf_cmd_parse(ctx, &kf_cmd_prep, argc, argv, &npos)) != 0)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "prep takes no arguments ('%s' given)", argv[1]);
	return kf_stage_execute(ctx, &kf_stage_prep, opt_force, NULL);
}

const struct kf_cmd kf_cmd_prep = {
	.name = "prep",
	.summary = "make the trust material, fetch and verify k3s, start the TLS registry, mirror images",
	.usage = "k3sforge [-c FILE] [-o DIR] prep [--artifacts-from DIR] [--ca-bundle FILE] [--force]",
	.description =
		"Creates <out>/pki (CA, registry certificate with the registry IP in its SANs),\n"
		"<out>/ssh (operator key, one pinned host key per node, known_hosts), the k3s token;\n"
		"downloads and sha256-verifies the k3s release files (resuming partial downloads);\n"
		"writes registries.yaml; starts (or reuses) the registry over TLS and proves it with a\n"
		"real handshake against the CA; mirrors every image of the configured list and checks\n"
		"that every image the pinned k3s release needs is there. A rerun does only what is\n"
		"missing. Under WSL2 in NAT mode it also sets up the Windows port proxy <registry\n"
		"ip>:<port> -> WSL and a firewall rule (netsh, administrator once); in mirrored mode\n"
		"nothing is needed. --force also regenerates the CA and keys: nodes built with the old ones will\n"
		"no longer be trusted.",
	.example = "  k3sforge -c lab.yaml prep\n"
		   "  k3sforge -c lab.yaml prep --artifacts-from /media/usb/k3s-v1.33.4",
	.opts = prep_opts,
	.run = prep_cmd,
};
