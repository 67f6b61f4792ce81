/* k3sforge.yaml, value syntax: what one value may look like, independent of where it stands.
 * The small parsers (IPv4 addresses and prefixes, integers, durations, sizes with units,
 * host:port, URLs), the image-reference check, and the value checks the field helpers
 * (config_load.c) run on each scalar — names, versions, addresses, hosts, paths, user, locale,
 * time zone, keyboard, packages, password hashes, MAC addresses, SSH keys — each adding a
 * "file:line:col: message" problem and returning false when the text is wrong. Also the
 * message helpers every part shares (SV: a value shown safely in a message). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "k3sforge/imageref.h"
#include "k3sforge/opt.h"

/* A value as shown in a message: at most ~60 bytes, control characters as '?'. */
const char *cfg_sv_(char *buf, size_t size, const char *s)
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

char *cfg_xstrdup(struct ld *l, const char *s)
{
	char *r = strdup(s);

	if (!r)
		l->oom = true;
	return r;
}

const char *cfg_kind_name(const struct ynode *n)
{
	if (n->kind == YN_MAP)
		return "a mapping";
	if (n->kind == YN_SEQ)
		return "a list";
	return cfg_ynode_is_null(n) ? "empty" : "a single value";
}

/* ------------------------------------------------------------------------------------------ */
/* Small parsers                                                                                */

bool cfg_parse_ipv4(const char *s, uint32_t *out)
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

