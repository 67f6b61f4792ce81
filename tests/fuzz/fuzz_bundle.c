/* libFuzzer target: the bundle reader (kf_bundle_open: the tar scan, the listing check, the
 * closure walk through manifests and indexes, the ref check). Nothing is loaded anywhere.
 * The first input byte picks the mode:
 *   even: the rest is the archive itself (the tar layer: headers, sizes, names, padding);
 *   odd:  the rest is "REF\n--\nBLOB1\n--\nBLOB2..." and a well-formed archive is written from
 *         it: every BLOBn as blobs/sha256/<its digest>, all listed with their sizes, BLOB1 listed
 *         as an image named REF. In a blob, "@n@" becomes the digest of BLOBn and "#n#" its
 *         size (n > the blob's own number, so a closure can be built), letting the fuzzer reach
 *         the manifest and index walk behind the digest checks.
 * Build and run: tests/fuzz/fuzz.sh bundle [seconds]. bundle.c's loader calls the OCI client;
 * the reader never does, and the stubs at the end stand in for those symbols only so the
 * target links without libcurl. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/bundle.h"
#include "k3sforge/digest.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_CHUNKS 12

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/kf-fuzz-bundle-%ld.tar", (long)getpid());
	{
		/* the verify pass logs at INFO: keep the run's output to crashes */
		struct kf_log_opts lo = { .level = KF_LOG_ERROR, .json = false,
					  .color = KF_COLOR_NEVER };
		kf_log_init(&lo);
	}
	return 0;
}

static void entry(struct kf_buf *t, const char *name, const void *d, size_t n)
{
	unsigned char h[KF_TAR_BLOCK];
	static const unsigned char zero[KF_TAR_BLOCK];

	kf_tar_header(h, name, n, 0644, 0);
	kf_buf_append(t, h, sizeof(h));
	kf_buf_append(t, d, n);
	if (n % KF_TAR_BLOCK)
		kf_buf_append(t, zero, KF_TAR_BLOCK - n % KF_TAR_BLOCK);
}

/* text with @n@ and #n# replaced (n > self), into out */
static void substitute(struct kf_buf *out, const char *s, size_t n, int self,
		       char digests[][KF_OCI_DIGEST_LEN], const size_t *sizes, int count)
{
	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '@' || s[i] == '#') && i + 2 < n && s[i + 2] == s[i] && s[i + 1] > '0' &&
		    s[i + 1] <= '9') {
			int k = s[i + 1] - '0';
			if (k > self && k < count) {
				if (s[i] == '@')
					kf_buf_printf(out, "%s", digests[k]);
				else
					kf_buf_printf(out, "%zu", sizes[k]);
				i += 2;
				continue;
			}
		}
		kf_buf_append(out, s + i, 1);
	}
}

