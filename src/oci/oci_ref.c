/* Docker-style image references for the OCI client: the grammar and Docker's normalisation
 * (short names → docker.io/library/x) are core's one parser, kf_imageref_parse; this file turns
 * its result into the client's allocated struct. */
#include "k3sforge/oci.h"

#include "k3sforge/imageref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kf_oci_ref_parse(struct kf_oci_ref *out, const char *s, struct kf_err *err)
{
	struct kf_imageref r;
	char why[200];
	size_t off;

	memset(out, 0, sizeof(*out));
	if (kf_imageref_parse(s, &r, &off, why, sizeof(why)) != 0)
		return kf_err_set(err, KF_EPARSE, "image reference '%.600s' (at character %zu): %s",
				  s ? s : "", off + 1, why);
	if (!(out->registry = strdup(r.domain)) || !(out->repo = strdup(r.path)) ||
	    (r.tag[0] && !(out->tag = strdup(r.tag))) ||
	    (r.digest[0] && !(out->digest = strdup(r.digest)))) {
		kf_oci_ref_free(out);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	return 0;
}

const char *kf_oci_ref_reference(const struct kf_oci_ref *ref)
{
	return ref->tag ? ref->tag : ref->digest;
}

char *kf_oci_ref_str(const struct kf_oci_ref *ref)
{
	size_t n = strlen(ref->registry) + strlen(ref->repo) + 4 +
		   (ref->tag ? strlen(ref->tag) : 0) + (ref->digest ? strlen(ref->digest) : 0);
	char *s = malloc(n);

	if (!s)
		return NULL;
	snprintf(s, n, "%s/%s%s%s%s%s", ref->registry, ref->repo, ref->tag ? ":" : "",
		 ref->tag ? ref->tag : "", ref->digest ? "@" : "", ref->digest ? ref->digest : "");
	return s;
}

void kf_oci_ref_free(struct kf_oci_ref *ref)
{
	if (!ref)
		return;
	free(ref->registry);
	free(ref->repo);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

const char *kf_oci_request_host(const char *registry)
{
	if (strcmp(registry, "docker.io") == 0)
		return "registry-1.docker.io";
	return registry;
}
