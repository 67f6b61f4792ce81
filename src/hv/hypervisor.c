/* The hypervisor interface's common part (hypervisor.h): choosing the implementation the
 * configuration names, and where a lab's VM folders are. */
#include "k3sforge/hypervisor.h"

#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/hv_impl.h"
#include "k3sforge/vmx.h"

const struct kf_hv_ops *kf_hv_ops_for(const struct kf_config *cfg)
{
	switch (cfg->hypervisor) {
	case KF_HV_VMWARE: return &kf_hv_vmware_ops;
	case KF_HV_QEMU: return &kf_hv_qemu_ops;
	}
	return NULL;
}

char *kf_hv_vm_dir(const struct kf_config *cfg, const char *out_dir)
{
	char *rel, *abs;

	if (cfg->paths.vm_dir && *cfg->paths.vm_dir)
		return kf_path_abs(cfg->paths.vm_dir);
	rel = kf_path_join(out_dir, "vms");
	abs = rel ? kf_path_abs(rel) : NULL;
	free(rel);
	return abs;
}

char *kf_hv_vm_folder(const struct kf_hv *hv, const char *node)
{
	return kf_path_join(hv->vm_dir, node);
}

char *kf_hv_vm_file(const struct kf_hv *hv, const char *node)
{
	char *folder = kf_hv_vm_folder(hv, node), *name = hv->ops->vm_file_name(node), *p = NULL;

	if (folder && name)
		p = kf_path_join(folder, name);
	free(folder);
	free(name);
	return p;
}

char *kf_hv_vm_file_at(const struct kf_config *cfg, const char *out_dir, const char *node)
{
	const struct kf_hv_ops *ops = kf_hv_ops_for(cfg);
	char *dir = kf_hv_vm_dir(cfg, out_dir), *folder = NULL, *name = NULL, *p = NULL;

	if (ops && dir && (folder = kf_path_join(dir, node)) && (name = ops->vm_file_name(node)))
		p = kf_path_join(folder, name);
	free(dir);
	free(folder);
	free(name);
	return p;
}

int kf_hv_open_at(struct kf_hv **out, const struct kf_config *cfg, const char *vm_dir,
		  struct kf_err *err)
{
	const struct kf_hv_ops *ops = kf_hv_ops_for(cfg);
	char *dir;
	int r;

	*out = NULL;
	if (!ops)
		return kf_err_set(err, KF_EUNSUPPORTED,
				  "this build of k3sforge has no %s backend: set `hypervisor: vmware`",
				  cfg->hypervisor == KF_HV_QEMU ? "qemu" : "such");
	if (!(dir = kf_path_abs(vm_dir)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = ops->open(out, cfg, dir, err);
	if (r == 0) {
		(*out)->ops = ops;
		(*out)->cfg = cfg;
		(*out)->vm_dir = dir;
	} else {
		free(dir);
	}
	return r;
}

int kf_hv_open(struct kf_hv **out, const struct kf_config *cfg, const char *out_dir,
	       struct kf_err *err)
{
	char *vm_dir = kf_hv_vm_dir(cfg, out_dir);
	int r;

	*out = NULL;
	if (!vm_dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_hv_open_at(out, cfg, vm_dir, err);
	free(vm_dir);
	return r;
}

void kf_hv_close(struct kf_hv *hv)
{
	char *vm_dir;

	if (!hv)
		return;
	vm_dir = hv->vm_dir;
	hv->ops->close(hv);
	free(vm_dir);
}

int kf_hv_host_checks(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir,
		      unsigned what)
{
	const struct kf_hv_ops *ops = kf_hv_ops_for(cfg);

	if (!ops)
		return kf_findings_add(out, "hypervisor", KF_CHECK_FAIL,
				       "set `hypervisor: vmware` in the configuration",
				       "this build has no backend for the configured hypervisor");
	return ops->host_checks(out, cfg, vm_dir, what);
}


int kf_hv_assign_macs(char (*out)[KF_HV_MAC_LEN + 1], const char *cluster,
		      const char *const *names, const char *const *given, size_t n,
		      struct kf_err *err)
{
	_Static_assert(KF_HV_MAC_LEN == KF_VMX_MAC_LEN, "one MAC format");
	return kf_vmx_assign_macs(out, cluster, names, given, n, err);
}

const char *kf_host_checks_warn_only(const struct kf_config *cfg)
{
	const char *v = getenv("K3SFORGE_HOST_CHECKS");

	if (v && strcmp(v, "warn") == 0)
		return "K3SFORGE_HOST_CHECKS=warn";
	return cfg->vmware.host_checks_warn ? "vmware.host_checks: warn" : NULL;
}
