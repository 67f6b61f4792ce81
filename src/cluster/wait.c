/* Waiting for every node at once. One thread per node walks the phases; the furthest phase any
 * signal proves is where the node is. SSH is tried as soon as TCP answers, because a working
 * session proves everything before it even when VMware Tools never report (the seeds' case). */
#include "k3sforge/wait.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/fanout.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"
#include "k3sforge/ssh.h"

/* Markers the recipe writes along the way: progress, never completion. */
static const char *const early_markers[] = {
	KF_MARKER_DIR "/" KF_MARKER_ISO_COPY, KF_MARKER_DIR "/" KF_MARKER_CLOUD_INIT,
	KF_MARKER_DIR "/" KF_MARKER_HOSTNAME, KF_MARKER_DIR "/" KF_MARKER_TIMEZONE,
	KF_MARKER_DIR "/" KF_MARKER_SWAP,     KF_MARKER_DIR "/" KF_MARKER_SYNC_TIME,
	KF_MARKER_DIR "/" KF_MARKER_CA_CERTS,
};

const char *kf_wait_phase_name(enum kf_wait_phase p)
{
	switch (p) {
	case KF_PHASE_START: return "starting";
	case KF_PHASE_POWERED_ON: return "powered-on";
	case KF_PHASE_TOOLS: return "tools-running";
	case KF_PHASE_IP: return "ip-assigned";
	case KF_PHASE_TCP: return "ssh-port-open";
	case KF_PHASE_SSH: return "ssh-authenticated";
	case KF_PHASE_DONE: return "done";
	}
	return "unknown";
}

struct task {
	const struct kf_config *cfg;
	const struct kf_node *n;
	const struct kf_wait_vm_ops *ops;
	const struct kf_wait_opts *opts;
	struct kf_wait_result *res;
	size_t index;           /* in cfg->nodes */
	bool hooked;            /* opts->on_done was called for it */
	double start, deadline;
	double quick_until;     /* after on_done restarted it: look at its SSH port every
				 * RESTART_LOOK_S, no backoff, until then */
	int ssh_timeout_ms;
	bool hostkey_refused;   /* the last SSH attempt met another host key */
	bool interrupted;
	bool stopped;           /* left early because another node failed */
	atomic_bool *stop;      /* set when any node's bootstrap failed: the run is over */
};

/* While the terminal shows the phases live (progress.c renders the node_phase events), the
 * per-phase lines and the heartbeat go to the log file only. */
static enum kf_log_level quiet_on_terminal(void)
{
	return kf_progress_nodes_live() ? KF_LOG_DEBUG : KF_LOG_INFO;
}

static void emit_phase(struct task *t)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "node", json_string(t->n->name));
	json_object_set_new(o, "phase", json_string(kf_wait_phase_name(t->res->phase)));
	json_object_set_new(o, "seconds", json_integer((json_int_t)(kf_now_mono() - t->start)));
	if (t->res->reason[0])
		json_object_set_new(o, "reason", kf_json_text(t->res->reason));
	if (t->res->progress)
		json_object_set_new(o, "progress", json_string(t->res->progress));
	if (t->res->failed)
		json_object_set_new(o, "failed", json_true());
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	kf_log_event("node_phase", s);
	free(s);
	json_decref(o);
}

/* Moves the node to phase p if that is further; returns true when it moved. */
static bool reach(struct task *t, enum kf_wait_phase p)
{
	if (p <= t->res->phase)
		return false;
	t->res->phase = p;
	kf_log(quiet_on_terminal(), "%s: %s (%.0fs)", t->n->name, kf_wait_phase_name(p),
	       kf_now_mono() - t->start);
	emit_phase(t);
	return true;
}

static void set_reason(struct task *t, const char *msg)
{
	snprintf(t->res->reason, sizeof(t->res->reason), "%s", msg);
}

/* How long one marker check may wait on the guest for something to change, and how often the
 * guest looks meanwhile (file tests are shell builtins, one subshell a look; the unit's state,
 * a systemctl process, is asked every HOLD_UNIT_EVERY-th look, about once a second). The look
 * interval is the notice latency of a finished node. */
#define HOLD_S 5
#define HOLD_LOOK_S "0.1"
#define HOLD_LOOK 0.1
#define HOLD_UNIT_EVERY 10
/* After on_done restarted a node: its SSH port is looked at this often for this long (the
 * VMware restart of a guest that was just up; a real reboot takes longer and is then polled
 * with the usual backoff). */
#define RESTART_LOOK_S 0.05
#define RESTART_QUICK_S 3.0

