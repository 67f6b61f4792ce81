/* The lab as its stages see it: the loaded configuration, the output directory, the run's
 * timings and what the command line said, in one object the command layer fills and hands
 * down. The stages of `up` (prep, build-iso, create-vms, wait, finalize, kubeconfig) live in
 * src/lab/, one file each; a `cmd_<stage>.c` only parses options into kf_lab_opts and calls
 * kf_stage_execute (stage.h). */
#ifndef K3SFORGE_LAB_H
#define K3SFORGE_LAB_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/findings.h"
#include "k3sforge/stage.h"

/* What the command line asked of the stages; zero = the defaults `up` uses. */
struct kf_lab_opts {
	/* prep: where the k3s files and images come from (not an input of prep's fingerprint:
	 * the verified result is the same) */
	const char *artifacts_from;   /* --artifacts-from DIR */
	const char *from_bundle;      /* --from-bundle FILE */
	const char *ca_bundle;        /* --ca-bundle FILE */
	bool regenerate;              /* prep --force: a new CA, keys and token; files again */
	/* prep: its last two steps (the TLS registry, the images: minutes of mirroring on a
	 * first run) go on in a thread once the files build-iso reads are in place; the caller
	 * joins with kf_prep_join (`up`, before create-vms) */
	bool prep_background;
	bool rebuild_isos;            /* build-iso --force: every image again */
	/* build-iso: make the images durable (fsync) and record them on the flush thread
	 * (flush.h) instead of before the stage ends; the caller runs kf_flush_wait (`up`) */
	bool defer_iso_sync;
	bool replace_vms;             /* --yes: replace VMs made earlier without asking */
	/* create-vms: up's preflight listed the host checks (memory, disk, the hypervisor's
	 * programs) a moment ago / the hypervisor's precheck passed there; not made again */
	bool host_checked, prechecked;
	/* build-iso: up's preflight checked the Ubuntu ISO (release, packages) a moment ago */
	bool source_checked;
	/* finalize: this process's wait saw every node ready after detaching its ISOs (so each
	 * runs: no "is it running" question before looking at its VMX) */
	bool ready_after_detach;
	bool replace_unmarked;        /* create-vms --force: also an unmarked folder that holds
				       * only this node's VM */
	int wait_timeout_s;           /* wait --timeout; 0 = timeouts.wait */
	bool no_hv_signals;           /* wait --no-vmrun: SSH only */
	bool keep_iso;                /* finalize --keep-iso */
	/* wait: detach each node's ISOs as soon as that node is ready, while the others still
	 * boot (finalize's first step, per node; `up` sets it when finalize follows) */
	bool detach_when_ready;
	struct {
		const char *target;   /* --kubeconfig FILE; NULL = ~/.kube/config */
		bool no_merge, overwrite, switch_context, windows;
	} kubeconfig;
};

struct kf_lab {
	struct kf_config *cfg;        /* loaded */
	const char *out_dir;          /* -o */
	struct kf_run *run;           /* stage timings of this invocation */
	struct kf_lab_opts opts;
};

/* <out_dir>/<rel> (caller frees). */
char *kf_lab_path(const struct kf_lab *lab, const char *rel);

/* The stages, in the order `up` runs them. */
extern const struct kf_stage_def kf_stage_prep;
extern const struct kf_stage_def kf_stage_build_iso;
extern const struct kf_stage_def kf_stage_create_vms;
extern const struct kf_stage_def kf_stage_wait;
extern const struct kf_stage_def kf_stage_finalize;
extern const struct kf_stage_def kf_stage_kubeconfig;
/* NULL-terminated, and its length. */
extern const struct kf_stage_def *const kf_lab_stages[];
extern const int kf_lab_stage_count;

/* The `after` list of the stages that serve the VMs create-vms made (wait, finalize,
 * kubeconfig): any create-vms run, even with the same inputs, makes new machines and a new
 * cluster (new CA, new credentials, ISOs attached again). */
extern const char *const kf_after_create_vms[];

/* The Ubuntu ISO build-iso remasters is set, there, and an Ubuntu live-server image (what to
 * do when not); `up` asks before it starts. */
int kf_build_iso_check_source(const struct kf_config *cfg, struct kf_err *err);
/* The host checks of `doctor --host` and up's preflight: the hypervisor's (hypervisor.h
 * KF_HOSTCHECK_* bits, VM folders under out_dir's configuration) and, with KF_HOSTCHECK_WSL
 * under WSL, the registry's Windows port proxy. Returns 0 unless out of memory. */
int kf_lab_host_checks(struct kf_findings *out, const struct kf_config *cfg, const char *out_dir,
		       unsigned what);
/* Waits for every node (hypervisor signals unless with_hv is false or the hypervisor cannot be
 * opened), prints each unfinished node's reason and diagnosis, records the outcome in
 * state.json under stage's data ("nodes"). With detach, each node's ISOs are detached
 * (kf_lab_detach_node) the moment it is ready, and a restarted node is waited for again.
 * Shared by wait and finalize. */
int kf_lab_wait_nodes(struct kf_lab *lab, const char *stage, bool with_hv, bool detach,
		      int timeout_s, struct kf_err *err);

struct kf_hv;
/* `since` of kf_lab_detach_node for a node the caller knows is on (it just answered over SSH):
 * no "is it running" question is asked. */
#define KF_LAB_RUNNING (-1.0)
/* finalize's ISO detach for one node on an open hypervisor (safe to call for several nodes at
 * once): ejected live where the hypervisor can (QEMU), else the VM stopped (soft, then hard),
 * its files' release awaited, its configuration edited and the VM started again (VMware;
 * *restarted). A node already detached is left alone, or started when it is off. since: the
 * oldest "is it running" answer that may serve (hypervisor.h `running`), or KF_LAB_RUNNING. */
int kf_lab_detach_node(struct kf_hv *hv, const struct kf_node *node, double since,
		       bool *restarted, struct kf_err *err);
/* Only the last part of that: a node whose ISOs are out but that is off is started
 * (*restarted); anything else is left as it is. */
int kf_lab_start_detached(struct kf_hv *hv, const struct kf_node *node, double since,
			  bool *restarted, struct kf_err *err);

#endif
