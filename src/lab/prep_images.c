/* prep, images: mirror every image of the pinned release's k3s-images.txt and the configured
 * list (the add-ons) into the lab registry, and refuse to go on while an image the release or an
 * add-on needs is missing (the seeds' pause-image lesson). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/addons.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/imageref.h"
#include "k3sforge/lab.h"
#include "k3sforge/log.h"
#include "k3sforge/mirror.h"
#include "k3sforge/prep.h"
#include "k3sforge/progress.h"
#include "k3sforge/regserver.h"
#include "k3sforge/strv.h"

void kf_prep_images_fingerprint(const struct kf_config *cfg, struct kf_fp *fp)
{
	kf_fp_str(fp, "images.source_registry", cfg->images.source_registry);
	for (size_t i = 0; i < cfg->images.n_refs; i++) {
		kf_fp_str(fp, "image.source", cfg->images.refs[i].source);
		kf_fp_str(fp, "image.target", cfg->images.refs[i].target);
	}
	kf_fp_int(fp, "addons.kubesphere", cfg->addons.kubesphere);
	kf_fp_str(fp, "addons.kubesphere_version", cfg->addons.kubesphere_version);
	kf_fp_str(fp, "k3s.pause_image", cfg->k3s.pause_image);
}

/* Where a configured image lives in the lab registry: its target, else its source's path. */
static const char *lab_name(const struct kf_image_ref *ref)
{
	return ref->target ? ref->target : ref->source;
}

bool kf_prep_image_listed(const struct kf_config *cfg, const char *ref)
{
	for (size_t i = 0; i < cfg->images.n_refs; i++)
		if (kf_imageref_same_in_lab(lab_name(&cfg->images.refs[i]), ref))
			return true;
	return false;
}

/* Mirrors the images the lab registry does not hold yet: the configured list, then every image
 * of the release's k3s-images.txt the list does not name (the release is the authority on its
 * own images; a list entry for one only maps its source). Images already there (by tag or
 * digest) are not looked up at the source again: a rerun, or a run after
 * `prep --from-bundle`, works without reaching any source registry. */
static int mirror_configured(const struct kf_config *cfg, const char *to, const char *ca,
			     char *const *k3s, size_t n_k3s, struct kf_err *err)
{
	const char *pause = cfg->k3s.pause_image && *cfg->k3s.pause_image ? cfg->k3s.pause_image :
									   NULL;
	struct kf_mirror_image *imgs = NULL, *all = NULL;
	struct kf_mirror_result *res = NULL;
	struct kf_mirror_opts mo;
	const char **names = NULL;
	char **missing = NULL;
	size_t n = 0, n_missing = 0, n_wanted = 0, n_release = 0;
	size_t copied = 0, present, failed = 0;
	int r;

	names = calloc(cfg->images.n_refs + n_k3s + 2, sizeof(*names));
	imgs = calloc(cfg->images.n_refs + n_k3s + 2, sizeof(*imgs));
	all = calloc(cfg->images.n_refs + n_k3s + 2, sizeof(*all));
	if (!names || !imgs || !all) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->images.n_refs; i++) {
		all[n].source = cfg->images.refs[i].source;
		all[n++].target = cfg->images.refs[i].target;
	}
	for (size_t i = 0; i < n_k3s; i++) {
		if (pause && kf_imageref_same_in_lab(pause, k3s[i]))
			pause = NULL;
		if (!kf_prep_image_listed(cfg, k3s[i])) {
			all[n++].source = k3s[i];
			n_release++;
		}
	}
	/* A pinned sandbox image that is not the release's own comes from the configuration, the
	 * same way: no need to list it as well. */
	if (pause && !kf_prep_image_listed(cfg, pause))
		all[n++].source = pause;
	else
		pause = NULL;
	if (n == 0) {
		kf_warn("no images to mirror (k3s-images.txt and images.list / images.inline are "
			"empty): only checking what the registry already holds");
		r = 0;
		goto out;
	}
	if (n_release || pause)
		kf_info("images: %zu of k3s-images.txt%s%s, %zu from the image list", n_release,
			n_release < n_k3s ? " not in the image list" : "",
			pause ? ", the pinned pause image" : "", cfg->images.n_refs);
	for (size_t i = 0; i < n; i++)
		names[i] = all[i].target ? all[i].target : all[i].source;
	r = kf_mirror_verify_present(to, ca, names, n, &missing, &n_missing, err);
	if (r && r != KF_ENOTFOUND)
		goto out;
	/* missing[] keeps the order of names[]: walk both */
	for (size_t i = 0, j = 0; i < n; i++) {
		if (j < n_missing && strcmp(missing[j], names[i]) == 0) {
			imgs[n_wanted] = all[i];
			n_wanted++;
			j++;
		}
	}
	present = n - n_wanted;
	if (n_wanted == 0) {
		kf_info("images: all %zu images already in the lab registry, nothing to copy", n);
		r = 0;
		goto out;
	}
	kf_err_clear(err);
	memset(&mo, 0, sizeof(mo));
	mo.from = cfg->images.source_registry;
	mo.to = to;
	mo.to_ca = ca;
	mo.progress = kf_progress_new("mirror", 0, (int)n_wanted);
	r = kf_mirror_run(&mo, imgs, n_wanted, &res, err);
	kf_progress_done(mo.progress, r == 0);
	for (size_t i = 0; res && i < n_wanted; i++) {
		switch (res[i].status) {
		case KF_MIRROR_COPIED: copied++; break;
		case KF_MIRROR_PRESENT: present++; break;
		case KF_MIRROR_FAILED: failed++; break;
		}
	}
	if (res)
		kf_info("images: %zu copied, %zu already present, %zu failed", copied, present, failed);
	if (r && failed) {
		/* The engine logged each failure; the stage's error names them and what to do. */
		struct kf_buf b;
		const char *first = NULL;
		kf_buf_init(&b, 16 * 1024);
		for (size_t i = 0, k = 0; i < n_wanted; i++)
			if (res[i].status == KF_MIRROR_FAILED) {
				kf_buf_printf(&b, "%s%s", k++ ? ", " : "", res[i].source);
				if (!first)
					first = res[i].reason;
			}
		r = kf_err_set(err, KF_EFAIL,
			       "%zu image%s could not be mirrored into the lab registry: %s (%s); check "
			       "that %s%s has %s and is reachable, or load %s with `k3sforge prep "
			       "--from-bundle FILE`, then run `k3sforge prep` again",
			       failed, failed == 1 ? "" : "s", kf_buf_str(&b), first ? first : "failed",
			       cfg->images.source_registry ? "the source registry " :
							     "each image's own registry",
			       cfg->images.source_registry ? cfg->images.source_registry : "",
			       failed == 1 ? "it" : "them", failed == 1 ? "it" : "them");
		kf_buf_free(&b);
	}
