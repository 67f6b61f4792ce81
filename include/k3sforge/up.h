/* `up` below the command line (src/lab/up.c): where a run starts, its plan, the checks of every
 * stage it will start, and the run. The command (src/cmd/cmd_up.c) parses options, reports. */
#ifndef K3SFORGE_UP_H
#define K3SFORGE_UP_H

#include <stdbool.h>

#include "k3sforge/err.h"
#include "k3sforge/findings.h"
#include "k3sforge/lab.h"

struct kf_up_run {
	int from;                 /* --from STAGE's index, -1 = none */
	bool force;               /* --force: every stage */
	int first;                /* the first stage to run (kf_up_start); kf_lab_stage_count = none */
	char why[KF_ERR_MSG_MAX]; /* why it runs ("" for --from/--force, or nothing to run) */
};

/* One line of the plan (up --dry-run). */
struct kf_up_step {
	const char *stage;
	const char *action;       /* "run", "skip", "decided-later" */
	char reason[KF_ERR_MSG_MAX + 64];
};

/* The index of a stage by name in kf_lab_stages, -1 when there is none. */
int kf_lab_stage_index(const char *name);
/* Finds where the run starts (u->from and u->force set by the caller). */
int kf_up_start(struct kf_lab *lab, struct kf_up_run *u, struct kf_err *err);
/* What each stage would do (kf_lab_stage_count entries). */
void kf_up_plan(const struct kf_up_run *u, struct kf_up_step steps[KF_STAGE_MAX]);
/* Every check of every stage this run will start, before prep spends minutes on downloads and
 * mirroring: the registry program and the offline sources (prep); the Ubuntu ISO, its release
 * and packages (build-iso, when it has yet to make the installer); the hypervisor's host checks
 * (memory, disk, WSL, its programs; VMware's VMnet only warns) and what it would refuse. Appends
 * findings; returns 0 unless out of memory. Sets lab->opts.host_checked (and prechecked when
 * the hypervisor's precheck passed) so create-vms does not repeat them a moment later. */
int kf_up_preflight(struct kf_lab *lab, const struct kf_up_run *u, struct kf_findings *f);
/* Runs the stages from u->first on, each deciding again once the ones before it ran. */
int kf_up_run(struct kf_lab *lab, const struct kf_up_run *u, struct kf_err *err);

#endif
