/* `up` below the command line: the stages in order, where a run starts, what it would do (the
 * plan), the checks of every stage it will start (preflight) and the run itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/flush.h"
#include "k3sforge/fs.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/prep.h"
#include "k3sforge/regserver.h"
#include "k3sforge/up.h"

/* The stages of `up`, in order. */
const struct kf_stage_def *const kf_lab_stages[] = {
	&kf_stage_prep,
	&kf_stage_build_iso,
	&kf_stage_create_vms,
	&kf_stage_wait,
	&kf_stage_finalize,
	&kf_stage_kubeconfig,
	NULL,
};
const int kf_lab_stage_count = (int)(sizeof(kf_lab_stages) / sizeof(kf_lab_stages[0])) - 1;

int kf_lab_stage_index(const char *name)
{
	for (int i = 0; i < kf_lab_stage_count; i++)
		if (strcmp(kf_lab_stages[i]->name, name) == 0)
			return i;
	return -1;
}

void kf_up_plan(const struct kf_up_run *u, struct kf_up_step steps[KF_STAGE_MAX])
{
	for (int i = 0; i < kf_lab_stage_count && i < KF_STAGE_MAX; i++) {
		struct kf_up_step *s = &steps[i];
		s->stage = kf_lab_stages[i]->name;
		s->action = "run";
		if (i < u->first) {
			s->action = "skip";
			snprintf(s->reason, sizeof(s->reason), "up to date");
		} else if (u->force) {
			snprintf(s->reason, sizeof(s->reason), "--force");
		} else if (i == u->first && u->why[0]) {
			snprintf(s->reason, sizeof(s->reason), "%s", u->why);
		} else if (i == u->first) {
			snprintf(s->reason, sizeof(s->reason), "--from %s", s->stage);
		} else if (u->from >= 0 && i >= u->from) {
			snprintf(s->reason, sizeof(s->reason), "after --from %s",
				 kf_lab_stages[u->from]->name);
		} else {
			s->action = "decided-later";
			snprintf(s->reason, sizeof(s->reason),
				 "decided after %s runs (runs if its inputs change)",
				 kf_lab_stages[u->first]->name);
		}
	}
}

int kf_up_start(struct kf_lab *lab, struct kf_up_run *u, struct kf_err *err)
{
	int r;

	u->first = 0;
	u->why[0] = '\0';
	if ((r = kf_stage_resume_point(lab, kf_lab_stages, kf_lab_stage_count, u->from, u->force,
				       &u->first, u->why, sizeof(u->why), err)) != 0)
		return r;
	/* A bundle given is always loaded (as `prep --from-bundle`): prep runs, and each later
	 * stage decides again after it. */
	if (lab->opts.from_bundle && u->first > 0) {
		u->first = 0;
		snprintf(u->why, sizeof(u->why), "--from-bundle %s is loaded by prep",
			 lab->opts.from_bundle);
	}
	return 0;
}

/* A failed check before anything ran becomes a finding: the reason is the error's text (it
 * says what to do). */
static int add_failure(struct kf_findings *f, const char *id, const struct kf_err *e)
{
	return kf_findings_add(f, id, KF_CHECK_FAIL, NULL, "%s", e->msg);
}

static int preflight_prep(const struct kf_lab *lab, struct kf_findings *f)
{
	struct kf_regserver_program prog;
	struct kf_err e;
	int r = 0;

	memset(&prog, 0, sizeof(prog));
	kf_err_clear(&e);
	if (kf_regserver_find_program(&prog, lab->cfg, &e) != 0 &&
	    (r = add_failure(f, "registry-program", &e)) != 0)
		return r;
	kf_regserver_program_free(&prog);
	if (lab->opts.artifacts_from && !kf_fs_is_dir(lab->opts.artifacts_from) &&
	    (r = kf_findings_add(f, "artifacts-from", KF_CHECK_FAIL,
				 "give the folder that holds the k3s release files",
				 "--artifacts-from %s is not a folder", lab->opts.artifacts_from)) != 0)
		return r;
	if (lab->opts.from_bundle && !kf_fs_exists(lab->opts.from_bundle))
		r = kf_findings_add(f, "from-bundle", KF_CHECK_FAIL,
				    "give the file `k3sforge bundle export` wrote",
				    "--from-bundle %s does not exist", lab->opts.from_bundle);
	return r;
}

static int preflight_vms(struct kf_lab *lab, struct kf_findings *f)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_findings net = { 0 };
	char *vm_dir = kf_hv_vm_dir(cfg, lab->out_dir);
	struct kf_hv *hv = NULL;
	struct kf_err e;
	int r;

	if (!vm_dir)
		return KF_ENOMEM;
	r = kf_lab_host_checks(f, cfg, lab->out_dir,
			       KF_HOSTCHECK_VMRUN | KF_HOSTCHECK_RESOURCES | KF_HOSTCHECK_WSL);
	/* VMware's VMnet reading is listed, but a failed one warns: it is judged from VMware's
	 * files and the registry as the public record shows them, which no real host has
	 * confirmed yet (docs/vmware.md); a wrong VMnet still ends in wait's SSH timeout naming
	 * the node. */
	if (!r)
		r = kf_hv_host_checks(&net, cfg, vm_dir, KF_HOSTCHECK_NETWORK);
	for (size_t i = 0; !r && i < net.n; i++) {
		const struct kf_finding *x = &net.items[i];
		bool demote = cfg->hypervisor == KF_HV_VMWARE && x->status == KF_CHECK_FAIL;
		r = kf_findings_add(f, x->id, demote ? KF_CHECK_WARN : x->status, x->fix, "%s",
				    x->summary);
	}
	kf_findings_free(&net);
	kf_err_clear(&e);
	/* What the hypervisor would refuse at create-vms (VMware: a VM folder Windows cannot
	 * reach, the hardware version, EFI), when it is there (its absence is a finding above). */
	if (!r && kf_hv_open(&hv, cfg, lab->out_dir, &e) == 0) {
		if (hv->ops->precheck(hv, &e) != 0)
			r = add_failure(f, "hypervisor", &e);
		else
			lab->opts.prechecked = true;
	}
	kf_hv_close(hv);
	/* listed here with every other stage's: create-vms does not list them again */
	lab->opts.host_checked = !r;
	free(vm_dir);
	return r;
}

