/* backup / restore through the real CLI on a real PKI (kf_pki_ensure: CA, registry certificate,
 * operator and host keys, known_hosts, token): the round trip keeps every identity; damaged,
 * truncated, tampered archives, a wrong passphrase and another lab's PKI are refused with
 * nothing changed; crafted archives (a file that is also a directory, links, modes) are refused
 * or restored with k3sforge's own modes; a failure while moving files into place changes
 * nothing; a backup re-tarred by GNU tar restores. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
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

static const char *fail_to;      /* see rename() below */
static int fail_times = 1;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	fail_to = NULL; /* an injected failure never outlives its test */
	fail_times = 1;

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


/* The failure injected into the move into place: this executable's rename() (the library is
 * linked in statically, so kf_restore calls it) fails for the next fail_times destinations
 * ending in fail_to (then fail_to is cleared); failed_from is the source of the first. */
static char failed_from[1024];

int rename(const char *from, const char *to)
{
	size_t n = fail_to ? strlen(fail_to) : 0, tl = strlen(to);
	if (n && tl >= n && strcmp(to + tl - n, fail_to) == 0) {
		if (!failed_from[0])
			snprintf(failed_from, sizeof(failed_from), "%s", from);
		if (--fail_times == 0) {
			fail_to = NULL;
			fail_times = 1;
		}
		errno = EIO;
		return -1;
	}
	return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/* Everything under dir, one line per entry: path, type and mode, and each file's sha256. Two
 * equal listings mean the directory did not change. */
static void listing_of(struct kf_buf *b, const char *dir, const char *rel)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		char *p, sub[1024];
		struct stat sb;
		/* the run's own lock and log are not restore's doing */
		if (strcmp(e, ".") != 0 && strcmp(e, "..") != 0 && strcmp(e, ".lock") != 0 &&
		    strcmp(e, "k3sforge.log") != 0) {
			p = pki_t_path(dir, e);
			snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e);
			assert_int_equal(lstat(p, &sb), 0);
			kf_buf_printf(b, "%s %o", sub, (unsigned)sb.st_mode);
			if (S_ISREG(sb.st_mode)) {
				char hex[KF_SHA256_HEX_LEN + 1];
				struct kf_err err;
				assert_int_equal(kf_sha256_file(p, hex, &err), 0);
				kf_buf_printf(b, " %s", hex);
			}
			kf_buf_printf(b, "\n");
			if (S_ISDIR(sb.st_mode))
				listing_of(b, p, sub);
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
}

static char *listing(const char *dir)
{
	struct kf_buf b;
	char *out;

	kf_buf_init(&b, 0);
	kf_buf_printf(&b, "%s\n", kf_fs_exists(dir) ? "exists" : "absent");
	listing_of(&b, dir, "");
	out = strdup(kf_buf_str(&b));
	kf_buf_free(&b);
	return out;
}

/* One entry of a crafted archive: type '0' (listed in the manifest unless unlisted) or any
 * other type flag (headers only). */
struct entry {
	const char *name;
	const char *data;
	unsigned mode;
	char type;
};

