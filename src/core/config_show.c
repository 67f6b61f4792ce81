/* `config show`: the effective configuration as YAML that kf_config_load reads back to the same
 * values. Every default is written out; values that are deliberately unset (computed later or
 * not pinned) are written as comments saying what happens instead; secrets are "***". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "k3sforge/buf.h"

static bool reserved_word(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on", "off", "null",
					     "y", "n", "~" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

/* Plain when it cannot be read as anything but this string; double-quoted otherwise. */
static void put_scalar(struct kf_buf *b, const char *s)
{
	if (!s)
		s = "";
	/* Starting with a letter, '_' or '/' keeps numbers (0x1f, 1e3), .inf and the like quoted
	 * for YAML 1.1 readers too. */
	bool plain = *s && (isalpha((unsigned char)*s) || *s == '_' || *s == '/') &&
		     !reserved_word(s);

	for (const char *c = s; *c && plain; c++)
		plain = isalnum((unsigned char)*c) || strchr("_./+@-", *c);
	if (plain) {
		kf_buf_puts(b, s);
		return;
	}
	kf_buf_putc(b, '"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			kf_buf_printf(b, "\\%c", *c);
		else if (*c == '\n')
			kf_buf_puts(b, "\\n");
		else if (*c == '\t')
			kf_buf_puts(b, "\\t");
		else if (*c < 0x20 || *c == 0x7f)
			kf_buf_printf(b, "\\x%02x", *c);
		else
			kf_buf_putc(b, (char)*c);
	}
	kf_buf_putc(b, '"');
}

static void kv(struct kf_buf *b, int indent, const char *key, const char *value)
{
	kf_buf_printf(b, "%*s%s: ", indent, "", key);
	put_scalar(b, value);
	kf_buf_putc(b, '\n');
}

/* key: value, or a comment explaining the default when value is NULL. */
static void kv_opt(struct kf_buf *b, int indent, const char *key, const char *value,
		   const char *when_unset)
{
	if (value)
		kv(b, indent, key, value);
	else
		kf_buf_printf(b, "%*s# %s: %s\n", indent, "", key, when_unset);
}

static void kint(struct kf_buf *b, int indent, const char *key, long v)
{
	kf_buf_printf(b, "%*s%s: %ld\n", indent, "", key, v);
}

static void klist(struct kf_buf *b, int indent, const char *key, char *const *v, size_t n)
{
	if (n == 0) {
		kf_buf_printf(b, "%*s%s: []\n", indent, "", key);
		return;
	}
	kf_buf_printf(b, "%*s%s:\n", indent, "", key);
	for (size_t i = 0; i < n; i++) {
		kf_buf_printf(b, "%*s  - ", indent, "");
		put_scalar(b, v[i]);
		kf_buf_putc(b, '\n');
	}
}

static void kdur(struct kf_buf *b, const char *key, int s)
{
	if (s >= 3600 && s % 3600 == 0)
		kf_buf_printf(b, "  %s: %dh\n", key, s / 3600);
	else if (s >= 60 && s % 60 == 0)
		kf_buf_printf(b, "  %s: %dm\n", key, s / 60);
	else
		kf_buf_printf(b, "  %s: %ds\n", key, s);
}

static void show_images(struct kf_buf *b, const struct kf_config *c)
{
	size_t n_inline = 0;

	kf_buf_puts(b, "images:\n");
	kv_opt(b, 2, "list", c->images.list_file, "none (only inline images)");
	for (size_t i = 0; i < c->images.n_refs; i++)
		if (!c->images.list_file || strcmp(c->images.refs[i].file, c->images.list_file) != 0)
			n_inline++;
	if (n_inline == 0) {
		kf_buf_puts(b, "  inline: []\n");
	} else {
		kf_buf_puts(b, "  inline:\n");
		for (size_t i = 0; i < c->images.n_refs; i++) {
			const struct kf_image_ref *r = &c->images.refs[i];
			char *line = NULL;
			if (c->images.list_file && strcmp(r->file, c->images.list_file) == 0)
				continue;
			if (r->target && asprintf(&line, "%s %s", r->source, r->target) < 0)
				line = NULL;
			kf_buf_puts(b, "    - ");
			put_scalar(b, r->target ? (line ? line : r->source) : r->source);
			kf_buf_putc(b, '\n');
			free(line);
		}
	}
	kv_opt(b, 2, "source_registry", c->images.source_registry,
	       "none (images are pulled from their own registries)");
}