int kf_up_preflight(struct kf_lab *lab, const struct kf_up_run *u, struct kf_findings *f)
{
	int pi = kf_lab_stage_index("prep"), bi = kf_lab_stage_index("build-iso"),
	    ci = kf_lab_stage_index("create-vms");
	int r = 0;

	if (pi >= 0 && u->first <= pi && (r = preflight_prep(lab, f)) != 0)
		return r;
	if (bi >= 0 && u->first <= bi) {
		char *installer = kf_lab_path(lab, lab->cfg->guest.image ? KF_OUT_PAYLOAD_ISO
									 : KF_OUT_INSTALLER_ISO);
		bool have = installer && kf_fs_exists(installer);
		struct kf_err e;
		free(installer);
		kf_err_clear(&e);
		if (!have || u->force) {
			if (kf_build_iso_check_source(lab->cfg, &e) != 0) {
				if ((r = add_failure(f, "ubuntu-iso", &e)) != 0)
					return r;
			} else {
				lab->opts.source_checked = true;
			}
		}
	}
	if (ci >= 0 && u->first <= ci)
		r = preflight_vms(lab, f);
	return r;
}

/* A stage failed (prep's second half included): said once, with where the next up resumes.
 * Whatever still runs beside it is waited for: prep's background half (its own failure is
 * reported too, and the next run then resumes at prep) and build-iso's flush. Returns r. */
static int stage_failed(struct kf_lab *lab, int r, struct kf_err *err, const char *stage)
{
	struct kf_err e;
	const char *resume = stage;

	kf_err_wrap(err, "stage %s", stage);
	if (kf_prep_join(lab, &e) != 0) {
		kf_error("stage prep: %s", e.msg);
		resume = "prep";
	}
	if (kf_flush_wait(&e) != 0)
		kf_error("%s", e.msg);
	kf_info("fix the cause, then run `k3sforge up` again: it resumes at %s", resume);
	return r;
}

int kf_up_run(struct kf_lab *lab, const struct kf_up_run *u, struct kf_err *err)
{
	int r;

	if (kf_lab_stage_count == 0)
		kf_warn("this build has no stages yet: nothing to do");
	else if (u->first >= kf_lab_stage_count)
		kf_ok("everything is up to date: nothing to do");
	else if (u->why[0])
		kf_info("%s at %s: %s", u->first ? "resuming" : "starting",
			kf_lab_stages[u->first]->name, u->why);
	for (int i = 0; i < kf_lab_stage_count; i++) {
		const struct kf_stage_def *st = kf_lab_stages[i];
		if (i < u->first) {
			kf_stage_skip(lab->run, st->name, "inputs unchanged since its last run");
			continue;
		}
		/* finalize follows: the wait detaches each node's ISOs as soon as it is ready, so
		 * the hypervisor's serialized stop / lock wait / start of one node overlaps the
		 * boot of the others (docs/performance.md) */
		lab->opts.detach_when_ready = st == &kf_stage_wait && !lab->opts.keep_iso;
		/* build-iso's images are fsynced and recorded on the flush thread while the VMs
		 * are made and boot (they read them from the page cache); waited for below */
		lab->opts.defer_iso_sync = st == &kf_stage_build_iso;
		/* prep's registry and images go on beside build-iso, which needs neither; every
		 * later stage waits for them (the VMs are not made while an image may be missing) */
		lab->opts.prep_background = st == &kf_stage_prep;
		if (st != &kf_stage_prep && st != &kf_stage_build_iso &&
		    (r = kf_prep_join(lab, err)) != 0)
			return stage_failed(lab, r, err, "prep");
		/* From the first stale stage on, each stage decides again once the ones before it
		 * ran: it runs when its inputs changed (a new run of what it builds on included),
		 * so a registry that was down after a reboot restarts without re-creating the VMs.
		 * --force and --from run them regardless. */
		if ((r = kf_stage_execute(lab, st,
					  u->force || (u->from >= 0 && i >= u->from) ||
						  (lab->opts.from_bundle && st == &kf_stage_prep),
					  NULL, err)) != 0)
			return stage_failed(lab, r, err, st->name);
	}
	lab->opts.defer_iso_sync = lab->opts.prep_background = false;
	if ((r = kf_prep_join(lab, err)) != 0)
		return stage_failed(lab, r, err, "prep");
	if ((r = kf_flush_wait(err)) != 0) {
		kf_err_wrap(err, "build-iso's images");
		kf_info("run `k3sforge up` again: build-iso writes the images it could not record");
	}
	return r;
}
