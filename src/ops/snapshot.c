/* Lab snapshots across all nodes through the hypervisor, all or none (see include/k3sforge/snapshot.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fanout.h"
#include "k3sforge/log.h"
#include "k3sforge/node.h"
#include "k3sforge/ssh.h"
#include "k3sforge/snapshot.h"
#include "k3sforge/strv.h"

struct job {
	struct kf_hv *hv;
	enum kf_snap_op op;
	const char *name;
	struct kf_snap_node *node;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct kf_err e;

	kf_err_clear(&e);
	switch (j->op) {
	case KF_SNAP_CREATE:
		j->node->rc = j->hv->ops->snapshot_create(j->hv, j->node->node, j->name, &e);
		break;
	case KF_SNAP_REVERT:
		j->node->rc = j->hv->ops->snapshot_revert(j->hv, j->node->node, j->name, &e);
		break;
	case KF_SNAP_DELETE:
		j->node->rc = j->hv->ops->snapshot_delete(j->hv, j->node->node, j->name, &e);
		break;
	case KF_SNAP_LIST:
		kf_strv_free(j->node->names, j->node->n_names);
		j->node->names = NULL;
		j->node->n_names = 0;
		j->node->rc = j->hv->ops->snapshot_list(j->hv, j->node->node, &j->node->names,
							&j->node->n_names, &e);
		break;
	}
	if (j->node->rc)
		snprintf(j->node->msg, sizeof(j->node->msg), "%s", e.msg);
	else
		j->node->msg[0] = '\0';
	return NULL;
}

static int job_each(void *arg, size_t i)
{
	struct job *jobs = arg;

	if (jobs[i].node)
		job_main(&jobs[i]);
	return 0;
}

/* Runs op on every node (selected[i] true or selected NULL) in parallel and waits for all. */
static int run_parallel(struct kf_hv *hv, enum kf_snap_op op, const char *name,
			struct kf_snap_node *nodes, size_t n, const bool *selected)
{
	struct job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	int *rcs = calloc(n ? n : 1, sizeof(*rcs));

	if (!jobs || !rcs) {
		free(jobs);
		free(rcs);
		return KF_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!selected || selected[i])
			jobs[i] = (struct job){ .hv = hv, .op = op, .name = name, .node = &nodes[i] };
	kf_each_node(n, 0, job_each, jobs, rcs);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].node && rcs[i] == KF_EINTR) { /* interrupted before it began */
			nodes[i].rc = KF_EINTR;
			snprintf(nodes[i].msg, sizeof(nodes[i].msg), "interrupted");
		}
	free(jobs);
	free(rcs);
	return 0;
}

bool kf_snapshot_node_has(const struct kf_snap_node *node, const char *name)
{
	for (size_t i = 0; i < node->n_names; i++)
		if (strcmp(node->names[i], name) == 0)
			return true;
	return false;
}

int kf_snapshot_name_check(const char *name, struct kf_err *err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > 64 || name[0] == '-')
		return kf_err_set(err, KF_EUSAGE,
				  "snapshot name '%s' must be 1 to 64 characters, not starting with '-'",
				  name ? name : "");
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return kf_err_set(err, KF_EUSAGE,
					  "snapshot name '%s': only letters, digits, '.', '_' and '-' "
					  "are allowed",
					  name);
	}
	return 0;
}

int kf_snapshot_common(const struct kf_snap_node *nodes, size_t n, char ***out, size_t *n_out)
{
	char **list = NULL;
	size_t count = 0;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	list = calloc(nodes[0].n_names + 1, sizeof(*list));
	if (!list)
		return KF_ENOMEM;
	for (size_t i = 0; i < nodes[0].n_names; i++) {
		bool everywhere = true;
		for (size_t k = 1; k < n && everywhere; k++)
			everywhere = kf_snapshot_node_has(&nodes[k], nodes[0].names[i]);
		if (!everywhere)
			continue;
		if (!(list[count] = strdup(nodes[0].names[i]))) {
			kf_strv_free(list, count);
			return KF_ENOMEM;
		}
		count++;
	}
	*out = list;
	*n_out = count;
	return 0;
}

/* "a, b" of the nodes with (want_fail) or without a failure; caller frees. */
static char *node_names(const struct kf_snap_node *nodes, size_t n, const bool *pick)
{
	struct kf_buf b;

	kf_buf_init(&b, 4096);
	for (size_t i = 0; i < n; i++)
		if (pick[i])
			kf_buf_printf(&b, "%s%s", kf_buf_str(&b)[0] ? ", " : "", nodes[i].node);
	return kf_buf_detach(&b);
}

int kf_snapshot_run(struct kf_hv *hv, enum kf_snap_op op, const char *name,
		    struct kf_snap_node *nodes, size_t n, struct kf_err *err)
{
	bool *pick = NULL;
	char *list = NULL;
	size_t failed = 0;
	int r;

