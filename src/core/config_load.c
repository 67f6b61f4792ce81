/* k3sforge.yaml, second pass: the parsed tree (config_yaml.c) laid over kf_config_default(),
 * every value checked where it stands, then the checks that span sections (addresses inside the
 * subnet, duplicates, exactly one master). Every problem is collected as
 * "file:line:col: message"; kf_config_load reports the first, kf_config_check all of them. */
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/imageref.h"
#include "k3sforge/opt.h"

#define KF_CFG_MAX_LIST_ITEMS 256   /* dns, packages, mirrors, sans, disable */

/* Where each node's values stand in the file, for messages that point at them. */
struct node_pos {
	const struct ynode *item, *name, *ip, *mac, *ssh;
};

struct ld {
	const char *name;             /* file name in messages */
	char *dir;                    /* absolute directory relative paths are taken from */
	char *shown_dir;              /* the same as the user wrote it, for list-file messages */
	struct cfg_problems *p;
	struct kf_config *cfg;
	struct node_pos *npos;        /* cfg->n_nodes entries when nodes: was given */
	const struct ynode *y_subnet, *y_gateway, *y_reg_ip, *y_dns, *y_nodes, *y_images, *y_pause;
	bool subnet_ok, gateway_ok, reg_ip_ok;
	bool nodes_bad;               /* a node or its role was wrong: "no master" would echo it */
	bool oom;
};

typedef bool (*str_check)(struct ld *l, const struct ynode *v, const char *path);

#define PROB(l, node, ...) \
	cfg_problem_add((l)->p, 0, (l)->name, (node)->line, (node)->col, __VA_ARGS__)

/* A value as shown in a message: at most ~60 bytes, control characters as '?'. */
static const char *sv_(char *buf, size_t size, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n && i < size - 4; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (i < n) {
		if (i > 3)
			i -= 3;
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}
#define SV(s) sv_((char[64]){ 0 }, 64, (s))

static char *xstrdup(struct ld *l, const char *s)
{
	char *r = strdup(s);

	if (!r)
		l->oom = true;
	return r;
}

static const char *kind_name(const struct ynode *n)
{
	if (n->kind == YN_MAP)
		return "a mapping";
	if (n->kind == YN_SEQ)
		return "a list";
	return cfg_ynode_is_null(n) ? "empty" : "a single value";
}

/* ------------------------------------------------------------------------------------------ */
/* Small parsers                                                                                */

static bool parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int part = 0; part < 4; part++) {
		unsigned n = 0;
		int digits = 0;
		if (part > 0) {
			if (*s != '.')
				return false;
			s++;
		}
		if (s[0] == '0' && isdigit((unsigned char)s[1]))
			return false; /* leading zeros read as octal by some tools */
		while (isdigit((unsigned char)*s) && digits < 4) {
			n = n * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || n > 255)
			return false;
		v = (v << 8) | n;
	}
	if (*s)
		return false;
	*out = v;
	return true;
}

static void fmt_ipv4(char out[16], uint32_t v)
{
	snprintf(out, 16, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

static uint32_t prefix_mask(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* Whole decimal number with optional sign; false if not a number or too big for long. */
static bool parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s)
		return false;
	*out = v;
	return true;
}

/* "90s", "20m", "1h", "1h30m", or plain seconds. */
static bool parse_duration(const char *s, long *out)
{
	long total = 0;

	if (parse_long(s, out))
		return true;
	if (!*s)
		return false;
	while (*s) {
		long n = 0, mult;
		int digits = 0;
		while (isdigit((unsigned char)*s)) {
			if (++digits > 7)
				return false;
			n = n * 10 + (*s++ - '0');
		}
		if (!digits)
			return false;
		switch (*s++) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return false;
		}
		total += n * mult;
		if (total > 100L * 86400)
			return false;
	}
	*out = total;
	return true;
}

static const char *fmt_duration(char *buf, size_t size, long s)
{
	if (s >= 3600 && s % 3600 == 0)
		snprintf(buf, size, "%ldh", s / 3600);
	else if (s >= 3600 && s % 60 == 0)
		snprintf(buf, size, "%ldh%ldm", s / 3600, (s % 3600) / 60);
	else if (s >= 60 && s % 60 == 0)
		snprintf(buf, size, "%ldm", s / 60);
	else
		snprintf(buf, size, "%lds", s);
	return buf;
}
#define DUR(s) fmt_duration((char[32]){ 0 }, 32, (s))

struct unit {
	const char *suffix;
	long mult;
};

/* A number with an optional unit suffix from `units` (the first entry is the bare unit). */
static bool parse_size(const char *s, const struct unit *units, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return parse_long(s, out); /* negative numbers: reported as out of range */
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v > 100000000L)
		return false;
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(end, u->suffix) == 0) {
			*out = v * u->mult;
			return true;
		}
	}
	return false;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* host name (RFC 1123 labels, dots) or IPv4; optional wildcard first label when allowed. */
static bool is_hostname(const char *s, bool wildcard)
{
	size_t len = strlen(s), lab = 0;

	if (len == 0 || len > 253)
		return false;
	if (wildcard && s[0] == '*' && s[1] == '.')
		s += 2;
	for (const char *c = s;; c++) {
		if (*c == '.' || *c == '\0') {
			if (lab == 0 || lab > 63 || c[-1] == '-')
				return false;
			if (*c == '\0')
				return true;
			lab = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*c) || (*c == '-' && lab > 0)))
			return false;
		lab++;
	}
}

/* host[:port] with port 1..65535; port -1 when absent. */
static bool parse_hostport(const char *s, char *host, size_t hsize, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	long p;

	if (hl == 0 || hl >= hsize)
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!is_hostname(host, false))
		return false;
	*port = -1;
	if (colon) {
		if (!parse_long(colon + 1, &p) || p < 1 || p > 65535 || colon[1] == '+' ||
		    colon[1] == '-')
			return false;
		*port = (int)p;
	}
	return true;
}

static bool is_label(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static bool is_url(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 && s[8]) || (strncmp(s, "http://", 7) == 0 && s[7]);
}

/* ------------------------------------------------------------------------------------------ */
/* Image references: [registry/]path[:tag][@sha256:64hex]                                       */

/* The grammar is core's one image-reference parser (imageref.h), shared with the command line
 * and bundles. */
int cfg_image_ref_check(const char *s, size_t *off, char *why, size_t whylen)
{
	return kf_imageref_parse(s, NULL, off, why, whylen);
}

/* ------------------------------------------------------------------------------------------ */
/* Field helpers                                                                                */

