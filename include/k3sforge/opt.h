/* One declarative option parser for every command (after git's parse-options). */
#ifndef K3SFORGE_OPT_H
#define K3SFORGE_OPT_H

#include <stdbool.h>

#include "k3sforge/err.h"

enum kf_opt_type {
	KF_OPT_END = 0,
	KF_OPT_FLAG,    /* bool *, no argument */
	KF_OPT_STRING,  /* const char **, argument required */
	KF_OPT_INT,     /* int *, argument required, decimal, range [min,max] */
	KF_OPT_LIST,    /* struct kf_strlist *, argument required, repeatable */
};

struct kf_strlist {
	const char **items;
	int n;
};

struct kf_opt {
	enum kf_opt_type type;
	char short_name;        /* 0 = none */
	const char *long_name;  /* without "--" */
	void *value;
	const char *argname;    /* e.g. "FILE" */
	const char *help;
	long min, max;          /* KF_OPT_INT bounds (both 0 = unbounded) */
};

#define KF_OPT_FLAG_(s, l, v, h) { KF_OPT_FLAG, s, l, v, NULL, h, 0, 0 }
#define KF_OPT_STR_(s, l, v, a, h) { KF_OPT_STRING, s, l, v, a, h, 0, 0 }
#define KF_OPT_INT_(s, l, v, a, h, lo, hi) { KF_OPT_INT, s, l, v, a, h, lo, hi }
#define KF_OPT_LIST_(s, l, v, a, h) { KF_OPT_LIST, s, l, v, a, h, 0, 0 }
#define KF_OPT_END_ { KF_OPT_END, 0, NULL, NULL, NULL, NULL, 0, 0 }

/* Parses argv[0..argc) against opts. Non-option arguments are moved to the front of argv in order
 * and their count returned in *npos. "--" ends options. `-h`/`--help` sets *help when help is not
 * NULL. Stops at the first non-option when stop_at_positional (global options before a command).
 * Errors: KF_EUSAGE with "unknown option --frce (did you mean --force?)". */
int kf_opt_parse(const struct kf_opt *opts, int argc, char **argv, int *npos, bool *help,
		 bool stop_at_positional, struct kf_err *err);
/* The option of opts that one token names (-x, -xVALUE, --name, --name=VALUE), or NULL (also for
 * bundled flags such as -vq, which only kf_opt_parse takes apart). *inline_value is set when the
 * value is in the token itself. */
const struct kf_opt *kf_opt_find(const struct kf_opt *opts, const char *token, bool *inline_value);
/* Prints the option table, aligned, to a buffer (caller frees). */
char *kf_opt_usage(const struct kf_opt *opts);
void kf_strlist_free(struct kf_strlist *l);
/* Levenshtein distance, for "did you mean". */
int kf_edit_distance(const char *a, const char *b);
/* Best candidate within distance max(2, len/3), or NULL. */
const char *kf_closest(const char *word, const char *const *candidates, int n);

#endif
