/* vmrun as a source of readiness signals for the wait engine. The VMs run nogui, where vmrun
 * answers checkToolsState with "installed" while Tools run, and getGuestIPAddress without -wait
 * with "The VMware Tools are not running" (open-vm-tools#718, docker-machine-driver-vmware#31):
 * so "installed" counts as present and the IP is asked with -wait and a short timeout per call,
 * as vagrant does (lib/vagrant-vmware-desktop/driver/base.rb:599, 10 s). */
#include "k3sforge/vmsignals.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/vmlab.h"

/* Per getGuestIPAddress -wait call: vagrant's bound (driver/base.rb:599). */
#define GUEST_IP_WAIT_S 10
/* How old a shared `vmrun list` answer may be for the wait engine's "powered on" question: its
 * rounds ask every node at about the same moment, and one list answers them all. */
#define POWERED_ON_FRESH_S 0.5

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

int kf_vmsignals_running(struct kf_vmsignals *vs, const char *vmx, double not_before, bool *on,
			 struct kf_err *err)
{
	char *tv = NULL, **paths = NULL;
	size_t n = 0;
	struct kf_err le;
	double at;
	int r;

	*on = false;
	if ((r = kf_vmrun_path(vs->vmrun, &tv, vmx, err)) != 0)
		return r;
	pthread_mutex_lock(&vs->mu);
	for (;;) {
		if (vs->listed && vs->listed_at >= not_before)
			break;
		if (vs->listing) {
			/* the one in flight (fresh enough or not): its end may satisfy us, or
			 * frees the lane for ours */
			pthread_cond_wait(&vs->cv, &vs->mu);
			continue;
		}
		vs->listing = true;
		at = vs->listing_at = kf_now_mono();
		pthread_mutex_unlock(&vs->mu);
		kf_err_clear(&le);
		r = kf_vmrun_list(vs->vmrun, &paths, &n, &le);
		pthread_mutex_lock(&vs->mu);
		kf_vmrun_strv_free(vs->paths, vs->n_paths);
		vs->paths = paths;
		vs->n_paths = r == 0 ? n : 0;
		if (r != 0 && paths) {
			kf_vmrun_strv_free(paths, n);
			vs->paths = NULL;
		}
		paths = NULL;
		vs->list_rc = r;
		vs->list_err = le;
		vs->listed_at = at;
		vs->listed = true;
		vs->listing = false;
		pthread_cond_broadcast(&vs->cv);
	}
	if ((r = vs->list_rc) != 0 && err)
		*err = vs->list_err;
	for (size_t i = 0; r == 0 && i < vs->n_paths && !*on; i++)
		*on = same_vm_path(vs->paths[i], tv);
	pthread_mutex_unlock(&vs->mu);
	free(tv);
	return r;
}

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
	int r = vmx ? kf_vmsignals_running(vs, vmx, kf_now_mono() - POWERED_ON_FRESH_S, on, err)
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
	pthread_mutex_init(&vs->mu, NULL);
	pthread_cond_init(&vs->cv, NULL);
	vs->cache_ready = true;
	return 0;
}

void kf_vmsignals_free(struct kf_vmsignals *vs)
{
	if (vs->cache_ready) {
		pthread_mutex_destroy(&vs->mu);
		pthread_cond_destroy(&vs->cv);
	}
	kf_vmrun_strv_free(vs->paths, vs->n_paths);
	kf_vmrun_free(vs->vmrun);
	free(vs->vm_dir);
	memset(vs, 0, sizeof(*vs));
}
