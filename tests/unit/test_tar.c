/* ustar headers (src/core/tar.c): octal fields, the GNU base-256 size past 8 GiB, and what the
 * field parser refuses. The large-size headers are read back by Python's tarfile too, so the
 * form is the one other tools read, not just our own reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/proc.h"
#include "k3sforge/tar.h"

#define GIB (1024ULL * 1024 * 1024)

static uint64_t size_of(const unsigned char h[KF_TAR_BLOCK])
{
	uint64_t v = 0;

	assert_true(kf_tar_number(h + 124, 12, &v));
	return v;
}

/* Python's tarfile reading the header block alone: "<name> <size> <mode> <mtime>". */
static char *python_reads(const unsigned char h[KF_TAR_BLOCK])
{
	static const char prog[] =
		"import sys, tarfile\n"
		"b = sys.stdin.buffer.read()\n"
		"t = tarfile.TarInfo.frombuf(b, 'utf-8', 'strict')\n"
		"print(t.name, t.size, oct(t.mode), t.mtime, t.isreg())\n";
	const char *argv[] = { "python3", "-c", prog, NULL };
	struct kf_proc p;
	struct kf_err err;
	char *out;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.stdin_data = (const char *)h;
	p.stdin_len = KF_TAR_BLOCK;
	p.timeout_ms = 60000;
	if (kf_proc_run_ok(&p, &err) != 0)
		fail_msg("%s", err.msg);
	out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return out;
}

static void test_tar_small_sizes_are_octal(void **state)
{
	unsigned char h[KF_TAR_BLOCK];
	(void)state;

	kf_tar_header(h, "out/pki/ca.crt", 1234, 0644, 1700000000);
	assert_memory_equal(h + 124, "00000002322\0", 12);
	assert_memory_equal(h + 100, "0000644\0", 8);
	assert_memory_equal(h + 257, "ustar\0" "00", 8);
	assert_int_equal(h[156], '0');
	assert_true(kf_tar_checksum_ok(h));
	assert_int_equal(size_of(h), 1234);
}

static void test_tar_largest_octal_size_stays_octal(void **state)
{
	unsigned char h[KF_TAR_BLOCK];
	(void)state;

	kf_tar_header(h, "images/bundle.tar", KF_TAR_OCTAL_SIZE_MAX, 0600, 0);
	assert_memory_equal(h + 124, "77777777777\0", 12);
	assert_int_equal(size_of(h), KF_TAR_OCTAL_SIZE_MAX);
}

static void test_tar_sizes_from_8_gib_use_base_256(void **state)
{
	unsigned char h[KF_TAR_BLOCK];
	static const unsigned char want[12] = { 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x80, 0, 0, 0 };
	(void)state;

	kf_tar_header(h, "images/bundle.tar", 10 * GIB, 0600, 0);
	assert_memory_equal(h + 124, want, 12);
	assert_true(kf_tar_checksum_ok(h));
	assert_int_equal(size_of(h), 10 * GIB);
	kf_tar_header(h, "images/bundle.tar", KF_TAR_OCTAL_SIZE_MAX + 1, 0600, 0);
	assert_int_equal(h[124], 0x80);
	assert_int_equal(size_of(h), KF_TAR_OCTAL_SIZE_MAX + 1);
}

static void test_tar_python_tarfile_reads_our_headers(void **state)
{
	unsigned char h[KF_TAR_BLOCK];
	char *got;
	(void)state;

	kf_tar_header(h, "out/state.json", 42, 0644, 1700000000);
	got = python_reads(h);
	assert_string_equal(got, "out/state.json 42 0o644 1700000000 True\n");
	free(got);
	kf_tar_header(h, "images/bundle.tar", 10 * GIB + 7, 0600, 0);
	got = python_reads(h);
	assert_string_equal(got, "images/bundle.tar 10737418247 0o600 0 True\n");
	free(got);
}

static void test_tar_checksum_catches_a_changed_byte(void **state)
{
	unsigned char h[KF_TAR_BLOCK];
	(void)state;

	kf_tar_header(h, "config/lab.yaml", 99, 0644, 0);
	assert_true(kf_tar_checksum_ok(h));
	h[5] ^= 1;
	assert_false(kf_tar_checksum_ok(h));
}

static void test_tar_number_accepts_what_tars_write(void **state)
{
	uint64_t v;
	(void)state;

	assert_true(kf_tar_number((const unsigned char *)"0000644\0", 8, &v));
	assert_int_equal(v, 0644);
	/* old tars: leading spaces, space-terminated */
	assert_true(kf_tar_number((const unsigned char *)"   644 \0", 8, &v));
	assert_int_equal(v, 0644);
	assert_true(kf_tar_number((const unsigned char *)"01234567\0\0\0\0", 12, &v));
	assert_int_equal(v, 01234567);
}

