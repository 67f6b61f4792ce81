/* Hostile bundles, written byte by byte here (not by the exporter): a digest that is not one,
 * a manifest naming a blob the archive lacks, nested indexes, a ref with "..", and the temporary
 * files of export and import never written through a planted symlink. Imports go to a real
 * docker-registry on loopback; "nothing loaded" is its empty catalog. */
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
#include "k3sforge/tar.h"
#include "mirror_fixture.h"

static char *dir;

/* ---------------------------------------------------------------- a bundle writer for tests */

struct craft {
	struct kf_buf tar, blobs, images;
	int n_blobs, n_images;
};

static void craft_entry(struct craft *c, const char *name, const void *data, size_t len)
{
	unsigned char h[KF_TAR_BLOCK];
	static const unsigned char zero[KF_TAR_BLOCK];

	kf_tar_header(h, name, len, 0644, 0);
	kf_buf_append(&c->tar, h, sizeof(h));
	kf_buf_append(&c->tar, data, len);
	if (len % KF_TAR_BLOCK)
		kf_buf_append(&c->tar, zero, KF_TAR_BLOCK - len % KF_TAR_BLOCK);
}

static void craft_init(struct craft *c)
{
	memset(c, 0, sizeof(*c));
	craft_entry(c, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}

/* Adds a blob (listed) and returns its digest in d. */
static void craft_blob(struct craft *c, const char *text, char d[KF_OCI_DIGEST_LEN])
{
	char hex[KF_SHA256_HEX_LEN + 1], name[100];

	kf_sha256_hex(text, strlen(text), hex);
	snprintf(d, KF_OCI_DIGEST_LEN, "sha256:%s", hex);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	craft_entry(c, name, text, strlen(text));
	kf_buf_printf(&c->blobs, "%s{\"digest\":\"%s\",\"size\":%zu}", c->n_blobs++ ? "," : "", d,
		      strlen(text));
}

static void craft_image(struct craft *c, const char *ref, const char *digest, const char *mt)
{
	kf_buf_printf(&c->images, "%s{\"ref\":\"%s\",\"source\":\"x\",\"digest\":\"%s\","
		      "\"mediaType\":\"%s\"}", c->n_images++ ? "," : "", ref, digest, mt);
}

static char *craft_finish(struct craft *c, const char *file)
{
	static const char index[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	static const unsigned char zero[2 * KF_TAR_BLOCK];
	char hex[KF_SHA256_HEX_LEN + 1], *path = kf_path_join(dir, file);
	struct kf_buf listing = KF_BUF_INIT;
	struct kf_err err;

	kf_sha256_hex(index, strlen(index), hex);
	kf_buf_printf(&listing, "{\"k3sforgeBundle\":1,\"indexSha256\":\"%s\",\"images\":[%s],"
		      "\"blobs\":[%s],\"files\":[]}", hex, kf_buf_str(&c->images),
		      kf_buf_str(&c->blobs));
	craft_entry(c, "index.json", index, strlen(index));
	craft_entry(c, "k3sforge-bundle.json", listing.data, listing.len);
	kf_buf_append(&c->tar, zero, sizeof(zero));
	assert_int_equal(kf_fs_write_atomic(path, c->tar.data, c->tar.len, 0644, &err), 0);
	kf_buf_free(&listing);
	kf_buf_free(&c->tar);
	kf_buf_free(&c->blobs);
	kf_buf_free(&c->images);
	return path;
}

/* An OCI image manifest text with config and layer digests as given (not checked). */
static void manifest_text(char *out, size_t n, const char *config, size_t config_size,
			  const char *layer, size_t layer_size)
{
	snprintf(out, n,
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
		 "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
		 "\"digest\":\"%s\",\"size\":%zu}]}",
		 KF_OCI_MT_OCI_MANIFEST, config, config_size, layer, layer_size);
}

/* A complete image (config, layer, manifest) in the bundle; its manifest digest in md. */
static void craft_good_image(struct craft *c, const char *tag_text, char md[KF_OCI_DIGEST_LEN])
{
	char cd[KF_OCI_DIGEST_LEN], ld[KF_OCI_DIGEST_LEN], cfg[200], layer[200], m[1024];

	snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\",\"t\":\"%s\"}",
		 tag_text);
	snprintf(layer, sizeof(layer), "layer of %s", tag_text);
	craft_blob(c, cfg, cd);
	craft_blob(c, layer, ld);
	manifest_text(m, sizeof(m), cd, strlen(cfg), ld, strlen(layer));
	craft_blob(c, m, md);
}

struct target {
	struct mt_server s;
	struct kf_oci_registry *r;
};

static void target_start(struct target *t, const char *name)
{
	char *d = kf_path_join(dir, name);
	struct kf_err err;

	assert_int_equal(mt_registry_start(&t->s, d, NULL, NULL), 0);
	assert_int_equal(kf_oci_registry_new(&t->r, t->s.url, NULL, &err), 0);
	free(d);
}

static size_t target_repos(struct target *t)
{
	char **v = NULL;
	size_t n = 0;
	struct kf_err err;

	assert_int_equal(kf_oci_catalog(t->r, &v, &n, 0, &err), 0);
	kf_strv_free(v, n);
	return n;
}

static void target_stop(struct target *t)
{
	mt_server_stop(&t->s);
	kf_oci_registry_free(t->r);
}

/* ---------------------------------------------------------------- tests */

/* Issue 15 item 4: the config digest "x" was formatted as blobs/sha256/<digest + 7>, reading
 * past the string (ASan heap-buffer-overflow). Now refused as a malformed digest at open. */
static void test_bundle_refuses_a_config_digest_that_is_not_a_digest(void **state)
{
	struct craft c;
	struct target t;
	char ld[KF_OCI_DIGEST_LEN], md[KF_OCI_DIGEST_LEN], m[1024], *path;
	struct kf_err err;

	(void)state;
	craft_init(&c);
	craft_blob(&c, "layer", ld);
	manifest_text(m, sizeof(m), "x", 1, ld, 5);
	craft_blob(&c, m, md);
	craft_image(&c, "evil/img:1", md, KF_OCI_MT_OCI_MANIFEST);
	path = craft_finish(&c, "bad-digest.tar");
	target_start(&t, "t-digest");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_import(path, t.s.url, NULL, NULL, NULL, &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "config"));
	assert_non_null(strstr(err.msg, "'x' is not a digest"));
	assert_int_equal(target_repos(&t), 0);
	target_stop(&t);
	free(path);
}