static const struct ynode *map_get(const struct ynode *m, const char *key)
{
	if (!m || m->kind != YN_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (strcmp(m->items[i]->str, key) == 0)
			return m->items[i + 1];
	return NULL;
}

/* A section: a mapping, or null (= nothing set). Reports other kinds. */
static bool want_map(struct ld *l, const struct ynode *n, const char *path)
{
	if (!n || cfg_ynode_is_null(n))
		return false;
	if (n->kind != YN_MAP) {
		PROB(l, n, "%s must be a mapping (key: value lines), not %s", path, kind_name(n));
		return false;
	}
	return true;
}

static void check_keys(struct ld *l, const struct ynode *m, const char *path,
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
	size_t at = kf_text_find_unsafe(v->str, v->len, 0, &cp);

	if (at == v->len)
		return true;
	if (cp == KF_UTF8_INVALID)
		PROB(l, v, "%s is not valid UTF-8 (byte %zu) — save the file as UTF-8", path, at + 1);
	else
		PROB(l, v, "%s contains a control or line-separator character (U+%04X) — remove it",
		     path, (unsigned)cp);
	return false;
}

/* The text of a scalar, or NULL (reported) for a list or mapping or for text check_text
 * refuses. */
static const char *scalar(struct ld *l, const struct ynode *v, const char *path, const char *what)
{
	if (v->kind != YN_SCALAR) {
		PROB(l, v, "%s must be %s, not %s", path, what, kind_name(v));
		return NULL;
	}
	if (!check_text(l, v, path))
		return NULL;
	return v->str;
}

/* Sets *dst from map[key] if present. Null clears a nullable field; a non-nullable one must
 * have a value. Returns the value node when it was valid and set. */
static const struct ynode *field_str(struct ld *l, const struct ynode *m, const char *key,
				     const char *path, char **dst, bool nullable, str_check check)
{
	const struct ynode *v = map_get(m, key);
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
	if (!scalar(l, v, path, "a single value"))
		return NULL;
	if (check && !check(l, v, path))
		return NULL;
	if (dst) {
		if (!(s = xstrdup(l, v->str)))
			return NULL;
		free(*dst);
		*dst = s;
	}
	return v;
}

static const struct ynode *field_int(struct ld *l, const struct ynode *m, const char *key,
				     const char *path, int *dst, long min, long max)
{
	const struct ynode *v = map_get(m, key);
	const char *s;
	long n;

	if (!v)
		return NULL;
	if (!(s = scalar(l, v, path, "a number")))
		return NULL;
	if (!parse_long(s, &n)) {
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

static void field_bool(struct ld *l, const struct ynode *m, const char *key, const char *path,
		       bool *dst)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off" };
	const struct ynode *v = map_get(m, key);
	const char *s;

	if (!v || !(s = scalar(l, v, path, "true or false")))
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

static void field_duration(struct ld *l, const struct ynode *m, const char *key, int *dst,
			   long min, long max)
{
	char path[64];
	const struct ynode *v = map_get(m, key);
	const char *s;
	long n;

	snprintf(path, sizeof(path), "timeouts.%s", key);
	if (!v || !(s = scalar(l, v, path, "a duration")))
		return;
	if (!parse_duration(s, &n)) {
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
	for (size_t i = 0; *v && i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* A list of single values, replacing *v; null is the empty list. */
static const struct ynode *field_strlist(struct ld *l, const struct ynode *m, const char *key,
					 const char *path, char ***v, size_t *n, str_check check)
{
	const struct ynode *y = map_get(m, key);
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
		PROB(l, y, "%s must be a list ([a, b] or '- a' lines), not %s", path, kind_name(y));
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
		if (!scalar(l, it, ipath, "a single value") || (check && !check(l, it, ipath))) {
			ok = false;
			continue;
		}
		if (!(nv[nn] = xstrdup(l, it->str))) {
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
static void resolve_in_place(struct ld *l, char **dst)
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
/* Value checks                                                                                 */

static bool enum_check(struct ld *l, const struct ynode *v, const char *path, const char *what,
		       const char *const *vals, int n)
{
	char list[256] = "";
	const char *best;

	for (int i = 0; i < n; i++)
		if (strcmp(v->str, vals[i]) == 0)
			return true;
	for (int i = 0; i < n; i++) {
		strncat(list, vals[i], sizeof(list) - strlen(list) - 1);
		if (i + 1 < n)
			strncat(list, i + 2 == n ? " or " : ", ", sizeof(list) - strlen(list) - 1);
	}
	best = kf_closest(v->str, vals, n);
	if (best)
		PROB(l, v, "%s '%s' is not %s (did you mean '%s'?); use %s", path, SV(v->str), what,
		     best, list);
	else
		PROB(l, v, "%s '%s' is not %s; use %s", path, SV(v->str), what, list);
	return false;
}

static bool check_cluster_name(struct ld *l, const struct ynode *v, const char *path)
{
	if (is_label(v->str, 40))
		return true;
	PROB(l, v, "%s '%s' is not a valid name: use 1 to 40 of a-z, 0-9 and '-', not starting or "
		   "ending with '-'", path, SV(v->str));
	return false;
}

static bool check_node_name(struct ld *l, const struct ynode *v, const char *path)
{
	if (is_label(v->str, 63))
		return true;
	PROB(l, v, "%s '%s' is not a valid host name: use 1 to 63 of a-z, 0-9 and '-', not "
		   "starting or ending with '-'", path, SV(v->str));
	return false;
}

static bool check_k3s_version(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	int parts = 0;

	if (*s++ == 'v') {
		for (;;) {
			if (!isdigit((unsigned char)*s))
				break;
			while (isdigit((unsigned char)*s))
				s++;
			parts++;
			if (parts == 3 || *s != '.')
				break;
			s++;
		}
		if (parts == 3 && strncmp(s, "-rc", 3) == 0 && isdigit((unsigned char)s[3])) {
			s += 3;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (parts == 3 && strncmp(s, "+k3s", 4) == 0 && isdigit((unsigned char)s[4])) {
			s += 4;
			while (isdigit((unsigned char)*s))
				s++;
			if (!*s)
				return true;
		}
	}
	PROB(l, v, "%s '%s' is not a k3s release like v1.33.4+k3s1 or v1.33.4-rc1+k3s1", path,
	     SV(v->str));
	return false;
}

static bool check_semver(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	int parts = 0;

	if (*s++ == 'v') {
		for (;;) {
			if (!isdigit((unsigned char)*s))
				break;
			while (isdigit((unsigned char)*s))
				s++;
			parts++;
			if (parts == 3 || *s != '.')
				break;
			s++;
		}
		if (parts == 3 && *s == '-') {
			s++;
			while (isalnum((unsigned char)*s) || *s == '.')
				s++;
		}
		if (parts == 3 && !*s)
			return true;
	}
	PROB(l, v, "%s '%s' is not a version like v4.1.3", path, SV(v->str));
	return false;
}

static bool check_url(struct ld *l, const struct ynode *v, const char *path)
{
	if (is_url(v->str) && !strpbrk(v->str, " \t\r\n"))
		return true;
	PROB(l, v, "%s '%s' is not an http:// or https:// URL", path, SV(v->str));
	return false;
}

static bool check_sha256(struct ld *l, const struct ynode *v, const char *path)
{
	if (v->len == 64 && is_hex(v->str, 64))
		return true;
	PROB(l, v, "%s must be 64 hex digits (a sha256 digest), not '%s'", path, SV(v->str));
	return false;
}

static bool check_disable(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const comps[] = { "coredns", "servicelb", "traefik", "local-storage",
					     "metrics-server" };
	return enum_check(l, v, path, "a packaged k3s component", comps, 5);
}

static bool check_image(struct ld *l, const struct ynode *v, const char *path)
{
	char why[160];
	size_t off;

	if (cfg_image_ref_check(v->str, &off, why, sizeof(why)) == 0)
		return true;
	PROB(l, v, "%s '%s' is not an image reference: %s", path, SV(v->str), why);
	return false;
}

static bool check_ip(struct ld *l, const struct ynode *v, const char *path)
{
	uint32_t a;

	if (parse_ipv4(v->str, &a))
		return true;
	PROB(l, v, "%s '%s' is not an IPv4 address like 192.168.6.1", path, SV(v->str));
	return false;
}

static bool check_vmnet(struct ld *l, const struct ynode *v, const char *path)
{
	long n;

	if (strncasecmp(v->str, "vmnet", 5) == 0 && isdigit((unsigned char)v->str[5]) &&
	    parse_long(v->str + 5, &n) && n >= 0 && n <= 19)
		return true;
	PROB(l, v, "%s '%s' is not a VMware virtual network name like VMnet1 (VMnet0..VMnet19)",
	     path, SV(v->str));
	return false;
}

static bool check_server(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "auto", "binary", "docker" };
	return enum_check(l, v, path, "a registry server kind", kinds, 3);
}

static bool check_listen(struct ld *l, const struct ynode *v, const char *path)
{
	char host[64];
	int port;
	uint32_t a;

	if (parse_hostport(v->str, host, sizeof(host), &port) && port > 0 && parse_ipv4(host, &a))
		return true;
	PROB(l, v, "%s '%s' is not an address:port like 0.0.0.0:5000", path, SV(v->str));
	return false;
}

static bool check_san(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	uint32_t a;

	if (strncmp(s, "IP:", 3) == 0) {
		if (parse_ipv4(s + 3, &a))
			return true;
	} else if (strncmp(s, "DNS:", 4) == 0) {
		if (is_hostname(s + 4, true))
			return true;
	} else if (parse_ipv4(s, &a) || is_hostname(s, true)) {
		return true;
	}
	PROB(l, v, "%s '%s' is not a subject alternative name: use DNS:name, IP:address, or a bare "
		   "address or name", path, SV(s));
	return false;
}

static bool check_registry_host(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;

	if (parse_hostport(v->str, host, sizeof(host), &port))
		return true;
	PROB(l, v, "%s '%s' is not a registry host like docker.io or mirror.example.com:5000",
	     path, SV(v->str));
	return false;
}

/* images.source_registry: a registry host (TLS), or http://<loopback>[:port] for a plain
 * registry on this machine (a staging registry, the tests' source); plain HTTP anywhere else
 * would let the network rewrite the images. */
static bool check_source_registry(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;
	uint32_t a;

	if (strncmp(v->str, "http://", 7) != 0)
		return check_registry_host(l, v, path);
	if (parse_hostport(v->str + 7, host, sizeof(host), &port) &&
	    (strcmp(host, "localhost") == 0 || (parse_ipv4(host, &a) && (a >> 24) == 127)))
		return true;
	PROB(l, v, "%s '%s': plain http is allowed only for a loopback registry "
	     "(http://127.0.0.1:5001); give host[:port] for TLS", path, SV(v->str));
	return false;
}

static bool check_path(struct ld *l, const struct ynode *v, const char *path)
{
	if (!strpbrk(v->str, "\r\n"))
		return true;
	PROB(l, v, "%s is not a usable path (it contains a line break)", path);
	return false;
}

static bool check_firmware(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "bios", "efi" };
	return enum_check(l, v, path, "a firmware type", kinds, 2);
}

static bool check_host_checks(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const modes[] = { "enforce", "warn" };
	return enum_check(l, v, path, "a host check mode", modes, 2);
}

static bool check_user(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= 32 && (islower((unsigned char)s[0]) || s[0] == '_');

	for (size_t i = 1; ok && i < n; i++)
		ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
		     s[i] == '-';
	if (ok && strcmp(s, "root") != 0)
		return true;
	if (ok)
		PROB(l, v, "%s must not be root; k3sforge creates a sudo user", path);
	else
		PROB(l, v, "%s '%s' is not a Linux user name (a-z, 0-9, '_', '-', at most 32)",
		     path, SV(s));
	return false;
}

static bool tz_component(const char *s, size_t n)
{
	if (n == 0 || n > 30 || !isupper((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '+'))
			return false;
	return true;
}

static bool check_timezone(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str, *slash;
	int comps = 0;
	bool ok = strlen(s) <= 64;

	if (strcmp(s, "UTC") == 0 || strcmp(s, "GMT") == 0)
		return true;
	while (ok) {
		slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		ok = tz_component(s, n) && ++comps <= 3;
		if (!slash)
			break;
		s = slash + 1;
	}
	if (ok && comps >= 2)
		return true;
	PROB(l, v, "%s '%s' is not an Area/Location time zone like Asia/Seoul or UTC", path,
	     SV(v->str));
	return false;
}

static bool check_locale(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	size_t i = 0;

	if (strcmp(s, "C") == 0 || strcmp(s, "POSIX") == 0 || strcmp(s, "C.UTF-8") == 0)
		return true;
	while (islower((unsigned char)s[i]))
		i++;
	if (i >= 2 && i <= 3 && s[i] == '_' && isupper((unsigned char)s[i + 1]) &&
	    isupper((unsigned char)s[i + 2])) {
		i += 3;
		if (s[i] == '.') {
			size_t j = ++i;
			while (isalnum((unsigned char)s[i]) || s[i] == '-')
				i++;
			if (i == j)
				i = (size_t)-1;
		}
		if (i != (size_t)-1 && s[i] == '\0')
			return true;
	}
	PROB(l, v, "%s '%s' is not a locale like en_US.UTF-8 or ko_KR.UTF-8", path, SV(s));
	return false;
}

static bool check_keyboard(struct ld *l, const struct ynode *v, const char *path)
{
	size_t n = strlen(v->str);
	bool ok = n >= 2 && n <= 16;

	for (size_t i = 0; ok && i < n; i++)
		ok = islower((unsigned char)v->str[i]) || isdigit((unsigned char)v->str[i]);
	if (ok)
		return true;
	PROB(l, v, "%s '%s' is not a keyboard layout like us or kr", path, SV(v->str));
	return false;
}

static bool check_package(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	size_t n = strlen(s);
	bool ok = n >= 2 && n <= 128 && (islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]));

	for (size_t i = 1; ok && i < n; i++)
		ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '+' ||
		     s[i] == '-' || s[i] == '.';
	if (ok)
		return true;
	PROB(l, v, "%s '%s' is not a Debian/Ubuntu package name", path, SV(s));
	return false;
}

/* The rule prep applies to a generated or hand-edited admin-password file too: 8 to 128
 * printable characters with an upper-case letter, a lower-case letter and a digit. A weak one
 * would otherwise pass here and fail at KubeSphere's install, an hour later; and every secret
 * of 8+ bytes is one the logger can mask. */
static bool check_password(struct ld *l, const struct ynode *v, const char *path)
{
	bool ok = v->len >= 8 && v->len <= 128, up = false, lo = false, dig = false;

	for (size_t i = 0; ok && i < v->len; i++) {
		unsigned char c = (unsigned char)v->str[i];
		ok = c >= 0x20 && c != 0x7f;
		up |= c >= 'A' && c <= 'Z';
		lo |= c >= 'a' && c <= 'z';
		dig |= c >= '0' && c <= '9';
	}
	if (ok && up && lo && dig)
		return true;
	/* Never echo a secret. */
	PROB(l, v,
	     "%s must be 8 to 128 printable characters with an upper-case letter, a lower-case "
	     "letter and a digit (or leave it out: prep generates one)",
	     path);
	return false;
}

static bool check_role(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const roles[] = { "master", "worker" };
	return enum_check(l, v, path, "a node role", roles, 2);
}

static bool check_mac(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	unsigned b[6];

	if (strlen(s) != 17) {
		PROB(l, v, "%s '%s' is not a MAC address like 00:50:56:00:00:10", path, SV(s));
		return false;
	}
	for (int i = 0; i < 6; i++) {
		if (!is_hex(s + 3 * i, 2) || (i < 5 && s[3 * i + 2] != ':')) {
			PROB(l, v, "%s '%s' is not a MAC address like 00:50:56:00:00:10", path, SV(s));
			return false;
		}
		b[i] = (unsigned)strtoul((char[3]){ s[3 * i], s[3 * i + 1], 0 }, NULL, 16);
	}
	if (b[0] != 0x00 || b[1] != 0x50 || b[2] != 0x56 || b[3] > 0x3f) {
		PROB(l, v, "%s %s is outside VMware's static range 00:50:56:00:00:00-00:50:56:3f:ff:ff "
			   "(VMware refuses other static addresses)", path, SV(s));
		return false;
	}
	return true;
}

static bool check_ssh(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;

	if (parse_hostport(v->str, host, sizeof(host), &port))
		return true;
	PROB(l, v, "%s '%s' is not host or host:port like 127.0.0.1:2222", path, SV(v->str));
	return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Sections                                                                                     */

static void load_cluster(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "name" };

	if (!want_map(l, m, "cluster"))
		return;
	check_keys(l, m, "cluster", keys, 1);
	field_str(l, m, "name", "cluster.name", &l->cfg->cluster_name, false, check_cluster_name);
}

static void load_k3s(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "version", "release_url", "install_script_url",
					    "install_script_sha256", "disable", "pause_image" };
	struct kf_config *c = l->cfg;

	if (!want_map(l, m, "k3s"))
		return;
	check_keys(l, m, "k3s", keys, 6);
	field_str(l, m, "version", "k3s.version", &c->k3s.version, false, check_k3s_version);
	field_str(l, m, "release_url", "k3s.release_url", &c->k3s.release_url, false, check_url);
	field_str(l, m, "install_script_url", "k3s.install_script_url", &c->k3s.install_script_url,
		  false, check_url);
	field_str(l, m, "install_script_sha256", "k3s.install_script_sha256",
		  &c->k3s.install_script_sha256, true, check_sha256);
	field_strlist(l, m, "disable", "k3s.disable", &c->k3s.disable, &c->k3s.n_disable,
		      check_disable);
	l->y_pause = field_str(l, m, "pause_image", "k3s.pause_image", &c->k3s.pause_image, true,
			       check_image);
}

static void load_network(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "vmnet", "subnet", "gateway", "dns" };
	struct kf_config *c = l->cfg;
	const struct ynode *v;

	if (!want_map(l, m, "network"))
		return;
	check_keys(l, m, "network", keys, 4);
	field_str(l, m, "vmnet", "network.vmnet", &c->network.vmnet, false, check_vmnet);
	if ((v = map_get(m, "subnet")) != NULL) {
		const char *s = scalar(l, v, "network.subnet", "a CIDR like 192.168.6.0/24");
		l->subnet_ok = false;
		l->y_subnet = v;
		if (s) {
			const char *slash = strchr(s, '/');
			char ip[32];
			uint32_t a;
			long pfx;
			if (!slash || (size_t)(slash - s) >= sizeof(ip)) {
				PROB(l, v, "network.subnet '%s' is not a CIDR like 192.168.6.0/24",
				     SV(s));
			} else {
				memcpy(ip, s, (size_t)(slash - s));
				ip[slash - s] = '\0';
				if (!parse_ipv4(ip, &a) || !parse_long(slash + 1, &pfx) ||
				    !isdigit((unsigned char)slash[1])) {
					PROB(l, v, "network.subnet '%s' is not a CIDR like "
						   "192.168.6.0/24", SV(s));
				} else if (pfx < 8 || pfx > 29) {
					PROB(l, v, "network.subnet %s: prefix length /%ld is out of "
						   "range /8../29", SV(s), pfx);
				} else if (a & ~prefix_mask((int)pfx)) {
					char net[16];
					fmt_ipv4(net, a & prefix_mask((int)pfx));
					PROB(l, v, "network.subnet %s has host bits set (did you mean "
						   "%s/%ld?)", SV(s), net, pfx);
				} else {
					char *d = xstrdup(l, s);
					if (d) {
						free(c->network.subnet);
						c->network.subnet = d;
						c->network.subnet_addr = a;
						c->network.prefix = (int)pfx;
						l->subnet_ok = true;
					}
				}
			}
		}
	}
	if (map_get(m, "gateway")) {
		l->y_gateway = map_get(m, "gateway");
		l->gateway_ok = field_str(l, m, "gateway", "network.gateway", &c->network.gateway,
					  false, check_ip) != NULL;
	}
	if (map_get(m, "dns")) {
		l->y_dns = map_get(m, "dns");
		field_strlist(l, m, "dns", "network.dns", &c->network.dns, &c->network.n_dns,
			      check_ip);
		if (c->network.n_dns > 8)
			PROB(l, l->y_dns, "network.dns has %zu servers; at most 8 are used",
			     c->network.n_dns);
	}
}

static void load_registry(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "host_ip", "port", "storage_dir", "server", "binary",
					    "listen", "extra_sans", "mirrors" };
	struct kf_config *c = l->cfg;

	if (!want_map(l, m, "registry"))
		return;
	check_keys(l, m, "registry", keys, 8);
	if (map_get(m, "host_ip")) {
		l->y_reg_ip = map_get(m, "host_ip");
		l->reg_ip_ok = field_str(l, m, "host_ip", "registry.host_ip", &c->registry.host_ip,
					 false, check_ip) != NULL;
	}
	field_int(l, m, "port", "registry.port", &c->registry.port, 1, 65535);
	if (field_str(l, m, "storage_dir", "registry.storage_dir", &c->registry.storage_dir, true,
		      check_path))
		resolve_in_place(l, &c->registry.storage_dir);
	field_str(l, m, "server", "registry.server", &c->registry.server, false, check_server);
	if (field_str(l, m, "binary", "registry.binary", &c->registry.binary, true, check_path) &&
	    strchr(c->registry.binary, '/'))
		resolve_in_place(l, &c->registry.binary);
	field_str(l, m, "listen", "registry.listen", &c->registry.listen, true, check_listen);
	field_strlist(l, m, "extra_sans", "registry.extra_sans", &c->registry.extra_sans,
		      &c->registry.n_extra_sans, check_san);
	field_strlist(l, m, "mirrors", "registry.mirrors", &c->registry.mirrors,
		      &c->registry.n_mirrors, check_registry_host);
}

static void load_node(struct ld *l, const struct ynode *m, size_t i, struct kf_node *n,
		      struct node_pos *np)
{
	static const char *const keys[] = { "name", "role", "ip", "cpus", "memory", "disk", "mac",
					    "ssh" };
	static const struct unit mem_units[] = { { "", 1 }, { "MiB", 1 }, { "M", 1 },
						 { "GiB", 1024 }, { "G", 1024 }, { NULL, 0 } };
	static const struct unit disk_units[] = { { "", 1 }, { "GiB", 1 }, { "G", 1 },
						  { "TiB", 1024 }, { "T", 1024 }, { NULL, 0 } };
	char path[96], base[32];
	const struct ynode *v;
	char *role = NULL;
	long sz;

	n->cpus = 2;
	n->memory_mb = 4096;
	n->disk_gb = 40;
	n->ssh_port = 22;
	n->role = KF_ROLE_WORKER;
	n->line = m->line;
	np->item = m;
	snprintf(base, sizeof(base), "nodes[%zu]", i);
	if (m->kind != YN_MAP) {
		l->nodes_bad = true;
		PROB(l, m, "%s must be a mapping with name:, role:, ip: ..., not %s", base,
		     kind_name(m));
		return;
	}
	check_keys(l, m, base, keys, 8);
	snprintf(path, sizeof(path), "%s.name", base);
	np->name = field_str(l, m, "name", path, &n->name, false, check_node_name);
	snprintf(path, sizeof(path), "%s.role", base);
	if (field_str(l, m, "role", path, &role, false, check_role))
		n->role = strcmp(role, "master") == 0 ? KF_ROLE_MASTER : KF_ROLE_WORKER;
	else if (map_get(m, "role"))
		l->nodes_bad = true;
	free(role);
	snprintf(path, sizeof(path), "%s.ip", base);
	np->ip = field_str(l, m, "ip", path, &n->ip, false, check_ip);
	snprintf(path, sizeof(path), "%s.cpus", base);
	field_int(l, m, "cpus", path, &n->cpus, 1, 64);
	snprintf(path, sizeof(path), "%s.memory", base);
	if ((v = map_get(m, "memory")) && scalar(l, v, path, "a size like 4096 or 4GiB")) {
		if (!parse_size(v->str, mem_units, &sz))
			PROB(l, v, "%s '%s' is not a size: use MiB (4096), or 4096MiB, 4GiB", path,
			     SV(v->str));
		else if (sz < 1024 || sz > 262144)
			PROB(l, v, "%s %ld MiB is out of range 1024..262144 MiB", path, sz);
		else if (sz % 4 != 0) /* VMware's memsize rule: gns3-server
				       * controller/gns3vm/vmware_gns3_vm.py:68-70 */
			PROB(l, v, "%s %ld MiB is not a multiple of 4 MiB, which VMware requires for "
			     "memsize: use %ld or %ld", path, sz, sz - sz % 4, sz - sz % 4 + 4);
		else
			n->memory_mb = (int)sz;
	}
	snprintf(path, sizeof(path), "%s.disk", base);
	if ((v = map_get(m, "disk")) && scalar(l, v, path, "a size like 40 or 40GiB")) {
		if (!parse_size(v->str, disk_units, &sz))
			PROB(l, v, "%s '%s' is not a size: use GiB (40), or 40GiB, 1TiB", path,
			     SV(v->str));
		else if (sz < 10 || sz > 4096)
			PROB(l, v, "%s %ld GiB is out of range 10..4096 GiB", path, sz);
		else
			n->disk_gb = (int)sz;
	}
	snprintf(path, sizeof(path), "%s.mac", base);
	np->mac = field_str(l, m, "mac", path, &n->mac, true, check_mac);
	if (np->mac && n->mac)
		for (char *c = n->mac; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	snprintf(path, sizeof(path), "%s.ssh", base);
	if ((np->ssh = field_str(l, m, "ssh", path, NULL, true, check_ssh)) != NULL) {
		char host[256];
		int port;
		parse_hostport(np->ssh->str, host, sizeof(host), &port);
		free(n->ssh_host);
		n->ssh_host = xstrdup(l, host);
		n->ssh_port = port > 0 ? port : 22;
	}
	if (!map_get(m, "name"))
		PROB(l, m, "%s has no name; every node needs name: and ip:", base);
	if (!map_get(m, "ip"))
		PROB(l, m, "%s has no ip; every node needs name: and ip:", base);
}

static void free_nodes(struct kf_config *c)
{
	for (size_t i = 0; c->nodes && i < c->n_nodes; i++) {
		free(c->nodes[i].name);
		free(c->nodes[i].ip);
		free(c->nodes[i].mac);
		free(c->nodes[i].ssh_host);
	}
	free(c->nodes);
	c->nodes = NULL;
	c->n_nodes = 0;
}

static void load_nodes(struct ld *l, const struct ynode *y)
{
	struct kf_config *c = l->cfg;

	l->y_nodes = y;
	if (cfg_ynode_is_null(y) || (y->kind == YN_SEQ && y->n == 0)) {
		PROB(l, y, "nodes is empty: list one master and any number of workers");
		return;
	}
	if (y->kind != YN_SEQ) {
		PROB(l, y, "nodes must be a list of nodes ('- name: ...' entries), not %s",
		     kind_name(y));
		return;
	}
	if (y->n > KF_CFG_MAX_NODES) {
		PROB(l, y, "nodes has %zu entries; at most %d are supported", y->n,
		     KF_CFG_MAX_NODES);
		return;
	}
	free_nodes(c);
	c->nodes = calloc(y->n, sizeof(struct kf_node));
	l->npos = calloc(y->n, sizeof(struct node_pos));
	if (!c->nodes || !l->npos) {
		l->oom = true;
		return;
	}
	c->n_nodes = y->n;
	for (size_t i = 0; i < y->n; i++)
		load_node(l, y->items[i], i, &c->nodes[i], &l->npos[i]);
}

/* Appends one image reference; false when the image bound is reached (reported once). */
static bool add_ref(struct ld *l, const char *src, size_t sl, const char *dst, size_t dl,
		    const char *file, int line)
{
	struct kf_config *c = l->cfg;
	struct kf_image_ref *r;

	if (c->images.n_refs >= KF_CFG_MAX_IMAGES)
		return false;
	if (c->images.n_refs % 64 == 0) {
		r = realloc(c->images.refs, (c->images.n_refs + 64) * sizeof(*r));
		if (!r) {
			l->oom = true;
			return false;
		}
		c->images.refs = r;
	}
	r = &c->images.refs[c->images.n_refs];
	memset(r, 0, sizeof(*r));
	r->source = strndup(src, sl);
	r->target = dst ? strndup(dst, dl) : NULL;
	r->file = strdup(file);
	r->line = line;
	c->images.n_refs++;
	if (!r->source || (dst && !r->target) || !r->file)
		l->oom = true;
	return true;
}

/* Checks one "source [target]" line; reports at file:line:col+offset. Returns false on a
 * problem. `text` is the line without its comment; `col0` the column of text[0]. */
static void image_full_name(char *out, size_t size, const char *ref);

/* The registry host of an image reference as Docker reads it (docker.io for short names). */
static bool image_is_mirrored(const struct kf_config *c, const char *ref, char *host,
			      size_t size)
{
	char full[600];
	const char *slash;

	image_full_name(full, sizeof(full), ref);
	slash = strchr(full, '/');
	snprintf(host, size, "%.*s", slash ? (int)(slash - full) : 0, full);
	for (size_t i = 0; i < c->registry.n_mirrors; i++)
		if (strcasecmp(c->registry.mirrors[i], host) == 0)
			return true;
	return false;
}

static bool image_line(struct ld *l, int order, const char *file, const char *label,
		       const char *text, size_t len, int line, int col0, const char *ref_file)
{
	const char *tok[3];
	size_t tl[3], nt = 0, i = 0;
	char buf[520], why[160];
	size_t off;

	while (i < len && nt < 3) {
		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (i >= len)
			break;
		tok[nt] = text + i;
		while (i < len && text[i] != ' ' && text[i] != '\t')
			i++;
		tl[nt] = (size_t)(text + i - tok[nt]);
		nt++;
	}
	if (nt == 0)
		return true;
	if (nt == 3) {
		cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[2] - text),
				"%s%sexpected 'source' or 'source target', found a third field '%.*s'",
				label, *label ? ": " : "", (int)(tl[2] > 60 ? 60 : tl[2]), tok[2]);
		return false;
	}
	for (size_t t = 0; t < nt; t++) {
		if (tl[t] >= sizeof(buf)) {
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[t] - text),
					"%s%simage reference longer than 512 characters", label,
					*label ? ": " : "");
			return false;
		}
		memcpy(buf, tok[t], tl[t]);
		buf[tl[t]] = '\0';
		if (cfg_image_ref_check(buf, &off, why, sizeof(why)) != 0) {
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[t] - text + off),
					"%s%s'%s' is not an image reference: %s", label,
					*label ? " " : "", SV(buf), why);
			return false;
		}
	}
	if (nt == 1) {
		/* Pulled by its own name: registries.yaml sends only registry.mirrors to the lab
		 * registry and turns the default endpoints off, so any other registry is a pull
		 * that can never work on the air-gapped nodes. (With a target the image is
		 * referenced by its lab-registry path instead.) */
		char host[300];
		memcpy(buf, tok[0], tl[0]);
		buf[tl[0]] = '\0';
		if (!image_is_mirrored(l->cfg, buf, host, sizeof(host)))
			cfg_problem_add(l->p, order, file, line, col0 + (int)(tok[0] - text),
					"%s%s%s comes from %s, which is not in registry.mirrors: the "
					"nodes could never pull it; add %s to registry.mirrors",
					label, *label ? ": " : "", SV(buf), host, host);
	}
	if (!add_ref(l, tok[0], tl[0], nt == 2 ? tok[1] : NULL, nt == 2 ? tl[1] : 0, ref_file,
		     line)) {
		if (!l->oom)
			cfg_problem_add(l->p, order, file, line, col0,
					"%s%smore than %d images; that is the limit", label,
					*label ? ": " : "", KF_CFG_MAX_IMAGES);
		return false;
	}
	return true;
}

