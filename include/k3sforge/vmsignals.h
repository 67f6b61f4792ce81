/* The hypervisor's view of the lab's VMs for wait/finalize/status: vmrun answers for "powered
 * on", "Tools running" and "guest IP", per node, through the kf_wait_vm_ops table. */
#ifndef K3SFORGE_VMSIGNALS_H
#define K3SFORGE_VMSIGNALS_H

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/wait.h"

struct kf_vmsignals {
	struct kf_vmrun *vmrun;   /* owned */
	char *vm_dir;             /* owned */
	struct kf_wait_vm_ops ops;
};

/* Finds vmrun and fills ops. KF_ENOTFOUND (with vmrun's message) when vmrun is missing. */
int kf_vmsignals_init(struct kf_vmsignals *vs, const struct kf_config *cfg, const char *out_dir,
		      struct kf_err *err);
void kf_vmsignals_free(struct kf_vmsignals *vs);
/* <vm_dir>/<node>/<node>.vmx (caller frees). */
char *kf_vmsignals_vmx(const struct kf_vmsignals *vs, const struct kf_node *n);

#endif
