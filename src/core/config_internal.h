/* Shared between the configuration loader's parts (config_yaml.c: events → bounded tree,
 * config_load.c: tree → struct kf_config with validation, split into config_values.c: value
 * syntax, config_sections.c: section loaders, config_checks.c: checks across sections;
 * config_show.c: struct → YAML).
 * Not a public header. */
#ifndef K3SFORGE_CONFIG_INTERNAL_H
#define K3SFORGE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- The loader's parts (config_load.c, config_values.c, config_sections.c, config_checks.c)
 * share the load state and their helpers below. */

#define KF_CFG_MAX_LIST_ITEMS 256   /* dns, packages, mirrors, sans, disable */

/* Where each node's values stand in the file, for messages that point at them. */
struct node_pos {
	const struct ynode *item, *name, *ip, *mac, *ssh;
};

/* The state of one load: where messages point, the config being filled, and the tree nodes the
 * cross-checks (config_checks.c) point back at. */
struct ld {
	const char *name;             /* file name in messages */
	char *dir;                    /* absolute directory relative paths are taken from */
	char *shown_dir;              /* the same as the user wrote it, for list-file messages */
	struct cfg_problems *p;
	struct kf_config *cfg;
	struct node_pos *npos;        /* cfg->n_nodes entries when nodes: was given */
	const struct ynode *y_subnet, *y_gateway, *y_reg_ip, *y_dns, *y_nodes, *y_images, *y_pause;
	const struct ynode *y_packages, *y_debs, *y_image; /* guest.*: image mode's limits */
	bool subnet_ok, gateway_ok, reg_ip_ok;
	bool nodes_bad;               /* a node or its role was wrong: "no master" would echo it */
	bool oom;
};

/* A value check (config_values.c): false, with a problem added, when the text is wrong. */
typedef bool (*str_check)(struct ld *l, const struct ynode *v, const char *path);

/* Adds a problem at a node of the tree. */
#define PROB(l, node, ...) \
	cfg_problem_add((l)->p, 0, (l)->name, (node)->line, (node)->col, __VA_ARGS__)

/* A unit suffix and what it multiplies by, for cfg_parse_size. */
struct unit {
	const char *suffix;
	long mult;
};

/* A duration ("90s", "5m") and a value as shown in a message, in a buffer of the statement. */
#define DUR(s) cfg_fmt_duration((char[32]){ 0 }, 32, (s))
#define SV(s) cfg_sv_((char[64]){ 0 }, 64, (s))

/* config_values.c */
const char *cfg_sv_(char *buf, size_t size, const char *s);
char *cfg_xstrdup(struct ld *l, const char *s);
const char *cfg_kind_name(const struct ynode *n);
bool cfg_parse_ipv4(const char *s, uint32_t *out);
void cfg_fmt_ipv4(char out[16], uint32_t v);
uint32_t cfg_prefix_mask(int prefix);
bool cfg_parse_long(const char *s, long *out);
bool cfg_parse_duration(const char *s, long *out);
const char *cfg_fmt_duration(char *buf, size_t size, long s);
bool cfg_parse_size(const char *s, const struct unit *units, long *out);
bool cfg_parse_hostport(const char *s, char *host, size_t hsize, int *port);
bool cfg_is_url(const char *s);
bool cfg_check_cluster_name(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_node_name(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_k3s_version(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_semver(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_url(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_sha256(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_disable(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_image(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_ip(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_vmnet(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_server(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_listen(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_san(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_registry_host(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_source_registry(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_path(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_firmware(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_host_checks(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_hypervisor(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_accel(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_ifname(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_user(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_timezone(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_locale(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_keyboard(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_package(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_password(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_role(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_mac(struct ld *l, const struct ynode *v, const char *path);
bool cfg_check_ssh(struct ld *l, const struct ynode *v, const char *path);

/* config_load.c */
const struct ynode *cfg_map_get(const struct ynode *m, const char *key);
bool cfg_want_map(struct ld *l, const struct ynode *n, const char *path);
void cfg_check_keys(struct ld *l, const struct ynode *m, const char *path,
		    const char *const *keys, int n);
const char *cfg_scalar(struct ld *l, const struct ynode *v, const char *path, const char *what);
const struct ynode *cfg_field_str(struct ld *l, const struct ynode *m, const char *key,
				  const char *path, char **dst, bool nullable, str_check check);
const struct ynode *cfg_field_int(struct ld *l, const struct ynode *m, const char *key,
				  const char *path, int *dst, long min, long max);
void cfg_field_bool(struct ld *l, const struct ynode *m, const char *key, const char *path,
		    bool *dst);
void cfg_field_duration(struct ld *l, const struct ynode *m, const char *key, int *dst,
			long min, long max);
const struct ynode *cfg_field_strlist(struct ld *l, const struct ynode *m, const char *key,
				      const char *path, char ***v, size_t *n, str_check check);
void cfg_resolve_in_place(struct ld *l, char **dst);

/* config_sections.c */
void cfg_load_cluster(struct ld *l, const struct ynode *m);
void cfg_load_k3s(struct ld *l, const struct ynode *m);
void cfg_load_network(struct ld *l, const struct ynode *m);
void cfg_load_registry(struct ld *l, const struct ynode *m);
void cfg_load_nodes(struct ld *l, const struct ynode *y);
bool cfg_image_is_mirrored(const struct kf_config *c, const char *ref, char *host,
			   size_t size);
void cfg_load_images(struct ld *l, const struct ynode *m);
void cfg_load_paths(struct ld *l, const struct ynode *m);
void cfg_load_hypervisor(struct ld *l, const struct ynode *v);
void cfg_load_vmware(struct ld *l, const struct ynode *m);
void cfg_load_qemu(struct ld *l, const struct ynode *m);
void cfg_load_guest(struct ld *l, const struct ynode *m);
void cfg_load_addons(struct ld *l, const struct ynode *m);
void cfg_load_timeouts(struct ld *l, const struct ynode *m);

/* config_checks.c */
void cfg_derive_defaults(struct ld *l);
const struct ynode *cfg_at(struct ld *l, const struct ynode *y);
void cfg_image_full_name(char *out, size_t size, const char *ref);
void cfg_check_across(struct ld *l);

#endif
