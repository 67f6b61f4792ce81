/* The image half of prep: mirror every image of the pinned k3s release (k3s-images.txt) and the
 * configured image list (the add-ons) into the lab registry, then prove every image the release
 * and each add-on needs is there. */
#ifndef K3SFORGE_PREP_H
#define K3SFORGE_PREP_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/err.h"
#include "k3sforge/lab.h"

/* Mirrors the images of <out>/artifacts/k3s-images.txt and cfg->images.refs into the lab
 * registry (through its loopback push instance, with <out>/pki/ca.crt) and checks the k3s and
 * add-on images are all present where the lab reads, naming each missing one and what to do. */
int kf_prep_images(struct kf_lab *lab, struct kf_err *err);
/* Waits for prep's second half when it ran in the background (kf_lab_opts.prep_background:
 * the registry and the images beside build-iso); its result, 0 when there was none. Records
 * prep as failed in state.json when it failed. */
int kf_prep_join(struct kf_lab *lab, struct kf_err *err);
/* Adds the image list and its sources to the prep fingerprint. */
void kf_prep_images_fingerprint(const struct kf_config *cfg, struct kf_fp *fp);
/* Does the configured image list already name ref where the lab registry serves it (an entry's
 * target, else its source: same repository path and tag/digest)? A release image it names is
 * mirrored as the list says (its source mapping), not again from k3s-images.txt. */
bool kf_prep_image_listed(const struct kf_config *cfg, const char *ref);

#endif
