/* k3sforge up: every stage in order, skipping the ones whose state is fresh, resuming at the
 * first stale or failed one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/log.h"
#include "k3sforge/up.h"

extern const struct kf_cmd kf_cmd_up;


static const char *opt_from;
static bool opt_force, opt_yes;
static bool opt_dry_run;
static const char *opt_artifacts_from, *opt_from_bundle, *opt_ca_bundle, *opt_ubuntu_iso;

static const struct kf_opt up_opts[] = {
	KF_OPT_STR_(0, "from", &opt_from, "STAGE", "rerun from this stage on, even if up to date"),
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "rerun every stage (replacing VMs made earlier is still asked, or --yes)"),
	KF_OPT_FLAG_('n', "dry-run", &opt_dry_run, "say which stages would run, run nothing"),
	KF_OPT_FLAG_('y', "yes", &opt_yes,
		     "let create-vms replace VMs made earlier without asking (needed off a terminal)"),
	KF_OPT_STR_(0, "artifacts-from", &opt_artifacts_from, "DIR",
		    "prep: take the k3s release files from DIR (still verified) instead of downloading"),
	KF_OPT_STR_(0, "from-bundle", &opt_from_bundle, "FILE",
		    "prep: load the images and k3s files of an air-gap bundle (runs prep again)"),
	KF_OPT_STR_(0, "ca-bundle", &opt_ca_bundle, "FILE",
		    "prep: extra CA bundle for downloads (corporate proxies)"),
	KF_OPT_STR_(0, "ubuntu-iso", &opt_ubuntu_iso, "FILE",
		    "build-iso: the Ubuntu 22.04.5 live-server ISO (instead of paths.ubuntu_iso)"),
	KF_OPT_END_,
};

/* `up --dry-run`'s result, the plan: lines on stdout, or one `plan` event with --json. */
static void print_plan(struct kf_ctx *ctx, const struct kf_up_run *u)
{
	struct kf_up_step steps[KF_STAGE_MAX];
	json_t *stages = json_array();

	kf_up_plan(u, steps);
	if (!kf_log_json())
		kf_log_data("plan for %s:", ctx->out_dir);
	for (int i = 0; i < kf_lab_stage_count; i++) {
		const struct kf_up_step *s = &steps[i];
		if (kf_log_json())
			json_array_append_new(stages, json_pack("{s:s,s:s,s:s}", "stage", s->stage,
								"action", s->action, "reason",
								s->reason));
		else if (strcmp(s->action, "decided-later") == 0)
			kf_log_data("  %-12s %s", s->stage, s->reason);
		else
			kf_log_data("  %-12s %s (%s)", s->stage, s->action, s->reason);
	}
	if (kf_log_json()) {
		json_t *ev = json_pack("{s:s,s:o}", "out_dir", ctx->out_dir, "stages", stages);
		char *text = ev ? kf_json_dumps(ev) : NULL;
		kf_log_event("plan", text);
		free(text);
		json_decref(ev);
	} else {
		json_decref(stages);
	}
	if (u->first >= kf_lab_stage_count)
		kf_info("everything is up to date: nothing would run");
}

/* Every check of every stage this run will start, listed at once with their fixes; the run
 * stops unless host checks are set to warn. */
static int preflight(struct kf_ctx *ctx, const struct kf_up_run *u)
{
	struct kf_findings f = { 0 };
	const char *warn_only;
	size_t failed;
	int r;

	if ((r = kf_up_preflight(&ctx->lab, u, &f)) != 0) {
		kf_findings_free(&f);
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	}
	if ((failed = kf_findings_failed(&f)) == 0)
		goto out;
	kf_report_findings(&f, "up", false);
	if ((warn_only = kf_host_checks_warn_only(ctx->cfg)) != NULL) {
		kf_warn("%s: going on despite %zu failed check%s", warn_only, failed,
			failed == 1 ? "" : "s");
		goto out;
	}
	r = kf_err_set(&ctx->err, KF_EFAIL,
		       "%zu check%s failed before anything was downloaded or changed (listed above, "
		       "each with its fix); `k3sforge doctor --host` repeats the host checks",
		       failed, failed == 1 ? "" : "s");
out:
	kf_findings_free(&f);
	return r;
}

