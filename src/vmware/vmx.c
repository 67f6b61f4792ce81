/* VMX files: writer, line-preserving parser/editor, value escaping, static MAC derivation.
 * An edited file keeps every line it did not touch byte for byte, so a user's comments and keys
 * VMware added (uuid.bios, ethernet0.pciSlotNumber, ...) survive. */
#include "k3sforge/vmx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"

#define MAX_LINES 20000

struct vmx_line {
	char *raw;    /* the line as read (without its end), rewritten when the key is set */
	char *key;    /* NULL for comments, blank and malformed lines */
	char *value;  /* unescaped */
	char eol[3];  /* "\n", "\r\n" or "" for a last line without one */
};

struct kf_vmx {
	struct vmx_line *lines;
	size_t n, cap;
	char eol[3];  /* line end for appended lines: the file's first one */
};

static void line_clear(struct vmx_line *l)
{
	free(l->raw);
	free(l->key);
	free(l->value);
}

void kf_vmx_free(struct kf_vmx *vmx)
{
	if (!vmx)
		return;
	for (size_t i = 0; i < vmx->n; i++)
		line_clear(&vmx->lines[i]);
	free(vmx->lines);
	free(vmx);
}

static struct kf_vmx *vmx_new(void)
{
	struct kf_vmx *v = calloc(1, sizeof(*v));

	if (v)
		strcpy(v->eol, "\n");
	return v;
}

static struct vmx_line *push_line(struct kf_vmx *v)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 64;
		struct vmx_line *nl = realloc(v->lines, ncap * sizeof(*nl));
		if (!nl)
			return NULL;
		v->lines = nl;
		v->cap = ncap;
	}
	memset(&v->lines[v->n], 0, sizeof(v->lines[0]));
	return &v->lines[v->n++];
}

char *kf_vmx_escape(const char *value)
{
	struct kf_buf b;

	kf_buf_init(&b, 0);
	if (kf_buf_puts(&b, "") != 0)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		int r;
		if (*p == '|' || *p == '"' || *p < 0x20 || *p == 0x7f)
			r = kf_buf_printf(&b, "|%02X", *p);
		else
			r = kf_buf_putc(&b, (char)*p);
		if (r) {
			kf_buf_free(&b);
			return NULL;
		}
	}
	return kf_buf_detach(&b);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *kf_vmx_unescape(const char *raw)
{
	size_t n = strlen(raw);
	char *out = malloc(n + 1);
	size_t k = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '|' && i + 2 < n && hexval(raw[i + 1]) >= 0 &&
		    hexval(raw[i + 2]) >= 0) {
			int v = hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]);
			/* A NUL cannot live in a C string; keep the escape text instead. */
			if (v == 0) {
				out[k++] = raw[i];
				continue;
			}
			out[k++] = (char)v;
			i += 2;
		} else {
			out[k++] = raw[i];
		}
	}
	out[k] = '\0';
	return out;
}

static bool key_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == ':' || c == '_' || c == '-' ||
	       c == '[' || c == ']';
}

static bool valid_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!key_char(*k))
			return false;
	return true;
}

/* Splits "key = value" into key and unescaped value; false for anything else. */
static bool parse_kv(const char *s, size_t len, char **key, char **value)
{
	const char *end = s + len, *p = s, *ks, *ke, *vs, *ve;
	char *rawv;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return false;
	ks = p;
	while (p < end && *p != '=')
		p++;
	if (p == end)
		return false;
	ke = p;
	while (ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'))
		ke--;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p == '"') {
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q)
			return false;
		vs = p + 1;
		ve = q;
		/* Only blanks, or a '#' comment, may follow the closing quote. */
		for (q++; q < end && *q != '#'; q++)
			if (*q != ' ' && *q != '\t')
				return false;
	} else {
		vs = p;
		ve = end;
		while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
	}
	*key = strndup(ks, (size_t)(ke - ks));
	rawv = strndup(vs, (size_t)(ve - vs));
	if (!*key || !rawv || !valid_key(*key)) {
		free(*key);
		free(rawv);
		*key = NULL;
		return false;
	}
	*value = kf_vmx_unescape(rawv);
	free(rawv);
	if (!*value) {
		free(*key);
		*key = NULL;
		return false;
	}
	return true;
}

