/* The hypervisor's view of the lab's VMs for wait/finalize/status: vmrun answers for "powered
 * on", "Tools running" and "guest IP", per node, through the kf_wait_vm_ops table. */
#ifndef K3SFORGE_VMSIGNALS_H
#define K3SFORGE_VMSIGNALS_H

#include <pthread.h>
#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/wait.h"

struct kf_vmsignals {
	struct kf_vmrun *vmrun;   /* owned */
	char *vm_dir;             /* owned */
	struct kf_wait_vm_ops ops;
	/* One `vmrun list` answers "is it on" for every node: callers share the latest answer
	 * (or the one in flight) instead of one list process each. Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool cache_ready;         /* mu and cv initialised */
	bool listing;             /* a list runs now, started at listing_at */
	double listing_at, listed_at;   /* kf_now_mono() when the running/last list started */
	bool listed;              /* paths/n_paths (or list_err) hold the last list's answer */
	char **paths;
	size_t n_paths;
	int list_rc;
	struct kf_err list_err;
};

/* Finds vmrun and fills ops. KF_ENOTFOUND (with vmrun's message) when vmrun is missing. */
int kf_vmsignals_init(struct kf_vmsignals *vs, const struct kf_config *cfg, const char *out_dir,
		      struct kf_err *err);
void kf_vmsignals_free(struct kf_vmsignals *vs);
/* <vm_dir>/<node>/<node>.vmx (caller frees). */
char *kf_vmsignals_vmx(const struct kf_vmsignals *vs, const struct kf_node *n);
/* Is the VM at vmx (host path) powered on, by a `vmrun list` that started no earlier than
 * not_before (kf_now_mono()): an answer that fresh is shared, a list in flight that fresh is
 * waited for, else one list runs for every caller waiting. Thread-safe. */
int kf_vmsignals_running(struct kf_vmsignals *vs, const char *vmx, double not_before, bool *on,
			 struct kf_err *err);

#endif
