/* The mirror's counters. Bytes: a blob whose copy attempts fail (corrupted by the fault proxy)
 * takes back only its own bytes, not the bytes other workers added meanwhile; the final progress
 * event of `k3sforge --json mirror` must count exactly the blobs that were copied. Images: an
 * image is counted when its own blobs are in, not when every image's bytes are (issue #19). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k3sforge/fs.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "mirror_fixture.h"

static struct {
	char *dir;
	struct mt_server src, dst, px;
	struct kf_oci_registry *src_r;
} W;

static char *sub(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", W.dir, name) > 0);
	return p;
}

static int teardown(void **state)
{
	(void)state;
	mt_stop_all();
	kf_oci_registry_free(W.src_r);
	W.src_r = NULL;
	if (W.dir)
		kf_fs_remove_tree(W.dir, NULL);
	free(W.dir);
	W.dir = NULL;
	return 0;
}

/* A new work dir for a test; what an earlier test left is cleaned up first. */
static void fresh(const char *tag)
{
	teardown(NULL);
	W.dir = mt_tmpdir(tag);
}

/* Pushes repo:v1 with one layer of `size` random bytes; returns config + layer bytes. */
static uint64_t push(const char *repo, size_t size, unsigned seed, char layer[KF_OCI_DIGEST_LEN])
{
	struct mt_blob l, c;
	char cfg[128], *m = NULL, dg[KF_OCI_DIGEST_LEN];
	uint64_t n;

	snprintf(cfg, sizeof(cfg), "{\"os\":\"linux\",\"architecture\":\"amd64\",\"seed\":%u}", seed);
	mt_blob_random(&l, size, seed);
	mt_blob_text(&c, cfg);
	assert_int_equal(mt_push_image(W.src_r, repo, "v1", KF_OCI_MT_OCI_MANIFEST, &c, &l, 1, &m, dg),
			 0);
	if (layer)
		memcpy(layer, l.digest, KF_OCI_DIGEST_LEN);
	n = c.len + l.len;
	free(m);
	mt_blob_free(&l);
	mt_blob_free(&c);
	return n;
}

/* `key` ("bytes", "items") of the last progress event with "final": true in the JSON lines. */
static long long final_progress(const char *json, const char *key)
{
	long long bytes = -1;
	char *copy = strdup(json), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *d = json_object_get(o, "data") ? json_object_get(o, "data") : o;
		if (o && json_is_true(json_object_get(d, "final")) &&
		    json_is_integer(json_object_get(d, key)))
			bytes = (long long)json_integer_value(json_object_get(d, key));
		json_decref(o);
	}
	free(copy);
	return bytes;
}

static void test_failed_blob_attempts_take_back_only_their_own_bytes(void **state)
{
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	struct kf_oci_registry_opts po = { .push = true };
	char bad[KF_OCI_DIGEST_LEN], *d1, *d2, *pd, *list, *out, *json = NULL;
	uint64_t good = 0, bad_total;
	struct kf_err err;

	(void)state;
	fresh("mirror-progress");
	d1 = sub("src");
	d2 = sub("dst");
	pd = sub("px");
	list = sub("images.txt");
	out = sub("out");
	kf_fs_mkdirs(pd, 0755, NULL);
	assert_int_equal(mt_registry_start(&W.src, d1, NULL, NULL), 0);
	assert_int_equal(mt_registry_start(&W.dst, d2, NULL, NULL), 0);
	assert_int_equal(kf_oci_registry_new(&W.src_r, W.src.url, &po, &err), 0);
	/* one image whose layer arrives corrupted on every attempt, three good ones copied at the
	 * same time; the proxy's rate cap makes the attempts overlap the good copies */
	bad_total = push("p/bad", 3 << 20, 11, bad);
	good += push("p/good1", 3 << 20, 12, NULL);
	good += push("p/good2", 3 << 20, 13, NULL);
	good += push("p/good3", 3 << 20, 14, NULL);
	good += bad_total - (3 << 20);   /* the bad image's config blob is copied */
	{
		const char *extra[] = { "--corrupt", bad, "--rate-total", "6000000", NULL };
		assert_int_equal(mt_proxy_start(&W.px, pd, &W.src, extra), 0);
	}
	assert_int_equal(kf_fs_write_atomic(list, "p/bad:v1\np/good1:v1\np/good2:v1\np/good3:v1\n",
					    42, 0644, &err), 0);
	{
		const char *argv[] = { bin, "--json", "-o", out, "mirror", "--from", W.px.url, "--to",
				       W.dst.url, "--images", list, "--jobs", "4", NULL };
		assert_int_not_equal(mt_run(argv, &json, 180000), 0);   /* p/bad fails */
	}
	assert_non_null(json);
	assert_int_equal(final_progress(json, "bytes"), (long long)good);
	/* the failed image is not counted, and not tagged in the target */
	assert_int_equal(final_progress(json, "items"), 3);
	{
		struct kf_oci_registry *dst_r = NULL;
		assert_int_equal(kf_oci_registry_new(&dst_r, W.dst.url, &po, &err), 0);
		kf_err_clear(&err);
		assert_int_not_equal(kf_oci_manifest_head(dst_r, "p/bad", "v1", NULL, &err), 0);
		kf_err_clear(&err);
		assert_int_equal(kf_oci_manifest_head(dst_r, "p/good1", "v1", NULL, &err), 0);
		kf_oci_registry_free(dst_r);
	}
	free(json);
	free(d1);
	free(d2);
	free(pd);
	free(list);
	free(out);
}

