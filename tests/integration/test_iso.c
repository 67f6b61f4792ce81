/* The ISO images, read back with the real xorriso CLI: the installer remastered from a fixture
 * in Ubuntu 22.04's shape (tests/lib/iso_fixture.sh: BIOS El Torito + grub2 MBR, UEFI
 * from an appended GPT partition), the NoCloud seeds, and the build-iso stage's idempotence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/cmd.h"
#include "k3sforge/config.h"
#include "k3sforge/flush.h"
#include "k3sforge/fs.h"
#include "k3sforge/iso.h"
#include "k3sforge/proc.h"
#include "k3sforge/render.h"
#include "k3sforge/lab.h"
#include "k3sforge/stage.h"

#define TPL KF_SOURCE_DIR "/templates"

extern const struct kf_stage_def kf_stage_build_iso;

static char g_dir[64];
static char g_ubuntu[128], g_plain[128], g_out[128];
/* the remastered fixture, made once by the group setup */
static char g_remastered[128];

static struct kf_proc sh(const char *script, const char *a1, const char *a2)
{
	const char *argv[] = { "bash", "-c", script, "_", a1, a2, NULL };
	const char *env[] = { "KF_SOURCE_DIR=" KF_SOURCE_DIR, NULL };
	struct kf_proc p;
	struct kf_err err;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.env = env;
	p.timeout_ms = 300000;
	p.out_max = 8 * 1024 * 1024;
	if (kf_proc_run(&p, &err) != 0)
		fail_msg("bash: %s", err.msg);
	return p;
}

/* Runs a bash script (sourcing the fixtures) and returns its stdout; fails on non-zero. */
static char *sh_ok(const char *script, const char *a1, const char *a2)
{
	char full[4096];
	struct kf_proc p;
	char *out;

	snprintf(full, sizeof(full),
		 "set -eo pipefail; source %s/lib/iso_fixture.sh; "
		 "source %s/lib/recipe_fixture.sh; %s",
		 KF_TESTS_DIR, KF_TESTS_DIR, script);
	p = sh(full, a1, a2);
	if (p.exit_code != 0)
		fail_msg("script failed (%d): %s\n%s%s", p.exit_code, script, kf_buf_str(&p.out),
			 kf_buf_str(&p.errout));
	out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return out;
}

static const struct kf_iso_file payload[] = {
	{ KF_TESTS_DIR "/fakes/k3s", "/k3sforge/k3s" },
	{ KF_TESTS_DIR "/fakes/recipe/install.sh", "/k3sforge/install.sh" },
};

