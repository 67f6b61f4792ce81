/* kf_wait_nodes against simulated guests: a real sshd per node on its own loopback address,
 * presenting the node's pinned host key, with the node's own /var/lib (markers) seen through a
 * private mount namespace (tests/fakes/guest-shell). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/wait.h"
#include "sshd_fixture.h"

#define NODES 3

struct fx {
	char *dir;
	char out[400];
	char root[NODES][400];
	char hostkey[NODES][400];
	char wrongkey[400];
	struct kf_test_sshd sshd[NODES];
	struct kf_config *cfg;
};

static const char *ips[NODES] = { "127.0.0.41", "127.0.0.42", "127.0.0.43" };

static void put(const char *path, const char *text, mode_t mode)
{
	struct kf_err err;
	if (kf_fs_write_atomic(path, text, strlen(text), mode, &err) != 0)
		fail_msg("%s", err.msg);
}

static char *pubkey_b64(const char *key)
{
	char pub[500], *text = NULL, type[64], b64[512];
	snprintf(pub, sizeof(pub), "%s.pub", key);
	assert_int_equal(kf_fs_read(&text, NULL, pub, 65536, NULL), 0);
	assert_int_equal(sscanf(text, "%63s %511s", type, b64), 2);
	free(text);
	return strdup(b64);
}

/* Starts node i's sshd presenting `key`. */
static void start_node(struct fx *f, int i, const char *key)
{
	char sdir[500], auth[500], extra[1200];
	const char *keys[] = { key, NULL };

	snprintf(sdir, sizeof(sdir), "%s/sshd%d", f->dir, i);
	snprintf(auth, sizeof(auth), "%s/ssh/id_ed25519.pub", f->out);
	snprintf(extra, sizeof(extra), "ForceCommand %s/fakes/guest-shell %s", KF_TESTS_DIR,
		 f->root[i]);
	assert_int_equal(kf_test_sshd_start_ex(&f->sshd[i], sdir, ips[i], f->cfg->nodes[i].ssh_port,
					       keys, auth, extra),
			 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_buf known;
	char path[600];

	f->dir = kf_test_tempdir("wait");
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	snprintf(path, sizeof(path), "%s/ssh", f->out);
	assert_int_equal(kf_fs_mkdirs(path, 0700, NULL), 0);
	snprintf(path, sizeof(path), "%s/ssh/id_ed25519", f->out);
	assert_int_equal(kf_test_keygen(path, "ed25519"), 0);
	snprintf(f->wrongkey, sizeof(f->wrongkey), "%s/wrong_host", f->dir);
	assert_int_equal(kf_test_keygen(f->wrongkey, "ed25519"), 0);
	assert_int_equal(kf_config_default(&f->cfg, NULL), 0);
	free(f->cfg->guest.user);
	f->cfg->guest.user = strdup(kf_test_user());
	kf_buf_init(&known, 0);
	for (int i = 0; i < NODES; i++) {
		char *b64;
		struct kf_node *n = &f->cfg->nodes[i];
		snprintf(f->root[i], sizeof(f->root[i]), "%s/root%d", f->dir, i);
		snprintf(path, sizeof(path), "%s/bin", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		snprintf(path, sizeof(path), "%s/var/lib", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		/* The guest's own commands, as a bootstrap that has not finished would answer. */
		snprintf(path, sizeof(path), "%s/bin/journalctl", f->root[i]);
		put(path, "#!/bin/sh\necho \"$(hostname) k3s-bootstrap[42]: waiting for containerd socket\"\n", 0755);
		snprintf(path, sizeof(path), "%s/bin/cloud-init", f->root[i]);
		put(path, "#!/bin/sh\necho 'status: done'\necho 'detail: DataSourceNoCloud'\n", 0755);
		/* The bootstrap unit: failed once the test says so, otherwise still running. */
		snprintf(path, sizeof(path), "%s/bin/systemctl", f->root[i]);
		put(path,
		    "#!/bin/sh\n[ \"$1\" = is-failed ] || exit 1\n"
		    "if [ -e /var/lib/fake-unit-failed ]; then echo failed; exit 0; fi\n"
		    "echo activating\nexit 1\n",
		    0755);
		snprintf(path, sizeof(path), "%s/bin/sudo", f->root[i]);
		put(path, "#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n", 0755);
		snprintf(f->hostkey[i], sizeof(f->hostkey[i]), "%s/host%d", f->dir, i);
		assert_int_equal(kf_test_keygen(f->hostkey[i], "ed25519"), 0);
		n->ssh_host = strdup(ips[i]);
		n->ssh_port = kf_test_free_port(ips[i]);
		b64 = pubkey_b64(f->hostkey[i]);
		kf_buf_printf(&known, "[%s]:%d ssh-ed25519 %s\n", ips[i], n->ssh_port, b64);
		free(b64);
	}
	snprintf(path, sizeof(path), "%s/ssh/known_hosts", f->out);
	put(path, kf_buf_str(&known), 0644);
	kf_buf_free(&known);
	for (int i = 0; i < NODES; i++)
		start_node(f, i, f->hostkey[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < NODES; i++)
		kf_test_sshd_stop(&f->sshd[i]);
	kf_config_free(f->cfg);
	kf_fs_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return 0;
}

static void marker(struct fx *f, int i, const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/var/lib/%s", f->root[i], name);
	put(path, "", 0644);
}

struct schedule {
	struct fx *f;
	int node;
	int delay_ms;
	const char *name;
};

static void *later(void *arg)
{
	struct schedule *s = arg;
	kf_sleep_ms(s->delay_ms);
	marker(s->f, s->node, s->name);
	return NULL;
}

static struct kf_wait_opts opts_for(struct fx *f, int timeout_s)
{
	struct kf_wait_opts o = {
		.out_dir = f->out,
		.timeout_s = timeout_s,
		.ssh_timeout_ms = 3000,
		.poll_min_s = 0.2,
		.poll_max_s = 0.5,
	};
	return o;
}

static void test_wait_completes_every_node_when_its_role_marker_appears(void **state)
{
	struct fx *f = *state;
	struct schedule s[NODES] = { { f, 0, 1500, "k3s-bootstrap.done" },
				     { f, 1, 500, "k3s-agent-bootstrap.done" },
				     { f, 2, 1000, "k3s-agent-bootstrap.done" } };
	pthread_t th[NODES];
	struct kf_wait_opts o = opts_for(f, 60);
	struct kf_wait_result *res = NULL;
	struct kf_err err;
	int r;

	for (int i = 0; i < NODES; i++)
		pthread_create(&th[i], NULL, later, &s[i]);
	r = kf_wait_nodes(f->cfg, NULL, &o, &res, &err);
	for (int i = 0; i < NODES; i++)
		pthread_join(th[i], NULL);
	if (r)
		fail_msg("%s", err.msg);
	for (int i = 0; i < NODES; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].phase, KF_PHASE_DONE);
		assert_null(res[i].diagnosis);
	}
	kf_wait_results_free(res, NODES);
}

static void test_wait_early_markers_are_progress_not_completion(void **state)
{
	struct fx *f = *state;
	struct kf_wait_opts o = opts_for(f, 3);
	struct kf_wait_result *res = NULL;
	struct kf_err err;

	for (int i = 0; i < NODES; i++) {
		marker(f, i, "iso-copy-complete");
		marker(f, i, "cloud-init-complete");
	}
	/* The master marker on a worker does not complete the worker. */
	marker(f, 1, "k3s-bootstrap.done");
	assert_int_equal(kf_wait_nodes(f->cfg, NULL, &o, &res, &err), KF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "3 of 3 nodes did not finish within 3s"));
	for (int i = 0; i < NODES; i++) {
		assert_false(res[i].done);
		assert_int_equal(res[i].phase, KF_PHASE_SSH);
		assert_non_null(res[i].progress);
		assert_non_null(strstr(res[i].progress, "iso-copy-complete"));
		assert_non_null(strstr(res[i].progress, "cloud-init-complete"));
		assert_non_null(strstr(res[i].reason, i == 0 ? KF_MARKER_MASTER : KF_MARKER_WORKER));
		/* The diagnosis comes from the guest: its bootstrap journal and cloud-init. */
		assert_non_null(res[i].diagnosis);
		assert_non_null(strstr(res[i].diagnosis, "waiting for containerd socket"));
		assert_non_null(strstr(res[i].diagnosis, "status: done"));
	}
	kf_wait_results_free(res, NODES);
}

static void test_wait_names_only_the_node_that_never_completes(void **state)
{
	struct fx *f = *state;
	struct kf_wait_opts o = opts_for(f, 3);
	struct kf_wait_result *res = NULL;
	struct kf_err err;

	marker(f, 0, "k3s-bootstrap.done");
	marker(f, 1, "k3s-agent-bootstrap.done");
	assert_int_equal(kf_wait_nodes(f->cfg, NULL, &o, &res, &err), KF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "1 of 3 nodes"));
	assert_non_null(strstr(err.msg, "k3s-worker2"));
	assert_null(strstr(err.msg, "k3s-worker1"));
	assert_null(strstr(err.msg, "k3s-master1"));
	assert_true(res[0].done);
	assert_true(res[1].done);
	assert_false(res[2].done);
	kf_wait_results_free(res, NODES);
}

