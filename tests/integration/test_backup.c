/* backup / restore through the real CLI on a real PKI (kf_pki_ensure: CA, registry certificate,
 * operator and host keys, known_hosts, token): the round trip keeps every identity; damaged,
 * truncated, tampered archives, a wrong passphrase and another lab's PKI are refused with
 * nothing changed; a backup re-tarred by GNU tar (zero padding after the end) restores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/pki.h"
#include "k3sforge/tar.h"
#include "pki_testutil.h"

#define PASS "correct horse battery staple"

/* The identity files whose fingerprints must survive a round trip. */
static const char *const identity[] = {
	"pki/ca.crt", "pki/ca.key", "pki/registry.crt", "pki/registry.key", "ssh/id_ed25519",
	"ssh/known_hosts", "ssh/host/k3s-master1_ed25519", "ssh/host/k3s-worker1_ed25519",
	"ssh/host/k3s-worker2_ed25519", "secrets/k3s-token", NULL,
};

struct fx {
	char *tmp, *out, *cfg_path, *archive, *pass_file;
	char fp[16][KF_SHA256_HEX_LEN + 1];
};

static void fingerprints(const char *out, char fp[][KF_SHA256_HEX_LEN + 1])
{
	for (int i = 0; identity[i]; i++) {
		char *p = pki_t_path(out, identity[i]);
		struct kf_err e;
		assert_int_equal(kf_sha256_file(p, fp[i], &e), 0);
		free(p);
	}
}

static void make_pki(const char *out)
{
	struct kf_config *cfg = NULL;
	struct kf_err e;

	assert_int_equal(kf_config_default(&cfg, &e), 0);
	assert_int_equal(kf_pki_ensure(cfg, out, false, NULL, &e), 0);
	kf_config_free(cfg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->tmp = pki_t_tmpdir("backup");
	f->out = pki_t_path(f->tmp, "out");
	f->cfg_path = pki_t_path(f->tmp, "lab.yaml");
	f->archive = pki_t_path(f->tmp, "lab.kfb");
	f->pass_file = pki_t_path(f->tmp, "pass.txt");
	pki_t_write(f->cfg_path, "cluster: {name: lab}\n");
	pki_t_write(f->pass_file, PASS "\n");
	make_pki(f->out);
	fingerprints(f->out, f->fp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err e;

	kf_fs_remove_tree(f->tmp, &e);
	free(f->tmp);
	free(f->out);
	free(f->cfg_path);
	free(f->archive);
	free(f->pass_file);
	free(f);
	return 0;
}

/* Runs k3sforge -c cfg -o out ARGS...; returns the exit code, *output (may be NULL) gets
 * stdout+stderr. */
static int kf(struct fx *f, const char *out, char **output, ...)
{
	const char *argv[24] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", out };
	int n = 6, code;
	va_list ap;
	char *text;

	va_start(ap, output);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 23;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	text = pki_t_run(argv, &code, 1);
	if (output)
		*output = text;
	else
		free(text);
	return code;
}

static void assert_contains(const char *text, const char *want)
{
	if (!text || !strstr(text, want))
		fail_msg("'%s' not in: %s", want, text ? text : "(null)");
}

static void flip_byte(const char *path, long offset)
{
	FILE *fp = fopen(path, "r+b");
	int c;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	c = fgetc(fp);
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	fputc(c ^ 0x01, fp);
	fclose(fp);
}

static void truncate_by(const char *path, long bytes)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(truncate(path, sb.st_size - bytes), 0);
}

static void test_backup_restore_keeps_ca_host_keys_and_token(void **state)
{
	struct fx *f = *state;
	char fp[16][KF_SHA256_HEX_LEN + 1];
	struct kf_err e;
	char *out = NULL, *cfg_copy;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	assert_int_equal(kf_fs_remove_tree(f->out, &e), 0);
	assert_int_equal(kf(f, f->out, &out, "restore", f->archive, NULL), 0);
	fingerprints(f->out, fp);
	for (int i = 0; identity[i]; i++)
		if (strcmp(fp[i], f->fp[i]) != 0)
			fail_msg("%s differs after restore", identity[i]);
	cfg_copy = pki_t_path(f->out, "lab.yaml");
	assert_true(kf_fs_exists(cfg_copy));
	assert_contains(out, "same CA, host keys and token");
	free(cfg_copy);
	free(out);
}

static void test_backup_archive_is_private(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	assert_int_equal(stat(f->archive, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_restore_keeps_private_modes(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	struct stat sb;
	char *key = pki_t_path(f->out, "pki/ca.key");

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	assert_int_equal(kf_fs_remove_tree(f->out, &e), 0);
	assert_int_equal(kf(f, f->out, NULL, "restore", f->archive, NULL), 0);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(key);
}

static void test_restore_refuses_truncated_archive_and_creates_nothing(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	truncate_by(f->archive, 1500);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_false(kf_fs_exists(target));
	assert_contains(out, "truncated");
	free(out);
	free(target);
}

static void test_restore_refuses_tampered_member_and_creates_nothing(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	size_t len = 0;
	char *data;
	const char *hit;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	data = pki_t_read(f->archive, &len);
	assert_non_null(data);
	/* The token member's header names it; its data is the next 512-byte block. */
	hit = memmem(data, len, "out/secrets/k3s-token", strlen("out/secrets/k3s-token"));
	while (hit && (hit - data) % 512 != 0)
		hit = memmem(hit + 1, len - (size_t)(hit + 1 - data), "out/secrets/k3s-token",
			     strlen("out/secrets/k3s-token"));
	assert_non_null(hit);
	flip_byte(f->archive, (hit - data) + 512 + 3);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_false(kf_fs_exists(target));
	assert_contains(out, "'out/secrets/k3s-token' does not match its digest");
	free(out);
	free(data);
	free(target);
}

static void test_restore_refuses_wrong_passphrase_and_creates_nothing(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	char *wrong = pki_t_path(f->tmp, "wrong.txt");

	pki_t_write(wrong, "not the passphrase\n");
	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, "--passphrase-file", f->pass_file,
			    NULL), 0);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, "--passphrase-file", wrong,
				NULL), 0);
	assert_false(kf_fs_exists(target));
	assert_contains(out, "wrong passphrase");
	free(out);
	free(wrong);
	free(target);
}

