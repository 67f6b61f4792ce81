/* Whether images are in a registry already (the check prep and status make), without
 * the mirror engine (mirror.c). */
#include "k3sforge/mirror.h"

#include <stdlib.h>
#include <string.h>

#include "k3sforge/oci.h"
#include "k3sforge/strv.h"

int kf_mirror_verify_present(const char *to, const char *to_ca, const char *const *refs, size_t n,
			     char ***missing, size_t *n_missing, struct kf_err *err)
{
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	char **miss = NULL;
	size_t nm = 0;
	int rc;

	*missing = NULL;
	*n_missing = 0;
	o.ca_file = to_ca;
	if ((rc = kf_oci_registry_new(&r, to, &o, err)) != 0)
		return rc;
	if (n && !(miss = calloc(n, sizeof(*miss)))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct kf_oci_ref ref;
		struct kf_err e;
		if ((rc = kf_oci_ref_parse(&ref, refs[i], err)) != 0)
			goto out;
		kf_err_clear(&e);
		rc = kf_oci_manifest_head(r, ref.repo, kf_oci_ref_reference(&ref), NULL, &e);
		kf_oci_ref_free(&ref);
		if (rc == KF_ENOTFOUND) {
			if (!(miss[nm++] = strdup(refs[i]))) {
				rc = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
		} else if (rc) {
			kf_err_set(err, rc, "%s", e.msg);
			goto out;
		}
	}
	rc = 0;
	if (nm) {
		char list[600] = "";
		for (size_t i = 0; i < nm && strlen(list) + strlen(miss[i]) + 3 < sizeof(list); i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, miss[i]);
		}
		rc = kf_err_set(err, KF_ENOTFOUND,
				"%zu image%s missing from the registry %s: %s (run k3sforge mirror)",
				nm, nm == 1 ? " is" : "s are", to, list);
	}
	*missing = miss;
	*n_missing = nm;
	miss = NULL;
	nm = 0;
out:
	kf_strv_free(miss, nm);
	kf_oci_registry_free(r);
	return rc;
}

void kf_mirror_results_free(struct kf_mirror_result *results, size_t n)
{
	for (size_t i = 0; results && i < n; i++) {
		free(results[i].source);
		free(results[i].target);
		free(results[i].digest);
		free(results[i].platform);
		free(results[i].reason);
	}
	free(results);
}
