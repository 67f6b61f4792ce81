/* The air-gap bundle: one POSIX tar (ustar) archive holding an OCI image layout (oci-layout,
 * index.json, blobs/sha256/<hex>) of the image set, extra files under files/<name> (the k3s
 * artifacts), and k3sforge-bundle.json listing every blob, file and image with its digest.
 * Written to a temporary name and renamed; its own sha256 goes to FILE.sha256. On import every
 * digest is checked in a first pass over the archive, and nothing is loaded when anything is
 * missing, truncated, unlisted or tampered with. */
#ifndef K3SFORGE_BUNDLE_H
#define K3SFORGE_BUNDLE_H

#include <stddef.h>

#include "k3sforge/err.h"
#include "k3sforge/mirror.h"

#define KF_BUNDLE_FILE_NAME_MAX 90

/* An extra file carried in the bundle as files/<name>. */
struct kf_bundle_file {
	const char *name;   /* [A-Za-z0-9._+-], at most KF_BUNDLE_FILE_NAME_MAX; not "." or ".." */
	const char *path;   /* on disk */
};

/* Resolves images (platform rules of opts, opts->to unused) and writes the bundle to path.
 * sha256_hex (65 bytes, may be NULL) receives the digest of the whole archive. */
int kf_bundle_export(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		     size_t n, const struct kf_bundle_file *files, size_t n_files, const char *path,
		     char *sha256_hex, struct kf_err *err);

struct kf_bundle_import_stats {
	size_t images, blobs_loaded, blobs_present, files;
};

/* An opened, fully verified bundle (kf_bundle_open), kept open for kf_bundle_load. */
struct kf_bundle;
/* Reads the whole archive once: every header and every byte — each blob must hash to its name,
 * each file to its listed sha256, the listing must match the entries exactly, index.json its
 * listed digest, and the end-of-archive marker must be there. Then the closure of every listed
 * image (index → manifests, nested indexes → config and layers) must be in the archive with
 * the sizes its descriptors give, every digest well-formed (kf_digest_valid) and every ref
 * valid under the one reference grammar (imageref.h). KF_EDIGEST / KF_EPARSE name the
 * offending entry; nothing is loaded anywhere by this call. */
int kf_bundle_open(struct kf_bundle **out, const char *path, struct kf_err *err);
/* Loads an opened bundle: its images into the registry `to` (NULL = none; CA to_ca, NULL =
 * system store) with tags and digests preserved (every blob and manifest re-hashed on the way,
 * so a file changed since open is refused): every image's blobs and manifests by digest first,
 * the tags only once all are in. Its files go into files_dir (NULL = leave them), each through
 * a fresh O_EXCL temporary name. stats may be NULL. */
int kf_bundle_load(struct kf_bundle *b, const char *to, const char *to_ca, const char *files_dir,
		   struct kf_bundle_import_stats *stats, struct kf_err *err);
/* How many extra files (files/<name>) / images an opened bundle holds. */
size_t kf_bundle_file_count(const struct kf_bundle *b);
size_t kf_bundle_image_count(const struct kf_bundle *b);
void kf_bundle_close(struct kf_bundle *b);

/* kf_bundle_open + kf_bundle_load + kf_bundle_close: verifies the bundle completely, then
 * loads its images into the registry `to` (CA to_ca, NULL = system store) with tags and digests
 * preserved, and copies its files into files_dir (NULL = leave them). KF_EDIGEST / KF_EPARSE name the offending entry when the bundle is tampered with
 * or truncated; nothing has been loaded then. stats may be NULL. */
int kf_bundle_import(const char *path, const char *to, const char *to_ca, const char *files_dir,
		     struct kf_bundle_import_stats *stats, struct kf_err *err);

#endif
