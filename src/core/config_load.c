/* k3sforge.yaml, second pass: the driver. The parsed tree (config_yaml.c) is laid over
 * kf_config_default() section by section (config_sections.c), every value checked where it
 * stands (config_values.c), then the checks that span sections run (config_checks.c: addresses
 * inside the subnet, duplicates, exactly one master). This file holds the walk over the tree —
 * the field helpers that fetch a key from a mapping, check its kind, run its value check and
 * store it — and the entry points. Every problem is collected as "file:line:col: message";
 * kf_config_load reports the first, kf_config_check all of them. */
#include <openssl/crypto.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/opt.h"
#include "k3sforge/strv.h"

/* ------------------------------------------------------------------------------------------ */
/* Field helpers                                                                                */

const struct ynode *cfg_map_get(const struct ynode *m, const char *key)
{
	if (!m || m->kind != YN_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (strcmp(m->items[i]->str, key) == 0)
			return m->items[i + 1];
	return NULL;
}

/* A section: a mapping, or null (= nothing set). Reports other kinds. */
bool cfg_want_map(struct ld *l, const struct ynode *n, const char *path)
{
	if (!n || cfg_ynode_is_null(n))
		return false;
	if (n->kind != YN_MAP) {
		PROB(l, n, "%s must be a mapping (key: value lines), not %s", path, cfg_kind_name(n));
		return false;
	}
	return true;
}

void cfg_check_keys(struct ld *l, const struct ynode *m, const char *path,
		    const char *const *keys, int n)
{
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *k = m->items[i];
		const char *best;
		bool known = false;
		for (int j = 0; j < n && !known; j++)
			known = strcmp(k->str, keys[j]) == 0;
		if (known)
			continue;
		if (l->p->n >= KF_CFG_MAX_PROBLEMS) {
			l->p->dropped++; /* no suggestion work for messages nobody sees */
			continue;
		}
		best = kf_closest(k->str, keys, n);
		if (best) {
			PROB(l, k, "unknown key '%s' in %s (did you mean '%s'?)", SV(k->str), path,
			     best);
		} else {
			char list[512] = "";
			for (int j = 0; j < n; j++) {
				strncat(list, keys[j], sizeof(list) - strlen(list) - 1);
				if (j + 1 < n)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			PROB(l, k, "unknown key '%s' in %s (known keys: %s)", SV(k->str), path, list);
		}
	}
}

/* Every value of every key passes here (scalar() below): no value may hold a character that
 * ends a line or a quoting context somewhere it goes — a control character (C0 incl. tab and
 * CR, DEL, C1 incl. NEL U+0085), U+2028/U+2029 (line breaks to YAML 1.1 parsers like the
 * guests' cloud-init and subiquity), a NUL (from a "\0" escape), or invalid UTF-8. The
 * template filters are safe for any value too; this tells the user at the place it was
 * written. Never echoes the value (it may be a password). */
static bool check_text(struct ld *l, const struct ynode *v, const char *path)
{
	uint32_t cp;
	size_t cfg_at = kf_text_find_unsafe(v->str, v->len, 0, &cp);

	if (cfg_at == v->len)
		return true;
	if (cp == KF_UTF8_INVALID)
		PROB(l, v, "%s is not valid UTF-8 (byte %zu) — save the file as UTF-8", path, cfg_at + 1);
	else
		PROB(l, v, "%s contains a control or line-separator character (U+%04X) — remove it",
		     path, (unsigned)cp);
	return false;
}

/* The text of a scalar, or NULL (reported) for a list or mapping or for text check_text
 * refuses. */
const char *cfg_scalar(struct ld *l, const struct ynode *v, const char *path, const char *what)
{
	if (v->kind != YN_SCALAR) {
		PROB(l, v, "%s must be %s, not %s", path, what, cfg_kind_name(v));
		return NULL;
	}
	if (!check_text(l, v, path))
		return NULL;
	return v->str;
}

/* Sets *dst from map[key] if present. Null clears a nullable field; a non-nullable one must
 * have a value. Returns the value node when it was valid and set. */
const struct ynode *cfg_field_str(struct ld *l, const struct ynode *m, const char *key,
				  const char *path, char **dst, bool nullable, str_check check)
{
	const struct ynode *v = cfg_map_get(m, key);
	char *s;

	if (!v)
		return NULL;
	if (cfg_ynode_is_null(v)) {
		if (!nullable) {
			PROB(l, v, "%s has no value; give one or remove the key to use the default",
			     path);
			return NULL;
		}
		if (dst) {
			free(*dst);
			*dst = NULL;
		}
		return NULL;
	}
	if (!cfg_scalar(l, v, path, "a single value"))
		return NULL;
	if (check && !check(l, v, path))
		return NULL;
	if (dst) {
		if (!(s = cfg_xstrdup(l, v->str)))
			return NULL;
		free(*dst);
		*dst = s;
	}
	return v;
}

const struct ynode *cfg_field_int(struct ld *l, const struct ynode *m, const char *key,
				  const char *path, int *dst, long min, long max)
{
	const struct ynode *v = cfg_map_get(m, key);
	const char *s;
	long n;

	if (!v)
		return NULL;
	if (!(s = cfg_scalar(l, v, path, "a number")))
		return NULL;
	if (!cfg_parse_long(s, &n)) {
		PROB(l, v, "%s must be a whole number, not '%s'", path, SV(s));
		return NULL;
	}
	if (n < min || n > max) {
		PROB(l, v, "%s %ld is out of range %ld..%ld", path, n, min, max);
		return NULL;
	}
	*dst = (int)n;
	return v;
}

void cfg_field_bool(struct ld *l, const struct ynode *m, const char *key, const char *path,
		    bool *dst)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off" };
	const struct ynode *v = cfg_map_get(m, key);
	const char *s;

	if (!v || !(s = cfg_scalar(l, v, path, "true or false")))
		return;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*dst = true;
			return;
		}
		if (strcmp(s, no[i]) == 0) {
			*dst = false;
			return;
		}
	}
	PROB(l, v, "%s must be true or false, not '%s'", path, SV(s));
}

