/* The hypervisor's view of the lab's VMs for wait, finalize and status: its answers for
 * "powered on", "guest tools running" and "guest IP" per node, as the wait engine's
 * kf_wait_vm_ops table (the last two only where the hypervisor has them). */
#ifndef K3SFORGE_VMSIGNALS_H
#define K3SFORGE_VMSIGNALS_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/wait.h"

struct kf_vmsignals {
	struct kf_hv *hv;         /* owned */
	struct kf_wait_vm_ops ops;
};

/* Opens the configured hypervisor and fills ops. Its error (KF_ENOTFOUND and what to do) when
 * the hypervisor's programs are missing. */
int kf_vmsignals_init(struct kf_vmsignals *vs, const struct kf_config *cfg, const char *out_dir,
		      struct kf_err *err);
void kf_vmsignals_free(struct kf_vmsignals *vs);

#endif