int kf_vmx_parse(struct kf_vmx **out, const char *text, size_t len, const char *name,
		 struct kf_err *err)
{
	struct kf_vmx *v = vmx_new();
	const char *p = text, *end = text + len;
	bool first_eol = true;

	*out = NULL;
	if (!v)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (memchr(text, '\0', len)) {
		kf_vmx_free(v);
		return kf_err_set(err, KF_EPARSE, "%s: contains NUL bytes: not a VMX file", name);
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct vmx_line *l;
		size_t body;

		if (v->n >= MAX_LINES) {
			kf_vmx_free(v);
			return kf_err_set(err, KF_ELIMIT, "%s: more than %d lines: not a VMX file",
					  name, MAX_LINES);
		}
		l = push_line(v);
		if (!l)
			goto nomem;
		body = (size_t)(le - p);
		if (nl && body > 0 && le[-1] == '\r') {
			body--;
			strcpy(l->eol, "\r\n");
		} else if (nl) {
			strcpy(l->eol, "\n");
		}
		if (nl && first_eol) {
			strcpy(v->eol, l->eol);
			first_eol = false;
		}
		l->raw = strndup(p, body);
		if (!l->raw)
			goto nomem;
		parse_kv(p, body, &l->key, &l->value);
		p = nl ? nl + 1 : end;
	}
	*out = v;
	return 0;
nomem:
	kf_vmx_free(v);
	return kf_err_set(err, KF_ENOMEM, "out of memory");
}

int kf_vmx_load(struct kf_vmx **out, const char *path, struct kf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(&text, &len, path, KF_VMX_MAX_BYTES, err)) != 0)
		return r;
	r = kf_vmx_parse(out, text, len, path, err);
	free(text);
	return r;
}

const char *kf_vmx_get(const struct kf_vmx *vmx, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < vmx->n; i++)
		if (vmx->lines[i].key && strcasecmp(vmx->lines[i].key, key) == 0)
			v = vmx->lines[i].value;
	return v;
}

static char *render(const char *key, const char *value)
{
	char *esc = kf_vmx_escape(value);
	char *s = NULL;

	if (esc && asprintf(&s, "%s = \"%s\"", key, esc) < 0)
		s = NULL;
	free(esc);
	return s;
}

int kf_vmx_set(struct kf_vmx *vmx, const char *key, const char *value)
{
	bool found = false;
	struct vmx_line *l;

	if (!valid_key(key))
		return KF_EUSAGE;
	for (size_t i = 0; i < vmx->n; i++) {
		char *raw, *val;
		l = &vmx->lines[i];
		if (!l->key || strcasecmp(l->key, key) != 0)
			continue;
		found = true;
		if (strcmp(l->value, value) == 0)
			continue;
		raw = render(l->key, value);
		val = strdup(value);
		if (!raw || !val) {
			free(raw);
			free(val);
			return KF_ENOMEM;
		}
		free(l->raw);
		free(l->value);
		l->raw = raw;
		l->value = val;
	}
	if (found)
		return 0;
	/* A last line without a line end gets one before the new line. */
	if (vmx->n && !vmx->lines[vmx->n - 1].eol[0])
		strcpy(vmx->lines[vmx->n - 1].eol, vmx->eol);
	l = push_line(vmx);
	if (!l)
		return KF_ENOMEM;
	l->raw = render(key, value);
	l->key = strdup(key);
	l->value = strdup(value);
	strcpy(l->eol, vmx->eol);
	if (!l->raw || !l->key || !l->value) {
		line_clear(l);
		vmx->n--;
		return KF_ENOMEM;
	}
	return 0;
}

int kf_vmx_remove(struct kf_vmx *vmx, const char *key)
{
	size_t k = 0;
	int removed = 0;

	for (size_t i = 0; i < vmx->n; i++) {
		struct vmx_line *l = &vmx->lines[i];
		if (l->key && strcasecmp(l->key, key) == 0) {
			line_clear(l);
			removed++;
			continue;
		}
		vmx->lines[k++] = *l;
	}
	vmx->n = k;
	return removed;
}

