/* The mirror engine against two real docker-registry instances on loopback (and a TLS one, and
 * the fault proxy in between): synthetic images built here, digests checked through the API and
 * with skopeo as an independent reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/mirror.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/strv.h"
#include "mirror_fixture.h"

struct world {
	char *dir;
	struct mt_server src, dst;
	struct kf_oci_registry *src_r, *dst_r;
	char schema2_digest[KF_OCI_DIGEST_LEN], oci_digest[KF_OCI_DIGEST_LEN];
	char index_digest[KF_OCI_DIGEST_LEN], amd64_digest[KF_OCI_DIGEST_LEN];
	char arm64_digest[KF_OCI_DIGEST_LEN], att_digest[KF_OCI_DIGEST_LEN];
	char big_digest[KF_OCI_DIGEST_LEN];
};

static struct world W;

static char *sub(const char *name)
{
	return kf_path_join(W.dir, name);
}

static int push_multi(void)
{
	struct mt_blob l1, l3, l4, att, c1, c2, c3;
	char *m1 = NULL, *m2 = NULL, *m3 = NULL, hex[KF_SHA256_HEX_LEN + 1];
	struct kf_buf idx = KF_BUF_INIT;
	struct kf_err err;
	int rc = -1;

	mt_blob_random(&l1, 1 << 20, 1);
	mt_blob_random(&l3, 256 * 1024, 3);
	mt_blob_random(&l4, 200 * 1024, 4);
	mt_blob_text(&att, "{\"_type\":\"https://in-toto.io/Statement/v0.1\"}");
	mt_blob_text(&c1, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{}}");
	mt_blob_text(&c2, "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{}}");
	mt_blob_text(&c3, "{\"architecture\":\"unknown\",\"os\":\"unknown\"}");
	{
		struct mt_blob a[2] = { l1, l3 };
		if (mt_push_image(W.src_r, "app/multi", NULL, KF_OCI_MT_OCI_MANIFEST, &c1, a, 2, &m1,
				  W.amd64_digest))
			goto out;
	}
	if (mt_push_image(W.src_r, "app/multi", NULL, KF_OCI_MT_OCI_MANIFEST, &c2, &l4, 1, &m2,
			  W.arm64_digest))
		goto out;
	if (mt_push_image(W.src_r, "app/multi", NULL, KF_OCI_MT_OCI_MANIFEST, &c3, &att, 1, &m3,
			  W.att_digest))
		goto out;
	kf_buf_printf(&idx,
		      "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		      "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		      "{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		      "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		      "{\"vnd.docker.reference.digest\":\"%s\",\"vnd.docker.reference.type\":"
		      "\"attestation-manifest\"},\"platform\":{\"architecture\":\"unknown\","
		      "\"os\":\"unknown\"}}]}",
		      KF_OCI_MT_OCI_INDEX, KF_OCI_MT_OCI_MANIFEST, W.arm64_digest, strlen(m2),
		      KF_OCI_MT_OCI_MANIFEST, W.amd64_digest, strlen(m1), KF_OCI_MT_OCI_MANIFEST,
		      W.att_digest, strlen(m3), W.amd64_digest);
	kf_sha256_hex(idx.data, idx.len, hex);
	snprintf(W.index_digest, sizeof(W.index_digest), "sha256:%s", hex);
	rc = kf_oci_manifest_put(W.src_r, "app/multi", "v1", idx.data, idx.len,
				 KF_OCI_MT_OCI_INDEX, &err);
	if (rc)
		fprintf(stderr, "push index: %s\n", err.msg);
out:
	free(m1);
	free(m2);
	free(m3);
	kf_buf_free(&idx);
	mt_blob_free(&l1);
	mt_blob_free(&l3);
	mt_blob_free(&l4);
	mt_blob_free(&att);
	mt_blob_free(&c1);
	mt_blob_free(&c2);
	mt_blob_free(&c3);
	return rc;
}

static int group_setup(void **state)
{
	struct mt_blob l1, tiny, big, ca, cb;
	char *m = NULL, *d1, *d2;
	struct kf_oci_registry_opts po = { .push = true };
	struct kf_err err;
	int rc = -1;

	(void)state;
	kf_platform_install_signals();
	memset(&W, 0, sizeof(W));
	W.dir = mt_tmpdir("mirror");
	d1 = sub("src");
	d2 = sub("dst");
	if (mt_registry_start(&W.src, d1, NULL, NULL) || mt_registry_start(&W.dst, d2, NULL, NULL))
		goto out;
	if (kf_oci_registry_new(&W.src_r, W.src.url, &po, &err) ||
	    kf_oci_registry_new(&W.dst_r, W.dst.url, NULL, &err))
		goto out;
	mt_blob_random(&l1, 1 << 20, 1);   /* shared with app/multi's amd64 image */
	mt_blob_text(&tiny, "tiny layer");
	mt_blob_random(&big, 24 << 20, 7);
	mt_blob_text(&ca, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"a\"]}}");
	mt_blob_text(&cb, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"b\"]}}");
	memcpy(W.big_digest, big.digest, sizeof(W.big_digest));
	{
		struct mt_blob a[2] = { l1, tiny };
		if (mt_push_image(W.src_r, "app/schema2", "v1", KF_OCI_MT_DOCKER_MANIFEST, &ca, a, 2,
				  &m, W.schema2_digest))
			goto blobs;
		free(m);
		m = NULL;
	}
	{
		struct mt_blob a[2] = { l1, big };
		if (mt_push_image(W.src_r, "app/oci", "v1", KF_OCI_MT_OCI_MANIFEST, &cb, a, 2, &m,
				  W.oci_digest))
			goto blobs;
		free(m);
		m = NULL;
	}
	rc = push_multi();
