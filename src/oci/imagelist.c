/* Image lists (imagelist.h). */
#include "k3sforge/imagelist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/imageref.h"

#define PATH_SHOWN 400   /* of a list's path in a message */

int kf_image_list_check(const char *ref, const char *what, const char *where,
			struct kf_err *err)
{
	char why[160];
	size_t off;

	if (kf_imageref_parse(ref, NULL, &off, why, sizeof(why)) == 0)
		return 0;
	return kf_err_set(err, KF_EUSAGE, "%s: %s: '%.600s' is not an image reference (at "
			  "character %zu): %s", what, where, ref, off + 1, why);
}

int kf_image_list_add(struct kf_image_list *l, const char *source, const char *target)
{
	char *s, *t = NULL;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct kf_mirror_image *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return KF_ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	if (!(s = strdup(source)) || (target && !(t = strdup(target)))) {
		free(s);
		return KF_ENOMEM;
	}
	l->v[l->n].source = s;
	l->v[l->n].target = t;
	l->n++;
	return 0;
}

int kf_image_list_read(struct kf_image_list *l, const char *path, const char *what,
		       struct kf_err *err)
{
	char *data = NULL, *line, *save = NULL;
	size_t len;
	int rc, lineno = 0;

	if ((rc = kf_fs_read(&data, &len, path, KF_IMAGELIST_MAX_BYTES, err)) != 0)
		return kf_err_wrap(err, "image list");
	for (line = strtok_r(data, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		char *a, *b, *c, *s2 = NULL, where[PATH_SHOWN + 16];
		lineno++;
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		if (!(a = strtok_r(line, " \t\r", &s2)))
			continue;
		b = strtok_r(NULL, " \t\r", &s2);
		c = strtok_r(NULL, " \t\r", &s2);
		snprintf(where, sizeof(where), "%.*s:%d", PATH_SHOWN, path, lineno);
		if (c)
			rc = kf_err_set(err, KF_EUSAGE, "%s: expected `source` or `source target`, "
					"found a third word '%.200s'", where, c);
		else if (l->n >= KF_IMAGELIST_MAX_LINES)
			rc = kf_err_set(err, KF_ELIMIT, "%s: more than %d images: split the list",
					where, KF_IMAGELIST_MAX_LINES);
		else if ((rc = kf_image_list_check(a, what, where, err)) == 0 &&
			 (!b || (rc = kf_image_list_check(b, what, where, err)) == 0) &&
			 kf_image_list_add(l, a, b) != 0)
			rc = kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	free(data);
	return rc;
}

void kf_image_list_free(struct kf_image_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].source);
		free((char *)l->v[i].target);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
