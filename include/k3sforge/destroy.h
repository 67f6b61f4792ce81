/* Destroying a lab's VMs: exactly the folders that carry k3sforge's mark for this cluster and
 * node (the configured nodes, and any VM the last create-vms recorded), each stopped, forgotten
 * by its hypervisor and deleted; nothing else. Planned first (to be confirmed), then done. */
#ifndef K3SFORGE_DESTROY_H
#define K3SFORGE_DESTROY_H

#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"

struct kf_destroy_target {
	char *node;
	char *folder;
};

struct kf_destroy_plan {
	struct kf_destroy_target *targets;  /* the lab's VMs, to delete */
	size_t n;
	size_t kept;                        /* folders found that are not this lab's: left alone */
	char *vm_dir;
};

/* Finds the lab's VMs under out_dir's configuration (warns about folders left alone). */
int kf_destroy_plan(struct kf_destroy_plan *plan, const struct kf_config *cfg,
		    const char *out_dir, struct kf_err *err);
/* Deletes the planned VMs (through the hypervisor when it can be opened; else the folders
 * alone, with a warning) and clears the stages whose results die with them. *removed counts
 * the VMs deleted (on failure too). */
int kf_destroy_execute(const struct kf_destroy_plan *plan, const struct kf_config *cfg,
		       const char *out_dir, size_t *removed, struct kf_err *err);
void kf_destroy_plan_free(struct kf_destroy_plan *plan);

#endif