blobs:
	mt_blob_free(&l1);
	mt_blob_free(&tiny);
	mt_blob_free(&big);
	mt_blob_free(&ca);
	mt_blob_free(&cb);
out:
	free(d1);
	free(d2);
	return rc;
}

static int group_teardown(void **state)
{
	struct kf_err err;

	(void)state;
	mt_server_stop(&W.src);
	mt_stop_all();
	mt_server_stop(&W.dst);
	kf_oci_registry_free(W.src_r);
	kf_oci_registry_free(W.dst_r);
	if (W.dir)
		kf_fs_remove_tree(W.dir, &err);
	free(W.dir);
	kf_log_shutdown();
	return 0;
}

/* The digest of the manifest `ref` in the target, read by skopeo (an independent client). */
static void skopeo_digest(const struct mt_server *s, const char *ref, char out[KF_OCI_DIGEST_LEN])
{
	char url[512], *raw = NULL, hex[KF_SHA256_HEX_LEN + 1];
	const char *argv[] = { "skopeo", "inspect", "--raw", "--tls-verify=false", url, NULL };

	snprintf(url, sizeof(url), "docker://%s/%s", s->addr, ref);
	out[0] = '\0';
	assert_int_equal(mt_run(argv, &raw, 60000), 0);
	kf_sha256_hex(raw, strlen(raw), hex);
	snprintf(out, KF_OCI_DIGEST_LEN, "sha256:%s", hex);
	free(raw);
}

static int mirror(const char *from, const char *to, const struct kf_mirror_image *imgs, size_t n,
		  bool all, struct kf_mirror_result **res, struct kf_err *err)
{
	struct kf_mirror_opts o = { 0 };

	o.from = from;
	o.to = to;
	o.jobs = 4;
	o.all_platforms = all;
	o.max_retries = 3;
	kf_err_clear(err);
	return kf_mirror_run(&o, imgs, n, res, err);
}

static const struct kf_mirror_image three[] = {
	{ "app/schema2:v1", NULL },
	{ "app/oci:v1", NULL },
	{ "app/multi:v1", NULL },
};

