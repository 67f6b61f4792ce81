/* The hypervisor as a source of readiness signals for the wait engine (vmsignals.h). */
#include "k3sforge/vmsignals.h"

#include <string.h>

#include "k3sforge/platform.h"

/* How old a shared "is it on" answer may be for the wait engine: its rounds ask every node at
 * about the same moment, and one answer (VMware: one `vmrun list`) serves them all. */
#define POWERED_ON_FRESH_S 0.5

static int powered_on(void *ctx, const struct kf_node *n, bool *on, struct kf_err *err)
{
	struct kf_hv *hv = ctx;

	return hv->ops->running(hv, n->name, kf_now_mono() - POWERED_ON_FRESH_S, on, err);
}

static int tools_running(void *ctx, const struct kf_node *n, bool *running, struct kf_err *err)
{
	struct kf_hv *hv = ctx;

	return hv->ops->tools_running(hv, n->name, running, err);
}

static int guest_ip(void *ctx, const struct kf_node *n, char **ip, struct kf_err *err)
{
	struct kf_hv *hv = ctx;

	return hv->ops->guest_ip(hv, n->name, ip, err);
}

int kf_vmsignals_init(struct kf_vmsignals *vs, const struct kf_config *cfg, const char *out_dir,
		      struct kf_err *err)
{
	int r;

	memset(vs, 0, sizeof(*vs));
	if ((r = kf_hv_open(&vs->hv, cfg, out_dir, err)) != 0)
		return r;
	vs->ops.powered_on = powered_on;
	vs->ops.tools_running = vs->hv->ops->tools_running ? tools_running : NULL;
	vs->ops.guest_ip = vs->hv->ops->guest_ip ? guest_ip : NULL;
	vs->ops.ctx = vs->hv;
	return 0;
}

void kf_vmsignals_free(struct kf_vmsignals *vs)
{
	kf_hv_close(vs->hv);
	memset(vs, 0, sizeof(*vs));
}
