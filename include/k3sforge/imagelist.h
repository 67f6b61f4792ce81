/* Image lists as the operator writes them: `source [target]` per line, `#` comments, on the
 * command line one reference per argument; every reference checked with the one grammar
 * (imageref.h) before anything is contacted. Used by `mirror` and `bundle export`. */
#ifndef K3SFORGE_IMAGELIST_H
#define K3SFORGE_IMAGELIST_H

#include <stddef.h>

#include "k3sforge/err.h"
#include "k3sforge/mirror.h"

/* At most this many images and bytes in a list file. */
#define KF_IMAGELIST_MAX_LINES 100000
#define KF_IMAGELIST_MAX_BYTES ((size_t)4 * 1024 * 1024)

struct kf_image_list {
	struct kf_mirror_image *v;   /* the images, in order (strings owned by the list) */
	size_t n, cap;
};

/* Checks one reference; what ("mirror", "bundle") and where ("argument 2", "list.txt:3")
 * name it in the KF_EUSAGE error. */
int kf_image_list_check(const char *ref, const char *what, const char *where,
			struct kf_err *err);
/* Appends copies of source and target (may be NULL). KF_ENOMEM only. */
int kf_image_list_add(struct kf_image_list *l, const char *source, const char *target);
/* Reads a list file: file:line and what to do for a bad line, a third word, too many lines. */
int kf_image_list_read(struct kf_image_list *l, const char *path, const char *what,
		       struct kf_err *err);
void kf_image_list_free(struct kf_image_list *l);

#endif
