/* The create-vms stage: one VM per node (folder, disk, VMX), earlier k3sforge VMs of the same
 * names cleaned up, every node started in parallel, and what was done recorded in the stage
 * state. Refuses to touch folders k3sforge did not make. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fanout.h"
#include "k3sforge/fs.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/render.h"
#include "k3sforge/platform.h"
#include "k3sforge/report.h"
#include "k3sforge/state.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/vmfolder.h"

const char *const kf_after_create_vms[] = { "create-vms", NULL };

struct node_job {
	const struct kf_node *node;
	char *folder;
	char mac[KF_HV_MAC_LEN + 1];
	struct kf_hv *hv;
	double started_at;
	int rc;
	struct kf_err err;
};

/* Replacing VMs made earlier loses everything in them (a running cluster): asked on a terminal,
 * refused elsewhere unless --yes or --force said so. The stage's confirm hook: a refusal touches
 * nothing, not even the stage's record, so fixing the input and running again just works. */
static int cv_confirm(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const struct kf_hv_ops *ops;
	struct kf_buf names;
	size_t count = 0;
	char *vm_dir, *prompt = NULL, *offtty = NULL;
	int r = 0;

	if (lab->opts.replace_vms || lab->opts.replace_unmarked)
		return 0;
	ops = kf_hv_ops_for(cfg);
	if (!(vm_dir = kf_hv_vm_dir(cfg, lab->out_dir)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_buf_init(&names, 0);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		enum kf_vm_folder kind = KF_VMF_ABSENT;
		struct kf_err e;
		char *folder = kf_path_join(vm_dir, cfg->nodes[i].name);
		if (folder && ops &&
		    kf_vmfolder_inspect(ops, folder, cfg->cluster_name, cfg->nodes[i].name, &kind,
					NULL, &e) == 0 &&
		    kind == KF_VMF_OURS) /* a hand-made VM needs --force, said by cv_run */
			kf_buf_printf(&names, "%s%s", count++ ? ", " : "", cfg->nodes[i].name);
		free(folder);
	}
	free(vm_dir);
	if (!count)
		goto out;
	if (asprintf(&prompt, "create-vms will stop, delete and reinstall %zu VM%s made earlier: "
			      "%s.\nEverything in them is lost. Go on?", count, count == 1 ? "" : "s",
		     kf_buf_str(&names)) < 0)
		prompt = NULL;
	if (!prompt ||
	    asprintf(&offtty, "create-vms would stop, delete and reinstall %zu VM%s made earlier "
			      "(%s): everything in them is lost. Pass --yes to create-vms (or up) to "
			      "go on; nothing was touched", count, count == 1 ? "" : "s",
		     kf_buf_str(&names)) < 0) {
		offtty = NULL;
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	r = kf_confirm(false, prompt, offtty, "not confirmed: the VMs were left as they are",
			   err);
out:
	free(prompt);
	free(offtty);
	kf_buf_free(&names);
	return r;
}

/* A node's seed ISO, or (node NULL) the boot CD every node shares: the installer, or in image
 * mode the payload CD. */
static char *iso_path(const struct kf_lab *lab, const char *node)
{
	char *rel = NULL, *p;

	if (node ? asprintf(&rel, KF_OUT_SEED_ISO_FMT, node) < 0
		 : !(rel = strdup(lab->cfg->guest.image ? KF_OUT_PAYLOAD_ISO : KF_OUT_INSTALLER_ISO)))
		return NULL;
	p = kf_lab_path(lab, rel);
	free(rel);
	return p;
}

static int cv_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	char *vm_dir, *p;

	(void)err;
	vm_dir = kf_hv_vm_dir(cfg, lab->out_dir);
	kf_fp_str(fp, "cluster", cfg->cluster_name);
	kf_fp_str(fp, "vm_dir", vm_dir);
	kf_fp_str(fp, "vmnet", cfg->network.vmnet);
	kf_fp_str(fp, "firmware", cfg->vmware.firmware);
	kf_fp_int(fp, "hw_version", cfg->vmware.hw_version);
	kf_fp_str(fp, "hypervisor", kf_hv_ops_for(cfg) ? kf_hv_ops_for(cfg)->name : "?");
	if (cfg->hypervisor == KF_HV_QEMU) {
		kf_fp_str(fp, "qemu.bridge", cfg->qemu.bridge);
		kf_fp_str(fp, "qemu.accel", cfg->qemu.accel);
	}
	if (cfg->guest.image)
		kf_fp_file(fp, "image", cfg->guest.image);
	free(vm_dir);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct kf_node *n = &cfg->nodes[i];
		kf_fp_str(fp, "node", n->name);
		kf_fp_int(fp, "role", n->role);
		kf_fp_str(fp, "ip", n->ip);
		kf_fp_int(fp, "cpus", n->cpus);
		kf_fp_int(fp, "memory_mb", n->memory_mb);
		kf_fp_int(fp, "disk_gb", n->disk_gb);
		kf_fp_str(fp, "mac", n->mac);
		p = iso_path(lab, n->name);
		kf_fp_file(fp, "seed", p);
		free(p);
	}
	p = iso_path(lab, NULL);
	kf_fp_file(fp, cfg->guest.image ? "payload" : "installer", p);
	free(p);
	return 0;
}

