/* The guest recipe: a small template engine (templates/), and the per-node rendering of the
 * cloud-init files from the configuration and the prep outputs in the output directory.
 *
 * Template syntax (the whole language):
 *   {{name}} {{a.b.c}} {{.}}       value of a variable (dotted path; {{.}} = current loop item);
 *                                  a missing variable is an error naming template:line
 *   {{name | indent N}}            every line after the first indented by N spaces (for YAML
 *                                  block scalars: `content: |` then `  {{x | indent 2}}`); a
 *                                  value with a control character other than tab/LF/CRLF, a
 *                                  YAML 1.1 line break (CR, U+0085, U+2028, U+2029), invalid
 *                                  UTF-8 or a leading space is an error
 *   {{name | yaml}}                as a YAML double-quoted scalar in printable ASCII (controls,
 *                                  '"', '\\' and every non-ASCII character escaped); invalid
 *                                  UTF-8 is an error
 *   {{name | sh}}                  as one bash word: single quotes, with every byte that is not
 *                                  printable ASCII as $'\xHH'
 *   {{name}} with no filter: a value holding any control or line-break character (or invalid
 *   UTF-8) is an error naming template:line, never written; free text needs yaml or sh.
 *   {{#if name}} .. {{else}} .. {{/if}}   truthy: true, non-empty string/list/object, non-zero
 *   {{#unless name}} .. {{/unless}}
 *   {{#each list}} .. {{/each}}    the body once per item; inside, names resolve against the
 *                                  item first, then outwards; {{@index}} is 0-based
 *   {{! comment }}
 * A block tag, else or comment alone on its line removes that whole line from the output. */
#ifndef K3SFORGE_RENDER_H
#define K3SFORGE_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"

/* Bounds on templates from outside (users may edit them). */
#define KF_TPL_MAX_SIZE ((size_t)1024 * 1024)
#define KF_TPL_MAX_OUTPUT ((size_t)64 * 1024 * 1024)
#define KF_TPL_MAX_DEPTH 32

/* Renders template text `text` (named `name` in messages) with the JSON object `ctx` as data.
 * *out is the result (caller frees). KF_EPARSE with "name:line: ..." on a template error. */
int kf_tpl_render(char **out, const char *name, const char *text, json_t *ctx,
		  struct kf_err *err);

/* A template compiled into the binary: the file `path` (relative to templates/, e.g.
 * "scripts/bootstrap.sh") as it was at build time, `len` bytes at `data`, followed by one NUL
 * that `len` does not count. */
struct kf_tpl_file {
	const char *path;
	const unsigned char *data;
	size_t len;
};
/* The templates built into the binary (every file under templates/), sorted by path; *n is
 * their count. Generated at build time (cmake/tools/embed-templates.cmake). */
const struct kf_tpl_file *kf_tpl_embedded(size_t *n);

/* Reads template `rel`: from `dir`/`rel` (bounded) when dir is not NULL, else the built-in
 * copy. CRLF line ends become LF (a template saved by a Windows editor). *out is the text
 * (caller frees). KF_ENOTFOUND when there is no such template. */
int kf_tpl_load(char **out, const char *dir, const char *rel, struct kf_err *err);
/* Loads template `rel` as kf_tpl_load (dir NULL = built in) and renders it. */
int kf_tpl_render_file(char **out, const char *dir, const char *rel, json_t *ctx,
		       struct kf_err *err);
/* The template override directory: env K3SFORGE_TEMPLATES when set and not empty (borrowed),
 * else NULL, meaning the templates built into the binary. */
const char *kf_render_template_dir(void);

/* ---- The recipe ------------------------------------------------------------------------ */

/* Where the payload lands in the installed system (late-commands copy /cdrom/k3sforge/ here). */
#define KF_SEED_DIR "/usr/local/seed"
/* The payload directory on the installer ISO (and on the payload CD of image mode). */
#define KF_PAYLOAD_ISO_DIR "/k3sforge"
/* What build-iso writes under the output directory: installer mode boots the remastered
 * installer; image mode (guest.image) boots the cloud image with the payload on its own CD,
 * whose volume label the installed system's user-data mounts it by. */
#define KF_ISO_INSTALLER "iso/installer.iso"
#define KF_ISO_PAYLOAD "iso/payload.iso"
#define KF_PAYLOAD_LABEL "KFPAYLOAD"

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
