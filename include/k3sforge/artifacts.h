/* The k3s release artifacts prep needs, in <out>/artifacts/ (docs/layout.md): the release's
 * sha256sum-amd64.txt first, then k3s (0755), k3s-airgap-images-amd64.tar.zst and k3s-images.txt,
 * each verified against the sum file; install.sh (verified against k3s.install_script_sha256
 * when pinned) and, with the KubeSphere add-on, ks-core-<chartver>.tgz (verified against
 * addons.kubesphere_chart_sha256 when set). Downloaded with kf_download (resume, retries, TLS,
 * proxies) or copied from an offline folder (--artifacts-from DIR, still verified).
 * <out>/artifacts/verified.json records name → sha256, size, mtime, source so that a rerun
 * neither downloads nor re-hashes files that are already verified. */
#ifndef K3SFORGE_ARTIFACTS_H
#define K3SFORGE_ARTIFACTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/err.h"
#include "k3sforge/labpaths.h" /* the artifact names and folder */

enum kf_artifact_kind {
	KF_ARTIFACT_SUMS = 0,
	KF_ARTIFACT_K3S,
	KF_ARTIFACT_AIRGAP,
	KF_ARTIFACT_IMAGES,
	KF_ARTIFACT_INSTALL,
	KF_ARTIFACT_CHART,    /* only with addons.kubesphere */
	KF_ARTIFACT_COUNT
};

struct kf_artifacts_opts {
	const char *from_dir;    /* --artifacts-from: copy from this folder instead of downloading */
	const char *ca_file;     /* CA bundle for downloads; NULL = $K3SFORGE_CA_BUNDLE / system */
	const char *proxy;       /* explicit proxy; NULL = http_proxy/https_proxy/no_proxy */
	bool force;              /* ignore verified.json: re-hash (and re-fetch what fails) */
	/* Download tuning; 0 = kf_download defaults (the stall timeout comes from
	 * cfg->timeouts.download_s). Tests shorten these. */
	int max_attempts;
	long retry_base_ms;
	bool no_progress;
};

struct kf_artifact {
	bool wanted;             /* part of this configuration (the chart only with KubeSphere) */
	char *name;              /* file name under artifacts/ */
	char *path;              /* full path */
	char *source;            /* URL or source file it came from */
	char sha256[KF_SHA256_HEX_LEN + 1];
	uint64_t size;
	bool fetched;            /* downloaded or copied by this call (false: reused, verified) */
};

struct kf_artifacts_report {
	struct kf_artifact items[KF_ARTIFACT_COUNT];
	char *dir;               /* <out>/artifacts */
	char *chart_version;     /* ks-core chart version (from its file name), or NULL */
	int n_fetched, n_reused;
};

/* Makes sure every artifact of cfg is in <out_dir>/artifacts and verified; fills rep (free with
 * kf_artifacts_report_free, also after a failure). Errors name the file, the URL and what to do:
 * KF_EDIGEST (bad file deleted; expected and actual digest), KF_ENOTFOUND (sum file without an
 * entry, or a missing file in --artifacts-from), KF_EHTTP/KF_ENET/KF_ETLS/KF_EIO from downloads,
 * KF_ECONFIG for unusable settings. */
int kf_artifacts_ensure(const struct kf_config *cfg, const char *out_dir,
			const struct kf_artifacts_opts *opts, struct kf_artifacts_report *rep,
			struct kf_err *err);
void kf_artifacts_report_free(struct kf_artifacts_report *rep);
/* The report as JSON for state.json / --json output: {"files":{name:{path,sha256,size,source,
 * fetched}},"chart_version":...,"fetched":n,"reused":n} (new reference; NULL on ENOMEM). */
json_t *kf_artifacts_report_json(const struct kf_artifacts_report *rep);

/* Adds every setting the artifacts depend on to a stage fingerprint (version, URLs, pins,
 * add-on, offline folder). opts may be NULL. */
void kf_artifacts_fingerprint(const struct kf_config *cfg, const struct kf_artifacts_opts *opts,
			      struct kf_fp *fp);

/* Check for a stage's `check`: every wanted artifact is present under <out>/artifacts, matches
 * its verified.json record (size and mtime: KF_ESTATE otherwise) and still has the recorded
 * sha256 (KF_EDIGEST otherwise: damaged in place, size and mtime kept). No network. */
int kf_artifacts_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);

/* Asset URL: <release_url>/<version, percent-encoded ('+' → %2B)>/<asset> (caller frees). */
char *kf_artifacts_asset_url(const char *release_url, const char *version, const char *asset);

/* The ks-core chart version from the chart's URL or path ("…/ks-core-1.1.4.tgz?x" → "1.1.4").
 * KF_ECONFIG when the name is not ks-core-<version>.tgz. */
int kf_artifacts_chart_version(char **out, const char *chart, struct kf_err *err);

/* A parsed sha256sum file ("<64 hex>  name" or "<64 hex> *name" per line). */
struct kf_sum_entry {
	char *name;
	char sha256[KF_SHA256_HEX_LEN + 1];   /* lowercase */
};
struct kf_sumfile {
	struct kf_sum_entry *entries;
	size_t n;
};
/* Parses sum file text; `name` is used in messages ("name:3: ..."). KF_EPARSE for malformed
 * lines or conflicting duplicates, KF_ELIMIT past 10000 entries. */
int kf_sumfile_parse(struct kf_sumfile **out, const char *name, const char *data, size_t len,
		     struct kf_err *err);
/* Digest for a file name (borrowed), NULL when absent. */
const char *kf_sumfile_lookup(const struct kf_sumfile *s, const char *name);
void kf_sumfile_free(struct kf_sumfile *s);

/* Parses k3s-images.txt text: one image reference per line, blanks and # comments skipped.
 * *refs is a NULL-terminated array (free with kf_artifacts_images_free). KF_EPARSE with
 * "name:line" for a line that is not an image reference. */
int kf_artifacts_images_parse(char ***refs, size_t *n, const char *name, const char *data,
			      size_t len, struct kf_err *err);
/* Reads <out>/artifacts/k3s-images.txt (prep checks every listed image is mirrored). */
int kf_artifacts_images(char ***refs, size_t *n, const char *out_dir, struct kf_err *err);
void kf_artifacts_images_free(char **refs);

#endif