static void load_list_file(struct ld *l, const struct ynode *v, const char *abs)
{
	struct kf_err e;
	struct stat st;
	char *data = NULL, *shown;
	size_t len = 0, pos = 0;
	int line = 0, r;

	kf_err_clear(&e);
	/* Only a regular file: a FIFO or a device would block or never end. */
	if (stat(abs, &st) == 0 && !S_ISREG(st.st_mode)) {
		PROB(l, v, "images.list: %s is not a regular file", SV(abs));
		return;
	}
	r = kf_fs_read(&data, &len, abs, KF_CFG_MAX_LIST_FILE, &e);
	if (r == KF_ENOTFOUND) {
		PROB(l, v, "images.list: %s not found (relative paths are taken from the config "
			   "file's directory); create it or fix the path", SV(abs));
		return;
	}
	if (r == KF_ELIMIT) {
		PROB(l, v, "images.list: %s is larger than 4 MiB; that is not an image list", SV(abs));
		return;
	}
	if (r) {
		PROB(l, v, "images.list: cannot read %s: %s", SV(abs), e.msg);
		return;
	}
	shown = v->str[0] == '/' ? strdup(v->str) : kf_path_join(l->shown_dir, v->str);
	if (!shown) {
		free(data);
		l->oom = true;
		return;
	}
	while (pos < len && !l->oom) {
		const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - s) : len - pos, cut = ll;
		line++;
		pos += ll + 1;
		if (ll && s[ll - 1] == '\r')
			cut = --ll;
		/* '#' starts a comment at the start of a line or after blank space. */
		for (size_t i = 0; i < ll; i++) {
			if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
				cut = i;
				break;
			}
		}
		if (memchr(s, '\0', cut)) {
			cfg_problem_add(l->p, 1, shown, line, 1, "line contains a NUL byte");
			continue;
		}
		if (!image_line(l, 1, shown, "", s, cut, line, 1, abs) &&
		    l->cfg->images.n_refs >= KF_CFG_MAX_IMAGES)
			break;
	}
	free(shown);
	free(data);
}

