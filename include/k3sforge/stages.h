/* The stages of `up`, each exported by its command file, and what stages share. */
#ifndef K3SFORGE_STAGES_H
#define K3SFORGE_STAGES_H

#include <stdbool.h>

#include "k3sforge/cmd.h"
#include "k3sforge/stage.h"

extern const struct kf_stage_def kf_stage_prep;
extern const struct kf_stage_def kf_stage_build_iso;
extern const struct kf_stage_def kf_stage_create_vms;
extern const struct kf_stage_def kf_stage_wait;
extern const struct kf_stage_def kf_stage_finalize;
extern const struct kf_stage_def kf_stage_kubeconfig;
/* The ordered stages of `up` (defined in src/cmd/cmd_up.c), NULL-terminated. */
extern const struct kf_stage_def *const kf_up_stages[];
extern const int kf_up_stage_count;

/* Waits for every node (hypervisor signals when use_vmrun and vmrun is there), prints each
 * unfinished node's reason and diagnosis, records the outcome in state.json under stage's data
 * ("nodes"). */
/* The Ubuntu ISO build-iso remasters is set, there, and an Ubuntu live-server image (what to do
 * when not). */
int kf_build_iso_check_source(const struct kf_config *cfg, struct kf_err *err);

/* The `after` list of the stages that serve the VMs create-vms made (wait, finalize,
 * kubeconfig): any create-vms run, even with the same inputs, makes new machines and a new
 * cluster (new CA, new credentials, ISOs attached again). */
extern const char *const kf_after_create_vms[];

/* up's --yes/--force: create-vms may replace VMs made earlier without asking. */
void kf_create_vms_consent(bool yes);

int kf_wait_stage_nodes(struct kf_ctx *ctx, const char *stage, bool use_vmrun, int timeout_s,
			struct kf_err *err);

#endif
