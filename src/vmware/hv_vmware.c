/* VMware Workstation as an implementation of the hypervisor interface (hypervisor.h): vmrun for
 * power, snapshots and guest signals, the VMX and VMDK writers for the VM's files, VMware's
 * lock files for "released". What is VMware's own (the vmrun lane, the nogui Tools answers,
 * the Workstation/hardware-version pairing, Windows paths under WSL) stays in this folder. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/fs.h"
#include "k3sforge/hostcheck.h"
#include "k3sforge/hv_impl.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/vmdk.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/vmx.h"
#include "k3sforge/strv.h"

/* Per getGuestIPAddress -wait call: vagrant's bound (driver/base.rb:599). */
#define GUEST_IP_WAIT_S 10

struct vmw {
	struct kf_hv base;        /* first: the interface's common part */
	struct kf_vmrun *v;
	/* One `vmrun list` answers "is it on" for every node: callers share the latest answer
	 * (or the one in flight) instead of one list process each. Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool listing;             /* a list runs now */
	double listed_at;         /* kf_now_mono() when the last list started */
	bool listed;              /* paths/n_paths (or list_err) hold the last list's answer */
	char **paths;
	size_t n_paths;
	int list_rc;
	struct kf_err list_err;
};

static struct vmw *vmw(struct kf_hv *hv)
{
	return (struct vmw *)hv;
}

static char *vmw_vm_file_name(const char *node)
{
	char *s = NULL;

	return asprintf(&s, "%s.vmx", node) < 0 ? NULL : s;
}

/* Files VMware keeps in a VM folder. */
static bool vmw_is_vm_file(const char *node, const char *name)
{
	static const char *const ext[] = { ".vmx", ".vmdk", ".nvram", ".vmsd", ".vmxf", ".log",
					   ".vmem", ".vmss", ".lck", ".scoreboard", ".vmx~",
					   ".vmtx", ".vmsn" };
	const char *dot = strrchr(name, '.');

	(void)node;
	if (!dot)
		return false;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (strcasecmp(dot, ext[i]) == 0)
			return true;
	return false;
}

/* The node's VMX (host path); KF_ENOMEM when it cannot be formed. */
static int vmx_of(struct kf_hv *hv, const char *node, char **vmx, struct kf_err *err)
{
	*vmx = kf_hv_vm_file(hv, node);
	return *vmx ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

static int vmw_host_checks(struct kf_findings *out, const struct kf_config *cfg,
			   const char *vm_dir, unsigned what)
{
	return kf_hostcheck_run(out, cfg, vm_dir, what);
}

static int vmw_open(struct kf_hv **out, const struct kf_config *cfg, const char *vm_dir,
		    struct kf_err *err)
{
	struct vmw *w = calloc(1, sizeof(*w));
	int r;

	(void)vm_dir;
	if (!w)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_vmrun_find(&w->v, cfg, err)) != 0) {
		free(w);
		return r;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	*out = &w->base;
	return 0;
}

static void vmw_close(struct kf_hv *hv)
{
	struct vmw *w = vmw(hv);

	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	kf_strv_free(w->paths, w->n_paths);
	kf_vmrun_free(w->v);
	free(w);
}

/* What Workstation would refuse or get wrong, checked before any VM is touched: EFI, disk
 * sizes without vdiskmanager, the hardware version against the Workstation found, the vnet in
 * the host's own form, and (under WSL with vmrun.exe) a VM folder Windows can reach. */
static int vmw_precheck(struct kf_hv *hv, struct kf_err *err)
{
	const struct kf_config *cfg = hv->cfg;
	struct kf_vmrun *v = vmw(hv)->v;
	char *ws = NULL, *vnet;
	struct kf_err e;
	bool uncertain = false;
	int r = 0;

	kf_info("vmrun %s (%s)", v->version, v->path);
	if (v->windows) {
		char *probe = NULL;
		if ((r = kf_wsl_to_windows(&probe, hv->vm_dir, err)) != 0)
			return r;
		free(probe);
	}
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
	if (!(vnet = kf_vmx_vnet_value(cfg->network.vmnet, v->windows)))
		return kf_err_set(err, KF_ECONFIG,
				  "network.vmnet '%s' is not a VMware network name such as VMnet1",
				  cfg->network.vmnet);
	free(vnet);
	return 0;
}

