/* OCI distribution client (libcurl): image references, manifests, blobs (streamed and verified),
 * uploads (monolithic or chunked), cross-repository mounts, Bearer-token and basic auth, listing.
 * A `struct kf_oci_registry` is one endpoint; it is safe to use from several threads at once
 * (connections, TLS sessions and tokens are shared under locks). */
#ifndef K3SFORGE_OCI_H
#define K3SFORGE_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/err.h"

#define KF_OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KF_OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define KF_OCI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KF_OCI_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* Largest manifest accepted from a registry or a bundle. */
#define KF_OCI_MANIFEST_MAX ((size_t)4 * 1024 * 1024)
/* "sha256:" + 64 hex + NUL. */
#define KF_OCI_DIGEST_LEN 72

/* A Docker-style image reference, normalised: registry "docker.io" for short names, repository
 * "library/x" for official Docker Hub images, tag "latest" when neither tag nor digest is given. */
struct kf_oci_ref {
	char *registry;   /* "docker.io", "registry.k8s.io", "127.0.0.1:5000" */
	char *repo;       /* "library/busybox", "rancher/mirrored-pause" */
	char *tag;        /* NULL when only a digest is given */
	char *digest;     /* "sha256:..." or NULL */
};

/* Parses and normalises s ("busybox", "rancher/x:1", "quay.io/a/b@sha256:..."). KF_EPARSE with
 * the offending text on malformed input. */
int kf_oci_ref_parse(struct kf_oci_ref *out, const char *s, struct kf_err *err);
/* The tag when there is one, else the digest (borrowed). */
const char *kf_oci_ref_reference(const struct kf_oci_ref *ref);
/* "registry/repo:tag" or "registry/repo@digest" (caller frees). */
char *kf_oci_ref_str(const struct kf_oci_ref *ref);
void kf_oci_ref_free(struct kf_oci_ref *ref);
/* The host requests go to: docker.io → registry-1.docker.io, others unchanged (borrowed). */
const char *kf_oci_request_host(const char *registry);

struct kf_oci_registry_opts {
	const char *ca_file;        /* PEM CA bundle to verify the registry; NULL = system store */
	bool push;                  /* tokens ask for pull,push (targets) instead of pull */
	const char *user;           /* basic credentials (source registries); NULL = look them up */
	const char *password;
	const char *docker_config;  /* a docker config.json to read credentials from; NULL =
	                               $DOCKER_CONFIG/config.json or ~/.docker/config.json */
	int max_retries;            /* 0 = 4 */
	long connect_timeout_s;     /* 0 = 15 */
	long stall_timeout_s;       /* progress window: abort a transfer that moves less than
	                               1 KiB/s over it (blob reads and uploads), and small
	                               requests after connect + 3 windows, at least 30 s; 0 = 60 */
	uint64_t chunk_size;        /* blobs larger than this are uploaded in PATCH chunks of this
	                               size; 0 = 512 MiB */
};

struct kf_oci_registry;

/* Opens an endpoint: "host[:port]" (HTTPS, verified) or "http://host:port", which is accepted
 * only for loopback hosts. docker.io is reached at registry-1.docker.io. Credentials for sources
 * come from opts, else K3SFORGE_REGISTRY_USER/K3SFORGE_REGISTRY_PASSWORD, else docker's
 * config.json "auths" entry for the host. */
int kf_oci_registry_new(struct kf_oci_registry **out, const char *spec,
			const struct kf_oci_registry_opts *opts, struct kf_err *err);
void kf_oci_registry_free(struct kf_oci_registry *r);
/* The registry name as given without scheme ("127.0.0.1:5000"; borrowed). */
const char *kf_oci_registry_name(const struct kf_oci_registry *r);
/* HTTP requests sent so far (each retry counts). */
uint64_t kf_oci_registry_requests(const struct kf_oci_registry *r);

