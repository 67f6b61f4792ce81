/* Waiting for the lab's nodes: all nodes at once, each walking powered on → VMware Tools → its
 * configured IP → TCP 22 → SSH authenticated (pinned host key) → its role's completion marker.
 * Signals from the hypervisor and from SSH both feed it (SSH working proves the earlier phases
 * even when Tools never answer); polls back off; every wait has a deadline and a reason. Early
 * markers (iso-copy-complete, cloud-init-complete) are progress, never completion. */
#ifndef K3SFORGE_WAIT_H
#define K3SFORGE_WAIT_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/labpaths.h" /* the role markers and units */

enum kf_wait_phase {
	KF_PHASE_START = 0,
	KF_PHASE_POWERED_ON,   /* hypervisor says it is running */
	KF_PHASE_TOOLS,        /* VMware Tools running */
	KF_PHASE_IP,           /* Tools report the configured IP */
	KF_PHASE_TCP,          /* TCP to the SSH port answers */
	KF_PHASE_SSH,          /* authenticated with the pinned host key */
	KF_PHASE_DONE,         /* the role's completion marker exists */
};

const char *kf_wait_phase_name(enum kf_wait_phase p);

/* Hypervisor signals, per node. Any may be NULL (then that signal is not used). Each returns 0
 * and its answer, or an error (the reason is kept as the node's last failure). */
struct kf_wait_vm_ops {
	int (*powered_on)(void *ctx, const struct kf_node *n, bool *on, struct kf_err *err);
	int (*tools_running)(void *ctx, const struct kf_node *n, bool *running, struct kf_err *err);
	int (*guest_ip)(void *ctx, const struct kf_node *n, char **ip, struct kf_err *err);
	void *ctx;
};

struct kf_wait_opts {
	const char *out_dir;      /* for ssh/known_hosts and ssh/id_ed25519 */
	int timeout_s;            /* per node; 0 = cfg->timeouts.wait_s */
	int ssh_timeout_ms;       /* per SSH step; 0 = cfg->timeouts.ssh_connect_s */
	double poll_min_s;        /* first poll interval; 0 = 0.5 */
	double poll_max_s;        /* backoff cap; 0 = 2 (at most 1 once SSH is authenticated) */
	/* Optional, called on the node's own thread the first time its marker is seen, with its
	 * index in cfg->nodes (up uses it to detach the ISOs of each node as soon as it is ready,
	 * while the others still boot). Returns 0 and sets *again when the node was restarted and
	 * must be waited for again (its session is closed before the call; the next marker seen
	 * ends its wait without a second call), or an error: the node's wait ends there, not done,
	 * with the error as its reason. */
	int (*on_done)(void *ctx, size_t i, bool *again, struct kf_err *err);
	void *on_done_ctx;
};

struct kf_wait_result {
	const struct kf_node *node;  /* borrowed from the config */
	enum kf_wait_phase phase;    /* furthest phase reached */
	bool done;
	bool failed;                 /* its bootstrap unit failed: the marker will never come */
	bool after_failed;           /* opts->on_done failed for it (reason says why) */
	double elapsed_s;
	char reason[1024];           /* last failure reason (why not further) */
	char *progress;              /* early markers seen, e.g. "iso-copy-complete cloud-init-complete" */
	char *diagnosis;             /* on timeout or failure with SSH working: journal tail +
				      * cloud-init status */
};

/* Waits for every node of cfg in parallel. Returns 0 when all are done. As soon as a node's
 * bootstrap unit has failed (it can never finish), waiting stops for every node and KF_EFAIL
 * names the failed nodes first; an on_done that failed is KF_EFAIL too (the others finish).
 * Otherwise KF_ETIMEOUT (or KF_EHOSTKEY when a node only ever
 * presented another host key, KF_EINTR when interrupted), with a message naming the nodes that
 * did not finish. *results (n = cfg->n_nodes,
 * in config order) is always filled; free with kf_wait_results_free. */
int kf_wait_nodes(const struct kf_config *cfg, const struct kf_wait_vm_ops *ops,
		  const struct kf_wait_opts *opts, struct kf_wait_result **results,
		  struct kf_err *err);
void kf_wait_results_free(struct kf_wait_result *results, size_t n);

#endif