	if (op != KF_SNAP_LIST && (r = kf_snapshot_name_check(name, err)) != 0)
		return r;
	pick = calloc(n ? n : 1, sizeof(*pick));
	if (!pick)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		nodes[i].rc = 0;
		nodes[i].rolled_back = false;
		nodes[i].msg[0] = '\0';
	}
	/* Every operation starts from each node's list: create refuses a name some node already
	 * has, revert/delete refuse a name some node lacks — before anything changes. */
	if ((r = run_parallel(hv, KF_SNAP_LIST, NULL, nodes, n, NULL)) != 0)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (nodes[i].rc) {
			pick[i] = true;
			failed++;
		}
	if (failed) {
		list = node_names(nodes, n, pick);
		r = kf_err_set(err, KF_EVMRUN, "cannot list the snapshots of %s: nothing was changed",
			       list ? list : "some nodes");
		goto out;
	}
	if (op == KF_SNAP_LIST)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool has = kf_snapshot_node_has(&nodes[i], name);
		pick[i] = op == KF_SNAP_CREATE ? has : !has;
		if (pick[i])
			failed++;
	}
	if (failed) {
		list = node_names(nodes, n, pick);
		if (op == KF_SNAP_CREATE)
			r = kf_err_set(err, KF_EEXIST,
				       "snapshot '%s' already exists on %s: nothing was changed; "
				       "pick another name or `k3sforge snapshot delete %s` first",
				       name, list ? list : "some nodes", name);
		else
			r = kf_err_set(err, KF_ENOTFOUND,
				       "snapshot '%s' is missing on %s: nothing was changed; "
				       "`k3sforge snapshot list` shows the names every node has",
				       name, list ? list : "some nodes");
		goto out;
	}
	if ((r = run_parallel(hv, op, name, nodes, n, NULL)) != 0)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		pick[i] = nodes[i].rc != 0;
		if (pick[i]) {
			failed++;
			kf_warn("%s: snapshot %s '%s' failed: %s", nodes[i].node,
				op == KF_SNAP_CREATE ? "create" : op == KF_SNAP_REVERT ? "revert" : "delete",
				name, nodes[i].msg);
		}
	}
	if (!failed)
		goto out;
	list = node_names(nodes, n, pick);
	if (op == KF_SNAP_CREATE) {
		/* All or none: take back the snapshots that were made. */
		bool *ok = calloc(n, sizeof(*ok));
		struct kf_snap_node *undo = calloc(n, sizeof(*undo));
		size_t left = 0;
		if (!ok || !undo) {
			free(ok);
			free(undo);
			goto nomem;
		}
		for (size_t i = 0; i < n; i++) {
			ok[i] = nodes[i].rc == 0;
			undo[i].node = nodes[i].node;
		}
		run_parallel(hv, KF_SNAP_DELETE, name, undo, n, ok);
		for (size_t i = 0; i < n; i++) {
			if (!ok[i])
				continue;
			if (undo[i].rc == 0) {
				nodes[i].rolled_back = true;
			} else {
				left++;
				kf_warn("%s: could not delete snapshot '%s' again: %s", nodes[i].node,
					name, undo[i].msg);
			}
		}
		free(ok);
		free(undo);
		if (left)
			r = kf_err_set(err, KF_EVMRUN,
				       "snapshot '%s' failed on %s, and %zu snapshot%s made on other "
				       "nodes could not be deleted again: run `k3sforge snapshot delete %s`",
				       name, list ? list : "some nodes", left, left == 1 ? "" : "s", name);
		else
			r = kf_err_set(err, KF_EVMRUN,
				       "snapshot '%s' failed on %s; the snapshots made on the other "
				       "nodes were deleted again (all or none)",
				       name, list ? list : "some nodes");
	} else {
		r = kf_err_set(err, KF_EVMRUN, "snapshot %s '%s' failed on %s (see each node's message)",
			       op == KF_SNAP_REVERT ? "revert" : "delete", name,
			       list ? list : "some nodes");
	}
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	free(list);
	free(pick);
	return r;
}

void kf_snapshot_nodes_free(struct kf_snap_node *nodes, size_t n)
{
	for (size_t i = 0; nodes && i < n; i++) {
		kf_strv_free(nodes[i].names, nodes[i].n_names);
		nodes[i].names = NULL;
		nodes[i].n_names = 0;
	}
}

struct resync {
	const struct kf_config *cfg;
	const char *out_dir;
};

static int resync_one(void *arg, size_t i)
{
	const struct resync *rs = arg;
	const struct kf_node *n = &rs->cfg->nodes[i];
	struct kf_ssh_result res = { 0 };
	struct kf_ssh *s = NULL;
	struct kf_err e;
	int r;

	kf_err_clear(&e);
	r = kf_node_connect(&s, rs->cfg, n, rs->out_dir, rs->cfg->timeouts.ssh_connect_s * 1000,
			    NULL, &e);
	if (r == 0)
		r = kf_ssh_exec(s, "sudo -n systemctl restart sync-time.service", 60000, 0, &res, &e);
	if (r == 0 && res.exit_status != 0)
		r = kf_err_set(&e, KF_EFAIL, "systemctl restart sync-time exited %d",
			       res.exit_status);
	if (r)
		kf_warn("%s: clock not set again after the revert (%s); run `sudo systemctl restart "
			"sync-time` on it", n->name, e.msg);
	else
		kf_info("%s: clock set again (sync-time)", n->name);
	kf_ssh_result_free(&res);
	kf_ssh_close(s);
	return r;
}

void kf_snapshot_resync_clocks(const struct kf_config *cfg, const struct kf_hv *hv,
			       const char *out_dir)
{
	struct resync rs = { cfg, out_dir };

	if (hv->ops->tools_running)
		return;
	kf_each_node(cfg->n_nodes, 0, resync_one, &rs, NULL);
}