/* Creates the node's disk and VMX in its folder. */
static int vmw_create(struct kf_hv *hv, const struct kf_vm_spec *spec, struct kf_err *err)
{
	const struct kf_config *cfg = hv->cfg;
	const struct kf_node *node = spec->node;
	struct kf_vmrun *v = vmw(hv)->v;
	struct kf_vmx_spec vs;
	struct kf_vmx *vmx = NULL;
	char *folder = NULL, *vmx_path = NULL, *disk = NULL, *t_inst = NULL, *t_seed = NULL,
	     *t_disk = NULL, *disk_name = NULL, *nvram = NULL, *vnet = NULL;
	int r;

	if (!(folder = kf_hv_vm_folder(hv, node->name)) ||
	    !(vmx_path = kf_hv_vm_file(hv, node->name)) ||
	    asprintf(&disk, "%s/%s.vmdk", folder, node->name) < 0 ||
	    asprintf(&disk_name, "%s.vmdk", node->name) < 0 ||
	    asprintf(&nvram, "%s.nvram", node->name) < 0) {
		disk = NULL;
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (!(vnet = kf_vmx_vnet_value(cfg->network.vmnet, v->windows))) {
		r = kf_err_set(err, KF_ECONFIG,
			       "network.vmnet '%s' is not a VMware network name such as VMnet1",
			       cfg->network.vmnet);
		goto out;
	}
	/* image mode: the payload CD takes the installer's slot (the disk boots first either way) */
	if ((spec->installer_iso && (r = kf_vmrun_path(v, &t_inst, spec->installer_iso, err)) != 0) ||
	    (!spec->installer_iso && spec->payload_iso &&
	     (r = kf_vmrun_path(v, &t_inst, spec->payload_iso, err)) != 0) ||
	    (spec->seed_iso && (r = kf_vmrun_path(v, &t_seed, spec->seed_iso, err)) != 0) ||
	    (r = kf_vmrun_path(v, &t_disk, disk, err)) != 0)
		goto out;
	if (spec->base_image)
		r = kf_vmdk_from_image(disk, spec->base_image, node->disk_gb, cfg->timeouts.vmrun_s,
				       err);
	else
		r = kf_vmdk_create(v->vdiskmanager, disk, t_disk, node->disk_gb,
				   cfg->vmware.hw_version, cfg->timeouts.vmrun_s, err);
	if (r)
		goto out;
	memset(&vs, 0, sizeof(vs));
	vs.display_name = node->name;
	vs.annotation = spec->annotation;
	vs.cpus = node->cpus;
	vs.memory_mb = node->memory_mb;
	vs.hw_version = cfg->vmware.hw_version;
	vs.firmware = cfg->vmware.firmware;
	vs.disk_file = disk_name;
	vs.installer_iso = t_inst;
	vs.seed_iso = t_seed;
	vs.vnet = vnet;
	vs.mac = spec->mac;
	vs.nvram = nvram;
	if ((r = kf_vmx_build(&vmx, &vs, err)) != 0)
		goto out;
	r = kf_vmx_save(vmx, vmx_path, err);
	if (r == 0)
		kf_info("%s: created %s (%d vCPU, %d MiB, %d GiB disk, MAC %s)", node->name, vmx_path,
			node->cpus, node->memory_mb, node->disk_gb, spec->mac);
out:
	kf_vmx_free(vmx);
	free(folder);
	free(vmx_path);
	free(disk);
	free(t_inst);
	free(t_seed);
	free(t_disk);
	free(disk_name);
	free(nvram);
	free(vnet);
	return r;
}

static int vmw_start(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	char *vmx;
	int r;

	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_start(vmw(hv)->v, vmx, false, err);
	free(vmx);
	return r;
}

/* The comparison kf_vmrun_is_running makes (vmrun.c same_vm_path, which is static there):
 * exact on Linux; on Windows, where kf_vmrun_path gives a drive or UNC path, case- and
 * separator-insensitive. */
static bool same_vm_path(const char *listed, const char *want)
{
	bool windows = (want[0] && want[1] == ':') || (want[0] == '\\' && want[1] == '\\');

	if (!windows)
		return strcmp(listed, want) == 0;
	for (; *listed && *want; listed++, want++) {
		char x = *listed == '/' ? '\\' : (char)tolower((unsigned char)*listed);
		char y = *want == '/' ? '\\' : (char)tolower((unsigned char)*want);

		if (x != y)
			return false;
	}
	return *listed == *want;
}

/* An answer of a `vmrun list` started no earlier than not_before is shared, a list in flight
 * that fresh is waited for, else one list runs for every caller waiting. */
static int vmw_running(struct kf_hv *hv, const char *node, double not_before, bool *on,
		       struct kf_err *err)
{
	struct vmw *w = vmw(hv);
	char *vmx = NULL, *tv = NULL, **paths = NULL;
	size_t n = 0;
	struct kf_err le;
	double at;
	int r;

	*on = false;
	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_path(w->v, &tv, vmx, err);
	free(vmx);
	if (r)
		return r;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->listed && w->listed_at >= not_before)
			break;
		if (w->listing) {
			/* the one in flight (fresh enough or not): its end may satisfy us, or
			 * frees the lane for ours */
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		w->listing = true;
		at = kf_now_mono();
		pthread_mutex_unlock(&w->mu);
		kf_err_clear(&le);
		r = kf_vmrun_list(w->v, &paths, &n, &le);
		pthread_mutex_lock(&w->mu);
		kf_strv_free(w->paths, w->n_paths);
		w->paths = paths;
		w->n_paths = r == 0 ? n : 0;
		if (r != 0 && paths) {
			kf_strv_free(paths, n);
			w->paths = NULL;
		}
		paths = NULL;
		w->list_rc = r;
		w->list_err = le;
		w->listed_at = at;
		w->listed = true;
		w->listing = false;
		pthread_cond_broadcast(&w->cv);
	}
	if ((r = w->list_rc) != 0 && err)
		*err = w->list_err;
	for (size_t i = 0; r == 0 && i < w->n_paths && !*on; i++)
		*on = same_vm_path(w->paths[i], tv);
	pthread_mutex_unlock(&w->mu);
	free(tv);
	return r;
}

