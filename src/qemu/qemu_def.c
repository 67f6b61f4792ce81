/* The QEMU VM's definition (<folder>/<node>.qemu.json: what VMware keeps in the .vmx) and the
 * command line made from it. The file is k3sforge's own, but it is read back from disk, so it
 * is checked like input from outside: bounded size, known keys, types, file names that stay in
 * the folder, absolute media paths. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "k3sforge/qemu.h"

static const char *const def_keys[] = { "node", "cpus", "memory_mb", "mac", "disk", "bridge",
					"media" };

static bool plain_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool mac_ok(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	/* unicast: the low bit of the first octet clear */
	return (strtol(s, NULL, 16) & 1) == 0;
}

static int get_str(char **dst, json_t *root, const char *key, struct kf_err *err)
{
	json_t *v = json_object_get(root, key);
	const char *s = json_string_value(v);

	if (!s)
		return kf_err_set(err, KF_EPARSE, "VM definition: '%s' must be a string", key);
	if (strlen(s) != json_string_length(v) || strlen(s) > 4096)
		return kf_err_set(err, KF_EPARSE, "VM definition: '%s' is not a usable string", key);
	if (!(*dst = strdup(s)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	return 0;
}

static int get_int(int *dst, json_t *root, const char *key, long min, long max,
		   struct kf_err *err)
{
	json_t *v = json_object_get(root, key);
	json_int_t n;

	if (!json_is_integer(v))
		return kf_err_set(err, KF_EPARSE, "VM definition: '%s' must be a whole number", key);
	n = json_integer_value(v);
	if (n < min || n > max)
		return kf_err_set(err, KF_EPARSE, "VM definition: '%s' %lld is out of range %ld..%ld",
				  key, (long long)n, min, max);
	*dst = (int)n;
	return 0;
}

int kf_qemu_def_parse(struct kf_qemu_def *out, const char *text, size_t len, struct kf_err *err)
{
	json_error_t je;
	json_t *root, *media;
	const char *key;
	json_t *val;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > KF_QEMU_DEF_MAX)
		return kf_err_set(err, KF_EPARSE, "VM definition of %zu bytes is over the %zu limit",
				  len, KF_QEMU_DEF_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kf_err_set(err, KF_EPARSE, "VM definition is not JSON (%s, line %d)", je.text,
				  je.line);
	if (!json_is_object(root)) {
		r = kf_err_set(err, KF_EPARSE, "VM definition is not a JSON object");
		goto out;
	}
	json_object_foreach(root, key, val) {
		bool known = false;
		for (size_t i = 0; i < sizeof(def_keys) / sizeof(def_keys[0]); i++)
			known |= strcmp(key, def_keys[i]) == 0;
		if (!known) {
			r = kf_err_set(err, KF_EPARSE, "VM definition: unknown key '%.64s'", key);
			goto out;
		}
	}
	if ((r = get_str(&out->node, root, "node", err)) != 0 ||
	    (r = get_int(&out->cpus, root, "cpus", 1, 64, err)) != 0 ||
	    (r = get_int(&out->memory_mb, root, "memory_mb", 128, 1024 * 1024, err)) != 0 ||
	    (r = get_str(&out->mac, root, "mac", err)) != 0 ||
	    (r = get_str(&out->disk, root, "disk", err)) != 0 ||
	    (r = get_str(&out->bridge, root, "bridge", err)) != 0)
		goto out;
	if (!plain_name(out->node) || !plain_name(out->disk)) {
		r = kf_err_set(err, KF_EPARSE, "VM definition: node and disk must be plain file "
			       "names in the VM's folder");
		goto out;
	}
	if (!mac_ok(out->mac)) {
		r = kf_err_set(err, KF_EPARSE, "VM definition: mac '%.32s' is not a unicast MAC "
			       "address like 00:50:56:01:02:03", out->mac);
		goto out;
	}
	if (!*out->bridge || strlen(out->bridge) > 15) {
		r = kf_err_set(err, KF_EPARSE, "VM definition: bridge is not an interface name");
		goto out;
	}
	media = json_object_get(root, "media");
	if (!json_is_array(media) || json_array_size(media) > KF_QEMU_MAX_MEDIA) {
		r = kf_err_set(err, KF_EPARSE, "VM definition: 'media' must be a list of at most %d "
			       "paths", KF_QEMU_MAX_MEDIA);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(media); i++) {
		const char *p = json_string_value(json_array_get(media, i));
		if (!p || p[0] != '/' || strlen(p) > 4096 || strpbrk(p, "\n\r")) {
			r = kf_err_set(err, KF_EPARSE, "VM definition: media[%zu] is not an absolute "
				       "path", i);
			goto out;
		}
		if (!(out->media[i] = strdup(p))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		out->n_media = i + 1;
	}
	r = 0;
out:
	json_decref(root);
	if (r)
		kf_qemu_def_free(out);
	return r;
}

char *kf_qemu_def_dump(const struct kf_qemu_def *d)
{
	json_t *media = json_array(), *o;
	char *s;

	for (size_t i = 0; media && i < d->n_media; i++)
		json_array_append_new(media, json_string(d->media[i]));
	o = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:o}", "node", d->node, "cpus", d->cpus,
		      "memory_mb", d->memory_mb, "mac", d->mac, "disk", d->disk, "bridge",
		      d->bridge, "media", media);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

void kf_qemu_def_free(struct kf_qemu_def *d)
{
	if (!d)
		return;
	free(d->node);
	free(d->mac);
	free(d->disk);
	free(d->bridge);
	for (size_t i = 0; i < d->n_media; i++)
		free(d->media[i]);
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------------------------------ */
/* The command line                                                                             */

char *kf_qemu_opt_escape(const char *s)
{
	size_t n = strlen(s), extra = 0;
	char *o, *p;

	for (size_t i = 0; i < n; i++)
		extra += s[i] == ',';
	if (!(o = malloc(n + extra + 1)))
		return NULL;
	for (p = o; *s; s++) {
		*p++ = *s;
		if (*s == ',')
			*p++ = ',';   /* QEMU's option syntax: ",," is a literal comma */
	}
	*p = '\0';
	return o;
}

void kf_qemu_tap_name(char out[16], const char *folder)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)folder, strlen(folder), md);
	snprintf(out, 16, "kf%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4], md[5]);
}

struct argv_b {
	char **v;
	size_t n, cap;
	bool oom;
};

static void add(struct argv_b *a, char *s)
{
	if (!s || a->oom) {
		a->oom = true;
		free(s);
		return;
	}
	if (a->n + 2 > a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		char **nv = realloc(a->v, nc * sizeof(char *));
		if (!nv) {
			a->oom = true;
			free(s);
			return;
		}
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void addf(struct argv_b *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct argv_b *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	add(a, s);
}

char **kf_qemu_argv(const struct kf_qemu_def *d, const char *binary, const char *accel,
		    const char *folder, const struct kf_qemu_net *net, const char *loadvm)
{
	struct argv_b a = { 0 };
	char *disk = NULL, *pid = NULL, *con = NULL, *tmp;

	if (asprintf(&disk, "%s/%s", folder, d->disk) < 0)
		disk = NULL;
	if (asprintf(&pid, "%s/%s", folder, KF_QEMU_PIDFILE) < 0)
		pid = NULL;
	if (asprintf(&con, "%s/%s", folder, KF_QEMU_CONSOLE) < 0)
		con = NULL;
	if (!disk || !pid || !con)
		goto fail;
	add(&a, strdup(binary));
	/* no default devices (NIC, CD, VGA, monitor): only what the lab asks for */
	add(&a, strdup("-nodefaults"));
	add(&a, strdup("-no-user-config"));
	add(&a, strdup("-name"));
	add(&a, kf_qemu_opt_escape(d->node));
	add(&a, strdup("-machine"));
	addf(&a, "pc,accel=%s", accel);
	if (strcmp(accel, "kvm") == 0) {
		add(&a, strdup("-cpu"));
		add(&a, strdup("host"));
	}
	add(&a, strdup("-smp"));
	addf(&a, "%d", d->cpus);
	add(&a, strdup("-m"));
	addf(&a, "%d", d->memory_mb);
	add(&a, strdup("-display"));
	add(&a, strdup("none"));
	add(&a, strdup("-vga"));
	add(&a, strdup("std"));
	add(&a, strdup("-rtc"));
	add(&a, strdup("base=utc"));
	/* Named block nodes: snapshot-save/-load/-delete take node names (QEMU qapi/migration.json,
	 * SnapshotSave: "vmstate" and "devices" are node names). */
	add(&a, strdup("-blockdev"));
	tmp = kf_qemu_opt_escape(disk);
	addf(&a, "driver=file,filename=%s,node-name=disk0-file", tmp ? tmp : "");
	free(tmp);
	add(&a, strdup("-blockdev"));
	add(&a, strdup("driver=qcow2,file=disk0-file,node-name=disk0"));
	add(&a, strdup("-device"));
	add(&a, strdup("virtio-blk-pci,drive=disk0,bootindex=1"));
	for (size_t i = 0; i < d->n_media; i++) {
		tmp = kf_qemu_opt_escape(d->media[i]);
		add(&a, strdup("-blockdev"));
		addf(&a, "driver=file,filename=%s,node-name=cd%zu-file,read-only=on", tmp ? tmp : "",
		     i);
		free(tmp);
		add(&a, strdup("-blockdev"));
		addf(&a, "driver=raw,file=cd%zu-file,node-name=cd%zu,read-only=on", i, i);
		add(&a, strdup("-device"));
		/* the pc machine's IDE: two buses, two units each; the id names the drive to
		 * QMP (detach_media_live ejects by it) */
		addf(&a, "ide-cd,id=cdrom%zu,drive=cd%zu,bus=ide.%zu,unit=%zu,bootindex=%zu", i, i,
		     i / 2, i % 2, i + 2);
	}
	add(&a, strdup("-netdev"));
	if (net->tap) {
		addf(&a, "tap,id=net0,ifname=%s,script=no,downscript=no", net->tap);
	} else {
		tmp = kf_qemu_opt_escape(net->helper ? net->helper : "");
		addf(&a, "bridge,id=net0,br=%s,helper=%s", d->bridge, tmp ? tmp : "");
		free(tmp);
	}
	add(&a, strdup("-device"));
	addf(&a, "virtio-net-pci,netdev=net0,mac=%s", d->mac);
	add(&a, strdup("-serial"));
	addf(&a, "file:%s", con);
	/* QMP at a relative path: QEMU binds it in its working directory (the folder) before
	 * -daemonize moves it to / (os-posix.c os_setup_post), so a deep folder cannot overflow
	 * sun_path's 108 bytes. */
	add(&a, strdup("-chardev"));
	add(&a, strdup("socket,id=qmp,path=" KF_QEMU_QMP ",server=on,wait=off"));
	add(&a, strdup("-mon"));
	add(&a, strdup("chardev=qmp,mode=control"));
	add(&a, strdup("-pidfile"));
	add(&a, strdup(pid));
	if (loadvm) {
		add(&a, strdup("-loadvm"));
		add(&a, strdup(loadvm));
	}
	add(&a, strdup("-daemonize"));
	if (a.oom)
		goto fail;
	free(disk);
	free(pid);
	free(con);
	return a.v;
fail:
	free(disk);
	free(pid);
	free(con);
	kf_qemu_argv_free(a.v);
	return NULL;
}

void kf_qemu_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
