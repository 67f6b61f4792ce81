/* k3sforge finalize: detach the installer and seed ISOs from every node (in parallel, each VM
 * stopped, its VMX edited, started again), wait for SSH and the markers again, then wait until
 * the cluster says every node is Ready, kube-system runs and (with KubeSphere) the console
 * answers. Every wait is bounded and explains what was missing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cluster.h"
#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"
#include "k3sforge/stage.h"
#include "k3sforge/stages.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmsignals.h"
#include "k3sforge/vmx.h"

extern const struct kf_cmd kf_cmd_finalize;

static bool opt_force, opt_keep_iso;

static const struct kf_opt finalize_opts[] = {
	KF_OPT_FLAG_(0, "keep-iso", &opt_keep_iso,
		     "leave the ISOs attached (VMs on another host; boot order is disk first)"),
	KF_OPT_FLAG_(0, "force", &opt_force, "run even if up to date"),
	KF_OPT_END_,
};

struct detach_job {
	struct kf_vmsignals *vs;
	const struct kf_node *node;
	double started;           /* when detach_all began: one `vmrun list` that fresh serves all */
	bool threaded;
	bool restarted;
	int rc;
	struct kf_err err;
};

/* Stops a VM soft (guest shutdown), hard if that does not work in time. */
static int stop_vm(struct detach_job *j, const char *vmx)
{
	bool running = true;

	/* Asked of a list started after this stop returned (shared with nodes stopped meanwhile). */
	if (kf_vmrun_stop(j->vs->vmrun, vmx, false, &j->err) == 0 &&
	    kf_vmsignals_running(j->vs, vmx, kf_now_mono(), &running, &j->err) == 0 && !running)
		return 0;
	kf_warn("%s: soft stop did not power it off (%s); stopping hard", j->node->name, j->err.msg);
	kf_err_clear(&j->err);
	return kf_vmrun_stop(j->vs->vmrun, vmx, true, &j->err);
}

