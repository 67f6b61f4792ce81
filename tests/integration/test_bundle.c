/* The air-gap bundle: export from a real registry into one tar, read it back with tar and
 * skopeo, import it into another real registry; a tampered or truncated bundle loads nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/bundle.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/strv.h"
#include "mirror_fixture.h"

struct world {
	char *dir, *bundle, *extra;
	struct mt_server src;
	struct kf_oci_registry *src_r;
	char s2_digest[KF_OCI_DIGEST_LEN], index_digest[KF_OCI_DIGEST_LEN];
	char layer_digest[KF_OCI_DIGEST_LEN];
	char extra_sha[KF_SHA256_HEX_LEN + 1];
};

static struct world W;

static int push_index(void)
{
	struct mt_blob l1, l2, c1, c2;
	char *m1 = NULL, *m2 = NULL, d1[KF_OCI_DIGEST_LEN], d2[KF_OCI_DIGEST_LEN];
	char hex[KF_SHA256_HEX_LEN + 1];
	struct kf_buf idx = KF_BUF_INIT;
	struct kf_err err;
	int rc = -1;

	mt_blob_random(&l1, 300 * 1024, 21);
	mt_blob_random(&l2, 200 * 1024, 22);
	mt_blob_text(&c1, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"b\":1}");
	mt_blob_text(&c2, "{\"architecture\":\"arm64\",\"os\":\"linux\",\"b\":1}");
	if (mt_push_image(W.src_r, "b/multi", NULL, KF_OCI_MT_OCI_MANIFEST, &c1, &l1, 1, &m1, d1) ||
	    mt_push_image(W.src_r, "b/multi", NULL, KF_OCI_MT_OCI_MANIFEST, &c2, &l2, 1, &m2, d2))
		goto out;
	kf_buf_printf(&idx,
		      "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		      "{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		      "{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
		      KF_OCI_MT_OCI_INDEX, KF_OCI_MT_OCI_MANIFEST, d1, strlen(m1),
		      KF_OCI_MT_OCI_MANIFEST, d2, strlen(m2));
	kf_sha256_hex(idx.data, idx.len, hex);
	snprintf(W.index_digest, sizeof(W.index_digest), "sha256:%s", hex);
	rc = kf_oci_manifest_put(W.src_r, "b/multi", "v2", idx.data, idx.len, KF_OCI_MT_OCI_INDEX,
				 &err);
out:
	free(m1);
	free(m2);
	kf_buf_free(&idx);
	mt_blob_free(&l1);
	mt_blob_free(&l2);
	mt_blob_free(&c1);
	mt_blob_free(&c2);
	return rc;
}

static int group_setup(void **state)
{
	struct kf_oci_registry_opts po = { .push = true };
	struct mt_blob l, c;
	char *m = NULL, *d;
	struct kf_err err;
	const char *extra_text = "k3s binary stand-in\n";
	int rc = -1;

	(void)state;
	memset(&W, 0, sizeof(W));
	W.dir = mt_tmpdir("bundle");
	W.bundle = kf_path_join(W.dir, "lab-bundle.tar");
	W.extra = kf_path_join(W.dir, "k3s");
	d = kf_path_join(W.dir, "src");
	if (mt_registry_start(&W.src, d, NULL, NULL) ||
	    kf_oci_registry_new(&W.src_r, W.src.url, &po, &err))
		goto out;
	kf_fs_write_atomic(W.extra, extra_text, strlen(extra_text), 0755, &err);
	kf_sha256_hex(extra_text, strlen(extra_text), W.extra_sha);
	mt_blob_random(&l, 2 << 20, 31);
	mt_blob_text(&c, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"s2\":1}");
	memcpy(W.layer_digest, l.digest, sizeof(W.layer_digest));
	rc = mt_push_image(W.src_r, "b/schema2", "v1", KF_OCI_MT_DOCKER_MANIFEST, &c, &l, 1, &m,
			   W.s2_digest);
	free(m);
	mt_blob_free(&l);
	mt_blob_free(&c);
	if (!rc)
		rc = push_index();
out:
	free(d);
	return rc;
}

static int group_teardown(void **state)
{
	struct kf_err err;

	(void)state;
	mt_server_stop(&W.src);
	mt_stop_all();
	kf_oci_registry_free(W.src_r);
	if (W.dir)
		kf_fs_remove_tree(W.dir, &err);
	free(W.dir);
	free(W.bundle);
	free(W.extra);
	kf_log_shutdown();
	return 0;
}

static int export_bundle(const char *path)
{
	struct kf_mirror_opts o = { 0 };
	const struct kf_mirror_image imgs[] = { { "b/schema2:v1", NULL },
						{ "b/multi:v2", NULL } };
	struct kf_bundle_file f = { "k3s", W.extra };
	char hex[KF_SHA256_HEX_LEN + 1], fhex[KF_SHA256_HEX_LEN + 1];
	struct kf_err err;
	int rc;

	o.from = W.src.url;
	o.all_platforms = true;
	kf_err_clear(&err);
	rc = kf_bundle_export(&o, imgs, 2, &f, 1, path, hex, &err);
	if (rc)
		fprintf(stderr, "export: %s\n", err.msg);
	else if (kf_sha256_file(path, fhex, &err) != 0 || strcmp(hex, fhex) != 0)
		rc = -1;
	return rc;
}

/* A fresh empty registry for one import. */
static void fresh_target(struct mt_server *t, struct kf_oci_registry **r, const char *name)
{
	char *d = kf_path_join(W.dir, name);
	struct kf_err err;

	assert_int_equal(mt_registry_start(t, d, NULL, NULL), 0);
	assert_int_equal(kf_oci_registry_new(r, t->url, NULL, &err), 0);
	free(d);
}

