/* k3sforge destroy: stop and delete exactly the lab's VMs (folders carrying k3sforge's mark for
 * this cluster and node) and nothing else. */
#include "k3sforge/buf.h"
#include "k3sforge/cmd.h"
#include "k3sforge/destroy.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

extern const struct kf_cmd kf_cmd_destroy;

static bool opt_yes;

static const struct kf_opt destroy_opts[] = {
	KF_OPT_FLAG_('y', "yes", &opt_yes, "do not ask (required when not on a terminal)"),
	KF_OPT_END_,
};

static int destroy_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_destroy_plan plan;
	struct kf_buf prompt;
	size_t removed = 0;
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
	if ((r = kf_ctx_config(ctx, &cfg)) != 0 || (r = kf_ctx_lock(ctx)) != 0 ||
	    (r = kf_destroy_plan(&plan, cfg, ctx->out_dir, &ctx->err)) != 0)
		return r;
	if (plan.n == 0)
		kf_ok("no VMs of lab %s to remove in %s", cfg->cluster_name, plan.vm_dir);
	kf_buf_init(&prompt, 0);
	kf_buf_printf(&prompt, "This stops and deletes %zu VM%s:\n", plan.n, plan.n == 1 ? "" : "s");
	for (size_t i = 0; i < plan.n; i++)
		kf_buf_printf(&prompt, "  %s  (%s)\n", plan.targets[i].node, plan.targets[i].folder);
	kf_buf_printf(&prompt, "Delete them?");
	if (plan.n)
		r = kf_confirm(opt_yes, kf_buf_str(&prompt),
				   "destroy deletes the lab's VMs and asks first; not on a terminal, "
				   "pass --yes to confirm",
				   "destroy cancelled: nothing was deleted", &ctx->err);
	kf_buf_free(&prompt);
	if (r == 0)
		r = kf_destroy_execute(&plan, cfg, ctx->out_dir, &removed, &ctx->err);
	if (removed)
		kf_ok("removed %zu VM%s of lab %s%s", removed, removed == 1 ? "" : "s",
		      cfg->cluster_name, plan.kept ? "; other folders were left alone" : "");
	kf_destroy_plan_free(&plan);
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