/* Checks the markers and the bootstrap unit over an authenticated session. The guest answers
 * as soon as the role marker exists, the unit failed or the set of markers changed, else after
 * HOLD_S seconds: one exec waits for the event instead of the host polling in rounds. Returns 0
 * with *done set (the role marker exists) and t->res->failed set (the unit failed: a oneshot
 * without Restart=, so the marker can never come), or an error when the session broke (the
 * caller reconnects). A guest without systemctl answers an empty state, which is not a
 * failure. */
static int check_markers(struct task *t, struct kf_ssh *s, bool *done, struct kf_err *err)
{
	struct kf_buf cmd;
	struct kf_ssh_result res;
	const char *marker = kf_role_marker(t->n->role);
	char *line, *save = NULL, *out;
	struct kf_buf seen;
	/* held no longer than the node's wait may last */
	double left = t->deadline - kf_now_mono();
	int looks = (int)((left < HOLD_S ? left : HOLD_S) / HOLD_LOOK);
	int r;

	if (looks < 0)
		looks = 0;
	*done = false;
	kf_buf_init(&cmd, 0);
	/* every name here is a fixed path from labpaths.h: nothing from outside is quoted in */
	kf_buf_printf(&cmd, "i=0; u=; while :; do m=$(for f in %s", marker);
	for (size_t i = 0; i < sizeof(early_markers) / sizeof(early_markers[0]); i++)
		kf_buf_printf(&cmd, " %s", early_markers[i]);
	kf_buf_puts(&cmd, "; do if [ -e \"$f\" ]; then echo \"$f\"; fi; done); ");
	kf_buf_printf(&cmd,
		      "if [ $((i %% %d)) = 0 ]; then u=$(systemctl is-failed %s.service 2>/dev/null); fi; "
		      "[ $i = 0 ] && p=$m; "
		      "case \"$m\" in %s*) break ;; esac; "
		      "if [ \"$u\" = failed ] || [ \"$m\" != \"$p\" ] || [ $i -ge %d ]; then break; fi; "
		      "i=$((i + 1)); sleep %s 2>/dev/null || sleep 1; done; "
		      "if [ -n \"$m\" ]; then printf '%%s\\n' \"$m\"; fi; echo \"unit-state:$u\"",
		      HOLD_UNIT_EVERY, kf_role_unit(t->n->role), marker, looks, HOLD_LOOK_S);
	r = kf_ssh_exec(s, kf_buf_str(&cmd), HOLD_S * 1000 + t->ssh_timeout_ms * 2, 64 * 1024, &res,
			err);
	kf_buf_free(&cmd);
	if (r) {
		kf_ssh_result_free(&res);
		return r;
	}
	if (res.exit_status != 0) {
		r = kf_err_set(err, KF_EFAIL, "%s: marker check exited %d: %s", t->n->name,
			       res.exit_status, kf_buf_str(&res.errout));
		kf_ssh_result_free(&res);
		return r;
	}
	kf_buf_init(&seen, 0);
	out = strdup(kf_buf_str(&res.out));
	for (line = out ? strtok_r(out, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, marker) == 0) {
			*done = true;
			continue;
		}
		if (strncmp(line, "unit-state:", 11) == 0) {
			t->res->failed = strcmp(line + 11, "failed") == 0;
			continue;
		}
		if (seen.len)
			kf_buf_putc(&seen, ' ');
		kf_buf_puts(&seen, strrchr(line, '/') ? strrchr(line, '/') + 1 : line);
	}
	free(out);
	if (seen.len && (!t->res->progress || strcmp(t->res->progress, kf_buf_str(&seen)) != 0)) {
		free(t->res->progress);
		t->res->progress = kf_buf_detach(&seen);
		kf_log(quiet_on_terminal(), "%s: progress markers: %s", t->n->name, t->res->progress);
		emit_phase(t);
	}
	kf_buf_free(&seen);
	kf_ssh_result_free(&res);
	return 0;
}