size_t kf_vmx_count(const struct kf_vmx *vmx)
{
	size_t n = 0;

	for (size_t i = 0; i < vmx->n; i++)
		if (vmx->lines[i].key)
			n++;
	return n;
}

static const struct vmx_line *kv_at(const struct kf_vmx *vmx, size_t idx)
{
	for (size_t i = 0; i < vmx->n; i++)
		if (vmx->lines[i].key && idx-- == 0)
			return &vmx->lines[i];
	return NULL;
}

const char *kf_vmx_key_at(const struct kf_vmx *vmx, size_t i)
{
	const struct vmx_line *l = kv_at(vmx, i);

	return l ? l->key : NULL;
}

const char *kf_vmx_value_at(const struct kf_vmx *vmx, size_t i)
{
	const struct vmx_line *l = kv_at(vmx, i);

	return l ? l->value : NULL;
}

int kf_vmx_detach_cdroms(struct kf_vmx *vmx)
{
	static const char suffix[] = ".devicetype";
	char devs[64][64];
	int ndev = 0, changed = 0;

	for (size_t i = 0; i < vmx->n && ndev < 64; i++) {
		const struct vmx_line *l = &vmx->lines[i];
		size_t kl;
		if (!l->key)
			continue;
		kl = strlen(l->key);
		if (kl <= sizeof(suffix) - 1 || kl - (sizeof(suffix) - 1) >= sizeof(devs[0]) ||
		    strcasecmp(l->key + kl - (sizeof(suffix) - 1), suffix) != 0 ||
		    strncasecmp(l->value, "cdrom-", 6) != 0)
			continue;
		snprintf(devs[ndev], sizeof(devs[0]), "%.*s", (int)(kl - (sizeof(suffix) - 1)), l->key);
		ndev++;
	}
	for (int d = 0; d < ndev; d++) {
		static const char *const want[][2] = { { "deviceType", "cdrom-raw" },
						       { "fileName", "auto detect" },
						       { "startConnected", "FALSE" } };
		bool differs = false;
		for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
			char k[sizeof(devs[0]) + 32];
			const char *cur;
			snprintf(k, sizeof(k), "%.63s.%s", devs[d], want[w][0]);
			cur = kf_vmx_get(vmx, k);
			differs |= !cur || strcasecmp(cur, want[w][1]) != 0;
			if (kf_vmx_set(vmx, k, want[w][1]))
				return KF_ENOMEM;
		}
		if (differs)
			changed++;
	}
	return changed;
}

char *kf_vmx_format(const struct kf_vmx *vmx)
{
	struct kf_buf b;

	kf_buf_init(&b, 0);
	if (kf_buf_puts(&b, "") != 0)
		return NULL;
	for (size_t i = 0; i < vmx->n; i++) {
		if (kf_buf_puts(&b, vmx->lines[i].raw) || kf_buf_puts(&b, vmx->lines[i].eol)) {
			kf_buf_free(&b);
			return NULL;
		}
	}
	return kf_buf_detach(&b);
}

int kf_vmx_save(const struct kf_vmx *vmx, const char *path, struct kf_err *err)
{
	char *text = kf_vmx_format(vmx);
	int r;

	if (!text)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_fs_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return r;
}

char *kf_vmx_vnet_value(const char *vmnet, bool windows_host)
{
	char *out = NULL;
	unsigned n;
	char extra;

	if (!vmnet || strncasecmp(vmnet, "vmnet", 5) != 0 ||
	    sscanf(vmnet + 5, "%u%c", &n, &extra) != 1 || n > 255 ||
	    !isdigit((unsigned char)vmnet[5]))
		return NULL;
	if (asprintf(&out, windows_host ? "VMnet%u" : "/dev/vmnet%u", n) < 0)
		return NULL;
	return out;
}