void cfg_field_duration(struct ld *l, const struct ynode *m, const char *key, int *dst,
			long min, long max)
{
	char path[64];
	const struct ynode *v = cfg_map_get(m, key);
	const char *s;
	long n;

	snprintf(path, sizeof(path), "timeouts.%s", key);
	if (!v || !(s = cfg_scalar(l, v, path, "a duration")))
		return;
	if (!cfg_parse_duration(s, &n)) {
		PROB(l, v, "%s '%s' is not a duration (use 90s, 20m, 1h, 1h30m or seconds)", path,
		     SV(s));
		return;
	}
	if (n < min || n > max) {
		PROB(l, v, "%s %s is out of range %s..%s", path, DUR(n), DUR(min), DUR(max));
		return;
	}
	*dst = (int)n;
}

static void strv_clear(char ***v, size_t *n)
{
	kf_strv_free(*v, *n);
	*v = NULL;
	*n = 0;
}

/* A list of single values, replacing *v; null is the empty list. */
const struct ynode *cfg_field_strlist(struct ld *l, const struct ynode *m, const char *key,
				      const char *path, char ***v, size_t *n, str_check check)
{
	const struct ynode *y = cfg_map_get(m, key);
	char **nv;
	size_t nn = 0;
	bool ok = true;

	if (!y)
		return NULL;
	if (cfg_ynode_is_null(y)) {
		strv_clear(v, n);
		return y;
	}
	if (y->kind != YN_SEQ) {
		PROB(l, y, "%s must be a list ([a, b] or '- a' lines), not %s", path, cfg_kind_name(y));
		return NULL;
	}
	if (y->n > KF_CFG_MAX_LIST_ITEMS) {
		PROB(l, y, "%s has %zu entries; at most %d are allowed", path, y->n,
		     KF_CFG_MAX_LIST_ITEMS);
		return NULL;
	}
	nv = calloc(y->n ? y->n : 1, sizeof(char *));
	if (!nv) {
		l->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < y->n; i++) {
		char ipath[96];
		const struct ynode *it = y->items[i];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!cfg_scalar(l, it, ipath, "a single value") || (check && !check(l, it, ipath))) {
			ok = false;
			continue;
		}
		if (!(nv[nn] = cfg_xstrdup(l, it->str))) {
			ok = false;
			break;
		}
		nn++;
	}
	if (!ok) {
		strv_clear(&nv, &nn);
		return NULL;
	}
	strv_clear(v, n);
	*v = nv;
	*n = nn;
	return y;
}