static void load_images(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "list", "inline", "source_registry" };
	struct kf_config *c = l->cfg;
	const struct ynode *y;

	l->y_images = m;
	if (!want_map(l, m, "images"))
		return;
	check_keys(l, m, "images", keys, 3);
	field_str(l, m, "source_registry", "images.source_registry", &c->images.source_registry,
		  true, check_source_registry);
	if ((y = map_get(m, "inline")) != NULL && !cfg_ynode_is_null(y)) {
		if (y->kind != YN_SEQ) {
			PROB(l, y, "images.inline must be a list of image references, not %s",
			     kind_name(y));
		} else {
			for (size_t i = 0; i < y->n; i++) {
				const struct ynode *it = y->items[i];
				char path[48];
				snprintf(path, sizeof(path), "images.inline[%zu]", i);
				if (!scalar(l, it, path, "an image reference"))
					continue;
				if (!image_line(l, 0, l->name, path, it->str, it->len, it->line,
						it->col + (it->plain ? 0 : 1), l->name) &&
				    c->images.n_refs >= KF_CFG_MAX_IMAGES)
					break;
			}
		}
	}
	if ((y = field_str(l, m, "list", "images.list", &c->images.list_file, true, check_path))) {
		resolve_in_place(l, &c->images.list_file);
		if (c->images.list_file)
			load_list_file(l, y, c->images.list_file);
	}
}

