/* The create-vms stage driven in C with a modified default configuration (two small nodes,
 * a configured MAC, a separate VM directory) against the vmrun test double: what it writes,
 * what it records, that a rerun is skipped, that the VMX editor detaches the ISOs of a VM it
 * made, and what it refuses before touching anything (EFI, a hardware version the Workstation
 * found cannot run, a sparse disk over 2 TiB without vdiskmanager). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/stage.h"
#include "k3sforge/lab.h"
#include "k3sforge/state.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/vmx.h"
#include "vmware_fixture.h"


struct fx {
	char *dir, *out, *vms;
	struct kf_lab lab;
	struct kf_err err;
	struct kf_config *cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_err e;
	char *p;

	f->dir = vmw_tempdir("cvstage");
	f->out = kf_path_join(f->dir, "out");
	f->vms = kf_path_join(f->dir, "lab vms");
	p = kf_path_join(f->dir, "state");
	setenv("FAKE_VMRUN_STATE", p, 1);
	free(p);
	p = kf_path_join(f->dir, "faults.env");
	setenv("FAKE_VMRUN_FAULTS", p, 1);
	free(p);
	unsetenv("K3SFORGE_WSL");
	f->cfg = vmw_config();
	/* Two small nodes: the host checks must pass on a modest test machine. */
	f->cfg->n_nodes = 2;
	free(f->cfg->nodes[2].name);
	free(f->cfg->nodes[2].ip);
	for (size_t i = 0; i < 2; i++) {
		f->cfg->nodes[i].memory_mb = 256;
		f->cfg->nodes[i].disk_gb = 2;
	}
	f->cfg->nodes[1].mac = strdup("00:50:56:2A:00:01");
	f->cfg->paths.vm_dir = strdup(f->vms);
	p = kf_path_join(f->out, "iso");
	kf_fs_mkdirs(p, 0755, &e);
	free(p);
	free(vmw_write(f->out, "iso/installer.iso", "not really an ISO"));
	free(vmw_write(f->out, "iso/seed-k3s-master1.iso", "seed 1"));
	free(vmw_write(f->out, "iso/seed-k3s-worker1.iso", "seed 2"));
	f->lab.out_dir = f->out;
	f->lab.cfg = f->cfg;
	kf_run_new(&f->lab.run);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err e;

	kf_run_free(f->lab.run);
	kf_config_free(f->cfg);
	kf_fs_remove_tree(f->dir, &e);
	free(f->dir);
	free(f->out);
	free(f->vms);
	free(f);
	return 0;
}

static void run_stage(struct fx *f, bool *skipped)
{
	int r = kf_stage_execute(&f->lab, &kf_stage_create_vms, false, skipped, &f->err);
	if (r)
		fail_msg("create-vms: %s", f->err.msg);
}

static struct kf_vmx *load_vmx(struct fx *f, const char *node)
{
	char *p = NULL;
	struct kf_vmx *v = NULL;
	struct kf_err e;
	assert_true(asprintf(&p, "%s/%s/%s.vmx", f->vms, node, node) > 0);
	if (kf_vmx_load(&v, p, &e))
		fail_msg("%s", e.msg);
	free(p);
	return v;
}

static void test_stage_writes_vmx_from_the_configuration(void **state)
{
	struct fx *f = *state;
	struct kf_vmx *v;
	bool skipped = true;
	run_stage(f, &skipped);
	assert_false(skipped);
	v = load_vmx(f, "k3s-worker1");
	assert_string_equal(kf_vmx_get(v, "firmware"), "bios");
	/* A Linux host names the vmnet by its device (docs/vmware.md). */
	assert_string_equal(kf_vmx_get(v, "ethernet0.vnet"), "/dev/vmnet1");
	assert_string_equal(kf_vmx_get(v, "memsize"), "256");
	assert_string_equal(kf_vmx_get(v, "ethernet0.address"), "00:50:56:2a:00:01");
	assert_string_equal(kf_vmx_get(v, "bios.bootOrder"), "hdd,cdrom");
	assert_non_null(strstr(kf_vmx_get(v, "ide0:1.fileName"), "seed-k3s-worker1.iso"));
	kf_vmx_free(v);
	v = load_vmx(f, "k3s-master1");
	assert_true(kf_vmx_mac_is_static(kf_vmx_get(v, "ethernet0.address")));
	assert_string_not_equal(kf_vmx_get(v, "ethernet0.address"), "00:50:56:2a:00:01");
	kf_vmx_free(v);
}

static void faults(struct fx *f, const char *text)
{
	char *p = kf_path_join(f->dir, "faults.env");
	struct kf_err e;
	assert_int_equal(kf_fs_write_atomic(p, text, strlen(text), 0644, &e), 0);
	free(p);
}

/* Nothing at all happens: no folder, no vmrun power call. */
static void assert_untouched(struct fx *f)
{
	char *log = NULL, *p = kf_path_join(f->dir, "state/calls.log");
	assert_false(kf_fs_exists(f->vms));
	log = vmw_slurp(p);
	if (log)
		assert_null(strstr(log, " start "));
	free(log);
	free(p);
}

