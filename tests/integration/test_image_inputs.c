/* Image references and configuration reach mirror and bundle the same way from every input:
 * a reference with ".." (or any other break of the grammar) is refused from the command line and
 * from --images lists before anything is contacted, and an explicit -c is read even when
 * --from, --to and the images are all on the command line (issue 15 items 9 and 10). The
 * binary runs as a user runs it, against real registries on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "mirror_fixture.h"
#include "registry_fixture.h"

static char *dir;
static const char *bin;

/* Runs k3sforge with args (NULL-ended), stdout and stderr together into *out. */
static int run(char **out, ...)
{
	const char *argv[40] = { "sh", "-c", "exec \"$0\" \"$@\" 2>&1", bin };
	size_t n = 4;
	va_list ap;
	const char *a;

	va_start(ap, out);
	while ((a = va_arg(ap, const char *)) && n < 39)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return mt_run(argv, out, 120000);
}

static char *sub(const char *name)
{
	return kf_path_join(dir, name);
}

static void write_file(const char *path, const char *text)
{
	struct kf_err err;

	assert_int_equal(kf_fs_write_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void expect_refused(int rc, char **outp, const char *where)
{
	char *out = *outp;

	if (rc == 0 || !strstr(out, "is not an image reference") || !strstr(out, where) ||
	    !strstr(out, "'..'"))
		fail_msg("exit %d, expected the reference refused at %s: %s", rc, where, out);
	free(out);
	*outp = NULL;
}

/* Port 9 on loopback: nothing listens; reaching it would be a different error. */
#define NOWHERE "http://127.0.0.1:9"

static void test_mirror_refuses_a_dot_dot_reference_argument(void **state)
{
	char *out = NULL, *o = sub("out1");
	int rc;

	(void)state;
	rc = run(&out, "-o", o, "mirror", "--from", NOWHERE, "--to", NOWHERE,
			   "busybox:1", "h/../../v2/x:1", NULL);
	expect_refused(rc, &out, "argument 2");
	free(o);
}

static void test_mirror_refuses_a_dot_dot_reference_in_a_list(void **state)
{
	char *out = NULL, *o = sub("out2"), *list = sub("list2.txt");
	int rc;

	(void)state;
	write_file(list, "# images\nbusybox:1\nbusybox:1 lab/../../v2/x:1\n");
	rc = run(&out, "-o", o, "mirror", "--from", NOWHERE, "--to", NOWHERE,
			   "--images", list, NULL);
	expect_refused(rc, &out, "list2.txt:3");
	free(o);
	free(list);
}

static void test_bundle_export_refuses_a_dot_dot_reference(void **state)
{
	char *out = NULL, *o = sub("out3"), *list = sub("list3.txt"), *b = sub("b3.tar");
	int rc;

	(void)state;
	rc = run(&out, "-o", o, "bundle", "export", b, "--from", NOWHERE,
			   "a/../b:1", NULL);
	expect_refused(rc, &out, "argument 3");
	write_file(list, "a/../b:1\n");
	rc = run(&out, "-o", o, "bundle", "export", b, "--from", NOWHERE, "--images",
			   list, NULL);
	expect_refused(rc, &out, "list3.txt:1");
	assert_false(kf_fs_exists(b));
	free(o);
	free(list);
	free(b);
}

/* Item 9: with everything on the command line the -c file used to be skipped unread. */
static void test_mirror_reads_an_explicit_config_with_everything_on_the_command_line(void **state)
{
	char *out = NULL, *o = sub("out4"), *cfg = sub("broken.yaml");
	int rc;

	(void)state;
	write_file(cfg, "timeouts:\n  download: [\n");
	rc = run(&out, "-c", cfg, "-o", o, "mirror", "--from", NOWHERE, "--to", NOWHERE,
		 "busybox:1", NULL);
	if (rc == 0 || !strstr(out, "broken.yaml:"))
		fail_msg("exit %d, expected the broken -c file reported: %s", rc, out);
	free(out);
	rc = run(&out, "-c", cfg, "-o", o, "bundle", "export", "x.tar", "--from", NOWHERE,
		 "busybox:1", NULL);
	if (rc == 0 || !strstr(out, "broken.yaml:"))
		fail_msg("bundle export: exit %d, expected the broken -c file reported: %s", rc, out);
	free(out);
	free(o);
	free(cfg);
}

/* Item 9: `mirror -c lab.yaml --to <the lab registry>` verifies the registry with the lab CA
 * (<out>/pki/ca.crt) as mirror without --to does; it was dropped with the config. The lab
 * registry is written through its loopback push instance, which k3sforge starts from the lab's
 * certificate (<out>/pki/registry.crt): a TLS push that succeeds was verified with the lab CA. */
static void test_mirror_to_the_lab_registry_uses_the_lab_ca_from_the_config(void **state)
{
	char *o = sub("out5"), *pki = sub("out5/pki"), *ca = sub("out5/pki/ca.crt");
	char *cakey = sub("out5/pki/ca.key"), *cfg = sub("lab.yaml");
	char *sdir = sub("src5"), *tdir = sub("dst5"), *out = NULL, yaml[1024], to[64];
	struct mt_server src;
	int port = mt_free_port();
	struct kf_oci_registry *sr = NULL;
	struct kf_oci_registry_opts po = { .push = true };
	struct mt_blob l, c;
	char *m = NULL, d[KF_OCI_DIGEST_LEN];
	struct kf_err err;
	int rc;

	(void)state;
	assert_int_equal(kf_fs_mkdirs(pki, 0755, &err), 0);
	/* the lab's CA and registry certificate where prep puts them (regfix: tests/lib) */
	assert_int_equal(regfix_make_ca(pki, "ca"), 0);
	assert_int_equal(regfix_issue(pki, "registry", ca, cakey, "IP:127.0.0.1", "127.0.0.1"), 0);
	assert_int_equal(mt_registry_start(&src, sdir, NULL, NULL), 0);
	assert_int_equal(kf_oci_registry_new(&sr, src.url, &po, &err), 0);
	mt_blob_random(&l, 4096, 5);
	mt_blob_text(&c, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	assert_int_equal(mt_push_image(sr, "app/x", "v1", KF_OCI_MT_OCI_MANIFEST, &c, &l, 1, &m, d),
			 0);
	snprintf(yaml, sizeof(yaml),
		 "network:\n  subnet: 127.0.0.0/24\nregistry:\n  host_ip: 127.0.0.1\n  port: %d\n"
		 "  listen: \"127.0.0.1:%d\"\n  storage_dir: \"%s\"\n"
		 "nodes:\n  - { name: m, role: master, ip: 127.0.0.10 }\n", port, port, tdir);
	write_file(cfg, yaml);
	snprintf(to, sizeof(to), "127.0.0.1:%d", port);
	rc = run(&out, "-c", cfg, "-o", o, "mirror", "--from", src.url, "--to", to, "app/x:v1",
		 NULL);
	mt_server_stop(&src);
	{
		char *o2 = NULL;
		/* the push instance k3sforge started (and the lab one, if any) */
		int rs = run(&o2, "-c", cfg, "-o", o, "registry", "stop", NULL);
		if (rs != 0)
			fail_msg("registry stop: exit %d: %s", rs, o2);
		free(o2);
	}
	if (rc != 0)
		fail_msg("mirror into the lab registry named by --to: exit %d: %s", rc, out);
	free(out);
	kf_oci_registry_free(sr);
	mt_blob_free(&l);
	mt_blob_free(&c);
	free(m);
	free(o);
	free(pki);
	free(ca);
	free(cakey);
	free(cfg);
	free(sdir);
	free(tdir);
}

static int group_setup(void **state)
{
	(void)state;
	bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	dir = mt_tmpdir("image-inputs");
	return dir ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct kf_err err;

	(void)state;
	mt_stop_all();
	if (dir)
		kf_fs_remove_tree(dir, &err);
	free(dir);
	kf_log_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mirror_refuses_a_dot_dot_reference_argument),
		cmocka_unit_test(test_mirror_refuses_a_dot_dot_reference_in_a_list),
		cmocka_unit_test(test_bundle_export_refuses_a_dot_dot_reference),
		cmocka_unit_test(test_mirror_reads_an_explicit_config_with_everything_on_the_command_line),
		cmocka_unit_test(test_mirror_to_the_lab_registry_uses_the_lab_ca_from_the_config),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
