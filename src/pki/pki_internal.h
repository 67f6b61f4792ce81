/* Shared between the files of src/pki/ only. */
#ifndef K3SFORGE_PKI_INTERNAL_H
#define K3SFORGE_PKI_INTERNAL_H

#include <sys/types.h>

#include "k3sforge/pki.h"

/* Records what happened to a file and logs it (created/re-issued at info, kept at debug).
 * rep may be NULL (only the log line). Returns 0 or KF_ENOMEM (set in err). */
int kf_pki_report_add(struct kf_pki_report *rep, const char *path, enum kf_pki_action action,
		      const char *reason, struct kf_err *err);

/* <out_dir>/<rel> (caller frees), or NULL with err set. */
char *kf_pki_path(const char *out_dir, const char *rel, struct kf_err *err);

/* Makes sure an existing secret file has `mode`, fixing it (and recording UPDATED) if not. */
int kf_pki_fix_mode(const char *path, const char *rel, mode_t mode, struct kf_pki_report *rep,
		    struct kf_err *err);

#endif
