/* The built-in configuration (the seeds' lab), freeing, and small lookups. Parsing and
 * validation of k3sforge.yaml live in config_yaml.c and config_load.c (with config_values.c,
 * config_sections.c, config_checks.c). */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/strv.h"

static const char *const default_mirrors[] = { "docker.io", "registry.k8s.io", "quay.io", "ghcr.io" };

static char **strv_dup(const char *const *v, size_t n)
{
	char **r = calloc(n ? n : 1, sizeof(char *));

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		r[i] = strdup(v[i]);
		if (!r[i]) {
			for (size_t j = 0; j < i; j++)
				free(r[j]);
			free(r);
			return NULL;
		}
	}
	return r;
}

static int add_node(struct kf_config *c, const char *name, enum kf_role role, const char *ip,
		    int cpus, int mem)
{
	struct kf_node *n = &c->nodes[c->n_nodes++];

	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	n->role = role;
	n->ip = strdup(ip);
	n->cpus = cpus;
	n->memory_mb = mem;
	n->disk_gb = 40;
	n->ssh_port = 22;
	return n->name && n->ip ? 0 : KF_ENOMEM;
}

int kf_config_default(struct kf_config **out, struct kf_err *err)
{
	struct kf_config *c = calloc(1, sizeof(*c));
	int r = 0;

	*out = NULL;
	if (!c)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	c->cluster_name = strdup("lab");
	/* the release, not the seeds' v1.33.4-rc1+k3s1 (a pre-release of the same commit) */
	c->k3s.version = strdup("v1.33.4+k3s1");
	c->k3s.release_url = strdup("https://github.com/k3s-io/k3s/releases/download");
	c->k3s.install_script_url = strdup("https://get.k3s.io");
	c->network.vmnet = strdup("VMnet1");
	c->network.subnet = strdup("192.168.6.0/24");
	c->network.subnet_addr = (192u << 24) | (168u << 16) | (6u << 8);
	c->network.prefix = 24;
	c->network.gateway = strdup("192.168.6.1");
	c->network.dns = strv_dup((const char *const[]){ "192.168.6.1" }, 1);
	c->network.n_dns = 1;
	c->registry.host_ip = strdup("192.168.6.1");
	c->registry.port = 5000;
	c->registry.server = strdup("auto");
	c->registry.mirrors = strv_dup(default_mirrors, 4);
	c->registry.n_mirrors = 4;
	c->nodes = calloc(3, sizeof(struct kf_node));
	if (c->nodes) {
		r |= add_node(c, "k3s-master1", KF_ROLE_MASTER, "192.168.6.10", 2, 4096);
		r |= add_node(c, "k3s-worker1", KF_ROLE_WORKER, "192.168.6.11", 2, 4096);
		r |= add_node(c, "k3s-worker2", KF_ROLE_WORKER, "192.168.6.12", 2, 4096);
	}
	c->vmware.vmrun = strdup("auto");
	c->vmware.firmware = strdup("bios");
	c->vmware.hw_version = 21;
	c->qemu.binary = strdup("auto");
	c->qemu.accel = strdup("auto");
	c->qemu.bridge = strdup("k3sbr0");
	c->qemu.bridge_helper = strdup("auto");
	c->guest.user = strdup("ubuntu");
	c->guest.timezone = strdup("Asia/Seoul");
	c->guest.locale = strdup("en_US.UTF-8");
	c->guest.keyboard = strdup("us");
	/* No extra package by default: offline the installer can install only what the ISO holds,
	 * and build-iso checks guest.packages against it (src/iso/pool.c). */
	c->guest.packages = strv_dup(NULL, 0);
	c->guest.n_packages = 0;
	c->addons.kubesphere = true;
	c->addons.kubesphere_version = strdup("v4.1.3");
	c->addons.kubesphere_chart = strdup("https://charts.kubesphere.io/main/ks-core-1.1.4.tgz");
	c->timeouts.wait_s = 1200;
	c->timeouts.ssh_connect_s = 10;
	c->timeouts.finalize_s = 900;
	c->timeouts.vmrun_s = 120;
	c->timeouts.download_s = 60;
	if (r || !c->nodes || !c->cluster_name || !c->k3s.version || !c->network.dns ||
	    !c->registry.mirrors || !c->guest.packages || !c->addons.kubesphere_chart ||
	    !c->qemu.binary || !c->qemu.accel || !c->qemu.bridge || !c->qemu.bridge_helper) {
		kf_config_free(c);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void kf_config_free(struct kf_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->cluster_name);
	free(c->k3s.version);
	free(c->k3s.release_url);
	free(c->k3s.install_script_url);
	free(c->k3s.install_script_sha256);
	kf_strv_free(c->k3s.disable, c->k3s.n_disable);
	free(c->k3s.pause_image);
	free(c->network.vmnet);
	free(c->network.subnet);
	free(c->network.gateway);
	kf_strv_free(c->network.dns, c->network.n_dns);
	free(c->registry.host_ip);
	free(c->registry.storage_dir);
	free(c->registry.server);
	free(c->registry.binary);
	free(c->registry.listen);
	kf_strv_free(c->registry.extra_sans, c->registry.n_extra_sans);
	kf_strv_free(c->registry.mirrors, c->registry.n_mirrors);
	for (size_t i = 0; c->nodes && i < c->n_nodes; i++) {
		free(c->nodes[i].name);
		free(c->nodes[i].ip);
		free(c->nodes[i].mac);
		free(c->nodes[i].ssh_host);
	}
	free(c->nodes);
	free(c->images.list_file);
	for (size_t i = 0; c->images.refs && i < c->images.n_refs; i++) {
		free(c->images.refs[i].source);
		free(c->images.refs[i].target);
		free(c->images.refs[i].file);
	}
	free(c->images.refs);
	free(c->images.source_registry);
	free(c->paths.ubuntu_iso);
	free(c->paths.vm_dir);
	free(c->vmware.vmrun);
	free(c->vmware.firmware);
	free(c->qemu.binary);
	free(c->qemu.accel);
	free(c->qemu.bridge);
	free(c->qemu.bridge_helper);
	free(c->guest.user);
	free(c->guest.timezone);
	free(c->guest.locale);
	free(c->guest.keyboard);
	kf_strv_free(c->guest.packages, c->guest.n_packages);
	free(c->guest.debs);
	free(c->guest.image);
	free(c->addons.kubesphere_version);
	free(c->addons.kubesphere_chart);
	free(c->addons.kubesphere_chart_sha256);
	kf_freezero_str(c->addons.admin_password);
	free(c);
}

const struct kf_node *kf_config_master(const struct kf_config *cfg)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (cfg->nodes[i].role == KF_ROLE_MASTER)
			return &cfg->nodes[i];
	return NULL;
}

const struct kf_node *kf_config_node(const struct kf_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].name, name) == 0)
			return &cfg->nodes[i];
	return NULL;
}

const char *kf_role_name(enum kf_role role)
{
	return role == KF_ROLE_MASTER ? "master" : "worker";
}