static void test_wait_stops_at_once_when_a_bootstrap_unit_failed(void **state)
{
	struct fx *f = *state;
	/* a deadline the test would never sit out: only the failure can end this wait */
	struct kf_wait_opts o = opts_for(f, 600);
	struct kf_wait_result *res = NULL;
	struct kf_err err;

	marker(f, 1, "k3s-agent-bootstrap.done");
	marker(f, 0, "fake-unit-failed");
	assert_int_equal(kf_wait_nodes(f->cfg, NULL, &o, &res, &err), KF_EFAIL);
	assert_non_null(strstr(err.msg, "1 of 3 nodes failed to bootstrap: k3s-master1"));
	assert_non_null(strstr(err.msg, "k3s-bootstrap unit failed"));
	assert_true(res[0].failed);
	assert_false(res[0].done);
	assert_non_null(res[0].diagnosis);
	assert_non_null(strstr(res[0].diagnosis, "journalctl -u k3s-bootstrap"));
	assert_true(res[1].done);
	assert_false(res[1].failed);
	/* the third node is stopped, not failed, and not blamed */
	assert_false(res[2].done);
	assert_false(res[2].failed);
	assert_non_null(strstr(err.msg, "k3s-worker2"));
	assert_non_null(strstr(res[2].reason, "stopped waiting"));
	assert_null(res[2].diagnosis);
	kf_wait_results_free(res, NODES);
}

