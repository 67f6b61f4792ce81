/* kf_status_collect and `k3sforge status` against the simulated lab: a real sshd per node on
 * its own loopback address with the node's pinned host key from kf_pki_ensure and a private
 * /var/lib (tests/fakes/guest-shell; guest commands — sudo, systemctl, the k3s stand-in — in
 * the node root's bin/), the real docker-registry over TLS with one image pushed, and a TLS API
 * server answering /version with client certificates. A healthy lab has no problems and exits 0;
 * each injected fault is named and makes the exit status 1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/pki.h"
#include "k3sforge/proc.h"
#include "k3sforge/status.h"
#include "k3sforge/vmsignals.h"
#include "ops_lab.h"

#define NODES OPS_LAB_NODES
#define IMAGE_MISSING "docker.io/rancher/mirrored-coredns-coredns:1.12.3"

static int group_setup(void **state)
{
	*state = ops_lab_start("status", 50, true);
	return *state ? 0 : -1;
}

static int group_teardown(void **state)
{
	ops_lab_stop(*state);
	return 0;
}

static struct kf_status *collect(struct ops_lab *f)
{
	struct kf_status_opts o = { .out_dir = f->out, .ssh_timeout_ms = 15000, .max_skew_s = 30 };
	struct kf_status *st = NULL;
	struct kf_err err;

	if (kf_status_collect(&st, f->cfg, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return st;
}

static bool has_problem(const struct kf_status *st, const char *text)
{
	for (size_t i = 0; i < st->n_problems; i++)
		if (strstr(st->problems[i], text))
			return true;
	return false;
}

static void print_problems(const struct kf_status *st)
{
	for (size_t i = 0; i < st->n_problems; i++)
		print_message("problem: %s\n", st->problems[i]);
}

static void test_status_healthy_lab_has_no_problems(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st = collect(f);

	print_problems(st);
	assert_true(kf_status_healthy(st));
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(st->nodes[i].ssh, KF_TRI_YES);
		assert_int_equal(st->nodes[i].marker, KF_TRI_YES);
		assert_int_equal(st->nodes[i].k3s_active, KF_TRI_YES);
		assert_int_equal(st->nodes[i].ready, KF_TRI_YES);
		assert_true(st->nodes[i].skew_known);
	}
	assert_int_equal(st->registry.tls_ok, KF_TRI_YES);
	assert_int_equal(st->registry.images_wanted, 1);
	assert_int_equal(st->registry.n_missing, 0);
	assert_int_equal(st->api.ok, KF_TRI_YES);
	assert_true(st->registry.cert_known);
	assert_true(st->registry.cert_days_left > 0);
	kf_status_free(st);
}

/* vmrun (the test double on PATH) says which VMs run: a stopped one is named. */
static void test_status_names_a_powered_off_vm(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status_opts o = { .out_dir = f->out, .ssh_timeout_ms = 15000, .max_skew_s = 30 };
	struct kf_vmsignals vs;
	struct kf_status *st = NULL;
	struct kf_err err;
	char path[1200], vmstate[600], *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	snprintf(path, sizeof(path), "%s/fakes:%s", KF_TESTS_DIR, old_path ? old_path : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	snprintf(vmstate, sizeof(vmstate), "%s/vmstate", f->dir);
	assert_int_equal(kf_fs_mkdirs(vmstate, 0700, NULL), 0);
	setenv("FAKE_VMRUN_STATE", vmstate, 1);
	if (kf_vmsignals_init(&vs, f->cfg, f->out, &err) != 0)
		fail_msg("%s", err.msg);
	for (int i = 0; i < NODES; i++) {
		char *vmx = kf_hv_vm_file(vs.hv, f->cfg->nodes[i].name), dir[1100];
		snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(vmx, '/') - vmx), vmx);
		assert_int_equal(kf_fs_mkdirs(dir, 0755, NULL), 0);
		ops_lab_put(vmx, "config.version = \"8\"\n", 0644);
		if (i < 2 && vs.hv->ops->start(vs.hv, f->cfg->nodes[i].name, &err) != 0)
			fail_msg("%s", err.msg);
		free(vmx);
	}
	o.vm = &vs.ops;
	assert_int_equal(kf_status_collect(&st, f->cfg, &o, &err), 0);
	assert_int_equal(st->nodes[0].power, KF_TRI_YES);
	assert_int_equal(st->nodes[2].power, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-worker2: powered off"));
	assert_false(has_problem(st, "k3s-master1: powered off"));
	kf_status_free(st);
	kf_vmsignals_free(&vs);
	if (old_path)
		setenv("PATH", old_path, 1);
	unsetenv("FAKE_VMRUN_STATE");
	free(old_path);
}