static int group_setup(void **state)
{
	struct kf_iso_remaster spec;
	struct kf_err err;
	char work[160];
	char *o;

	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/kfiso.XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_ubuntu, sizeof(g_ubuntu), "%s/ubuntu.iso", g_dir);
	snprintf(g_plain, sizeof(g_plain), "%s/plain.iso", g_dir);
	snprintf(g_out, sizeof(g_out), "%s/out", g_dir);
	snprintf(g_remastered, sizeof(g_remastered), "%s/installer.iso", g_dir);
	o = sh_ok("ubuntu_like_iso \"$1\" \"$(dirname \"$1\")\"; plain_iso \"$2\" \"$(dirname \"$2\")\"",
		  g_ubuntu, g_plain);
	free(o);
	memset(&spec, 0, sizeof(spec));
	snprintf(work, sizeof(work), "%s/work", g_dir);
	spec.src = g_ubuntu;
	spec.dst = g_remastered;
	spec.work_dir = work;
	spec.tpl_dir = TPL;
	spec.files = payload;
	spec.n_files = 2;
	if (kf_iso_remaster(&spec, &err) != 0) {
		fprintf(stderr, "remaster failed: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kf_fs_remove_tree(g_dir, NULL);
	return 0;
}

static void test_iso_remaster_replays_the_boot_setup(void **state)
{
	char *in = sh_ok("el_torito_setup \"$1\"", g_ubuntu, NULL);
	char *out = sh_ok("el_torito_setup \"$1\"", g_remastered, NULL);

	(void)state;
	/* BIOS (El Torito + grub2 MBR) and UEFI (appended GPT partition) as in the source */
	assert_non_null(strstr(in, "-b '/boot/grub/i386-pc/eltorito.img'"));
	assert_non_null(strstr(in, "-appended_part_as_gpt"));
	assert_non_null(strstr(in, "-e '--interval:appended_partition_2"));
	assert_string_equal(in, out);
	free(in);
	free(out);
}

static void test_iso_remaster_makes_autoinstall_the_default_entry(void **state)
{
	char *cfg = sh_ok("xorriso -osirrox on -indev \"$1\" -extract /boot/grub/grub.cfg "
			  "\"$2\" >/dev/null 2>&1; cat \"$2\"",
			  g_remastered, "/dev/stdout");
	const char *first, *entry2;

	(void)state;
	first = strstr(cfg, "menuentry");
	assert_non_null(first);
	assert_true(strncmp(first, "menuentry \"k3sforge: unattended install (autoinstall)\"", 52) == 0);
	assert_non_null(strstr(first, "linux\t/casper/vmlinuz autoinstall ---\n"));
	assert_non_null(strstr(cfg, "set timeout=3\n"));
	assert_null(strstr(cfg, "set timeout=30"));
	/* the ISO's own entries stay, after ours; its serial console setup stays before */
	entry2 = strstr(first + 1, "menuentry \"Try or Install Ubuntu Server\"");
	assert_non_null(entry2);
	assert_true(strstr(cfg, "terminal_output console serial") < first);
	free(cfg);
}

static void test_iso_remaster_edits_loopback_cfg_too(void **state)
{
	char *cfg = sh_ok("xorriso -osirrox on -indev \"$1\" -extract /boot/grub/loopback.cfg "
			  "\"$2\" >/dev/null 2>&1; cat \"$2\"",
			  g_remastered, "/dev/stdout");

	(void)state;
	assert_non_null(strstr(cfg, "linux\t/casper/vmlinuz iso-scan/filename=${iso_path} "
				    "autoinstall ---\n"));
	free(cfg);
}

static void test_iso_remaster_updates_md5sum_txt(void **state)
{
	char dir[160];
	char *o;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/md5check", g_dir);
	o = sh_ok("xorriso -osirrox on -indev \"$1\" -extract / \"$2\" >/dev/null 2>&1; "
		  "cd \"$2\" && md5sum -c md5sum.txt",
		  g_remastered, dir);
	assert_non_null(strstr(o, "./boot/grub/grub.cfg: OK"));
	assert_non_null(strstr(o, "./boot/grub/loopback.cfg: OK"));
	free(o);
}

static void test_iso_remaster_payload_is_byte_identical(void **state)
{
	char dir[160];
	char *o;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/payload", g_dir);
	o = sh_ok("xorriso -osirrox on -indev \"$1\" -extract /k3sforge \"$2\" >/dev/null 2>&1; "
		  "cmp \"$2/k3s\" \"$KF_SOURCE_DIR/tests/fakes/k3s\" && "
		  "cmp \"$2/install.sh\" \"$KF_SOURCE_DIR/tests/fakes/recipe/install.sh\" && echo same",
		  g_remastered, dir);
	assert_string_equal(o, "same\n");
	free(o);
}

/* ---- what the offline installer can install (src/iso/pool.c) ------------------------------ */

/* In pool/ (main and restricted) or in a manifest of the installed system's layers. */
static void test_iso_packages_check_accepts_what_the_pool_and_manifests_hold(void **state)
{
	const char *names[] = { "curl", "zstd", "sysstat", "ethtool", "grub-efi-amd64-signed",
				"htop", "bash-completion", "vim=2:8.2.3995-1ubuntu2.17" };
	struct kf_err err;

	(void)state;
	if (kf_iso_check_packages(g_ubuntu, names, sizeof(names) / sizeof(names[0]), &err) != 0)
		fail_msg("%s", err.msg);
}

/* jq (universe in jammy) is on no 22.04 ISO: refused by name, with the fix. */
static void test_iso_packages_check_names_every_missing_package_and_the_fix(void **state)
{
	const char *names[] = { "curl", "jq", "htop", "iotop" };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_iso_check_packages(g_ubuntu, names, 4, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "cannot install jq, iotop offline"));
	assert_non_null(strstr(err.msg, "3 times"));
	assert_non_null(strstr(err.msg, "guest.packages"));
	assert_non_null(strstr(err.msg, "guest.debs"));
	assert_null(strstr(err.msg, "curl"));
}

