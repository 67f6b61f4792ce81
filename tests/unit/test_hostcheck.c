/* Host checks: VMware's networking file, the Windows registry dump, the judgement of a vmnet
 * against the configuration, .wslconfig, and the resource checks' findings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/hostcheck.h"
#include "vmware_fixture.h"

static const char *linux_networking =
	"VERSION=1,0\n"
	"answer VNET_1_DHCP yes\n"
	"answer VNET_1_DHCP_CFG_HASH 4A4AE55F8580E079D81A16FCF6BBBD7CC5C4039B\n"
	"answer VNET_1_HOSTONLY_NETMASK 255.255.255.0\n"
	"answer VNET_1_HOSTONLY_SUBNET 192.168.6.0\n"
	"answer VNET_1_VIRTUAL_ADAPTER yes\n"
	"answer VNET_8_DHCP yes\n"
	"answer VNET_8_HOSTONLY_NETMASK 255.255.255.0\n"
	"answer VNET_8_HOSTONLY_SUBNET 192.168.207.0\n"
	"answer VNET_8_NAT yes\n"
	"answer VNET_8_VIRTUAL_ADAPTER yes\n"
	"add_bridge_mapping eth0 0\n";

static const struct kf_finding *find(const struct kf_findings *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->items[i].id, id) == 0)
			return &f->items[i];
	return NULL;
}

static void test_vmnet_linux_parse_reads_hostonly_network(void **state)
{
	struct kf_vmnet_info i;
	(void)state;
	kf_vmnet_parse_linux(&i, linux_networking, 1);
	assert_true(i.present);
	assert_true(i.virtual_adapter);
	assert_false(i.nat);
	assert_false(i.bridged);
	assert_int_equal(i.subnet, (192u << 24) | (168u << 16) | (6u << 8));
	assert_int_equal(i.netmask, 0xffffff00u);
	kf_vmnet_parse_linux(&i, linux_networking, 8);
	assert_true(i.nat);
	kf_vmnet_parse_linux(&i, linux_networking, 0);
	assert_true(i.bridged);
	kf_vmnet_parse_linux(&i, linux_networking, 3);
	assert_false(i.present);
}

static void test_vmnet_number_parses_names(void **state)
{
	(void)state;
	assert_int_equal(kf_vmnet_number("VMnet1"), 1);
	assert_int_equal(kf_vmnet_number("vmnet19"), 19);
	assert_int_equal(kf_vmnet_number("VMnet"), -1);
	assert_int_equal(kf_vmnet_number("eth0"), -1);
	assert_int_equal(kf_vmnet_number("VMnet1x"), -1);
}

static void judge(struct kf_findings *f, const char *text, const char *host, bool known)
{
	struct kf_config *cfg = vmw_config();
	struct kf_vmnet_info i;
	kf_vmnet_parse_linux(&i, text, 1);
	assert_int_equal(kf_vmnet_judge(f, cfg, &i, "test", host, known), 0);
	kf_config_free(cfg);
}

static void test_vmnet_judge_accepts_matching_network(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f, linux_networking, "192.168.6.1", true);
	assert_int_equal(kf_findings_failed(&f), 0);
	assert_int_equal(find(&f, "vmnet")->status, KF_CHECK_OK);
	assert_int_equal(find(&f, "host-ip")->status, KF_CHECK_OK);
	kf_findings_free(&f);
}

static void test_vmnet_judge_rejects_missing_vmnet(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f, "VERSION=1,0\nanswer VNET_8_NAT yes\n", "192.168.6.1", true);
	assert_int_equal(find(&f, "vmnet")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "vmnet")->summary, "does not exist"));
	assert_non_null(strstr(find(&f, "vmnet")->fix, "Virtual Network Editor"));
	kf_findings_free(&f);
}

static void test_vmnet_judge_rejects_nat_network(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f, "answer VNET_1_HOSTONLY_SUBNET 192.168.6.0\nanswer VNET_1_NAT yes\n", NULL, true);
	assert_int_equal(find(&f, "vmnet")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "vmnet")->summary, "NAT, not host-only"));
	kf_findings_free(&f);
}

static void test_vmnet_judge_rejects_other_subnet(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f,
	      "answer VNET_1_HOSTONLY_SUBNET 192.168.80.0\nanswer VNET_1_HOSTONLY_NETMASK "
	      "255.255.255.0\nanswer VNET_1_VIRTUAL_ADAPTER yes\n",
	      "192.168.80.1", true);
	assert_int_equal(find(&f, "vmnet")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "vmnet")->summary, "192.168.80.0"));
	assert_non_null(strstr(find(&f, "vmnet")->fix, "network.subnet"));
	kf_findings_free(&f);
}

static void test_vmnet_judge_rejects_host_off_gateway(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f, linux_networking, "192.168.6.2", true);
	assert_int_equal(find(&f, "host-ip")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "host-ip")->fix, "192.168.6.2"));
	kf_findings_free(&f);
	judge(&f, linux_networking, NULL, true);
	assert_int_equal(find(&f, "host-ip")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "host-ip")->fix, "vmware-networks --start"));
	kf_findings_free(&f);
}

static void test_vmnet_judge_says_unreadable_host_ip_is_not_checked(void **state)
{
	struct kf_findings f = { 0 };
	(void)state;
	judge(&f, linux_networking, NULL, false);
	assert_int_equal(find(&f, "host-ip")->status, KF_CHECK_INFO);
	assert_non_null(strstr(find(&f, "host-ip")->summary, "not checked"));
	assert_non_null(strstr(find(&f, "host-ip")->fix, "ipconfig"));
	kf_findings_free(&f);
}

static void test_vmnet_windows_registry_dump_parses(void **state)
{
	const char *dump =
		"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMnetLib\\VMnetConfig\\vmnet1\r\n"
		"    IPSubnetAddress    REG_SZ    192.168.6.0\r\n"
		"    IPSubnetMask    REG_SZ    255.255.255.0\r\n"
		"    UseDHCP    REG_DWORD    0x0\r\n\r\n";
	const char *nat = "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMnetLib\\"
			  "VMnetConfig\\vmnet8\r\n    IPSubnetAddress    REG_SZ    10.0.0.0\r\n"
			  "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMnetLib\\"
			  "VMnetConfig\\vmnet8\\NAT\r\n    UseNAT    REG_DWORD    0x1\r\n";
	struct kf_vmnet_info i;
	(void)state;
	kf_vmnet_parse_windows_reg(&i, dump);
	assert_true(i.present);
	assert_false(i.nat);
	assert_false(i.dhcp);
	assert_int_equal(i.subnet, (192u << 24) | (168u << 16) | (6u << 8));
	assert_int_equal(i.netmask, 0xffffff00u);
	kf_vmnet_parse_windows_reg(&i, nat);
	assert_true(i.nat);
}

#define VMNET1 "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMnetLib\\VMnetConfig\\vmnet1"

/* A NAT subkey is not NAT: vagrant reads NAT\UseNAT == 1 as NAT and anything else as host-only
 * (driver/base_windows.go:90-102). The old parser called any vmnet with a NAT subkey NAT. */