static void *detach_one(void *arg)
{
	struct detach_job *j = arg;
	char *vmx_path = kf_vmsignals_vmx(j->vs, j->node), *before = NULL, *after = NULL;
	char *folder = NULL;
	struct kf_vmx *vmx = NULL;
	bool running = false;

	kf_err_clear(&j->err);
	if (!vmx_path) {
		j->rc = kf_err_set(&j->err, KF_ENOMEM, "out of memory");
		return NULL;
	}
	if ((j->rc = kf_vmx_load(&vmx, vmx_path, &j->err)) != 0)
		goto out;
	before = kf_vmx_format(vmx);
	kf_vmx_detach_cdroms(vmx);
	after = kf_vmx_format(vmx);
	if ((j->rc = kf_vmsignals_running(j->vs, vmx_path, j->started, &running, &j->err)) != 0)
		goto out;
	/* The VM's folder, where vmware-vmx keeps its locks. */
	if ((folder = strdup(vmx_path)) == NULL) {
		j->rc = kf_err_set(&j->err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (strrchr(folder, '/'))
		*strrchr(folder, '/') = '\0';
	if (before && after && strcmp(before, after) == 0) {
		kf_info("%s: ISOs already detached", j->node->name);
		/* A run stopped between the VMX edit and the start (killed, or the start failed)
		 * leaves the VM off: power it on, or nothing after this can reach it — once a
		 * stop made just before (by that run, or by hand) has released its locks. */
		if (!running) {
			if ((j->rc = kf_vmlab_wait_unlocked(folder, j->node->name, false, &j->err)) != 0 ||
			    (j->rc = kf_vmrun_start(j->vs->vmrun, vmx_path, false, &j->err)) != 0)
				goto out;
			j->restarted = true;
			kf_ok("%s: was powered off; started again", j->node->name);
		}
		goto out;
	}
	if (running && (j->rc = stop_vm(j, vmx_path)) != 0)
		goto out;
	/* vmware-vmx still holds the VM's files for a while after it is off (packer
	 * step_shutdown.go:87-128): edit the VMX only once they are released. */
	if ((j->rc = kf_vmlab_wait_unlocked(folder, j->node->name, running, &j->err)) != 0)
		goto out;
	/* Reload: VMware rewrites the VMX when a VM powers off. */
	kf_vmx_free(vmx);
	vmx = NULL;
	if ((j->rc = kf_vmx_load(&vmx, vmx_path, &j->err)) != 0)
		goto out;
	kf_vmx_detach_cdroms(vmx);
	if ((j->rc = kf_vmx_save(vmx, vmx_path, &j->err)) != 0)
		goto out;
	if ((j->rc = kf_vmrun_start(j->vs->vmrun, vmx_path, false, &j->err)) != 0)
		goto out;
	j->restarted = true;
	kf_ok("%s: ISOs detached, VM started again", j->node->name);
out:
	if (j->rc)
		kf_err_wrap(&j->err, "%s", j->node->name);
	free(before);
	free(after);
	free(folder);
	kf_vmx_free(vmx);
	free(vmx_path);
	return NULL;
}

static int detach_all(struct kf_ctx *ctx, const struct kf_config *cfg, bool *restarted,
		      struct kf_err *err)
{
	struct kf_vmsignals vs;
	struct detach_job *jobs;
	pthread_t *th;
	size_t n = cfg->n_nodes, failed = 0;
	double started = kf_now_mono();
	int r = 0;

	*restarted = false;
	if ((r = kf_vmsignals_init(&vs, cfg, ctx->out_dir, err)) != 0)
		return kf_err_wrap(err, "cannot detach the ISOs (use --keep-iso when the VMs are "
					"not managed from this host)");
	jobs = calloc(n, sizeof(*jobs));
	th = calloc(n, sizeof(*th));
	if (!jobs || !th) {
		free(jobs);
		free(th);
		kf_vmsignals_free(&vs);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i].vs = &vs;
		jobs[i].node = &cfg->nodes[i];
		jobs[i].started = started;
		jobs[i].threaded = pthread_create(&th[i], NULL, detach_one, &jobs[i]) == 0;
		if (!jobs[i].threaded)
			detach_one(&jobs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].threaded)
			pthread_join(th[i], NULL);
		*restarted |= jobs[i].restarted;
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
	free(th);
	kf_vmsignals_free(&vs);
	return r;
}

static int finalize_run(struct kf_ctx *ctx, struct kf_err *err)
{
	struct kf_config *cfg;
	const struct kf_node *m;
	struct kf_ssh *s = NULL;
	bool restarted = false;
	char console[128];
	int r;

	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	m = kf_config_master(cfg);
	if (!m)
		return kf_err_set(err, KF_ECONFIG, "the configuration has no master node");
	if (!opt_keep_iso) {
		kf_info("finalize 1/3: detach the installer and seed ISOs");
		if ((r = detach_all(ctx, cfg, &restarted, err)) != 0)
			return r;
	}
	if (restarted) {
		kf_info("finalize 2/3: wait for the restarted nodes");
		if ((r = kf_wait_stage_nodes(ctx, "finalize", true, cfg->timeouts.finalize_s, err)) != 0)
			return r;
	}
	kf_info("finalize 3/3: cluster health");
	if ((r = kf_node_connect(&s, cfg, m, ctx->out_dir, 0, NULL, err)) != 0)
		return r;
	snprintf(console, sizeof(console), "http://%s:30880", m->ip);
	r = kf_cluster_wait_healthy(s, cfg, cfg->timeouts.finalize_s, console, err);
	kf_ssh_close(s);
	if (r == 0 && cfg->addons.kubesphere)
		kf_ok("KubeSphere console: %s (user admin)", console);
	return r;
}

static int finalize_fingerprint(struct kf_ctx *ctx, struct kf_fp *fp, struct kf_err *err)
{
	struct kf_config *cfg;
	int r;

	if ((r = kf_stage_wait.fingerprint(ctx, fp, err)) != 0)
		return r;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	for (size_t i = 0; i < cfg->k3s.n_disable; i++)
		kf_fp_str(fp, "disable", cfg->k3s.disable[i]);
	kf_fp_int(fp, "kubesphere", cfg->addons.kubesphere);
	kf_fp_int(fp, "keep_iso", opt_keep_iso);
	return 0;
}

const struct kf_stage_def kf_stage_finalize = {
	.name = "finalize",
	.fingerprint = finalize_fingerprint,
	.check = NULL,
	.run = finalize_run,
	.after = kf_after_create_vms,
};

static int finalize_cmd(struct kf_ctx *ctx, int argc, char **argv)
{
	int r;

	if ((r = kf_cmd_parse_no_args(ctx, &kf_cmd_finalize, argc, argv)) != 0)
		return r;
	return kf_stage_execute(ctx, &kf_stage_finalize, opt_force, NULL);
}

const struct kf_cmd kf_cmd_finalize = {
	.name = "finalize",
	.summary = "detach the ISOs, then wait until every node is Ready and the add-ons answer",
	.usage = "k3sforge [-c FILE] [-o DIR] finalize [--keep-iso] [--force]",
	.description =
		"Detaches both CD-ROMs from every node in parallel (VM stopped, VMX edited, started),\n"
		"waits for SSH and the role markers again, then asks the master until every node is\n"
		"Ready, coredns, traefik, svclb, local-path-provisioner and metrics-server run (minus\n"
		"what k3s.disable turns off) and, with KubeSphere on, ks-console runs and\n"
		"http://<master>:30880/login answers 200 (ks-console sends / to /login with a 302\n"
		"when there is no session). Bounded by timeouts.finalize.",
	.example = "  k3sforge -c lab.yaml finalize",
	.opts = finalize_opts,
	.run = finalize_cmd,
};