/* Uppercase hex, sha512 and a digest with trailing bytes are refused the same way. */
static void test_bundle_refuses_layer_digests_of_other_forms(void **state)
{
	const char *forms[] = {
		"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/../x",
		"sha256:",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct craft c;
		struct kf_bundle *b = NULL;
		char cd[KF_OCI_DIGEST_LEN], md[KF_OCI_DIGEST_LEN], m[1024], *path, name[32];
		struct kf_err err;

		craft_init(&c);
		craft_blob(&c, "{}", cd);
		manifest_text(m, sizeof(m), cd, 2, forms[i], 5);
		craft_blob(&c, m, md);
		craft_image(&c, "evil/img:1", md, KF_OCI_MT_OCI_MANIFEST);
		snprintf(name, sizeof(name), "form%zu.tar", i);
		path = craft_finish(&c, name);
		kf_err_clear(&err);
		assert_int_equal(kf_bundle_open(&b, path, &err), KF_EPARSE);
		assert_null(b);
		assert_non_null(strstr(err.msg, "layers[0]"));
		free(path);
	}
}

/* Issue 15 item 5: image 1 complete, image 2's manifest names a layer the archive lacks. The
 * old import pushed and tagged image 1, then failed on image 2; now nothing is pushed. */
static void test_bundle_with_a_missing_layer_loads_nothing(void **state)
{
	struct craft c;
	struct target t;
	char md1[KF_OCI_DIGEST_LEN], cd[KF_OCI_DIGEST_LEN], md2[KF_OCI_DIGEST_LEN], m[1024];
	char hex[KF_SHA256_HEX_LEN + 1], absent[KF_OCI_DIGEST_LEN], *path;
	struct kf_err err;

	(void)state;
	craft_init(&c);
	craft_good_image(&c, "one", md1);
	craft_blob(&c, "{\"os\":\"linux\"}", cd);
	kf_sha256_hex("not in the bundle", 17, hex);
	snprintf(absent, sizeof(absent), "sha256:%s", hex);
	manifest_text(m, sizeof(m), cd, 14, absent, 17);
	craft_blob(&c, m, md2);
	craft_image(&c, "lab/one:1", md1, KF_OCI_MT_OCI_MANIFEST);
	craft_image(&c, "lab/two:1", md2, KF_OCI_MT_OCI_MANIFEST);
	path = craft_finish(&c, "missing-layer.tar");
	target_start(&t, "t-missing");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_import(path, t.s.url, NULL, NULL, NULL, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, absent));
	assert_non_null(strstr(err.msg, "not in the bundle"));
	assert_int_equal(target_repos(&t), 0);
	target_stop(&t);
	free(path);
}