out:
	kf_mirror_results_free(res, n_wanted);
	kf_strv_free(missing, n_missing);
	free(names);
	free(imgs);
	free(all);
	return r;
}

int kf_prep_images(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	char listen[128], host[128], to[200], push_to[64];
	char *ca = kf_lab_path(lab, KF_OUT_CA_CRT);
	char **k3s = NULL, **missing = NULL;
	const char **wanted = NULL;
	const char *const *addon = kf_addon_images(cfg);
	size_t n_k3s = 0, n_addon = 0, n_missing = 0, n_wanted = 0;
	int port = 0, r;

	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port, err)) != 0)
		goto out;
	snprintf(to, sizeof(to), "%s:%d", host, port);
	/* Writes go through the loopback push instance; the check below reads where the lab
	 * reads (the read-only serving instance, same storage). */
	if ((r = kf_artifacts_images(&k3s, &n_k3s, lab->out_dir, err)) != 0 ||
	    (r = kf_regserver_push_target(cfg, lab->out_dir, push_to, sizeof(push_to), err)) != 0 ||
	    (r = mirror_configured(cfg, push_to, ca, k3s, n_k3s, err)) != 0)
		goto out;
	/* Everything the pinned release and the add-ons need must be there now. */
	while (addon[n_addon])
		n_addon++;
	wanted = calloc(n_k3s + n_addon + 2, sizeof(char *));
	if (!wanted) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_k3s; i++)
		wanted[i] = k3s[i];
	for (size_t i = 0; i < n_addon; i++)
		wanted[n_k3s + i] = addon[i];
	n_wanted = n_k3s + n_addon;
	/* A pinned sandbox image is pulled from the lab registry by every pod start (it is not
	 * in the release's airgap tarball unless it is the release's own): the seeds' lab broke
	 * on exactly this ("failed to get sandbox image"). */
	if (cfg->k3s.pause_image && *cfg->k3s.pause_image)
		wanted[n_wanted++] = cfg->k3s.pause_image;
	r = kf_mirror_verify_present(to, ca, wanted, n_wanted, &missing, &n_missing, err);
	if (r == KF_ENOTFOUND || n_missing) {
		struct kf_buf b;
		kf_buf_init(&b, 64 * 1024);
		for (size_t i = 0; i < n_missing; i++)
			kf_buf_printf(&b, "%s%s", i ? ", " : "", missing[i]);
		r = kf_err_set(err, KF_ENOTFOUND,
			       "%zu image%s the cluster needs %s not in the lab registry: %s; add %s "
			       "to the image list (images.list) and run `k3sforge prep` again",
			       n_missing, n_missing == 1 ? "" : "s", n_missing == 1 ? "is" : "are",
			       kf_buf_str(&b), n_missing == 1 ? "it" : "them");
		kf_buf_free(&b);
		goto out;
	}
	if (r)
		goto out;
	kf_ok("all %zu images of k3s %s%s are in the lab registry%s", n_wanted, cfg->k3s.version,
	      n_addon ? " and the add-ons" : "",
	      n_wanted > n_k3s + n_addon ? " (the pinned pause image included)" : "");
out:
	kf_strv_free(missing, n_missing);
	kf_artifacts_images_free(k3s);
	free(wanted);
	free(ca);
	return r;
}