static void structured(struct kf_buf *t, const char *s, size_t n)
{
	const char *chunk[MAX_CHUNKS];
	size_t len[MAX_CHUNKS], sizes[MAX_CHUNKS] = { 0 };
	char digests[MAX_CHUNKS][KF_OCI_DIGEST_LEN], hex[KF_SHA256_HEX_LEN + 1], name[100];
	struct kf_buf blob[MAX_CHUNKS], listing = KF_BUF_INIT, ref = KF_BUF_INIT;
	static const unsigned char zero[2 * KF_TAR_BLOCK];
	static const char index[] = "{}";
	int count = 0;

	memset(blob, 0, sizeof(blob));
	memset(digests, 0, sizeof(digests));
	while (count < MAX_CHUNKS) {
		const char *sep = memmem(s, n, "\n--\n", 4);
		chunk[count] = s;
		len[count] = sep ? (size_t)(sep - s) : n;
		count++;
		if (!sep)
			break;
		n -= (size_t)(sep - s) + 4;
		s = sep + 4;
	}
	for (int k = count - 1; k >= 1; k--) {
		substitute(&blob[k], chunk[k], len[k], k, digests, sizes, count);
		kf_sha256_hex(blob[k].data ? blob[k].data : "", blob[k].len, hex);
		snprintf(digests[k], sizeof(digests[k]), "sha256:%s", hex);
		sizes[k] = blob[k].len;
	}
	entry(t, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	kf_sha256_hex(index, 2, hex);
	/* the ref goes into JSON: keep it a plain string */
	for (size_t i = 0; i < len[0]; i++)
		if (chunk[0][i] >= 0x20 && chunk[0][i] < 0x7f && chunk[0][i] != '"' && chunk[0][i] != '\\')
			kf_buf_append(&ref, chunk[0] + i, 1);
	kf_buf_printf(&listing, "{\"k3sforgeBundle\":1,\"indexSha256\":\"%s\",\"images\":[", hex);
	if (count > 1)
		kf_buf_printf(&listing, "{\"ref\":\"%s\",\"source\":\"f\",\"digest\":\"%s\","
			      "\"mediaType\":\"%s\"}", kf_buf_str(&ref), digests[1],
			      KF_OCI_MT_OCI_MANIFEST);
	kf_buf_printf(&listing, "],\"blobs\":[");
	for (int k = 1; k < count; k++) {
		bool dup = false;
		for (int j = 1; j < k; j++)
			dup = dup || strcmp(digests[j], digests[k]) == 0;
		if (dup)
			continue;
		snprintf(name, sizeof(name), "blobs/sha256/%s", digests[k] + 7);
		entry(t, name, blob[k].data ? blob[k].data : "", blob[k].len);
		kf_buf_printf(&listing, "%s{\"digest\":\"%s\",\"size\":%zu}", k > 1 ? "," : "",
			      digests[k], sizes[k]);
	}
	kf_buf_printf(&listing, "],\"files\":[]}");
	entry(t, "index.json", index, 2);
	entry(t, "k3sforge-bundle.json", listing.data, listing.len);
	kf_buf_append(t, zero, sizeof(zero));
	for (int k = 0; k < MAX_CHUNKS; k++)
		kf_buf_free(&blob[k]);
	kf_buf_free(&listing);
	kf_buf_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kf_buf t = KF_BUF_INIT;
	struct kf_bundle *b = NULL;
	struct kf_err err;
	FILE *f;
	int rc;

	if (size == 0)
		return 0;
	if (data[0] & 1)
		structured(&t, (const char *)data + 1, size - 1);
	else
		kf_buf_append(&t, data + 1, size - 1);
	if (!(f = fopen(path, "wb")))
		abort();
	if (t.len && fwrite(t.data, 1, t.len, f) != t.len)
		abort();
	fclose(f);
	kf_buf_free(&t);
	kf_err_clear(&err);
	rc = kf_bundle_open(&b, path, &err);
	if (rc != 0 && (b || !err.msg[0]))
		abort(); /* refused without a reason, or refused yet open */
	if (rc == 0 && !b)
		abort();
	kf_bundle_close(b);
	unlink(path);
	return 0;
}

/* ---------------------------------------------------------------- link stubs (never called) */

#include "k3sforge/mirror.h"

int kf_mirror_export(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		     size_t n, const struct kf_mirror_writer *w, struct kf_err *err)
{
	abort();
}

int kf_oci_registry_new(struct kf_oci_registry **out, const char *spec,
			const struct kf_oci_registry_opts *opts, struct kf_err *err)
{
	abort();
}

void kf_oci_registry_free(struct kf_oci_registry *r)
{
	if (r)
		abort();
}

int kf_oci_blob_get(struct kf_oci_registry *r, const char *repo, const char *digest,
		    uint64_t size, kf_oci_sink_fn sink, void *ud, struct kf_err *err)
{
	abort();
}

int kf_oci_blob_head(struct kf_oci_registry *r, const char *repo, const char *digest,
		     int64_t *size, struct kf_err *err)
{
	abort();
}

int kf_oci_blob_upload(struct kf_oci_registry *r, const char *repo, const char *digest,
		       uint64_t size, kf_oci_source_fn source, void *ud, const char *location,
		       struct kf_err *err)
{
	abort();
}

int kf_oci_manifest_put(struct kf_oci_registry *r, const char *repo, const char *reference,
			const char *data, size_t len, const char *media_type, struct kf_err *err)
{
	abort();
}