/* A layer present but of another size than its descriptor says is refused before loading. */
static void test_bundle_refuses_a_blob_of_the_wrong_size(void **state)
{
	struct craft c;
	struct kf_bundle *b = NULL;
	char cd[KF_OCI_DIGEST_LEN], ld[KF_OCI_DIGEST_LEN], md[KF_OCI_DIGEST_LEN], m[1024], *path;
	struct kf_err err;

	(void)state;
	craft_init(&c);
	craft_blob(&c, "{}", cd);
	craft_blob(&c, "layer", ld);
	manifest_text(m, sizeof(m), cd, 2, ld, 4);
	craft_blob(&c, m, md);
	craft_image(&c, "lab/x:1", md, KF_OCI_MT_OCI_MANIFEST);
	path = craft_finish(&c, "wrong-size.tar");
	kf_err_clear(&err);
	assert_int_equal(kf_bundle_open(&b, path, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, "is 5 bytes but manifest"));
	free(path);
}

static void index_text(char *out, size_t n, const char *mt, const char *child_mt,
		       const char *child, size_t child_size)
{
	snprintf(out, n,
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\","
		 "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
		 "\"architecture\":\"amd64\"}}]}", mt, child_mt, child, child_size);
}

/* An index of an index of a manifest: the closure is followed through both, and a layer
 * missing at the bottom refuses the bundle; complete, it loads with the tag on the top index. */
static void test_bundle_verifies_and_loads_nested_indexes(void **state)
{
	for (int complete = 0; complete < 2; complete++) {
		struct craft c;
		struct target t;
		char md[KF_OCI_DIGEST_LEN], i1[KF_OCI_DIGEST_LEN], i2[KF_OCI_DIGEST_LEN];
		char cd[KF_OCI_DIGEST_LEN], hex[KF_SHA256_HEX_LEN + 1], ld[KF_OCI_DIGEST_LEN];
		char m[1024], x1[1024], x2[1024], got[KF_OCI_DIGEST_LEN], *path;
		struct kf_err err;
		int rc;

		craft_init(&c);
		if (complete) {
			craft_good_image(&c, "nested", md);
			{
				/* the manifest text again, for its size */
				char cfg[200], layer[200];
				snprintf(cfg, sizeof(cfg),
					 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"t\":\"%s\"}",
					 "nested");
				snprintf(layer, sizeof(layer), "layer of %s", "nested");
				kf_sha256_hex(cfg, strlen(cfg), hex);
				snprintf(cd, sizeof(cd), "sha256:%s", hex);
				kf_sha256_hex(layer, strlen(layer), hex);
				snprintf(ld, sizeof(ld), "sha256:%s", hex);
				manifest_text(m, sizeof(m), cd, strlen(cfg), ld, strlen(layer));
			}
		} else {
			craft_blob(&c, "{}", cd);
			kf_sha256_hex("absent", 6, hex);
			snprintf(ld, sizeof(ld), "sha256:%s", hex);
			manifest_text(m, sizeof(m), cd, 2, ld, 6);
			craft_blob(&c, m, md);
		}
		index_text(x1, sizeof(x1), KF_OCI_MT_OCI_INDEX, KF_OCI_MT_OCI_MANIFEST, md, strlen(m));
		craft_blob(&c, x1, i1);
		index_text(x2, sizeof(x2), KF_OCI_MT_OCI_INDEX, KF_OCI_MT_OCI_INDEX, i1, strlen(x1));
		craft_blob(&c, x2, i2);
		craft_image(&c, "lab/nested:2", i2, KF_OCI_MT_OCI_INDEX);
		path = craft_finish(&c, complete ? "nested-ok.tar" : "nested-missing.tar");
		target_start(&t, complete ? "t-nested-ok" : "t-nested-missing");
		kf_err_clear(&err);
		rc = kf_bundle_import(path, t.s.url, NULL, NULL, NULL, &err);
		if (!complete) {
			assert_int_equal(rc, KF_EDIGEST);
			assert_non_null(strstr(err.msg, ld));
			assert_int_equal(target_repos(&t), 0);
		} else {
			if (rc)
				fail_msg("import: %s", err.msg);
			assert_int_equal(kf_oci_manifest_head(t.r, "lab/nested", "2", got, &err), 0);
			assert_string_equal(got, i2);
			assert_int_equal(kf_oci_manifest_head(t.r, "lab/nested", i1, NULL, &err), 0);
			assert_int_equal(kf_oci_manifest_head(t.r, "lab/nested", md, NULL, &err), 0);
		}
		target_stop(&t);
		free(path);
	}
}