static void test_encrypted_backup_round_trip_keeps_identity(void **state)
{
	struct fx *f = *state;
	char fp[16][KF_SHA256_HEX_LEN + 1];
	struct kf_err e;

	setenv("KF_TEST_BACKUP_PASS", PASS, 1);
	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, "--passphrase-env",
			    "KF_TEST_BACKUP_PASS", NULL), 0);
	assert_int_equal(kf_fs_remove_tree(f->out, &e), 0);
	assert_int_equal(kf(f, f->out, NULL, "restore", f->archive, "--passphrase-file",
			    f->pass_file, NULL), 0);
	fingerprints(f->out, fp);
	for (int i = 0; identity[i]; i++)
		assert_string_equal(fp[i], f->fp[i]);
	unsetenv("KF_TEST_BACKUP_PASS");
}

static void test_encrypted_backup_hides_the_token_and_keys(void **state)
{
	struct fx *f = *state;
	char *token = NULL, *data;
	size_t len = 0;
	struct kf_err e;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, "--passphrase-file", f->pass_file,
			    NULL), 0);
	assert_int_equal(kf_pki_read_token(&token, f->out, &e), 0);
	data = pki_t_read(f->archive, &len);
	assert_non_null(data);
	assert_null(memmem(data, len, token, strlen(token)));
	assert_null(memmem(data, len, "PRIVATE KEY", 11));
	free(token);
	free(data);
}

static void test_restore_refuses_tampered_ciphertext_and_creates_nothing(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	struct stat sb;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, "--passphrase-file", f->pass_file,
			    NULL), 0);
	assert_int_equal(stat(f->archive, &sb), 0);
	flip_byte(f->archive, sb.st_size / 2);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, "--passphrase-file",
				f->pass_file, NULL), 0);
	assert_false(kf_fs_exists(target));
	assert_contains(out, "authentication failed");
	free(out);
	free(target);
}