/* Absolute path for a value relative to the config file's directory. */
static char *resolve(struct ld *l, const char *value)
{
	char *r = value[0] == '/' ? strdup(value) : kf_path_join(l->dir, value);

	if (!r)
		l->oom = true;
	return r;
}

/* Replaces *dst (already a copy of the value) by its resolved path. */
void cfg_resolve_in_place(struct ld *l, char **dst)
{
	char *r;

	if (!*dst)
		return;
	if (!(r = resolve(l, *dst)))
		return;
	free(*dst);
	*dst = r;
}

/* ------------------------------------------------------------------------------------------ */
/* Entry points                                                                                 */

static const char *const top_keys[] = { "cluster", "hypervisor", "k3s", "network", "registry",
					"nodes", "images", "paths", "vmware", "qemu", "guest",
					"addons", "timeouts" };

static void load_tree(struct ld *l, const struct ynode *root)
{
	if (!root || cfg_ynode_is_null(root))
		goto derived;
	if (root->kind != YN_MAP) {
		PROB(l, root, "the file must be a mapping of sections (cluster:, network:, nodes:, "
			      "...), not %s", cfg_kind_name(root));
		return;
	}
	cfg_check_keys(l, root, "the top level", top_keys, 13);
	cfg_load_cluster(l, cfg_map_get(root, "cluster"));
	cfg_load_hypervisor(l, cfg_map_get(root, "hypervisor"));
	cfg_load_k3s(l, cfg_map_get(root, "k3s"));
	cfg_load_network(l, cfg_map_get(root, "network"));
	cfg_load_registry(l, cfg_map_get(root, "registry"));
	if (cfg_map_get(root, "nodes"))
		cfg_load_nodes(l, cfg_map_get(root, "nodes"));
	cfg_load_images(l, cfg_map_get(root, "images"));
	cfg_load_paths(l, cfg_map_get(root, "paths"));
	cfg_load_vmware(l, cfg_map_get(root, "vmware"));
	cfg_load_qemu(l, cfg_map_get(root, "qemu"));
	cfg_load_guest(l, cfg_map_get(root, "guest"));
	cfg_load_addons(l, cfg_map_get(root, "addons"));
	cfg_load_timeouts(l, cfg_map_get(root, "timeouts"));
derived:
	cfg_derive_defaults(l);
	cfg_check_across(l);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Loads into *out (NULL when there were problems), filling *p. Returns 0, or KF_ENOMEM. */
static int load_mem(struct kf_config **out, const char *name, const char *data, size_t len,
		    struct cfg_problems *p, struct kf_err *err)
{
	struct ld l;
	struct ynode *root = NULL;
	char *abs = NULL;
	int r = 0;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	l.name = name;
	l.p = p;
	if (len > KF_CFG_MAX_FILE) {
		cfg_problem_add(p, 0, name, 1, 1,
				"the file is %zu bytes; a configuration may be at most 1 MiB "
				"(1048576 bytes)", len);
		return 0;
	}
	if ((r = kf_config_default(&l.cfg, err)) != 0)
		return r;
	abs = kf_path_abs(name);
	l.dir = abs ? dir_of(abs) : NULL;
	l.shown_dir = dir_of(name);
	l.cfg->path = strdup(name);
	if (!abs || !l.dir || !l.shown_dir || !l.cfg->path) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	root = cfg_yaml_parse(name, data, len, p);
	if (p->n == 0 || root)
		load_tree(&l, root);
	if (l.oom || p->oom) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory loading %s", name);
		goto out;
	}
	if (p->n == 0) {
		*out = l.cfg;
		l.cfg = NULL;
	}
out:
	cfg_ynode_free(root);
	kf_config_free(l.cfg);
	free(l.npos);
	free(l.dir);
	free(l.shown_dir);
	free(abs);
	return r;
}