static void test_mirror_copies_images_and_preserves_digests(void **state)
{
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	char d[KF_OCI_DIGEST_LEN];

	(void)state;
	assert_int_equal(mirror(W.src.url, W.dst.url, three, 3, false, &res, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].status, KF_MIRROR_COPIED);
	assert_string_equal(res[0].digest, W.schema2_digest);
	assert_string_equal(res[1].digest, W.oci_digest);
	assert_string_equal(res[2].digest, W.amd64_digest);
	assert_string_equal(res[2].platform, "linux/amd64");
	/* the shared 1 MiB layer went over the wire once; the other images mounted it */
	assert_int_equal(res[0].blobs_copied + res[1].blobs_copied + res[2].blobs_copied +
				 res[0].blobs_mounted + res[1].blobs_mounted + res[2].blobs_mounted,
			 9);
	assert_true(res[0].blobs_mounted + res[1].blobs_mounted + res[2].blobs_mounted >= 2);
	kf_mirror_results_free(res, 3);

	assert_int_equal(kf_oci_manifest_head(W.dst_r, "library/app/schema2", "v1", d, &err),
			 KF_ENOTFOUND);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "app/schema2", "v1", d, &err), 0);
	assert_string_equal(d, W.schema2_digest);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "app/oci", "v1", d, &err), 0);
	assert_string_equal(d, W.oci_digest);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "app/multi", "v1", d, &err), 0);
	assert_string_equal(d, W.amd64_digest);
	skopeo_digest(&W.dst, "app/schema2:v1", d);
	assert_string_equal(d, W.schema2_digest);
	skopeo_digest(&W.dst, "app/oci:v1", d);
	assert_string_equal(d, W.oci_digest);
	skopeo_digest(&W.dst, "app/multi:v1", d);
	assert_string_equal(d, W.amd64_digest);
	assert_int_equal(kf_oci_blob_head(W.dst_r, "app/oci", W.big_digest, NULL, &err), 0);
}

static void test_mirror_rerun_finds_everything_present(void **state)
{
	struct kf_mirror_result *res = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(mirror(W.src.url, W.dst.url, three, 3, false, &res, &err), 0);
	kf_mirror_results_free(res, 3);
	assert_int_equal(mirror(W.src.url, W.dst.url, three, 3, false, &res, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].status, KF_MIRROR_PRESENT);
		assert_int_equal(res[i].blobs_copied, 0);
		assert_int_equal(res[i].bytes, 0);
	}
	kf_mirror_results_free(res, 3);
}

static void test_mirror_all_platforms_keeps_the_index_digest(void **state)
{
	const struct kf_mirror_image img[] = { { "app/multi:v1", "mirror/multi-all:v1" } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	char d[KF_OCI_DIGEST_LEN];

	(void)state;
	assert_int_equal(mirror(W.src.url, W.dst.url, img, 1, true, &res, &err), 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	assert_string_equal(res[0].digest, W.index_digest);
	kf_mirror_results_free(res, 1);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "mirror/multi-all", "v1", d, &err), 0);
	assert_string_equal(d, W.index_digest);
	skopeo_digest(&W.dst, "mirror/multi-all:v1", d);
	assert_string_equal(d, W.index_digest);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "mirror/multi-all", W.arm64_digest, NULL,
					      &err), 0);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "mirror/multi-all", W.att_digest, NULL,
					      &err), 0);
}

static void test_mirror_keeps_the_index_of_a_digest_pinned_reference(void **state)
{
	char src[200], d[KF_OCI_DIGEST_LEN];
	struct kf_mirror_image img[1];
	struct kf_mirror_result *res = NULL;
	struct kf_err err;

	(void)state;
	snprintf(src, sizeof(src), "app/multi@%s", W.index_digest);
	img[0].source = src;
	img[0].target = NULL;
	assert_int_equal(mirror(W.src.url, W.dst.url, img, 1, false, &res, &err), 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	assert_string_equal(res[0].digest, W.index_digest);
	kf_mirror_results_free(res, 1);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "app/multi", W.index_digest, d, &err), 0);
	assert_string_equal(d, W.index_digest);
}

