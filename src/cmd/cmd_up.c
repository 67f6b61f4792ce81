/* k3sforge up: every stage in order, skipping the ones whose state is fresh, resuming at the
 * first stale or failed one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/stage.h"
#include "k3sforge/stages.h"
#include "k3sforge/state.h"

/* The stages of `up`, in order. A stage appears here when it works. */
const struct kf_stage_def *const kf_up_stages[] = {
	&kf_stage_prep,
	&kf_stage_build_iso,
	&kf_stage_create_vms,
	&kf_stage_wait,
	&kf_stage_finalize,
	&kf_stage_kubeconfig,
	NULL,
};
const int kf_up_stage_count = (int)(sizeof(kf_up_stages) / sizeof(kf_up_stages[0])) - 1;

extern const struct kf_cmd kf_cmd_up;


static const char *opt_from;
static bool opt_force, opt_yes;
static bool opt_dry_run;

static const struct kf_opt up_opts[] = {
	KF_OPT_STR_(0, "from", &opt_from, "STAGE", "rerun from this stage on, even if up to date"),
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "rerun every stage (replacing VMs made earlier is still asked, or --yes)"),
	KF_OPT_FLAG_('n', "dry-run", &opt_dry_run, "say which stages would run, run nothing"),
	KF_OPT_FLAG_('y', "yes", &opt_yes,
		     "let create-vms replace VMs made earlier without asking (needed off a terminal)"),
	KF_OPT_END_,
};

static int stage_index(const char *name)
{
	for (int i = 0; i < kf_up_stage_count; i++)
		if (strcmp(kf_up_stages[i]->name, name) == 0)
			return i;
	return -1;
}

