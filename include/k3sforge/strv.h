/* Vectors of owned strings: char **v with a count, kept NULL-terminated when made by
 * kf_strv_append so that they also serve as an argv. */
#ifndef K3SFORGE_STRV_H
#define K3SFORGE_STRV_H

#include <stddef.h>

/* Appends a copy of s's first len bytes to *v (*n strings), growing it geometrically and keeping
 * a NULL after the last. *v is NULL (an empty vector) or was made by this function. Returns 0,
 * or KF_ENOMEM with *v and *n unchanged. */
int kf_strv_append(char ***v, size_t *n, const char *s, size_t len);
/* Frees v's n strings and v (v may be NULL). */
void kf_strv_free(char **v, size_t n);
/* Frees a NULL-terminated vector (an argv) and its strings (argv may be NULL). */
void kf_argv_free(char **argv);

#endif
