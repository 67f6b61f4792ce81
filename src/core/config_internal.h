/* Shared between the configuration loader's parts (config_yaml.c: events → bounded tree,
 * config_load.c: tree → struct kf_config with validation, config_show.c: struct → YAML).
 * Not a public header. */
#ifndef K3SFORGE_CONFIG_INTERNAL_H
#define K3SFORGE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"

/* Bounds on hostile input. */
#define KF_CFG_MAX_FILE      ((size_t)1024 * 1024)       /* k3sforge.yaml */
#define KF_CFG_MAX_LIST_FILE ((size_t)4 * 1024 * 1024)   /* images list file */
#define KF_CFG_MAX_DEPTH     32
#define KF_CFG_MAX_SCALAR    ((size_t)64 * 1024)
#define KF_CFG_MAX_YNODES    50000
#define KF_CFG_MAX_NODES     256
#define KF_CFG_MAX_IMAGES    10000
#define KF_CFG_MAX_PROBLEMS  100

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

/* One node of the parsed document. A mapping keeps keys and values interleaved in items
 * (items[2i] is a key scalar, items[2i+1] its value). */
struct ynode {
	enum ynode_kind kind;
	int line, col;          /* 1-based */
	char *str;              /* scalar text, NUL-terminated */
	size_t len;
	bool plain;             /* unquoted scalar (so "null" and "~" mean null) */
	struct ynode **items;
	size_t n, cap;
};

/* Problems collected while loading, each "file:line:col: message", sorted by position. */
struct cfg_problem {
	char *msg;
	int file_order, line, col;
};

struct cfg_problems {
	struct cfg_problem *v;
	size_t n, cap;
	size_t dropped;          /* problems beyond KF_CFG_MAX_PROBLEMS */
	bool oom;
};

void cfg_problem_add(struct cfg_problems *p, int file_order, const char *file, int line, int col,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void cfg_problems_sort(struct cfg_problems *p);
void cfg_problems_free(struct cfg_problems *p);

/* Parses YAML text with libyaml's event parser into a tree, refusing aliases and bounding
 * depth, scalar length and node count. Syntax errors and bounds are added to *p (name:line:col)
 * and stop the parse; duplicate keys are added and the parse goes on. Returns the root (NULL
 * for an empty document or after a fatal problem). */
struct ynode *cfg_yaml_parse(const char *name, const char *data, size_t len,
			     struct cfg_problems *p);
void cfg_ynode_free(struct ynode *n);

/* True for a null scalar: empty plain, "~", "null". */
bool cfg_ynode_is_null(const struct ynode *n);

/* Image reference check: 0 if `s` is [registry/]path[:tag][@sha256:hex]; otherwise the byte
 * offset of the problem in *off and a reason in why. */
int cfg_image_ref_check(const char *s, size_t *off, char *why, size_t whylen);

#endif
