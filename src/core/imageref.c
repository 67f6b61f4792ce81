/* Image references: the one parser (grammar and normalisation in imageref.h). Checked byte by
 * byte against distribution's grammar rather than loosely split, because a reference becomes
 * part of a URL path and curl would normalise "a/../../v2/..." into another endpoint. */
#include "k3sforge/imageref.h"

#include <stdio.h>
#include <string.h>

#include "k3sforge/digest.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int fail(size_t *off, size_t at, char *why, size_t whylen, const char *reason)
{
	if (off)
		*off = at;
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
	return -1;
}

/* [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*; on failure *bad is the offset of the problem. */
static bool path_component_ok(const char *s, size_t n, size_t *bad)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0;
		while (i < n && is_lower_alnum(s[i])) {
			i++;
			run++;
		}
		if (run == 0) {
			*bad = i;
			return false;
		}
		if (i == n)
			return true;
		if (s[i] == '.' || s[i] == '_') {
			i += (s[i] == '_' && i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			*bad = i;
			return false;
		}
		if (i == n) {
			*bad = i - 1;
			return false;
		}
	}
	*bad = 0;
	return false;
}

/* host[:port]: dot-separated labels [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? or [IPv6], port
 * 1..65535. */
static bool domain_ok(const char *s, size_t n, size_t *bad)
{
	size_t i = 0;

	if (n && s[0] == '[') {
		for (i = 1; i < n && (is_hex_char(s[i]) || s[i] == ':'); i++)
			;
		if (i == 1 || i >= n || s[i] != ']') {
			*bad = i;
			return false;
		}
		i++;
	} else {
		for (;;) {
			size_t start = i;
			while (i < n && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-') {
				*bad = i == start || s[start] == '-' ? start : i - 1;
				return false;
			}
			if (i < n && s[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i < n && s[i] == ':') {
		unsigned long port = 0;
		size_t p = ++i;
		for (; i < n && s[i] >= '0' && s[i] <= '9' && port <= 65535; i++)
			port = port * 10 + (unsigned long)(s[i] - '0');
		if (i == p || port == 0 || port > 65535) {
			*bad = p;
			return false;
		}
	}
	if (i != n) {
		*bad = i;
		return false;
	}
	return true;
}

static bool first_is_domain(const char *s, size_t fl)
{
	if (memchr(s, '.', fl) || memchr(s, ':', fl) || (fl == 9 && strncmp(s, "localhost", 9) == 0))
		return true;
	for (size_t i = 0; i < fl; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

int kf_imageref_parse(const char *s, struct kf_imageref *out, size_t *off, char *why,
		      size_t whylen)
{
	size_t len, name_end, slash = 0, start = 0, dl = 0;
	const char *at, *colon;
	struct kf_imageref tmp;
	struct kf_imageref *r = out ? out : &tmp;

	memset(r, 0, sizeof(*r));
	if (off)
		*off = 0;
	if (!s || !*s)
		return fail(off, 0, why, whylen, "empty image reference");
	len = strlen(s);
	if (len > KF_IMAGEREF_MAX)
		return fail(off, 0, why, whylen, "image reference longer than 512 characters");
	at = strchr(s, '@');
	name_end = at ? (size_t)(at - s) : len;
	if (at) {
		if (!kf_digest_valid(at + 1)) {
			const char *d = at + 1;
			if (strncmp(d, "sha256:", 7) == 0 && strlen(d) == KF_DIGEST_STR_LEN) {
				for (const char *h = d + 7; *h; h++)
					if (*h >= 'A' && *h <= 'F')
						return fail(off, (size_t)(h - s), why, whylen,
							    "digest must be lowercase hex");
			}
			return fail(off, (size_t)(d - s), why, whylen,
				    "digest must be sha256: followed by 64 hex digits");
		}
		memcpy(r->digest, at + 1, KF_DIGEST_STR_LEN + 1);
	}
	/* Tag: after the last ':' that follows the last '/'. */
	for (size_t i = 0; i < name_end; i++)
		if (s[i] == '/')
			slash = i + 1;
	colon = memchr(s + slash, ':', name_end - slash);
	if (colon) {
		const char *t = colon + 1;
		size_t tl = name_end - (size_t)(t - s);
		if (tl == 0 || tl > 128)
			return fail(off, (size_t)(t - s), why, whylen, "tag must be 1 to 128 characters");
		for (size_t i = 0; i < tl; i++) {
			char c = t[i];
			if (!(is_alnum(c) || c == '_' || (i > 0 && (c == '.' || c == '-'))))
				return fail(off, (size_t)(t - s) + i, why, whylen,
					    "tag may hold only letters, digits, '_', '.' and '-' "
					    "(not first)");
		}
		memcpy(r->tag, t, tl);
		r->tag[tl] = '\0';
		name_end = (size_t)(colon - s);
	}
	if (name_end == 0)
		return fail(off, 0, why, whylen, "image reference has no repository name");
	if (name_end > KF_IMAGEREF_NAME_MAX)
		return fail(off, KF_IMAGEREF_NAME_MAX, why, whylen,
			    "repository name longer than 255 characters");
	{
		const char *first_end = memchr(s, '/', name_end);
		if (first_end && first_is_domain(s, (size_t)(first_end - s))) {
			size_t bad;
			dl = (size_t)(first_end - s);
			if (!domain_ok(s, dl, &bad))
				return fail(off, bad, why, whylen,
					    "registry is not a host[:port] (letters, digits, '-' "
					    "and '.', port 1-65535)");
			start = dl + 1;
		}
	}
	if (name_end - start == 64) {
		bool all_hex = true;
		for (size_t i = start; i < name_end; i++)
			all_hex = all_hex && is_hex_char(s[i]);
		if (all_hex)
			return fail(off, start, why, whylen,
				    "a repository name may not be 64 hex digits (it reads as an "
				    "image ID)");
	}
	for (size_t p = start; p < name_end;) {
		const char *e = memchr(s + p, '/', name_end - p);
		size_t cl = e ? (size_t)(e - (s + p)) : name_end - p, bad;
		if (!path_component_ok(s + p, cl, &bad)) {
			if (p + bad < len && s[p + bad] >= 'A' && s[p + bad] <= 'Z')
				return fail(off, p + bad, why, whylen,
					    "repository names must be lowercase");
			if (why && whylen)
				snprintf(why, whylen, "bad repository name component '%.*s' "
					 "(lowercase letters and digits, separated by '.', '_', "
					 "'__' or '-')", (int)(cl > 80 ? 80 : cl), s + p);
			if (off)
				*off = p + bad;
			return -1;
		}
		p += cl + 1;
		if (e && p == name_end)
			return fail(off, p - 1, why, whylen, "repository name ends with '/'");
	}
	if (start == name_end)
		return fail(off, start, why, whylen, "image reference has no repository name");
	/* Docker's normalisation */
	if (dl == 0 || (dl == 15 && strncmp(s, "index.docker.io", 15) == 0) ||
	    (dl == 20 && strncmp(s, "registry-1.docker.io", 20) == 0))
		snprintf(r->domain, sizeof(r->domain), "docker.io");
	else
		snprintf(r->domain, sizeof(r->domain), "%.*s", (int)dl, s);
	r->domain_given = dl > 0;
	if (strcmp(r->domain, "docker.io") == 0 && !memchr(s + start, '/', name_end - start))
		snprintf(r->path, sizeof(r->path), "library/%.*s", (int)(name_end - start), s + start);
	else
		snprintf(r->path, sizeof(r->path), "%.*s", (int)(name_end - start), s + start);
	/* distribution bounds the normalised name (docker.io/library/... included), so that a
	 * name accepted here is still accepted in its full form */
	if (strlen(r->domain) + 1 + strlen(r->path) > KF_IMAGEREF_NAME_MAX) {
		memset(r, 0, sizeof(*r));
		return fail(off, 0, why, whylen,
			    "repository name longer than 255 characters (with its registry, as "
			    "Docker reads it)");
	}
	if (!r->tag[0] && !r->digest[0])
		snprintf(r->tag, sizeof(r->tag), "latest");
	return 0;
}

void kf_imageref_full(const struct kf_imageref *r, char *out, size_t size)
{
	snprintf(out, size, "%s/%s%s%s%s%s", r->domain, r->path, r->tag[0] ? ":" : "", r->tag,
		 r->digest[0] ? "@" : "", r->digest);
}

bool kf_imageref_same_in_lab(const char *a, const char *b)
{
	struct kf_imageref ra, rb;

	return kf_imageref_parse(a, &ra, NULL, NULL, 0) == 0 &&
	       kf_imageref_parse(b, &rb, NULL, NULL, 0) == 0 && strcmp(ra.path, rb.path) == 0 &&
	       strcmp(ra.tag, rb.tag) == 0 && strcmp(ra.digest, rb.digest) == 0;
}