/* Issue 15 item 10: a bundle ref is held to the same grammar as the command line and the
 * config ("h/../../v2/..." would reach another endpoint once curl normalises the URL). */
static void test_bundle_refuses_a_ref_with_dot_dot(void **state)
{
	const char *refs[] = { "h/../../v2/x:1", "lab/./x:1", "lab//x:1", "Lab/x:1", "lab/x:-1",
			       "lab/x:1@sha256:12" };
	(void)state;
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		struct craft c;
		struct kf_bundle *b = NULL;
		char md[KF_OCI_DIGEST_LEN], *path, name[32];
		struct kf_err err;

		craft_init(&c);
		craft_good_image(&c, "ref", md);
		craft_image(&c, refs[i], md, KF_OCI_MT_OCI_MANIFEST);
		snprintf(name, sizeof(name), "ref%zu.tar", i);
		path = craft_finish(&c, name);
		kf_err_clear(&err);
		if (kf_bundle_open(&b, path, &err) != KF_EPARSE)
			fail_msg("ref '%s' was accepted", refs[i]);
		assert_non_null(strstr(err.msg, "image entry 0"));
		if (i == 0 && !strstr(err.msg, "ref 'h/../../v2/x:1' is not an image reference (at "
					     "character 3): bad repository name component '..'"))
			fail_msg("the ref and its place are not named: %s", err.msg);
		free(path);
	}
}

/* Issue 15 item 7: export wrote <out>.tar.tmp.<pid> with fopen("wb"), so a symlink planted
 * there made it overwrite the file the link points at. */