static int up_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_up_run u = { .from = -1 };
	int r;

	opt_from = opt_artifacts_from = opt_from_bundle = opt_ca_bundle = opt_ubuntu_iso = NULL;
	opt_force = opt_yes = opt_dry_run = false;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_up, argc, argv)) != 0)
		return r;
	if (opt_from && (u.from = kf_lab_stage_index(opt_from)) < 0) {
		const char *names[KF_STAGE_MAX], *best;
		int n = kf_lab_stage_count < KF_STAGE_MAX ? kf_lab_stage_count : KF_STAGE_MAX;
		for (int i = 0; i < n; i++)
			names[i] = kf_lab_stages[i]->name;
		best = kf_closest(opt_from, names, n);
		return kf_err_set(&ctx->err, KF_EUSAGE, "--from: no stage '%s'%s%s%s", opt_from,
				  best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
	}
	/* The whole run holds the output dir, from before the first decision to the last write. */
	if ((r = kf_ctx_lock(ctx)) != 0 || (r = kf_ctx_config(ctx, &ctx->cfg)) != 0)
		return r;
	ctx->lab.opts.artifacts_from = opt_artifacts_from;
	ctx->lab.opts.from_bundle = opt_from_bundle;
	ctx->lab.opts.ca_bundle = opt_ca_bundle;
	/* --force reruns every stage; only --yes consents to replacing VMs made earlier (asked on
	 * a terminal, refused elsewhere, as create-vms does) */
	ctx->lab.opts.replace_vms = opt_yes;
	if (opt_ubuntu_iso && (r = kf_cmd_set_ubuntu_iso(ctx, opt_ubuntu_iso)) != 0)
		return r;
	u.force = opt_force;
	if ((r = kf_up_start(&ctx->lab, &u, &ctx->err)) != 0)
		return r;
	if (opt_dry_run) {
		print_plan(ctx, &u);
		return 0;
	}
	if (u.first < kf_lab_stage_count && (r = preflight(ctx, &u)) != 0)
		return r;
	return kf_up_run(&ctx->lab, &u, &ctx->err);
}

const struct kf_cmd kf_cmd_up = {
	.name = "up",
	.summary = "build the whole lab: every stage in order, resuming where the last run stopped",
	.usage = "k3sforge [-c FILE] [-o DIR] up [--from STAGE] [--force] [--dry-run] [--yes] "
		 "[--artifacts-from DIR | --from-bundle FILE] [--ca-bundle FILE] [--ubuntu-iso FILE]",
	.description =
		"Runs the stages in order. A stage whose last run finished with the same inputs (its\n"
		"fingerprint in <out>/state.json) and whose outputs are still in place is skipped, so a\n"
		"failed run resumes at the failed stage and a rerun after success does nothing. After\n"
		"the first stage that runs, each later one is decided again once the ones before it\n"
		"ran: a registry restarted after a reboot does not re-create the VMs, while new VMs\n"
		"are always waited for, finalized and fetched a kubeconfig from. --from STAGE runs that\n"
		"stage and every later one; --force runs them all.\n"
		"Within up, each node's ISOs are detached as soon as that node is ready, while the\n"
		"others still boot (finalize's first step, node by node, inside the wait: VMware stops,\n"
		"edits and restarts the VM, QEMU ejects the CDs live); finalize then checks the cluster.\n"
		"prep's registry and image mirroring go on beside build-iso (the VMs are made only once\n"
		"they are done), and build-iso's images reach the disk while the VMs boot; up returns\n"
		"when they have.\n"
		"Before the first stage runs, every host check of every stage it will run is made:\n"
		"the registry program and the offline sources (prep), the Ubuntu ISO or guest.image\n"
		"(build-iso), the hypervisor -- vmrun and the Workstation version, or QEMU, its\n"
		"accelerator and the bridge -- memory, disk and WSL (create-vms; a VMware VMnet that\n"
		"does not look right only warns). All failures are listed at once with their fixes and\n"
		"nothing is downloaded or changed (vmware.host_checks: warn goes on). --artifacts-from,\n"
		"--from-bundle, --ca-bundle and --ubuntu-iso are handed to prep and build-iso, so an\n"
		"offline run needs no other command.",
	.example = "  k3sforge -c lab.yaml up\n  k3sforge -c lab.yaml up --from wait\n"
		   "  k3sforge -c lab.yaml up --from-bundle lab-bundle.tar --ubuntu-iso ubuntu.iso",
	.opts = up_opts,
	.run = up_cmd,
};
