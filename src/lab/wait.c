/* The wait stage: every node at once, until its role's completion marker exists; shared with
 * finalize (kf_lab_wait_nodes). Run by `up`, it also detaches each node's ISOs the moment that
 * node is ready (kf_lab_opts.detach_when_ready), so finalize finds nothing left to restart. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fanout.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/lab.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"
#include "k3sforge/state.h"
#include "k3sforge/vmsignals.h"
#include "k3sforge/wait.h"

/* The per-node outcome, kept in state.json under the stage that waited (wait or finalize). */
static void record(const struct kf_lab *lab, const char *stage, const struct kf_wait_result *res,
		   size_t n)
{
	struct kf_state *st = NULL;
	struct kf_err err;
	json_t *nodes = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "phase", json_string(kf_wait_phase_name(res[i].phase)));
		json_object_set_new(o, "done", json_boolean(res[i].done));
		if (res[i].failed)
			json_object_set_new(o, "failed", json_true());
		json_object_set_new(o, "seconds", json_integer((json_int_t)res[i].elapsed_s));
		if (res[i].reason[0])
			json_object_set_new(o, "reason", kf_json_text(res[i].reason));
		json_object_set_new(nodes, res[i].node->name, o);
	}
	if (kf_state_load(&st, lab->out_dir, &err) == 0) {
		json_object_set(kf_state_data(st, stage), "nodes", nodes);
		kf_state_save(st, &err);
		kf_state_free(st);
	}
	json_decref(nodes);
}

/* The one closing line, kept by -q: "3 nodes ready in 4m12s (master 3m50s, worker1 4m12s)". */
static void final_line(const struct kf_wait_result *res, size_t n)
{
	struct kf_buf b;
	double most = 0;
	char d[32];

	kf_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		kf_progress_duration(res[i].elapsed_s, d, sizeof(d));
		kf_buf_printf(&b, "%s%s %s", i ? ", " : "", res[i].node->name, d);
		if (res[i].elapsed_s > most)
			most = res[i].elapsed_s;
	}
	kf_progress_duration(most, d, sizeof(d));
	kf_log_final("%zu node%s ready in %s (%s)", n, n == 1 ? "" : "s", d, kf_buf_str(&b));
	kf_buf_free(&b);
}

/* Detaching each node's ISOs the moment it is ready (up): the hypervisor's serialized power
 * calls and a stopped VM's lock wait are then spent while slower nodes still boot, not after
 * the slowest one. */
struct detacher {
	struct kf_hv *hv;
	const struct kf_config *cfg;
};

static int detach_when_done(void *ctx, size_t i, bool *again, struct kf_err *err)
{
	struct detacher *d = ctx;

	/* its marker was just read over SSH: it is on */
	return kf_lab_detach_node(d->hv, &d->cfg->nodes[i], KF_LAB_RUNNING, again, err);
}

struct resume_job {
	struct kf_hv *hv;
	const struct kf_config *cfg;
	double since;
	struct kf_err *errs;
};

static int start_each_detached(void *arg, size_t i)
{
	struct resume_job *j = arg;
	bool started = false;

	return kf_lab_start_detached(j->hv, &j->cfg->nodes[i], j->since, &started, &j->errs[i]);
}

