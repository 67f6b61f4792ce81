/* The prep stage: everything the offline cluster must trust and install -- PKI and SSH
 * material, verified k3s artifacts, registries.yaml, a running TLS registry proven by a real
 * handshake, and every image mirrored into it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/artifacts.h"
#include "k3sforge/bundle.h"
#include "k3sforge/fs.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/pki.h"
#include "k3sforge/prep.h"
#include "k3sforge/registries_yaml.h"
#include "k3sforge/state.h"
#include "k3sforge/regserver.h"
#include "k3sforge/platform_wsl.h"
#include "k3sforge/wslproxy.h"

static void artifacts_opts(const struct kf_lab *lab, struct kf_artifacts_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->from_dir = lab->opts.artifacts_from;
	o->ca_file = lab->opts.ca_bundle;
	o->force = lab->opts.regenerate;
}

static int prep_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_artifacts_opts ao;

	artifacts_opts(lab, &ao);
	/* Where the files come from (download, --artifacts-from, --from-bundle) is not an input:
	 * the verified result is the same, and `up` after an offline prep must not redo it. */
	ao.from_dir = NULL;
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

static int prep_check(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	int r;

	if ((r = kf_pki_check(cfg, lab->out_dir, err)) != 0)
		return r;
	if ((r = kf_artifacts_check(cfg, lab->out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_check(cfg, lab->out_dir, err)) != 0)
		return r;
	{
		char *ready = kf_lab_path(lab, KF_OUT_REGISTRY_READY);
		bool ok = ready && kf_fs_exists(ready);

		free(ready);
		if (!ok)
			return kf_err_set(err, KF_ENOTFOUND,
					  "its last run did not finish putting the images into the "
					  "registry");
	}
	/* WSL's address changes when WSL restarts: a stale port proxy makes prep run again. */
	if (kf_wsl_networking_mode(NULL) == KF_WSL_NAT) {
		int port = 0;
		if ((r = registry_port(cfg, &port, err)) != 0)
			return r;
		return kf_wslproxy_check(cfg->registry.host_ip, cfg->registry.port, port, err);
	}
	return 0;
}

/* Starts (or keeps) the registry and proves it with a TLS handshake against the CA. */
static int registry_up(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	struct kf_regserver_report reg;
	bool checked_ip = false;
	int r;

	memset(&reg, 0, sizeof(reg));
	if ((r = kf_regserver_ensure(cfg, out_dir, &reg, err)) != 0)
		return r;
	kf_ok("registry %s (pid %ld) at %s", reg.reused ? "already running" :
					      reg.restarted ? "restarted" : "started",
	      reg.pid, reg.url);
	if ((r = kf_regserver_tls_selfcheck(cfg, out_dir, &checked_ip, err)) != 0)
		return r;
	kf_ok("registry TLS verified against the CA%s", checked_ip ? ", also at the registry IP" : "");
	return 0;
}

/* --from-bundle: the registry must run before the bundle's images can go in, and the bundle's
 * files land in a staging folder the artifacts step then copies from (verified against the
 * release's sum file and the install.sh pin, exactly like --artifacts-from). */
static int load_bundle(struct kf_lab *lab, struct kf_bundle *b, const char *staging,
		       struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	char to[64];
	char *ca = kf_lab_path(lab, KF_OUT_CA_CRT);
	struct kf_bundle_import_stats st;
	int r;

	/* the lab-facing registry is read-only: the images go in through the push instance */
	if ((r = kf_regserver_push_target(cfg, lab->out_dir, to, sizeof(to), err)) != 0)
		goto out;
	if ((r = kf_fs_remove_tree(staging, err)) != 0)
		goto out;
	r = kf_bundle_load(b, to, ca, kf_bundle_file_count(b) ? staging : NULL, &st, err);
	if (r == 0)
		kf_ok("bundle: %zu images in the lab registry (%zu blobs uploaded, %zu already "
		      "there), %zu files", st.images, st.blobs_loaded, st.blobs_present, st.files);
out:
	free(ca);
	return r;
}

/* Steps 4 and 5, and the mark that they finished. */
static int registry_half(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	char *ready = kf_lab_path(lab, KF_OUT_REGISTRY_READY);
	int r;

	if (!ready)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_info("prep 4/5: TLS registry");
	if ((r = registry_up(cfg, lab->out_dir, err)) != 0)
		goto out;
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
	if ((r = kf_prep_images(lab, err)) != 0)
		goto out;
	r = kf_fs_write_atomic(ready, "ok\n", 3, 0644, err);
out:
	free(ready);
	return r;
}

/* prep's second half on a thread of its own (kf_lab_opts.prep_background): one per process. */
static struct {
	pthread_t th;
	bool running;
	struct kf_lab *lab;
	double t0, secs;
	int r;
	struct kf_err err;
} bg;

static void *registry_half_main(void *unused)
{
	(void)unused;
	kf_err_clear(&bg.err);
	bg.r = registry_half(bg.lab, &bg.err);
	bg.secs = kf_now_mono() - bg.t0;
	return NULL;
}

static int registry_half_start(struct kf_lab *lab, struct kf_err *err)
{
	bg.lab = lab;
	bg.t0 = kf_now_mono();
	bg.r = 0;
	if (pthread_create(&bg.th, NULL, registry_half_main, NULL) != 0) {
		kf_debug("prep: no thread for the registry and the images: here and now");
		return registry_half(lab, err);
	}
	bg.running = true;
	kf_info("prep 4-5/5: the TLS registry and the images go on beside the next stages");
	return 0;
}

int kf_prep_join(struct kf_lab *lab, struct kf_err *err)
{
	struct kf_state *st = NULL;
	struct kf_state_rec rec;
	struct kf_err serr;

	if (!bg.running)
		return 0;
	pthread_join(bg.th, NULL);
	bg.running = false;
	if (bg.r == 0) {
		kf_ok("prep: registry and images ready (%.1fs, beside the next stages)", bg.secs);
		return 0;
	}
	*err = bg.err;
	/* the stage was recorded done when its first half returned: it is not */
	kf_err_clear(&serr);
	if (kf_state_load(&st, lab->out_dir, &serr) == 0) {
		double start = kf_state_get(st, "prep", &rec) ? rec.start : kf_now_wall();

		kf_state_set(st, "prep", bg.r == KF_EINTR ? "interrupted" : "failed", start,
			     kf_now_wall(), NULL, err->msg);
		if (kf_state_save(st, &serr) != 0)
			kf_warn("state.json: %s", serr.msg);
	}
	kf_state_free(st);
	return bg.r;
}

static int prep_run(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_pki_report pki = { 0 };
	struct kf_artifacts_report art;
	struct kf_artifacts_opts ao;
	struct kf_bundle *bundle = NULL;
	char *staging = NULL;
	bool changed = false;
	int r;

	memset(&art, 0, sizeof(art));
	artifacts_opts(lab, &ao);
	{
		/* prep is not complete again until its last step is (prep_check) */
		char *ready = kf_lab_path(lab, KF_OUT_REGISTRY_READY);

		if (!ready)
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		if (unlink(ready) != 0 && errno != ENOENT) {
			r = kf_err_set(err, KF_EIO, "%s: %s", ready, strerror(errno));
			free(ready);
			return r;
		}
		free(ready);
	}

	if (lab->opts.from_bundle) {
		/* All of it is checked before anything is made or loaded. */
		kf_info("prep: verifying the bundle %s", lab->opts.from_bundle);
		if ((r = kf_bundle_open(&bundle, lab->opts.from_bundle, err)) != 0) {
			char why[KF_ERR_MSG_MAX];
			snprintf(why, sizeof(why), "%s", err->msg);
			kf_err_set(err, r, "%s; nothing was loaded: get an intact copy of the bundle "
				   "(`sha256sum -c %s.sha256` checks one) and run prep again", why,
				   lab->opts.from_bundle);
			goto out;
		}
		staging = kf_lab_path(lab, ".bundle-files");
	}

	kf_info("prep 1/5: CA, registry certificate, SSH keys, token");
	if ((r = kf_pki_ensure(cfg, lab->out_dir, lab->opts.regenerate, &pki, err)) != 0)
		goto out;
	if (kf_pki_report_changes(&pki) == 0)
		kf_info("trust material: all in place, nothing to do");

	if (bundle) {
		kf_info("prep: TLS registry, then the bundle's images and files");
		if ((r = registry_up(cfg, lab->out_dir, err)) != 0 ||
		    (r = load_bundle(lab, bundle, staging, err)) != 0)
			goto out;
		if (kf_bundle_file_count(bundle) && !lab->opts.artifacts_from)
			ao.from_dir = staging;
	}

	if (!ao.force) {
		/* A file damaged in place keeps the size and mtime verified.json recorded, so the
		 * artifacts step would reuse it: the check hashes, and then every file is verified
		 * (and a damaged one fetched) again, or prep's own advice would loop. */
		struct kf_err e;
		kf_err_clear(&e);
		if (kf_artifacts_check(cfg, lab->out_dir, &e) == KF_EDIGEST) {
			kf_warn("%s", e.msg);
			ao.force = true;
		}
	}
	kf_info("prep 2/5: k3s %s artifacts%s", cfg->k3s.version,
		ao.from_dir == staging && staging ? " (from the bundle)" :
		ao.from_dir ? " (from a folder)" : "");
	if ((r = kf_artifacts_ensure(cfg, lab->out_dir, &ao, &art, err)) != 0) {
		if (bundle && ao.from_dir == staging)
			kf_err_wrap(err, "the bundle's k3s files");
		goto out;
	}

	kf_info("prep 3/5: registries.yaml");
	if ((r = kf_registries_yaml_write(cfg, lab->out_dir, &changed, err)) != 0)
		goto out;
	kf_info("registries.yaml %s", changed ? "written" : "unchanged");

	if (lab->opts.prep_background) {
		r = registry_half_start(lab, err);
		goto out;
	}
	r = registry_half(lab, err);
out:
	if (staging) {
		struct kf_err e;
		kf_err_clear(&e);
		kf_fs_remove_tree(staging, &e);
	}
	free(staging);
	kf_bundle_close(bundle);
	kf_pki_report_free(&pki);
	kf_artifacts_report_free(&art);
	return r;
}

const struct kf_stage_def kf_stage_prep = {
	.name = "prep",
	.fingerprint = prep_fingerprint,
	.check = prep_check,
	.run = prep_run,
};
