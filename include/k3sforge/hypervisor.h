/* The hypervisor interface: the lab's VMs, whichever hypervisor runs them. The stages
 * (create-vms, wait, finalize), the operations (snapshot, status, doctor, destroy) and `up` use
 * only this; VMware Workstation (src/vmware, through vmrun) and QEMU (src/qemu, through QMP) are
 * two implementations of it, chosen by the configuration's `hypervisor:` key.
 *
 * A VM is named by its node: it lives in <vm_dir>/<node>/ (kf_hv_vm_folder), a folder the
 * caller creates and marks as the lab's (vmfolder.h) before `create`, and which only `remove`
 * deletes. Every call is thread-safe: the stages call them from one thread per node; an
 * implementation serializes what its hypervisor needs serialized (VMware's power and snapshot
 * calls) itself. Calls are bounded in time and return KF_EINTR once kf_interrupted(). */
#ifndef K3SFORGE_HYPERVISOR_H
#define K3SFORGE_HYPERVISOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/findings.h"

/* Which host checks to run (kf_hv_host_checks). */
#define KF_HOSTCHECK_VMRUN 0x1u      /* the hypervisor's program(s) and version */
#define KF_HOSTCHECK_NETWORK 0x2u    /* the lab network (vmnet, bridge) with the gateway */
#define KF_HOSTCHECK_RESOURCES 0x4u  /* memory and disk for the nodes */
#define KF_HOSTCHECK_WSL 0x8u        /* WSL and its networking mode */
#define KF_HOSTCHECK_ALL 0xfu

/* One VM to create. Borrowed strings; paths are host paths (an implementation translates what
 * its hypervisor needs translated). */
struct kf_vm_spec {
	const struct kf_node *node;  /* name, role, ip, cpus, memory_mb, disk_gb */
	const char *mac;             /* the lab's MAC for the node, "00:50:56:xx:xx:xx" */
	const char *annotation;      /* one line for the VM's notes */
	const char *installer_iso;   /* installer mode: the remastered installer, booted when the
				      * disk is empty; NULL in image mode */
	const char *seed_iso;        /* the node's seed CD (NoCloud `cidata`) */
	const char *payload_iso;     /* image mode: the payload CD; NULL otherwise */
	const char *base_image;      /* image mode: the cloud image the disk is made from (grown
				      * to node->disk_gb); NULL = an empty disk (installer mode) */
};

struct kf_hv;

struct kf_hv_ops {
	const char *name;         /* "vmware", "qemu": the `hypervisor:` value */
	/* Host checks for this hypervisor (`doctor --host`, before create-vms): appends findings,
	 * each with its fix; returns 0 unless out of memory. Needs no open hypervisor. */
	int (*host_checks)(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir,
			   unsigned what);
	/* Finds the hypervisor's programs (KF_ENOTFOUND with where it looked and what to do). */
	int (*open)(struct kf_hv **out, const struct kf_config *cfg, const char *vm_dir,
		    struct kf_err *err);
	void (*close)(struct kf_hv *hv);
	/* What this hypervisor would refuse, checked before any VM is touched (firmware, hardware
	 * version, disk sizes, network name, base image). Touches nothing. */
	int (*precheck)(struct kf_hv *hv, struct kf_err *err);
	/* The name of the VM's own file in its folder ("<node>.vmx"), whose presence says the VM
	 * is there (caller frees). */
	char *(*vm_file_name)(const char *node);
	/* Is `name` (a plain file name in a node's folder) one of the files this hypervisor
	 * writes for that node's VM? Decides what an unmarked folder holds (vmfolder.h). */
	bool (*is_vm_file)(const char *node, const char *name);
	/* Creates the VM (disk, configuration, boot media) in its marked, empty folder. Does not
	 * start it. */
	int (*create)(struct kf_hv *hv, const struct kf_vm_spec *spec, struct kf_err *err);
	/* Powers the VM on (headless). */
	int (*start)(struct kf_hv *hv, const char *node, struct kf_err *err);
	/* Is the VM powered on, by an answer obtained no earlier than not_before (kf_now_mono();
	 * 0 = any): implementations may share one answer between nodes. */
	int (*running)(struct kf_hv *hv, const char *node, double not_before, bool *on,
		       struct kf_err *err);
	/* Stops the VM: soft (ACPI / guest shutdown, bounded) or hard. A VM that is not running
	 * counts as stopped. Soft returns once the hypervisor says it is off, or fails. */
	int (*stop)(struct kf_hv *hv, const char *node, bool hard, struct kf_err *err);
	/* After a stop: waits, bounded, until the hypervisor has let go of the VM's files (VMware's
	 * lock files, the QEMU process) so they may be edited or deleted; `stopped`: a stop was just
	 * made. Fails, naming what is still held, rather than go on. */
	int (*wait_released)(struct kf_hv *hv, const char *node, bool stopped, struct kf_err *err);
	/* Are boot media (installer, seed, payload CDs) attached in the VM's configuration? */
	int (*media_attached)(struct kf_hv *hv, const char *node, bool *attached,
			      struct kf_err *err);
	/* Takes every boot medium out of the VM's configuration; the VM is off and released. */
	int (*detach_media)(struct kf_hv *hv, const char *node, struct kf_err *err);
	/* Optional: the same for a running VM, without stopping it (ejected live and out of its
	 * configuration, so the next start has none either). NULL when the hypervisor cannot
	 * (VMware: the VMX may only be edited with the VM off); finalize then stops, detaches and
	 * starts the VM again. */
	int (*detach_media_live)(struct kf_hv *hv, const char *node, struct kf_err *err);
	/* Guest signals for `wait`, where the hypervisor has them (VMware Tools); NULL when not.
	 * tools_running may also be NULL alone. */
	int (*tools_running)(struct kf_hv *hv, const char *node, bool *running, struct kf_err *err);
	int (*guest_ip)(struct kf_hv *hv, const char *node, char **ip, struct kf_err *err);
	/* Snapshots of one VM; the caller makes them all-or-none across nodes (snapshot.h). */
	int (*snapshot_list)(struct kf_hv *hv, const char *node, char ***names, size_t *n,
			     struct kf_err *err);
	int (*snapshot_create)(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err);
	int (*snapshot_revert)(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err);
	int (*snapshot_delete)(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err);
	/* Stops the VM hard, forgets it (unregister), waits until released, deletes its folder.
	 * The caller has checked the folder is the lab's (vmfolder.h). A VM already gone is done. */
	int (*remove)(struct kf_hv *hv, const char *node, struct kf_err *err);
	/* Facts for the stage record and `status --json` ({"program": ..., "version": ...}). */
	json_t *(*describe)(const struct kf_hv *hv);
};

