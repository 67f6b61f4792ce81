/* Docker-style image references: parsing and normalisation
 * (short names → docker.io/library/x). */
#include "k3sforge/oci.h"

#include "k3sforge/digest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX 1024

static int repo_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '/';
}

static int tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return 0;
	return 1;
}

static int digest_ok(const char *d)
{
	return strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 && kf_sha256_valid_hex(d + 7);
}

int kf_oci_ref_parse(struct kf_oci_ref *out, const char *s, struct kf_err *err)
{
	char *copy = NULL, *name, *at, *slash, *colon;
	const char *reg = "docker.io";
	int r = KF_EPARSE;

	memset(out, 0, sizeof(*out));
	if (!s || !*s || strlen(s) > REF_MAX)
		return kf_err_set(err, KF_EPARSE, "image reference '%s' is empty or too long",
				  s ? s : "");
	if (!(copy = strdup(s)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	name = copy;
	if ((at = strchr(name, '@'))) {
		*at = '\0';
		if (!digest_ok(at + 1)) {
			kf_err_set(err, KF_EPARSE,
				   "image reference '%s': digest must be sha256:<64 hex>", s);
			goto out;
		}
		if (!(out->digest = strdup(at + 1)))
			goto nomem;
	}
	slash = strchr(name, '/');
	if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
		      memchr(name, ':', (size_t)(slash - name)) ||
		      strncmp(name, "localhost/", 10) == 0)) {
		*slash = '\0';
		reg = name;
		name = slash + 1;
	}
	if (strcmp(reg, "index.docker.io") == 0 || strcmp(reg, "registry-1.docker.io") == 0)
		reg = "docker.io";
	/* tag: a ':' after the last '/' */
	slash = strrchr(name, '/');
	colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_ok(colon + 1)) {
			kf_err_set(err, KF_EPARSE, "image reference '%s': bad tag '%s'", s, colon + 1);
			goto out;
		}
		if (!(out->tag = strdup(colon + 1)))
			goto nomem;
	}
	if (!*name || name[0] == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//")) {
		kf_err_set(err, KF_EPARSE, "image reference '%s': empty repository path", s);
		goto out;
	}
	for (const char *p = name; *p; p++)
		if (!repo_char_ok(*p)) {
			kf_err_set(err, KF_EPARSE,
				   "image reference '%s': repository may only contain [a-z0-9._/-]", s);
			goto out;
		}
	if (!(out->registry = strdup(reg)))
		goto nomem;
	if (strcmp(reg, "docker.io") == 0 && !strchr(name, '/')) {
		size_t n = strlen(name) + 9;
		if (!(out->repo = malloc(n)))
			goto nomem;
		snprintf(out->repo, n, "library/%s", name);
	} else if (!(out->repo = strdup(name))) {
		goto nomem;
	}
	if (!out->tag && !out->digest && !(out->tag = strdup("latest")))
		goto nomem;
	r = 0;
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	free(copy);
	if (r)
		kf_oci_ref_free(out);
	return r;
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
