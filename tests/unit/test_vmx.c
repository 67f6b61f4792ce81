/* VMX writer, parser/editor, escaping and static MAC derivation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/vmx.h"
#include "vmware_fixture.h"

static const struct kf_vmx_spec base_spec = {
	.display_name = "k3s-master1",
	.annotation = "k3sforge lab \"lab\"\nnode k3s-master1 | master",
	.cpus = 2,
	.memory_mb = 4096,
	.hw_version = 21,
	.firmware = "bios",
	.disk_file = "k3s-master1.vmdk",
	.installer_iso = "C:\\k3s lab\\iso\\installer.iso",
	.seed_iso = "/srv/out/iso/seed-k3s-master1.iso",
	.vnet = "VMnet1",
	.mac = "00:50:56:12:34:56",
	.nvram = "k3s-master1.nvram",
};

static struct kf_vmx *build(const struct kf_vmx_spec *s)
{
	struct kf_vmx *v = NULL;
	struct kf_err e;

	assert_int_equal(kf_vmx_build(&v, s, &e), 0);
	return v;
}

static void test_vmx_build_has_expected_keys_after_round_trip(void **state)
{
	struct kf_vmx *v = build(&base_spec), *back = NULL;
	char *text = kf_vmx_format(v);
	struct kf_err e;
	static const char *const expect[][2] = {
		{ ".encoding", "UTF-8" },           { "config.version", "8" },
		{ "virtualHW.version", "21" },      { "guestOS", "ubuntu-64" },
		{ "displayName", "k3s-master1" },   { "numvcpus", "2" },
		{ "memsize", "4096" },              { "firmware", "bios" },
		{ "bios.bootOrder", "hdd,cdrom" },  { "scsi0.virtualDev", "lsilogic" },
		{ "bios.hddOrder", "scsi0:0" },     /* KB 2011654: hdd needs the disk named */
		{ "scsi0:0.fileName", "k3s-master1.vmdk" },
		{ "ide0:0.deviceType", "cdrom-image" },
		{ "ide0:0.fileName", "C:\\k3s lab\\iso\\installer.iso" },
		{ "ide0:1.fileName", "/srv/out/iso/seed-k3s-master1.iso" },
		{ "ethernet0.connectionType", "custom" }, { "ethernet0.vnet", "VMnet1" },
		{ "ethernet0.virtualDev", "vmxnet3" },    { "ethernet0.addressType", "static" },
		{ "ethernet0.address", "00:50:56:12:34:56" }, { "tools.syncTime", "TRUE" },
		{ "msg.autoAnswer", "TRUE" },       { "uuid.action", "create" },
		{ "powerType.powerOff", "soft" },   { "nvram", "k3s-master1.nvram" },
	};
	(void)state;
	assert_non_null(text);
	assert_int_equal(kf_vmx_parse(&back, text, strlen(text), "test.vmx", &e), 0);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		const char *got = kf_vmx_get(back, expect[i][0]);
		if (!got || strcmp(got, expect[i][1]) != 0)
			fail_msg("%s: expected '%s', got '%s'", expect[i][0], expect[i][1],
				 got ? got : "(missing)");
	}
	assert_string_equal(kf_vmx_get(back, "annotation"), base_spec.annotation);
	assert_int_equal(kf_vmx_count(back), kf_vmx_count(v));
	/* The first line is .encoding, as VMware expects. */
	assert_memory_equal(text, ".encoding = \"UTF-8\"\n", 20);
	free(text);
	kf_vmx_free(v);
	kf_vmx_free(back);
}

/* VMware KB 2011654: `hdd` in bios.bootOrder needs bios.hddOrder naming the disk; without it
 * the disk can be skipped and the installer CD's autoinstall entry runs again. */
static void test_vmx_boot_order_names_the_installed_disk(void **state)
{
	struct kf_vmx *v = build(&base_spec);
	const char *order = kf_vmx_get(v, "bios.hddOrder");
	char key[64];

	(void)state;
	assert_string_equal(kf_vmx_get(v, "bios.bootOrder"), "hdd,cdrom");
	assert_non_null(order);
	snprintf(key, sizeof(key), "%s.fileName", order);
	assert_non_null(kf_vmx_get(v, key));
	assert_string_equal(kf_vmx_get(v, key), base_spec.disk_file);
	kf_vmx_free(v);
}

static void test_vmx_keys_are_case_insensitive(void **state)
{
	const char *t = "DisplayName = \"a\"\nMEMSIZE = \"1024\"\n";
	struct kf_vmx *v = NULL;
	struct kf_err e;
	char *out;
	(void)state;
	assert_int_equal(kf_vmx_parse(&v, t, strlen(t), "t", &e), 0);
	assert_string_equal(kf_vmx_get(v, "displayname"), "a");
	assert_int_equal(kf_vmx_set(v, "memsize", "2048"), 0);
	out = kf_vmx_format(v);
	/* The line keeps its own spelling of the key; no second memsize line appears. */
	assert_string_equal(out, "DisplayName = \"a\"\nMEMSIZE = \"2048\"\n");
	free(out);
	kf_vmx_free(v);
}

