/* kf_download_copy_verified (the offline-folder path) on the local file system. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download_fixture.h"
#include "k3sforge/digest.h"
#include "k3sforge/download.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"

struct t {
	char *dir, *src, *dst, *part;
	char sha[KF_SHA256_HEX_LEN + 1];
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (!t || !(t->dir = kf_test_tmpdir("dlunit")))
		return -1;
	if (asprintf(&t->src, "%s/src.bin", t->dir) < 0 ||
	    asprintf(&t->dst, "%s/dst.bin", t->dir) < 0 ||
	    asprintf(&t->part, "%s/dst.bin.part", t->dir) < 0)
		return -1;
	if (kf_test_random_file(t->src, 3 * 1024 * 1024 + 3) || kf_sha256_file(t->src, t->sha, NULL))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	kf_fs_remove_tree(t->dir, NULL);
	free(t->dir);
	free(t->src);
	free(t->dst);
	free(t->part);
	free(t);
	return 0;
}

/* Temporary files (".part", ".tmp.") left in dir. */
static int temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".part") || strstr(e->d_name, ".tmp.");
	closedir(d);
	return n;
}

static void test_copy_verified_copies_with_mode_and_reports_digest(void **state)
{
	struct t *t = *state;
	char got[KF_SHA256_HEX_LEN + 1], back[KF_SHA256_HEX_LEN + 1];
	struct kf_err err;
	struct stat st;

	assert_int_equal(kf_download_copy_verified(t->src, t->dst, t->sha, 0755, got, &err), 0);
	assert_string_equal(got, t->sha);
	assert_int_equal(kf_sha256_file(t->dst, back, NULL), 0);
	assert_string_equal(back, t->sha);
	assert_int_equal(stat(t->dst, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(temporaries(t->dir), 0);
}

static void test_copy_verified_mismatch_leaves_nothing_and_names_digests(void **state)
{
	struct t *t = *state;
	const char *wrong = "fefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefe";
	struct kf_err err;

	assert_int_equal(kf_download_copy_verified(t->src, t->dst, wrong, 0644, NULL, &err),
			 KF_EDIGEST);
	assert_non_null(strstr(err.msg, t->dst));
	assert_non_null(strstr(err.msg, wrong));
	assert_non_null(strstr(err.msg, t->sha));
	assert_false(kf_fs_exists(t->dst));
	assert_int_equal(temporaries(t->dir), 0);
}

static void test_copy_verified_missing_source_is_not_found(void **state)
{
	struct t *t = *state;
	char missing[1024];
	struct kf_err err;

	snprintf(missing, sizeof(missing), "%s/none", t->dir);
	assert_int_equal(kf_download_copy_verified(missing, t->dst, NULL, 0644, NULL, &err),
			 KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, missing));
}

/* The link wraps write() (tests/CMakeLists.txt): with full_disk set, a write to a temporary
 * file of an atomic write (name "<dest>.tmp.XXXXXX") fails as on a full disk. */
static bool full_disk;
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (full_disk) {
		char link[64], target[4096];
		ssize_t len;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			if (strstr(target, ".tmp.")) {
				errno = ENOSPC;
				return -1;
			}
		}
	}
	return __real_write(fd, buf, n);
}

static void test_copy_verified_disk_full_says_free_space(void **state)
{
	struct t *t = *state;
	struct kf_err err;

	/* Every write to the copy's temporary file fails with ENOSPC (__wrap_write above). */
	full_disk = true;
	assert_int_equal(kf_download_copy_verified(t->src, t->dst, NULL, 0644, NULL, &err), KF_EIO);
	full_disk = false;
	assert_non_null(strstr(err.msg, "disk full"));
	assert_non_null(strstr(err.msg, "free at least"));
	assert_false(kf_fs_exists(t->dst));
}

static void test_download_rejects_malformed_expected_digest(void **state)
{
	struct t *t = *state;
	struct kf_download_opts o = { 0 };
	struct kf_err err;

	o.url = "http://127.0.0.1:9/x";
	o.dest = t->dst;
	o.expected_sha256 = "abc";
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "64 hex"));
}

static void test_download_refuses_non_http_scheme(void **state)
{
	struct t *t = *state;
	struct kf_download_opts o = { 0 };
	char url[1200];
	struct kf_err err;

	snprintf(url, sizeof(url), "file://%s", t->src);
	o.url = url;
	o.dest = t->dst;
	o.max_attempts = 1;
	o.no_progress = true;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "only http:// and https://"));
	assert_false(kf_fs_exists(t->dst));
}

static void test_download_reports_unreadable_ca_bundle(void **state)
{
	struct t *t = *state;
	struct kf_download_opts o = { 0 };
	char ca[1024];
	struct kf_err err;

	snprintf(ca, sizeof(ca), "%s/no-ca.pem", t->dir);
	o.url = "https://127.0.0.1:9/x";
	o.dest = t->dst;
	o.ca_file = ca;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, ca));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_copy_verified_copies_with_mode_and_reports_digest),
		T(test_copy_verified_mismatch_leaves_nothing_and_names_digests),
		T(test_copy_verified_missing_source_is_not_found),
		T(test_copy_verified_disk_full_says_free_space),
		T(test_download_rejects_malformed_expected_digest),
		T(test_download_refuses_non_http_scheme),
		T(test_download_reports_unreadable_ca_bundle),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