/* The common part of every opened hypervisor; implementations embed it first. */
struct kf_hv {
	const struct kf_hv_ops *ops;
	const struct kf_config *cfg;  /* borrowed: outlives the handle */
	char *vm_dir;                 /* owned: absolute */
};

/* The implementation the configuration names (cfg->hypervisor). */
const struct kf_hv_ops *kf_hv_ops_for(const struct kf_config *cfg);
/* Absolute VM directory: cfg->paths.vm_dir or <out_dir>/vms (caller frees). */
char *kf_hv_vm_dir(const struct kf_config *cfg, const char *out_dir);
/* <vm_dir>/<node> (caller frees). */
char *kf_hv_vm_folder(const struct kf_hv *hv, const char *node);
/* Opens the configured hypervisor for the lab at out_dir. */
int kf_hv_open(struct kf_hv **out, const struct kf_config *cfg, const char *out_dir,
	       struct kf_err *err);
/* The same for VMs under vm_dir (destroy: folders a create-vms recorded elsewhere). */
int kf_hv_open_at(struct kf_hv **out, const struct kf_config *cfg, const char *vm_dir,
		  struct kf_err *err);
void kf_hv_close(struct kf_hv *hv);
/* The configured hypervisor's host checks (vm_dir for the disk check). */
int kf_hv_host_checks(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir,
		      unsigned what);
/* <vm_dir>/<node>/<vm_file_name> (caller frees). */
char *kf_hv_vm_file(const struct kf_hv *hv, const char *node);
/* The same without an open hypervisor: the configured one's file for node (caller frees;
 * NULL when out of memory or no backend). */
char *kf_hv_vm_file_at(const struct kf_config *cfg, const char *out_dir, const char *node);
/* "00:50:56:xx:yy:zz" */
#define KF_HV_MAC_LEN 17
/* The lab's MACs, whichever hypervisor: the configured one (nodes[].mac) or one derived from
 * the cluster and node names, inside VMware's static range 00:50:56:00:00:00-3F:FF:FF (valid
 * for QEMU too, so a lab keeps its addresses across backends); KF_ECONFIG on a collision.
 * out[i] holds KF_HV_MAC_LEN + 1 bytes. */
int kf_hv_assign_macs(char (*out)[KF_HV_MAC_LEN + 1], const char *cluster,
		      const char *const *names, const char *const *given, size_t n,
		      struct kf_err *err);
/* vmware.host_checks: warn (or K3SFORGE_HOST_CHECKS=warn in the environment, for one run) turns
 * failed host checks, of either hypervisor, into warnings: for hosts that overcommit memory or
 * thin-provision disks on purpose (and the orchestration benchmark's 30 nodes). Returns what
 * asked for it (for the message), or NULL to enforce. */
const char *kf_host_checks_warn_only(const struct kf_config *cfg);

#endif