static void load_paths(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "ubuntu_iso", "vm_dir" };
	struct kf_config *c = l->cfg;

	if (!want_map(l, m, "paths"))
		return;
	check_keys(l, m, "paths", keys, 2);
	if (field_str(l, m, "ubuntu_iso", "paths.ubuntu_iso", &c->paths.ubuntu_iso, true,
		      check_path))
		resolve_in_place(l, &c->paths.ubuntu_iso);
	if (field_str(l, m, "vm_dir", "paths.vm_dir", &c->paths.vm_dir, true, check_path))
		resolve_in_place(l, &c->paths.vm_dir);
}

static void load_vmware(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "vmrun", "firmware", "hw_version", "host_checks" };
	struct kf_config *c = l->cfg;
	char *hc = NULL;

	if (!want_map(l, m, "vmware"))
		return;
	check_keys(l, m, "vmware", keys, 4);
	if (field_str(l, m, "vmrun", "vmware.vmrun", &c->vmware.vmrun, false, check_path) &&
	    strcmp(c->vmware.vmrun, "auto") != 0 && strchr(c->vmware.vmrun, '/'))
		resolve_in_place(l, &c->vmware.vmrun);
	field_str(l, m, "firmware", "vmware.firmware", &c->vmware.firmware, false, check_firmware);
	field_int(l, m, "hw_version", "vmware.hw_version", &c->vmware.hw_version, 19, 22);
	if (field_str(l, m, "host_checks", "vmware.host_checks", &hc, false, check_host_checks))
		c->vmware.host_checks_warn = strcmp(hc, "warn") == 0;
	free(hc);
}