static int vmw_stop(struct kf_hv *hv, const char *node, bool hard, struct kf_err *err)
{
	char *vmx;
	int r;

	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_stop(vmw(hv)->v, vmx, hard, err);
	free(vmx);
	return r;
}

static int vmw_wait_released(struct kf_hv *hv, const char *node, bool stopped,
			     struct kf_err *err)
{
	char *folder = kf_hv_vm_folder(hv, node);
	int r;

	if (!folder)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_vmlab_wait_unlocked(folder, node, stopped, err);
	free(folder);
	return r;
}

static int vmw_media_attached(struct kf_hv *hv, const char *node, bool *attached,
			      struct kf_err *err)
{
	struct kf_vmx *vmx = NULL;
	char *path, *before = NULL, *after = NULL;
	int r;

	*attached = false;
	if ((r = vmx_of(hv, node, &path, err)) != 0)
		return r;
	if ((r = kf_vmx_load(&vmx, path, err)) == 0) {
		before = kf_vmx_format(vmx);
		kf_vmx_detach_cdroms(vmx);
		after = kf_vmx_format(vmx);
		if (!before || !after)
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
		else
			*attached = strcmp(before, after) != 0;
	}
	free(before);
	free(after);
	kf_vmx_free(vmx);
	free(path);
	return r;
}

/* Loads the VMX afresh (VMware rewrites it when a VM powers off), takes the CD-ROMs out and
 * saves it. */
static int vmw_detach_media(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	struct kf_vmx *vmx = NULL;
	char *path;
	int r;

	if ((r = vmx_of(hv, node, &path, err)) != 0)
		return r;
	if ((r = kf_vmx_load(&vmx, path, err)) == 0) {
		kf_vmx_detach_cdroms(vmx);
		r = kf_vmx_save(vmx, path, err);
	}
	kf_vmx_free(vmx);
	free(path);
	return r;
}

