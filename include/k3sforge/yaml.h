/* A small YAML document tree (libyaml underneath) for files k3sforge edits rather than owns:
 * kubeconfigs. Parsing is bounded (size, depth, node count; aliases refused) and keeps
 * positions for messages; emitting keeps key order. */
#ifndef K3SFORGE_YAML_H
#define K3SFORGE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"

enum kf_ytype { KF_Y_SCALAR = 0, KF_Y_SEQ, KF_Y_MAP };

struct kf_ynode {
	enum kf_ytype type;
	char *value;              /* scalar text */
	bool quoted;              /* scalar was quoted (emitted quoted again) */
	char *tag;                /* explicit tag or NULL */
	struct kf_ynode **keys;   /* map keys (scalars) */
	struct kf_ynode **items;  /* map values, or sequence items */
	size_t n, cap;
	int line, col;            /* 1-based position in the source */
};

/* Parses one document. An empty document yields an empty map. */
int kf_yaml_parse(struct kf_ynode **out, const char *name, const char *data, size_t len,
		  struct kf_err *err);
/* Emits the tree as block-style YAML into out. */
int kf_yaml_emit(const struct kf_ynode *root, struct kf_buf *out, struct kf_err *err);

struct kf_ynode *kf_yscalar_new(const char *value);
struct kf_ynode *kf_yseq_new(void);
struct kf_ynode *kf_ymap_new(void);
/* Borrowed value of key in a map, or NULL. */
struct kf_ynode *kf_ymap_get(const struct kf_ynode *map, const char *key);
/* Scalar text of key in a map, or NULL. */
const char *kf_ymap_str(const struct kf_ynode *map, const char *key);
/* Sets key (replacing an existing value in place, keeping order); takes ownership of val. */
int kf_ymap_set(struct kf_ynode *map, const char *key, struct kf_ynode *val);
int kf_ymap_set_str(struct kf_ynode *map, const char *key, const char *value);
/* Appends to a sequence; takes ownership. */
int kf_yseq_append(struct kf_ynode *seq, struct kf_ynode *item);
/* Removes and frees item i of a sequence. */
void kf_yseq_remove(struct kf_ynode *seq, size_t i);
struct kf_ynode *kf_ynode_clone(const struct kf_ynode *n);
bool kf_ynode_equal(const struct kf_ynode *a, const struct kf_ynode *b);
void kf_ynode_free(struct kf_ynode *n);

#endif