/* On timeout or failure, what the guest says about itself: the bootstrap unit's journal and cloud-init. */
static void diagnose(struct task *t, struct kf_ssh *s)
{
	struct kf_buf d, cmd;
	struct kf_ssh_result res;
	struct kf_err err;
	const char *unit = kf_role_unit(t->n->role);

	kf_buf_init(&d, 256 * 1024);
	kf_buf_init(&cmd, 0);
	kf_buf_printf(&cmd,
		      "sudo -n journalctl -u %s --no-pager -n 40 2>/dev/null || journalctl -u %s "
		      "--no-pager -n 40 2>&1",
		      unit, unit);
	if (kf_ssh_exec(s, kf_buf_str(&cmd), 20000, 64 * 1024, &res, &err) == 0) {
		kf_buf_printf(&d, "--- journalctl -u %s (last 40 lines)\n%s", unit, kf_buf_str(&res.out));
	} else {
		kf_buf_printf(&d, "--- journalctl -u %s: %s\n", unit, err.msg);
	}
	kf_ssh_result_free(&res);
	if (kf_ssh_exec(s, "cloud-init status --long 2>&1", 20000, 64 * 1024, &res, &err) == 0)
		kf_buf_printf(&d, "--- cloud-init status --long\n%s", kf_buf_str(&res.out));
	else
		kf_buf_printf(&d, "--- cloud-init status --long: %s\n", err.msg);
	kf_ssh_result_free(&res);
	kf_buf_free(&cmd);
	t->res->diagnosis = kf_buf_detach(&d);
}

/* Sleeps up to s seconds but not past the deadline, waking early when interrupted. */
static void nap(struct task *t, double s)
{
	double until = kf_now_mono() + s;

	if (until > t->deadline)
		until = t->deadline;
	while (kf_now_mono() < until && !kf_interrupted() && !atomic_load(t->stop))
		kf_sleep_ms(50);
}

