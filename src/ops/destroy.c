/* Destroying a lab's VMs (destroy.h). */
#include "k3sforge/destroy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/log.h"
#include "k3sforge/state.h"
#include "k3sforge/vmfolder.h"

/* Stages whose results die with the VMs. */
static const char *const vm_stages[] = { "create-vms", "wait", "finalize", "kubeconfig" };

static int add_target(struct kf_destroy_target **t, size_t *n, const char *node,
		      const char *folder)
{
	struct kf_destroy_target *nt;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*t)[i].folder, folder) == 0)
			return 0;
	nt = realloc(*t, (*n + 1) * sizeof(*nt));
	if (!nt)
		return KF_ENOMEM;
	*t = nt;
	nt[*n].node = strdup(node);
	nt[*n].folder = strdup(folder);
	if (!nt[*n].node || !nt[*n].folder) {
		free(nt[*n].node);
		free(nt[*n].folder);
		return KF_ENOMEM;
	}
	(*n)++;
	return 0;
}

static void targets_free(struct kf_destroy_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].node);
		free(t[i].folder);
	}
	free(t);
}

int kf_destroy_plan(struct kf_destroy_plan *plan, const struct kf_config *cfg,
		    const char *out_dir, struct kf_err *err)
{
	const struct kf_hv_ops *ops = kf_hv_ops_for(cfg);
	struct kf_destroy_target *cand = NULL;
	struct kf_state *st = NULL;
	size_t ncand = 0;
	int r;

	memset(plan, 0, sizeof(*plan));
	if (!ops)
		return kf_err_set(err, KF_EUNSUPPORTED,
				  "no backend for the configured hypervisor in this build");
	if ((r = kf_state_load(&st, out_dir, err)) != 0)
		return r;
	if (!(plan->vm_dir = kf_hv_vm_dir(cfg, out_dir)))
		goto nomem;
	/* The configured nodes, plus any VM the last create-vms recorded (a node since removed
	 * from the configuration still belongs to the lab). */
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		char *folder = kf_path_join(plan->vm_dir, cfg->nodes[i].name);
		r = folder ? add_target(&cand, &ncand, cfg->nodes[i].name, folder) : KF_ENOMEM;
		free(folder);
		if (r)
			goto nomem;
	}
	{
		json_t *nodes = json_object_get(kf_state_data(st, "create-vms"), "nodes");
		const char *name;
		json_t *rec;
		json_object_foreach(nodes, name, rec) {
			const char *folder = json_string_value(json_object_get(rec, "folder"));
			if (folder && add_target(&cand, &ncand, name, folder) != 0)
				goto nomem;
		}
	}
	for (size_t i = 0; i < ncand; i++) {
		enum kf_vm_folder kind;
		struct kf_err e;
		kf_err_clear(&e);
		if (kf_vmfolder_inspect(ops, cand[i].folder, cfg->cluster_name, cand[i].node, &kind,
					NULL, &e) != 0) {
			kf_warn("%s: %s", cand[i].node, e.msg);
			continue;
		}
		if (kind == KF_VMF_OURS) {
			if (add_target(&plan->targets, &plan->n, cand[i].node, cand[i].folder) != 0)
				goto nomem;
		} else if (kind != KF_VMF_ABSENT) {
			kf_warn("%s: %s was not made by k3sforge for this lab: left alone", cand[i].node,
				cand[i].folder);
			plan->kept++;
		}
	}
	targets_free(cand, ncand);
	kf_state_free(st);
	return 0;
nomem:
	targets_free(cand, ncand);
	kf_state_free(st);
	kf_destroy_plan_free(plan);
	return kf_err_set(err, KF_ENOMEM, "out of memory");
}

/* The VM's folder is <dir>/<node>: removed through a hypervisor opened on dir (the configured
 * VM directory, or where create-vms recorded it), or -- when there is none -- deleted. */
static int remove_one(const struct kf_config *cfg, struct kf_hv **hv, bool *hv_tried,
		      const struct kf_destroy_target *t, struct kf_err *err)
{
	char *dir = strdup(t->folder), *slash;
	bool same = false;
	int r;

	if (!dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (*hv && strcmp((*hv)->vm_dir, dir) != 0) {
		kf_hv_close(*hv);
		*hv = NULL;
		*hv_tried = false;
	}
	if (!*hv && !*hv_tried) {
		struct kf_err e;
		*hv_tried = true;
		kf_err_clear(&e);
		if (kf_hv_open_at(hv, cfg, dir, &e) != 0)
			kf_warn("%s; deleting the VM folders without stopping them through the "
				"hypervisor", e.msg);
	}
	same = slash && strcmp(slash + 1, t->node) == 0;
	free(dir);
	if (*hv && same)
		return (*hv)->ops->remove(*hv, t->node, err);
	if ((r = kf_fs_remove_tree(t->folder, err)) == 0)
		kf_info("%s: removed %s", t->node, t->folder);
	return r;
}

int kf_destroy_execute(const struct kf_destroy_plan *plan, const struct kf_config *cfg,
		       const char *out_dir, size_t *removed, struct kf_err *err)
{
	struct kf_state *st = NULL;
	struct kf_hv *hv = NULL;
	bool hv_tried = false;
	int r = 0;

	*removed = 0;
	if ((r = kf_state_load(&st, out_dir, err)) != 0)
		return r;
	for (size_t i = 0; i < plan->n; i++) {
		if ((r = remove_one(cfg, &hv, &hv_tried, &plan->targets[i], err)) != 0) {
			kf_err_wrap(err, "destroy %s", plan->targets[i].node);
			goto out;
		}
		(*removed)++;
	}
	/* An empty default VM directory goes too; a configured one stays. */
	if (plan->n && !cfg->paths.vm_dir)
		rmdir(plan->vm_dir);
	for (size_t i = 0; i < sizeof(vm_stages) / sizeof(vm_stages[0]); i++)
		kf_state_clear(st, vm_stages[i]);
	json_object_del(kf_state_data(st, "create-vms"), "nodes");
	r = kf_state_save(st, err);
out:
	kf_hv_close(hv);
	kf_state_free(st);
	return r;
}

void kf_destroy_plan_free(struct kf_destroy_plan *plan)
{
	targets_free(plan->targets, plan->n);
	free(plan->vm_dir);
	memset(plan, 0, sizeof(*plan));
}
