/* The sum-file parser, the image-list parser, asset URL building and chart names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/artifacts.h"
#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/download.h"
#include "k3sforge/err.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd"
#define H3 "0123456789012345678901234567890123456789012345678901234567890123"

static struct kf_sumfile *parse_ok(const char *text)
{
	struct kf_sumfile *s = NULL;
	struct kf_err err;

	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text, strlen(text), &err), 0);
	assert_non_null(s);
	return s;
}

static void test_sumfile_reads_text_and_binary_mode_lines(void **state)
{
	struct kf_sumfile *s = parse_ok(H1 "  k3s\n" H2 " *k3s-images.txt\n" H3 "  ./install.sh\n");

	(void)state;
	assert_int_equal(s->n, 3);
	assert_string_equal(kf_sumfile_lookup(s, "k3s"), H1);
	assert_string_equal(kf_sumfile_lookup(s, "k3s-images.txt"), H2);
	assert_string_equal(kf_sumfile_lookup(s, "install.sh"), H3);
	kf_sumfile_free(s);
}

static void test_sumfile_skips_blank_comment_lines_and_crlf(void **state)
{
	struct kf_sumfile *s = parse_ok("# release sums\r\n\r\n" H1 "  k3s\r\n   \n" H2 "  k3s-images.txt");

	(void)state;
	assert_int_equal(s->n, 2);
	assert_string_equal(kf_sumfile_lookup(s, "k3s"), H1);
	assert_string_equal(kf_sumfile_lookup(s, "k3s-images.txt"), H2);
	kf_sumfile_free(s);
}

static void test_sumfile_lowercases_digests(void **state)
{
	struct kf_sumfile *s = parse_ok("ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD  k3s\n");

	(void)state;
	assert_string_equal(kf_sumfile_lookup(s, "k3s"), H2);
	kf_sumfile_free(s);
}

static void test_sumfile_lookup_of_absent_name_is_null(void **state)
{
	struct kf_sumfile *s = parse_ok(H1 "  k3s\n");

	(void)state;
	assert_null(kf_sumfile_lookup(s, "k3s-airgap-images-amd64.tar.zst"));
	assert_null(kf_sumfile_lookup(s, "k3"));
	kf_sumfile_free(s);
}

static void test_sumfile_rejects_short_digest_with_line_number(void **state)
{
	const char *text = H1 "  k3s\n" "abcdef  k3s-images.txt\n";
	struct kf_sumfile *s = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text, strlen(text), &err), KF_EPARSE);
	assert_null(s);
	assert_non_null(strstr(err.msg, "sums.txt:2:"));
}

static void test_sumfile_rejects_non_hex_digest(void **state)
{
	const char *text = "zz11111111111111111111111111111111111111111111111111111111111111  k3s\n";
	struct kf_sumfile *s = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text, strlen(text), &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "sums.txt:1:"));
}

static void test_sumfile_rejects_line_without_file_name(void **state)
{
	const char *text = H1 "  \n";
	const char *text2 = H1 "\n";
	struct kf_sumfile *s = NULL;
	struct kf_err err;

	(void)state;
	/* trailing blanks are trimmed, leaving a digest with no name */
	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text, strlen(text), &err), KF_EPARSE);
	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text2, strlen(text2), &err), KF_EPARSE);
}

static void test_sumfile_rejects_conflicting_duplicate(void **state)
{
	const char *text = H1 "  k3s\n" H2 "  k3s\n";
	struct kf_sumfile *s = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_sumfile_parse(&s, "sums.txt", text, strlen(text), &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "sums.txt:2:"));
	assert_non_null(strstr(err.msg, "k3s"));
}

static void test_sumfile_accepts_identical_duplicate(void **state)
{
	struct kf_sumfile *s = parse_ok(H1 "  k3s\n" H1 "  k3s\n");

	(void)state;
	assert_int_equal(s->n, 1);
	kf_sumfile_free(s);
}

static void test_sumfile_empty_text_has_no_entries(void **state)
{
	struct kf_sumfile *s = parse_ok("");

	(void)state;
	assert_int_equal(s->n, 0);
	assert_null(kf_sumfile_lookup(s, "k3s"));
	kf_sumfile_free(s);
}

static void test_asset_url_encodes_plus_in_version(void **state)
{
	char *u = kf_artifacts_asset_url("https://github.com/k3s-io/k3s/releases/download",
					 "v1.33.4-rc1+k3s1", "k3s-airgap-images-amd64.tar.zst");

	(void)state;
	assert_string_equal(u, "https://github.com/k3s-io/k3s/releases/download/v1.33.4-rc1%2Bk3s1/"
			       "k3s-airgap-images-amd64.tar.zst");
	free(u);
}

static void test_asset_url_drops_trailing_slashes_of_base(void **state)
{
	char *u = kf_artifacts_asset_url("http://127.0.0.1:8080/mirror//", "v1.33.4+k3s1", "k3s");

	(void)state;
	assert_string_equal(u, "http://127.0.0.1:8080/mirror/v1.33.4%2Bk3s1/k3s");
	free(u);
}

static void test_url_escape_segment_keeps_unreserved_and_escapes_others(void **state)
{
	char *e = kf_url_escape_segment("a-Z_0.9~ /+?#%");

	(void)state;
	assert_string_equal(e, "a-Z_0.9~%20%2F%2B%3F%23%25");
	free(e);
}

static void test_chart_version_from_url_with_query(void **state)
{
	char *v = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_chart_version(&v, "https://charts.kubesphere.io/main/"
						    "ks-core-1.1.4.tgz?download=1", &err), 0);
	assert_string_equal(v, "1.1.4");
	free(v);
}

