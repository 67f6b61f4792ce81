/* VMX files: the writer that makes a node's VM configuration, and a line-preserving parser and
 * editor for existing files (used to detach the ISOs). Keys are case-insensitive; values are
 * written as key = "value" with VMware's |XX hex escapes for '"', '|' and control characters. */
#ifndef K3SFORGE_VMX_H
#define K3SFORGE_VMX_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"

/* Largest VMX k3sforge reads (real files are a few KiB). */
#define KF_VMX_MAX_BYTES ((size_t)1024 * 1024)
#define KF_VMX_MAC_LEN 17

struct kf_vmx;

/* What the writer needs for one node. Paths are as the VMware host will read them (Windows
 * paths under WSL); the disk is relative to the VMX's folder. */
struct kf_vmx_spec {
	const char *display_name;
	const char *annotation;     /* may be NULL */
	int cpus;
	int memory_mb;
	int hw_version;             /* virtualHW.version */
	const char *firmware;       /* "bios" or "efi" */
	const char *disk_file;      /* e.g. "k3s-master1.vmdk" */
	const char *installer_iso;  /* first CD-ROM */
	const char *seed_iso;       /* second CD-ROM (NoCloud cidata) */
	const char *vnet;           /* as the host writes it: kf_vmx_vnet_value() */
	const char *mac;            /* static, inside 00:50:56:00:00:00-00:50:56:3F:FF:FF */
	const char *nvram;          /* e.g. "k3s-master1.nvram" */
};

/* Why firmware "efi" is refused (one text for config check, create-vms and the writer). */
#define KF_VMX_EFI_REFUSED                                                                       \
	"vmware.firmware: efi is refused: an EFI VM boots what its NVRAM says, not bios.bootOrder, " \
	"and the Ubuntu 22.04 installer may put the install CD first again, so the VM would boot "  \
	"the installer after installing (docs/vmware.md, EFI); use vmware.firmware: bios"

/* The CD-ROM slots the writer uses (installer, seed). */
#define KF_VMX_CD_INSTALLER "ide0:0"
#define KF_VMX_CD_SEED "ide0:1"

/* The ethernet0.vnet value for vmnet `vmnet` ("VMnet1", "vmnet1") on this kind of host:
 * "VMnet1" on Windows (vmrun.exe, also when driven from WSL), "/dev/vmnet1" on Linux, the form
 * Linux Workstation writes and reads (vagrant-vmware-desktop action/network.rb:89 writes
 * "/dev/<device>"; hashicorp/vagrant#10207 shows `ethernet1.vnet = "/dev/vmnet2"` on a Debian
 * host; gns3-server compute/vmware/vmware_vm.py:294 takes the basename when reading). NULL
 * for a malformed name or out of memory. Caller frees. */
char *kf_vmx_vnet_value(const char *vmnet, bool windows_host);
/* Builds the complete VMX for a node. Refuses firmware "efi" (KF_EUNSUPPORTED, with why:
 * docs/vmware.md "EFI"). */
int kf_vmx_build(struct kf_vmx **out, const struct kf_vmx_spec *spec, struct kf_err *err);
/* Parses VMX text. Every line is kept as it was (comments, unknown keys, order, line ends);
 * `name` is used in messages. Malformed lines are kept verbatim, not rejected. */
int kf_vmx_parse(struct kf_vmx **out, const char *text, size_t len, const char *name,
		 struct kf_err *err);
/* Reads and parses a file (at most KF_VMX_MAX_BYTES). */
int kf_vmx_load(struct kf_vmx **out, const char *path, struct kf_err *err);
/* The unescaped value of key (case-insensitive; the last one wins like VMware), borrowed;
 * NULL when absent. */
const char *kf_vmx_get(const struct kf_vmx *vmx, const char *key);
/* Sets key: every existing line for it is rewritten in place (keeping its key spelling and
 * line end); a new key is appended. Returns 0 or KF_ENOMEM / KF_EUSAGE (bad key). */
int kf_vmx_set(struct kf_vmx *vmx, const char *key, const char *value);
/* Removes every line for key; returns how many were removed. */
int kf_vmx_remove(struct kf_vmx *vmx, const char *key);
/* Number of key lines (tests, iteration) and the key / value of the i-th one (borrowed). */
size_t kf_vmx_count(const struct kf_vmx *vmx);
const char *kf_vmx_key_at(const struct kf_vmx *vmx, size_t i);
const char *kf_vmx_value_at(const struct kf_vmx *vmx, size_t i);
/* Disconnects every CD-ROM backed by an image (deviceType cdrom-*): deviceType "cdrom-raw",
 * fileName "auto detect", startConnected "FALSE". Returns the number of devices changed. */
int kf_vmx_detach_cdroms(struct kf_vmx *vmx);
/* The file text (caller frees). */
char *kf_vmx_format(const struct kf_vmx *vmx);
/* Writes the file atomically (temp + rename), mode 0644. */
int kf_vmx_save(const struct kf_vmx *vmx, const char *path, struct kf_err *err);
void kf_vmx_free(struct kf_vmx *vmx);

/* VMX value escaping: '|' → |7C, '"' → |22, bytes < 0x20 and 0x7F → |XX (upper-case hex).
 * Everything else (UTF-8 included) stays as is. Caller frees; NULL on ENOMEM. */
char *kf_vmx_escape(const char *value);
/* Reverses kf_vmx_escape; a '|' not followed by two hex digits is kept literally.
 * Caller frees; NULL on ENOMEM. */
char *kf_vmx_unescape(const char *raw);

/* Derives a static MAC for a node from the cluster and node names (SHA-256), inside VMware's
 * static range. `attempt` > 0 gives the next candidate when an earlier one collided.
 * out must hold KF_VMX_MAC_LEN + 1 bytes; lower-case "00:50:56:xx:yy:zz". */
void kf_vmx_mac_derive(char out[KF_VMX_MAC_LEN + 1], const char *cluster, const char *node,
		       unsigned attempt);
/* Gives every node a MAC, unique within the cluster: a configured one (explicit[i] not NULL,
 * checked to be static and unique) or a derived one, taking the next attempt when a derived
 * address collides with one already given. out[i] holds KF_VMX_MAC_LEN + 1 bytes. */
int kf_vmx_assign_macs(char (*out)[KF_VMX_MAC_LEN + 1], const char *cluster,
		       const char *const *names, const char *const *explicit, size_t n,
		       struct kf_err *err);
/* True when mac is a well-formed address inside 00:50:56:00:00:00-00:50:56:3F:FF:FF. */
bool kf_vmx_mac_is_static(const char *mac);

#endif