static void test_mirror_reports_a_missing_platform(void **state)
{
	struct kf_mirror_opts o = { 0 };
	const struct kf_mirror_image img[] = { { "app/multi:v1", "mirror/multi-s390x:v1" } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;

	(void)state;
	o.from = W.src.url;
	o.to = W.dst.url;
	o.platform = "linux/s390x";
	kf_err_clear(&err);
	assert_int_equal(kf_mirror_run(&o, img, 1, &res, &err), KF_EFAIL);
	assert_int_equal(res[0].status, KF_MIRROR_FAILED);
	assert_non_null(strstr(res[0].reason, "no linux/s390x"));
	assert_non_null(strstr(res[0].reason, "linux/arm64/v8"));
	assert_null(strstr(res[0].reason, "unknown"));
	kf_mirror_results_free(res, 1);
}

static void test_mirror_failed_image_does_not_stop_the_others(void **state)
{
	const struct kf_mirror_image img[] = { { "app/absent:v1", NULL },
					       { "app/schema2:v1", "other/schema2:v1" } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(mirror(W.src.url, W.dst.url, img, 2, false, &res, &err), KF_EFAIL);
	assert_int_equal(res[0].status, KF_MIRROR_FAILED);
	assert_non_null(strstr(res[0].reason, "MANIFEST_UNKNOWN"));
	assert_int_not_equal(res[1].status, KF_MIRROR_FAILED);
	kf_mirror_results_free(res, 2);
}

static void test_verify_present_names_missing_images(void **state)
{
	const char *refs[] = { "app/schema2:v1", "app/nothere:v9", "docker.io/app/oci:v1" };
	char **missing = NULL;
	size_t n = 0;
	struct kf_err err;

	(void)state;
	/* make sure the two present ones are there whatever ran before */
	{
		struct kf_mirror_result *res = NULL;
		assert_int_equal(mirror(W.src.url, W.dst.url, three, 2, false, &res, &err), 0);
		kf_mirror_results_free(res, 2);
	}
	kf_err_clear(&err);
	assert_int_equal(kf_mirror_verify_present(W.dst.url, NULL, refs, 3, &missing, &n, &err),
			 KF_ENOTFOUND);
	assert_int_equal(n, 1);
	assert_string_equal(missing[0], "app/nothere:v9");
	assert_non_null(strstr(err.msg, "app/nothere:v9"));
	kf_strv_free(missing, n);
}

static void test_tags_and_catalog_follow_link_pagination(void **state)
{
	struct mt_blob c;
	char *m = NULL, **v = NULL, dg[KF_OCI_DIGEST_LEN], tag[32];
	size_t n = 0;
	struct kf_err err;
	bool seen_last = false;

	(void)state;
	mt_blob_text(&c, "{\"os\":\"linux\",\"architecture\":\"amd64\",\"tags\":1}");
	assert_int_equal(mt_push_image(W.src_r, "list/many", "t0", KF_OCI_MT_OCI_MANIFEST, &c, NULL,
				       0, &m, dg), 0);
	for (int i = 1; i < 130; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		assert_int_equal(kf_oci_manifest_put(W.src_r, "list/many", tag, m, strlen(m),
						     KF_OCI_MT_OCI_MANIFEST, &err), 0);
	}
	assert_int_equal(kf_oci_tags(W.src_r, "list/many", &v, &n, 0, &err), 0);
	assert_int_equal(n, 130);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], "t129") == 0)
			seen_last = true;
	assert_true(seen_last);
	kf_strv_free(v, n);
	assert_int_equal(kf_oci_tags(W.src_r, "list/many", &v, &n, 100, &err), KF_ELIMIT);
	assert_int_equal(kf_oci_catalog(W.src_r, &v, &n, 0, &err), 0);
	assert_true(n >= 4);
	kf_strv_free(v, n);
	free(m);
	mt_blob_free(&c);
}