static void test_chart_version_from_relative_path(void **state)
{
	char *v = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_chart_version(&v, "charts/ks-core-1.2.0-rc.1.tgz", &err), 0);
	assert_string_equal(v, "1.2.0-rc.1");
	free(v);
}

static void test_chart_version_rejects_other_names(void **state)
{
	char *v = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_chart_version(&v, "https://x/y/chart.tgz", &err), KF_ECONFIG);
	assert_null(v);
	assert_non_null(strstr(err.msg, "ks-core-<version>.tgz"));
	assert_int_equal(kf_artifacts_chart_version(&v, "ks-core-.tgz", &err), KF_ECONFIG);
	assert_int_equal(kf_artifacts_chart_version(&v, "ks-core-1;rm.tgz", &err), KF_ECONFIG);
}

static void test_images_parse_skips_blanks_and_comments(void **state)
{
	const char *text = "# k3s images\n\ndocker.io/rancher/mirrored-pause:3.6\r\n"
			   "  docker.io/rancher/klipper-lb:v0.4.13  \n"
			   "registry.k8s.io/x@sha256:" H1 "\n";
	char **refs = NULL;
	size_t n = 0;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_images_parse(&refs, &n, "k3s-images.txt", text, strlen(text),
						   &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(refs[0], "docker.io/rancher/mirrored-pause:3.6");
	assert_string_equal(refs[1], "docker.io/rancher/klipper-lb:v0.4.13");
	assert_string_equal(refs[2], "registry.k8s.io/x@sha256:" H1);
	assert_null(refs[3]);
	kf_artifacts_images_free(refs);
}

static void test_images_parse_rejects_line_with_spaces(void **state)
{
	const char *text = "docker.io/a:1\ndocker.io/b:2 extra\n";
	char **refs = NULL;
	size_t n = 0;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_images_parse(&refs, &n, "k3s-images.txt", text, strlen(text),
						   &err), KF_EPARSE);
	assert_null(refs);
	assert_non_null(strstr(err.msg, "k3s-images.txt:2:"));
}

static void test_images_parse_empty_list_is_empty_array(void **state)
{
	char **refs = NULL;
	size_t n = 5;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_artifacts_images_parse(&refs, &n, "x", "\n# none\n", 8, &err), 0);
	assert_int_equal(n, 0);
	assert_non_null(refs);
	assert_null(refs[0]);
	kf_artifacts_images_free(refs);
}

static void test_fingerprint_changes_with_version(void **state)
{
	struct kf_config *cfg;
	struct kf_err err;
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1];
	struct kf_fp *fp;

	(void)state;
	assert_int_equal(kf_config_default(&cfg, &err), 0);
	fp = kf_fp_new();
	kf_artifacts_fingerprint(cfg, NULL, fp);
	kf_fp_final(fp, a);
	free(cfg->k3s.version);
	cfg->k3s.version = strdup("v1.33.5+k3s1");
	fp = kf_fp_new();
	kf_artifacts_fingerprint(cfg, NULL, fp);
	kf_fp_final(fp, b);
	assert_string_not_equal(a, b);
	kf_config_free(cfg);
}

static void test_fingerprint_changes_with_offline_folder(void **state)
{
	struct kf_config *cfg;
	struct kf_err err;
	struct kf_artifacts_opts o = { 0 };
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1];
	struct kf_fp *fp;

	(void)state;
	assert_int_equal(kf_config_default(&cfg, &err), 0);
	fp = kf_fp_new();
	kf_artifacts_fingerprint(cfg, &o, fp);
	kf_fp_final(fp, a);
	o.from_dir = "/media/offline";
	fp = kf_fp_new();
	kf_artifacts_fingerprint(cfg, &o, fp);
	kf_fp_final(fp, b);
	assert_string_not_equal(a, b);
	kf_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sumfile_reads_text_and_binary_mode_lines),
		cmocka_unit_test(test_sumfile_skips_blank_comment_lines_and_crlf),
		cmocka_unit_test(test_sumfile_lowercases_digests),
		cmocka_unit_test(test_sumfile_lookup_of_absent_name_is_null),
		cmocka_unit_test(test_sumfile_rejects_short_digest_with_line_number),
		cmocka_unit_test(test_sumfile_rejects_non_hex_digest),
		cmocka_unit_test(test_sumfile_rejects_line_without_file_name),
		cmocka_unit_test(test_sumfile_rejects_conflicting_duplicate),
		cmocka_unit_test(test_sumfile_accepts_identical_duplicate),
		cmocka_unit_test(test_sumfile_empty_text_has_no_entries),
		cmocka_unit_test(test_asset_url_encodes_plus_in_version),
		cmocka_unit_test(test_asset_url_drops_trailing_slashes_of_base),
		cmocka_unit_test(test_url_escape_segment_keeps_unreserved_and_escapes_others),
		cmocka_unit_test(test_chart_version_from_url_with_query),
		cmocka_unit_test(test_chart_version_from_relative_path),
		cmocka_unit_test(test_chart_version_rejects_other_names),
		cmocka_unit_test(test_images_parse_skips_blanks_and_comments),
		cmocka_unit_test(test_images_parse_rejects_line_with_spaces),
		cmocka_unit_test(test_images_parse_empty_list_is_empty_array),
		cmocka_unit_test(test_fingerprint_changes_with_version),
		cmocka_unit_test(test_fingerprint_changes_with_offline_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