/* `up --dry-run`'s result, the plan: lines on stdout, or one `plan` event with --json. */
static void plan(struct kf_ctx *ctx, int first, int from, const char *why)
{
	json_t *stages = json_array();
	char reason[KF_ERR_MSG_MAX + 64];

	if (!kf_log_json())
		kf_log_data("plan for %s:", ctx->out_dir);
	for (int i = 0; i < kf_up_stage_count; i++) {
		const char *name = kf_up_stages[i]->name;
		const char *action = "run";
		if (i < first) {
			action = "skip";
			snprintf(reason, sizeof(reason), "up to date");
		} else if (opt_force) {
			snprintf(reason, sizeof(reason), "--force");
		} else if (i == first && why[0]) {
			snprintf(reason, sizeof(reason), "%s", why);
		} else if (i == first) {
			snprintf(reason, sizeof(reason), "--from %s", name);
		} else if (from >= 0 && i >= from) {
			snprintf(reason, sizeof(reason), "after --from %s", kf_up_stages[from]->name);
		} else {
			action = "decided-later";
			snprintf(reason, sizeof(reason), "decided after %s runs (runs if its inputs change)",
				 kf_up_stages[first]->name);
		}
		if (kf_log_json())
			json_array_append_new(stages, json_pack("{s:s,s:s,s:s}", "stage", name,
								"action", action, "reason", reason));
		else if (strcmp(action, "decided-later") == 0)
			kf_log_data("  %-12s %s", name, reason);
		else
			kf_log_data("  %-12s %s (%s)", name, action, reason);
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
	if (first >= kf_up_stage_count)
		kf_info("everything is up to date: nothing would run");
}

/* What a later stage will need and cannot be fixed half-way, checked before prep spends minutes
 * on downloads: the Ubuntu ISO, when build-iso has yet to make the installer. */
static int preflight(struct kf_ctx *ctx, const struct kf_config *cfg, int first)
{
	int bi = stage_index("build-iso");
	char *installer;
	bool have;
	int r;

	if (bi < 0 || first > bi)
		return 0;
	installer = kf_ctx_path(ctx, "iso/installer.iso");
	have = installer && kf_fs_exists(installer);
	free(installer);
	if (have && !opt_force)
		return 0;
	if ((r = kf_build_iso_check_source(cfg, &ctx->err)) != 0)
		kf_err_wrap(&ctx->err, "before starting: build-iso will need the Ubuntu ISO");
	return r;
}

static int up_run(struct kf_ctx *ctx, int argc, char **argv)
{
	int from = -1, first = 0, r;
	struct kf_config *cfg;
	char why[KF_ERR_MSG_MAX];

	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_up, argc, argv)) != 0)
		return r;
	if (opt_from) {
		from = stage_index(opt_from);
		if (from < 0) {
			const char *names[KF_STAGE_MAX];
			const char *best;
			int n = kf_up_stage_count < KF_STAGE_MAX ? kf_up_stage_count : KF_STAGE_MAX;
			for (int i = 0; i < n; i++)
				names[i] = kf_up_stages[i]->name;
			best = kf_closest(opt_from, names, n);
			return kf_err_set(&ctx->err, KF_EUSAGE, "--from: no stage '%s'%s%s%s", opt_from,
					  best ? " (did you mean '" : "", best ? best : "",
					  best ? "'?)" : "");
		}
	}
	/* The whole run holds the output dir, from before the first decision to the last write. */
	if ((r = kf_ctx_lock(ctx)) != 0)
		return r;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_stage_resume_point(ctx, kf_up_stages, kf_up_stage_count, from, opt_force, &first,
				       why, sizeof(why))) != 0)
		return r;
	if (opt_dry_run) {
		plan(ctx, first, from, why);
		return 0;
	}
	if (first < kf_up_stage_count && (r = preflight(ctx, cfg, first)) != 0)
		return r;
	/* --force reruns every stage; only --yes consents to replacing VMs made earlier (asked on
	 * a terminal, refused elsewhere, as create-vms does) */
	kf_create_vms_consent(opt_yes);
	if (kf_up_stage_count == 0)
		kf_warn("this build has no stages yet: nothing to do");
	else if (first >= kf_up_stage_count)
		kf_ok("everything is up to date: nothing to do");
	else if (why[0])
		kf_info("%s at %s: %s", first ? "resuming" : "starting", kf_up_stages[first]->name,
			why);
	for (int i = 0; i < kf_up_stage_count; i++) {
		if (i < first) {
			kf_stage_skip(ctx->run, kf_up_stages[i]->name,
				      "inputs unchanged since its last run");
			continue;
		}
		/* From the first stale stage on, each stage decides again once the ones before it
		 * ran: it runs when its inputs changed (a new run of what it builds on included),
		 * so a registry that was down after a reboot restarts without re-creating the VMs.
		 * --force and --from run them regardless. */
		if ((r = kf_stage_execute(ctx, kf_up_stages[i],
					  opt_force || (from >= 0 && i >= from), NULL)) != 0) {
			kf_err_wrap(&ctx->err, "stage %s", kf_up_stages[i]->name);
			kf_info("fix the cause, then run `k3sforge up` again: it resumes at %s",
				kf_up_stages[i]->name);
			return r;
		}
	}
	return 0;
}

const struct kf_cmd kf_cmd_up = {
	.name = "up",
	.summary = "build the whole lab: every stage in order, resuming where the last run stopped",
	.usage = "k3sforge [-c FILE] [-o DIR] up [--from STAGE] [--force] [--dry-run] [--yes]",
	.description =
		"Runs the stages in order. A stage whose last run finished with the same inputs (its\n"
		"fingerprint in <out>/state.json) and whose outputs are still in place is skipped, so a\n"
		"failed run resumes at the failed stage and a rerun after success does nothing. After\n"
		"the first stage that runs, each later one is decided again once the ones before it\n"
		"ran: a registry restarted after a reboot does not re-create the VMs, while new VMs\n"
		"are always waited for, finalized and fetched a kubeconfig from. --from STAGE runs that\n"
		"stage and every later one; --force runs them all.",
	.example = "  k3sforge -c lab.yaml up\n  k3sforge -c lab.yaml up --from wait",
	.opts = up_opts,
	.run = up_run,
};