/* The stage's outputs are still there: every node's marked folder and VM file. */
static int cv_check(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const struct kf_hv_ops *ops;
	char *vm_dir;
	int r = 0;

	if (!(ops = kf_hv_ops_for(cfg)))
		return kf_err_set(err, KF_EUNSUPPORTED, "no backend for the configured hypervisor");
	vm_dir = kf_hv_vm_dir(cfg, lab->out_dir);
	for (size_t i = 0; !r && i < cfg->n_nodes; i++) {
		char *folder = kf_path_join(vm_dir, cfg->nodes[i].name);
		char *name = ops->vm_file_name(cfg->nodes[i].name);
		char *file = folder && name ? kf_path_join(folder, name) : NULL;
		enum kf_vm_folder kind = KF_VMF_ABSENT;
		if (file) {
			kf_vmfolder_inspect(ops, folder, cfg->cluster_name, cfg->nodes[i].name, &kind,
					    NULL, err);
			if (kind != KF_VMF_OURS || !kf_fs_exists(file))
				r = kf_err_set(err, KF_ENOTFOUND, "VM %s is gone", file);
		} else {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		free(file);
		free(name);
		free(folder);
	}
	free(vm_dir);
	return r;
}

static int need_file(const char *path, const char *what, struct kf_err *err)
{
	if (kf_fs_exists(path))
		return 0;
	return kf_err_set(err, KF_ENOTFOUND, "%s %s is missing: run `k3sforge build-iso` first",
			  what, path);
}

/* Makes the node's folder (marked first, so even a half-made folder is known to be ours) and
 * has the hypervisor create the VM in it. */
static int make_vm(const struct kf_config *cfg, struct kf_hv *hv, struct node_job *j,
		   const char *installer, const char *seed, struct kf_err *err)
{
	struct kf_vm_spec spec;
	char *note = NULL;
	int r;

	if ((r = kf_fs_mkdirs(j->folder, 0755, err)) != 0 ||
	    (r = kf_vmfolder_mark(j->folder, cfg->cluster_name, j->node->name, err)) != 0)
		return r;
	if (asprintf(&note, "Made by k3sforge for cluster %s: %s %s, %s", cfg->cluster_name,
		     kf_role_name(j->node->role), j->node->name, j->node->ip) < 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	memset(&spec, 0, sizeof(spec));
	spec.node = j->node;
	spec.mac = j->mac;
	spec.annotation = note;
	spec.seed_iso = seed;
	if (cfg->guest.image) {
		/* image mode: the disk from the cloud image, the payload on a CD of its own */
		spec.base_image = cfg->guest.image;
		spec.payload_iso = installer;
	} else {
		spec.installer_iso = installer;
	}
	r = hv->ops->create(hv, &spec, err);
	free(note);
	return r;
}

static int start_each(void *arg, size_t i)
{
	struct node_job *j = &((struct node_job *)arg)[i];

	kf_err_clear(&j->err);
	j->started_at = kf_now_wall();
	j->rc = j->hv->ops->start(j->hv, j->node->name, &j->err);
	if (j->rc == 0)
		kf_ok("%s: powered on", j->node->name);
	return j->rc;
}

static int record(const struct kf_lab *lab, const char *vm_dir, struct node_job *jobs, size_t n,
		  const struct kf_hv *hv, struct kf_err *err)
{
	struct kf_state *st = NULL;
	json_t *data, *nodes, *about;
	int r;

	if ((r = kf_state_load(&st, lab->out_dir, err)) != 0)
		return r;
	data = kf_state_data(st, "create-vms");
	json_object_clear(data);
	json_object_set_new(data, "vm_dir", json_string(vm_dir));
	if ((about = hv->ops->describe(hv)) != NULL)
		json_object_update(data, about);
	json_decref(about);
	nodes = json_object();
	for (size_t i = 0; i < n; i++) {
		char when[40];
		char *file = kf_hv_vm_file(hv, jobs[i].node->name);
		kf_format_rfc3339(jobs[i].started_at, when, sizeof(when));
		json_object_set_new(nodes, jobs[i].node->name,
				    json_pack("{s:s?,s:s,s:s,s:s}", "vm", file, "folder",
					      jobs[i].folder, "mac", jobs[i].mac, "started_at", when));
		free(file);
	}
	json_object_set_new(data, "nodes", nodes);
	r = kf_state_save(st, err);
	kf_state_free(st);
	return r;
}

/* Judges every folder before touching any, so a refusal leaves everything as it was. */
static int judge_folders(const struct kf_config *cfg, const struct kf_hv_ops *ops,
			 struct node_job *jobs, size_t n, bool force, struct kf_err *err)
{
	for (size_t i = 0; i < n; i++) {
		enum kf_vm_folder kind;
		char *owner = NULL;
		int r;
		if ((r = kf_vmfolder_inspect(ops, jobs[i].folder, cfg->cluster_name,
					     jobs[i].node->name, &kind, &owner, err)) != 0)
			return r;
		if (kind == KF_VMF_OTHER_LAB) {
			r = kf_err_set(err, KF_EEXIST,
				       "%s belongs to another k3sforge lab (%s): left alone; use a "
				       "different paths.vm_dir, or destroy that lab first",
				       jobs[i].folder, owner ? owner : "?");
			free(owner);
			return r;
		}
		free(owner);
		if (kind == KF_VMF_FOREIGN_VM && !force)
			return kf_err_set(err, KF_EEXIST,
					  "%s holds a VM k3sforge did not make: left alone; move it "
					  "away, or pass --force to replace it",
					  jobs[i].folder);
		if (kind == KF_VMF_FOREIGN)
			return kf_err_set(err, KF_EEXIST,
					  "%s exists and is not a VM folder k3sforge made (files other "
					  "than %s's VM files are in it): left alone%s; move it away or "
					  "set paths.vm_dir elsewhere",
					  jobs[i].folder, jobs[i].node->name,
					  force ? " even with --force" : "");
	}
	return 0;
}

/* Host checks that decide whether VMs can be made here at all. */
static int host_checks(const struct kf_config *cfg, const char *vm_dir, struct kf_err *err)
{
	struct kf_findings findings = { 0 };
	size_t failed;
	int r = 0;

	if ((r = kf_hv_host_checks(&findings, cfg, vm_dir,
				   KF_HOSTCHECK_VMRUN | KF_HOSTCHECK_RESOURCES)) != 0) {
		kf_findings_free(&findings);
		return kf_err_set(err, r, "host checks: out of memory");
	}
	failed = kf_findings_failed(&findings);
	if (failed && kf_host_checks_warn_only(cfg)) {
		kf_report_findings(&findings, "create-vms", false);
		kf_warn("%s: going on despite %zu failed host check%s", kf_host_checks_warn_only(cfg),
			failed, failed == 1 ? "" : "s");
	} else if (failed) {
		kf_report_findings(&findings, "create-vms", false);
		r = kf_err_set(err, KF_EFAIL,
			       "host checks failed (%zu problem%s, listed above with fixes): no VM "
			       "was touched; `k3sforge doctor --host` repeats the checks",
			       failed, failed == 1 ? "" : "s");
	}
	kf_findings_free(&findings);
	return r;
}

static int cv_run(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_hv *hv = NULL;
	struct node_job *jobs = NULL;
	int *rcs = NULL;
	char (*macs)[KF_HV_MAC_LEN + 1] = NULL;
	const char **names = NULL, **given = NULL;
	char *installer = NULL, *vm_dir = NULL;
	size_t n, failed = 0, first_failed = 0;
	int r;

	n = cfg->n_nodes;
	if (n == 0)
		return kf_err_set(err, KF_ECONFIG, "no nodes configured: nothing to create");
	/* Inputs first: the ISOs build-iso made. */
	installer = iso_path(lab, NULL);
	if (!installer)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = need_file(installer, cfg->guest.image ? "payload ISO" : "installer ISO", err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *seed = iso_path(lab, cfg->nodes[i].name);
		r = seed ? need_file(seed, "seed ISO", err) : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(seed);
		if (r)
			goto out;
	}
	if (!(vm_dir = kf_hv_vm_dir(cfg, lab->out_dir))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((!lab->opts.host_checked && (r = host_checks(cfg, vm_dir, err)) != 0) ||
	    (r = kf_hv_open(&hv, cfg, lab->out_dir, err)) != 0 ||
	    (!lab->opts.prechecked && (r = hv->ops->precheck(hv, err)) != 0))
		goto out;

	jobs = calloc(n, sizeof(*jobs));
	rcs = calloc(n, sizeof(*rcs));
	macs = calloc(n, sizeof(*macs));
	names = calloc(n, sizeof(*names));
	given = calloc(n, sizeof(*given));
	if (!jobs || !rcs || !macs || !names || !given) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		names[i] = cfg->nodes[i].name;
		given[i] = cfg->nodes[i].mac;
	}
	if ((r = kf_hv_assign_macs(macs, cfg->cluster_name, names, given, n, err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct node_job *j = &jobs[i];
		j->node = &cfg->nodes[i];
		j->hv = hv;
		memcpy(j->mac, macs[i], sizeof(j->mac));
		if (!(j->folder = kf_hv_vm_folder(hv, j->node->name))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((r = judge_folders(cfg, hv->ops, jobs, n, lab->opts.replace_unmarked, err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enum kf_vm_folder kind;
		kf_vmfolder_inspect(hv->ops, jobs[i].folder, cfg->cluster_name, jobs[i].node->name,
				    &kind, NULL, err);
		if (kind == KF_VMF_OURS || kind == KF_VMF_FOREIGN_VM) {
			kf_info("%s: replacing the earlier VM in %s", jobs[i].node->name, jobs[i].folder);
			if ((r = hv->ops->remove(hv, jobs[i].node->name, err)) != 0)
				goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char *seed = iso_path(lab, jobs[i].node->name);
		r = seed ? make_vm(cfg, hv, &jobs[i], installer, seed, err)
			 : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(seed);
		if (r) {
			kf_err_wrap(err, "%s", jobs[i].node->name);
			goto out;
		}
	}

	/* One thread per node; the hypervisor serializes what it must (VMware: vmrun's power
	 * calls go one at a time through the vmrun lane); the waits after this are parallel. */
	kf_info("starting %zu VMs", n);
	kf_each_node(n, 0, start_each, jobs, rcs);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == KF_EINTR && !jobs[i].rc)
			jobs[i].rc = kf_err_set(&jobs[i].err, KF_EINTR, "interrupted before its start");
		if (!jobs[i].rc)
			continue;
		kf_error("%s: %s", jobs[i].node->name, jobs[i].err.msg);
		if (failed++ == 0) {
			*err = jobs[i].err;
			first_failed = i;
		}
	}
	if (failed) {
		r = err->code ? err->code : KF_EVMRUN;
		kf_err_wrap(err, "%zu of %zu VMs did not start; %s", failed, n,
			    jobs[first_failed].node->name);
		goto out;
	}
	r = record(lab, vm_dir, jobs, n, hv, err);
out:
	for (size_t i = 0; jobs && i < n; i++)
		free(jobs[i].folder);
	free(jobs);
	free(rcs);
	free(macs);
	free(names);
	free(given);
	free(installer);
	free(vm_dir);
	kf_hv_close(hv);
	return r;
}

const struct kf_stage_def kf_stage_create_vms = {
	.name = "create-vms",
	.fingerprint = cv_fingerprint,
	.check = cv_check,
	.run = cv_run,
	.confirm = cv_confirm,
};