static void *wait_node(void *arg)
{
	struct task *t = arg;
	struct kf_node_access acc;
	struct kf_ssh *s = NULL;
	struct kf_err err;
	double pmin = t->opts->poll_min_s > 0 ? t->opts->poll_min_s : 0.5;
	double pmax = t->opts->poll_max_s > 0 ? t->opts->poll_max_s : 2.0;
	/* On an open session a marker check is one exec (milliseconds on the guest): poll it at
	 * most a second apart, so a finished node is noticed within a second, not within pmax. */
	double pmax_session = pmax < 1.0 ? pmax : 1.0;
	double interval = pmin, last_status = kf_now_mono();

	if (kf_node_access_init(&acc, t->cfg, t->n, t->opts->out_dir, t->ssh_timeout_ms, &err) != 0) {
		set_reason(t, err.msg);
		return NULL;
	}
	while (kf_now_mono() < t->deadline) {
		bool moved = false, tcp_ok = false, held = false;
		enum kf_ssh_fail why = KF_SSH_OK;

		if (kf_interrupted()) {
			t->interrupted = true;
			break;
		}
		if (atomic_load(t->stop)) {
			t->stopped = true;
			break;
		}
		kf_err_clear(&err);
		/* (not after on_done restarted it: its start proved power-on, and an answer from
		 * before the start would only say "off") */
		if (t->ops && t->ops->powered_on && t->res->phase < KF_PHASE_SSH && !t->hooked) {
			bool on = false;
			if (t->ops->powered_on(t->ops->ctx, t->n, &on, &err) != 0) {
				set_reason(t, err.msg);
			} else if (!on) {
				set_reason(t, "the VM is not powered on");
			} else {
				moved |= reach(t, KF_PHASE_POWERED_ON);
			}
			if (t->res->phase < KF_PHASE_POWERED_ON)
				goto next;
		}
		if (!s) {
			int ms = t->ssh_timeout_ms < 2000 ? t->ssh_timeout_ms : 2000;
			tcp_ok = kf_tcp_probe(acc.target.host, acc.target.port, ms, &why, &err) == 0;
			if (tcp_ok) {
				moved |= reach(t, KF_PHASE_TCP);
				if (kf_ssh_connect(&s, &acc.target, &why, &err) == 0) {
					t->hostkey_refused = false;
					moved |= reach(t, KF_PHASE_SSH);
				} else {
					t->hostkey_refused = why == KF_SSH_HOSTKEY;
					set_reason(t, err.msg);
				}
			} else {
				set_reason(t, err.msg);
			}
		}
		if (s) {
			bool done = false;
			double asked = kf_now_mono();
			if (check_markers(t, s, &done, &err) != 0) {
				/* A reboot or a dropped session: reconnect on the next round. */
				set_reason(t, err.msg);
				kf_ssh_close(s);
				s = NULL;
			} else if (done && t->opts->on_done && !t->hooked) {
				bool again = false;
				/* the hook may stop the VM: nothing of this session is used again */
				t->hooked = true;
				kf_ssh_close(s);
				s = NULL;
				kf_err_clear(&err);
				if (t->opts->on_done(t->opts->on_done_ctx, t->index, &again, &err) != 0) {
					set_reason(t, err.msg);
					if (err.code == KF_EINTR)
						t->interrupted = true;
					else
						t->res->after_failed = true;
					break;
				}
				if (again) {
					/* restarted (its start returned: it is on): walk the phases
					 * again from there, without a "running" answer older than the
					 * start */
					t->res->phase = KF_PHASE_START;
					set_reason(t, "restarted; waiting for it again");
					reach(t, KF_PHASE_POWERED_ON);
					/* its SSH port comes back with the boot: look often for a
					 * while (a refused connection costs nothing), then back off as
					 * usual */
					interval = pmin < RESTART_LOOK_S ? pmin : RESTART_LOOK_S;
					t->quick_until = kf_now_mono() + RESTART_QUICK_S;
					last_status = kf_now_mono();
					continue;
				}
				t->res->done = true;
				t->res->failed = false;
				t->res->reason[0] = '\0';
				reach(t, KF_PHASE_DONE);
				break;
			} else if (done) {
				t->res->done = true;
				t->res->failed = false;
				t->res->reason[0] = '\0';
				reach(t, KF_PHASE_DONE);
				break;
			} else if (t->res->failed) {
				snprintf(t->res->reason, sizeof(t->res->reason),
					 "its %s unit failed, so %s will never be written (journal below)",
					 kf_role_unit(t->n->role), kf_role_marker(t->n->role));
				kf_error("%s: %s", t->n->name, t->res->reason);
				emit_phase(t);
				atomic_store(t->stop, true);
				break;
			} else {
				snprintf(t->res->reason, sizeof(t->res->reason),
					 "%s is not there yet (the %s unit is still running or failed)",
					 kf_role_marker(t->n->role), kf_role_unit(t->n->role));
				/* the guest held the check until something changed or HOLD_S
				 * passed: ask again at once (a guest that answered at once, its
				 * loop not working, is polled with the usual backoff) */
				held = kf_now_mono() - asked >= 1.0;
			}
		} else if (!tcp_ok && t->ops && t->res->phase < KF_PHASE_TCP && !t->hooked) {
			/* SSH not reachable: ask the hypervisor how far the guest is (not after
			 * on_done restarted it: the guest was reached once, and an IP asked with
			 * -wait would hold this node's loop up to 10 s while Tools start). */
			bool running = false;
			if (t->ops->tools_running &&
			    t->ops->tools_running(t->ops->ctx, t->n, &running, &err) == 0 && running) {
				moved |= reach(t, KF_PHASE_TOOLS);
				if (t->ops->guest_ip) {
					char *ip = NULL;
					if (t->ops->guest_ip(t->ops->ctx, t->n, &ip, &err) == 0 && ip) {
						if (strcmp(ip, t->n->ip) == 0)
							moved |= reach(t, KF_PHASE_IP);
						else
							kf_debug("%s: Tools report %s, waiting for %s", t->n->name,
								 ip, t->n->ip);
					}
					free(ip);
				}
			}
		}
	next:
		if (moved) {
			interval = pmin;
			last_status = kf_now_mono();
		} else if (kf_now_mono() < t->quick_until) {
			interval = RESTART_LOOK_S;
		} else {
			double cap = s ? pmax_session : pmax;
			interval = interval * 2 > cap ? cap : interval * 2;
			if (kf_now_mono() - last_status >= 30) {
				kf_log(quiet_on_terminal(), "%s: still %s after %.0fs: %s", t->n->name,
					kf_wait_phase_name(t->res->phase), kf_now_mono() - t->start,
					t->res->reason);
				last_status = kf_now_mono();
			}
		}
		if (!held)
			nap(t, interval);
	}
	if (!t->res->done && !t->stopped && s)
		diagnose(t, s);
	kf_ssh_close(s);
	kf_node_access_free(&acc);
	t->res->elapsed_s = kf_now_mono() - t->start;
	return NULL;
}

static int wait_each(void *arg, size_t i)
{
	struct task *tasks = arg;

	wait_node(&tasks[i]);
	return 0;
}

int kf_wait_nodes(const struct kf_config *cfg, const struct kf_wait_vm_ops *ops,
		  const struct kf_wait_opts *opts, struct kf_wait_result **results,
		  struct kf_err *err)
{
	size_t n = cfg->n_nodes, failed = 0, hostkey = 0, broken = 0, after = 0;
	struct kf_wait_result *res = calloc(n ? n : 1, sizeof(*res));
	struct task *tasks = calloc(n ? n : 1, sizeof(*tasks));
	int *rcs = calloc(n ? n : 1, sizeof(*rcs));
	int timeout_s = opts->timeout_s > 0 ? opts->timeout_s : cfg->timeouts.wait_s;
	double start = kf_now_mono();
	bool interrupted = false;
	atomic_bool stop;
	struct kf_buf names, bad;
	int r = 0;

