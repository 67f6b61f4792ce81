/* The template engine (templates/ and the user's override directory): a small, bounded,
 * logic-light language over JSON data, used by the guest recipe and the installer's grub entry.
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
#ifndef K3SFORGE_TEMPLATE_H
#define K3SFORGE_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

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

#endif
