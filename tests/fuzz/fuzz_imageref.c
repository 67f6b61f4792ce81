/* libFuzzer target: the one image-reference parser (core kf_imageref_parse) and the OCI
 * client's wrapper. Any input is accepted or refused with a reason and an offset inside it;
 * an accepted one normalises to a name that parses again to itself (a fixed point), never holds
 * a "." or ".." path component or "//", and the client's parser agrees on accept/refuse.
 * Build and run: tests/fuzz/fuzz.sh imageref [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/imageref.h"
#include "k3sforge/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_dot_component(const char *p)
{
	const char *s = p;

	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 1;
		if (!e)
			return 0;
		s = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), why[200], full[1200], full2[1200];
	struct kf_imageref r, r2;
	struct kf_oci_ref o;
	struct kf_err err;
	size_t off = (size_t)-1;
	int rc, orc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = kf_imageref_parse(s, &r, &off, why, sizeof(why));
	orc = kf_oci_ref_parse(&o, s, &err);
	if ((rc == 0) != (orc == 0))
		abort(); /* two answers for one input */
	if (rc != 0) {
		if (off > strlen(s) || !why[0])
			abort();
		free(s);
		return 0;
	}
	if (has_dot_component(r.path) || strstr(r.domain, "/") || !r.domain[0] ||
	    (!r.tag[0] && !r.digest[0]))
		abort();
	if (strcmp(o.registry, r.domain) != 0 || strcmp(o.repo, r.path) != 0)
		abort();
	kf_imageref_full(&r, full, sizeof(full));
	if (kf_imageref_parse(full, &r2, &off, why, sizeof(why)) != 0)
		abort(); /* the normalised name is refused */
	kf_imageref_full(&r2, full2, sizeof(full2));
	if (strcmp(full, full2) != 0)
		abort(); /* normalisation is not a fixed point */
	kf_oci_ref_free(&o);
	free(s);
	return 0;
}