static void test_bundle_is_a_tar_with_an_oci_layout(void **state)
{
	char *list = NULL, ref[600], *raw = NULL, hex[KF_SHA256_HEX_LEN + 1];
	const char *tar[] = { "tar", "-tf", W.bundle, NULL };
	const char *sk[] = { "skopeo", "inspect", "--raw", ref, NULL };

	(void)state;
	assert_int_equal(export_bundle(W.bundle), 0);
	assert_int_equal(mt_run(tar, &list, 30000), 0);
	assert_non_null(strstr(list, "oci-layout\n"));
	assert_non_null(strstr(list, "index.json\n"));
	assert_non_null(strstr(list, "k3sforge-bundle.json\n"));
	assert_non_null(strstr(list, "files/k3s\n"));
	assert_non_null(strstr(list, W.layer_digest + 7));
	free(list);
	/* skopeo reads the layout by the ref name annotation */
	snprintf(ref, sizeof(ref), "oci-archive:%s:b/multi:v2", W.bundle);
	assert_int_equal(mt_run(sk, &raw, 60000), 0);
	kf_sha256_hex(raw, strlen(raw), hex);
	assert_string_equal(hex, W.index_digest + 7);
	free(raw);
}

static void test_bundle_import_loads_images_with_digests_and_files(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	struct kf_bundle_import_stats st;
	char d[KF_OCI_DIGEST_LEN], *fdir = kf_path_join(W.dir, "files-out"), *got = NULL;
	char *fpath = kf_path_join(fdir, "k3s"), hex[KF_SHA256_HEX_LEN + 1];
	struct kf_err err;

	(void)state;
	assert_int_equal(export_bundle(W.bundle), 0);
	fresh_target(&t, &r, "imp1");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_import(W.bundle, t.url, NULL, fdir, &st, &err), 0);
	assert_int_equal(st.images, 2);
	assert_int_equal(st.files, 1);
	assert_int_equal(kf_oci_manifest_head(r, "b/schema2", "v1", d, &err), 0);
	assert_string_equal(d, W.s2_digest);
	assert_int_equal(kf_oci_manifest_head(r, "b/multi", "v2", d, &err), 0);
	assert_string_equal(d, W.index_digest);
	assert_int_equal(kf_sha256_file(fpath, hex, &err), 0);
	assert_string_equal(hex, W.extra_sha);
	/* a second import finds every blob there */
	assert_int_equal(kf_bundle_import(W.bundle, t.url, NULL, NULL, &st, &err), 0);
	assert_int_equal(st.blobs_loaded, 0);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(fdir);
	free(fpath);
	free(got);
}

