/* The finalize stage: detach the installer and seed ISOs from every node in parallel (ejected
 * live where the hypervisor can, QEMU; else each VM stopped, its configuration edited, started
 * again, VMware), wait for SSH and the markers again after a restart, then wait until
 * the cluster says every node is Ready, kube-system runs and (with KubeSphere) the console
 * answers. Every wait is bounded and explains what was missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cluster.h"
#include "k3sforge/fanout.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/lab.h"
#include "k3sforge/log.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"

struct detach_job {
	struct kf_hv *hv;
	const struct kf_node *node;
	double started;           /* when detach_all began: one "is it on" answer that fresh
				   * serves every node */
	bool restarted;
	int rc;
	struct kf_err err;
};

/* Stops a VM soft (guest shutdown), hard if that does not work in time. */
static int stop_vm(struct kf_hv *hv, const char *name, struct kf_err *err)
{
	const struct kf_hv_ops *ops = hv->ops;
	bool running = true;

	/* Asked of an answer obtained after this stop returned (shared with nodes stopped
	 * meanwhile). */
	if (ops->stop(hv, name, false, err) == 0 &&
	    ops->running(hv, name, kf_now_mono(), &running, err) == 0 && !running)
		return 0;
	kf_warn("%s: soft stop did not power it off (%s); stopping hard", name, err->msg);
	kf_err_clear(err);
	return ops->stop(hv, name, true, err);
}

/* A VM whose ISOs are already out but that is off: a run stopped between the edit and the
 * start (killed, or the start failed). Power it on, or nothing after this can reach it -- once
 * a stop made just before (by that run, or by hand) has let go of its files. */
static int start_detached(struct kf_hv *hv, const char *name, bool *restarted,
			  struct kf_err *err)
{
	int r;

	if ((r = hv->ops->wait_released(hv, name, false, err)) != 0 ||
	    (r = hv->ops->start(hv, name, err)) != 0)
		return r;
	*restarted = true;
	kf_ok("%s: was powered off; started again", name);
	return 0;
}

int kf_lab_detach_node(struct kf_hv *hv, const struct kf_node *node, double since,
		       bool *restarted, struct kf_err *err)
{
	const struct kf_hv_ops *ops = hv->ops;
	const char *name = node->name;
	bool running = since == KF_LAB_RUNNING, attached = false;
	int r;

	*restarted = false;
	kf_err_clear(err);
	if ((r = ops->media_attached(hv, name, &attached, err)) != 0 ||
	    (!running && (r = ops->running(hv, name, since, &running, err)) != 0))
		goto out;
	if (!attached) {
		kf_info("%s: ISOs already detached", name);
		if (!running)
			r = start_detached(hv, name, restarted, err);
		goto out;
	}
	if (running && ops->detach_media_live) {
		/* ejected in place: no restart, nothing to wait for again */
		if ((r = ops->detach_media_live(hv, name, err)) == 0)
			kf_ok("%s: ISOs detached (live, no restart)", name);
		goto out;
	}
	if (running && (r = stop_vm(hv, name, err)) != 0)
		goto out;
	/* The hypervisor still holds the VM's files for a while after it is off (VMware: packer
	 * step_shutdown.go:87-128): edit its configuration only once they are released. */
	if ((r = ops->wait_released(hv, name, running, err)) != 0 ||
	    (r = ops->detach_media(hv, name, err)) != 0 || (r = ops->start(hv, name, err)) != 0)
		goto out;
	*restarted = true;
	kf_ok("%s: ISOs detached, VM started again", name);
out:
	if (r)
		kf_err_wrap(err, "%s", name);
	return r;
}

int kf_lab_start_detached(struct kf_hv *hv, const struct kf_node *node, double since,
			  bool *restarted, struct kf_err *err)
{
	bool attached = true, running = true;
	int r;

	*restarted = false;
	kf_err_clear(err);
	if ((r = hv->ops->media_attached(hv, node->name, &attached, err)) == 0 && !attached &&
	    (r = hv->ops->running(hv, node->name, since, &running, err)) == 0 && !running)
		r = start_detached(hv, node->name, restarted, err);
	if (r)
		kf_err_wrap(err, "%s", node->name);
	return r;
}

