/* WWW-Authenticate challenge parser (RFC 7235 section 2.1) for the OCI client's token dance.
 * Bounded, allocation only for the three parameters the client uses. */
#include "k3sforge/oci.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/err.h"

static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

void kf_oci_challenge_free(struct kf_oci_challenge *c)
{
	if (!c)
		return;
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* Reads a token or quoted-string value at *pp into a new string (*out), moving *pp past it. */
static int read_value(const char **pp, char **out)
{
	const char *p = *pp;
	size_t n = 0, cap = strlen(p) + 1;
	char *v = malloc(cap);

	if (!v)
		return KF_ENOMEM;
	if (*p == '"') {
		for (p++;; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\0') {
				free(v);
				return KF_EPARSE;   /* unterminated */
			}
			if (c == '"')
				break;
			if (c == '\\') {
				c = (unsigned char)*++p;
				if (c == '\0') {
					free(v);
					return KF_EPARSE;
				}
			}
			if (c < 0x20 || c == 0x7f) {
				free(v);
				return KF_EPARSE;
			}
			v[n++] = (char)c;
		}
		p++;
	} else {
		while (tchar((unsigned char)*p) || *p == '/' || *p == ':' || *p == '=')
			v[n++] = *p++;
		if (n == 0) {
			free(v);
			return KF_EPARSE;
		}
	}
	v[n] = '\0';
	*out = v;
	*pp = p;
	return 0;
}

int kf_oci_challenge_parse(const char *header, struct kf_oci_challenge *out)
{
	const char *p;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!header)
		return KF_EPARSE;
	if (strlen(header) > KF_OCI_CHALLENGE_MAX)
		return KF_ELIMIT;
	p = skip_ws(header);
	for (n = 0; tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || n >= sizeof(out->scheme_name) || (p[n] && p[n] != ' ' && p[n] != '\t'))
		return KF_EPARSE;
	memcpy(out->scheme_name, p, n);
	out->scheme_name[n] = '\0';
	if (strcasecmp(out->scheme_name, "Bearer") == 0)
		out->scheme = KF_OCI_AUTH_BEARER;
	else if (strcasecmp(out->scheme_name, "Basic") == 0)
		out->scheme = KF_OCI_AUTH_BASIC;
	p = skip_ws(p + n);
	while (*p) {
		const char *name = p;
		char **slot = NULL, *v = NULL;
		size_t nl;

		for (nl = 0; tchar((unsigned char)name[nl]); nl++)
			;
		if (nl == 0) {
			rc = KF_EPARSE;
			break;
		}
		p = skip_ws(name + nl);
		if (*p != '=')
			break;  /* a token68 or the next challenge: this one ends here */
		p = skip_ws(p + 1);
		if ((rc = read_value(&p, &v)) != 0)
			break;
		if (nl == 5 && strncasecmp(name, "realm", 5) == 0)
			slot = &out->realm;
		else if (nl == 7 && strncasecmp(name, "service", 7) == 0)
			slot = &out->service;
		else if (nl == 5 && strncasecmp(name, "scope", 5) == 0)
			slot = &out->scope;
		if (slot && *slot) {
			free(v);
			rc = KF_EPARSE;   /* a parameter given twice: which one would the server mean? */
			break;
		}
		if (slot)
			*slot = v;
		else
			free(v);
		p = skip_ws(p);
		if (*p == ',') {
			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
			continue;
		}
		if (*p) {
			rc = KF_EPARSE;
			break;
		}
	}
	if (rc)
		kf_oci_challenge_free(out);
	return rc;
}