static void test_wait_refuses_a_guest_with_another_host_key(void **state)
{
	struct fx *f = *state;
	struct kf_wait_opts o = opts_for(f, 2);
	struct kf_wait_result *res = NULL;
	struct kf_err err;
	char *log = NULL;

	for (int i = 0; i < NODES; i++)
		marker(f, i, i == 0 ? "k3s-bootstrap.done" : "k3s-agent-bootstrap.done");
	kf_test_sshd_stop(&f->sshd[2]);
	start_node(f, 2, f->wrongkey);
	/* The only node left over met another host key: that is what the run fails with. */
	assert_int_equal(kf_wait_nodes(f->cfg, NULL, &o, &res, &err), KF_EHOSTKEY);
	assert_non_null(strstr(err.msg, "k3s-worker2"));
	assert_false(res[2].done);
	assert_int_equal(res[2].phase, KF_PHASE_TCP);
	assert_non_null(strstr(res[2].reason, "host key mismatch for k3s-worker2"));
	/* Nothing was ever offered for authentication to the impostor. */
	assert_int_equal(kf_fs_read(&log, NULL, f->sshd[2].log, 1 << 20, NULL), 0);
	assert_null(strstr(log, "publickey"));
	free(log);
	kf_wait_results_free(res, NODES);
}

/* on_done (up's per-node ISO detach): node 1 is "restarted" -- its marker taken away and laid
 * down again later -- and must be waited for again; the hook runs once per node. */
struct hook {
	struct fx *f;
	pthread_mutex_t mu;
	int calls[NODES];
	int fail_node;         /* -1: none */
	pthread_t th;
	bool started;
	struct schedule again;
};

static int on_done(void *ctx, size_t i, bool *again, struct kf_err *err)
{
	struct hook *h = ctx;
	char path[600];

	pthread_mutex_lock(&h->mu);
	h->calls[i]++;
	pthread_mutex_unlock(&h->mu);
	*again = false;
	if ((int)i == h->fail_node)
		return kf_err_set(err, KF_EFAIL, "%s: boom", h->f->cfg->nodes[i].name);
	if (i == 1) {
		snprintf(path, sizeof(path), "%s/var/lib/k3s-agent-bootstrap.done", h->f->root[1]);
		assert_int_equal(unlink(path), 0);
		h->again = (struct schedule){ h->f, 1, 800, "k3s-agent-bootstrap.done" };
		assert_int_equal(pthread_create(&h->th, NULL, later, &h->again), 0);
		h->started = true;
		*again = true;
	}
	return 0;
}