/* A fresh image with its own random layer of `size` bytes in the source, for fault tests. */
static void fresh_image(const char *repo, size_t size, unsigned seed, char layer[KF_OCI_DIGEST_LEN],
			char digest[KF_OCI_DIGEST_LEN])
{
	struct mt_blob l, c;
	char cfg[128], *m = NULL;

	snprintf(cfg, sizeof(cfg), "{\"os\":\"linux\",\"architecture\":\"amd64\",\"seed\":%u}", seed);
	mt_blob_random(&l, size, seed);
	mt_blob_text(&c, cfg);
	assert_int_equal(mt_push_image(W.src_r, repo, "v1", KF_OCI_MT_OCI_MANIFEST, &c, &l, 1, &m,
				       digest), 0);
	memcpy(layer, l.digest, KF_OCI_DIGEST_LEN);
	free(m);
	mt_blob_free(&l);
	mt_blob_free(&c);
}

static bool file_has(const char *path, const char *needle)
{
	char *data = NULL;
	size_t len;
	struct kf_err err;
	bool r;

	if (kf_fs_read(&data, &len, path, 16 << 20, &err) != 0)
		return false;
	r = strstr(data, needle) != NULL;
	free(data);
	return r;
}

static void test_mirror_rejects_a_corrupted_blob_and_stores_nothing(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], *pdir = sub("px-corrupt");
	const struct kf_mirror_image img[] = { { "fault/corrupt:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("fault/corrupt", 3 << 20, 101, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--corrupt", layer, NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	rc = mirror(px.url, W.dst.url, img, 1, false, &res, &err);
	mt_server_stop(&px);
	assert_int_equal(rc, KF_EFAIL);
	assert_int_equal(res[0].status, KF_MIRROR_FAILED);
	assert_non_null(strstr(res[0].reason, "hash to"));
	kf_mirror_results_free(res, 1);
	assert_int_equal(kf_oci_blob_head(W.dst_r, "fault/corrupt", layer, NULL, &err),
			 KF_ENOTFOUND);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "fault/corrupt", "v1", NULL, &err),
			 KF_ENOTFOUND);
	free(pdir);
}