/* GET /v2/: 0 when the registry answers as a distribution registry (200, or 401 asking for
 * credentials that then work); KF_ETLS / KF_ENET / KF_EAUTH / KF_EHTTP say what is wrong. */
int kf_oci_ping(struct kf_oci_registry *r, struct kf_err *err);

/* A manifest exactly as the registry sent it. */
struct kf_oci_manifest {
	char *data;                     /* raw bytes, NUL-terminated */
	size_t len;
	char *media_type;               /* from the document, else Content-Type */
	char digest[KF_OCI_DIGEST_LEN]; /* sha256 of data */
};
void kf_oci_manifest_free(struct kf_oci_manifest *m);

/* A parsed manifest or index: what it points at, every descriptor checked (digest through
 * kf_digest_valid, size a non-negative integer, at most KF_OCI_DOC_MAX_DESCS entries). */
#define KF_OCI_DOC_MAX_DESCS 1024
struct kf_oci_desc {
	char digest[KF_OCI_DIGEST_LEN];
	uint64_t size;
	char media_type[128];        /* "" when the descriptor has none */
};
struct kf_oci_doc {
	bool is_index;               /* an OCI index or Docker manifest list */
	char *media_type;            /* the document's, else the fallback given */
	struct kf_oci_desc config;   /* image manifests only */
	struct kf_oci_desc *v;       /* index: its manifests; image: its layers, foreign ones
	                                (with "urls", not distributable) left out */
	size_t n;
};
/* Parses manifest bytes (at most KF_OCI_MANIFEST_MAX). fallback_media_type (may be NULL) is used
 * when the document has no mediaType (Content-Type, or a bundle listing's). KF_EPARSE naming
 * the field on anything malformed, KF_EUNSUPPORTED for another media type. */
int kf_oci_doc_parse(struct kf_oci_doc *out, const char *data, size_t len,
		     const char *fallback_media_type, struct kf_err *err);
void kf_oci_doc_free(struct kf_oci_doc *d);

/* GETs a manifest by tag or digest with all four Accept types. The digest is computed over the
 * bytes received and must equal `reference` when that is a digest, and Docker-Content-Digest
 * when the registry sends one (KF_EDIGEST otherwise). KF_ENOTFOUND when absent. */
int kf_oci_manifest_get(struct kf_oci_registry *r, const char *repo, const char *reference,
			struct kf_oci_manifest *out, struct kf_err *err);
/* HEADs a manifest: 0 when present (digest, if not NULL, gets Docker-Content-Digest or ""),
 * KF_ENOTFOUND when absent. */
int kf_oci_manifest_head(struct kf_oci_registry *r, const char *repo, const char *reference,
			 char digest[KF_OCI_DIGEST_LEN], struct kf_err *err);
/* PUTs manifest bytes verbatim with Content-Type = media_type under reference (tag or digest). */
int kf_oci_manifest_put(struct kf_oci_registry *r, const char *repo, const char *reference,
			const char *data, size_t len, const char *media_type, struct kf_err *err);

/* HEADs a blob: 0 when present (*size set when not NULL), KF_ENOTFOUND when absent. */
int kf_oci_blob_head(struct kf_oci_registry *r, const char *repo, const char *digest,
		     int64_t *size, struct kf_err *err);
/* Called with each piece of a streamed blob; return non-zero to abort. */
typedef int (*kf_oci_sink_fn)(void *ud, const void *data, size_t len);
/* Streams a blob of known size to sink, resuming with Range after a dropped connection, and
 * checks its sha256 before the last bytes are handed over (KF_EDIGEST on mismatch: the sink
 * never sees a complete wrong blob). */
int kf_oci_blob_get(struct kf_oci_registry *r, const char *repo, const char *digest,
		    uint64_t size, kf_oci_sink_fn sink, void *ud, struct kf_err *err);
/* Pulls the next bytes of a blob being uploaded: returns bytes written to buf (0 = end),
 * or a negative KF_E* code. */