static int first_problem(struct cfg_problems *p, struct kf_err *err)
{
	cfg_problems_sort(p);
	if (p->n > 1)
		return kf_err_set(err, KF_ECONFIG, "%s (and %zu more: see k3sforge config check)",
				  p->v[0].msg, p->n - 1 + p->dropped);
	return kf_err_set(err, KF_ECONFIG, "%s", p->v[0].msg);
}

int kf_config_load_mem(struct kf_config **out, const char *name, const char *data, size_t len,
		       struct kf_err *err)
{
	struct cfg_problems p = { 0 };
	int r;

	r = load_mem(out, name, data, len, &p, err);
	if (r == 0 && p.n)
		r = first_problem(&p, err);
	cfg_problems_free(&p);
	return r;
}

/* Reads the file; a file over the limit is reported as a problem, not read. */
static int read_config(char **data, size_t *len, const char *path, struct cfg_problems *p,
		       struct kf_err *err)
{
	int r = kf_fs_read(data, len, path, KF_CFG_MAX_FILE, err);

	if (r == KF_ELIMIT) {
		cfg_problem_add(p, 0, path, 1, 1,
				"the file is larger than 1 MiB; a configuration is a few KiB");
		return 0;
	}
	if (r == KF_ENOTFOUND)
		return kf_err_set(err, KF_ENOTFOUND, "%s: no such configuration file (-c FILE picks "
						     "another; examples/lab.yaml is a start)", path);
	return r;
}

int kf_config_load(struct kf_config **out, const char *path, struct kf_err *err)
{
	struct cfg_problems p = { 0 };
	char *data = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = read_config(&data, &len, path, &p, err)) != 0)
		return r;
	if (p.n == 0)
		r = load_mem(out, path, data, len, &p, err);
	if (r == 0 && p.n)
		r = first_problem(&p, err);
	cfg_problems_free(&p);
	if (data)
		OPENSSL_cleanse(data, len); /* the file may hold the admin password */
	free(data);
	return r;
}

int kf_config_check(const char *path, char ***messages, size_t *n, struct kf_err *err)
{
	struct cfg_problems p = { 0 };
	struct kf_config *cfg = NULL;
	char *data = NULL;
	size_t len = 0;
	int r;

	*messages = NULL;
	*n = 0;
	if ((r = read_config(&data, &len, path, &p, err)) != 0)
		return r;
	if (p.n == 0)
		r = load_mem(&cfg, path, data, len, &p, err);
	kf_config_free(cfg);
	kf_freezero(data, len);
	if (r) {
		cfg_problems_free(&p);
		return r;
	}
	cfg_problems_sort(&p);
	if (p.n) {
		size_t total = p.n + (p.dropped ? 1 : 0);
		char **v = calloc(total, sizeof(char *));
		if (!v) {
			cfg_problems_free(&p);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < p.n; i++) {
			v[i] = p.v[i].msg;
			p.v[i].msg = NULL;
		}
		if (p.dropped &&
		    asprintf(&v[p.n], "%s: %zu more problems not shown; fix the ones above first",
			     path, p.dropped) < 0)
			v[p.n] = NULL;
		*messages = v;
		*n = v[total - 1] ? total : p.n;
	}
	cfg_problems_free(&p);
	return (int)(*n > INT_MAX ? INT_MAX : *n);
}