/* The live installer's own layer (*.installer.manifest) is not the installed system. */
static void test_iso_packages_check_ignores_the_installer_only_layer(void **state)
{
	const char *names[] = { "casper" };
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_iso_check_packages(g_ubuntu, names, 1, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "cannot install casper offline"));
}

static void test_iso_release_check_accepts_22_04_5(void **state)
{
	struct kf_err err;

	(void)state;
	if (kf_iso_check_release(g_ubuntu, &err) != 0)
		fail_msg("%s", err.msg);
}

/* 22.04.2's installer (subiquity 23.02.1) has no apt fallback: refused, saying what to get. */
static void test_iso_release_check_refuses_an_older_point_release(void **state)
{
	char iso[160];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(iso, sizeof(iso), "%s/old.iso", g_dir);
	o = sh_ok("d=$(dirname \"$1\")/oldtree; mkdir -p \"$d/.disk\" \"$d/casper\"; "
		  "echo 'Ubuntu-Server 22.04.2 LTS \"Jammy Jellyfish\" - Release amd64 (20230217)' "
		  ">\"$d/.disk/info\"; xorriso -as mkisofs -r -o \"$1\" \"$d\" >/dev/null 2>&1",
		  iso, NULL);
	free(o);
	assert_int_equal(kf_iso_check_release(iso, &err), KF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "Ubuntu-Server 22.04.2 LTS"));
	assert_non_null(strstr(err.msg, "ubuntu-22.04.5-live-server-amd64.iso"));
	assert_non_null(strstr(err.msg, "fallback"));
}

static void test_iso_remaster_refuses_non_ubuntu_iso(void **state)
{
	struct kf_iso_remaster spec;
	struct kf_err err;
	char dst[160], work[160];

	(void)state;
	snprintf(dst, sizeof(dst), "%s/never.iso", g_dir);
	snprintf(work, sizeof(work), "%s/work2", g_dir);
	memset(&spec, 0, sizeof(spec));
	spec.src = g_plain;
	spec.dst = dst;
	spec.work_dir = work;
	spec.tpl_dir = TPL;
	kf_err_clear(&err);
	assert_int_equal(kf_iso_remaster(&spec, &err), KF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "is not an Ubuntu live-server ISO"));
	assert_non_null(strstr(err.msg, "/casper"));
	assert_false(kf_fs_exists(dst));
	assert_int_equal(kf_iso_check_ubuntu(g_ubuntu, &err), 0);
}

static void test_iso_check_refuses_a_file_that_is_no_iso(void **state)
{
	struct kf_err err;

	(void)state;
	kf_err_clear(&err);
	/* xorriso loads any file (as a blank medium): refused for its missing Ubuntu shape */
	assert_int_equal(kf_iso_check_ubuntu(KF_TESTS_DIR "/fakes/k3s", &err),
			 KF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "is not an Ubuntu live-server ISO"));
	kf_err_clear(&err);
	assert_int_equal(kf_iso_check_ubuntu("/nonexistent/ubuntu.iso", &err), KF_ENOTFOUND);
}

