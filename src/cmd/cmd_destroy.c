/* k3sforge destroy: stop and delete exactly the lab's VMs (folders carrying k3sforge's mark for
 * this cluster and node) and nothing else. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/state.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmrun.h"

extern const struct kf_cmd kf_cmd_destroy;

static bool opt_yes;

static const struct kf_opt destroy_opts[] = {
	KF_OPT_FLAG_('y', "yes", &opt_yes, "do not ask (required when not on a terminal)"),
	KF_OPT_END_,
};

/* Stages whose results die with the VMs. */
static const char *const vm_stages[] = { "create-vms", "wait", "finalize", "kubeconfig" };

struct target {
	char *node;
	char *folder;
};

static bool confirm(const struct target *t, size_t n)
{
	char line[16];

	fprintf(stderr, "This stops and deletes %zu VM%s:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  %s  (%s)\n", t[i].node, t[i].folder);
	fprintf(stderr, "Delete them? [y/N] ");
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int add_target(struct target **t, size_t *n, const char *node, const char *folder)
{
	struct target *nt;

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

static int destroy_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_state *st = NULL;
	struct kf_vmrun *v = NULL;
	struct target *cand = NULL, *t = NULL;
	size_t ncand = 0, n = 0, removed = 0, kept = 0;
	char *vm_dir = NULL;
	struct kf_err e;
	int npos = 0, r;

	opt_yes = false;
	r = kf_cmd_parse(ctx, &kf_cmd_destroy, argc, argv, &npos);
	if (r)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "destroy takes no arguments ('%s' given)",
				  argv[1]);
	if (!opt_yes && !kf_platform_isatty(0))
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "destroy deletes the lab's VMs and asks first; not on a terminal, "
				  "pass --yes to confirm");
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_ctx_lock(ctx)) != 0)
		return r;
	if ((r = kf_state_load(&st, ctx->out_dir, &ctx->err)) != 0)
		return r;
	vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
	if (!vm_dir) {
		r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		goto out;
	}
	/* The configured nodes, plus any VM the last create-vms recorded (a node since removed
	 * from the configuration still belongs to the lab). */
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		char *folder = kf_path_join(vm_dir, cfg->nodes[i].name);
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
			if (folder && (r = add_target(&cand, &ncand, name, folder)) != 0)
				goto nomem;
		}
	}
	for (size_t i = 0; i < ncand; i++) {
		enum kf_vm_folder kind;
		kf_err_clear(&e);
		if (kf_vmlab_inspect(cand[i].folder, cfg->cluster_name, cand[i].node, &kind, NULL,
				     &e) != 0) {
			kf_warn("%s: %s", cand[i].node, e.msg);
			continue;
		}
		if (kind == KF_VMF_OURS) {
			if ((r = add_target(&t, &n, cand[i].node, cand[i].folder)) != 0)
				goto nomem;
		} else if (kind != KF_VMF_ABSENT) {
			kf_warn("%s: %s was not made by k3sforge for this lab: left alone", cand[i].node,
				cand[i].folder);
			kept++;
		}
	}
	if (n == 0) {
		kf_ok("no VMs of lab %s to remove in %s", cfg->cluster_name, vm_dir);
		goto clear_state;
	}
	if (!opt_yes && !confirm(t, n)) {
		r = kf_err_set(&ctx->err, KF_EFAIL, "destroy cancelled: nothing was deleted");
		goto out;
	}
	kf_err_clear(&e);
	if (kf_vmrun_find(&v, cfg, &e) != 0)
		kf_warn("%s; deleting the VM folders without stopping them through VMware", e.msg);
	for (size_t i = 0; i < n; i++) {
		if ((r = kf_vmlab_remove_vm(v, t[i].folder, t[i].node, &ctx->err)) != 0) {
			kf_err_wrap(&ctx->err, "destroy %s", t[i].node);
			goto out;
		}
		removed++;
	}
	/* An empty default VM directory goes too; a configured one stays. */
	if (!cfg->paths.vm_dir)
		rmdir(vm_dir);
clear_state:
	for (size_t i = 0; i < sizeof(vm_stages) / sizeof(vm_stages[0]); i++)
		kf_state_clear(st, vm_stages[i]);
	json_object_del(kf_state_data(st, "create-vms"), "nodes");
	if ((r = kf_state_save(st, &ctx->err)) != 0)
		goto out;
	if (removed)
		kf_ok("removed %zu VM%s of lab %s%s", removed, removed == 1 ? "" : "s",
		      cfg->cluster_name, kept ? "; other folders were left alone" : "");
	goto out;
nomem:
	r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
out:
	for (size_t i = 0; i < ncand; i++) {
		free(cand[i].node);
		free(cand[i].folder);
	}
	for (size_t i = 0; i < n; i++) {
		free(t[i].node);
		free(t[i].folder);
	}
	free(cand);
	free(t);
	free(vm_dir);
	kf_vmrun_free(v);
	kf_state_free(st);
	return r;
}

const struct kf_cmd kf_cmd_destroy = {
	.name = "destroy",
	.summary = "stop and delete the lab's VMs (only folders k3sforge made for this lab)",
	.usage = "k3sforge [-c FILE] [-o DIR] destroy [--yes]",
	.description =
		"Stops (hard), unregisters and deletes every VM folder that carries k3sforge's mark\n"
		"for this cluster: the configured nodes and any recorded by the last create-vms.\n"
		"Anything else in the VM directory is left alone. Asks first on a terminal; needs\n"
		"--yes otherwise. The output directory (keys, certificates, ISOs) is kept.",
	.example = "  k3sforge -c lab.yaml destroy\n  k3sforge -c lab.yaml destroy --yes",
	.opts = destroy_opts,
	.run = destroy_run,
};
