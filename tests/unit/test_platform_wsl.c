/* The Windows side of a WSL host (platform_wsl.h): path translation both ways, .wslconfig's
 * networkingMode, wslinfo's answer and which of the two wins. The Windows programs themselves
 * (cmd.exe, wslinfo) only run under WSL and are not exercised here; the .wslconfig scan reads
 * real files in a scratch Users folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform_wsl.h"

static void test_wsl_path_translation(void **state)
{
	char *w = NULL;
	struct kf_err e;
	(void)state;
	assert_int_equal(kf_wsl_to_windows(&w, "/mnt/c/Users/op/k3s lab/vms/n1/n1.vmx", &e), 0);
	assert_string_equal(w, "C:\\Users\\op\\k3s lab\\vms\\n1\\n1.vmx");
	free(w);
	assert_int_equal(kf_wsl_to_windows(&w, "/mnt/d", &e), 0);
	assert_string_equal(w, "D:\\");
	free(w);
	assert_int_equal(kf_wsl_to_windows(&w, "/mnt/e/", &e), 0);
	assert_string_equal(w, "E:\\");
	free(w);
}

static void test_wsl_path_outside_windows_drive_is_an_error(void **state)
{
	char *w = NULL;
	struct kf_err e;
	(void)state;
	assert_int_equal(kf_wsl_to_windows(&w, "/home/op/vms/n1.vmx", &e), KF_EUNSUPPORTED);
	assert_null(w);
	assert_non_null(strstr(e.msg, "/mnt/c"));
	assert_non_null(strstr(e.msg, "vm_dir"));
	assert_int_equal(kf_wsl_to_windows(&w, "/mnt/wsl/x", &e), KF_EUNSUPPORTED);
}

static void test_windows_drive_path_becomes_a_wsl_path(void **state)
{
	char *p;
	(void)state;
	p = kf_windows_to_wsl("C:\\Users\\op");
	assert_string_equal(p, "/mnt/c/Users/op");
	free(p);
	p = kf_windows_to_wsl("D:/lab/k3s");
	assert_string_equal(p, "/mnt/d/lab/k3s");
	free(p);
	assert_null(kf_windows_to_wsl("\\\\server\\share"));
	assert_null(kf_windows_to_wsl("C:"));
	assert_null(kf_windows_to_wsl("relative\\path"));
}

static void test_wslconfig_mode_is_read_from_wsl2_section(void **state)
{
	char *m;
	(void)state;
	m = kf_wslconfig_networking_mode("[wsl2]\r\nmemory=8GB\r\nnetworkingMode = mirrored\r\n");
	assert_string_equal(m, "mirrored");
	free(m);
	assert_null(kf_wslconfig_networking_mode("[experimental]\nnetworkingMode=mirrored\n"));
	assert_null(kf_wslconfig_networking_mode("[wsl2]\n# networkingMode=mirrored\n"));
}

static void test_wslinfo_networking_mode_is_parsed(void **state)
{
	(void)state;
	assert_int_equal(kf_wsl_parse_netmode("mirrored\n"), KF_WSL_MIRRORED);
	assert_int_equal(kf_wsl_parse_netmode("Mirrored\r\n"), KF_WSL_MIRRORED);
	assert_int_equal(kf_wsl_parse_netmode("nat\n"), KF_WSL_NAT);
	assert_int_equal(kf_wsl_parse_netmode(""), KF_WSL_NAT);
}

/* The two sources disagreeing: wslinfo reports the running VM, so it wins over a .wslconfig that
 * may have changed without `wsl --shutdown`; without wslinfo (WSL before 2.0) .wslconfig rules;
 * with neither, WSL's default, NAT. */
static void test_wslinfo_wins_over_wslconfig(void **state)
{
	(void)state;
	assert_int_equal(kf_wsl_netmode_decide("nat\n", "mirrored"), KF_WSL_NAT);
	assert_int_equal(kf_wsl_netmode_decide("mirrored\n", "nat"), KF_WSL_MIRRORED);
	assert_int_equal(kf_wsl_netmode_decide(NULL, "mirrored"), KF_WSL_MIRRORED);
	assert_int_equal(kf_wsl_netmode_decide(NULL, "Mirrored"), KF_WSL_MIRRORED);
	assert_int_equal(kf_wsl_netmode_decide(NULL, "nat"), KF_WSL_NAT);
	assert_int_equal(kf_wsl_netmode_decide(NULL, NULL), KF_WSL_NAT);
}

static void put(const char *dir, const char *user, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, user);
	assert_int_equal(mkdir(path, 0755), 0);
	if (!text)
		return;
	snprintf(path, sizeof(path), "%s/%s/.wslconfig", dir, user);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void test_wslconfig_found_in_the_user_that_sets_it(void **state)
{
	char tmpl[] = "/tmp/kf-wslconfig-XXXXXX", *dir, *mode, *path, want[600];
	struct kf_err e;
	(void)state;
	assert_non_null(dir = mkdtemp(tmpl));
	kf_wslconfig_find(dir, &mode, &path);
	assert_null(mode);
	assert_null(path);
	put(dir, "Public", NULL);
	put(dir, "guest", "[wsl2]\nmemory=4GB\n");
	put(dir, "op", "[wsl2]\r\nnetworkingMode=mirrored\r\n");
	kf_wslconfig_find(dir, &mode, &path);
	assert_string_equal(mode, "mirrored");
	snprintf(want, sizeof(want), "%s/op/.wslconfig", dir);
	assert_string_equal(path, want);
	free(mode);
	free(path);
	kf_wslconfig_find("/nonexistent/Users", &mode, &path);
	assert_null(mode);
	assert_null(path);
	assert_int_equal(kf_fs_remove_tree(dir, &e), 0);
}

/* Off WSL there is no networking mode to ask about, and no Windows home. */
static void test_off_wsl_there_is_no_mode_and_no_windows_home(void **state)
{
	char *src = (char *)"x", *home = NULL;
	struct kf_err e;
	(void)state;
	setenv("K3SFORGE_WSL", "0", 1);
	unsetenv("K3SFORGE_WINDOWS_HOME");
	assert_int_equal(kf_wsl_networking_mode(&src), KF_WSL_NONE);
	assert_null(src);
	assert_int_equal(kf_wsl_windows_home(&home, &e), KF_EUNSUPPORTED);
	assert_null(home);
	setenv("K3SFORGE_WINDOWS_HOME", "/mnt/c/Users/op", 1);
	assert_int_equal(kf_wsl_windows_home(&home, &e), 0);
	assert_string_equal(home, "/mnt/c/Users/op");
	free(home);
	unsetenv("K3SFORGE_WINDOWS_HOME");
	unsetenv("K3SFORGE_WSL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wsl_path_translation),
		cmocka_unit_test(test_wsl_path_outside_windows_drive_is_an_error),
		cmocka_unit_test(test_windows_drive_path_becomes_a_wsl_path),
		cmocka_unit_test(test_wslconfig_mode_is_read_from_wsl2_section),
		cmocka_unit_test(test_wslinfo_networking_mode_is_parsed),
		cmocka_unit_test(test_wslinfo_wins_over_wslconfig),
		cmocka_unit_test(test_wslconfig_found_in_the_user_that_sets_it),
		cmocka_unit_test(test_off_wsl_there_is_no_mode_and_no_windows_home),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