static void test_wait_on_done_runs_once_per_node_and_a_restarted_node_is_waited_for_again(
	void **state)
{
	struct fx *f = *state;
	struct hook h = { .f = f, .mu = PTHREAD_MUTEX_INITIALIZER, .fail_node = -1 };
	struct kf_wait_opts o = opts_for(f, 60);
	struct kf_wait_result *res = NULL;
	struct kf_err err;
	int r;

	for (int i = 0; i < NODES; i++)
		marker(f, i, i == 0 ? "k3s-bootstrap.done" : "k3s-agent-bootstrap.done");
	o.on_done = on_done;
	o.on_done_ctx = &h;
	r = kf_wait_nodes(f->cfg, NULL, &o, &res, &err);
	if (h.started)
		pthread_join(h.th, NULL);
	if (r)
		fail_msg("%s", err.msg);
	assert_true(h.started);
	for (int i = 0; i < NODES; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].phase, KF_PHASE_DONE);
		assert_int_equal(h.calls[i], 1);
	}
	/* done only once the marker was back (0.8 s after the "restart") */
	assert_true(res[1].elapsed_s >= 0.8);
	kf_wait_results_free(res, NODES);
}

static void test_wait_on_done_failure_fails_that_node_and_the_others_finish(void **state)
{
	struct fx *f = *state;
	struct hook h = { .f = f, .mu = PTHREAD_MUTEX_INITIALIZER, .fail_node = 2 };
	struct kf_wait_opts o = opts_for(f, 60);
	struct kf_wait_result *res = NULL;
	struct kf_err err;

	marker(f, 0, "k3s-bootstrap.done");
	marker(f, 2, "k3s-agent-bootstrap.done");
	o.on_done = on_done;
	o.on_done_ctx = &h;
	/* node 1 is "restarted" (its hook lays its marker down again) and finishes too */
	marker(f, 1, "k3s-agent-bootstrap.done");
	assert_int_equal(kf_wait_nodes(f->cfg, NULL, &o, &res, &err), KF_EFAIL);
	if (h.started)
		pthread_join(h.th, NULL);
	assert_non_null(strstr(err.msg, "1 of 3 nodes failed once ready: k3s-worker2"));
	assert_non_null(strstr(err.msg, "boom"));
	assert_true(res[2].after_failed);
	assert_false(res[2].done);
	assert_true(res[0].done);
	assert_true(res[1].done);
	assert_int_equal(h.calls[2], 1);
	kf_wait_results_free(res, NODES);
}

/* Hypervisor signals for the test: node 2 powered off; others on with Tools and their IPs. */
static int powered_on(void *ctx, const struct kf_node *n, bool *on, struct kf_err *err)
{
	(void)ctx;
	(void)err;
	*on = strcmp(n->name, "k3s-worker2") != 0;
	return 0;
}

static int tools_running(void *ctx, const struct kf_node *n, bool *running, struct kf_err *err)
{
	(void)ctx;
	(void)n;
	(void)err;
	*running = true;
	return 0;
}

static int guest_ip(void *ctx, const struct kf_node *n, char **ip, struct kf_err *err)
{
	(void)ctx;
	(void)err;
	*ip = strdup(n->ip);
	return 0;
}

static void test_wait_follows_hypervisor_signals_before_ssh(void **state)
{
	struct fx *f = *state;
	struct kf_wait_vm_ops ops = { powered_on, tools_running, guest_ip, NULL };
	struct kf_wait_opts o = opts_for(f, 2);
	struct kf_wait_result *res = NULL;
	struct kf_err err;

	/* No SSH anywhere: node 0 and 1 get as far as their IP, node 2 is off. */
	for (int i = 0; i < NODES; i++)
		kf_test_sshd_stop(&f->sshd[i]);
	assert_int_equal(kf_wait_nodes(f->cfg, &ops, &o, &res, &err), KF_ETIMEOUT);
	assert_int_equal(res[0].phase, KF_PHASE_IP);
	assert_int_equal(res[1].phase, KF_PHASE_IP);
	assert_non_null(strstr(res[0].reason, "refused"));
	assert_int_equal(res[2].phase, KF_PHASE_START);
	assert_string_equal(res[2].reason, "the VM is not powered on");
	kf_wait_results_free(res, NODES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_completes_every_node_when_its_role_marker_appears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_early_markers_are_progress_not_completion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_names_only_the_node_that_never_completes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_stops_at_once_when_a_bootstrap_unit_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_refuses_a_guest_with_another_host_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_follows_hypervisor_signals_before_ssh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_on_done_runs_once_per_node_and_a_restarted_node_is_waited_for_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_on_done_failure_fails_that_node_and_the_others_finish, setup, teardown),
	};
	kf_log_init(&(struct kf_log_opts){ KF_LOG_WARN, false, KF_COLOR_NEVER });
	return cmocka_run_group_tests(tests, NULL, NULL);
}
