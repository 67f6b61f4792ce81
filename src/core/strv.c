/* Vectors of owned strings (strv.h). */
#include "k3sforge/strv.h"

#include <stdlib.h>
#include <string.h>

#include "k3sforge/err.h"

/* Slots a vector of n strings has: n + 1 (the NULL) rounded up to a power of two, at least 8;
 * derived from n alone so the vector needs no capacity field. */
static size_t slots_for(size_t n)
{
	size_t c = 8;

	while (c < n + 1)
		c *= 2;
	return c;
}

int kf_strv_append(char ***v, size_t *n, const char *s, size_t len)
{
	char *copy = strndup(s, len), **nv = *v;

	if (!copy)
		return KF_ENOMEM;
	if (!nv || slots_for(*n + 1) > slots_for(*n)) {
		if (*n + 2 < *n || !(nv = realloc(*v, slots_for(*n + 1) * sizeof(*nv)))) {
			free(copy);
			return KF_ENOMEM;
		}
		*v = nv;
	}
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	return 0;
}

void kf_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void kf_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