static void load_guest(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "user", "timezone", "locale", "keyboard", "packages",
					    "debs" };
	struct kf_config *c = l->cfg;

	if (!want_map(l, m, "guest"))
		return;
	check_keys(l, m, "guest", keys, 6);
	field_str(l, m, "user", "guest.user", &c->guest.user, false, check_user);
	field_str(l, m, "timezone", "guest.timezone", &c->guest.timezone, false, check_timezone);
	field_str(l, m, "locale", "guest.locale", &c->guest.locale, false, check_locale);
	field_str(l, m, "keyboard", "guest.keyboard", &c->guest.keyboard, false, check_keyboard);
	field_strlist(l, m, "packages", "guest.packages", &c->guest.packages, &c->guest.n_packages,
		      check_package);
	/* a directory of .deb files for the installer's late-commands (render/recipe.c) */
	if (field_str(l, m, "debs", "guest.debs", &c->guest.debs, true, check_path))
		resolve_in_place(l, &c->guest.debs);
}

static bool check_chart(struct ld *l, const struct ynode *v, const char *path)
{
	if (strncmp(v->str, "http://", 7) == 0 || strncmp(v->str, "https://", 8) == 0)
		return check_url(l, v, path);
	return check_path(l, v, path);
}

static void load_addons(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "kubesphere" };
	static const char *const ks_keys[] = { "enabled", "version", "chart", "chart_sha256",
					       "admin_password" };
	struct kf_config *c = l->cfg;
	const struct ynode *ks, *v;

	if (!want_map(l, m, "addons"))
		return;
	check_keys(l, m, "addons", keys, 1);
	ks = map_get(m, "kubesphere");
	if (!want_map(l, ks, "addons.kubesphere"))
		return;
	check_keys(l, ks, "addons.kubesphere", ks_keys, 5);
	field_bool(l, ks, "enabled", "addons.kubesphere.enabled", &c->addons.kubesphere);
	field_str(l, ks, "version", "addons.kubesphere.version", &c->addons.kubesphere_version,
		  false, check_semver);
	if (field_str(l, ks, "chart", "addons.kubesphere.chart", &c->addons.kubesphere_chart,
		      false, check_chart) &&
	    !is_url(c->addons.kubesphere_chart))
		resolve_in_place(l, &c->addons.kubesphere_chart);
	field_str(l, ks, "chart_sha256", "addons.kubesphere.chart_sha256",
		  &c->addons.kubesphere_chart_sha256, true, check_sha256);
	v = map_get(ks, "admin_password");
	if (v && v->kind == YN_SCALAR && strcmp(v->str, "***") == 0) {
		/* The masked value `config show` prints: not a password, so prep generates one. */
		if (c->addons.admin_password) {
			memset(c->addons.admin_password, 0, strlen(c->addons.admin_password));
			free(c->addons.admin_password);
			c->addons.admin_password = NULL;
		}
	} else {
		field_str(l, ks, "admin_password", "addons.kubesphere.admin_password",
			  &c->addons.admin_password, true, check_password);
	}
}

