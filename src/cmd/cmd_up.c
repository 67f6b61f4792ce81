/* k3sforge up: every stage in order, skipping the ones whose state is fresh, resuming at the
 * first stale or failed one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/hostcheck.h"
#include "k3sforge/platform.h"
#include "k3sforge/regserver.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmrun.h"
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

/* A failed check before anything ran becomes a finding: the reason is the error's text (it
 * says what to do). */
static int add_failure(struct kf_findings *f, const char *id, const struct kf_err *e)
{
	return kf_findings_add(f, id, KF_CHECK_FAIL, NULL, "%s", e->msg);
}

/* Every host check of every stage this run will start, before prep spends minutes on downloads
 * and mirroring: the registry program and the offline sources (prep); the Ubuntu ISO, its
 * release and packages (build-iso, when it has yet to make the installer); vmrun and the
 * Workstation version, memory, disk and WSL (what create-vms enforces, kf_hostcheck_run), the
 * VMnet (a warning, see below), and under WSL that the VMs' folder is on a Windows drive. All failures are listed at once, with
 * their fixes; the run stops unless host checks are set to warn. */
static int preflight(struct kf_ctx *ctx, const struct kf_config *cfg, int first)
{
	int pi = stage_index("prep"), bi = stage_index("build-iso"), ci = stage_index("create-vms");
	struct kf_findings f = { 0 };
	struct kf_err e;
	const char *warn_only;
	int r = 0;

	if (pi >= 0 && first <= pi) {
		struct kf_regserver_program prog;
		memset(&prog, 0, sizeof(prog));
		kf_err_clear(&e);
		if (kf_regserver_find_program(&prog, cfg, &e) != 0 &&
		    (r = add_failure(&f, "registry-program", &e)) != 0)
			goto out;
		kf_regserver_program_free(&prog);
		if (ctx->sources.artifacts_from && !kf_fs_is_dir(ctx->sources.artifacts_from) &&
		    (r = kf_findings_add(&f, "artifacts-from", KF_CHECK_FAIL,
					 "give the folder that holds the k3s release files",
					 "--artifacts-from %s is not a folder",
					 ctx->sources.artifacts_from)) != 0)
			goto out;
		if (ctx->sources.from_bundle && !kf_fs_exists(ctx->sources.from_bundle) &&
		    (r = kf_findings_add(&f, "from-bundle", KF_CHECK_FAIL,
					 "give the file `k3sforge bundle export` wrote",
					 "--from-bundle %s does not exist", ctx->sources.from_bundle)) != 0)
			goto out;
	}
	if (bi >= 0 && first <= bi) {
		char *installer = kf_ctx_path(ctx, KF_OUT_INSTALLER_ISO);
		bool have = installer && kf_fs_exists(installer);
		free(installer);
		kf_err_clear(&e);
		if ((!have || opt_force) && kf_build_iso_check_source(cfg, &e) != 0 &&
		    (r = add_failure(&f, "ubuntu-iso", &e)) != 0)
			goto out;
	}
	if (ci >= 0 && first <= ci) {
		char *vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
		struct kf_vmrun *v = NULL;
		if (!vm_dir) {
			r = KF_ENOMEM;
			goto out;
		}
		struct kf_findings net = { 0 };
		r = kf_hostcheck_run(&f, cfg, vm_dir,
				     KF_HOSTCHECK_VMRUN | KF_HOSTCHECK_RESOURCES | KF_HOSTCHECK_WSL);
		/* The VMnet reading is listed, but a failed one warns: it is judged from
		 * VMware's files and the registry as the public record shows them, which no real
		 * host has confirmed yet (docs/vmware.md); a wrong VMnet still ends in wait's
		 * SSH timeout naming the node. */
		if (!r)
			r = kf_hostcheck_run(&net, cfg, vm_dir, KF_HOSTCHECK_NETWORK);
		for (size_t i = 0; !r && i < net.n; i++) {
			const struct kf_finding *x = &net.items[i];
			r = kf_findings_add(&f, x->id,
					    x->status == KF_CHECK_FAIL ? KF_CHECK_WARN : x->status, x->fix,
					    "%s", x->summary);
		}
		kf_findings_free(&net);
		kf_err_clear(&e);
		if (!r && kf_vmrun_find(&v, cfg, &e) == 0 && v->windows) {
			char *probe = NULL;
			if (kf_wsl_to_windows(&probe, vm_dir, &e) != 0)
				r = add_failure(&f, "vm-folder", &e);
			free(probe);
		}
		kf_vmrun_free(v);
		free(vm_dir);
		if (r)
			goto out;
	}
	if (!kf_findings_failed(&f))
		goto out;
	kf_report_findings(&f, "up", false);
	if ((warn_only = kf_host_checks_warn_only(cfg)) != NULL) {
		kf_warn("%s: going on despite %zu failed check%s", warn_only, kf_findings_failed(&f),
			kf_findings_failed(&f) == 1 ? "" : "s");
		goto out;
	}
	r = kf_err_set(&ctx->err, KF_EFAIL,
		       "%zu check%s failed before anything was downloaded or changed (listed above, "
		       "each with its fix); `k3sforge doctor --host` repeats the host checks",
		       kf_findings_failed(&f), kf_findings_failed(&f) == 1 ? "" : "s");
out:
	if (r == KF_ENOMEM && !ctx->err.code)
		r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	kf_findings_free(&f);
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
	ctx->sources.artifacts_from = opt_artifacts_from;
	ctx->sources.from_bundle = opt_from_bundle;
	ctx->sources.ca_bundle = opt_ca_bundle;
	if (opt_ubuntu_iso) {
		/* as build-iso --ubuntu-iso: the configured ISO, for this run */
		char *iso = kf_path_abs(opt_ubuntu_iso);
		if (!iso)
			return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		free(cfg->paths.ubuntu_iso);
		cfg->paths.ubuntu_iso = iso;
	}
	if ((r = kf_stage_resume_point(ctx, kf_up_stages, kf_up_stage_count, from, opt_force, &first,
				       why, sizeof(why))) != 0)
		return r;
	/* A bundle given is always loaded (as `prep --from-bundle`): prep runs, and each later
	 * stage decides again after it. */
	if (opt_from_bundle && first > 0) {
		first = 0;
		snprintf(why, sizeof(why), "--from-bundle %s is loaded by prep", opt_from_bundle);
	}
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
					  opt_force || (from >= 0 && i >= from) ||
						  (opt_from_bundle && kf_up_stages[i] == &kf_stage_prep),
					  NULL)) != 0) {
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
		"Before the first stage runs, every host check of every stage it will run is made:\n"
		"the registry program and the offline sources (prep), the Ubuntu ISO (build-iso),\n"
		"vmrun, the Workstation version, memory, disk and WSL (create-vms; a VMnet that does\n"
		"not look right only warns). All failures are listed at once with their fixes and\n"
		"nothing is downloaded or changed (vmware.host_checks: warn goes on). --artifacts-from,\n"
		"--from-bundle, --ca-bundle and --ubuntu-iso are handed to prep and build-iso, so an\n"
		"offline run needs no other command.",
	.example = "  k3sforge -c lab.yaml up\n  k3sforge -c lab.yaml up --from wait\n"
		   "  k3sforge -c lab.yaml up --from-bundle lab-bundle.tar --ubuntu-iso ubuntu.iso",
	.opts = up_opts,
	.run = up_run,
};
