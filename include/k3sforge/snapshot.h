/* Lab snapshots: one hypervisor snapshot per node under the same name, taken consistently — created
 * on every node or on none (the ones that succeeded are deleted again when any fails), reverted
 * on all, listed as the names every node has plus each node's extras. Nodes run in parallel. */
#ifndef K3SFORGE_SNAPSHOT_H
#define K3SFORGE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/hypervisor.h"

/* One node's part: filled in by the caller (node), the result by the call. */
struct kf_snap_node {
	const char *node;         /* borrowed */
	int rc;                   /* 0 or KF_E* for this node */
	bool rolled_back;         /* create: this node's snapshot was deleted again */
	char msg[KF_ERR_MSG_MAX]; /* this node's failure, "" when rc == 0 */
	char **names;             /* list: this node's snapshots (owned; freed by _nodes_free) */
	size_t n_names;
};

enum kf_snap_op { KF_SNAP_CREATE, KF_SNAP_REVERT, KF_SNAP_DELETE, KF_SNAP_LIST };

/* Runs op on all nodes in parallel. CREATE is all or none: when any node fails the snapshots
 * made on the others are deleted (rolled_back) and KF_EVMRUN names the failing nodes. REVERT and
 * DELETE first check that every node has the snapshot (KF_ENOTFOUND naming the nodes without it,
 * nothing changed). Returns 0 when every node succeeded. */
int kf_snapshot_run(struct kf_hv *hv, enum kf_snap_op op, const char *name,
		    struct kf_snap_node *nodes, size_t n, struct kf_err *err);
/* Checks a snapshot name: 1..64 chars of [A-Za-z0-9._-], not starting with '-'. */
int kf_snapshot_name_check(const char *name, struct kf_err *err);
/* The names every node has, in the first node's order (caller frees with kf_strv_free, strv.h). */
int kf_snapshot_common(const struct kf_snap_node *nodes, size_t n, char ***out, size_t *n_out);
/* Does this node have the snapshot? */
bool kf_snapshot_node_has(const struct kf_snap_node *node, const char *name);
/* After a revert each guest's clock is where it was when the snapshot was taken. VMware Tools
 * set it again (tools.syncTime); on a hypervisor without guest tools (QEMU: tools_running NULL)
 * every node's recipe sync-time unit runs again over SSH, all nodes at once. A node that cannot
 * be reached is warned about (with the command to run), not failed: the revert itself is done. */
void kf_snapshot_resync_clocks(const struct kf_config *cfg, const struct kf_hv *hv,
			       const char *out_dir);
/* Frees the per-node lists. */
void kf_snapshot_nodes_free(struct kf_snap_node *nodes, size_t n);

#endif