static void expect_refusal(struct fx *f, const char *text)
{
	int r = kf_stage_execute(&f->lab, &kf_stage_create_vms, false, NULL, &f->err);
	assert_int_not_equal(r, 0);
	if (!strstr(f->err.msg, text))
		fail_msg("no '%s' in: %s", text, f->err.msg);
	assert_untouched(f);
}

static void test_stage_refuses_efi_before_touching_anything(void **state)
{
	struct fx *f = *state;
	free(f->cfg->vmware.firmware);
	f->cfg->vmware.firmware = strdup("efi");
	expect_refusal(f, "vmware.firmware: bios");
}

static void test_stage_refuses_hw_version_the_workstation_cannot_run(void **state)
{
	struct fx *f = *state;
	faults(f, "WS_VERSION=17.6.1\n");
	f->cfg->vmware.hw_version = 22;
	/* The host checks say it first; with them only warning, create-vms still refuses. */
	expect_refusal(f, "host checks failed");
	setenv("K3SFORGE_HOST_CHECKS", "warn", 1);
	expect_refusal(f, "needs VMware Workstation 25H2");
	unsetenv("K3SFORGE_HOST_CHECKS");
}

static void test_stage_refuses_sparse_disk_over_2tib(void **state)
{
	struct fx *f = *state;
	f->cfg->nodes[1].disk_gb = 3000;
	setenv("K3SFORGE_HOST_CHECKS", "warn", 1);
	expect_refusal(f, "vmware-vdiskmanager");
	unsetenv("K3SFORGE_HOST_CHECKS");
}

static void test_stage_records_nodes_in_state(void **state)
{
	struct fx *f = *state;
	struct kf_state *st = NULL;
	struct kf_state_rec rec;
	struct kf_err e;
	json_t *nodes;
	run_stage(f, NULL);
	assert_int_equal(kf_state_load(&st, f->out, &e), 0);
	assert_true(kf_state_get(st, "create-vms", &rec));
	assert_string_equal(rec.status, "done");
	nodes = json_object_get(kf_state_data(st, "create-vms"), "nodes");
	assert_int_equal(json_object_size(nodes), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(nodes, "k3s-worker1"),
							       "mac")),
			    "00:50:56:2a:00:01");
	assert_non_null(json_string_value(json_object_get(json_object_get(nodes, "k3s-master1"),
							  "started_at")));
	kf_state_free(st);
}

static void test_stage_rerun_is_skipped(void **state)
{
	struct fx *f = *state;
	bool skipped = false;
	run_stage(f, &skipped);
	assert_false(skipped);
	run_stage(f, &skipped);
	assert_true(skipped);
}

static void test_stage_reruns_when_a_seed_changes(void **state)
{
	struct fx *f = *state;
	bool skipped = true;
	run_stage(f, &skipped);
	free(vmw_write(f->out, "iso/seed-k3s-worker1.iso", "seed 2, rebuilt"));
	/* replacing the VMs made before needs consent (tests run off a terminal): refused, and
	 * nothing touched */
	f->lab.opts.replace_vms = false;
	assert_int_equal(kf_stage_execute(&f->lab, &kf_stage_create_vms, false, &skipped, &f->err),
			 KF_ESTATE);
	assert_non_null(strstr(f->err.msg, "would stop, delete and reinstall 2 VMs made "
						"earlier (k3s-master1, k3s-worker1)"));
	assert_non_null(strstr(f->err.msg, "Pass --yes"));
	f->lab.opts.replace_vms = true;
	run_stage(f, &skipped);
	f->lab.opts.replace_vms = false;
	assert_false(skipped);
}

static void test_editor_detaches_isos_of_a_created_vm(void **state)
{
	struct fx *f = *state;
	struct kf_vmrun *v = NULL;
	struct kf_vmx *vmx;
	char *path = NULL, *val = NULL;
	struct kf_err e;
	run_stage(f, NULL);
	vmx = load_vmx(f, "k3s-master1");
	assert_int_equal(kf_vmx_detach_cdroms(vmx), 2);
	assert_true(asprintf(&path, "%s/k3s-master1/k3s-master1.vmx", f->vms) > 0);
	assert_int_equal(kf_vmx_save(vmx, path, &e), 0);
	kf_vmx_free(vmx);
	/* VMware (here: the double) reads the edited file back. */
	assert_int_equal(kf_vmrun_find(&v, f->cfg, &e), 0);
	assert_int_equal(kf_vmrun_read_variable(v, path, "runtimeConfig", "ide0:0.deviceType", &val,
						&e),
			 0);
	assert_string_equal(val, "cdrom-raw");
	free(val);
	assert_int_equal(kf_vmrun_read_variable(v, path, "runtimeConfig", "ide0:1.startConnected",
						&val, &e),
			 0);
	assert_string_equal(val, "FALSE");
	free(val);
	kf_vmrun_free(v);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stage_writes_vmx_from_the_configuration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_records_nodes_in_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_rerun_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_reruns_when_a_seed_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_editor_detaches_isos_of_a_created_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_efi_before_touching_anything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_hw_version_the_workstation_cannot_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_refuses_sparse_disk_over_2tib, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