static void test_tar_number_refuses_malformed_fields(void **state)
{
	static const unsigned char negative[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						    0xff, 0xff, 0xff, 0xff, 0xff, 0xfe };
	static const unsigned char too_big[12] = { 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint64_t v;
	(void)state;

	assert_false(kf_tar_number((const unsigned char *)"\0\0\0\0\0\0\0\0", 8, &v));
	assert_false(kf_tar_number((const unsigned char *)"        ", 8, &v));
	assert_false(kf_tar_number((const unsigned char *)"00012x4\0", 8, &v));
	assert_false(kf_tar_number((const unsigned char *)"0001 24\0", 8, &v));
	assert_false(kf_tar_number((const unsigned char *)"0009\0\0\0\0", 8, &v));
	assert_false(kf_tar_number(negative, 12, &v));
	/* 2^72 does not fit in 64 bits */
	assert_false(kf_tar_number(too_big, 12, &v));
	assert_false(kf_tar_number((const unsigned char *)"7777777777777777777777777", 25, &v));
}

/* GNU tar's own output: one 700-byte member, the end marker, then zeros up to the 10240-byte
 * record. */
static char *gnu_tar_archive(size_t *len)
{
	char dir[] = "/tmp/kf-tar-test.XXXXXX", path[64];
	const char *argv[] = { "tar", "--format=ustar", "-cf", "-", "-C", dir, "member", NULL };
	struct kf_proc p;
	struct kf_err err;
	FILE *fp;
	char *out;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/member", dir);
	assert_non_null(fp = fopen(path, "wb"));
	for (int i = 0; i < 700; i++)
		fputc('a' + i % 26, fp);
	fclose(fp);
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	if (kf_proc_run_ok(&p, &err) != 0)
		fail_msg("%s", err.msg);
	*len = p.out.len;
	out = malloc(p.out.len);
	assert_non_null(out);
	memcpy(out, p.out.data, p.out.len);
	kf_proc_free(&p);
	unlink(path);
	rmdir(dir);
	return out;
}

static void test_tar_pad_accepts_gnu_tars_record_padding(void **state)
{
	struct kf_tar_pad pad = { 0 };
	size_t len = 0, end;
	uint64_t size;
	char *a = gnu_tar_archive(&len);
	(void)state;

	/* header, two data blocks, then the two zero blocks of the end marker */
	assert_true(kf_tar_checksum_ok((unsigned char *)a));
	assert_true(kf_tar_number((unsigned char *)a + 124, 12, &size));
	assert_int_equal(size, 700);
	end = 3 * KF_TAR_BLOCK;
	assert_true(kf_tar_zero_block((unsigned char *)a + end));
	assert_true(kf_tar_zero_block((unsigned char *)a + end + KF_TAR_BLOCK));
	end += 2 * KF_TAR_BLOCK;
	assert_int_equal(len, 10240);
	/* what GNU tar leaves after the marker, fed in uneven pieces */
	kf_tar_pad_feed(&pad, a + end, 1000);
	kf_tar_pad_feed(&pad, a + end + 1000, len - end - 1000);
	assert_int_equal(pad.len, 10240 - 5 * 512);
	assert_true(kf_tar_pad_ok(&pad));
	/* one data byte anywhere in it is data after the end */
	memset(&pad, 0, sizeof(pad));
	a[len - 1] = 'x';
	kf_tar_pad_feed(&pad, a + end, len - end);
	assert_false(kf_tar_pad_ok(&pad));
	free(a);
}

static void test_tar_pad_refuses_partial_blocks_and_too_much_padding(void **state)
{
	static unsigned char zeros[65536];
	struct kf_tar_pad pad = { 0 };
	(void)state;

	assert_true(kf_tar_pad_ok(&pad)); /* nothing after the marker */
	kf_tar_pad_feed(&pad, zeros, 100);
	assert_false(kf_tar_pad_ok(&pad)); /* not a whole block */
	memset(&pad, 0, sizeof(pad));
	for (unsigned i = 0; i < KF_TAR_PAD_MAX / sizeof(zeros); i++)
		kf_tar_pad_feed(&pad, zeros, sizeof(zeros));
	assert_true(kf_tar_pad_ok(&pad)); /* exactly the bound */
	kf_tar_pad_feed(&pad, zeros, KF_TAR_BLOCK);
	assert_false(kf_tar_pad_ok(&pad));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_small_sizes_are_octal),
		cmocka_unit_test(test_tar_largest_octal_size_stays_octal),
		cmocka_unit_test(test_tar_sizes_from_8_gib_use_base_256),
		cmocka_unit_test(test_tar_python_tarfile_reads_our_headers),
		cmocka_unit_test(test_tar_checksum_catches_a_changed_byte),
		cmocka_unit_test(test_tar_number_accepts_what_tars_write),
		cmocka_unit_test(test_tar_number_refuses_malformed_fields),
		cmocka_unit_test(test_tar_pad_accepts_gnu_tars_record_padding),
		cmocka_unit_test(test_tar_pad_refuses_partial_blocks_and_too_much_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
