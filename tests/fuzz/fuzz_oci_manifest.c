/* libFuzzer target: the manifest/index parser (kf_oci_doc_parse) every manifest from a
 * registry or a bundle goes through. Any input parses or is refused with a message; a parsed
 * one has a known media type and only descriptors with valid digests, at most
 * KF_OCI_DOC_MAX_DESCS of them. Build and run: tests/fuzz/fuzz.sh oci_manifest [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/digest.h"
#include "k3sforge/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kf_oci_doc d;
	struct kf_err err;
	/* the first byte picks the fallback media type (a registry's Content-Type) */
	static const char *const fallback[] = { NULL, KF_OCI_MT_OCI_MANIFEST, KF_OCI_MT_DOCKER_LIST,
						"text/plain" };
	const char *fb = size ? fallback[data[0] & 3] : NULL;

	kf_err_clear(&err);
	if (kf_oci_doc_parse(&d, (const char *)data + (size ? 1 : 0), size ? size - 1 : 0, fb,
			     &err) != 0) {
		if (!err.msg[0] || d.v || d.media_type)
			abort();
		return 0;
	}
	if (!d.media_type || d.n > KF_OCI_DOC_MAX_DESCS || (d.n && !d.v))
		abort();
	if (!d.is_index && !kf_digest_valid(d.config.digest))
		abort();
	for (size_t i = 0; i < d.n; i++)
		if (!kf_digest_valid(d.v[i].digest) || strlen(d.v[i].media_type) >= 128)
			abort();
	kf_oci_doc_free(&d);
	return 0;
}
