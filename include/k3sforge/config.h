/* k3sforge.yaml: the lab's configuration, parsed with libyaml into typed structs and validated
 * with file:line:col in every message. See docs/configuration.md for every key. */
#ifndef K3SFORGE_CONFIG_H
#define K3SFORGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/err.h"

enum kf_role { KF_ROLE_MASTER = 0, KF_ROLE_WORKER = 1 };

struct kf_node {
	char *name;
	enum kf_role role;
	char *ip;            /* dotted quad, inside network.subnet */
	int cpus;
	int memory_mb;
	int disk_gb;
	char *mac;           /* NULL: derived deterministically by the vmware module */
	char *ssh_host;      /* where SSH is reached; default = ip */
	int ssh_port;        /* default 22 */
	int line;            /* position in the file (0 for defaults) */
};

/* One line of the image list: `source` or `source target`. */
struct kf_image_ref {
	char *source;
	char *target;        /* NULL: same as source */
	char *file;          /* where it came from (config or list file), for messages */
	int line;
};

/* Which hypervisor runs the lab's VMs (the `hypervisor:` key; hypervisor.h). */
enum kf_hypervisor { KF_HV_VMWARE = 0, KF_HV_QEMU };

struct kf_config {
	char *path;                  /* file it was loaded from; NULL for pure defaults */
	char *cluster_name;          /* cluster.name: [a-z0-9-], default "lab" */
	enum kf_hypervisor hypervisor; /* default vmware */

	struct {
		char *version;             /* default v1.33.4+k3s1 (v1.33.4-rc1+k3s1 accepted) */
		char *release_url;         /* base URL of the release assets; default GitHub release */
		char *install_script_url;
		char *install_script_sha256; /* pinned digest of install.sh; NULL = not pinned */
		char **disable; size_t n_disable;  /* k3s --disable list; default empty */
		char *pause_image;         /* optional pin: k3s pause-image */
	} k3s;

	struct {
		char *vmnet;               /* default VMnet1 */
		char *subnet;              /* CIDR, default 192.168.6.0/24 */
		uint32_t subnet_addr;      /* host order */
		int prefix;
		char *gateway;             /* default 192.168.6.1 */
		char **dns; size_t n_dns;  /* default [gateway] */
	} network;

	struct {
		char *host_ip;             /* default 192.168.6.1 */
		int port;                  /* default 5000 */
		char *storage_dir;         /* default <out>/registry/data (NULL = that) */
		char *server;              /* auto | binary | docker */
		char *binary;              /* path to registry binary; NULL = search */
		char *listen;              /* listen address; default 0.0.0.0:<port> */
		char **extra_sans; size_t n_extra_sans;
		char **mirrors; size_t n_mirrors;  /* upstream registries mirrored; default docker.io,
		                                      registry.k8s.io, quay.io, ghcr.io */
	} registry;

	struct kf_node *nodes; size_t n_nodes;

	struct {
		char *list_file;           /* resolved relative to the config file */
		struct kf_image_ref *refs; size_t n_refs;   /* inline list + list file, in order */
		char *source_registry;     /* replaces the registry part of every source */
	} images;

	struct {
		char *ubuntu_iso;          /* Ubuntu 22.04.5 live-server ISO */
		char *vm_dir;              /* where VM folders go; default <out>/vms */
	} paths;

	struct {
		char *vmrun;               /* "auto" or a path */
		char *firmware;            /* bios | efi; default bios */
		int hw_version;            /* virtualHW.version, default 21 */
		bool host_checks_warn;     /* host_checks: warn (failed host checks do not stop
					    * create-vms); default enforce */
	} vmware;

	struct {
		char *binary;              /* "auto" (qemu-system-x86_64 on PATH) or a path */
		char *accel;               /* auto | kvm | tcg; default auto */
		char *bridge;              /* the host bridge carrying network.gateway; default k3sbr0 */
		char *bridge_helper;       /* "auto" or a path to qemu-bridge-helper (non-root) */
	} qemu;

	struct {
		char *user;                /* default "ubuntu" */
		char *timezone;            /* default Asia/Seoul */
		char **packages; size_t n_packages;  /* extra packages from the ISO; default none */
		char *debs;                /* directory of extra .deb files (absolute); NULL = none */
		char *locale;              /* default en_US.UTF-8 */
		char *keyboard;            /* default us */
		char *image;               /* image mode: a cloud image booted with the installed-
					    * system seed, no installer (absolute); NULL = installer */
	} guest;

	struct {
		bool kubesphere;           /* default true */
		char *kubesphere_version;  /* default v4.1.3 */
		char *kubesphere_chart;    /* ks-core chart URL or path */
		char *kubesphere_chart_sha256;
		char *admin_password;      /* secret; default NULL → generated in prep */
	} addons;

	struct {
		int wait_s;                /* default 1200 */
		int ssh_connect_s;         /* default 10 */
		int finalize_s;            /* default 900 */
		int vmrun_s;               /* default 120 */
		int download_s;            /* per-file stall timeout, default 60 */
	} timeouts;
};

/* A configuration with every default: the seeds' lab. */
int kf_config_default(struct kf_config **out, struct kf_err *err);
/* Loads and validates a file. Errors are "path:line:col: message" with KF_ECONFIG; hostile
 * input (size, depth, aliases, scalar length) is refused with KF_ELIMIT-as-KF_ECONFIG. */
int kf_config_load(struct kf_config **out, const char *path, struct kf_err *err);
/* Same, from memory; `name` is used in messages. */
int kf_config_load_mem(struct kf_config **out, const char *name, const char *data, size_t len,
		       struct kf_err *err);
/* Like load but collects every problem (not just the first): *messages gets *n strings
 * "path:line:col: message" sorted by position (caller frees each and the array; NULL when
 * valid). YAML syntax errors and hostile-input bounds stop early. Returns the number of problems
 * found (0 = valid), or <0 when the file cannot be read (KF_ENOTFOUND, KF_EIO). */
int kf_config_check(const char *path, char ***messages, size_t *n, struct kf_err *err);
/* The effective configuration as YAML, secrets shown as "***" (caller frees). */
char *kf_config_show(const struct kf_config *cfg);
void kf_config_free(struct kf_config *cfg);

/* Helpers used by the stages. */
const struct kf_node *kf_config_master(const struct kf_config *cfg);
const struct kf_node *kf_config_node(const struct kf_config *cfg, const char *name);
const char *kf_role_name(enum kf_role role);

#endif
