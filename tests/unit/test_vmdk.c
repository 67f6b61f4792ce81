/* Sparse VMDKs written by k3sforge, checked by QEMU's own tools (qemu-utils). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/vmdk.h"
#include "vmware_fixture.h"

struct fx {
	char *dir;
	char *disk;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = vmw_tempdir("vmdk");
	f->disk = kf_path_join(f->dir, "node.vmdk");
	*state = f;
	return f->dir && f->disk ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	kf_fs_remove_tree(f->dir, &e);
	free(f->dir);
	free(f->disk);
	free(f);
	return 0;
}

static void write_disk(struct fx *f, int gb)
{
	struct kf_err e;
	int r = kf_vmdk_create(NULL, f->disk, NULL, gb, 21, 0, &e);
	if (r)
		fail_msg("%s", e.msg);
}

static void test_vmdk_qemu_img_info_reports_vmdk_and_size(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "qemu-img", "info", "--output=json", f->disk, NULL };
	char *out = NULL;
	json_t *j;
	json_error_t je;
	write_disk(f, 40);
	assert_int_equal(vmw_run(&out, argv), 0);
	j = json_loads(out, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "format")), "vmdk");
	assert_int_equal(json_integer_value(json_object_get(j, "virtual-size")),
			 40LL * 1024 * 1024 * 1024);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(j, "format-specific"), "data"),
				    "create-type")),
			    "monolithicSparse");
	json_decref(j);
	free(out);
}

static void test_vmdk_qemu_img_check_passes(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "qemu-img", "check", f->disk, NULL };
	char *out = NULL;
	write_disk(f, 40);
	assert_int_equal(vmw_run(&out, argv), 0);
	assert_non_null(strstr(out, "No errors"));
	free(out);
}

static void test_vmdk_data_written_by_qemu_reads_back(void **state)
{
	struct fx *f = *state;
	const char *w[] = { "qemu-io", "-f", "vmdk", "-c", "write -P 0xab 0 1M", "-c",
			    "write -P 0x5c 5G 128k", f->disk, NULL };
	const char *r[] = { "qemu-io", "-f", "vmdk", "-c", "read -P 0xab 0 1M", "-c",
			    "read -P 0x5c 5G 128k", "-c", "read -P 0 2M 64k", f->disk, NULL };
	const char *chk[] = { "qemu-img", "check", f->disk, NULL };
	char *out = NULL;
	write_disk(f, 8);
	assert_int_equal(vmw_run(&out, w), 0);
	free(out);
	assert_int_equal(vmw_run(&out, r), 0);
	/* qemu-io reports a pattern mismatch on stdout and still exits 0. */
	assert_null(strstr(out, "Pattern verification failed"));
	assert_non_null(strstr(out, "read 131072/131072"));
	free(out);
	assert_int_equal(vmw_run(&out, chk), 0);
	free(out);
}

static void test_vmdk_file_stays_small(void **state)
{
	struct fx *f = *state;
	struct stat st;
	write_disk(f, 100);
	assert_int_equal(stat(f->disk, &st), 0);
	/* Metadata for 100 GiB: about 13 MiB of (mostly hole) tables, far below the size. */
	assert_true(st.st_size < 32LL * 1024 * 1024);
	assert_true((long long)st.st_blocks * 512 < 4LL * 1024 * 1024);
}

static void test_vmdk_header_capacity_matches(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = 0;
	struct kf_err e;
	write_disk(f, 3);
	assert_int_equal(kf_vmdk_read_capacity(f->disk, &bytes, &e), 0);
	assert_int_equal(bytes, 3ULL * 1024 * 1024 * 1024);
}

static void test_vmdk_rejects_out_of_range_size(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	assert_int_equal(kf_vmdk_create(NULL, f->disk, NULL, 0, 21, 0, &e), KF_ECONFIG);
	assert_non_null(strstr(e.msg, "outside"));
	assert_false(kf_fs_exists(f->disk));
}

/* A sparse extent addresses 2 TiB at most (32-bit grain table entries): without
 * vdiskmanager a larger disk is refused before anything is written. */
static void test_vmdk_refuses_sparse_over_2tib_without_vdiskmanager(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	assert_int_equal(kf_vmdk_create(NULL, f->disk, NULL, 2049, 21, 0, &e), KF_EUNSUPPORTED);
	assert_non_null(strstr(e.msg, "vmware-vdiskmanager"));
	assert_non_null(strstr(e.msg, "2048 GiB"));
	assert_false(kf_fs_exists(f->disk));
	assert_int_equal(kf_vmdk_check_size(NULL, 2048, &e), 0);
	assert_int_equal(kf_vmdk_check_size("/usr/bin/vmware-vdiskmanager", 4096, &e), 0);
}

static void test_vmdk_missing_vdiskmanager_is_reported(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	int r = kf_vmdk_create("/nonexistent/vmware-vdiskmanager", f->disk, NULL, 1, 21, 5, &e);
	assert_int_equal(r, KF_ENOTFOUND);
	assert_non_null(strstr(e.msg, "vmware-vdiskmanager"));
}

/* The writer used <disk>.tmp.<pid> opened without O_EXCL: a symlink planted there made it write
 * the disk over the file the link points at. Now the name is fresh and made with O_EXCL. */
static void test_vmdk_never_writes_through_a_planted_temp_symlink(void **state)
{
	struct fx *f = *state;
	char link[1200], *victim = kf_path_join(f->dir, "victim"), *data = NULL;
	size_t len;
	struct kf_err e;

	assert_int_equal(kf_fs_write_atomic(victim, "precious\n", 9, 0644, &e), 0);
	snprintf(link, sizeof(link), "%s.tmp.%ld", f->disk, (long)getpid());
	assert_int_equal(symlink(victim, link), 0);
	write_disk(f, 1);
	assert_int_equal(kf_fs_read(&data, &len, victim, 1024, &e), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(data, "precious\n", 9);
	free(data);
	free(victim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmdk_qemu_img_info_reports_vmdk_and_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_qemu_img_check_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_data_written_by_qemu_reads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_file_stays_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_header_capacity_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_rejects_out_of_range_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_missing_vdiskmanager_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_never_writes_through_a_planted_temp_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmdk_refuses_sparse_over_2tib_without_vdiskmanager, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
