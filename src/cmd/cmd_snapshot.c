/* k3sforge snapshot create|list|revert|delete [NAME]: one hypervisor snapshot per node under one
 * name, all nodes or none, reported per node. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/snapshot.h"
#include "k3sforge/strv.h"

extern const struct kf_cmd kf_cmd_snapshot;

static bool opt_yes;

static const struct kf_opt snapshot_opts[] = {
	KF_OPT_FLAG_('y', "yes", &opt_yes,
		     "revert without asking (required when not on a terminal)"),
	KF_OPT_END_,
};

/* Reverting loses everything every node did since the snapshot: asked on a terminal, refused
 * elsewhere unless --yes. Only once every node has the snapshot (else the revert itself refuses,
 * naming the nodes, without a question first). */
static int confirm_revert(struct kf_hv *hv, const struct kf_snap_node *nodes, size_t n,
			  const char *name, struct kf_err *err)
{
	struct kf_snap_node *list;
	char prompt[512], offtty[512];
	bool everywhere;
	int r;

	if (opt_yes)
		return 0;
	if (!(list = calloc(n ? n : 1, sizeof(*list))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		list[i].node = nodes[i].node;
	}
	r = kf_snapshot_run(hv, KF_SNAP_LIST, NULL, list, n, err);
	everywhere = r == 0;
	for (size_t i = 0; everywhere && i < n; i++) {
		bool has = false;
		for (size_t k = 0; k < list[i].n_names && !has; k++)
			has = strcmp(list[i].names[k], name) == 0;
		everywhere = has;
	}
	kf_snapshot_nodes_free(list, n);
	free(list);
	kf_err_clear(err);
	if (!everywhere)
		return 0;
	snprintf(prompt, sizeof(prompt), "snapshot revert returns all %zu nodes to '%s': everything "
		 "they did since is lost. Go on?", n, name);
	snprintf(offtty, sizeof(offtty), "snapshot revert would return all %zu nodes to '%s', "
		 "losing everything they did since; pass --yes to go on; nothing was touched", n,
		 name);
	return kf_confirm(false, prompt, offtty, "not confirmed: the nodes were left as they are",
			      err);
}

static void report(const struct kf_snap_node *nodes, size_t n, const char *verb, const char *name,
		   int rc)
{
	json_t *ev = json_object(), *list = json_array();

	for (size_t i = 0; i < n; i++) {
		const char *result = nodes[i].rc ? "failed" : nodes[i].rolled_back ? "rolled-back"
										 : "ok";
		json_t *o = json_pack("{s:s,s:s}", "node", nodes[i].node, "result", result);
		if (nodes[i].rc)
			json_object_set_new(o, "error", kf_json_text(nodes[i].msg));
		json_array_append_new(list, o);
		if (kf_log_json())
			continue;
		if (nodes[i].rc)
			kf_error("%s: %s failed: %s", nodes[i].node, verb, nodes[i].msg);
		else if (nodes[i].rolled_back)
			kf_warn("%s: snapshot '%s' deleted again (all or none)", nodes[i].node, name);
		else if (rc == 0)
			kf_ok("%s: %s '%s'", nodes[i].node, verb, name);
	}
	json_object_set_new(ev, "action", json_string(verb));
	json_object_set_new(ev, "name", json_string(name));
	json_object_set_new(ev, "ok", json_boolean(rc == 0));
	json_object_set_new(ev, "nodes", list);
	if (kf_log_json()) {
		char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
		kf_log_event("snapshot", s);
		free(s);
	}
	json_decref(ev);
}

static int print_list(struct kf_snap_node *nodes, size_t n)
{
	char **common = NULL;
	size_t nc = 0;
	json_t *ev;

	if (kf_snapshot_common(nodes, n, &common, &nc) != 0)
		return KF_ENOMEM;
	ev = json_pack("{s:[],s:{}}", "common", "extra");
	for (size_t i = 0; i < nc; i++)
		json_array_append_new(json_object_get(ev, "common"), json_string(common[i]));
	if (!kf_log_json()) {
		printf("snapshots on every node (%zu):\n", nc);
		for (size_t i = 0; i < nc; i++)
			printf("  %s\n", common[i]);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *extra = json_array();
		for (size_t k = 0; k < nodes[i].n_names; k++) {
			bool in_common = false;
			for (size_t c = 0; c < nc && !in_common; c++)
				in_common = strcmp(common[c], nodes[i].names[k]) == 0;
			if (in_common)
				continue;
			json_array_append_new(extra, json_string(nodes[i].names[k]));
			if (!kf_log_json())
				printf("  only on %s: %s\n", nodes[i].node, nodes[i].names[k]);
		}
		json_object_set_new(json_object_get(ev, "extra"), nodes[i].node, extra);
	}
	if (kf_log_json()) {
		char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
		kf_log_event("snapshots", s);
		free(s);
	}
	fflush(stdout);
	json_decref(ev);
	kf_strv_free(common, nc);
	return 0;
}

static int snapshot_run(struct kf_ctx *ctx, int argc, char **argv)
{
	static const char *const verbs[] = { "create", "revert", "delete", "list" };
	struct kf_config *cfg;
	struct kf_hv *hv = NULL;
	struct kf_snap_node *nodes = NULL;
	enum kf_snap_op op = KF_SNAP_LIST;
	const char *name = NULL;
	size_t n = 0;
	int npos = 0, r, found = -1;

	opt_yes = false;
	r = kf_cmd_parse(ctx, &kf_cmd_snapshot, argc, argv, &npos);
	if (r)
		return r;
	for (int i = 0; npos >= 1 && i < 4; i++)
		if (strcmp(argv[1], verbs[i]) == 0)
			found = i;
	if (found < 0 && npos >= 1)
		return kf_cmd_unknown_verb(ctx, "snapshot", argv[1], verbs, 4);
	if (found < 0)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "snapshot needs an action: create|list|revert|delete NAME");
	op = (enum kf_snap_op)found;
	if (op != KF_SNAP_LIST && npos != 2)
		return kf_err_set(&ctx->err, KF_EUSAGE, "snapshot %s needs exactly one NAME",
				  verbs[found]);
	if (op == KF_SNAP_LIST && npos != 1)
		return kf_err_set(&ctx->err, KF_EUSAGE, "snapshot list takes no NAME");
	name = op == KF_SNAP_LIST ? NULL : argv[2];
	if (name && (r = kf_snapshot_name_check(name, &ctx->err)) != 0)
		return r;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if (op != KF_SNAP_LIST && (r = kf_ctx_lock(ctx)) != 0)
		return r;
	n = cfg->n_nodes;
	if (!(nodes = calloc(n ? n : 1, sizeof(*nodes))))
		goto nomem;
	/* The VMs first (what to do when there are none), then the hypervisor. */
	for (size_t i = 0; i < n; i++) {
		char *file = kf_hv_vm_file_at(cfg, ctx->out_dir, cfg->nodes[i].name);
		if (!file)
			goto nomem;
		if (!kf_fs_exists(file)) {
			r = kf_err_set(&ctx->err, KF_ENOTFOUND,
				       "%s: %s does not exist: snapshots need the lab's VMs "
				       "(`k3sforge create-vms`)",
				       cfg->nodes[i].name, file);
			free(file);
			goto out;
		}
		free(file);
		nodes[i].node = cfg->nodes[i].name;
	}
	if ((r = kf_hv_open(&hv, cfg, ctx->out_dir, &ctx->err)) != 0)
		goto out;
	if (op == KF_SNAP_REVERT && (r = confirm_revert(hv, nodes, n, name, &ctx->err)) != 0)
		goto out;
	r = kf_snapshot_run(hv, op, name, nodes, n, &ctx->err);
	if (op == KF_SNAP_REVERT && r == 0)
		kf_snapshot_resync_clocks(cfg, hv, ctx->out_dir);
	if (op == KF_SNAP_LIST) {
		if (r == 0 && (r = print_list(nodes, n)) != 0)
			goto nomem;
	} else {
		report(nodes, n, verbs[found], name, r);
	}
	goto out;
nomem:
	r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
out:
	kf_snapshot_nodes_free(nodes, n);
	free(nodes);
	kf_hv_close(hv);
	return r;
}

const struct kf_cmd kf_cmd_snapshot = {
	.name = "snapshot",
	.summary = "create, list, revert or delete a snapshot of every node (all or none)",
	.usage = "k3sforge [-c FILE] [-o DIR] snapshot create|list|revert|delete [NAME] [--yes]",
	.description =
		"Snapshots the whole lab under one name through the hypervisor. create: on every\n"
		"node in parallel; if any node fails, the snapshots made on the others are deleted\n"
		"again and each node's result is reported (all or none). A name some node already has is\n"
		"refused before anything changes. revert and delete: only when every node has the\n"
		"snapshot; revert asks first on a terminal (elsewhere it needs --yes). list: the\n"
		"names every node has, then each node's extras.",
	.example = "  k3sforge snapshot create before-upgrade\n  k3sforge snapshot list\n"
		   "  k3sforge snapshot revert before-upgrade",
	.opts = snapshot_opts,
	.run = snapshot_run,
};
