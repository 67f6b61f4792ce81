/* The lab's VM folders: where they live, who owns them, and removing one VM completely.
 * k3sforge marks every folder it creates with KF_VMLAB_OWNER_FILE (cluster and node name) and
 * only ever deletes folders carrying its mark for the same cluster and node, or -- when the
 * operator forces it -- unmarked folders that hold nothing but this node's VM files. */
#ifndef K3SFORGE_VMLAB_H
#define K3SFORGE_VMLAB_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/vmrun.h"

#define KF_VMLAB_OWNER_FILE ".k3sforge-owned"

enum kf_vm_folder {
	KF_VMF_ABSENT = 0,   /* no such folder */
	KF_VMF_EMPTY,        /* exists, empty: free to use */
	KF_VMF_OURS,         /* marked by k3sforge for this cluster and node */
	KF_VMF_OTHER_LAB,    /* marked by k3sforge for another cluster or node */
	KF_VMF_FOREIGN_VM,   /* unmarked, holds <node>.vmx and only VM files */
	KF_VMF_FOREIGN,      /* unmarked, anything else: never touched */
};

/* Absolute VM directory: cfg->paths.vm_dir or <out_dir>/vms (caller frees). */
char *kf_vmlab_dir(const struct kf_config *cfg, const char *out_dir);
/* Classifies a node's folder. *owner (may be NULL) gets "cluster/node" of another lab's mark. */
int kf_vmlab_inspect(const char *folder, const char *cluster, const char *node,
		     enum kf_vm_folder *kind, char **owner, struct kf_err *err);
/* Writes the ownership mark into folder. */
int kf_vmlab_mark(const char *folder, const char *cluster, const char *node, struct kf_err *err);
/* VMware's lock files after a stop: vmware-vmx still holds <file>.lck (directories such as
 * disk.vmdk.lck/M12345.lck, hashicorp/packer#1267, #2125) for a while after the VM is off.
 * Like packer's step_shutdown.go:87-128 this waits, polling, until no lock is left but the
 * .vmx's own, then (when `stopped`, or locks were seen) `settle_ms` more (packer: 120 s and 5 s, driver.go:134-137) — but where
 * packer then assumes all is clean, this fails with the files still held, so nothing edits
 * or deletes files VMware holds. K3SFORGE_VMWARE_LOCK_WAIT_S / K3SFORGE_VMWARE_SETTLE_MS
 * (0..600 s / 0..60000 ms) override the two bounds (tests use small ones). */
#define KF_VMLAB_LOCK_WAIT_S 120
#define KF_VMLAB_SETTLE_MS 5000
int kf_vmlab_wait_unlocked(const char *folder, const char *node, bool stopped,
			   struct kf_err *err);
/* The lock files in folder (recursively, one level of .lck directories) other than the
 * .vmx's own, as a ", "-separated list into *held (caller frees; NULL when none). */
int kf_vmlab_held_locks(const char *folder, char **held, struct kf_err *err);
/* Stops (hard) and unregisters the VM <folder>/<node>.vmx when vmrun is given, waits for
 * VMware's locks (kf_vmlab_wait_unlocked), then deletes the folder. The caller has checked
 * ownership. */
int kf_vmlab_remove_vm(struct kf_vmrun *v, const char *folder, const char *node,
		       struct kf_err *err);

#endif
