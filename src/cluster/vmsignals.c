/* vmrun as a source of readiness signals for the wait engine. The VMs run nogui, where vmrun
 * answers checkToolsState with "installed" while Tools run, and getGuestIPAddress without -wait
 * with "The VMware Tools are not running" (open-vm-tools#718, docker-machine-driver-vmware#31):
 * so "installed" counts as present and the IP is asked with -wait and a short timeout per call,
 * as vagrant does (lib/vagrant-vmware-desktop/driver/base.rb:599, 10 s). */
#include "k3sforge/vmsignals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/vmlab.h"

/* Per getGuestIPAddress -wait call: vagrant's bound (driver/base.rb:599). */
#define GUEST_IP_WAIT_S 10

char *kf_vmsignals_vmx(const struct kf_vmsignals *vs, const struct kf_node *n)
{
	char *folder = kf_path_join(vs->vm_dir, n->name);
	size_t len;
	char *vmx;

	if (!folder)
		return NULL;
	len = strlen(folder) + strlen(n->name) + 8;
	vmx = malloc(len);
	if (vmx)
		snprintf(vmx, len, "%s/%s.vmx", folder, n->name);
	free(folder);
	return vmx;
}

static int powered_on(void *ctx, const struct kf_node *n, bool *on, struct kf_err *err)
{
	struct kf_vmsignals *vs = ctx;
	char *vmx = kf_vmsignals_vmx(vs, n);
	int r = vmx ? kf_vmrun_is_running(vs->vmrun, vmx, on, err)
		    : kf_err_set(err, KF_ENOMEM, "out of memory");

	free(vmx);
	return r;
}

static int tools_running(void *ctx, const struct kf_node *n, bool *running, struct kf_err *err)
{
	struct kf_vmsignals *vs = ctx;
	char *vmx = kf_vmsignals_vmx(vs, n), *state = NULL;
	int r = vmx ? kf_vmrun_tools_state(vs->vmrun, vmx, &state, err)
		    : kf_err_set(err, KF_ENOMEM, "out of memory");

	*running = r == 0 && kf_vmrun_tools_present(state);
	free(state);
	free(vmx);
	return r;
}

static int guest_ip(void *ctx, const struct kf_node *n, char **ip, struct kf_err *err)
{
	struct kf_vmsignals *vs = ctx;
	char *vmx = kf_vmsignals_vmx(vs, n);
	int r = vmx ? kf_vmrun_guest_ip(vs->vmrun, vmx, true, GUEST_IP_WAIT_S, ip, err)
		    : kf_err_set(err, KF_ENOMEM, "out of memory");

	free(vmx);
	return r;
}

int kf_vmsignals_init(struct kf_vmsignals *vs, const struct kf_config *cfg, const char *out_dir,
		      struct kf_err *err)
{
	int r;

	memset(vs, 0, sizeof(*vs));
	if ((r = kf_vmrun_find(&vs->vmrun, cfg, err)) != 0)
		return r;
	vs->vm_dir = kf_vmlab_dir(cfg, out_dir);
	if (!vs->vm_dir) {
		kf_vmsignals_free(vs);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	vs->ops.powered_on = powered_on;
	vs->ops.tools_running = tools_running;
	vs->ops.guest_ip = guest_ip;
	vs->ops.ctx = vs;
	return 0;
}

void kf_vmsignals_free(struct kf_vmsignals *vs)
{
	kf_vmrun_free(vs->vmrun);
	free(vs->vm_dir);
	memset(vs, 0, sizeof(*vs));
}