static void load_timeouts(struct ld *l, const struct ynode *m)
{
	static const char *const keys[] = { "wait", "ssh_connect", "finalize", "vmrun", "download" };
	struct kf_config *c = l->cfg;

	if (!want_map(l, m, "timeouts"))
		return;
	check_keys(l, m, "timeouts", keys, 5);
	field_duration(l, m, "wait", &c->timeouts.wait_s, 30, 86400);
	field_duration(l, m, "ssh_connect", &c->timeouts.ssh_connect_s, 1, 600);
	field_duration(l, m, "finalize", &c->timeouts.finalize_s, 30, 86400);
	field_duration(l, m, "vmrun", &c->timeouts.vmrun_s, 5, 3600);
	field_duration(l, m, "download", &c->timeouts.download_s, 5, 3600);
}

/* ------------------------------------------------------------------------------------------ */
/* Defaults that follow other values, and checks across sections                               */

static char *ip_str(struct ld *l, uint32_t a)
{
	char b[16];

	fmt_ipv4(b, a);
	return xstrdup(l, b);
}

/* A changed subnet moves the defaults that live in it: gateway .1, registry = gateway,
 * dns = [gateway], and (when nodes: is not given) the three lab nodes at .10, .11, .12. */
static void derive_defaults(struct ld *l)
{
	struct kf_config *c = l->cfg;
	uint32_t net = c->network.subnet_addr;
	char *s;

	if (l->y_subnet && l->subnet_ok && !l->y_gateway) {
		if ((s = ip_str(l, net + 1))) {
			free(c->network.gateway);
			c->network.gateway = s;
		}
	}
	if (!l->y_dns && (l->y_gateway || l->y_subnet) && c->network.n_dns == 1) {
		if ((s = xstrdup(l, c->network.gateway))) {
			free(c->network.dns[0]);
			c->network.dns[0] = s;
		}
	}
	if (!l->y_reg_ip && (l->y_gateway || l->y_subnet)) {
		if ((s = xstrdup(l, c->network.gateway))) {
			free(c->registry.host_ip);
			c->registry.host_ip = s;
		}
	}
	if (!l->y_nodes && l->y_subnet && l->subnet_ok && c->network.prefix <= 28) {
		for (size_t i = 0; i < c->n_nodes; i++) {
			if ((s = ip_str(l, net + 10 + (uint32_t)i))) {
				free(c->nodes[i].ip);
				c->nodes[i].ip = s;
			}
		}
	}
	if (!c->registry.listen) {
		char b[32];
		snprintf(b, sizeof(b), "0.0.0.0:%d", c->registry.port);
		c->registry.listen = xstrdup(l, b);
	}
}

/* Where to point at for a value: its node, else the subnet that moved it, else line 1. */
static const struct ynode *at(struct ld *l, const struct ynode *y)
{
	static const struct ynode origin = { .kind = YN_SCALAR, .line = 1, .col = 1 };

	if (y)
		return y;
	if (l->y_subnet)
		return l->y_subnet;
	return &origin;
}