static void header(FILE *fp, const char *name, size_t size, unsigned mode, char type)
{
	unsigned char h[KF_TAR_BLOCK];
	unsigned sum = 0;

	kf_tar_header(h, name, size, mode, 1700000000);
	h[156] = (unsigned char)type;
	memset(h + 148, ' ', 8);
	for (int i = 0; i < KF_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	assert_int_equal(fwrite(h, 1, sizeof(h), fp), sizeof(h));
}

static void body(FILE *fp, const char *data, size_t len)
{
	static const char zero[KF_TAR_BLOCK];

	assert_int_equal(fwrite(data, 1, len, fp), len);
	if (len % KF_TAR_BLOCK)
		fwrite(zero, 1, KF_TAR_BLOCK - len % KF_TAR_BLOCK, fp);
}

/* Writes a well-formed backup (manifest with every regular member's size and sha256, the
 * archive's mode fields as given) holding exactly the entries, in their order. */
static void craft(const char *path, const struct entry *v, size_t n)
{
	static const char zero[2 * KF_TAR_BLOCK];
	struct kf_buf man;
	FILE *fp = fopen(path, "wb");
	bool first = true;

	assert_non_null(fp);
	kf_buf_init(&man, 0);
	kf_buf_printf(&man, "{\"format\": \"k3sforge-backup\", \"version\": 1, \"cluster\": \"x\", "
			    "\"created\": \"2026-12-06T00:00:00Z\", \"members\": [");
	for (size_t i = 0; i < n; i++) {
		char hex[KF_SHA256_HEX_LEN + 1];
		if (v[i].type != '0')
			continue;
		kf_sha256_hex(v[i].data, strlen(v[i].data), hex);
		kf_buf_printf(&man, "%s{\"name\": \"%s\", \"size\": %zu, \"sha256\": \"%s\", "
				    "\"mode\": %u}",
			      first ? "" : ", ", v[i].name, strlen(v[i].data), hex, v[i].mode);
		first = false;
	}
	kf_buf_printf(&man, "]}");
	header(fp, KF_BACKUP_MANIFEST, man.len, 0644, '0');
	body(fp, kf_buf_str(&man), man.len);
	for (size_t i = 0; i < n; i++) {
		size_t len = v[i].type == '0' ? strlen(v[i].data) : 0;
		header(fp, v[i].name, len, v[i].mode, v[i].type);
		body(fp, v[i].data, len);
	}
	fwrite(zero, 1, sizeof(zero), fp);
	fclose(fp);
	kf_buf_free(&man);
}

static void assert_same_listing(const char *before, const char *after)
{
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "--- before\n%s--- after\n%s", before, after);
		fail_msg("the directory changed (listings above)");
	}
}

static void assert_mode(const char *dir, const char *rel, unsigned want)
{
	char *p = pki_t_path(dir, rel);
	struct stat sb;

	assert_int_equal(lstat(p, &sb), 0);
	if ((sb.st_mode & 07777) != want)
		fail_msg("%s is %04o, wanted %04o", rel, sb.st_mode & 07777, want);
	free(p);
}

