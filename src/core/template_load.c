/* Where templates come from: the copies built into the binary (templates/ at build time, see
 * cmake/tools/embed-templates.cmake), or a directory named by K3SFORGE_TEMPLATES for template
 * authors. */
#include "k3sforge/template.h"

#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"

#define EMBEDDED_DIR "templates"

static const struct kf_tpl_file *find_embedded(const char *rel)
{
	size_t n;
	const struct kf_tpl_file *f = kf_tpl_embedded(&n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].path, rel) == 0)
			return &f[i];
	return NULL;
}

/* CRLF -> LF in place: CR would end up in the guests' scripts. */
static void strip_crlf(char *text)
{
	char *w = text;

	for (const char *c = text; *c; c++)
		if (!(c[0] == '\r' && c[1] == '\n'))
			*w++ = *c;
	*w = '\0';
}

int kf_tpl_load(char **out, const char *dir, const char *rel, struct kf_err *err)
{
	const struct kf_tpl_file *f;
	char *path;
	int r;

	*out = NULL;
	if (dir) {
		if (!(path = kf_path_join(dir, rel)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		r = kf_fs_read(out, NULL, path, KF_TPL_MAX_SIZE, err);
		if (r == KF_ENOTFOUND)
			kf_err_wrap(err, "template missing (the K3SFORGE_TEMPLATES directory must hold "
					 "every template; unset it to use the built-in ones)");
		free(path);
		if (r)
			return r;
	} else {
		if (!(f = find_embedded(rel)))
			return kf_err_set(err, KF_ENOTFOUND,
					  "template %s is not built into this binary (a file under "
					  "templates/ at build time); set K3SFORGE_TEMPLATES=DIR to "
					  "use a directory that holds it",
					  rel);
		if (f->len > KF_TPL_MAX_SIZE)
			return kf_err_set(err, KF_ELIMIT, "%s/%s: template larger than %zu bytes",
					  EMBEDDED_DIR, rel, KF_TPL_MAX_SIZE);
		if (!(*out = malloc(f->len + 1)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		memcpy(*out, f->data, f->len);
		(*out)[f->len] = '\0';
	}
	strip_crlf(*out);
	return 0;
}

int kf_tpl_render_file(char **out, const char *dir, const char *rel, json_t *ctx,
		       struct kf_err *err)
{
	/* named in messages: the file, or templates/<rel> for a built-in one */
	char *name = kf_path_join(dir ? dir : EMBEDDED_DIR, rel), *text = NULL;
	int r;

	*out = NULL;
	if (!name)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_tpl_load(&text, dir, rel, err)) == 0)
		r = kf_tpl_render(out, name, text, ctx, err);
	free(text);
	free(name);
	return r;
}

const char *kf_render_template_dir(void)
{
	const char *env = getenv("K3SFORGE_TEMPLATES");

	return env && *env ? env : NULL;
}