typedef long (*kf_oci_source_fn)(void *ud, char *buf, size_t len);
/* Uploads a blob of `size` bytes pulled from source: POST, then one PUT ?digest= (or PATCH
 * chunks + PUT for large blobs). The sha256 is computed on the way and compared with digest
 * before the last bytes are sent, so a wrong blob is never committed; the session is then
 * deleted. `location` (may be NULL) is an upload session already opened (a mount's 202). */
int kf_oci_blob_upload(struct kf_oci_registry *r, const char *repo, const char *digest,
		       uint64_t size, kf_oci_source_fn source, void *ud, const char *location,
		       struct kf_err *err);
/* Uploads a blob from memory. */
int kf_oci_blob_put(struct kf_oci_registry *r, const char *repo, const char *digest,
		    const void *data, size_t len, struct kf_err *err);
/* Streams a blob from one registry into another (GET body piped into the PUT body through a
 * bounded ring buffer), verified as kf_oci_blob_upload. `on_bytes` (may be NULL) is told about
 * bytes as they pass. */
int kf_oci_blob_copy(struct kf_oci_registry *src, const char *src_repo,
		     struct kf_oci_registry *dst, const char *dst_repo, const char *digest,
		     uint64_t size, void (*on_bytes)(void *ud, uint64_t n), void *ud,
		     struct kf_err *err);
/* Cross-repository mount: POST ?mount=&from=. *mounted = true on 201; on 202 the registry opened
 * an upload session instead: its Location is returned in *location (caller frees) for
 * kf_oci_blob_upload, or NULL when location is NULL (the session is then deleted). */
int kf_oci_blob_mount(struct kf_oci_registry *r, const char *repo, const char *digest,
		      const char *from_repo, bool *mounted, char **location, struct kf_err *err);

/* Repository names (_catalog, following Link pagination; at most max entries, 0 = 100000). */
int kf_oci_catalog(struct kf_oci_registry *r, char ***repos, size_t *n, size_t max,
		   struct kf_err *err);
/* Tags of a repository (tags/list, following Link pagination). The catalog's and the tags'
 * vectors are freed with kf_strv_free (strv.h). */
int kf_oci_tags(struct kf_oci_registry *r, const char *repo, char ***tags, size_t *n,
		size_t max, struct kf_err *err);

/* A repository and its tags (kf_oci_list). */
struct kf_oci_repo_tags {
	char *name;
	char **tags;
	size_t n_tags;
};
/* The repositories `only` names (n_only > 0), else the whole catalog, each with its tags; at
 * most max_repos repositories and max_tags tags each (0 = 100000). An error names the
 * repository it happened on. Freed with kf_oci_repo_tags_free. */
int kf_oci_list(struct kf_oci_registry *r, char *const *only, size_t n_only, size_t max_repos,
		size_t max_tags, struct kf_oci_repo_tags **out, size_t *n, struct kf_err *err);
void kf_oci_repo_tags_free(struct kf_oci_repo_tags *v, size_t n);

/* One WWW-Authenticate challenge (RFC 7235: scheme, then token=value or token="quoted" pairs;
 * only the first challenge of the header is read). */
#define KF_OCI_CHALLENGE_MAX 8192       /* longest header value taken */
enum kf_oci_auth_scheme { KF_OCI_AUTH_OTHER, KF_OCI_AUTH_BASIC, KF_OCI_AUTH_BEARER };
struct kf_oci_challenge {
	enum kf_oci_auth_scheme scheme;
	char scheme_name[32];
	char *realm, *service, *scope;  /* NULL when absent */
};
/* Parses a challenge. 0; KF_EPARSE for bad syntax (unterminated quote, control characters, a
 * repeated parameter), KF_ELIMIT for a header longer than KF_OCI_CHALLENGE_MAX, KF_ENOMEM. out is
 * cleared first and always safe to free. */
int kf_oci_challenge_parse(const char *header, struct kf_oci_challenge *out);
void kf_oci_challenge_free(struct kf_oci_challenge *c);

#endif