static void detach_one(struct detach_job *j)
{
	j->rc = kf_lab_detach_node(j->hv, j->node, j->started, &j->restarted, &j->err);
}

static int detach_each(void *arg, size_t i)
{
	struct detach_job *jobs = arg;

	detach_one(&jobs[i]);
	return jobs[i].rc;
}

static int detach_all(const struct kf_lab *lab, bool *restarted, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_hv *hv = NULL;
	struct detach_job *jobs;
	size_t n = cfg->n_nodes, failed = 0;
	int *rcs;
	/* after up's wait saw each node ready past its detach, it runs: no list call */
	double started = lab->opts.ready_after_detach ? KF_LAB_RUNNING : kf_now_mono();
	int r = 0;

	*restarted = false;
	if ((r = kf_hv_open(&hv, cfg, lab->out_dir, err)) != 0)
		return kf_err_wrap(err, "cannot detach the ISOs (use --keep-iso when the VMs are "
					"not managed from this host)");
	jobs = calloc(n ? n : 1, sizeof(*jobs));
	rcs = calloc(n ? n : 1, sizeof(*rcs));
	if (!jobs || !rcs) {
		free(jobs);
		free(rcs);
		kf_hv_close(hv);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct detach_job){ .hv = hv, .node = &cfg->nodes[i], .started = started };
	kf_each_node(n, 0, detach_each, jobs, rcs);
	for (size_t i = 0; i < n; i++) {
		*restarted |= jobs[i].restarted;
		if (rcs[i] == KF_EINTR && !jobs[i].rc)
			jobs[i].rc = kf_err_set(&jobs[i].err, KF_EINTR, "%s: interrupted",
						jobs[i].node->name);
		if (jobs[i].rc) {
			kf_error("%s", jobs[i].err.msg);
			if (!failed)
				*err = jobs[i].err;
			failed++;
		}
	}
	if (failed)
		r = kf_err_wrap(err, "detaching ISOs failed on %zu of %zu nodes", failed, n);
	free(jobs);
	free(rcs);
	kf_hv_close(hv);
	return r;
}

static int finalize_run(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const struct kf_node *m;
	struct kf_ssh *s = NULL;
	bool restarted = false;
	char console[128];
	int r;

	m = kf_config_master(cfg);
	if (!m)
		return kf_err_set(err, KF_ECONFIG, "the configuration has no master node");
	if (!lab->opts.keep_iso) {
		kf_info("finalize 1/3: detach the installer and seed ISOs");
		if ((r = detach_all(lab, &restarted, err)) != 0)
			return r;
	}
	if (restarted) {
		kf_info("finalize 2/3: wait for the restarted nodes");
		if ((r = kf_lab_wait_nodes(lab, "finalize", true, false, cfg->timeouts.finalize_s,
					     err)) != 0)
			return r;
	}
	kf_info("finalize 3/3: cluster health");
	if ((r = kf_node_connect(&s, cfg, m, lab->out_dir, 0, NULL, err)) != 0)
		return r;
	snprintf(console, sizeof(console), "http://%s:30880", m->ip);
	r = kf_cluster_wait_healthy(s, cfg, cfg->timeouts.finalize_s, console, err);
	kf_ssh_close(s);
	if (r == 0 && cfg->addons.kubesphere)
		kf_ok("KubeSphere console: %s (user admin)", console);
	return r;
}

static int finalize_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	int r;

	if ((r = kf_stage_wait.fingerprint(lab, fp, err)) != 0)
		return r;
	for (size_t i = 0; i < cfg->k3s.n_disable; i++)
		kf_fp_str(fp, "disable", cfg->k3s.disable[i]);
	kf_fp_int(fp, "kubesphere", cfg->addons.kubesphere);
	kf_fp_int(fp, "keep_iso", lab->opts.keep_iso);
	return 0;
}

const struct kf_stage_def kf_stage_finalize = {
	.name = "finalize",
	.fingerprint = finalize_fingerprint,
	.check = NULL,
	.run = finalize_run,
	.after = kf_after_create_vms,
};