/* How many progress events in the JSON lines count at least one image while bytes are still
 * short of the total; *events gets how many progress events carried items at all. */
static int events_with_items_before_bytes_done(const char *json, int *events)
{
	int n = 0;
	char *copy = strdup(json), *save = NULL;

	*events = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *d = json_object_get(o, "data") ? json_object_get(o, "data") : o;
		json_t *items = json_object_get(d, "items"), *b = json_object_get(d, "bytes");
		json_t *tb = json_object_get(d, "total_bytes");
		if (o && json_is_integer(items) && json_is_integer(b) && json_is_integer(tb)) {
			(*events)++;
			if (json_integer_value(items) >= 1 && json_integer_value(tb) > 0 &&
			    json_integer_value(b) < json_integer_value(tb))
				n++;
		}
		json_decref(o);
	}
	free(copy);
	return n;
}

static void test_an_image_is_counted_when_its_own_blobs_are_in_not_when_all_bytes_are(void **state)
{
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	struct kf_oci_registry_opts po = { .push = true };
	struct kf_oci_registry *dst_r = NULL;
	char *d1, *d2, *pd, *list, *out, *json = NULL;
	const char *repos[] = { "q/small1", "q/small2", "q/big" };
	int events = 0;
	struct kf_err err;

	(void)state;
	fresh("mirror-counter");
	d1 = sub("src");
	d2 = sub("dst");
	pd = sub("px");
	list = sub("images.txt");
	out = sub("out");
	kf_fs_mkdirs(pd, 0755, NULL);
	assert_int_equal(mt_registry_start(&W.src, d1, NULL, NULL), 0);
	assert_int_equal(mt_registry_start(&W.dst, d2, NULL, NULL), 0);
	assert_int_equal(kf_oci_registry_new(&W.src_r, W.src.url, &po, &err), 0);
	/* two images of a few KB and one of 8 MB read through a 3 MB/s cap: the big layer takes
	 * about three seconds, the small images are in within the first */
	push("q/small1", 4096, 21, NULL);
	push("q/small2", 4096, 22, NULL);
	push("q/big", 8 << 20, 23, NULL);
	{
		const char *extra[] = { "--rate-total", "3000000", NULL };
		assert_int_equal(mt_proxy_start(&W.px, pd, &W.src, extra), 0);
	}
	assert_int_equal(kf_fs_write_atomic(list, "q/small1:v1\nq/small2:v1\nq/big:v1\n", 33,
					    0644, &err), 0);
	{
		const char *argv[] = { bin, "--json", "-o", out, "mirror", "--from", W.px.url, "--to",
				       W.dst.url, "--images", list, "--jobs", "4", NULL };
		assert_int_equal(mt_run(argv, &json, 180000), 0);
	}
	assert_non_null(json);
	assert_true(events_with_items_before_bytes_done(json, &events) >= 1);
	assert_true(events >= 2);
	/* every image tagged in the target in the end */
	assert_int_equal(kf_oci_registry_new(&dst_r, W.dst.url, &po, &err), 0);
	for (size_t i = 0; i < 3; i++) {
		kf_err_clear(&err);
		assert_int_equal(kf_oci_manifest_head(dst_r, repos[i], "v1", NULL, &err), 0);
	}
	kf_oci_registry_free(dst_r);
	free(json);
	free(d1);
	free(d2);
	free(pd);
	free(list);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_blob_attempts_take_back_only_their_own_bytes),
		cmocka_unit_test(test_an_image_is_counted_when_its_own_blobs_are_in_not_when_all_bytes_are),
	};

	kf_platform_install_signals();
	return cmocka_run_group_tests(tests, NULL, teardown);
}