static void test_bundle_export_never_writes_through_a_planted_temp_symlink(void **state)
{
	char *out = kf_path_join(dir, "planted.tar"), *victim = kf_path_join(dir, "victim");
	char link[1200], hex[KF_SHA256_HEX_LEN + 1];
	struct kf_mirror_opts o = { 0 };
	struct kf_bundle_file f = { "victim-copy", NULL };
	struct kf_bundle *b = NULL;
	struct kf_err err;
	char *data = NULL;
	size_t len;

	(void)state;
	f.path = victim;
	assert_int_equal(kf_fs_write_atomic(victim, "precious\n", 9, 0644, &err), 0);
	snprintf(link, sizeof(link), "%s.tmp.%ld", out, (long)getpid());
	assert_int_equal(symlink(victim, link), 0);
	kf_err_clear(&err);
	if (kf_bundle_export(&o, NULL, 0, &f, 1, out, hex, &err) != 0)
		fail_msg("export: %s", err.msg);
	assert_int_equal(kf_fs_read(&data, &len, victim, 1024, &err), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(data, "precious\n", 9);
	free(data);
	assert_int_equal(kf_bundle_open(&b, out, &err), 0);
	assert_int_equal(kf_bundle_file_count(b), 1);
	kf_bundle_close(b);
	unlink(link);
	free(out);
	free(victim);
}

/* Import's copy of bundle files wrote <dir>/<name>.tmp.<pid> the same way. */
static void test_bundle_import_never_writes_files_through_a_planted_temp_symlink(void **state)
{
	char *out = kf_path_join(dir, "files.tar"), *victim = kf_path_join(dir, "victim2");
	char *src = kf_path_join(dir, "payload"), *fdir = kf_path_join(dir, "files-in");
	char *copied = kf_path_join(fdir, "payload"), link[1200], hex[KF_SHA256_HEX_LEN + 1];
	struct kf_mirror_opts o = { 0 };
	struct kf_bundle_file f = { "payload", NULL };
	struct kf_err err;
	char *data = NULL;
	size_t len;

	(void)state;
	f.path = src;
	assert_int_equal(kf_fs_write_atomic(victim, "precious\n", 9, 0644, &err), 0);
	assert_int_equal(kf_fs_write_atomic(src, "payload\n", 8, 0644, &err), 0);
	assert_int_equal(kf_bundle_export(&o, NULL, 0, &f, 1, out, hex, &err), 0);
	assert_int_equal(kf_fs_mkdirs(fdir, 0755, &err), 0);
	snprintf(link, sizeof(link), "%s.tmp.%ld", copied, (long)getpid());
	assert_int_equal(symlink(victim, link), 0);
	kf_err_clear(&err);
	if (kf_bundle_import(out, NULL, NULL, fdir, NULL, &err) != 0)
		fail_msg("import: %s", err.msg);
	assert_int_equal(kf_fs_read(&data, &len, victim, 1024, &err), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(data, "precious\n", 9);
	free(data);
	assert_int_equal(kf_fs_read(&data, &len, copied, 1024, &err), 0);
	assert_int_equal(len, 8);
	free(data);
	unlink(link);
	free(out);
	free(victim);
	free(src);
	free(fdir);
	free(copied);
}

/* The verify pass looked every entry up by a linear scan (for duplicates, then for each listed
 * blob), so an archive of many small entries cost n^2 string compares before it was refused:
 * 60000 headers took minutes under ASan. Lookups are hashed now. */
static void test_bundle_with_many_entries_is_refused_quickly(void **state)
{
	struct craft c;
	struct kf_bundle *b = NULL;
	char name[100], *path;
	struct kf_err err;
	double t0;
	int rc;

	(void)state;
	craft_init(&c);
	for (int i = 0; i < 60000; i++) {
		snprintf(name, sizeof(name), "files/f%d", i);
		craft_entry(&c, name, "", 0);
	}
	path = craft_finish(&c, "many.tar");
	kf_err_clear(&err);
	t0 = kf_now_mono();
	rc = kf_bundle_open(&b, path, &err);
	if (kf_now_mono() - t0 > 20)
		fail_msg("verifying 60000 entries took %.0f s", kf_now_mono() - t0);
	assert_int_equal(rc, KF_EPARSE);
	assert_non_null(strstr(err.msg, "not listed"));
	unlink(path);
	free(path);
}

static int group_setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("bundle-crafted");
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
		cmocka_unit_test(test_bundle_refuses_a_config_digest_that_is_not_a_digest),
		cmocka_unit_test(test_bundle_refuses_layer_digests_of_other_forms),
		cmocka_unit_test(test_bundle_with_a_missing_layer_loads_nothing),
		cmocka_unit_test(test_bundle_refuses_a_blob_of_the_wrong_size),
		cmocka_unit_test(test_bundle_verifies_and_loads_nested_indexes),
		cmocka_unit_test(test_bundle_refuses_a_ref_with_dot_dot),
		cmocka_unit_test(test_bundle_export_never_writes_through_a_planted_temp_symlink),
		cmocka_unit_test(test_bundle_import_never_writes_files_through_a_planted_temp_symlink),
		cmocka_unit_test(test_bundle_with_many_entries_is_refused_quickly),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
