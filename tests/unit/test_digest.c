/* SHA-256 and stage input fingerprints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/digest.h"
#include "k3sforge/fs.h"

static void test_digest_sha256_of_empty_input(void **state)
{
	char hex[KF_SHA256_HEX_LEN + 1];

	(void)state;
	kf_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_digest_sha256_of_abc(void **state)
{
	char hex[KF_SHA256_HEX_LEN + 1];

	(void)state;
	kf_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_digest_streaming_equals_one_shot(void **state)
{
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1];
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct kf_sha256 *h = kf_sha256_new();

	(void)state;
	for (size_t i = 0; i < strlen(msg); i += 5)
		kf_sha256_update(h, msg + i, strlen(msg) - i < 5 ? strlen(msg) - i : 5);
	kf_sha256_final_hex(h, a);
	kf_sha256_hex(msg, strlen(msg), b);
	assert_string_equal(a, b);
	assert_string_equal(a, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_digest_file_hash_matches_content_hash(void **state)
{
	char dir[] = "/tmp/kf_test_digest.XXXXXX";
	char *p;
	char hex[KF_SHA256_HEX_LEN + 1];
	struct kf_err err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	p = kf_path_join(dir, "f");
	assert_int_equal(kf_fs_write_atomic(p, "abc", 3, 0644, NULL), 0);
	assert_int_equal(kf_sha256_file(p, hex, &err), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	free(p);
	p = kf_path_join(dir, "missing");
	assert_int_equal(kf_sha256_file(p, hex, &err), KF_ENOTFOUND);
	free(p);
	kf_fs_remove_tree(dir, NULL);
}

static void test_digest_valid_hex_wants_exactly_64_hex_digits(void **state)
{
	(void)state;
	assert_true(kf_sha256_valid_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(kf_sha256_valid_hex("ba7816bf"));
	assert_false(kf_sha256_valid_hex("za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(kf_sha256_valid_hex(NULL));
}

static void fp_of(const char *k1, const char *v1, const char *k2, const char *v2, char *hex)
{
	struct kf_fp *fp = kf_fp_new();

	kf_fp_str(fp, k1, v1);
	kf_fp_str(fp, k2, v2);
	kf_fp_final(fp, hex);
}

static void test_digest_fingerprint_framing_separates_values(void **state)
{
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1], c[KF_SHA256_HEX_LEN + 1];

	(void)state;
	fp_of("k", "ab", "k", "c", a);
	fp_of("k", "a", "k", "bc", b);
	assert_string_not_equal(a, b);
	fp_of("k", "ab", "k", "c", c);
	assert_string_equal(a, c);
}

static void test_digest_fingerprint_distinguishes_null_from_text(void **state)
{
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1];

	(void)state;
	fp_of("k", NULL, "x", "", a);
	fp_of("k", "(null)", "x", "", b);
	assert_string_not_equal(a, b);
}

static void test_digest_fingerprint_includes_keys(void **state)
{
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1];

	(void)state;
	fp_of("ip", "10.0.0.1", "x", "", a);
	fp_of("gw", "10.0.0.1", "x", "", b);
	assert_string_not_equal(a, b);
}

static void file_fp(const char *path, char *hex)
{
	struct kf_fp *fp = kf_fp_new();

	kf_fp_file(fp, "input", path);
	kf_fp_final(fp, hex);
}

static void test_digest_file_fingerprint_follows_content(void **state)
{
	char dir[] = "/tmp/kf_test_digest.XXXXXX";
	char *p;
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1], c[KF_SHA256_HEX_LEN + 1];
	char m[KF_SHA256_HEX_LEN + 1];

	(void)state;
	assert_non_null(mkdtemp(dir));
	p = kf_path_join(dir, "images.txt");
	file_fp(p, m);
	assert_int_equal(kf_fs_write_atomic(p, "rancher/pause:3.6\n", 18, 0644, NULL), 0);
	file_fp(p, a);
	assert_string_not_equal(a, m);
	assert_int_equal(kf_fs_write_atomic(p, "rancher/pause:3.7\n", 18, 0644, NULL), 0);
	file_fp(p, b);
	assert_string_not_equal(a, b);
	assert_int_equal(kf_fs_write_atomic(p, "rancher/pause:3.6\n", 18, 0644, NULL), 0);
	file_fp(p, c);
	assert_string_equal(a, c);
	free(p);
	kf_fs_remove_tree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_sha256_of_empty_input),
		cmocka_unit_test(test_digest_sha256_of_abc),
		cmocka_unit_test(test_digest_streaming_equals_one_shot),
		cmocka_unit_test(test_digest_file_hash_matches_content_hash),
		cmocka_unit_test(test_digest_valid_hex_wants_exactly_64_hex_digits),
		cmocka_unit_test(test_digest_fingerprint_framing_separates_values),
		cmocka_unit_test(test_digest_fingerprint_distinguishes_null_from_text),
		cmocka_unit_test(test_digest_fingerprint_includes_keys),
		cmocka_unit_test(test_digest_file_fingerprint_follows_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