static void assert_nothing_loaded(struct kf_oci_registry *r)
{
	char **v = NULL;
	size_t n = 9;
	struct kf_err err;

	assert_int_equal(kf_oci_catalog(r, &v, &n, 0, &err), 0);
	assert_int_equal(n, 0);
	kf_strv_free(v, n);
}

static void test_bundle_import_refuses_a_tampered_blob(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	char *bad = kf_path_join(W.dir, "tampered.tar"), *data = NULL, *pos;
	size_t len;
	struct kf_err err;

	(void)state;
	assert_int_equal(export_bundle(bad), 0);
	assert_int_equal(kf_fs_read(&data, &len, bad, 64 << 20, &err), 0);
	/* flip a byte 1000 bytes into the 2 MiB layer's data */
	pos = memmem(data, len, W.layer_digest + 7, 64);
	assert_non_null(pos);
	pos = data + ((size_t)(pos - data) / 512 + 1) * 512 + 1000;
	*pos ^= 0x55;
	assert_int_equal(kf_fs_write_atomic(bad, data, len, 0644, &err), 0);
	free(data);
	fresh_target(&t, &r, "imp2");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_import(bad, t.url, NULL, NULL, NULL, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, W.layer_digest + 7));
	assert_nothing_loaded(r);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(bad);
}

/* kf_bundle_open verifies, kf_bundle_load loads later: a manifest altered in between (in place,
 * through the same file) is refused when it is read for loading. */
static void test_bundle_load_refuses_a_manifest_changed_after_open(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	struct kf_bundle *b = NULL;
	char *path = kf_path_join(W.dir, "changed.tar"), *data = NULL, *pos;
	size_t len, off;
	struct kf_err err;
	FILE *f;

	(void)state;
	assert_int_equal(export_bundle(path), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_open(&b, path, &err), 0);
	assert_int_equal(kf_bundle_image_count(b), 2);
	assert_int_equal(kf_bundle_file_count(b), 1);
	/* the schema 2 manifest's entry: its header names the digest, its data follows */
	assert_int_equal(kf_fs_read(&data, &len, path, 64 << 20, &err), 0);
	pos = memmem(data, len, W.s2_digest + 7, 64);
	assert_non_null(pos);
	off = ((size_t)(pos - data) / 512 + 1) * 512;
	assert_true(data[off] == '{');
	pos = memchr(data + off, ' ', 200);
	assert_non_null(pos);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fseek(f, (long)(pos - data), SEEK_SET), 0);
	fputc('\t', f);
	assert_int_equal(fclose(f), 0);
	free(data);
	fresh_target(&t, &r, "imp5");
	assert_int_equal(kf_bundle_load(b, t.url, NULL, NULL, NULL, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, "changed while being loaded"));
	assert_nothing_loaded(r);
	kf_bundle_close(b);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(path);
}