/* No staging directory (.<name>.restore.XXXXXX) left next to the output dir or inside it. */
static void assert_no_staging_left(const char *parent, const char *out)
{
	char *both[2] = { listing(parent), listing(out) };

	for (int i = 0; i < 2; i++) {
		if (strstr(both[i], ".restore."))
			fail_msg("a staging directory was left behind:\n%s", both[i]);
		free(both[i]);
	}
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


static void test_restore_refuses_a_file_that_is_also_a_directory_before_any_write(void **state)
{
	struct fx *f = *state;
	static const struct entry orders[2][2] = {
		{ { "out/a/b", "inner\n", 0600, '0' }, { "out/a", "outer\n", 0600, '0' } },
		{ { "out/a", "outer\n", 0600, '0' }, { "out/a/b", "inner\n", 0600, '0' } },
	};

	for (int k = 0; k < 2; k++) {
		char *out = NULL, *before = listing(f->out), *after;
		craft(f->archive, orders[k], 2);
		assert_int_not_equal(kf(f, f->out, &out, "restore", f->archive, "--force", NULL), 0);
		assert_contains(out, "would be a file and the directory of");
		after = listing(f->out);
		assert_same_listing(before, after);
		assert_no_staging_left(f->tmp, f->out);
		free(before);
		free(after);
		free(out);
	}
}

static void test_restore_failing_while_moving_into_place_changes_nothing(void **state)
{
	struct fx *f = *state;
	char *other = pki_t_path(f->tmp, "other"), *before, *after;
	struct kf_restore_opts ro = { 0 };
	struct kf_restore_stats st = { 0 };
	struct kf_err e;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	make_pki(other);
	before = listing(other);
	/* the CA and the registry certificate are moved in before the operator key fails */
	ro.out_dir = other;
	ro.force = true;
	fail_to = "/ssh/id_ed25519";
	failed_from[0] = '\0';
	assert_int_not_equal(kf_restore(f->archive, &ro, &st, &e), 0);
	assert_null(fail_to); /* the failure did happen */
	assert_non_null(strstr(e.msg, "ssh/id_ed25519"));
	/* staged next to the output dir, not inside it */
	{
		char *stage = pki_t_path(f->tmp, ".other.restore.");
		assert_memory_equal(failed_from, stage, strlen(stage));
		free(stage);
	}
	after = listing(other);
	assert_same_listing(before, after);
	assert_no_staging_left(f->tmp, other);
	free(after);
	/* and without the failure the same restore goes through */
	assert_int_equal(kf_restore(f->archive, &ro, &st, &e), 0);
	kf_restore_stats_free(&st);
	assert_no_staging_left(f->tmp, other);
	after = listing(other);
	assert_string_not_equal(before, after);
	free(after);
	free(before);
	free(other);
}

static void test_restore_says_where_the_replaced_files_are_when_undoing_fails(void **state)
{
	struct fx *f = *state;
	char *other = pki_t_path(f->tmp, "other"), *key = pki_t_path(other, "ssh/id_ed25519");
	char before[KF_SHA256_HEX_LEN + 1], kept[KF_SHA256_HEX_LEN + 1], *where, *end;
	struct kf_restore_opts ro = { 0 };
	struct kf_restore_stats st = { 0 };
	struct kf_err e;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	make_pki(other);
	assert_int_equal(kf_sha256_file(key, before, &e), 0);
	ro.out_dir = other;
	ro.force = true;
	/* the move of the operator key fails, and so does putting the old one back */
	fail_to = "/ssh/id_ed25519";
	fail_times = 2;
	assert_int_not_equal(kf_restore(f->archive, &ro, &st, &e), 0);
	assert_null(fail_to);
	assert_non_null(strstr(e.msg, "undoing the restore failed too"));
	where = strstr(e.msg, "the files it replaced are kept in ");
	assert_non_null(where);
	where += strlen("the files it replaced are kept in ");
	end = strchr(where, ';');
	assert_non_null(end);
	*end = '\0';
	/* the old key is there, and nothing else of the other lab was lost */
	{
		char *dir = strdup(where), *old = NULL;
		struct dirent **ents = NULL;
		int n = scandir(dir, &ents, NULL, alphasort);
		bool found = false;
		for (int i = 0; i < n; i++) {
			if (!found && ents[i]->d_name[0] == 'o') {
				old = pki_t_path(dir, ents[i]->d_name);
				assert_int_equal(kf_sha256_file(old, kept, &e), 0);
				found = strcmp(kept, before) == 0;
				free(old);
			}
			free(ents[i]);
		}
		free(ents);
		assert_true(found);
		free(dir);
	}
	free(key);
	free(other);
}

static void test_restore_refuses_two_members_with_one_destination(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	static const struct entry v[] = {
		{ "out/state.json", "{}\n", 0600, '0' },
		{ "config/state.json", "{\"stages\": {}}\n", 0600, '0' },
	};

	craft(f->archive, v, 2);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_contains(out, "would both be");
	assert_false(kf_fs_exists(target));
	free(out);
	free(target);
}

static void test_restore_into_a_new_dir_that_fails_to_move_creates_nothing(void **state)
{
	struct fx *f = *state;
	char *target = pki_t_path(f->tmp, "new/deeper/restored"), *parent = pki_t_path(f->tmp, "new");
	struct kf_restore_opts ro = { 0 };
	struct kf_restore_stats st = { 0 };
	struct kf_err e;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	ro.out_dir = target;
	fail_to = "/new/deeper/restored";
	assert_int_not_equal(kf_restore(f->archive, &ro, &st, &e), 0);
	assert_null(fail_to);
	assert_false(kf_fs_exists(parent));
	assert_no_staging_left(f->tmp, f->tmp);
	free(target);
	free(parent);
}

static void test_restore_takes_file_modes_from_its_table_not_the_archive(void **state)
{
	struct fx *f = *state;
	char *target = pki_t_path(f->tmp, "restored");
	static const struct entry v[] = {
		{ "out/pki/ca.crt", "cert\n", 0777, '0' },
		{ "out/pki/ca.key", "key\n", 0644, '0' },
		{ "out/ssh/id_ed25519", "key\n", 0666, '0' },
		{ "out/ssh/id_ed25519.pub", "ssh-ed25519 AAAA\n", 0600, '0' },
		{ "out/secrets/k3s-token", "token\n", 0644, '0' },
		{ "out/kubeconfig", "apiVersion: v1\n", 0644, '0' },
		{ "config/lab.yaml", "cluster: {name: lab}\n", 0666, '0' },
	};
	mode_t old = umask(0);

	craft(f->archive, v, sizeof(v) / sizeof(v[0]));
	assert_int_equal(kf(f, target, NULL, "restore", f->archive, NULL), 0);
	umask(old);
	assert_mode(target, "secrets/k3s-token", 0600);
	assert_mode(target, "pki/ca.key", 0600);
	assert_mode(target, "ssh/id_ed25519", 0600);
	assert_mode(target, "kubeconfig", 0600);
	assert_mode(target, "lab.yaml", 0600);
	assert_mode(target, "pki/ca.crt", 0644);
	assert_mode(target, "ssh/id_ed25519.pub", 0644);
	assert_mode(target, ".", 0700);
	assert_mode(target, "secrets", 0700);
	assert_mode(target, "pki", 0700);
	free(target);
}

static void test_restore_ignores_directory_modes_in_the_archive(void **state)
{
	struct fx *f = *state;
	char *target = pki_t_path(f->tmp, "restored");
	static const struct entry v[] = {
		{ "out/", "", 0777, '5' },
		{ "out/secrets/", "", 0777, '5' },
		{ "out/secrets/k3s-token", "token\n", 0644, '0' },
	};
	mode_t old = umask(0);

	craft(f->archive, v, sizeof(v) / sizeof(v[0]));
	assert_int_equal(kf(f, target, NULL, "restore", f->archive, NULL), 0);
	umask(old);
	assert_mode(target, ".", 0700);
	assert_mode(target, "secrets", 0700);
	assert_mode(target, "secrets/k3s-token", 0600);
	free(target);
}

static void test_restore_refuses_links_devices_and_stray_directories(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	static const struct {
		struct entry e;
		const char *says;
	} bad[] = {
		{ { "out/pki/ca.key", "", 0777, '2' }, "a symbolic link" },
		{ { "out/pki/ca.key", "", 0600, '1' }, "a hard link" },
		{ { "out/null", "", 0666, '3' }, "a device" },
		{ { "out/fifo", "", 0666, '6' }, "a FIFO" },
		{ { "out/elsewhere/", "", 0777, '5' }, "holds no member" },
		{ { "out/secrets/k3s-token/", "", 0700, '5' }, "holds no member" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct entry v[] = { { "out/secrets/k3s-token", "token\n", 0600, '0' },
					   bad[i].e };
		craft(f->archive, v, 2);
		assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
		assert_contains(out, bad[i].says);
		assert_false(kf_fs_exists(target));
		free(out);
	}
	free(target);
}

static void test_restore_refuses_a_manifest_larger_than_the_archive(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored");
	static const char man[] =
		"{\"format\": \"k3sforge-backup\", \"version\": 1, \"members\": [{\"name\": "
		"\"images/bundle.tar\", \"size\": 1099511627776, \"sha256\": "
		"\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}]}";
	FILE *fp = fopen(f->archive, "wb");

	assert_non_null(fp);
	header(fp, KF_BACKUP_MANIFEST, strlen(man), 0644, '0');
	body(fp, man, strlen(man));
	fclose(fp);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_contains(out, "more bytes than the archive holds");
	assert_false(kf_fs_exists(target));
	free(out);
	free(target);
}


static void test_restore_refuses_a_symlink_inside_the_output_dir_even_forced(void **state)
{
	struct fx *f = *state;
	char *other = pki_t_path(f->tmp, "other"), *elsewhere = pki_t_path(f->tmp, "elsewhere");
	char *ssh = pki_t_path(other, "ssh"), *out = NULL, *before, *after, *away;

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	make_pki(other);
	/* other/ssh now points elsewhere: restore must not write the keys through it */
	away = pki_t_path(f->tmp, "ssh-away");
	assert_int_equal(renameat(AT_FDCWD, ssh, AT_FDCWD, away), 0);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(symlink(elsewhere, ssh), 0);
	before = listing(f->tmp);
	assert_int_not_equal(kf(f, other, &out, "restore", f->archive, "--force", NULL), 0);
	assert_contains(out, "is a symbolic link where the backup needs a directory");
	after = listing(f->tmp);
	assert_same_listing(before, after);
	free(before);
	free(after);
	free(out);
	free(away);
	free(ssh);
	free(elsewhere);
	free(other);
}

static void test_restore_into_a_new_dir_below_a_symlinked_dir(void **state)
{
	struct fx *f = *state;
	char *real = pki_t_path(f->tmp, "real"), *link = pki_t_path(f->tmp, "link");
	char *target = pki_t_path(f->tmp, "link/sub/restored"), fp[16][KF_SHA256_HEX_LEN + 1];

	assert_int_equal(kf(f, f->out, NULL, "backup", f->archive, NULL), 0);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(kf(f, target, NULL, "restore", f->archive, NULL), 0);
	fingerprints(target, fp);
	for (int i = 0; identity[i]; i++)
		assert_string_equal(fp[i], f->fp[i]);
	assert_mode(real, "sub", 0700);
	assert_no_staging_left(real, target);
	free(real);
	free(link);
	free(target);
}

static void test_restore_refuses_a_manifest_with_a_key_twice(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *target = pki_t_path(f->tmp, "restored"), man[1024], hex[65];
	static const char token[] = "token\n";
	static const char zero[2 * KF_TAR_BLOCK];
	FILE *fp = fopen(f->archive, "wb");

	assert_non_null(fp);
	kf_sha256_hex(token, strlen(token), hex);
	/* a reader that keeps the last "members" sees a valid backup, one that keeps the first an
	 * empty one: the manifest means two things, so it means nothing */
	snprintf(man, sizeof(man),
		 "{\"format\": \"k3sforge-backup\", \"version\": 1, \"members\": [], \"members\": "
		 "[{\"name\": \"out/secrets/k3s-token\", \"size\": %zu, \"sha256\": \"%s\"}]}",
		 strlen(token), hex);
	header(fp, KF_BACKUP_MANIFEST, strlen(man), 0644, '0');
	body(fp, man, strlen(man));
	header(fp, "out/secrets/k3s-token", strlen(token), 0600, '0');
	body(fp, token, strlen(token));
	fwrite(zero, 1, sizeof(zero), fp);
	fclose(fp);
	assert_int_not_equal(kf(f, target, &out, "restore", f->archive, NULL), 0);
	assert_contains(out, "not a k3sforge backup");
	assert_false(kf_fs_exists(target));
	free(out);
	free(target);
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
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_a_file_that_is_also_a_directory_before_any_write, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_failing_while_moving_into_place_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_says_where_the_replaced_files_are_when_undoing_fails, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_two_members_with_one_destination,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_into_a_new_dir_that_fails_to_move_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_takes_file_modes_from_its_table_not_the_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_ignores_directory_modes_in_the_archive,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_links_devices_and_stray_directories, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_a_manifest_larger_than_the_archive,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_a_symlink_inside_the_output_dir_even_forced, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_restore_into_a_new_dir_below_a_symlinked_dir,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_a_manifest_with_a_key_twice,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_accepts_a_backup_re_tarred_by_gnu_tar,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_data_after_the_end_but_not_zero_padding, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
