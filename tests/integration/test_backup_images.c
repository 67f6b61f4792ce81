/* backup --with-images: the lab registry's image set travels in the backup as an air-gap bundle
 * (images/bundle.tar) and loads back into a registry after restore (real docker-registry over
 * TLS, tests/lib/ops_lab). */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k3sforge/bundle.h"
#include "k3sforge/fs.h"
#include "k3sforge/regserver.h"
#include "k3sforge/proc.h"
#include "ops_lab.h"

static int group_setup(void **state)
{
	*state = ops_lab_start("backupimg", 70, false);
	return *state ? 0 : -1;
}

static int group_teardown(void **state)
{
	ops_lab_stop(*state);
	return 0;
}

static int kf(struct ops_lab *f, const char *out, const char *a1, const char *a2, const char *a3)
{
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", out, a1, a2, a3,
			       NULL };
	struct kf_proc p;
	struct kf_err err;
	int code;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 120000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	code = p.exit_code;
	if (code != 0)
		print_message("%s\n", kf_buf_str(&p.errout));
	kf_proc_free(&p);
	return code;
}

/* Is there an entry whose name contains part in dir? */
static bool holds_entry(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		found = found || strstr(e->d_name, part) != NULL;
	closedir(d);
	return found;
}

static void test_backup_with_images_restores_a_loadable_bundle(void **state)
{
	struct ops_lab *f = *state;
	char archive[600], target[600], bundle[700], ca[700], to[64];
	struct kf_bundle_import_stats st;
	struct kf_err err;
	char *data = NULL;
	size_t len = 0;

	snprintf(archive, sizeof(archive), "%s/lab-images.kfb", f->dir);
	snprintf(target, sizeof(target), "%s/restored", f->dir);
	assert_int_equal(kf(f, f->out, "backup", archive, "--with-images"), 0);
	assert_false(holds_entry(f->out, "backup-images")); /* its temporary export is gone */
	assert_int_equal(kf_fs_read(&data, &len, archive, 256 << 20, NULL), 0);
	assert_non_null(memmem(data, len, "images/bundle.tar", 17));
	free(data);
	assert_int_equal(kf(f, target, "restore", archive, NULL), 0);
	snprintf(bundle, sizeof(bundle), "%s/bundle.tar", target);
	assert_true(kf_fs_exists(bundle));
	{
		struct stat sb;
		assert_int_equal(stat(bundle, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0600); /* k3sforge's mode, not the archive's */
	}
	snprintf(ca, sizeof(ca), "%s/pki/ca.crt", target);
	/* loaded the way `bundle import` loads it: through the push instance */
	if (kf_regserver_push_target(f->cfg, f->out, to, sizeof(to), &err) != 0)
		fail_msg("%s", err.msg);
	memset(&st, 0, sizeof(st));
	if (kf_bundle_import(bundle, to, ca, NULL, &st, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(st.images, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_with_images_restores_a_loadable_bundle),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