/* The VMs run nogui, where vmrun answers checkToolsState with "installed" while Tools run, and
 * getGuestIPAddress without -wait with "The VMware Tools are not running" (open-vm-tools#718,
 * docker-machine-driver-vmware#31): so "installed" counts as present and the IP is asked with
 * -wait and a short timeout per call, as vagrant does (driver/base.rb:599, 10 s). */
static int vmw_tools_running(struct kf_hv *hv, const char *node, bool *running,
			     struct kf_err *err)
{
	char *vmx, *state = NULL;
	int r;

	*running = false;
	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_tools_state(vmw(hv)->v, vmx, &state, err);
	*running = r == 0 && kf_vmrun_tools_present(state);
	free(state);
	free(vmx);
	return r;
}

static int vmw_guest_ip(struct kf_hv *hv, const char *node, char **ip, struct kf_err *err)
{
	char *vmx;
	int r;

	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_guest_ip(vmw(hv)->v, vmx, true, GUEST_IP_WAIT_S, ip, err);
	free(vmx);
	return r;
}

static int vmw_snapshot_list(struct kf_hv *hv, const char *node, char ***names, size_t *n,
			     struct kf_err *err)
{
	char *vmx;
	int r;

	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = kf_vmrun_list_snapshots(vmw(hv)->v, vmx, names, n, err);
	free(vmx);
	return r;
}

enum snap_verb { SNAP_CREATE, SNAP_REVERT, SNAP_DELETE };

static int snap(struct kf_hv *hv, enum snap_verb verb, const char *node, const char *name,
		struct kf_err *err)
{
	struct kf_vmrun *v = vmw(hv)->v;
	char *vmx;
	int r;

	if ((r = vmx_of(hv, node, &vmx, err)) != 0)
		return r;
	r = verb == SNAP_CREATE ? kf_vmrun_snapshot(v, vmx, name, err)
	    : verb == SNAP_REVERT ? kf_vmrun_revert(v, vmx, name, err)
				  : kf_vmrun_delete_snapshot(v, vmx, name, err);
	free(vmx);
	return r;
}

static int vmw_snapshot_create(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err)
{
	return snap(hv, SNAP_CREATE, node, name, err);
}

static int vmw_snapshot_revert(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err)
{
	return snap(hv, SNAP_REVERT, node, name, err);
}

static int vmw_snapshot_delete(struct kf_hv *hv, const char *node, const char *name,
			       struct kf_err *err)
{
	return snap(hv, SNAP_DELETE, node, name, err);
}

static int vmw_remove(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	char *folder = kf_hv_vm_folder(hv, node);
	int r;

	if (!folder)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_vmlab_remove_vm(vmw(hv)->v, folder, node, err);
	free(folder);
	return r;
}

static json_t *vmw_describe(const struct kf_hv *hv)
{
	const struct kf_vmrun *v = ((const struct vmw *)hv)->v;

	return json_pack("{s:s,s:o,s:o}", "hypervisor", "vmware", "program", kf_json_text(v->path),
			 "version", v->version ? json_string(v->version) : json_null());
}

const struct kf_hv_ops kf_hv_vmware_ops = {
	.name = "vmware",
	.host_checks = vmw_host_checks,
	.open = vmw_open,
	.close = vmw_close,
	.precheck = vmw_precheck,
	.vm_file_name = vmw_vm_file_name,
	.is_vm_file = vmw_is_vm_file,
	.create = vmw_create,
	.start = vmw_start,
	.running = vmw_running,
	.stop = vmw_stop,
	.wait_released = vmw_wait_released,
	.media_attached = vmw_media_attached,
	.detach_media = vmw_detach_media,
	.tools_running = vmw_tools_running,
	.guest_ip = vmw_guest_ip,
	.snapshot_list = vmw_snapshot_list,
	.snapshot_create = vmw_snapshot_create,
	.snapshot_revert = vmw_snapshot_revert,
	.snapshot_delete = vmw_snapshot_delete,
	.remove = vmw_remove,
	.describe = vmw_describe,
};