/* An address must be a usable host in the subnet. Returns false (reported) if not. */
static bool check_in_subnet(struct ld *l, const struct ynode *y, const char *what,
			    const char *value)
{
	const struct kf_config *c = l->cfg;
	uint32_t a, mask = prefix_mask(c->network.prefix);

	if (!value || !parse_ipv4(value, &a))
		return false;
	if ((a & mask) != c->network.subnet_addr) {
		PROB(l, at(l, y), "%s %s is outside network.subnet %s", what, value,
		     c->network.subnet);
		return false;
	}
	if (a == c->network.subnet_addr) {
		PROB(l, at(l, y), "%s %s is the network address of %s; use a host address", what,
		     value, c->network.subnet);
		return false;
	}
	if (a == (c->network.subnet_addr | ~mask)) {
		PROB(l, at(l, y), "%s %s is the broadcast address of %s; use a host address", what,
		     value, c->network.subnet);
		return false;
	}
	return true;
}

/* Docker's reading of a short reference: "busybox:1" is docker.io/library/busybox:1,
 * "rancher/x" is docker.io/rancher/x, index.docker.io/x is docker.io/library/x (as Docker reads
 * it). Writes at most size bytes. */
static void image_full_name(char *out, size_t size, const char *ref)
{
	struct kf_imageref r;

	if (kf_imageref_parse(ref, &r, NULL, NULL, 0) == 0)
		kf_imageref_full(&r, out, size);
	else
		snprintf(out, size, "%s", ref);
}

/* The pinned pause image must be mirrored too: the seeds' lab broke on exactly that. prep
 * mirrors it along with k3s-images.txt (listed or not); its source must be a mirrored registry. */
static void check_pause_listed(struct ld *l)
{
	const struct kf_config *c = l->cfg;
	char have[600];

	if (!l->y_pause || !c->k3s.pause_image)
		return;
	if (!image_is_mirrored(c, c->k3s.pause_image, have, sizeof(have))) {
		PROB(l, l->y_pause,
		     "k3s.pause_image %s comes from %s, which is not in registry.mirrors: no pod could "
		     "start; add %s to registry.mirrors", SV(c->k3s.pause_image), have, have);
	}
}

static void check_across(struct ld *l)
{
	struct kf_config *c = l->cfg;
	bool subnet_usable = !l->y_subnet || l->subnet_ok;
	size_t masters = 0, first_master = 0;

	if (subnet_usable) {
		if (!l->y_gateway || l->gateway_ok)
			check_in_subnet(l, l->y_gateway, "network.gateway", c->network.gateway);
		/* A registry address that follows the gateway is checked as the gateway. */
		if (l->y_reg_ip ? l->reg_ip_ok : !(l->y_gateway || l->y_subnet))
			check_in_subnet(l, l->y_reg_ip, "registry.host_ip", c->registry.host_ip);
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct kf_node *n = &c->nodes[i];
		const struct node_pos *np = l->npos ? &l->npos[i] : NULL;
		const struct ynode *yip = np ? np->ip : NULL;
		char what[64];

		if (n->role == KF_ROLE_MASTER && np && np->item->kind == YN_MAP) {
			if (masters++ == 0) {
				first_master = i;
			} else {
				const struct ynode *r = map_get(np->item, "role");
				PROB(l, r ? r : np->item,
				     "nodes[%zu] is a second master (nodes[%zu] '%s' at line %d is "
				     "one): only one master is supported", i, first_master,
				     c->nodes[first_master].name ? c->nodes[first_master].name : "?",
				     l->npos[first_master].item->line);
			}
		} else if (n->role == KF_ROLE_MASTER) {
			masters++;
		}
		snprintf(what, sizeof(what), "nodes[%zu].ip", i);
		if (n->ip && (!np || yip) && subnet_usable &&
		    check_in_subnet(l, yip, what, n->ip)) {
			if (c->network.gateway && strcmp(n->ip, c->network.gateway) == 0)
				PROB(l, at(l, yip ? yip : l->y_gateway), "%s %s is the gateway "
				     "(network.gateway); pick another address", what, n->ip);
			else if (c->registry.host_ip && strcmp(n->ip, c->registry.host_ip) == 0)
				PROB(l, at(l, yip ? yip : l->y_reg_ip), "%s %s is the registry's address "
						    "(registry.host_ip); pick another address",
				     what, n->ip);
		}
		if (!np)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->name && o->name && np->name && strcmp(n->name, o->name) == 0) {
				PROB(l, np->name, "nodes[%zu].name '%s' is already used by nodes[%zu] "
						  "at line %d", i, n->name, j, op->item->line);
				break;
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->ip && o->ip && yip && strcmp(n->ip, o->ip) == 0) {
				PROB(l, yip, "nodes[%zu].ip %s is already used by nodes[%zu] '%s' at "
					     "line %d", i, n->ip, j, o->name ? o->name : "?",
				     op->item->line);
				break;
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			if (n->mac && o->mac && np->mac && strcmp(n->mac, o->mac) == 0) {
				PROB(l, np->mac, "nodes[%zu].mac %s is already used by nodes[%zu] "
						 "'%s' at line %d", i, n->mac, j,
				     o->name ? o->name : "?", op->item->line);
				break;
			}
		}
		for (size_t j = 0; np->ssh && j < i; j++) {
			const struct kf_node *o = &c->nodes[j];
			const struct node_pos *op = &l->npos[j];
			const char *oh = o->ssh_host ? o->ssh_host : o->ip;
			if (oh && n->ssh_host && strcmp(n->ssh_host, oh) == 0 &&
			    n->ssh_port == o->ssh_port) {
				PROB(l, np->ssh, "nodes[%zu].ssh %s:%d is already where nodes[%zu] "
						 "'%s' (line %d) is reached", i, n->ssh_host,
				     n->ssh_port, j, o->name ? o->name : "?", op->item->line);
				break;
			}
		}
	}
	check_pause_listed(l);
	if (masters == 0 && c->n_nodes > 0 && !l->nodes_bad)
		PROB(l, at(l, l->y_nodes), "nodes: no master; mark one node with role: master");
}

/* ------------------------------------------------------------------------------------------ */
/* Entry points                                                                                 */

static const char *const top_keys[] = { "cluster", "k3s", "network", "registry", "nodes",
					"images", "paths", "vmware", "guest", "addons",
					"timeouts" };

static void load_tree(struct ld *l, const struct ynode *root)
{
	if (!root || cfg_ynode_is_null(root))
		goto derived;
	if (root->kind != YN_MAP) {
		PROB(l, root, "the file must be a mapping of sections (cluster:, network:, nodes:, "
			      "...), not %s", kind_name(root));
		return;
	}
	check_keys(l, root, "the top level", top_keys, 11);
	load_cluster(l, map_get(root, "cluster"));
	load_k3s(l, map_get(root, "k3s"));
	load_network(l, map_get(root, "network"));
	load_registry(l, map_get(root, "registry"));
	if (map_get(root, "nodes"))
		load_nodes(l, map_get(root, "nodes"));
	load_images(l, map_get(root, "images"));
	load_paths(l, map_get(root, "paths"));
	load_vmware(l, map_get(root, "vmware"));
	load_guest(l, map_get(root, "guest"));
	load_addons(l, map_get(root, "addons"));
	load_timeouts(l, map_get(root, "timeouts"));
derived:
	derive_defaults(l);
	check_across(l);
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
	if (data)
		OPENSSL_cleanse(data, len);
	free(data);
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