static void test_vmnet_windows_nat_subkey_with_usenat_0_is_host_only(void **state)
{
	const char *dump = VMNET1 "\r\n    IPSubnetAddress    REG_SZ    192.168.6.0\r\n"
			   "    IPSubnetMask    REG_SZ    255.255.255.0\r\n\r\n"
			   VMNET1 "\\Adapter\r\n    UseAdapter    REG_DWORD    0x1\r\n\r\n"
			   VMNET1 "\\NAT\r\n    UseNAT    REG_DWORD    0x0\r\n\r\n";
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	struct kf_vmnet_info i;
	(void)state;
	kf_vmnet_parse_windows_reg(&i, dump);
	assert_false(i.nat);
	assert_true(i.adapter_known);
	assert_true(i.virtual_adapter);
	assert_int_equal(kf_vmnet_judge(&f, cfg, &i, "Windows registry", NULL, false), 0);
	assert_int_equal(find(&f, "vmnet")->status, KF_CHECK_OK);
	assert_int_equal(find(&f, "host-adapter")->status, KF_CHECK_OK);
	kf_findings_free(&f);
	kf_config_free(cfg);
}

/* Adapter\UseAdapter 0 (or no Adapter key): the host has no adapter on the vmnet, so the
 * guests cannot reach the registry at the gateway (vagrant service/vnetlib_windows.go:271-292). */
static void test_vmnet_windows_without_host_adapter_fails(void **state)
{
	const char *off = VMNET1 "\r\n    IPSubnetAddress    REG_SZ    192.168.6.0\r\n\r\n"
			  VMNET1 "\\Adapter\r\n    UseAdapter    REG_DWORD    0x0\r\n";
	const char *none = VMNET1 "\r\n    IPSubnetAddress    REG_SZ    192.168.6.0\r\n";
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	struct kf_vmnet_info i;
	(void)state;
	kf_vmnet_parse_windows_reg(&i, off);
	assert_int_equal(kf_vmnet_judge(&f, cfg, &i, "Windows registry", NULL, false), 0);
	assert_int_equal(find(&f, "host-adapter")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "host-adapter")->fix, "host virtual adapter"));
	kf_findings_free(&f);
	kf_vmnet_parse_windows_reg(&i, none);
	assert_true(i.adapter_known);
	assert_false(i.virtual_adapter);
	kf_config_free(cfg);
}