static void test_bundle_import_refuses_a_truncated_bundle(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	char *bad = kf_path_join(W.dir, "truncated.tar");
	struct kf_err err;

	(void)state;
	assert_int_equal(export_bundle(bad), 0);
	/* cut the end-of-archive marker and the listing's tail off */
	{
		FILE *f = fopen(bad, "r+");
		long size;
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fclose(f);
		assert_int_equal(truncate(bad, size - 1500), 0);
	}
	fresh_target(&t, &r, "imp3");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_import(bad, t.url, NULL, NULL, NULL, &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_nothing_loaded(r);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(bad);
}

static void test_bundle_import_refuses_an_unlisted_entry(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	char *bad = kf_path_join(W.dir, "extra.tar"), *fdir = kf_path_join(W.dir, "extra-src");
	char *evil = kf_path_join(fdir, "files/evil"), *fsub = kf_path_join(fdir, "files");
	struct kf_err err;
	int rc;

	(void)state;
	assert_int_equal(export_bundle(bad), 0);
	assert_int_equal(kf_fs_mkdirs(fsub, 0755, &err), 0);
	free(fsub);
	assert_int_equal(kf_fs_write_atomic(evil, "x", 1, 0644, &err), 0);
	{
		/* GNU tar appends before the end-of-archive marker */
		const char *argv[] = { "tar", "--format=ustar", "-rf", bad, "-C", fdir, "files/evil",
				       NULL };
		assert_int_equal(mt_run(argv, NULL, 30000), 0);
	}
	fresh_target(&t, &r, "imp5");
	kf_err_clear(&err);
	rc = kf_bundle_import(bad, t.url, NULL, NULL, NULL, &err);
	if (rc != KF_EPARSE)
		fprintf(stderr, "import: %s\n", err.msg);
	assert_int_equal(rc, KF_EPARSE);
	assert_non_null(strstr(err.msg, "not listed"));
	assert_nothing_loaded(r);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(bad);
	free(fdir);
	free(evil);
}

static void test_bundle_command_exports_and_imports(void **state)
{
	struct mt_server t;
	struct kf_oci_registry *r = NULL;
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	char *out = kf_path_join(W.dir, "out-cmd"), *b = kf_path_join(W.dir, "cmd.tar");
	char *sha = kf_path_join(W.dir, "cmd.tar.sha256"), d[KF_OCI_DIGEST_LEN];
	char fileopt[600];
	struct kf_err err;

	(void)state;
	snprintf(fileopt, sizeof(fileopt), "k3s=%s", W.extra);
	{
		const char *argv[] = { bin, "-q", "-o", out, "bundle", "export", b, "--from",
				       W.src.url, "--file", fileopt, "b/schema2:v1", NULL };
		assert_int_equal(mt_run(argv, NULL, 120000), 0);
	}
	assert_true(kf_fs_exists(sha));
	fresh_target(&t, &r, "imp4");
	{
		/* the verification pass (every byte hashed before anything loads) shows progress */
		const char *argv[] = { bin, "--json", "-o", out, "bundle", "import", b, "--to", t.url,
				       NULL };
		char *events = NULL, want[160];
		struct stat sb;
		assert_int_equal(mt_run(argv, &events, 120000), 0);
		assert_int_equal(stat(b, &sb), 0);
		snprintf(want, sizeof(want), "\"what\":\"verify bundle\",\"bytes\":%lld,\"total_bytes\":%lld",
			 (long long)sb.st_size, (long long)sb.st_size);
		assert_non_null(events);
		if (!strstr(events, want) || !strstr(events, "\"final\":true"))
			fail_msg("no final 'verify bundle' progress (%s) in: %s", want, events);
		free(events);
	}
	assert_int_equal(kf_oci_manifest_head(r, "b/schema2", "v1", d, &err), 0);
	assert_string_equal(d, W.s2_digest);
	mt_server_stop(&t);
	kf_oci_registry_free(r);
	free(out);
	free(b);
	free(sha);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle_is_a_tar_with_an_oci_layout),
		cmocka_unit_test(test_bundle_import_loads_images_with_digests_and_files),
		cmocka_unit_test(test_bundle_import_refuses_a_tampered_blob),
		cmocka_unit_test(test_bundle_import_refuses_a_truncated_bundle),
		cmocka_unit_test(test_bundle_load_refuses_a_manifest_changed_after_open),
		cmocka_unit_test(test_bundle_import_refuses_an_unlisted_entry),
		cmocka_unit_test(test_bundle_command_exports_and_imports),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