	*results = NULL;
	if (!res || !tasks || !rcs) {
		free(res);
		free(tasks);
		free(rcs);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	atomic_init(&stop, false);
	kf_info("waiting for %zu node%s (at most %ds each)", n, n == 1 ? "" : "s", timeout_s);
	for (size_t i = 0; i < n; i++) {
		res[i].node = &cfg->nodes[i];
		tasks[i] = (struct task){
			.cfg = cfg,
			.n = &cfg->nodes[i],
			.ops = ops,
			.opts = opts,
			.res = &res[i],
			.index = i,
			.start = start,
			.deadline = start + timeout_s,
			.ssh_timeout_ms = opts->ssh_timeout_ms > 0 ? opts->ssh_timeout_ms
								   : cfg->timeouts.ssh_connect_s * 1000,
			.stop = &stop,
		};
	}
	/* every node at once: each thread polls its node until done or the deadline */
	kf_each_node(n, 0, wait_each, tasks, rcs);
	kf_buf_init(&names, 0);
	kf_buf_init(&bad, 0);
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == KF_EINTR) { /* interrupted before its wait began */
			tasks[i].interrupted = true;
			snprintf(res[i].reason, sizeof(res[i].reason), "interrupted");
		}
		interrupted |= tasks[i].interrupted;
		if (res[i].failed) {
			broken++;
			kf_buf_printf(&bad, "%s%s (%s)", bad.len ? "; " : "", cfg->nodes[i].name,
				      res[i].reason);
		} else if (res[i].after_failed) {
			after++;
			kf_buf_printf(&bad, "%s%s (%s)", bad.len ? "; " : "", cfg->nodes[i].name,
				      res[i].reason);
		} else if (!res[i].done) {
			failed++;
			hostkey += tasks[i].hostkey_refused;
			if (tasks[i].stopped)
				snprintf(res[i].reason, sizeof(res[i].reason),
					 "stopped waiting: another node's bootstrap failed");
			kf_buf_printf(&names, "%s%s (%s: %s)", names.len ? "; " : "", cfg->nodes[i].name,
				      kf_wait_phase_name(res[i].phase), res[i].reason);
		}
	}
	if (broken) {
		/* A failed bootstrap never completes: say so now, not at the deadline. */
		if (failed)
			r = kf_err_set(err, KF_EFAIL,
				       "%zu of %zu node%s failed to bootstrap: %s; not finished when "
				       "waiting stopped: %s",
				       broken, n, n == 1 ? "" : "s", kf_buf_str(&bad), kf_buf_str(&names));
		else
			r = kf_err_set(err, KF_EFAIL, "%zu of %zu node%s failed to bootstrap: %s", broken,
				       n, n == 1 ? "" : "s", kf_buf_str(&bad));
	} else if (after) {
		/* ready, but what had to follow at once (up: the ISOs' detach) failed */
		if (failed)
			r = kf_err_set(err, KF_EFAIL,
				       "%zu of %zu node%s failed once ready: %s; not finished: %s",
				       after, n, n == 1 ? "" : "s", kf_buf_str(&bad), kf_buf_str(&names));
		else
			r = kf_err_set(err, KF_EFAIL, "%zu of %zu node%s failed once ready: %s", after,
				       n, n == 1 ? "" : "s", kf_buf_str(&bad));
	} else if (failed) {
		if (interrupted)
			r = kf_err_set(err, KF_EINTR, "interrupted while waiting for %s", kf_buf_str(&names));
		else
			r = kf_err_set(err, hostkey == failed ? KF_EHOSTKEY : KF_ETIMEOUT,
				       "%zu of %zu node%s did not finish within %ds: %s", failed, n,
				       n == 1 ? "" : "s", timeout_s, kf_buf_str(&names));
	}
	kf_buf_free(&names);
	kf_buf_free(&bad);
	free(tasks);
	free(rcs);
	*results = res;
	return r;
}

void kf_wait_results_free(struct kf_wait_result *results, size_t n)
{
	if (!results)
		return;
	for (size_t i = 0; i < n; i++) {
		free(results[i].progress);
		free(results[i].diagnosis);
	}
	free(results);
}