char *kf_config_show(const struct kf_config *c)
{
	struct kf_buf b;

	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "# k3sforge effective configuration: every default filled in, secrets as ***\n");
	if (c->path)
		kf_buf_printf(&b, "# loaded from %s\n", c->path);
	kf_buf_puts(&b, "cluster:\n");
	kv(&b, 2, "name", c->cluster_name);
	kv(&b, 0, "hypervisor", c->hypervisor == KF_HV_QEMU ? "qemu" : "vmware");

	kf_buf_puts(&b, "k3s:\n");
	kv(&b, 2, "version", c->k3s.version);
	kv(&b, 2, "release_url", c->k3s.release_url);
	kv(&b, 2, "install_script_url", c->k3s.install_script_url);
	kv_opt(&b, 2, "install_script_sha256", c->k3s.install_script_sha256, "not pinned");
	klist(&b, 2, "disable", c->k3s.disable, c->k3s.n_disable);
	kv_opt(&b, 2, "pause_image", c->k3s.pause_image,
	       "not pinned (the release's own, from k3s-images.txt)");

	kf_buf_puts(&b, "network:\n");
	kv(&b, 2, "vmnet", c->network.vmnet);
	kv(&b, 2, "subnet", c->network.subnet);
	kv(&b, 2, "gateway", c->network.gateway);
	klist(&b, 2, "dns", c->network.dns, c->network.n_dns);

	kf_buf_puts(&b, "registry:\n");
	kv(&b, 2, "host_ip", c->registry.host_ip);
	kint(&b, 2, "port", c->registry.port);
	kv_opt(&b, 2, "storage_dir", c->registry.storage_dir, "<out>/registry/data");
	kv(&b, 2, "server", c->registry.server);
	kv_opt(&b, 2, "binary", c->registry.binary, "searched on PATH");
	if (c->registry.listen) {
		kv(&b, 2, "listen", c->registry.listen);
	} else {
		char l[32];
		snprintf(l, sizeof(l), "0.0.0.0:%d", c->registry.port);
		kv(&b, 2, "listen", l);
	}
	klist(&b, 2, "extra_sans", c->registry.extra_sans, c->registry.n_extra_sans);
	klist(&b, 2, "mirrors", c->registry.mirrors, c->registry.n_mirrors);

	kf_buf_puts(&b, "nodes:\n");
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct kf_node *n = &c->nodes[i];
		kf_buf_puts(&b, "  - name: ");
		put_scalar(&b, n->name);
		kf_buf_putc(&b, '\n');
		kv(&b, 4, "role", kf_role_name(n->role));
		kv(&b, 4, "ip", n->ip);
		kint(&b, 4, "cpus", n->cpus);
		kf_buf_printf(&b, "    memory: %dMiB\n", n->memory_mb);
		kf_buf_printf(&b, "    disk: %dGiB\n", n->disk_gb);
		kv_opt(&b, 4, "mac", n->mac, "derived from the cluster and node name");
		if (n->ssh_host) {
			char s[300];
			snprintf(s, sizeof(s), "%s:%d", n->ssh_host, n->ssh_port);
			kv(&b, 4, "ssh", s);
		} else {
			kf_buf_printf(&b, "    # ssh: %s:%d\n", n->ip, n->ssh_port);
		}
	}

	show_images(&b, c);

	kf_buf_puts(&b, "paths:\n");
	kv_opt(&b, 2, "ubuntu_iso", c->paths.ubuntu_iso, "not set (build-iso needs it)");
	kv_opt(&b, 2, "vm_dir", c->paths.vm_dir, "<out>/vms");

	kf_buf_puts(&b, "vmware:\n");
	kv(&b, 2, "vmrun", c->vmware.vmrun);
	kv(&b, 2, "firmware", c->vmware.firmware);
	kint(&b, 2, "hw_version", c->vmware.hw_version);
	kv(&b, 2, "host_checks", c->vmware.host_checks_warn ? "warn" : "enforce");

	kf_buf_puts(&b, "qemu:\n");
	kv(&b, 2, "binary", c->qemu.binary);
	kv(&b, 2, "accel", c->qemu.accel);
	kv(&b, 2, "bridge", c->qemu.bridge);
	kv(&b, 2, "bridge_helper", c->qemu.bridge_helper);

	kf_buf_puts(&b, "guest:\n");
	kv(&b, 2, "user", c->guest.user);
	kv(&b, 2, "timezone", c->guest.timezone);
	kv(&b, 2, "locale", c->guest.locale);
	kv(&b, 2, "keyboard", c->guest.keyboard);
	klist(&b, 2, "packages", c->guest.packages, c->guest.n_packages);
	kv_opt(&b, 2, "debs", c->guest.debs, "none");
	kv_opt(&b, 2, "image", c->guest.image, "none: installer mode (the remastered Ubuntu ISO)");

	kf_buf_puts(&b, "addons:\n  kubesphere:\n");
	kf_buf_printf(&b, "    enabled: %s\n", c->addons.kubesphere ? "true" : "false");
	kv(&b, 4, "version", c->addons.kubesphere_version);
	kv(&b, 4, "chart", c->addons.kubesphere_chart);
	kv_opt(&b, 4, "chart_sha256", c->addons.kubesphere_chart_sha256, "not pinned");
	kv_opt(&b, 4, "admin_password", c->addons.admin_password ? "***" : NULL,
	       "generated by prep");

	kf_buf_puts(&b, "timeouts:\n");
	kdur(&b, "wait", c->timeouts.wait_s);
	kdur(&b, "ssh_connect", c->timeouts.ssh_connect_s);
	kdur(&b, "finalize", c->timeouts.finalize_s);
	kdur(&b, "vmrun", c->timeouts.vmrun_s);
	kdur(&b, "download", c->timeouts.download_s);
	return kf_buf_detach(&b);
}
