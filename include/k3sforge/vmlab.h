/* VMware's hold on a VM folder (the lock files vmware-vmx keeps) and removing one VM
 * completely: the VMware side of the hypervisor interface's wait_released and remove. Which
 * folders are the lab's is vmfolder.h's; the caller has checked that. */
#ifndef K3SFORGE_VMLAB_H
#define K3SFORGE_VMLAB_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/vmrun.h"

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