/* The writer: a table of fixed keys, then the node's own values. */
int kf_vmx_build(struct kf_vmx **out, const struct kf_vmx_spec *s, struct kf_err *err)
{
	struct kf_vmx *v;
	char num[32];
	int r = 0;
	bool efi;

	*out = NULL;
	if (!s->display_name || !s->disk_file || !s->installer_iso || !s->seed_iso || !s->vnet ||
	    !s->mac || !s->nvram || s->cpus < 1 || s->memory_mb < 4 || s->hw_version < 4)
		return kf_err_set(err, KF_EUSAGE, "VMX for %s: incomplete specification",
				  s->display_name ? s->display_name : "(unnamed node)");
	if (!kf_vmx_mac_is_static(s->mac))
		return kf_err_set(err, KF_ECONFIG,
				  "VMX for %s: MAC %s is not in VMware's static range "
				  "00:50:56:00:00:00-00:50:56:3F:FF:FF; pick one there or leave mac unset",
				  s->display_name, s->mac);
	efi = s->firmware && strcmp(s->firmware, "efi") == 0;
	if (s->firmware && !efi && strcmp(s->firmware, "bios") != 0)
		return kf_err_set(err, KF_ECONFIG, "VMX for %s: firmware '%s' must be bios or efi",
				  s->display_name, s->firmware);
	if (efi)
		return kf_err_set(err, KF_EUNSUPPORTED, "%s", KF_VMX_EFI_REFUSED);
	v = vmx_new();
	if (!v)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
#define SET(k, val)                              \
	do {                                     \
		if (!r)                          \
			r = kf_vmx_set(v, k, val); \
	} while (0)
	SET(".encoding", "UTF-8");
	SET("config.version", "8");
	snprintf(num, sizeof(num), "%d", s->hw_version);
	SET("virtualHW.version", num);
	SET("virtualHW.productCompatibility", "hosted");
	SET("displayName", s->display_name);
	if (s->annotation)
		SET("annotation", s->annotation);
	SET("guestOS", "ubuntu-64");
	SET("firmware", efi ? "efi" : "bios");
	/* The disk first, so a finished install boots it and never reinstalls; `hdd` in bootOrder
	 * needs bios.hddOrder naming the disk, else it is skipped and the CD's 3 s autoinstall
	 * entry wipes the disk again (VMware KB 2011654, "Changing the boot order of a virtual
	 * machine using vmx options"). The disk is scsi0:0 below. BIOS firmware only: with EFI
	 * the ISOs must be detached before the reboot (docs/upstream.md). */
	SET("bios.bootOrder", "hdd,cdrom");
	SET("bios.hddOrder", "scsi0:0");
	snprintf(num, sizeof(num), "%d", s->cpus);
	SET("numvcpus", num);
	snprintf(num, sizeof(num), "%d", s->memory_mb);
	SET("memsize", num);
	SET("nvram", s->nvram);
	SET("pciBridge0.present", "TRUE");
	for (int i = 4; i <= 7; i++) {
		char k[48];
		snprintf(k, sizeof(k), "pciBridge%d.present", i);
		SET(k, "TRUE");
		snprintf(k, sizeof(k), "pciBridge%d.virtualDev", i);
		SET(k, "pcieRootPort");
		snprintf(k, sizeof(k), "pciBridge%d.functions", i);
		SET(k, "8");
	}
	SET("vmci0.present", "TRUE");
	SET("hpet0.present", "TRUE");
	SET("floppy0.present", "FALSE");
	SET("scsi0.present", "TRUE");
	SET("scsi0.virtualDev", "lsilogic");
	SET("scsi0:0.present", "TRUE");
	SET("scsi0:0.fileName", s->disk_file);
	SET("ide0:0.present", "TRUE");
	SET("ide0:0.deviceType", "cdrom-image");
	SET("ide0:0.fileName", s->installer_iso);
	SET("ide0:0.startConnected", "TRUE");
	SET("ide0:1.present", "TRUE");
	SET("ide0:1.deviceType", "cdrom-image");
	SET("ide0:1.fileName", s->seed_iso);
	SET("ide0:1.startConnected", "TRUE");
	SET("ethernet0.present", "TRUE");
	SET("ethernet0.connectionType", "custom");
	SET("ethernet0.vnet", s->vnet);
	SET("ethernet0.virtualDev", "vmxnet3");
	SET("ethernet0.addressType", "static");
	SET("ethernet0.address", s->mac);
	SET("ethernet0.startConnected", "TRUE");
	SET("tools.syncTime", "TRUE");
	SET("tools.upgrade.policy", "manual");
	SET("msg.autoAnswer", "TRUE");
	SET("uuid.action", "create");
	SET("cleanShutdown", "TRUE");
	SET("powerType.powerOff", "soft");
	SET("powerType.powerOn", "soft");
	SET("powerType.reset", "soft");
	SET("powerType.suspend", "soft");
#undef SET
	if (r) {
		kf_vmx_free(v);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	*out = v;
	return 0;
}

void kf_vmx_mac_derive(char out[KF_VMX_MAC_LEN + 1], const char *cluster, const char *node,
		       unsigned attempt)
{
	char hex[KF_SHA256_HEX_LEN + 1];
	struct kf_sha256 *h = kf_sha256_new();
	unsigned char b[3];
	char att[16];

	snprintf(att, sizeof(att), "%u", attempt);
	/* Tagged and NUL-separated so ("ab","c") and ("a","bc") differ. */
	kf_sha256_update(h, "k3sforge-mac", 13);
	kf_sha256_update(h, cluster, strlen(cluster) + 1);
	kf_sha256_update(h, node, strlen(node) + 1);
	kf_sha256_update(h, att, strlen(att) + 1);
	kf_sha256_final_hex(h, hex);
	for (int i = 0; i < 3; i++)
		b[i] = (unsigned char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
	snprintf(out, KF_VMX_MAC_LEN + 1, "00:50:56:%02x:%02x:%02x", b[0] & 0x3f, b[1], b[2]);
}

bool kf_vmx_mac_is_static(const char *mac)
{
	int v[6];

	if (!mac || strlen(mac) != KF_VMX_MAC_LEN)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(mac[3 * i]), lo = hexval(mac[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && mac[3 * i + 2] != ':'))
			return false;
		v[i] = hi * 16 + lo;
	}
	return v[0] == 0x00 && v[1] == 0x50 && v[2] == 0x56 && v[3] <= 0x3f;
}

int kf_vmx_assign_macs(char (*out)[KF_VMX_MAC_LEN + 1], const char *cluster,
		       const char *const *names, const char *const *explicit, size_t n,
		       struct kf_err *err)
{
	/* Configured addresses first, so a derived one never takes an address a later node
	 * asked for. */
	for (size_t i = 0; i < n; i++) {
		out[i][0] = '\0';
		if (!explicit || !explicit[i])
			continue;
		if (!kf_vmx_mac_is_static(explicit[i]))
			return kf_err_set(err, KF_ECONFIG,
					  "node %s: mac %s is not in VMware's static range "
					  "00:50:56:00:00:00-00:50:56:3F:FF:FF; pick one there or "
					  "leave mac unset to derive one",
					  names[i], explicit[i]);
		for (size_t j = 0; j < i; j++)
			if (explicit[j] && strcasecmp(explicit[j], explicit[i]) == 0)
				return kf_err_set(err, KF_ECONFIG,
						  "nodes %s and %s have the same mac %s; give each "
						  "node its own",
						  names[j], names[i], explicit[i]);
		for (size_t k = 0; k <= KF_VMX_MAC_LEN; k++)
			out[i][k] = (char)tolower((unsigned char)explicit[i][k]);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned attempt = 0;
		if (out[i][0])
			continue;
		do {
			char cand[KF_VMX_MAC_LEN + 1];
			bool clash = false;
			kf_vmx_mac_derive(cand, cluster, names[i], attempt++);
			for (size_t j = 0; j < n && !clash; j++)
				clash = j != i && out[j][0] && strcasecmp(out[j], cand) == 0;
			if (!clash) {
				memcpy(out[i], cand, sizeof(cand));
				break;
			}
		} while (attempt < 1000);
		if (!out[i][0])
			return kf_err_set(err, KF_ELIMIT, "node %s: no free MAC found", names[i]);
	}
	return 0;
}