static void test_status_names_a_node_whose_sshd_is_stopped(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st;
	kf_test_sshd_stop(&f->sshd[2]);
	st = collect(f);
	assert_false(kf_status_healthy(st));
	assert_int_equal(st->nodes[2].ssh, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-worker2: SSH not reachable"));
	assert_false(has_problem(st, "k3s-worker1"));
	kf_status_free(st);
	ops_lab_start_node(f, 2);
}

static void test_status_names_a_missing_role_marker(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st;

	ops_lab_node_rm(f, 1, "var/lib/k3s-agent-bootstrap.done");
	st = collect(f);
	assert_int_equal(st->nodes[1].marker, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-worker1: role marker /var/lib/k3s-agent-bootstrap.done missing"));
	kf_status_free(st);
	ops_lab_healthy_guest(f, 1);
}

static void test_status_names_a_skewed_clock(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st;

	/* The guest's clock runs two minutes ahead. */
	ops_lab_node_file(f, 1, "bin/date", "#!/bin/sh\necho \"$(( $(/bin/date +%s) + 120 )).$(/bin/date +%N)\"\n",
		  0755);
	st = collect(f);
	assert_true(st->nodes[1].skew_known);
	assert_true(st->nodes[1].skew_s > 100 && st->nodes[1].skew_s < 140);
	assert_true(has_problem(st, "k3s-worker1: clock skew +1"));
	assert_false(kf_status_healthy(st));
	kf_status_free(st);
	ops_lab_healthy_guest(f, 1);
}

static void test_status_names_a_missing_image(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st;
	char path[600];

	snprintf(path, sizeof(path), "%s/artifacts/k3s-images.txt", f->out);
	ops_lab_put(path, OPS_LAB_IMAGE "\n" IMAGE_MISSING "\n", 0644);
	st = collect(f);
	assert_int_equal(st->registry.n_missing, 1);
	assert_true(has_problem(st, "registry: 1 of 2 images missing"));
	assert_true(has_problem(st, "mirrored-coredns-coredns:1.12.3"));
	kf_status_free(st);
	ops_lab_put(path, OPS_LAB_IMAGE "\n", 0644);
}

static void test_status_names_an_inactive_k3s_service(void **state)
{
	struct ops_lab *f = *state;
	struct kf_status *st;

	ops_lab_node_file(f, 0, "bin/systemctl", "#!/bin/sh\necho failed\nexit 3\n", 0755);
	st = collect(f);
	assert_int_equal(st->nodes[0].k3s_active, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-master1: k3s service is failed"));
	kf_status_free(st);
	ops_lab_healthy_guest(f, 0);
}

/* Runs the CLI; returns its exit code and stdout. */
static int cli(struct ops_lab *f, char **out, const char *extra)
{
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", f->out, "status",
			       extra, NULL };
	struct kf_proc p;
	struct kf_err err;
	int code;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	code = p.exit_code;
	*out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return code;
}

static void test_status_cli_json_is_one_object_and_exits_1_when_unhealthy(void **state)
{
	struct ops_lab *f = *state;
	char *out = NULL;
	json_t *o, *reg;

	assert_int_equal(cli(f, &out, "--json"), 1);
	o = json_loads(out, 0, NULL);
	if (!o)
		fail_msg("not one JSON object: %s", out);
	assert_true(json_is_false(json_object_get(o, "healthy")));
	assert_int_equal(json_array_size(json_object_get(o, "nodes")), NODES);
	assert_true(json_is_false(json_object_get(json_array_get(json_object_get(o, "nodes"), 0),
						  "ssh")));
	reg = json_object_get(o, "registry");
	assert_true(json_is_true(json_object_get(reg, "tls_ok")));
	assert_int_equal(json_integer_value(json_object_get(reg, "images_present")), 1);
	assert_true(json_is_true(json_object_get(json_object_get(o, "api"), "ok")));
	assert_true(json_array_size(json_object_get(o, "problems")) >= NODES);
	json_decref(o);
	free(out);
}

static void test_status_cli_screen_names_the_fault_and_exits_1(void **state)
{
	struct ops_lab *f = *state;
	char *out = NULL;

	assert_int_equal(cli(f, &out, "--timeout=3000"), 1);
	if (!strstr(out, "problem: k3s-master1: SSH not reachable") || !strstr(out, "NODE"))
		fail_msg("fault not named: %s", out);
	free(out);
}

static void test_status_watch_json_prints_one_object_per_round(void **state)
{
	struct ops_lab *f = *state;
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", f->out, "status",
			       "--json", "--watch", "1", "--rounds", "2", "--timeout=10000", NULL };
	struct kf_proc p;
	struct kf_err err;
	int objects = 0;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	for (const char *l = kf_buf_str(&p.out); *l;) {
		size_t len = strcspn(l, "\n");
		json_t *o = json_loadb(l, len, 0, NULL);
		if (!o || !json_object_get(o, "nodes"))
			fail_msg("not a status object: %.*s", (int)len, l);
		json_decref(o);
		objects++;
		l += len + (l[len] ? 1 : 0);
	}
	assert_int_equal(objects, 2);
	kf_proc_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_healthy_lab_has_no_problems),
		cmocka_unit_test(test_status_names_a_node_whose_sshd_is_stopped),
		cmocka_unit_test(test_status_names_a_powered_off_vm),
		cmocka_unit_test(test_status_names_a_missing_role_marker),
		cmocka_unit_test(test_status_names_a_skewed_clock),
		cmocka_unit_test(test_status_names_a_missing_image),
		cmocka_unit_test(test_status_names_an_inactive_k3s_service),
		cmocka_unit_test(test_status_cli_json_is_one_object_and_exits_1_when_unhealthy),
		cmocka_unit_test(test_status_cli_screen_names_the_fault_and_exits_1),
		cmocka_unit_test(test_status_watch_json_prints_one_object_per_round),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