/* doctor --host names the Workstation version and judges vmware.hw_version against it. */
static void test_vmrun_check_reports_workstation_and_hw_version(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	char *dir = vmw_tempdir("hc"), *faults = vmw_write(dir, "faults.env", "WS_VERSION=17.6.1\n");
	struct kf_err e;
	(void)state;
	setenv("FAKE_VMRUN_FAULTS", faults, 1);
	cfg->vmware.hw_version = 22;
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp", KF_HOSTCHECK_VMRUN), 0);
	assert_int_equal(find(&f, "workstation")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "workstation")->summary, "25H2"));
	kf_findings_free(&f);
	cfg->vmware.hw_version = 21;
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp", KF_HOSTCHECK_VMRUN), 0);
	assert_int_equal(find(&f, "workstation")->status, KF_CHECK_OK);
	assert_non_null(strstr(find(&f, "workstation")->summary, "17.6.1"));
	kf_findings_free(&f);
	unsetenv("FAKE_VMRUN_FAULTS");
	kf_fs_remove_tree(dir, &e);
	free(faults);
	free(dir);
	kf_config_free(cfg);
}

static void test_resources_fail_when_nodes_need_more_memory(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	(void)state;
	unsetenv("K3SFORGE_WSL");
	cfg->nodes[0].memory_mb = 64 * 1024 * 1024; /* 64 TiB */
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp", KF_HOSTCHECK_RESOURCES), 0);
	assert_int_equal(find(&f, "memory")->status, KF_CHECK_FAIL);
	assert_non_null(strstr(find(&f, "memory")->fix, "memory_mb"));
	kf_findings_free(&f);
	kf_config_free(cfg);
}

static void test_resources_fail_when_disk_too_small(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	enum { N = 50000 }; /* 50000 installs of 10 GiB: more than any test disk holds */
	struct kf_node *nodes = calloc(N, sizeof(*nodes));
	(void)state;
	assert_non_null(nodes);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		free(cfg->nodes[i].name);
		free(cfg->nodes[i].ip);
	}
	free(cfg->nodes);
	for (int i = 0; i < N; i++)
		nodes[i].disk_gb = 40;
	cfg->nodes = nodes;
	cfg->n_nodes = N;
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp/does/not/exist/yet", KF_HOSTCHECK_RESOURCES), 0);
	assert_int_equal(find(&f, "disk")->status, KF_CHECK_FAIL);
	/* Free space is measured at the nearest existing parent. */
	assert_non_null(strstr(find(&f, "disk")->summary, "free at /tmp"));
	assert_non_null(strstr(find(&f, "disk")->fix, "paths.vm_dir"));
	kf_findings_free(&f);
	kf_config_free(cfg);
}

static void test_resources_warn_when_disks_may_outgrow_free_space(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	(void)state;
	cfg->nodes[0].disk_gb = 8192 * 1024; /* 8 PiB may be provisioned; 10 GiB is written */
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp", KF_HOSTCHECK_RESOURCES), 0);
	if (find(&f, "disk")->status == KF_CHECK_WARN)
		assert_non_null(strstr(find(&f, "disk")->summary, "less than the"));
	else /* a nearly full test disk: then it must be the hard failure */
		assert_int_equal(find(&f, "disk")->status, KF_CHECK_FAIL);
	kf_findings_free(&f);
	kf_config_free(cfg);
}

static void test_vmrun_check_finds_the_double(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_findings f = { 0 };
	json_t *j;
	(void)state;
	assert_int_equal(kf_hostcheck_run(&f, cfg, "/tmp", KF_HOSTCHECK_VMRUN), 0);
	assert_int_equal(find(&f, "vmrun")->status, KF_CHECK_OK);
	assert_non_null(strstr(find(&f, "vmrun")->summary, "1.17.0"));
	j = kf_findings_json(&f);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "status")), "ok");
	json_decref(j);
	kf_findings_free(&f);
	kf_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmnet_linux_parse_reads_hostonly_network),
		cmocka_unit_test(test_vmnet_number_parses_names),
		cmocka_unit_test(test_vmnet_judge_accepts_matching_network),
		cmocka_unit_test(test_vmnet_judge_rejects_missing_vmnet),
		cmocka_unit_test(test_vmnet_judge_rejects_nat_network),
		cmocka_unit_test(test_vmnet_judge_rejects_other_subnet),
		cmocka_unit_test(test_vmnet_judge_rejects_host_off_gateway),
		cmocka_unit_test(test_vmnet_judge_says_unreadable_host_ip_is_not_checked),
		cmocka_unit_test(test_vmnet_windows_registry_dump_parses),
		cmocka_unit_test(test_vmnet_windows_nat_subkey_with_usenat_0_is_host_only),
		cmocka_unit_test(test_vmnet_windows_without_host_adapter_fails),
		cmocka_unit_test(test_vmrun_check_reports_workstation_and_hw_version),
		cmocka_unit_test(test_resources_fail_when_nodes_need_more_memory),
		cmocka_unit_test(test_resources_fail_when_disk_too_small),
		cmocka_unit_test(test_resources_warn_when_disks_may_outgrow_free_space),
		cmocka_unit_test(test_vmrun_check_finds_the_double),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
