/* Listings on a registry (see oci.c): the catalog and a repository's tags, paged by Link. */
#include "k3sforge/oci.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/strv.h"

#include "oci_internal.h"

/* ---------------------------------------------------------------- listing */

/* The URL of a Link: <...>; rel="next" header (caller frees), NULL when none. */
static char *link_next(struct kf_oci_registry *r, const char *link)
{
	const char *lt, *gt;
	char *path, *u;

	if (!link || !strstr(link, "rel=\"next\"") || !(lt = strchr(link, '<')) ||
	    !(gt = strchr(lt, '>')))
		return NULL;
	if (!(path = strndup(lt + 1, (size_t)(gt - lt - 1))))
		return NULL;
	u = kf_oci_location_url(r, path, NULL);
	free(path);
	return u;
}

static int list_pages(struct kf_oci_registry *r, const char *first_url, const char *scope,
		      const char *key, char ***out, size_t *n, size_t max, struct kf_err *err)
{
	char *url = strdup(first_url);
	char **v = NULL;
	size_t cnt = 0;
	int rc = 0;

	if (!max)
		max = 100000;
	for (int page = 0; url && page < LIST_PAGES_MAX; page++) {
		struct req q = { 0 };
		struct resp rs;
		json_t *root, *arr, *it;
		size_t i;

		kf_oci_resp_init(&rs, 0);
		q.method = "GET";
		q.url = url;
		q.scope = scope;
		if ((rc = kf_oci_request(r, &q, &rs, err)) != 0) {
			kf_oci_resp_free(&rs);
			break;
		}
		if (rs.status != 200) {
			rc = kf_oci_status_err(r, &rs, err, "GET list");
			kf_oci_resp_free(&rs);
			break;
		}
		root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL);
		arr = json_object_get(root, key);
		json_array_foreach(arr, i, it) {
			if (!json_is_string(it))
				continue;
			if (cnt >= max) {
				rc = kf_err_set(err, KF_ELIMIT, "%s lists more than %zu entries",
						r->name, max);
				break;
			}
			if (kf_strv_append(&v, &cnt, json_string_value(it),
					   strlen(json_string_value(it))) != 0) {
				rc = kf_err_set(err, KF_ENOMEM, "out of memory");
				break;
			}
		}
		json_decref(root);
		free(url);
		url = rc ? NULL : link_next(r, rs.link);
		kf_oci_resp_free(&rs);
	}
	free(url);
	if (rc) {
		kf_strv_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int kf_oci_catalog(struct kf_oci_registry *r, char ***repos, size_t *n, size_t max,
		   struct kf_err *err)
{
	char *url = kf_oci_mkurl(r, "/v2/_catalog?n=100");
	int rc;

	*repos = NULL;
	*n = 0;
	if (!url)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	rc = list_pages(r, url, "registry:catalog:*", "repositories", repos, n, max, err);
	free(url);
	return rc;
}

int kf_oci_tags(struct kf_oci_registry *r, const char *repo, char ***tags, size_t *n, size_t max,
		struct kf_err *err)
{
	char *url = kf_oci_mkurl(r, "/v2/%s/tags/list?n=100", repo);
	char *scope = kf_oci_scope_for(r, repo);
	int rc;

	*tags = NULL;
	*n = 0;
	if (!url || !scope) {
		free(url);
		free(scope);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	rc = list_pages(r, url, scope, "tags", tags, n, max, err);
	free(url);
	free(scope);
	return rc;
}

int kf_oci_list(struct kf_oci_registry *r, char *const *only, size_t n_only, size_t max_repos,
		size_t max_tags, struct kf_oci_repo_tags **out, size_t *n, struct kf_err *err)
{
	char **repos = NULL;
	size_t n_repos = 0;
	struct kf_oci_repo_tags *v;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (n_only == 0 && (rc = kf_oci_catalog(r, &repos, &n_repos, max_repos, err)) != 0)
		return rc;
	if (n_only) {
		for (size_t i = 0; i < n_only && !rc; i++)
			if (kf_strv_append(&repos, &n_repos, only[i], strlen(only[i])) != 0)
				rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		if (rc) {
			kf_strv_free(repos, n_repos);
			return rc;
		}
	}
	if (!(v = calloc(n_repos ? n_repos : 1, sizeof(*v)))) {
		kf_strv_free(repos, n_repos);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n_repos && !rc; i++) {
		v[i].name = repos[i];
		repos[i] = NULL;
		(*n)++;
		if ((rc = kf_oci_tags(r, v[i].name, &v[i].tags, &v[i].n_tags, max_tags, err)) != 0)
			kf_err_wrap(err, "repository %s", v[i].name);
	}
	kf_strv_free(repos, n_repos);
	if (rc) {
		kf_oci_repo_tags_free(v, *n);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

void kf_oci_repo_tags_free(struct kf_oci_repo_tags *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		kf_strv_free(v[i].tags, v[i].n_tags);
	}
	free(v);
}