static void test_vmx_editor_preserves_untouched_lines(void **state)
{
	const char *t = "#!/usr/bin/vmware\r\n"
			".encoding = \"UTF-8\"\r\n"
			"# operator's note: keep this\r\n"
			"\r\n"
			"someVendor.weird_Key   =    unquoted value  \r\n"
			"ide0:0.fileName = \"C:\\isos\\a.iso\"\r\n"
			"this line is garbage\r\n"
			"uuid.bios = \"56 4d 09 6b b0 ff 56 dd-bd 74 a4 03 97 2b f3 37\"";
	const char *want = "#!/usr/bin/vmware\r\n"
			   ".encoding = \"UTF-8\"\r\n"
			   "# operator's note: keep this\r\n"
			   "\r\n"
			   "someVendor.weird_Key   =    unquoted value  \r\n"
			   "ide0:0.fileName = \"auto detect\"\r\n"
			   "this line is garbage\r\n"
			   "uuid.bios = \"56 4d 09 6b b0 ff 56 dd-bd 74 a4 03 97 2b f3 37\"\r\n"
			   "new.key = \"x\"\r\n";
	struct kf_vmx *v = NULL;
	struct kf_err e;
	char *out;
	(void)state;
	assert_int_equal(kf_vmx_parse(&v, t, strlen(t), "t", &e), 0);
	assert_string_equal(kf_vmx_get(v, "someVendor.weird_key"), "unquoted value");
	assert_int_equal(kf_vmx_set(v, "ide0:0.filename", "auto detect"), 0);
	assert_int_equal(kf_vmx_set(v, "new.key", "x"), 0);
	out = kf_vmx_format(v);
	assert_string_equal(out, want);
	free(out);
	kf_vmx_free(v);
}

static void test_vmx_value_may_carry_a_trailing_comment(void **state)
{
	const char *t = "memsize = \"1024\"   # for the installer\nbad = \"x\" y\n";
	struct kf_vmx *v = NULL;
	struct kf_err e;
	(void)state;
	assert_int_equal(kf_vmx_parse(&v, t, strlen(t), "t", &e), 0);
	assert_string_equal(kf_vmx_get(v, "memsize"), "1024");
	/* Text after the closing quote that is not a comment: kept, but not read as a key. */
	assert_null(kf_vmx_get(v, "bad"));
	assert_int_equal(kf_vmx_count(v), 1);
	kf_vmx_free(v);
}

static void test_vmx_remove_deletes_only_that_key(void **state)
{
	const char *t = "a = \"1\"\n# c\nethernet0.generatedAddressOffset = \"0\"\nb = \"2\"\n";
	struct kf_vmx *v = NULL;
	struct kf_err e;
	char *out;
	(void)state;
	assert_int_equal(kf_vmx_parse(&v, t, strlen(t), "t", &e), 0);
	assert_int_equal(kf_vmx_remove(v, "ETHERNET0.generatedAddressOffset"), 1);
	assert_int_equal(kf_vmx_remove(v, "absent"), 0);
	out = kf_vmx_format(v);
	assert_string_equal(out, "a = \"1\"\n# c\nb = \"2\"\n");
	free(out);
	kf_vmx_free(v);
}

static void test_vmx_escape_round_trips_specials(void **state)
{
	const char *raw = "say \"hi\" | pipe\ttab\nnewline \x7f del, 한국어 #notcomment";
	char *esc = kf_vmx_escape(raw), *back;
	(void)state;
	assert_non_null(esc);
	assert_null(strchr(esc, '"'));
	assert_null(strchr(esc, '\n'));
	assert_null(strchr(esc, '\t'));
	assert_non_null(strstr(esc, "|22hi|22"));
	assert_non_null(strstr(esc, "|7C"));
	assert_non_null(strstr(esc, "|0A"));
	assert_non_null(strstr(esc, "한국어"));
	back = kf_vmx_unescape(esc);
	assert_string_equal(back, raw);
	free(esc);
	free(back);
}

static void test_vmx_unescape_accepts_lowercase_and_keeps_stray_pipes(void **state)
{
	char *a = kf_vmx_unescape("x|0ay|22|zz|");
	(void)state;
	assert_string_equal(a, "x\ny\"|zz|");
	free(a);
}