/* A run killed between a node's edit and its start left it off: start it before waiting. */
static int start_detached_nodes(struct kf_hv *hv, const struct kf_config *cfg, struct kf_err *err)
{
	size_t n = cfg->n_nodes;
	struct kf_err *errs = calloc(n ? n : 1, sizeof(*errs));
	int *rcs = calloc(n ? n : 1, sizeof(*rcs));
	struct resume_job j = { hv, cfg, kf_now_mono(), errs };
	int r = 0;

	if (!errs || !rcs) {
		free(errs);
		free(rcs);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	kf_each_node(n, 0, start_each_detached, &j, rcs);
	for (size_t i = 0; i < n && !r; i++)
		if (rcs[i]) {
			*err = errs[i];
			if (rcs[i] == KF_EINTR && !errs[i].msg[0])
				kf_err_set(err, KF_EINTR, "interrupted");
			r = err->code ? err->code : rcs[i];
		}
	free(errs);
	free(rcs);
	return r;
}

/* Shared with finalize: waits for all nodes, prints each failed node's diagnosis. */
int kf_lab_wait_nodes(struct kf_lab *lab, const char *stage, bool with_hv, bool detach,
		      int timeout_s, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_vmsignals vs;
	struct kf_wait_opts wo;
	struct kf_wait_result *res = NULL;
	struct detacher det = { NULL, cfg };
	struct kf_hv *own_hv = NULL;
	bool have_vm = false;
	int r;

	memset(&wo, 0, sizeof(wo));
	wo.out_dir = lab->out_dir;
	wo.timeout_s = timeout_s;
	if (with_hv) {
		struct kf_err verr;
		if (kf_vmsignals_init(&vs, cfg, lab->out_dir, &verr) == 0)
			have_vm = true;
		else
			kf_warn("no hypervisor signals (%s); waiting on SSH alone", verr.msg);
	}
	if (detach) {
		/* the signals' hypervisor when there is one: its "is it running" answers are
		 * shared between both */
		if (have_vm) {
			det.hv = vs.hv;
		} else if ((r = kf_hv_open(&own_hv, cfg, lab->out_dir, err)) == 0) {
			det.hv = own_hv;
		} else {
			kf_err_wrap(err, "cannot detach the ISOs as nodes become ready");
			goto out;
		}
		if ((r = start_detached_nodes(det.hv, cfg, err)) != 0)
			goto out;
		wo.on_done = detach_when_done;
		wo.on_done_ctx = &det;
	}
	{
		/* a live line of every node's phase on a terminal, in place of a heartbeat */
		const char **names = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof(*names));
		for (size_t i = 0; names && i < cfg->n_nodes; i++)
			names[i] = cfg->nodes[i].name;
		if (names)
			kf_progress_nodes_begin(names, cfg->n_nodes);
		free(names);
	}
	r = kf_wait_nodes(cfg, have_vm ? &vs.ops : NULL, &wo, &res, err);
	kf_progress_nodes_end();
	if (r == 0 && res)
		final_line(res, cfg->n_nodes);
	/* every node ready after its detach and restart (kf_wait_nodes fails otherwise) */
	lab->opts.ready_after_detach = r == 0 && detach;
	for (size_t i = 0; res && i < cfg->n_nodes; i++) {
		if (res[i].done)
			continue;
		kf_error("%s: stopped at %s after %.0fs: %s", res[i].node->name,
			 kf_wait_phase_name(res[i].phase), res[i].elapsed_s, res[i].reason);
		if (res[i].progress)
			kf_info("%s: markers seen: %s", res[i].node->name, res[i].progress);
		if (res[i].diagnosis)
			kf_log_raw("%s diagnosis:\n%s", res[i].node->name, res[i].diagnosis);
	}
	if (res)
		record(lab, stage, res, cfg->n_nodes);
	kf_wait_results_free(res, cfg->n_nodes);
out:
	if (have_vm)
		kf_vmsignals_free(&vs);
	kf_hv_close(own_hv);
	return r;
}

static int wait_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	struct kf_state *st = NULL;
	struct kf_state_rec rec;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		kf_fp_str(fp, "node", cfg->nodes[i].name);
		kf_fp_int(fp, "role", cfg->nodes[i].role);
		kf_fp_str(fp, "ip", cfg->nodes[i].ip);
		kf_fp_str(fp, "ssh_host", cfg->nodes[i].ssh_host);
		kf_fp_int(fp, "ssh_port", cfg->nodes[i].ssh_port);
	}
	/* New VMs mean a new wait. */
	if (kf_state_load(&st, lab->out_dir, err) == 0) {
		if (kf_state_get(st, "create-vms", &rec) && rec.fingerprint)
			kf_fp_str(fp, "create-vms", rec.fingerprint);
		kf_state_free(st);
	}
	return 0;
}

static int wait_run(struct kf_lab *lab, struct kf_err *err)
{
	return kf_lab_wait_nodes(lab, "wait", !lab->opts.no_hv_signals, lab->opts.detach_when_ready,
				 lab->opts.wait_timeout_s, err);
}

const struct kf_stage_def kf_stage_wait = {
	.name = "wait",
	.fingerprint = wait_fingerprint,
	.check = NULL,
	.run = wait_run,
	.after = kf_after_create_vms,
};

