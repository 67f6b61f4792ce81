/* The one grammar of image references, for every input (config files, image lists, the command
 * line, bundle listings): distribution's reference grammar (github.com/distribution/reference,
 * regexp.go and normalize.go):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*     (at most 255 chars)
 *   domain     := host [ ":" port ]   host: dot-separated [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
 *                                     labels, or "[" IPv6 "]"
 *   path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 lowercase hex (see kf_digest_valid; the only algorithm accepted)
 *
 * so "..", "." and empty components can never reach a URL. The first component is the domain
 * when it holds '.' or ':', is "localhost", or has an upper-case letter (Docker's rule), and
 * normalisation is Docker's: no domain → docker.io, index.docker.io (and registry-1.docker.io)
 * → docker.io, a one-component docker.io path → library/<name>, no tag and no digest →
 * "latest". Core code: no allocation, no registry headers. */
#ifndef K3SFORGE_IMAGEREF_H
#define K3SFORGE_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

#define KF_IMAGEREF_MAX 512   /* longest reference accepted, whole string */
#define KF_IMAGEREF_NAME_MAX 255

struct kf_imageref {
	char domain[KF_IMAGEREF_NAME_MAX + 1];   /* normalised: "docker.io", "127.0.0.1:5000" */
	char path[KF_IMAGEREF_NAME_MAX + 16];    /* normalised: "library/busybox" */
	char tag[129];                           /* "latest" when neither tag nor digest was
	                                            given; "" for a digest-only reference */
	char digest[72];                         /* "" when the reference has none */
	bool domain_given;                       /* the text named a domain */
};

/* Parses and normalises s. 0, or -1 with *off the byte offset in s of the problem and a
 * one-line reason in why ("repository names must be lowercase"). out may be NULL to check only;
 * off and why may be NULL. */
int kf_imageref_parse(const char *s, struct kf_imageref *out, size_t *off, char *why,
		      size_t whylen);
/* Docker's full name of a parsed reference: "docker.io/library/busybox:1.36[@sha256:...]".
 * Truncated to size (always NUL-ended). */
void kf_imageref_full(const struct kf_imageref *r, char *out, size_t size);

/* Do a and b name the same image where the lab registry keeps it: the same normalised path
 * and the same tag and digest (the registry part is dropped there, as prep mirrors it)? False
 * when either is not a reference. Prep's decision and what bundle export predicts of it. */
bool kf_imageref_same_in_lab(const char *a, const char *b);

#endif