static void test_restore_refuses_another_labs_pki_unless_forced(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *other = pki_t_path(f->tmp, "other");
	char before[16][KF_SHA256_HEX_LEN + 1], after[16][KF_SHA256_HEX_LEN + 1];

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	make_pki(other);
	fingerprints(other, before);
	assert_int_not_equal(kf(f, other, &out, "restore", f->archive, NULL), 0);
	assert_contains(out, "--force");
	fingerprints(other, after);
	for (int i = 0; identity[i]; i++)
		assert_string_equal(before[i], after[i]);
	free(out);
	assert_int_equal(kf(f, other, NULL, "restore", f->archive, "--force", NULL), 0);
	fingerprints(other, after);
	for (int i = 0; identity[i]; i++)
		assert_string_equal(after[i], f->fp[i]);
	free(other);
}

/* GNU tar re-packing an extracted backup, members in the archive's order: its own header
 * format, and zeros up to its 10240-byte record after the end marker. */
static void test_restore_accepts_a_backup_re_tarred_by_gnu_tar(void **state)
{
	struct fx *f = *state;
	char *x = pki_t_path(f->tmp, "x"), *list = pki_t_path(f->tmp, "members.txt");
	char *retar = pki_t_path(f->tmp, "retarred.tar"), *target = pki_t_path(f->tmp, "restored");
	char fp[16][KF_SHA256_HEX_LEN + 1], *names;
	const char *extract[] = { "tar", "-xf", f->archive, "-C", x, NULL };
	const char *names_argv[] = { "tar", "-tf", f->archive, NULL };
	const char *create[] = { "tar", "-cf", retar, "-C", x, "--no-recursion", "-T", list, NULL };
	struct stat sb;
	int code;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	assert_int_equal(mkdir(x, 0700), 0);
	free(pki_t_run(extract, &code, 1));
	assert_int_equal(code, 0);
	names = pki_t_run(names_argv, &code, 0);
	assert_int_equal(code, 0);
	pki_t_write(list, names);
	free(pki_t_run(create, &code, 1));
	assert_int_equal(code, 0);
	assert_int_equal(stat(retar, &sb), 0);
	assert_int_equal(sb.st_size % 10240, 0);
	assert_int_equal(kf(f, target, NULL, "restore", retar, NULL), 0);
	fingerprints(target, fp);
	for (int i = 0; identity[i]; i++)
		assert_string_equal(fp[i], f->fp[i]);
	free(names);
	free(x);
	free(list);
	free(retar);
	free(target);
}

static void test_restore_refuses_data_after_the_end_but_not_zero_padding(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	char block[KF_TAR_BLOCK];
	FILE *fp;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	memset(block, 0, sizeof(block));
	assert_non_null(fp = fopen(f->archive, "ab"));
	for (int i = 0; i < 18; i++)
		fwrite(block, 1, sizeof(block), fp);
	fclose(fp);
	assert_int_equal(kf(f, target, NULL, "restore", f->archive, NULL), 0);
	assert_int_equal(kf_fs_remove_tree(target, NULL), 0);
	memcpy(block + 100, "more", 4);
	assert_non_null(fp = fopen(f->archive, "ab"));
	fwrite(block, 1, sizeof(block), fp);
	fclose(fp);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_contains(out, "data after the end of the archive");
	assert_false(kf_fs_exists(target));
	free(out);
	free(target);
}

static void test_backup_refuses_a_dir_without_a_lab(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *empty = pki_t_path(f->tmp, "empty");

	assert_int_not_equal(kf(f, empty, &out, "backup", f->archive, NULL), 0);
	assert_contains(out, "no lab to back up");
	assert_false(kf_fs_exists(f->archive));
	free(out);
	free(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backup_restore_keeps_ca_host_keys_and_token,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_archive_is_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_keeps_private_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_truncated_archive_and_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_tampered_member_and_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_wrong_passphrase_and_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encrypted_backup_round_trip_keeps_identity,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_encrypted_backup_hides_the_token_and_keys,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_tampered_ciphertext_and_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_another_labs_pki_unless_forced,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_refuses_a_dir_without_a_lab, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restore_accepts_a_backup_re_tarred_by_gnu_tar,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_data_after_the_end_but_not_zero_padding, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
