/* What an air-gap bundle made from the configuration must hold so the offline prep finds
 * everything (src/lab/bundle.c); `bundle export` uses it. */
#ifndef K3SFORGE_LABBUNDLE_H
#define K3SFORGE_LABBUNDLE_H

#include <stddef.h>

#include "k3sforge/artifacts.h"
#include "k3sforge/bundle.h"
#include "k3sforge/err.h"
#include "k3sforge/imagelist.h"
#include "k3sforge/lab.h"

/* The verified k3s release files (fetched into <out>/artifacts as prep does, or reused),
 * appended to *files (realloc'd; *n grows); *rep owns their paths. The caller holds the
 * output directory. */
int kf_lab_bundle_artifacts(const struct kf_lab *lab, struct kf_artifacts_report *rep,
			    struct kf_bundle_file **files, size_t *n, struct kf_err *err);
/* The offline prep insists on every image of the pinned release (k3s-images.txt) and of the
 * add-ons: a release image (or the pinned pause image) the list lacks is added, as prep mirrors
 * them unlisted; an add-on image it lacks is refused (KF_ENOTFOUND naming them). */
int kf_lab_bundle_complete(const struct kf_lab *lab, struct kf_image_list *l, struct kf_err *err);

#endif