static void test_vmx_value_with_quote_survives_file_round_trip(void **state)
{
	struct kf_vmx *v = NULL, *back = NULL;
	struct kf_err e;
	char *dir = vmw_tempdir("vmx"), *path = NULL;
	(void)state;
	assert_non_null(dir);
	assert_int_equal(kf_vmx_parse(&v, "", 0, "empty", &e), 0);
	assert_int_equal(kf_vmx_set(v, "annotation", "a \"quoted\" |value|\r\nline2"), 0);
	assert_int_equal(asprintf(&path, "%s/x.vmx", dir) > 0, 1);
	assert_int_equal(kf_vmx_save(v, path, &e), 0);
	assert_int_equal(kf_vmx_load(&back, path, &e), 0);
	assert_string_equal(kf_vmx_get(back, "annotation"), "a \"quoted\" |value|\r\nline2");
	kf_vmx_free(v);
	kf_vmx_free(back);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_vmx_detach_cdroms_disconnects_images(void **state)
{
	struct kf_vmx *v = build(&base_spec);
	char *before, *after;
	(void)state;
	before = kf_vmx_format(v);
	assert_int_equal(kf_vmx_detach_cdroms(v), 2);
	assert_string_equal(kf_vmx_get(v, "ide0:0.deviceType"), "cdrom-raw");
	assert_string_equal(kf_vmx_get(v, "ide0:0.fileName"), "auto detect");
	assert_string_equal(kf_vmx_get(v, "ide0:0.startConnected"), "FALSE");
	assert_string_equal(kf_vmx_get(v, "ide0:1.deviceType"), "cdrom-raw");
	assert_string_equal(kf_vmx_get(v, "ide0:1.startConnected"), "FALSE");
	/* The disk is not a CD-ROM and is left alone. */
	assert_string_equal(kf_vmx_get(v, "scsi0:0.fileName"), "k3s-master1.vmdk");
	/* Detaching again changes nothing. */
	assert_int_equal(kf_vmx_detach_cdroms(v), 0);
	after = kf_vmx_format(v);
	assert_int_equal(strlen(before) != strlen(after), 1);
	free(before);
	free(after);
	kf_vmx_free(v);
}

static void test_vmx_build_refuses_mac_outside_static_range(void **state)
{
	struct kf_vmx_spec s = base_spec;
	struct kf_vmx *v = NULL;
	struct kf_err e;
	(void)state;
	s.mac = "00:0c:29:12:34:56";
	assert_int_equal(kf_vmx_build(&v, &s, &e), KF_ECONFIG);
	assert_non_null(strstr(e.msg, "static range"));
	s.mac = "00:50:56:40:00:00";
	assert_int_equal(kf_vmx_build(&v, &s, &e), KF_ECONFIG);
	assert_null(v);
}

/* EFI is refused with the reason (docs/vmware.md "EFI"): no VMX that could reboot into the
 * installer is ever written. */
static void test_vmx_build_refuses_efi(void **state)
{
	struct kf_vmx_spec s = base_spec;
	struct kf_vmx *v = NULL;
	struct kf_err e;
	(void)state;
	s.firmware = "efi";
	assert_int_equal(kf_vmx_build(&v, &s, &e), KF_EUNSUPPORTED);
	assert_null(v);
	assert_non_null(strstr(e.msg, "NVRAM"));
	assert_non_null(strstr(e.msg, "firmware: bios"));
}

/* Linux Workstation names the vmnet by its device (vagrant#10207: "/dev/vmnet2"); Windows by
 * "VMnetN" — also when vmrun.exe is driven from WSL. */
static void test_vmx_vnet_value_follows_the_host(void **state)
{
	char *a = kf_vmx_vnet_value("VMnet1", false), *b = kf_vmx_vnet_value("vmnet8", true);
	(void)state;
	assert_string_equal(a, "/dev/vmnet1");
	assert_string_equal(b, "VMnet8");
	free(a);
	free(b);
	assert_null(kf_vmx_vnet_value("VMnet", false));
	assert_null(kf_vmx_vnet_value("eth0", true));
	assert_null(kf_vmx_vnet_value("VMnet1x", false));
	assert_null(kf_vmx_vnet_value("VMnet-1", false));
}

static void test_vmx_mac_derivation_is_deterministic_and_in_range(void **state)
{
	char a[KF_VMX_MAC_LEN + 1], b[KF_VMX_MAC_LEN + 1], c[KF_VMX_MAC_LEN + 1];
	(void)state;
	kf_vmx_mac_derive(a, "lab", "k3s-master1", 0);
	kf_vmx_mac_derive(b, "lab", "k3s-master1", 0);
	kf_vmx_mac_derive(c, "lab2", "k3s-master1", 0);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(kf_vmx_mac_is_static(a));
	assert_true(kf_vmx_mac_is_static(c));
	assert_memory_equal(a, "00:50:56:", 9);
}

static void test_vmx_assign_macs_unique_per_node(void **state)
{
	enum { N = 400 };
	static char macs[N][KF_VMX_MAC_LEN + 1];
	static char namebuf[N][32];
	const char *names[N];
	struct kf_err e;
	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(namebuf[i], sizeof(namebuf[i]), "node-%d", i);
		names[i] = namebuf[i];
	}
	assert_int_equal(kf_vmx_assign_macs(macs, "lab", names, NULL, N, &e), 0);
	for (int i = 0; i < N; i++) {
		assert_true(kf_vmx_mac_is_static(macs[i]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(macs[i], macs[j]);
	}
}

/* Finds two node names whose first derived MACs collide (22 random bits: a few thousand
 * names are enough) and checks the assignment still separates them. */
static void test_vmx_assign_macs_resolves_collisions(void **state)
{
	enum { N = 20000 };
	static char macs[N][KF_VMX_MAC_LEN + 1];
	static char namebuf[N][16];
	int a = -1, b = -1;
	char out[2][KF_VMX_MAC_LEN + 1];
	const char *pair[2];
	struct kf_err e;
	(void)state;
	for (int i = 0; i < N && a < 0; i++) {
		snprintf(namebuf[i], sizeof(namebuf[i]), "n%d", i);
		kf_vmx_mac_derive(macs[i], "lab", namebuf[i], 0);
		for (int j = 0; j < i; j++)
			if (strcmp(macs[i], macs[j]) == 0) {
				a = j;
				b = i;
				break;
			}
	}
	assert_true(a >= 0);
	pair[0] = namebuf[a];
	pair[1] = namebuf[b];
	assert_int_equal(kf_vmx_assign_macs(out, "lab", pair, NULL, 2, &e), 0);
	assert_string_equal(out[0], macs[a]);
	assert_string_not_equal(out[0], out[1]);
	assert_true(kf_vmx_mac_is_static(out[1]));
}

static void test_vmx_assign_macs_keeps_configured_and_rejects_duplicates(void **state)
{
	const char *names[] = { "a", "b", "c" };
	const char *given[] = { "00:50:56:01:02:03", NULL, "00:50:56:01:02:03" };
	const char *given_ok[] = { "00:50:56:0A:0B:0C", NULL, NULL };
	char out[3][KF_VMX_MAC_LEN + 1];
	struct kf_err e;
	(void)state;
	assert_int_equal(kf_vmx_assign_macs(out, "lab", names, given, 3, &e), KF_ECONFIG);
	assert_non_null(strstr(e.msg, "same mac"));
	assert_int_equal(kf_vmx_assign_macs(out, "lab", names, given_ok, 3, &e), 0);
	assert_string_equal(out[0], "00:50:56:0a:0b:0c");
	assert_string_not_equal(out[1], out[2]);
}

static void test_vmx_mac_static_check_rejects_malformed(void **state)
{
	(void)state;
	assert_true(kf_vmx_mac_is_static("00:50:56:3f:ff:ff"));
	assert_true(kf_vmx_mac_is_static("00:50:56:00:00:00"));
	assert_false(kf_vmx_mac_is_static("00:50:56:3f:ff"));
	assert_false(kf_vmx_mac_is_static("00-50-56-01-02-03"));
	assert_false(kf_vmx_mac_is_static("00:50:56:zz:00:00"));
	assert_false(kf_vmx_mac_is_static(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmx_build_has_expected_keys_after_round_trip),
		cmocka_unit_test(test_vmx_boot_order_names_the_installed_disk),
		cmocka_unit_test(test_vmx_keys_are_case_insensitive),
		cmocka_unit_test(test_vmx_editor_preserves_untouched_lines),
		cmocka_unit_test(test_vmx_value_may_carry_a_trailing_comment),
		cmocka_unit_test(test_vmx_remove_deletes_only_that_key),
		cmocka_unit_test(test_vmx_escape_round_trips_specials),
		cmocka_unit_test(test_vmx_unescape_accepts_lowercase_and_keeps_stray_pipes),
		cmocka_unit_test(test_vmx_value_with_quote_survives_file_round_trip),
		cmocka_unit_test(test_vmx_detach_cdroms_disconnects_images),
		cmocka_unit_test(test_vmx_build_refuses_mac_outside_static_range),
		cmocka_unit_test(test_vmx_build_refuses_efi),
		cmocka_unit_test(test_vmx_vnet_value_follows_the_host),
		cmocka_unit_test(test_vmx_mac_derivation_is_deterministic_and_in_range),
		cmocka_unit_test(test_vmx_assign_macs_unique_per_node),
		cmocka_unit_test(test_vmx_assign_macs_resolves_collisions),
		cmocka_unit_test(test_vmx_assign_macs_keeps_configured_and_rejects_duplicates),
		cmocka_unit_test(test_vmx_mac_static_check_rejects_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
