/* k3sforge create-vms: one VM per node (folder, disk, VMX), earlier k3sforge VMs of the same
 * names cleaned up, every node started in parallel, and what was done recorded in the stage
 * state. Refuses to touch folders k3sforge did not make. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/hostcheck.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/stage.h"
#include "k3sforge/stages.h"
#include "k3sforge/state.h"
#include "k3sforge/vmdk.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/vmx.h"

extern const struct kf_cmd kf_cmd_create_vms;
extern const struct kf_stage_def kf_stage_create_vms;

static bool opt_force, opt_yes;

static const struct kf_opt create_vms_opts[] = {
	KF_OPT_FLAG_(0, "force", &opt_force,
		     "run even if up to date, and replace unmarked folders that hold this node's VM"),
	KF_OPT_FLAG_('y', "yes", &opt_yes,
		     "replace VMs made earlier without asking (required when not on a terminal)"),
	KF_OPT_END_,
};

const char *const kf_after_create_vms[] = { "create-vms", NULL };

void kf_create_vms_consent(bool yes)
{
	opt_yes = yes;
}


struct node_job {
	const struct kf_node *node;
	char *folder, *vmx, *disk;
	char mac[KF_VMX_MAC_LEN + 1];
	struct kf_vmrun *v;
	double started_at;
	int rc;
	struct kf_err err;
};

/* Replacing VMs made earlier loses everything in them (a running cluster): asked on a terminal,
 * refused elsewhere unless --yes or --force said so. The stage's confirm hook: a refusal touches
 * nothing, not even the stage's record, so fixing the input and running again just works. */
