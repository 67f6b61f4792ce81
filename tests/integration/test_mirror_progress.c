/* The mirror's byte counter: a blob whose copy attempts fail (corrupted by the fault proxy) takes
 * back only its own bytes, not the bytes other workers added meanwhile. The final progress event
 * of `k3sforge --json mirror` must count exactly the blobs that were copied. */
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
	if (W.dir)
		kf_fs_remove_tree(W.dir, NULL);
	free(W.dir);
	return 0;
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

/* "bytes" of the last progress event with "final": true in the JSON lines. */
static long long final_progress_bytes(const char *json)
{
	long long bytes = -1;
	char *copy = strdup(json), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *d = json_object_get(o, "data") ? json_object_get(o, "data") : o;
		if (o && json_is_true(json_object_get(d, "final")) &&
		    json_is_integer(json_object_get(d, "bytes")))
			bytes = (long long)json_integer_value(json_object_get(d, "bytes"));
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
	W.dir = mt_tmpdir("mirror-progress");
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
	assert_int_equal(final_progress_bytes(json), (long long)good);
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
	};

	kf_platform_install_signals();
	return cmocka_run_group_tests(tests, NULL, teardown);
}
