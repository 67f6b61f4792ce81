/* Manifests on a registry (see oci.c): GET, HEAD and PUT. Parsing is in oci_manifest.c. */
#include "k3sforge/oci.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"

#include "oci_internal.h"

static const char *const accept_manifests =
	"Accept: " KF_OCI_MT_OCI_INDEX ", " KF_OCI_MT_OCI_MANIFEST ", " KF_OCI_MT_DOCKER_LIST
	", " KF_OCI_MT_DOCKER_MANIFEST;

/* ---------------------------------------------------------------- manifests */

void kf_oci_manifest_free(struct kf_oci_manifest *m)
{
	if (!m)
		return;
	free(m->data);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

int kf_oci_manifest_get(struct kf_oci_registry *r, const char *repo, const char *reference,
			struct kf_oci_manifest *out, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = kf_oci_mkurl(r, "/v2/%s/manifests/%s", repo, reference);
	char *scope = kf_oci_scope_for(r, repo);
	char hex[KF_SHA256_HEX_LEN + 1];
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	kf_oci_resp_init(&rs, KF_OCI_MANIFEST_MAX);
	if (strchr(reference, ':') && (rc = kf_digest_check(reference, "manifest reference", err)))
		goto out;
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "GET";
	q.url = url;
	q.scope = scope;
	q.headers[0] = accept_manifests;
	q.body_max = KF_OCI_MANIFEST_MAX;
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0) {
		if (rc == KF_ELIMIT && rs.overflow)
			rc = kf_err_set(err, KF_ELIMIT, "manifest %s/%s:%s is larger than %zu bytes",
					r->name, repo, reference, KF_OCI_MANIFEST_MAX);
		goto out;
	}
	if (rs.status != 200) {
		rc = kf_oci_status_err(r, &rs, err, "GET manifest");
		kf_err_wrap(err, "%s:%s", repo, reference);
		goto out;
	}
	kf_sha256_hex(rs.body.data ? rs.body.data : "", rs.body.len, hex);
	snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
	if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, out->digest) != 0) {
		rc = kf_err_set(err, KF_EDIGEST,
				"manifest %s/%s@%s: the bytes received hash to %s; refusing it", r->name,
				repo, reference, out->digest);
		goto out;
	}
	if (rs.digest && strncmp(rs.digest, "sha256:", 7) == 0 && strcmp(rs.digest, out->digest)) {
		rc = kf_err_set(err, KF_EDIGEST,
				"manifest %s/%s:%s: Docker-Content-Digest %s but the bytes hash to %s",
				r->name, repo, reference, rs.digest, out->digest);
		goto out;
	}
	root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL);
	if (!root) {
		rc = kf_err_set(err, KF_EPARSE, "manifest %s/%s:%s is not JSON", r->name, repo,
				reference);
		goto out;
	}
	if (json_is_string(json_object_get(root, "mediaType")))
		out->media_type = strdup(json_string_value(json_object_get(root, "mediaType")));
	else if (rs.content_type)
		out->media_type = strndup(rs.content_type, strcspn(rs.content_type, "; "));
	if (!out->media_type) {
		rc = kf_err_set(err, KF_EPARSE, "manifest %s/%s:%s has no media type", r->name, repo,
				reference);
		goto out;
	}
	out->len = rs.body.len;
	out->data = kf_buf_detach(&rs.body);
	if (!out->data)
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	if (rc)
		kf_oci_manifest_free(out);
	json_decref(root);
	kf_oci_resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

int kf_oci_manifest_head(struct kf_oci_registry *r, const char *repo, const char *reference,
			 char digest[KF_OCI_DIGEST_LEN], struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = kf_oci_mkurl(r, "/v2/%s/manifests/%s", repo, reference);
	char *scope = kf_oci_scope_for(r, repo);
	int rc;

	kf_oci_resp_init(&rs, 0);
	if (digest)
		digest[0] = '\0';
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	q.method = "HEAD";
	q.url = url;
	q.scope = scope;
	q.headers[0] = accept_manifests;
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status == 404) {
		rc = kf_err_set(err, KF_ENOTFOUND, "manifest %s/%s:%s not found", r->name, repo,
				reference);
	} else if (rs.status != 200) {
		rc = kf_oci_status_err(r, &rs, err, "HEAD manifest");
	} else if (digest && rs.digest) {
		snprintf(digest, KF_OCI_DIGEST_LEN, "%s", rs.digest);
	}
out:
	kf_oci_resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

int kf_oci_manifest_put(struct kf_oci_registry *r, const char *repo, const char *reference,
			const char *data, size_t len, const char *media_type, struct kf_err *err)
{
	struct req q = { 0 };
	struct resp rs;
	char *url = kf_oci_mkurl(r, "/v2/%s/manifests/%s", repo, reference);
	char *scope = kf_oci_scope_for(r, repo);
	char ct[256];
	int rc;

	kf_oci_resp_init(&rs, 0);
	if (!url || !scope) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", media_type);
	q.method = "PUT";
	q.url = url;
	q.scope = scope;
	q.headers[0] = ct;
	q.body = data;
	q.body_len = len;
	if ((rc = kf_oci_request(r, &q, &rs, err)) != 0)
		goto out;
	if (rs.status != 201 && rs.status != 200) {
		rc = kf_oci_status_err(r, &rs, err, "PUT manifest");
		kf_err_wrap(err, "%s:%s", repo, reference);
	}
out:
	kf_oci_resp_free(&rs);
	free(url);
	free(scope);
	return rc;
}

