/* What an air-gap bundle must hold for the lab (bundle.h's lab half): the verified k3s release
 * files, and every image the offline prep will insist on. */
#include <stdlib.h>
#include <string.h>

#include "k3sforge/addons.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/buf.h"
#include "k3sforge/imageref.h"
#include "k3sforge/lab.h"
#include "k3sforge/labbundle.h"

/* The offline prep will insist on every image of the pinned release (k3s-images.txt) and of the
 * add-ons: a release image (or the pinned pause image) the list lacks is added, as prep mirrors
 * them unlisted; an add-on image it lacks is refused, naming them. */
int kf_lab_bundle_complete(const struct kf_lab *lab, struct kf_image_list *l, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const char *const *addon = kf_addon_images(cfg);
	char **k3s = NULL;
	size_t n_k3s = 0, n_missing = 0;
	struct kf_buf b = KF_BUF_INIT;
	int r;

	if ((r = kf_artifacts_images(&k3s, &n_k3s, lab->out_dir, err)) != 0)
		return r;
	for (size_t i = 0; i < n_k3s || addon[i - n_k3s]; i++) {
		const char *want = i < n_k3s ? k3s[i] : addon[i - n_k3s];
		bool have = false;
		for (size_t k = 0; k < l->n && !have; k++)
			have = kf_imageref_same_in_lab(l->v[k].target ? l->v[k].target : l->v[k].source, want);
		if (!have && i < n_k3s && kf_image_list_add(l, want, NULL) != 0) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		}
		if (!have && i >= n_k3s)
			kf_buf_printf(&b, "%s%s", n_missing++ ? ", " : "", want);
	}
	/* prep mirrors a pinned pause image from the configuration the same way */
	if (!r && cfg->k3s.pause_image && *cfg->k3s.pause_image) {
		bool have = false;
		for (size_t k = 0; k < l->n && !have; k++)
			have = kf_imageref_same_in_lab(l->v[k].target ? l->v[k].target : l->v[k].source,
					  cfg->k3s.pause_image);
		if (!have && kf_image_list_add(l, cfg->k3s.pause_image, NULL) != 0)
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if (!r && n_missing)
		r = kf_err_set(err, KF_ENOTFOUND,
			       "the bundle would lack %zu image%s the cluster needs: %s; add %s to the "
			       "image list (images.list) and export again", n_missing,
			       n_missing == 1 ? "" : "s", kf_buf_str(&b),
			       n_missing == 1 ? "it" : "them");
	kf_buf_free(&b);
	kf_artifacts_images_free(k3s);
	return r;
}

/* The verified k3s release files (fetched into <out>/artifacts as prep does, or reused) as
 * bundle files; *rep owns the paths. */
int kf_lab_bundle_artifacts(const struct kf_lab *lab, struct kf_artifacts_report *rep,
			    struct kf_bundle_file **files, size_t *n, struct kf_err *err)
{
	struct kf_artifacts_opts ao = { 0 };
	struct kf_bundle_file *nf;
	int r;

	if ((r = kf_artifacts_ensure(lab->cfg, lab->out_dir, &ao, rep, err)) != 0)
		return kf_err_wrap(err, "bundle: the k3s release files (--no-artifacts leaves them "
					"out)");
	for (int k = 0; k < KF_ARTIFACT_COUNT; k++) {
		if (!rep->items[k].wanted)
			continue;
		if (!(nf = realloc(*files, (*n + 1) * sizeof(*nf))))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		*files = nf;
		nf[*n].name = rep->items[k].name;
		nf[*n].path = rep->items[k].path;
		(*n)++;
	}
	return 0;
}
