/* The guest recipe: the per-node rendering of the cloud-init files from the configuration and the
 * prep outputs in the output directory, with the template engine of template.h (templates/). */
#ifndef K3SFORGE_RENDER_H
#define K3SFORGE_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/template.h" /* the engine the recipe renders with */

/* Where the payload lands in the installed system (late-commands copy /cdrom/k3sforge/ here). */
#define KF_SEED_DIR "/usr/local/seed"
/* The payload directory on the installer ISO. */
#define KF_PAYLOAD_ISO_DIR "/k3sforge"

/* A file of the installer payload: `name` under /k3sforge/ on the ISO, read from `path`. */
struct kf_payload_file {
	char *name;
	char *path;
};

/* Everything the recipe reads from the output directory (docs/layout.md), loaded once. */
struct kf_recipe_inputs {
	char *out_dir;
	char *ca_cert;              /* pki/ca.crt */
	char *operator_key;         /* ssh/id_ed25519.pub (one line, no newline) */
	char *token;                /* secrets/k3s-token (secret) */
	char *admin_password;       /* config or secrets/admin-password; NULL when KubeSphere is off */
	char *registries_yaml;      /* registries.yaml */
	char *images_txt;           /* artifacts/k3s-images.txt */
	char *chart_name;           /* ks-core-<ver>.tgz, NULL when KubeSphere is off */
	long long build_timestamp;  /* newest mtime of the inputs: the guests' clock floor */
	struct kf_payload_file *payload; size_t n_payload;  /* what goes to /k3sforge/ */
};

/* The packages the installer is asked for (autoinstall `packages:`): the recipe's own (curl,
 * zstd) and guest.packages, each once, in order, minus those whose .deb guest.debs holds (the
 * late-commands install them). A new array of borrowed strings (free only
 * the array); NULL when out of memory. build-iso checks them against the ISO. */
const char **kf_recipe_packages(const struct kf_config *cfg, size_t *n);

/* Loads and checks the inputs; a missing one is KF_ENOTFOUND naming the file and saying to run
 * `k3sforge prep`. Host keys are read per node by kf_recipe_render_node. */
int kf_recipe_inputs_load(struct kf_recipe_inputs **out, const struct kf_config *cfg,
			  const char *out_dir, struct kf_err *err);
void kf_recipe_inputs_free(struct kf_recipe_inputs *in);
/* The payload's SHA256SUMS text ("<hex>  <name>" per file; caller frees): what the bootstrap
 * verifies every payload file against before using it. Reads every payload file. */
int kf_recipe_payload_sums(char **out, const struct kf_recipe_inputs *in, struct kf_err *err);
/* Writes the payload as the installer leaves it in the installed system (KF_SEED_DIR): the
 * files, SHA256SUMS and build-timestamp, into dir (for guests booted without the installer). */
int kf_recipe_write_payload(const struct kf_recipe_inputs *in, const char *dir,
			    struct kf_err *err);

/* The rendered files of one node. */
struct kf_node_recipe {
	char *node;
	char *autoinstall;      /* (a) installer user-data: #cloud-config + autoinstall: */
	char *user_data;        /* (b) the installed system's cloud-config */
	char *meta_data;        /* (c) instance-id + local-hostname */
	char *network_config;   /* (d) netplan v2 */
	char *instance_id;
};

/* Renders (a)-(d) for one node from the templates in `tpl_dir` (NULL = kf_render_template_dir(),
 * that is $K3SFORGE_TEMPLATES or the built-in templates).
 * The instance-id is derived from a hash of (a), (b) and (d), so it changes with the recipe. */
int kf_recipe_render_node(struct kf_node_recipe **out, const struct kf_config *cfg,
			  const struct kf_recipe_inputs *in, const char *node, const char *tpl_dir,
			  struct kf_err *err);
/* Writes the installed system's NoCloud seed into dir: user-data (b), meta-data,
 * network-config (files 0600: they hold the token and the host key). */
int kf_recipe_write_seed(const struct kf_node_recipe *r, const char *dir, struct kf_err *err);
/* Writes the seed files plus autoinstall-user-data (a) into dir: render/<node>/ of
 * docs/layout.md. */
int kf_recipe_write_all(const struct kf_node_recipe *r, const char *dir, struct kf_err *err);
void kf_node_recipe_free(struct kf_node_recipe *r);

#endif
