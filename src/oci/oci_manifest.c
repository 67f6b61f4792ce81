/* Reading manifests and indexes (OCI image spec, Docker schema 2): the one place their
 * descriptors are taken apart, so every digest that comes out of one has been checked by
 * kf_digest_valid before anyone formats it into a path or a URL. */
#include "k3sforge/oci.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/digest.h"

static bool mt_is_index(const char *mt)
{
	return strcmp(mt, KF_OCI_MT_OCI_INDEX) == 0 || strcmp(mt, KF_OCI_MT_DOCKER_LIST) == 0;
}

static bool mt_is_manifest(const char *mt)
{
	return strcmp(mt, KF_OCI_MT_OCI_MANIFEST) == 0 || strcmp(mt, KF_OCI_MT_DOCKER_MANIFEST) == 0;
}

static int desc_parse(json_t *o, struct kf_oci_desc *d, const char *what, size_t i,
		      struct kf_err *err)
{
	json_t *dg = json_object_get(o, "digest"), *sz = json_object_get(o, "size");
	json_t *mt = json_object_get(o, "mediaType");
	char where[80];

	if (i == (size_t)-1)
		snprintf(where, sizeof(where), "manifest %s", what);
	else
		snprintf(where, sizeof(where), "manifest %s[%zu]", what, i);
	if (!json_is_object(o))
		return kf_err_set(err, KF_EPARSE, "%s is not a descriptor object", where);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return kf_err_set(err, KF_EPARSE, "%s.size is not a non-negative integer", where);
	if (!json_is_string(dg) || !kf_digest_valid(json_string_value(dg)))
		return kf_digest_check(json_string_value(dg), where, err);
	if (mt && (!json_is_string(mt) || json_string_length(mt) >= sizeof(d->media_type)))
		return kf_err_set(err, KF_EPARSE, "%s.mediaType is not a string of at most %zu bytes",
				  where, sizeof(d->media_type) - 1);
	memcpy(d->digest, json_string_value(dg), KF_DIGEST_STR_LEN + 1);
	if (mt)
		memcpy(d->media_type, json_string_value(mt), json_string_length(mt) + 1);
	d->size = (uint64_t)json_integer_value(sz);
	return 0;
}

int kf_oci_doc_parse(struct kf_oci_doc *out, const char *data, size_t len,
		     const char *fallback_media_type, struct kf_err *err)
{
	json_t *root = NULL, *mt, *arr, *it;
	const char *type;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > KF_OCI_MANIFEST_MAX)
		return kf_err_set(err, KF_ELIMIT, "manifest larger than %zu bytes",
				  KF_OCI_MANIFEST_MAX);
	if (!(root = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(root)) {
		rc = kf_err_set(err, KF_EPARSE, "manifest is not a JSON object");
		goto out;
	}
	mt = json_object_get(root, "mediaType");
	if (mt && !json_is_string(mt)) {
		rc = kf_err_set(err, KF_EPARSE, "manifest: mediaType is not a string");
		goto out;
	}
	type = mt ? json_string_value(mt) : fallback_media_type;
	if (!type) {
		rc = kf_err_set(err, KF_EPARSE, "manifest has no media type");
		goto out;
	}
	if (!mt_is_index(type) && !mt_is_manifest(type)) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "manifest media type '%.100s' is not supported",
				type);
		goto out;
	}
	if (json_integer_value(json_object_get(root, "schemaVersion")) != 2 ||
	    !json_is_integer(json_object_get(root, "schemaVersion"))) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "manifest: schemaVersion is not 2");
		goto out;
	}
	out->is_index = mt_is_index(type);
	/* an index has "manifests" and no config/layers, an image manifest the reverse: a
	 * document with both would be read differently by different clients */
	if (out->is_index ? (json_object_get(root, "config") || json_object_get(root, "layers"))
			  : json_object_get(root, "manifests") != NULL) {
		rc = kf_err_set(err, KF_EPARSE, "manifest of type %s holds the fields of the other kind",
				type);
		goto out;
	}
	arr = json_object_get(root, out->is_index ? "manifests" : "layers");
	if (!json_is_array(arr)) {
		rc = kf_err_set(err, KF_EPARSE, "manifest: %s is not an array",
				out->is_index ? "manifests" : "layers");
		goto out;
	}
	if (json_array_size(arr) > KF_OCI_DOC_MAX_DESCS) {
		rc = kf_err_set(err, KF_ELIMIT, "manifest lists more than %d descriptors",
				KF_OCI_DOC_MAX_DESCS);
		goto out;
	}
	if (!out->is_index &&
	    (rc = desc_parse(json_object_get(root, "config"), &out->config, "config", (size_t)-1,
			     err)) != 0)
		goto out;
	if (json_array_size(arr) &&
	    !(out->v = calloc(json_array_size(arr), sizeof(*out->v)))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, it) {
		json_t *urls = json_object_get(it, "urls");
		if (urls && !json_is_array(urls)) {
			rc = kf_err_set(err, KF_EPARSE, "manifest: layers[%zu].urls is not an array", i);
			goto out;
		}
		if (!out->is_index && json_array_size(urls) > 0)
			continue;   /* non-distributable: stays where its urls say */
		if ((rc = desc_parse(it, &out->v[out->n], out->is_index ? "manifests" : "layers", i,
				     err)) != 0)
			goto out;
		out->n++;
	}
	if (!(out->media_type = strdup(type))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc)
		kf_oci_doc_free(out);
	return rc;
}

void kf_oci_doc_free(struct kf_oci_doc *d)
{
	if (!d)
		return;
	free(d->v);
	free(d->media_type);
	memset(d, 0, sizeof(*d));
}