void cfg_fmt_ipv4(char out[16], uint32_t v)
{
	snprintf(out, 16, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

uint32_t cfg_prefix_mask(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* Whole decimal number with optional sign; false if not a number or too big for long. */
bool cfg_parse_long(const char *s, long *out)
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
bool cfg_parse_duration(const char *s, long *out)
{
	long total = 0;

	if (cfg_parse_long(s, out))
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

const char *cfg_fmt_duration(char *buf, size_t size, long s)
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

/* A number with an optional unit suffix from `units` (the first entry is the bare unit). */
bool cfg_parse_size(const char *s, const struct unit *units, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return cfg_parse_long(s, out); /* negative numbers: reported as out of range */
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
bool cfg_parse_hostport(const char *s, char *host, size_t hsize, int *port)
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
		if (!cfg_parse_long(colon + 1, &p) || p < 1 || p > 65535 || colon[1] == '+' ||
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

bool cfg_is_url(const char *s)
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

bool cfg_check_cluster_name(struct ld *l, const struct ynode *v, const char *path)
{
	if (is_label(v->str, 40))
		return true;
	PROB(l, v, "%s '%s' is not a valid name: use 1 to 40 of a-z, 0-9 and '-', not starting or "
		   "ending with '-'", path, SV(v->str));
	return false;
}

bool cfg_check_node_name(struct ld *l, const struct ynode *v, const char *path)
{
	if (is_label(v->str, 63))
		return true;
	PROB(l, v, "%s '%s' is not a valid host name: use 1 to 63 of a-z, 0-9 and '-', not "
		   "starting or ending with '-'", path, SV(v->str));
	return false;
}

/* "v" and three dot-separated numbers at s: the rest of s after them, or NULL. */
static const char *after_version3(const char *s)
{
	if (*s++ != 'v')
		return NULL;
	for (int parts = 0; parts < 3; parts++) {
		if (parts && *s++ != '.')
			return NULL;
		if (!isdigit((unsigned char)*s))
			return NULL;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return s;
}

/* Skips `prefix` and the digits after it (at least one); NULL when they are not there. */
static const char *after_numbered(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0 || !isdigit((unsigned char)s[n]))
		return NULL;
	for (s += n; isdigit((unsigned char)*s); s++)
		;
	return s;
}

bool cfg_check_k3s_version(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = after_version3(v->str), *rc;

	if (s && (rc = after_numbered(s, "-rc")) != NULL)
		s = rc;
	if (s && (s = after_numbered(s, "+k3s")) != NULL && !*s)
		return true;
	PROB(l, v, "%s '%s' is not a k3s release like v1.33.4+k3s1 or v1.33.4-rc1+k3s1", path,
	     SV(v->str));
	return false;
}

bool cfg_check_semver(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = after_version3(v->str);

	if (s && *s == '-')
		for (s++; isalnum((unsigned char)*s) || *s == '.'; s++)
			;
	if (s && !*s)
		return true;
	PROB(l, v, "%s '%s' is not a version like v4.1.3", path, SV(v->str));
	return false;
}

bool cfg_check_url(struct ld *l, const struct ynode *v, const char *path)
{
	if (cfg_is_url(v->str) && !strpbrk(v->str, " \t\r\n"))
		return true;
	PROB(l, v, "%s '%s' is not an http:// or https:// URL", path, SV(v->str));
	return false;
}

bool cfg_check_sha256(struct ld *l, const struct ynode *v, const char *path)
{
	if (v->len == 64 && is_hex(v->str, 64))
		return true;
	PROB(l, v, "%s must be 64 hex digits (a sha256 digest), not '%s'", path, SV(v->str));
	return false;
}

bool cfg_check_disable(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const comps[] = { "coredns", "servicelb", "traefik", "local-storage",
					     "metrics-server" };
	return enum_check(l, v, path, "a packaged k3s component", comps, 5);
}

bool cfg_check_image(struct ld *l, const struct ynode *v, const char *path)
{
	char why[160];
	size_t off;

	if (cfg_image_ref_check(v->str, &off, why, sizeof(why)) == 0)
		return true;
	PROB(l, v, "%s '%s' is not an image reference: %s", path, SV(v->str), why);
	return false;
}

bool cfg_check_ip(struct ld *l, const struct ynode *v, const char *path)
{
	uint32_t a;

	if (cfg_parse_ipv4(v->str, &a))
		return true;
	PROB(l, v, "%s '%s' is not an IPv4 address like 192.168.6.1", path, SV(v->str));
	return false;
}

bool cfg_check_vmnet(struct ld *l, const struct ynode *v, const char *path)
{
	long n;

	if (strncasecmp(v->str, "vmnet", 5) == 0 && isdigit((unsigned char)v->str[5]) &&
	    cfg_parse_long(v->str + 5, &n) && n >= 0 && n <= 19)
		return true;
	PROB(l, v, "%s '%s' is not a VMware virtual network name like VMnet1 (VMnet0..VMnet19)",
	     path, SV(v->str));
	return false;
}

bool cfg_check_server(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "auto", "binary", "docker" };
	return enum_check(l, v, path, "a registry server kind", kinds, 3);
}

bool cfg_check_listen(struct ld *l, const struct ynode *v, const char *path)
{
	char host[64];
	int port;
	uint32_t a;

	if (cfg_parse_hostport(v->str, host, sizeof(host), &port) && port > 0 && cfg_parse_ipv4(host, &a))
		return true;
	PROB(l, v, "%s '%s' is not an address:port like 0.0.0.0:5000", path, SV(v->str));
	return false;
}

bool cfg_check_san(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	uint32_t a;

	if (strncmp(s, "IP:", 3) == 0) {
		if (cfg_parse_ipv4(s + 3, &a))
			return true;
	} else if (strncmp(s, "DNS:", 4) == 0) {
		if (is_hostname(s + 4, true))
			return true;
	} else if (cfg_parse_ipv4(s, &a) || is_hostname(s, true)) {
		return true;
	}
	PROB(l, v, "%s '%s' is not a subject alternative name: use DNS:name, IP:address, or a bare "
		   "address or name", path, SV(s));
	return false;
}

bool cfg_check_registry_host(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;

	if (cfg_parse_hostport(v->str, host, sizeof(host), &port))
		return true;
	PROB(l, v, "%s '%s' is not a registry host like docker.io or mirror.example.com:5000",
	     path, SV(v->str));
	return false;
}

/* images.source_registry: a registry host (TLS), or http://<loopback>[:port] for a plain
 * registry on this machine (a staging registry, the tests' source); plain HTTP anywhere else
 * would let the network rewrite the images. */
bool cfg_check_source_registry(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;
	uint32_t a;

	if (strncmp(v->str, "http://", 7) != 0)
		return cfg_check_registry_host(l, v, path);
	if (cfg_parse_hostport(v->str + 7, host, sizeof(host), &port) &&
	    (strcmp(host, "localhost") == 0 || (cfg_parse_ipv4(host, &a) && (a >> 24) == 127)))
		return true;
	PROB(l, v, "%s '%s': plain http is allowed only for a loopback registry "
	     "(http://127.0.0.1:5001); give host[:port] for TLS", path, SV(v->str));
	return false;
}

bool cfg_check_path(struct ld *l, const struct ynode *v, const char *path)
{
	if (!strpbrk(v->str, "\r\n"))
		return true;
	PROB(l, v, "%s is not a usable path (it contains a line break)", path);
	return false;
}

bool cfg_check_firmware(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "bios", "efi" };
	return enum_check(l, v, path, "a firmware type", kinds, 2);
}

bool cfg_check_host_checks(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const modes[] = { "enforce", "warn" };
	return enum_check(l, v, path, "a host check mode", modes, 2);
}

bool cfg_check_hypervisor(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "vmware", "qemu" };
	return enum_check(l, v, path, "a hypervisor", kinds, 2);
}

bool cfg_check_accel(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const kinds[] = { "auto", "kvm", "tcg" };
	return enum_check(l, v, path, "a QEMU accelerator", kinds, 3);
}

/* A Linux network interface name: 1..15 bytes (IFNAMSIZ - 1), none of '/', ':' or white space
 * (the kernel's dev_valid_name), and not "." or "..". */
bool cfg_check_ifname(struct ld *l, const struct ynode *v, const char *path)
{
	const char *s = v->str;
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= 15 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;

	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > ' ' && s[i] < 0x7f && s[i] != '/' && s[i] != ':';
	if (ok)
		return true;
	PROB(l, v, "%s '%s' is not a network interface name (1 to 15 characters, no '/', ':' "
		   "or spaces)", path, SV(s));
	return false;
}

bool cfg_check_user(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_timezone(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_locale(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_keyboard(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_package(struct ld *l, const struct ynode *v, const char *path)
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
bool cfg_check_password(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_role(struct ld *l, const struct ynode *v, const char *path)
{
	static const char *const roles[] = { "master", "worker" };
	return enum_check(l, v, path, "a node role", roles, 2);
}

bool cfg_check_mac(struct ld *l, const struct ynode *v, const char *path)
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

bool cfg_check_ssh(struct ld *l, const struct ynode *v, const char *path)
{
	char host[256];
	int port;

	if (cfg_parse_hostport(v->str, host, sizeof(host), &port))
		return true;
	PROB(l, v, "%s '%s' is not host or host:port like 127.0.0.1:2222", path, SV(v->str));
	return false;
}