static void test_mirror_retries_after_503(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], *pdir = sub("px-503");
	char *log = sub("px-503/proxy.log");
	const struct kf_mirror_image img[] = { { "fault/busy:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("fault/busy", 512 * 1024, 102, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--fail-503", "2", NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	rc = mirror(px.url, W.dst.url, img, 1, false, &res, &err);
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	assert_string_equal(res[0].digest, dg);
	kf_mirror_results_free(res, 1);
	assert_true(file_has(log, "503 injected"));
	assert_int_equal(kf_oci_blob_head(W.dst_r, "fault/busy", layer, NULL, &err), 0);
	free(pdir);
	free(log);
}

static void test_mirror_resumes_a_dropped_blob_download(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], got[KF_OCI_DIGEST_LEN];
	char *pdir = sub("px-drop"), *log = sub("px-drop/proxy.log");
	const struct kf_mirror_image img[] = { { "fault/drop:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("fault/drop", 6 << 20, 103, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--drop", layer, NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	rc = mirror(px.url, W.dst.url, img, 1, false, &res, &err);
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	kf_mirror_results_free(res, 1);
	assert_true(file_has(log, "dropped"));
	/* the resumed request asked for the rest of the blob only */
	assert_true(file_has(log, layer));
	assert_int_equal(kf_oci_blob_head(W.dst_r, "fault/drop", layer, NULL, &err), 0);
	skopeo_digest(&W.dst, "fault/drop:v1", got);
	assert_string_equal(got, dg);
	free(pdir);
	free(log);
}

static void test_mirror_command_interrupted_then_rerun_completes(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], got[KF_OCI_DIGEST_LEN];
	char *pdir = sub("px-kill"), *list = sub("kill-images.txt"), *out = sub("out-kill");
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	struct kf_proc p = { 0 };
	struct kf_err err;
	char *json = NULL;

	(void)state;
	fresh_image("fault/kill", 16 << 20, 104, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	assert_int_equal(kf_fs_write_atomic(list, "fault/kill:v1 killed/kill:v1\napp/oci:v1\n", 40,
					    0644, &err), 0);
	{
		const char *extra[] = { "--rate-total", "2000000", NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	{
		const char *argv[] = { bin, "-o", out, "mirror", "--from", px.url, "--to", W.dst.url,
				       "--images", list, NULL };
		p.argv = argv;
		p.detach = true;
		assert_int_equal(kf_proc_start(&p, &err), 0);
		kf_sleep_ms(2500);
		assert_true(kf_proc_alive(p.pid));
		kill((pid_t)p.pid, SIGKILL);
		kf_proc_stop(p.pid, 1000);
		kf_proc_free(&p);
	}
	mt_server_stop(&px);
	assert_int_equal(kf_oci_manifest_head(W.dst_r, "killed/kill", "v1", NULL, &err),
			 KF_ENOTFOUND);
	{
		const char *argv[] = { bin, "--json", "-o", out, "mirror", "--from", W.src.url, "--to",
				       W.dst.url, "--images", list, NULL };
		assert_int_equal(mt_run(argv, &json, 120000), 0);
	}
	assert_non_null(strstr(json, "\"mirror_image\""));
	assert_non_null(strstr(json, "killed/kill:v1"));
	free(json);
	skopeo_digest(&W.dst, "killed/kill:v1", got);
	assert_string_equal(got, dg);
	free(pdir);
	free(list);
	free(out);
}

static int count_sink(void *ud, const void *data, size_t len)
{
	(void)data;
	*(uint64_t *)ud += len;
	return 0;
}

static void test_mirror_source_with_bearer_token_and_credentials(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN];
	char *pdir = sub("px-bearer"), *log = sub("px-bearer/proxy.log");
	const struct kf_mirror_image img[] = { { "auth/bearer:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("auth/bearer", 300 * 1024, 105, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--bearer", "tok-s3cret-123", "--token-user", "alice:pw-1",
					NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	setenv("K3SFORGE_REGISTRY_USER", "alice", 1);
	setenv("K3SFORGE_REGISTRY_PASSWORD", "pw-1", 1);
	rc = mirror(px.url, W.dst.url, img, 1, false, &res, &err);
	{
		/* a blob GET with no token yet answers the 401 itself */
		struct kf_oci_registry *fresh = NULL;
		uint64_t n = 0;
		struct kf_err e2;
		assert_int_equal(kf_oci_registry_new(&fresh, px.url, NULL, &e2), 0);
		kf_err_clear(&e2);
		assert_int_equal(kf_oci_blob_get(fresh, "auth/bearer", layer, 300 * 1024, count_sink,
						 &n, &e2), 0);
		assert_int_equal(n, 300 * 1024);
		kf_oci_registry_free(fresh);
	}
	unsetenv("K3SFORGE_REGISTRY_USER");
	unsetenv("K3SFORGE_REGISTRY_PASSWORD");
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	kf_mirror_results_free(res, 1);
	assert_true(file_has(log, "401 challenge"));
	assert_true(file_has(log, "token /token?service=kf-test&scope=repository%3Aauth%2Fbearer%3Apull"));
	assert_int_equal(kf_oci_blob_head(W.dst_r, "auth/bearer", layer, NULL, &err), 0);
	free(pdir);
	free(log);
}

static void test_mirror_source_with_basic_auth_from_docker_config(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], cfg[512];
	char *pdir = sub("px-basic"), *cpath = sub("px-basic/config.json");
	const struct kf_mirror_image img[] = { { "auth/basic:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("auth/basic", 100 * 1024, 106, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--basic", "bob:pw-2", NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	/* base64("bob:pw-2") = Ym9iOnB3LTI= */
	snprintf(cfg, sizeof(cfg), "{\"auths\":{\"%s\":{\"auth\":\"Ym9iOnB3LTI=\"}}}", px.addr);
	assert_int_equal(kf_fs_write_atomic(cpath, cfg, strlen(cfg), 0600, &err), 0);
	setenv("DOCKER_CONFIG", pdir, 1);
	rc = mirror(px.url, W.dst.url, img, 1, false, &res, &err);
	unsetenv("DOCKER_CONFIG");
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	kf_mirror_results_free(res, 1);
	free(pdir);
	free(cpath);
}

static void test_mirror_uploads_large_blobs_in_chunks(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], got[KF_OCI_DIGEST_LEN];
	char *pdir = sub("px-chunk"), *log = sub("px-chunk/proxy.log");
	const struct kf_mirror_image img[] = { { "chunk/big:v1", NULL } };
	struct kf_mirror_opts o = { 0 };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("chunk/big", (7 << 20) / 2, 107, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	assert_int_equal(mt_proxy_start(&px, pdir, &W.dst, NULL), 0);
	o.from = W.src.url;
	o.to = px.url;
	o.chunk_size = 1 << 20;
	kf_err_clear(&err);
	rc = kf_mirror_run(&o, img, 1, &res, &err);
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	kf_mirror_results_free(res, 1);
	assert_true(file_has(log, "PATCH /v2/chunk/big/blobs/uploads/"));
	skopeo_digest(&W.dst, "chunk/big:v1", got);
	assert_string_equal(got, dg);
	assert_int_equal(kf_oci_blob_head(W.dst_r, "chunk/big", layer, NULL, &err), 0);
	free(pdir);
	free(log);
}

static void test_mirror_switches_to_chunks_when_the_registry_refuses_a_large_put(void **state)
{
	struct mt_server px;
	char layer[KF_OCI_DIGEST_LEN], dg[KF_OCI_DIGEST_LEN], got[KF_OCI_DIGEST_LEN];
	char *pdir = sub("px-413"), *log = sub("px-413/proxy.log");
	const struct kf_mirror_image img[] = { { "chunk/asked:v1", NULL } };
	struct kf_mirror_opts o = { 0 };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	fresh_image("chunk/asked", 800 * 1024, 108, layer, dg);
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--max-put", "500000", NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.dst, extra), 0);
	}
	o.from = W.src.url;
	o.to = px.url;
	o.chunk_size = 300 * 1024 * 1024;
	kf_err_clear(&err);
	rc = kf_mirror_run(&o, img, 1, &res, &err);
	mt_server_stop(&px);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	kf_mirror_results_free(res, 1);
	assert_true(file_has(log, "413 injected"));
	assert_true(file_has(log, "PATCH /v2/chunk/asked/blobs/uploads/"));
	skopeo_digest(&W.dst, "chunk/asked:v1", got);
	assert_string_equal(got, dg);
	free(pdir);
	free(log);
}

static void test_ping_tells_a_registry_from_a_closed_port(void **state)
{
	struct kf_oci_registry *r = NULL;
	struct kf_oci_registry_opts o = { .max_retries = 1 };
	char closed[64];
	struct kf_err err;

	(void)state;
	kf_err_clear(&err);
	assert_int_equal(kf_oci_ping(W.dst_r, &err), 0);
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%d", mt_free_port());
	assert_int_equal(kf_oci_registry_new(&r, closed, &o, &err), 0);
	assert_int_equal(kf_oci_ping(r, &err), KF_ENET);
	assert_non_null(strstr(err.msg, "/v2/"));
	kf_oci_registry_free(r);
}

static void test_manifest_larger_than_the_bound_is_refused(void **state)
{
	struct mt_server px;
	struct kf_oci_registry *r = NULL;
	struct kf_oci_manifest m;
	char *pdir = sub("px-huge");
	struct kf_err err;
	int rc;

	(void)state;
	kf_fs_mkdirs(pdir, 0755, &err);
	{
		const char *extra[] = { "--huge-manifest", NULL };
		assert_int_equal(mt_proxy_start(&px, pdir, &W.src, extra), 0);
	}
	assert_int_equal(kf_oci_registry_new(&r, px.url, NULL, &err), 0);
	kf_err_clear(&err);
	rc = kf_oci_manifest_get(r, "app/oci", "v1", &m, &err);
	mt_server_stop(&px);
	kf_oci_registry_free(r);
	assert_int_equal(rc, KF_ELIMIT);
	assert_non_null(strstr(err.msg, "larger than"));
	assert_null(m.data);
	free(pdir);
}

static int openssl(const char *const *argv)
{
	return mt_run(argv, NULL, 60000);
}

static void test_mirror_into_a_tls_registry_verified_by_its_ca(void **state)
{
	char *tdir = sub("tls"), *ca = sub("tls/ca.crt"), *cakey = sub("tls/ca.key");
	char *crt = sub("tls/reg.crt"), *key = sub("tls/reg.key"), *csr = sub("tls/reg.csr");
	char *ext = sub("tls/ext.cnf"), *data = sub("tls/reg");
	struct mt_server t;
	struct kf_mirror_opts o = { 0 };
	const struct kf_mirror_image img[] = { { "app/schema2:v1", NULL } };
	struct kf_mirror_result *res = NULL;
	struct kf_err err;
	int rc;

	(void)state;
	kf_fs_mkdirs(tdir, 0755, &err);
	kf_fs_write_atomic(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n", 42, 0644, &err);
	{
		const char *a1[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
				     "ec_paramgen_curve:P-256", "-nodes", "-keyout", cakey, "-out", ca,
				     "-days", "2", "-subj", "/CN=kf test CA", NULL };
		const char *a2[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
				     "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
				     "-subj", "/CN=127.0.0.1", NULL };
		const char *a3[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
				     "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext,
				     NULL };
		assert_int_equal(openssl(a1), 0);
		assert_int_equal(openssl(a2), 0);
		assert_int_equal(openssl(a3), 0);
	}
	assert_int_equal(mt_registry_start(&t, data, crt, key), 0);
	o.from = W.src.url;
	o.to = t.url;
	o.jobs = 2;
	/* without the CA the certificate is refused */
	kf_err_clear(&err);
	rc = kf_mirror_run(&o, img, 1, &res, &err);
	assert_int_equal(rc, KF_EFAIL);
	assert_int_equal(res[0].status, KF_MIRROR_FAILED);
	kf_mirror_results_free(res, 1);
	o.to_ca = ca;
	kf_err_clear(&err);
	rc = kf_mirror_run(&o, img, 1, &res, &err);
	mt_server_stop(&t);
	assert_int_equal(rc, 0);
	assert_int_equal(res[0].status, KF_MIRROR_COPIED);
	assert_string_equal(res[0].digest, W.schema2_digest);
	kf_mirror_results_free(res, 1);
	free(tdir);
	free(ca);
	free(cakey);
	free(crt);
	free(key);
	free(csr);
	free(ext);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mirror_copies_images_and_preserves_digests),
		cmocka_unit_test(test_mirror_rerun_finds_everything_present),
		cmocka_unit_test(test_mirror_all_platforms_keeps_the_index_digest),
		cmocka_unit_test(test_mirror_keeps_the_index_of_a_digest_pinned_reference),
		cmocka_unit_test(test_mirror_reports_a_missing_platform),
		cmocka_unit_test(test_mirror_failed_image_does_not_stop_the_others),
		cmocka_unit_test(test_verify_present_names_missing_images),
		cmocka_unit_test(test_tags_and_catalog_follow_link_pagination),
		cmocka_unit_test(test_mirror_rejects_a_corrupted_blob_and_stores_nothing),
		cmocka_unit_test(test_mirror_retries_after_503),
		cmocka_unit_test(test_mirror_resumes_a_dropped_blob_download),
		cmocka_unit_test(test_mirror_command_interrupted_then_rerun_completes),
		cmocka_unit_test(test_mirror_into_a_tls_registry_verified_by_its_ca),
		cmocka_unit_test(test_mirror_source_with_bearer_token_and_credentials),
		cmocka_unit_test(test_mirror_source_with_basic_auth_from_docker_config),
		cmocka_unit_test(test_mirror_uploads_large_blobs_in_chunks),
		cmocka_unit_test(test_mirror_switches_to_chunks_when_the_registry_refuses_a_large_put),
		cmocka_unit_test(test_manifest_larger_than_the_bound_is_refused),
		cmocka_unit_test(test_ping_tells_a_registry_from_a_closed_port),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
