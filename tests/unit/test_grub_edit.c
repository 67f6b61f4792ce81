/* The installer's GRUB edit (kf_iso_grub_edit) on its own: the autoinstall entry first, built
 * from the ISO's own first entry, the ISO's timeout/default lines gone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "k3sforge/iso.h"

#define TPL KF_SOURCE_DIR "/templates"

static const char *ubuntu_cfg =
	"set timeout=30\n"
	"\n"
	"loadfont unicode\n"
	"\n"
	"menuentry \"Try or Install Ubuntu Server\" {\n"
	"\tset gfxpayload=keep\n"
	"\tlinux\t/casper/vmlinuz  ---\n"
	"\tinitrd\t/casper/initrd\n"
	"}\n"
	"menuentry \"Ubuntu Server with the HWE kernel\" {\n"
	"\tlinux\t/casper/hwe-vmlinuz  ---\n"
	"\tinitrd\t/casper/hwe-initrd\n"
	"}\n";

static char *edit_ok(const char *cfg)
{
	struct kf_err err;
	char *out = NULL;

	kf_err_clear(&err);
	if (kf_iso_grub_edit(&out, cfg, "grub.cfg", TPL, &err) != 0)
		fail_msg("%s", err.msg);
	return out;
}

static void test_grub_edit_puts_autoinstall_entry_before_the_first(void **state)
{
	char *out = edit_ok(ubuntu_cfg);
	const char *ours = strstr(out, "menuentry \"k3sforge");
	const char *theirs = strstr(out, "menuentry \"Try or Install Ubuntu Server\"");

	(void)state;
	assert_non_null(ours);
	assert_non_null(theirs);
	assert_true(ours < theirs);
	assert_true(strstr(out, "loadfont unicode") < ours);
	assert_non_null(strstr(ours, "\tlinux\t/casper/vmlinuz autoinstall ---\n\tinitrd\t/casper/initrd\n}"));
	free(out);
}

static void test_grub_edit_replaces_timeout_and_default(void **state)
{
	char *out = edit_ok("set default=2\nset timeout=30\nmenuentry \"x\" {\n linux /k --- quiet\n "
			    "initrd /i\n}\n");
	(void)state;
	assert_null(strstr(out, "set timeout=30"));
	assert_null(strstr(out, "set default=2"));
	assert_non_null(strstr(out, "set timeout=3\nset default=0\n"));
	/* what followed --- stays after it */
	assert_non_null(strstr(out, "linux\t/k autoinstall --- quiet\n"));
	free(out);
}

static void test_grub_edit_keeps_the_entry_arguments(void **state)
{
	char *out = edit_ok("menuentry \"Try\" {\n\tlinux\t/casper/vmlinuz iso-scan/filename=${iso_path} "
			    "---\n\tinitrd\t/casper/initrd\n}\n");
	(void)state;
	assert_non_null(strstr(out, "linux\t/casper/vmlinuz iso-scan/filename=${iso_path} autoinstall ---\n"));
	free(out);
}

static void test_grub_edit_refuses_a_config_without_entries(void **state)
{
	struct kf_err err;
	char *out = NULL;

	(void)state;
	kf_err_clear(&err);
	assert_int_equal(kf_iso_grub_edit(&out, "set timeout=5\n", "grub.cfg", TPL, &err), KF_EPARSE);
	assert_null(out);
	assert_non_null(strstr(err.msg, "grub.cfg has no menuentry"));
}

static void test_grub_edit_refuses_an_entry_without_kernel(void **state)
{
	struct kf_err err;
	char *out = NULL;

	(void)state;
	kf_err_clear(&err);
	assert_int_equal(kf_iso_grub_edit(&out, "menuentry \"x\" {\n chainloader +1\n}\n", "grub.cfg",
					  TPL, &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "no linux/initrd line"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grub_edit_puts_autoinstall_entry_before_the_first),
		cmocka_unit_test(test_grub_edit_replaces_timeout_and_default),
		cmocka_unit_test(test_grub_edit_keeps_the_entry_arguments),
		cmocka_unit_test(test_grub_edit_refuses_a_config_without_entries),
		cmocka_unit_test(test_grub_edit_refuses_an_entry_without_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
