/* The image mirror engine: copies images registry to registry over the OCI distribution API,
 * verified (every blob and manifest digest), in parallel (all images' blobs in flight together,
 * a shared blob fetched once), resumable (what the target has is skipped), with bounded memory. */
#ifndef K3SFORGE_MIRROR_H
#define K3SFORGE_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/err.h"

struct kf_progress;

/* One image to copy: `source` is a Docker-style reference; `target` (may be NULL) a reference
 * whose repository and tag are used in the target registry (its registry part is ignored);
 * without one the source's repository path and tag are kept. */
struct kf_mirror_image {
	const char *source;
	const char *target;
};

struct kf_mirror_opts {
	const char *from;          /* replaces the registry part of every source; NULL = keep */
	const char *from_ca;       /* CA for the source registry; NULL = system store */
	const char *to;            /* target registry (host:port or http://loopback:port) */
	const char *to_ca;         /* CA for the target; NULL = system store */
	int jobs;                  /* parallel transfers; 0 = 8 */
	bool all_platforms;        /* keep whole indexes */
	const char *platform;      /* "os/arch[/variant]"; NULL = linux/amd64 */
	uint64_t chunk_size;       /* upload chunk threshold; 0 = the OCI client's default */
	int max_retries;           /* 0 = the OCI client's default */
	long stall_timeout_s;      /* abort a transfer stalled this long; 0 = the client's (60) */
	struct kf_progress *progress;  /* may be NULL; totals are set by the engine */
};

enum kf_mirror_status { KF_MIRROR_COPIED = 0, KF_MIRROR_PRESENT, KF_MIRROR_FAILED };

struct kf_mirror_result {
	char *source;              /* normalised source reference */
	char *target;              /* target registry/repo:tag */
	enum kf_mirror_status status;
	char *digest;              /* digest of the manifest pushed under the tag */
	char *platform;            /* the platform chosen from an index, NULL for all/none */
	uint64_t bytes;            /* blob bytes this image needed copied (shared blobs counted
	                              for the first image that needed them) */
	int blobs_copied, blobs_mounted, blobs_present;
	char *reason;              /* why it failed */
};

/* Copies n images. Every image is tried; *results (n entries, caller frees with
 * kf_mirror_results_free) says what happened to each. Returns 0 when every image is copied or
 * already present, KF_EFAIL when any failed (err names how many and the first reason), or
 * another KF_E* when nothing could start (bad registry address, bad reference). */
int kf_mirror_run(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		  size_t n, struct kf_mirror_result **results, struct kf_err *err);
void kf_mirror_results_free(struct kf_mirror_result *results, size_t n);
const char *kf_mirror_status_name(enum kf_mirror_status s);

/* Where an export writes what the engine resolved (an OCI image layout in a bundle). The engine
 * calls blob() once per distinct blob (largest first), then per image manifest() for every child
 * manifest and the top manifest, then image(). Calls come from one thread. Non-zero aborts. */
struct kf_oci_registry;
struct kf_oci_manifest;
struct kf_mirror_writer {
	int (*blob)(void *ud, struct kf_oci_registry *src, const char *src_repo, const char *digest,
		    uint64_t size, struct kf_err *err);
	int (*manifest)(void *ud, const struct kf_oci_manifest *m, struct kf_err *err);
	/* ref: target "repo:tag" (or "repo@digest"); source: the normalised source reference */
	int (*image)(void *ud, const char *ref, const char *source, const struct kf_oci_manifest *top,
		     const char *platform, struct kf_err *err);
	void *ud;
};
/* Resolves the images like kf_mirror_run (opts->to unused) and hands everything to w.
 * Fails (KF_EFAIL naming the image) when any image cannot be resolved: a bundle is complete or
 * not written at all. */
int kf_mirror_export(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		     size_t n, const struct kf_mirror_writer *w, struct kf_err *err);

/* Checks that every wanted image (Docker-style references; their repository path and tag are
 * looked up in the registry `to`) has its manifest there. *missing gets the references that are
 * not (caller frees with kf_strv_free, strv.h). Returns 0 when all are present, KF_ENOTFOUND
 * naming the first missing ones otherwise, another KF_E* when the registry can't be asked. */
int kf_mirror_verify_present(const char *to, const char *to_ca, const char *const *refs, size_t n,
			     char ***missing, size_t *n_missing, struct kf_err *err);

#endif