static int cv_confirm(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	struct kf_buf names;
	size_t count = 0;
	char *vm_dir, *prompt = NULL, *offtty = NULL;
	int r = 0;

	if (opt_yes || opt_force)
		return 0;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0) {
		*err = ctx->err;
		return r;
	}
	if (!(vm_dir = kf_vmlab_dir(cfg, ctx->out_dir)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_buf_init(&names, 0);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		enum kf_vm_folder kind = KF_VMF_ABSENT;
		struct kf_err e;
		char *folder = kf_path_join(vm_dir, cfg->nodes[i].name);
		if (folder && kf_vmlab_inspect(folder, cfg->cluster_name, cfg->nodes[i].name, &kind,
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
	r = kf_cmd_confirm(false, prompt, offtty, "not confirmed: the VMs were left as they are",
			   err);
out:
	free(prompt);
	free(offtty);
	kf_buf_free(&names);
	return r;
}

static char *iso_path(struct kf_ctx *ctx, const char *node)
{
	char *rel = NULL, *p;

	if (node ? asprintf(&rel, KF_OUT_SEED_ISO_FMT, node) < 0 : !(rel = strdup(KF_OUT_INSTALLER_ISO)))
		return NULL;
	p = kf_ctx_path(ctx, rel);
	free(rel);
	return p;
}

static int cv_fingerprint(struct kf_ctx *ctx, struct kf_fp *fp, struct kf_err *err)
{
	struct kf_config *cfg;
	char *vm_dir, *p;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0) {
		*err = ctx->err;
		return r;
	}
	vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
	kf_fp_str(fp, "cluster", cfg->cluster_name);
	kf_fp_str(fp, "vm_dir", vm_dir);
	kf_fp_str(fp, "vmnet", cfg->network.vmnet);
	kf_fp_str(fp, "firmware", cfg->vmware.firmware);
	kf_fp_int(fp, "hw_version", cfg->vmware.hw_version);
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
		p = iso_path(ctx, n->name);
		kf_fp_file(fp, "seed", p);
		free(p);
	}
	p = iso_path(ctx, NULL);
	kf_fp_file(fp, "installer", p);
	free(p);
	return 0;
}

/* The stage's outputs are still there: every node's marked folder and VMX. */
static int cv_check(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	char *vm_dir;
	int r = 0;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return kf_err_set(err, r, "%s", ctx->err.msg);
	vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
	for (size_t i = 0; !r && i < cfg->n_nodes; i++) {
		char *folder = kf_path_join(vm_dir, cfg->nodes[i].name), *vmx = NULL;
		enum kf_vm_folder kind = KF_VMF_ABSENT;
		if (folder && asprintf(&vmx, "%s/%s.vmx", folder, cfg->nodes[i].name) > 0) {
			kf_vmlab_inspect(folder, cfg->cluster_name, cfg->nodes[i].name, &kind, NULL, err);
			if (kind != KF_VMF_OURS || !kf_fs_exists(vmx))
				r = kf_err_set(err, KF_ENOTFOUND, "VM %s is gone", vmx);
		}
		free(vmx);
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

/* Creates one node's folder, disk and VMX. */
static int make_vm(struct kf_config *cfg, struct node_job *j, const char *installer,
		   const char *seed, const char *vnet, struct kf_err *err)
{
	struct kf_vmx_spec spec;
	struct kf_vmx *vmx = NULL;
	char *t_inst = NULL, *t_seed = NULL, *t_disk = NULL, *disk_name = NULL, *nvram = NULL,
	     *note = NULL;
	int r;

	if ((r = kf_fs_mkdirs(j->folder, 0755, err)) != 0)
		return r;
	/* The mark goes first, so even a half-made folder is known to be ours. */
	if ((r = kf_vmlab_mark(j->folder, cfg->cluster_name, j->node->name, err)) != 0)
		return r;
	if (asprintf(&disk_name, "%s.vmdk", j->node->name) < 0 ||
	    asprintf(&nvram, "%s.nvram", j->node->name) < 0 ||
	    asprintf(&note, "Made by k3sforge for cluster %s: %s %s, %s", cfg->cluster_name,
		     kf_role_name(j->node->role), j->node->name, j->node->ip) < 0) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = kf_vmrun_path(j->v, &t_inst, installer, err)) != 0 ||
	    (r = kf_vmrun_path(j->v, &t_seed, seed, err)) != 0 ||
	    (r = kf_vmrun_path(j->v, &t_disk, j->disk, err)) != 0)
		goto out;
	if ((r = kf_vmdk_create(j->v->vdiskmanager, j->disk, t_disk, j->node->disk_gb,
				cfg->vmware.hw_version, cfg->timeouts.vmrun_s, err)) != 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.display_name = j->node->name;
	spec.annotation = note;
	spec.cpus = j->node->cpus;
	spec.memory_mb = j->node->memory_mb;
	spec.hw_version = cfg->vmware.hw_version;
	spec.firmware = cfg->vmware.firmware;
	spec.disk_file = disk_name;
	spec.installer_iso = t_inst;
	spec.seed_iso = t_seed;
	spec.vnet = vnet;
	spec.mac = j->mac;
	spec.nvram = nvram;
	if ((r = kf_vmx_build(&vmx, &spec, err)) != 0)
		goto out;
	r = kf_vmx_save(vmx, j->vmx, err);
	if (r == 0)
		kf_info("%s: created %s (%d vCPU, %d MiB, %d GiB disk, MAC %s)", j->node->name, j->vmx,
			j->node->cpus, j->node->memory_mb, j->node->disk_gb, j->mac);
out:
	kf_vmx_free(vmx);
	free(t_inst);
	free(t_seed);
	free(t_disk);
	free(disk_name);
	free(nvram);
	free(note);
	return r;
}

/* What Workstation would refuse or get wrong, checked before any VM is touched: EFI, the
 * hardware version against the Workstation found, disk sizes without vdiskmanager, and the
 * vnet in the host's own form (*vnet, caller frees). */
static int vm_prechecks(const struct kf_config *cfg, struct kf_vmrun *v, char **vnet,
			struct kf_err *err)
{
	char *ws = NULL;
	struct kf_err e;
	bool uncertain = false;
	int r = 0;

	if (cfg->vmware.firmware && strcmp(cfg->vmware.firmware, "efi") == 0)
		return kf_err_set(err, KF_EUNSUPPORTED, "%s", KF_VMX_EFI_REFUSED);
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if ((r = kf_vmdk_check_size(v->vdiskmanager, cfg->nodes[i].disk_gb, err)) != 0)
			return kf_err_wrap(err, "nodes[%zu] %s: nothing was touched", i,
					   cfg->nodes[i].name);
	kf_err_clear(&e);
	if (kf_vmrun_workstation_version(v, &ws, &e) != 0) {
		kf_warn("%s; vmware.hw_version %d not checked against it", e.msg,
			cfg->vmware.hw_version);
	} else {
		kf_info("VMware Workstation %s", ws);
		if ((r = kf_vmrun_check_hw_version(cfg->vmware.hw_version, ws, &uncertain, err)) != 0) {
			free(ws);
			return kf_err_wrap(err, "nothing was touched");
		}
		if (uncertain)
			kf_warn("%s", err->msg);
		kf_err_clear(err);
		free(ws);
	}
	/* vmrun.exe means a Windows host, also when k3sforge runs in WSL. */
	if (!(*vnet = kf_vmx_vnet_value(cfg->network.vmnet, v->windows)))
		return kf_err_set(err, KF_ECONFIG,
				  "network.vmnet '%s' is not a VMware network name such as VMnet1",
				  cfg->network.vmnet);
	return 0;
}

static void *start_thread(void *arg)
{
	struct node_job *j = arg;

	kf_err_clear(&j->err);
	j->started_at = kf_now_wall();
	j->rc = kf_vmrun_start(j->v, j->vmx, false, &j->err);
	if (j->rc == 0)
		kf_ok("%s: powered on", j->node->name);
	return NULL;
}

static int record(struct kf_ctx *ctx, const char *vm_dir, struct node_job *jobs, size_t n,
		  const struct kf_vmrun *v, struct kf_err *err)
{
	struct kf_state *st = NULL;
	json_t *data, *nodes;
	int r;

	if ((r = kf_state_load(&st, ctx->out_dir, err)) != 0)
		return r;
	data = kf_state_data(st, "create-vms");
	json_object_clear(data);
	json_object_set_new(data, "vm_dir", json_string(vm_dir));
	json_object_set_new(data, "vmrun", kf_json_text(v->path));
	json_object_set_new(data, "vmrun_version", json_string(v->version));
	nodes = json_object();
	for (size_t i = 0; i < n; i++) {
		char when[40];
		kf_format_rfc3339(jobs[i].started_at, when, sizeof(when));
		json_object_set_new(nodes, jobs[i].node->name,
				    json_pack("{s:s,s:s,s:s,s:s,s:s}", "vmx", jobs[i].vmx, "folder",
					      jobs[i].folder, "disk", jobs[i].disk, "mac", jobs[i].mac,
					      "started_at", when));
	}
	json_object_set_new(data, "nodes", nodes);
	r = kf_state_save(st, err);
	kf_state_free(st);
	return r;
}

static int cv_run(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	struct kf_findings findings = { 0 };
	struct kf_vmrun *v = NULL;
	struct node_job *jobs = NULL;
	pthread_t *threads = NULL;
	char (*macs)[KF_VMX_MAC_LEN + 1] = NULL;
	const char **names = NULL, **given = NULL;
	char *installer = NULL, *vm_dir = NULL, *vnet = NULL;
	size_t n, failed = 0, first_failed = 0;
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0) {
		*err = ctx->err;
		return r;
	}
	n = cfg->n_nodes;
	if (n == 0)
		return kf_err_set(err, KF_ECONFIG, "no nodes configured: nothing to create");
	/* Inputs first: the ISOs build-iso made. */
	installer = iso_path(ctx, NULL);
	if (!installer)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = need_file(installer, "installer ISO", err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *seed = iso_path(ctx, cfg->nodes[i].name);
		r = seed ? need_file(seed, "seed ISO", err) : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(seed);
		if (r)
			goto out;
	}
	vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
	if (!vm_dir) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	/* Host checks that decide whether VMs can be made here at all. */
	if ((r = kf_hostcheck_run(&findings, cfg, vm_dir,
				  KF_HOSTCHECK_VMRUN | KF_HOSTCHECK_RESOURCES)) != 0) {
		r = kf_err_set(err, r, "host checks: out of memory");
		goto out;
	}
	if (kf_findings_failed(&findings) && kf_host_checks_warn_only(cfg)) {
		kf_report_findings(&findings, "create-vms", false);
		kf_warn("%s: going on despite %zu failed host check%s", kf_host_checks_warn_only(cfg),
			kf_findings_failed(&findings), kf_findings_failed(&findings) == 1 ? "" : "s");
	} else if (kf_findings_failed(&findings)) {
		kf_report_findings(&findings, "create-vms", false);
		r = kf_err_set(err, KF_EFAIL,
			       "host checks failed (%zu problem%s, listed above with fixes): no VM "
			       "was touched; `k3sforge doctor --host` repeats the checks",
			       kf_findings_failed(&findings), kf_findings_failed(&findings) == 1 ? "" : "s");
		goto out;
	}
	if ((r = kf_vmrun_find(&v, cfg, err)) != 0)
		goto out;
	kf_info("vmrun %s (%s)", v->version, v->path);
	if (v->windows) {
		char *probe = NULL;
		if ((r = kf_wsl_to_windows(&probe, vm_dir, err)) != 0)
			goto out;
		free(probe);
	}
	if ((r = vm_prechecks(cfg, v, &vnet, err)) != 0)
		goto out;

	jobs = calloc(n, sizeof(*jobs));
	threads = calloc(n, sizeof(*threads));
	macs = calloc(n, sizeof(*macs));
	names = calloc(n, sizeof(*names));
	given = calloc(n, sizeof(*given));
	if (!jobs || !threads || !macs || !names || !given) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		names[i] = cfg->nodes[i].name;
		given[i] = cfg->nodes[i].mac;
	}
	if ((r = kf_vmx_assign_macs(macs, cfg->cluster_name, names, given, n, err)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct node_job *j = &jobs[i];
		j->node = &cfg->nodes[i];
		j->v = v;
		memcpy(j->mac, macs[i], sizeof(j->mac));
		j->folder = kf_path_join(vm_dir, j->node->name);
		if (!j->folder || asprintf(&j->vmx, "%s/%s.vmx", j->folder, j->node->name) < 0 ||
		    asprintf(&j->disk, "%s/%s.vmdk", j->folder, j->node->name) < 0) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
	}

	/* Judge every folder before touching any, so a refusal leaves everything as it was. */
	for (size_t i = 0; i < n; i++) {
		enum kf_vm_folder kind;
		char *owner = NULL;
		if ((r = kf_vmlab_inspect(jobs[i].folder, cfg->cluster_name, jobs[i].node->name, &kind,
					  &owner, err)) != 0)
			goto out;
		if (kind == KF_VMF_OTHER_LAB) {
			r = kf_err_set(err, KF_EEXIST,
				       "%s belongs to another k3sforge lab (%s): left alone; use a "
				       "different paths.vm_dir, or destroy that lab first",
				       jobs[i].folder, owner ? owner : "?");
			free(owner);
			goto out;
		}
		free(owner);
		if (kind == KF_VMF_FOREIGN_VM && !opt_force) {
			r = kf_err_set(err, KF_EEXIST,
				       "%s holds a VM k3sforge did not make: left alone; move it "
				       "away, or pass --force to replace it",
				       jobs[i].folder);
			goto out;
		}
		if (kind == KF_VMF_FOREIGN) {
			r = kf_err_set(err, KF_EEXIST,
				       "%s exists and is not a VM folder k3sforge made (files other "
				       "than %s's VM files are in it): left alone%s; move it away or "
				       "set paths.vm_dir elsewhere",
				       jobs[i].folder, jobs[i].node->name,
				       opt_force ? " even with --force" : "");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		enum kf_vm_folder kind;
		kf_vmlab_inspect(jobs[i].folder, cfg->cluster_name, jobs[i].node->name, &kind, NULL, err);
		if (kind == KF_VMF_OURS || kind == KF_VMF_FOREIGN_VM) {
			kf_info("%s: replacing the earlier VM in %s", jobs[i].node->name, jobs[i].folder);
			if ((r = kf_vmlab_remove_vm(v, jobs[i].folder, jobs[i].node->name, err)) != 0)
				goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char *seed = iso_path(ctx, jobs[i].node->name);
		r = seed ? make_vm(cfg, &jobs[i], installer, seed, vnet, err)
			 : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(seed);
		if (r) {
			kf_err_wrap(err, "%s", jobs[i].node->name);
			goto out;
		}
	}

	/* One thread per node, but vmrun's power calls go one at a time through the vmrun lane
	 * (kf_vmrun_run); the waits after this are parallel. */
	kf_info("starting %zu VMs", n);
	for (size_t i = 0; i < n; i++) {
		if (pthread_create(&threads[i], NULL, start_thread, &jobs[i]) != 0) {
			jobs[i].rc = kf_err_set(&jobs[i].err, KF_EFAIL, "cannot start a thread");
			threads[i] = 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (threads[i])
			pthread_join(threads[i], NULL);
	for (size_t i = 0; i < n; i++) {
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
	r = record(ctx, vm_dir, jobs, n, v, err);
out:
	for (size_t i = 0; jobs && i < n; i++) {
		free(jobs[i].folder);
		free(jobs[i].vmx);
		free(jobs[i].disk);
	}
	free(jobs);
	free(threads);
	free(macs);
	free(names);
	free(given);
	free(installer);
	free(vm_dir);
	free(vnet);
	kf_findings_free(&findings);
	kf_vmrun_free(v);
	return r;
}

const struct kf_stage_def kf_stage_create_vms = {
	.name = "create-vms",
	.fingerprint = cv_fingerprint,
	.check = cv_check,
	.run = cv_run,
	.confirm = cv_confirm,
};

static int create_vms_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	opt_force = false;
	opt_yes = false;
	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_create_vms, argc, argv)) != 0)
		return r;
	return kf_stage_execute(ctx, &kf_stage_create_vms, opt_force, NULL);
}

const struct kf_cmd kf_cmd_create_vms = {
	.name = "create-vms",
	.summary = "create one VMware VM per node from the ISOs and start them all in parallel",
	.usage = "k3sforge [-c FILE] [-o DIR] create-vms [--force] [--yes]",
	.description =
		"Needs <out>/iso/installer.iso and <out>/iso/seed-<node>.iso (k3sforge build-iso).\n"
		"Checks the host first (vmrun, memory, disk), replaces VMs of the same names that\n"
		"k3sforge made earlier (stop, unregister, delete their folder), writes each node's\n"
		"folder under paths.vm_dir (default <out>/vms): disk, VMX, and a .k3sforge-owned\n"
		"mark, then starts every VM at once (nogui). Folders k3sforge did not make are never\n"
		"touched; --force replaces an unmarked folder only when it holds just this node's VM.\n"
		"Replacing VMs made earlier (changed inputs, or --force) is asked on a terminal and\n"
		"needs --yes (or --force) elsewhere: everything in them is lost.\n"
		"A rerun with unchanged inputs does nothing. vmware.host_checks: warn in the\n"
		"configuration (or K3SFORGE_HOST_CHECKS=warn in the environment, for one run) turns\n"
		"failed host checks into warnings (hosts that overcommit memory or thin-provision\n"
		"disks on purpose).",
	.example = "  k3sforge -c lab.yaml create-vms",
	.opts = create_vms_opts,
	.run = create_vms_cmd,
};