static void test_iso_seed_has_cidata_label_and_files(void **state)
{
	char dst[160], ud[160], md[160], dir[160];
	struct kf_iso_file files[2];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(dst, sizeof(dst), "%s/seed.iso", g_dir);
	snprintf(ud, sizeof(ud), "%s/ud", g_dir);
	snprintf(md, sizeof(md), "%s/md", g_dir);
	snprintf(dir, sizeof(dir), "%s/seedx", g_dir);
	assert_int_equal(kf_fs_write_atomic(ud, "#cloud-config\nautoinstall:\n  version: 1\n", 40,
					    0600, &err), 0);
	assert_int_equal(kf_fs_write_atomic(md, "instance-id: x\n", 15, 0600, &err), 0);
	files[0] = (struct kf_iso_file){ ud, "/user-data" };
	files[1] = (struct kf_iso_file){ md, "/meta-data" };
	assert_int_equal(kf_iso_write_seed(dst, files, 2, &err), 0);
	{
		struct stat st;
		assert_int_equal(stat(dst, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600); /* token and host key inside */
	}
	o = sh_ok("xorriso -indev \"$1\" -pvd_info 2>/dev/null | grep '^Volume Id'; "
		  "blkid -o value -s LABEL \"$1\"; "
		  "xorriso -osirrox on -indev \"$1\" -extract / \"$2\" >/dev/null 2>&1; "
		  "cat \"$2/user-data\" \"$2/meta-data\"",
		  dst, dir);
	assert_string_equal(o, "Volume Id    : cidata\ncidata\n"
			       "#cloud-config\nautoinstall:\n  version: 1\ninstance-id: x\n");
	free(o);
}

/* The image is written in a fresh private directory: a symlink planted at the old predictable
 * temporary name (<dst>.tmp) is never written through, and no temporary is left behind. */
static void test_iso_seed_never_writes_through_a_planted_temp_symlink(void **state)
{
	char dst[160], tmp[170], victim[160], ud[160];
	struct kf_iso_file files[1];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(dst, sizeof(dst), "%s/planted.iso", g_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	snprintf(victim, sizeof(victim), "%s/victim", g_dir);
	snprintf(ud, sizeof(ud), "%s/ud2", g_dir);
	assert_int_equal(kf_fs_write_atomic(victim, "precious\n", 9, 0644, &err), 0);
	assert_int_equal(kf_fs_write_atomic(ud, "#cloud-config\n", 14, 0600, &err), 0);
	assert_int_equal(symlink(victim, tmp), 0);
	files[0] = (struct kf_iso_file){ ud, "/user-data" };
	assert_int_equal(kf_iso_write_seed(dst, files, 1, &err), 0);
	o = sh_ok("cat \"$1\"; ls -a \"$(dirname \"$2\")\" | grep -c '^planted.iso.tmp.' || true",
		  victim, dst);
	assert_string_equal(o, "precious\n0\n");
	free(o);
	unlink(tmp);
}

/* A data ISO with nested paths (image mode's payload CD shape): the directories are made,
 * Rock Ridge keeps the names and modes, the label is kept as given, and a file whose size is
 * no multiple of the 2 KiB block or of the 64 KiB read size comes out byte for byte. */
static void test_iso_data_nested_paths_and_odd_sizes_round_trip(void **state)
{
	char dst[160], big[160], small[160], dir[160];
	struct kf_iso_file files[3];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(dst, sizeof(dst), "%s/data.iso", g_dir);
	snprintf(big, sizeof(big), "%s/big.bin", g_dir);
	snprintf(small, sizeof(small), "%s/small.txt", g_dir);
	snprintf(dir, sizeof(dir), "%s/datax", g_dir);
	free(sh_ok("head -c 200001 /dev/urandom >\"$1\"; printf 'x\\n' >\"$2\"", big, small));
	files[0] = (struct kf_iso_file){ big, "/k3sforge/images/big.bin" };
	files[1] = (struct kf_iso_file){ small, "/k3sforge/small.txt" };
	files[2] = (struct kf_iso_file){ small, "/top.txt" };
	assert_int_equal(kf_iso_write_data(dst, "KFPAYLOAD", files, 3, &err), 0);
	o = sh_ok("blkid -o value -s LABEL \"$1\"; "
		  "xorriso -osirrox on -indev \"$1\" -extract / \"$2\" >/dev/null 2>&1; "
		  "d=$(dirname \"$1\"); cmp \"$d/big.bin\" \"$2/k3sforge/images/big.bin\" && echo same; "
		  "cat \"$2/k3sforge/small.txt\" \"$2/top.txt\"; "
		  "(cd \"$2\" && find . -type f | sort)",
		  dst, dir);
	assert_string_equal(o, "KFPAYLOAD\nsame\nx\nx\n./k3sforge/images/big.bin\n"
			       "./k3sforge/small.txt\n./top.txt\n");
	free(o);
}

/* The same files give the same bytes, whenever they were written: a seed rewritten from
 * unchanged inputs does not look like a new one to create-vms (which hashes the seeds). */
static void test_iso_data_is_byte_reproducible(void **state)
{
	char a[160], b[160], ud[160];
	struct kf_iso_file files[1];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(a, sizeof(a), "%s/repro-a.iso", g_dir);
	snprintf(b, sizeof(b), "%s/repro-b.iso", g_dir);
	snprintf(ud, sizeof(ud), "%s/repro-ud", g_dir);
	assert_int_equal(kf_fs_write_atomic(ud, "#cloud-config\n", 14, 0600, &err), 0);
	files[0] = (struct kf_iso_file){ ud, "/user-data" };
	assert_int_equal(kf_iso_write_seed(a, files, 1, &err), 0);
	/* the file written again a second later: new mtime, same bytes */
	free(sh_ok("sleep 1.1; touch \"$1\"", ud, NULL));
	assert_int_equal(kf_iso_write_seed(b, files, 1, &err), 0);
	o = sh_ok("cmp \"$1\" \"$2\" && echo same", a, b);
	assert_string_equal(o, "same\n");
	free(o);
}

/* Bad input to the data ISO writer fails with the file named, and leaves nothing behind: no
 * image, no temporary (every refusal, not only one). */
static void test_iso_data_refuses_bad_input_and_leaves_nothing(void **state)
{
	char dst[160], small[160];
	struct kf_iso_file files[2];
	struct kf_err err;
	char *o;

	(void)state;
	snprintf(dst, sizeof(dst), "%s/bad/refused.iso", g_dir);
	snprintf(small, sizeof(small), "%s/bad/ok.txt", g_dir);
	free(sh_ok("mkdir -p \"$(dirname \"$1\")\"; printf 'x\\n' >\"$2\"", dst, small));
	/* a directory where a file is expected */
	files[0] = (struct kf_iso_file){ g_dir, "/dir" };
	assert_int_not_equal(kf_iso_write_data(dst, "X", files, 1, &err), 0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* a file that is not there */
	files[0] = (struct kf_iso_file){ "/nonexistent/k3sforge-test", "/a" };
	assert_int_not_equal(kf_iso_write_data(dst, "X", files, 1, &err), 0);
	assert_non_null(strstr(err.msg, "/nonexistent/k3sforge-test"));
	/* paths inside the image that climb out, are relative or empty */
	{
		static const char *const bad[] = { "/../a", "a", "/k3sforge//a", "/k3sforge/.", "/" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			files[0] = (struct kf_iso_file){ small, bad[i] };
			assert_int_not_equal(kf_iso_write_data(dst, "X", files, 1, &err), 0);
			assert_non_null(strstr(err.msg, bad[i]));
		}
	}
	/* the same name twice, and a file where a directory is needed */
	files[0] = (struct kf_iso_file){ small, "/a" };
	files[1] = (struct kf_iso_file){ small, "/a" };
	assert_int_not_equal(kf_iso_write_data(dst, "X", files, 2, &err), 0);
	files[1] = (struct kf_iso_file){ small, "/a/b" };
	assert_int_not_equal(kf_iso_write_data(dst, "X", files, 2, &err), 0);
	assert_non_null(strstr(err.msg, "is a file in the image"));
	o = sh_ok("ls -A \"$(dirname \"$1\")\"", dst, NULL);
	assert_string_equal(o, "ok.txt\n");
	free(o);
}

/* ---- the build-iso stage ----------------------------------------------------------------- */

struct stage_env {
	struct kf_lab lab;
	struct kf_err err;
};

static void stage_env_new(struct stage_env *e)
{
	struct kf_err err;

	memset(e, 0, sizeof(*e));
	assert_int_equal(kf_config_default(&e->lab.cfg, &err), 0);
	e->lab.cfg->paths.ubuntu_iso = strdup(g_ubuntu);
	e->lab.out_dir = g_out;
	assert_int_equal(kf_run_new(&e->lab.run), 0);
}

static void stage_env_free(struct stage_env *e)
{
	kf_config_free(e->lab.cfg);
	kf_run_free(e->lab.run);
}

static void stage_run(struct stage_env *e)
{
	kf_err_clear(&e->err);
	if (kf_stage_build_iso.run(&e->lab, &e->err) != 0)
		fail_msg("build-iso: %s", e->err.msg);
}

static ino_t inode_of(const char *rel)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", g_out, rel);
	if (stat(path, &st) != 0)
		fail_msg("%s: missing", path);
	return st.st_ino;
}

static void test_build_iso_writes_seeds_and_installer(void **state)
{
	struct stage_env e;
	char *o, seed[300], dir[160];

	(void)state;
	o = sh_ok("recipe_fixture \"$1\" k3s-master1 k3s-worker1 k3s-worker2", g_out, NULL);
	free(o);
	stage_env_new(&e);
	stage_run(&e);
	snprintf(seed, sizeof(seed), "%s/iso/seed-k3s-worker1.iso", g_out);
	snprintf(dir, sizeof(dir), "%s/seedw1", g_dir);
	/* the seed carries the autoinstall user-data; the payload carries SHA256SUMS that verify */
	o = sh_ok("xorriso -osirrox on -indev \"$1\" -extract / \"$2\" >/dev/null 2>&1; "
		  "head -n 2 \"$2/user-data\"; grep -c '^local-hostname: \"k3s-worker1\"$' \"$2/meta-data\"",
		  seed, dir);
	assert_string_equal(o, "#cloud-config\nautoinstall:\n1\n");
	free(o);
	snprintf(seed, sizeof(seed), "%s/iso/installer.iso", g_out);
	snprintf(dir, sizeof(dir), "%s/payload2", g_dir);
	o = sh_ok("xorriso -osirrox on -indev \"$1\" -extract /k3sforge \"$2\" >/dev/null 2>&1; "
		  "cd \"$2\" && sha256sum -c SHA256SUMS | sort",
		  seed, dir);
	assert_non_null(strstr(o, "k3s-airgap-images-amd64.tar.zst: OK"));
	assert_non_null(strstr(o, "ks-core-1.1.4.tgz: OK"));
	assert_non_null(strstr(o, "ca.crt: OK"));
	free(o);
	stage_env_free(&e);
}

/* build-iso refuses a package the ISO cannot install offline before it builds anything. */
static void test_build_iso_refuses_packages_the_iso_cannot_install(void **state)
{
	struct stage_env e;
	char out[160], seed[200];

	(void)state;
	snprintf(out, sizeof(out), "%s/out-pkg", g_dir);
	free(sh_ok("recipe_fixture \"$1\" k3s-master1 k3s-worker1 k3s-worker2", out, NULL));
	stage_env_new(&e);
	e.lab.out_dir = out;
	free(e.lab.cfg->guest.packages);
	e.lab.cfg->guest.packages = calloc(2, sizeof(char *));
	e.lab.cfg->guest.packages[0] = strdup("htop");
	e.lab.cfg->guest.packages[1] = strdup("jq");
	e.lab.cfg->guest.n_packages = 2;
	kf_err_clear(&e.err);
	assert_int_equal(kf_stage_build_iso.run(&e.lab, &e.err), KF_ECONFIG);
	assert_non_null(strstr(e.err.msg, "cannot install jq offline"));
	snprintf(seed, sizeof(seed), "%s/iso/seed-k3s-master1.iso", out);
	assert_false(kf_fs_exists(seed));
	stage_env_free(&e);
}

static void test_build_iso_rebuilds_only_what_changed(void **state)
{
	struct stage_env e;
	ino_t inst, m1, w1, w2;

	(void)state;
	stage_env_new(&e);
	stage_run(&e); /* after the previous test: everything is up to date */
	inst = inode_of("iso/installer.iso");
	m1 = inode_of("iso/seed-k3s-master1.iso");
	w1 = inode_of("iso/seed-k3s-worker1.iso");
	w2 = inode_of("iso/seed-k3s-worker2.iso");
	stage_run(&e);
	assert_true(inode_of("iso/installer.iso") == inst);
	assert_true(inode_of("iso/seed-k3s-master1.iso") == m1);
	/* one worker's address changes: only its seed is rewritten (temp file + rename) */
	free(e.lab.cfg->nodes[2].ip);
	e.lab.cfg->nodes[2].ip = strdup("192.168.6.22");
	stage_run(&e);
	assert_true(inode_of("iso/installer.iso") == inst);
	assert_true(inode_of("iso/seed-k3s-master1.iso") == m1);
	assert_true(inode_of("iso/seed-k3s-worker1.iso") == w1);
	assert_true(inode_of("iso/seed-k3s-worker2.iso") != w2);
	stage_env_free(&e);
}

/* Deferred durability (up): the stage returns with the images in place and their records
 * still to come; kf_flush_wait brings the records (after each image's fsync). An image left
 * without its record -- a run cut short before its data was on disk -- makes the stage's check
 * fail, and the next run rewrites exactly that image. */
static void test_build_iso_records_only_durable_images(void **state)
{
	struct stage_env e;
	char side[300], *p;
	struct kf_err err;
	ino_t inst, m1, w1;

	(void)state;
	stage_env_new(&e);
	stage_run(&e);
	assert_int_equal(kf_stage_build_iso.check(&e.lab, &err), 0);
	inst = inode_of("iso/installer.iso");
	m1 = inode_of("iso/seed-k3s-master1.iso");
	w1 = inode_of("iso/seed-k3s-worker1.iso");
	/* a cut-short run: worker1's image was replaced, its record never came */
	snprintf(side, sizeof(side), "%s/iso/.seed-k3s-worker1.iso.inputs", g_out);
	assert_int_equal(unlink(side), 0);
	assert_int_not_equal(kf_stage_build_iso.check(&e.lab, &err), 0);
	assert_non_null(strstr(err.msg, "seed-k3s-worker1.iso was not recorded as complete"));
	/* the next run, deferred as up does it */
	e.lab.opts.defer_iso_sync = true;
	stage_run(&e);
	assert_true(inode_of("iso/installer.iso") == inst);
	assert_true(inode_of("iso/seed-k3s-master1.iso") == m1);
	assert_true(inode_of("iso/seed-k3s-worker1.iso") != w1);
	assert_int_equal(kf_flush_wait(&err), 0);
	assert_int_equal(kf_stage_build_iso.check(&e.lab, &err), 0);
	assert_int_equal(kf_fs_read(&p, NULL, side, 256, &err), 0);
	assert_int_equal(strlen(p), KF_SHA256_HEX_LEN + 1);
	free(p);
	/* and nothing is rebuilt after that */
	w1 = inode_of("iso/seed-k3s-worker1.iso");
	stage_run(&e);
	assert_int_equal(kf_flush_wait(&err), 0);
	assert_true(inode_of("iso/seed-k3s-worker1.iso") == w1);
	stage_env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso_remaster_replays_the_boot_setup),
		cmocka_unit_test(test_iso_remaster_makes_autoinstall_the_default_entry),
		cmocka_unit_test(test_iso_remaster_edits_loopback_cfg_too),
		cmocka_unit_test(test_iso_remaster_updates_md5sum_txt),
		cmocka_unit_test(test_iso_remaster_payload_is_byte_identical),
		cmocka_unit_test(test_iso_packages_check_accepts_what_the_pool_and_manifests_hold),
		cmocka_unit_test(test_iso_packages_check_names_every_missing_package_and_the_fix),
		cmocka_unit_test(test_iso_packages_check_ignores_the_installer_only_layer),
		cmocka_unit_test(test_iso_release_check_accepts_22_04_5),
		cmocka_unit_test(test_iso_release_check_refuses_an_older_point_release),
		cmocka_unit_test(test_iso_remaster_refuses_non_ubuntu_iso),
		cmocka_unit_test(test_iso_check_refuses_a_file_that_is_no_iso),
		cmocka_unit_test(test_iso_seed_has_cidata_label_and_files),
		cmocka_unit_test(test_iso_seed_never_writes_through_a_planted_temp_symlink),
		cmocka_unit_test(test_iso_data_nested_paths_and_odd_sizes_round_trip),
		cmocka_unit_test(test_iso_data_refuses_bad_input_and_leaves_nothing),
		cmocka_unit_test(test_iso_data_is_byte_reproducible),
		cmocka_unit_test(test_build_iso_writes_seeds_and_installer),
		cmocka_unit_test(test_build_iso_rebuilds_only_what_changed),
		cmocka_unit_test(test_build_iso_records_only_durable_images),
		cmocka_unit_test(test_build_iso_refuses_packages_the_iso_cannot_install),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
