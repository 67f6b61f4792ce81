/* The mirror engine. Three phases, each spread over a pool of `jobs` threads:
 *   1. resolve: per image, fetch the manifest (and the chosen or all platform manifests of an
 *      index), verify their digests, and ask the target what it already has;
 *   2. blobs: the union of missing blobs over all images, deduplicated by digest, largest first:
 *      per blob HEAD in every target repository that needs it, mount from one that has it, else
 *      stream it from the source once and mount it into the others;
 *   3. manifests: per image, child manifests then the index/manifest, byte for byte, pushed by
 *      the worker that finishes the image's last blob (an image that needs none: before phase 2),
 *      so an image is counted as soon as its own content is in, not after every image's.
 * A failed blob fails every image that needs it; the others go on. Nothing is tagged before all
 * of its image's blobs (and child manifests) are in the target. */
#include "k3sforge/mirror.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/digest.h"
#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"

#define MAX_IMAGES 100000
#define MAX_CHILDREN 256
#define MAX_LAYERS 1024
#define REASON_MAX KF_ERR_MSG_MAX

struct desc {
	char digest[KF_OCI_DIGEST_LEN];
	uint64_t size;
};

enum place_state { PLACE_PENDING = 0, PLACE_PRESENT, PLACE_MOUNTED, PLACE_COPIED, PLACE_FAILED };

struct place {
	char *repo;              /* target repository (borrowed from an image) */
	enum place_state state;
};

struct blob {
	struct desc d;
	struct kf_oci_registry *src;   /* where to fetch it (first image that needs it) */
	const char *src_repo;
	struct place *places;
	size_t n_places;
	size_t *users;                 /* engine.imgs index, one per need (an image may repeat) */
	size_t n_users;
	bool failed;
	char reason[REASON_MAX];
};

struct img {
	size_t idx;
	struct kf_oci_ref src, dst;
	struct kf_oci_registry *src_reg;
	struct kf_oci_manifest top;         /* pushed under the tag */
	struct kf_oci_manifest *children;   /* pushed by digest first (index children) */
	size_t n_children;
	bool *child_present;
	bool top_present;                   /* the manifest is there by digest */
	bool tag_ok;                        /* the tag already points at it */
	struct desc *blobs;                 /* blobs needed by manifests the target lacks */
	size_t n_blobs;
	size_t *blob_ids;                   /* into engine.blobs */
	char *platform;
	/* blob needs not yet handled (one per entry of blob_ids): the worker that takes it to zero
	 * finishes the image; its blobs' results are visible to that worker through this counter */
	atomic_size_t pending;
	bool done;                          /* finished: manifests in and tagged (or were) */
	bool failed;
	char reason[REASON_MAX];
};

struct source_reg {
	char *name;
	struct kf_oci_registry *reg;
};

struct engine {
	const struct kf_mirror_opts *opts;
	char platform[128];
	struct kf_oci_registry *dst;
	struct source_reg *srcs;
	size_t n_srcs;
	struct img *imgs;
	size_t n_imgs;
	struct blob *blobs;
	size_t n_blobs;
	size_t *order;              /* blob processing order, largest first */
	atomic_uint_fast64_t done_bytes;
	atomic_int done_items;
	pthread_mutex_t tick_mu;    /* progress_tick: counters read and shown in one order */
	uint64_t total_bytes;
	bool exporting;             /* kf_mirror_export: no target registry */
};

/* ---------------------------------------------------------------- thread pool */

struct pool {
	atomic_size_t next;
	size_t n;
	void (*fn)(struct engine *, size_t);
	struct engine *e;
};

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n && !kf_interrupted())
		p->fn(p->e, i);
	return NULL;
}

/* Runs fn over [0, n) on `jobs` threads (the caller's included). */
static void run_pool_n(struct engine *e, size_t n, void (*fn)(struct engine *, size_t), int jobs)
{
	struct pool p;
	pthread_t th[64];
	int started = 0;

	if (jobs > 64)
		jobs = 64;
	if ((size_t)jobs > n)
		jobs = (int)n;
	atomic_init(&p.next, 0);
	p.n = n;
	p.fn = fn;
	p.e = e;
	for (int i = 1; i < jobs; i++)
		if (pthread_create(&th[started], NULL, pool_main, &p) == 0)
			started++;
	pool_main(&p);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* Blob transfers: --jobs at a time. */
static void run_pool(struct engine *e, size_t n, void (*fn)(struct engine *, size_t))
{
	run_pool_n(e, n, fn, e->opts->jobs > 0 ? e->opts->jobs : 8);
}

/* Manifest round trips move a few KB each and are bound by latency, not bandwidth: four times
 * as many at once (at most 32), so a far registry's round trips overlap. */
static void run_pool_small(struct engine *e, size_t n, void (*fn)(struct engine *, size_t))
{
	int jobs = e->opts->jobs > 0 ? e->opts->jobs : 8;

	run_pool_n(e, n, fn, jobs * 4 > 32 ? (jobs > 32 ? jobs : 32) : jobs * 4);
}

/* ---------------------------------------------------------------- helpers */

/* Under tick_mu, so a tick that read the counters before a failed attempt's bytes were taken
 * back cannot land after one that read them after, leaving the old count on display. */
static void progress_tick(struct engine *e)
{
	if (!e->opts->progress)
		return;
	pthread_mutex_lock(&e->tick_mu);
	kf_progress_update(e->opts->progress, atomic_load(&e->done_bytes),
			   atomic_load(&e->done_items));
	pthread_mutex_unlock(&e->tick_mu);
}

static void on_bytes(void *ud, uint64_t n)
{
	struct engine *e = ud;

	atomic_fetch_add(&e->done_bytes, n);
	progress_tick(e);
}

/* The bytes one blob copy attempt added to the shared counter. */
struct attempt_bytes {
	struct engine *e;
	uint64_t n;
};

static void on_attempt_bytes(void *ud, uint64_t n)
{
	struct attempt_bytes *ab = ud;

	ab->n += n;
	on_bytes(ab->e, n);
}

static void img_fail(struct img *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void img_fail(struct img *im, const char *fmt, ...)
{
	va_list ap;

	if (im->failed)
		return;
	im->failed = true;
	va_start(ap, fmt);
	vsnprintf(im->reason, sizeof(im->reason), fmt, ap);
	va_end(ap);
}

static bool is_index(const char *mt)
{
	return strcmp(mt, KF_OCI_MT_OCI_INDEX) == 0 || strcmp(mt, KF_OCI_MT_DOCKER_LIST) == 0;
}

static bool is_manifest(const char *mt)
{
	return strcmp(mt, KF_OCI_MT_OCI_MANIFEST) == 0 || strcmp(mt, KF_OCI_MT_DOCKER_MANIFEST) == 0;
}

static int desc_from_json(json_t *o, struct desc *d)
{
	json_t *dg = json_object_get(o, "digest"), *sz = json_object_get(o, "size");

	if (!json_is_string(dg) || !json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    !kf_digest_valid(json_string_value(dg)))
		return -1;
	snprintf(d->digest, sizeof(d->digest), "%s", json_string_value(dg));
	d->size = (uint64_t)json_integer_value(sz);
	return 0;
}

/* Adds the config and layer blobs of an image manifest to im->blobs: read by the one manifest
 * parser (kf_oci_doc_parse), so every digest is checked before it names a blob. */
static int collect_blobs(struct img *im, const struct kf_oci_manifest *m)
{
	struct kf_oci_doc doc;
	struct kf_err err;
	struct desc *nb;

	kf_err_clear(&err);
	if (kf_oci_doc_parse(&doc, m->data, m->len, m->media_type, &err) != 0) {
		img_fail(im, "manifest %s: %s", m->digest, err.msg);
		return -1;
	}
	if (doc.is_index)
		img_fail(im, "manifest %s is an index where an image manifest belongs", m->digest);
	else if (doc.n > MAX_LAYERS)
		img_fail(im, "manifest %s has more than %d layers", m->digest, MAX_LAYERS);
	if (doc.is_index || doc.n > MAX_LAYERS) {
		kf_oci_doc_free(&doc);
		return -1;
	}
	if (!(nb = realloc(im->blobs, (im->n_blobs + 1 + doc.n) * sizeof(*nb)))) {
		img_fail(im, "out of memory");
		kf_oci_doc_free(&doc);
		return -1;
	}
	im->blobs = nb;
	memcpy(nb[im->n_blobs].digest, doc.config.digest, sizeof(nb->digest));
	nb[im->n_blobs++].size = doc.config.size;
	/* non-distributable (foreign) layers are left out by the parser: they stay where their
	 * urls say */
	for (size_t i = 0; i < doc.n; i++) {
		memcpy(nb[im->n_blobs].digest, doc.v[i].digest, sizeof(nb->digest));
		nb[im->n_blobs++].size = doc.v[i].size;
	}
	kf_oci_doc_free(&doc);
	return 0;
}

static bool is_attestation(json_t *d)
{
	json_t *ann = json_object_get(d, "annotations");
	json_t *pl = json_object_get(d, "platform");
	const char *t = json_string_value(json_object_get(ann, "vnd.docker.reference.type"));

	if (t && strcmp(t, "attestation-manifest") == 0)
		return true;
	return pl && json_is_string(json_object_get(pl, "os")) &&
	       strcmp(json_string_value(json_object_get(pl, "os")), "unknown") == 0;
}

static void platform_str(json_t *pl, char *out, size_t n)
{
	const char *os = json_string_value(json_object_get(pl, "os"));
	const char *arch = json_string_value(json_object_get(pl, "architecture"));
	const char *var = json_string_value(json_object_get(pl, "variant"));

	snprintf(out, n, "%s/%s%s%s", os ? os : "?", arch ? arch : "?", var ? "/" : "",
		 var ? var : "");
}

/* Does platform pl match the wanted "os/arch[/variant]"? */
static bool platform_match(json_t *pl, const char *want)
{
	char have[128], w[128], *v;
	const char *var = json_string_value(json_object_get(pl, "variant"));

	platform_str(pl, have, sizeof(have));
	if (strcmp(have, want) == 0)
		return true;
	/* a wanted platform without a variant matches any variant (linux/arm64 ~ linux/arm64/v8) */
	snprintf(w, sizeof(w), "%s", want);
	v = strchr(w, '/');
	if (v && !strchr(v + 1, '/') && var) {
		char base[128];
		const char *os = json_string_value(json_object_get(pl, "os"));
		const char *arch = json_string_value(json_object_get(pl, "architecture"));
		snprintf(base, sizeof(base), "%s/%s", os ? os : "?", arch ? arch : "?");
		return strcmp(base, w) == 0;
	}
	return false;
}

static struct kf_oci_registry *source_for(struct engine *e, const char *name)
{
	for (size_t i = 0; i < e->n_srcs; i++)
		if (strcmp(e->srcs[i].name, name) == 0)
			return e->srcs[i].reg;
	return NULL;
}

/* ---------------------------------------------------------------- phase 1: resolve */

static int fetch_child(struct img *im, const char *digest, struct kf_oci_manifest *out)
{
	struct kf_err err;

	kf_err_clear(&err);
	if (kf_oci_manifest_get(im->src_reg, im->src.repo, digest, out, &err) != 0) {
		img_fail(im, "%s", err.msg);
		return -1;
	}
	if (!is_manifest(out->media_type) && !is_index(out->media_type)) {
		img_fail(im, "manifest %s has unsupported media type %s", digest, out->media_type);
		return -1;
	}
	return 0;
}

static void resolve_one(struct engine *e, size_t i)
{
	struct img *im = &e->imgs[i];
	struct kf_oci_manifest m = { 0 };
	struct kf_err err;
	json_t *root = NULL;
	char tagdig[KF_OCI_DIGEST_LEN];
	const char *dst_reference = kf_oci_ref_reference(&im->dst);

	kf_err_clear(&err);
	if (kf_oci_manifest_get(im->src_reg, im->src.repo, kf_oci_ref_reference(&im->src), &m,
				&err) != 0) {
		img_fail(im, "%s", err.msg);
		goto out;
	}
	if (im->src.digest && strcmp(im->src.digest, m.digest) != 0) {
		img_fail(im, "manifest digest %s differs from the pinned %s", m.digest,
			 im->src.digest);
		goto out;
	}
	if (is_index(m.media_type)) {
		json_t *mans, *d;
		size_t k, chosen = (size_t)-1;
		char avail[REASON_MAX] = "";

		if (!(root = json_loadb(m.data, m.len, 0, NULL))) {
			img_fail(im, "index %s is not JSON", m.digest);
			goto out;
		}
		mans = json_object_get(root, "manifests");
		if (json_array_size(mans) == 0 || json_array_size(mans) > MAX_CHILDREN) {
			img_fail(im, "index %s lists %zu manifests (1..%d expected)", m.digest,
				 json_array_size(mans), MAX_CHILDREN);
			goto out;
		}
		/* a reference pinned by digest names the index itself: only the whole index keeps
		 * that digest resolvable in the target */
		if (e->opts->all_platforms || im->src.digest) {
			im->children = calloc(json_array_size(mans), sizeof(*im->children));
			im->child_present = calloc(json_array_size(mans), sizeof(bool));
			if (!im->children || !im->child_present) {
				img_fail(im, "out of memory");
				goto out;
			}
			json_array_foreach(mans, k, d) {
				struct desc cd;
				if (desc_from_json(d, &cd) != 0) {
					img_fail(im, "index %s: entry %zu is malformed", m.digest, k);
					goto out;
				}
				if (fetch_child(im, cd.digest, &im->children[k]) != 0)
					goto out;
				im->n_children++;
				if (is_index(im->children[k].media_type)) {
					img_fail(im, "index %s nests another index; not supported",
						 m.digest);
					goto out;
				}
			}
			im->top = m;
			memset(&m, 0, sizeof(m));
		} else {
			json_array_foreach(mans, k, d) {
				json_t *pl = json_object_get(d, "platform");
				char ps[128];
				if (is_attestation(d) || !pl)
					continue;
				platform_str(pl, ps, sizeof(ps));
				if (strlen(avail) + strlen(ps) + 3 < sizeof(avail)) {
					if (avail[0])
						strcat(avail, ", ");
					strcat(avail, ps);
				}
				if (chosen == (size_t)-1 && platform_match(pl, e->platform))
					chosen = k;
			}
			if (chosen == (size_t)-1) {
				img_fail(im, "no %s in the index (it has: %s); use --platform or "
					 "--all-platforms", e->platform, avail[0] ? avail : "none");
				goto out;
			}
			d = json_array_get(mans, chosen);
			{
				struct desc cd;
				char ps[128];
				if (desc_from_json(d, &cd) != 0) {
					img_fail(im, "index %s: entry %zu is malformed", m.digest, chosen);
					goto out;
				}
				platform_str(json_object_get(d, "platform"), ps, sizeof(ps));
				im->platform = strdup(ps);
				if (fetch_child(im, cd.digest, &im->top) != 0)
					goto out;
				if (!is_manifest(im->top.media_type)) {
					img_fail(im, "index entry %s is not an image manifest", cd.digest);
					goto out;
				}
				kf_info("%s: index of %zu; chose %s (%s)", im->src.repo,
					json_array_size(mans), ps, cd.digest);
			}
		}
	} else if (is_manifest(m.media_type)) {
		im->top = m;
		memset(&m, 0, sizeof(m));
	} else {
		img_fail(im, "manifest media type %s is not supported (Docker schema 2 or OCI only)",
			 m.media_type);
		goto out;
	}

	if (!e->dst) {
		/* export: everything is needed */
		for (size_t k = 0; k < im->n_children; k++)
			if (collect_blobs(im, &im->children[k]) != 0)
				goto out;
		if (is_manifest(im->top.media_type))
			collect_blobs(im, &im->top);
		goto out;
	}
	/* what does the target have already? */
	if (kf_oci_manifest_head(e->dst, im->dst.repo, dst_reference, tagdig, &err) == 0 &&
	    strcmp(tagdig, im->top.digest) == 0) {
		im->tag_ok = im->top_present = true;
		for (size_t k = 0; k < im->n_children; k++)
			im->child_present[k] = true;
		goto out;
	} else if (err.code && err.code != KF_ENOTFOUND) {
		img_fail(im, "target: %s", err.msg);
		goto out;
	}
	for (size_t k = 0; k < im->n_children; k++) {
		kf_err_clear(&err);
		if (kf_oci_manifest_head(e->dst, im->dst.repo, im->children[k].digest, NULL, &err) ==
		    0)
			im->child_present[k] = true;
		else if (collect_blobs(im, &im->children[k]) != 0)
			goto out;
	}
	if (is_manifest(im->top.media_type)) {
		kf_err_clear(&err);
		if (kf_oci_manifest_head(e->dst, im->dst.repo, im->top.digest, NULL, &err) == 0)
			im->top_present = true;
		else
			collect_blobs(im, &im->top);
	}
out:
	json_decref(root);
	kf_oci_manifest_free(&m);
}

/* ---------------------------------------------------------------- phase 2: blobs */

static bool retryable(int code)
{
	return code == KF_ENET || code == KF_EHTTP || code == KF_ETIMEOUT || code == KF_EIO;
}

static void image_finish(struct engine *e, struct img *im);

/* A blob is handled (in, or failed): every image that needed it has one need less; the image
 * whose last need this was is finished here. */
static void blob_handled(struct engine *e, struct blob *b)
{
	for (size_t u = 0; u < b->n_users; u++) {
		struct img *im = &e->imgs[b->users[u]];
		if (atomic_fetch_sub(&im->pending, 1) == 1)
			image_finish(e, im);
	}
}

static void blob_one(struct engine *e, size_t oi)
{
	struct blob *b = &e->blobs[e->order[oi]];
	const char *have = NULL;
	struct kf_err err;

	for (size_t p = 0; p < b->n_places; p++) {
		kf_err_clear(&err);
		if (kf_oci_blob_head(e->dst, b->places[p].repo, b->d.digest, NULL, &err) == 0) {
			b->places[p].state = PLACE_PRESENT;
			if (!have)
				have = b->places[p].repo;
		}
	}
	if (have) {
		atomic_fetch_add(&e->done_bytes, b->d.size);
		progress_tick(e);
	}
	for (size_t p = 0; p < b->n_places && !b->failed; p++) {
		struct place *pl = &b->places[p];
		if (pl->state == PLACE_PRESENT)
			continue;
		if (have) {
			bool mounted = false;
			kf_err_clear(&err);
			if (kf_oci_blob_mount(e->dst, pl->repo, b->d.digest, have, &mounted, NULL,
					      &err) == 0 && mounted) {
				pl->state = PLACE_MOUNTED;
				kf_debug("blob %s mounted into %s from %s", b->d.digest, pl->repo, have);
				continue;
			}
		}
		for (int attempt = 0;; attempt++) {
			struct attempt_bytes ab = { e, 0 };
			kf_err_clear(&err);
			if (kf_oci_blob_copy(b->src, b->src_repo, e->dst, pl->repo, b->d.digest,
					     b->d.size, on_attempt_bytes, &ab, &err) == 0) {
				pl->state = PLACE_COPIED;
				if (!have)
					have = pl->repo;
				break;
			}
			/* bytes of a failed attempt are not progress: take back this attempt's own
			 * (other workers add theirs to the same counter meanwhile) */
			if (ab.n) {
				atomic_fetch_sub(&e->done_bytes, ab.n);
				progress_tick(e);
			}
			if (!retryable(err.code) || attempt >= 2 || kf_interrupted()) {
				pl->state = PLACE_FAILED;
				b->failed = true;
				memcpy(b->reason, err.msg, sizeof(b->reason));
				kf_warn("blob %s for %s: %s", b->d.digest, pl->repo, err.msg);
				break;
			}
			kf_warn("blob %s for %s: %s; trying again", b->d.digest, pl->repo, err.msg);
			kf_sleep_ms(500L << attempt);
		}
	}
	blob_handled(e, b);
}

/* Builds the deduplicated blob table from every image's needs. */
static int build_blob_table(struct engine *e, struct kf_err *err)
{
	size_t cap = 0;

	for (size_t i = 0; i < e->n_imgs; i++) {
		struct img *im = &e->imgs[i];
		if (im->failed || !im->n_blobs)
			continue;
		if (!(im->blob_ids = calloc(im->n_blobs, sizeof(size_t))))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		for (size_t k = 0; k < im->n_blobs; k++) {
			struct desc *d = &im->blobs[k];
			size_t j;
			struct blob *b;
			for (j = 0; j < e->n_blobs; j++)
				if (strcmp(e->blobs[j].d.digest, d->digest) == 0)
					break;
			if (j == e->n_blobs) {
				if (e->n_blobs == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct blob *nb = realloc(e->blobs, nc * sizeof(*nb));
					if (!nb)
						return kf_err_set(err, KF_ENOMEM, "out of memory");
					e->blobs = nb;
					cap = nc;
				}
				b = &e->blobs[e->n_blobs++];
				memset(b, 0, sizeof(*b));
				b->d = *d;
				b->src = im->src_reg;
				b->src_repo = im->src.repo;
				e->total_bytes += d->size;
			}
			b = &e->blobs[j];
			im->blob_ids[k] = j;
			{
				size_t *nu = realloc(b->users, (b->n_users + 1) * sizeof(*nu));
				if (!nu)
					return kf_err_set(err, KF_ENOMEM, "out of memory");
				b->users = nu;
				b->users[b->n_users++] = i;
				atomic_store(&im->pending, k + 1);
			}
			if (b->d.size != d->size) {
				img_fail(im, "blob %s is listed with two sizes (%llu, %llu)",
					 d->digest, (unsigned long long)b->d.size,
					 (unsigned long long)d->size);
				continue;
			}
			{
				size_t p;
				for (p = 0; p < b->n_places; p++)
					if (strcmp(b->places[p].repo, im->dst.repo) == 0)
						break;
				if (p == b->n_places) {
					struct place *np = realloc(b->places,
								   (b->n_places + 1) * sizeof(*np));
					if (!np)
						return kf_err_set(err, KF_ENOMEM, "out of memory");
					b->places = np;
					b->places[b->n_places].repo = im->dst.repo;
					b->places[b->n_places].state = PLACE_PENDING;
					b->n_places++;
				}
			}
		}
	}
	if (e->n_blobs && !(e->order = malloc(e->n_blobs * sizeof(size_t))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	for (size_t j = 0; j < e->n_blobs; j++)
		e->order[j] = j;
	/* largest first: the long transfers start at once, the small ones fill the gaps */
	for (size_t a = 1; a < e->n_blobs; a++) {
		size_t v = e->order[a], c = a;
		while (c > 0 && e->blobs[e->order[c - 1]].d.size < e->blobs[v].d.size) {
			e->order[c] = e->order[c - 1];
			c--;
		}
		e->order[c] = v;
	}
	return 0;
}

/* ---------------------------------------------------------------- phase 3: manifests */

/* Pushes an image's child manifests, then its top manifest under the tag, once every blob it
 * needs is handled; counts it when it is in. Runs once per image, on the thread that handled the
 * image's last blob (or in the pass over images that need none). A failed image is not counted
 * and gets no manifest. */
static void image_finish(struct engine *e, struct img *im)
{
	struct kf_err err;

	if (im->failed)
		return;
	for (size_t k = 0; k < im->n_blobs; k++) {
		struct blob *b = &e->blobs[im->blob_ids[k]];
		if (b->failed) {
			img_fail(im, "blob %s: %s", b->d.digest, b->reason);
			return;
		}
	}
	if (kf_interrupted()) {
		img_fail(im, "interrupted");
		return;
	}
	if (!im->tag_ok) {
		for (size_t k = 0; k < im->n_children; k++) {
			if (im->child_present[k])
				continue;
			kf_err_clear(&err);
			if (kf_oci_manifest_put(e->dst, im->dst.repo, im->children[k].digest,
						im->children[k].data, im->children[k].len,
						im->children[k].media_type, &err) != 0) {
				img_fail(im, "%s", err.msg);
				return;
			}
		}
		kf_err_clear(&err);
		if (kf_oci_manifest_put(e->dst, im->dst.repo, kf_oci_ref_reference(&im->dst),
					im->top.data, im->top.len, im->top.media_type, &err) != 0) {
			img_fail(im, "%s", err.msg);
			return;
		}
	}
	im->done = true;
	atomic_fetch_add(&e->done_items, 1);
	progress_tick(e);
}

/* The images without a blob to wait for (already tagged, only a tag or manifest missing, or
 * failed while resolving) are finished before the blobs move. */
static void finish_blobless(struct engine *e, size_t i)
{
	if (atomic_load(&e->imgs[i].pending) == 0)
		image_finish(e, &e->imgs[i]);
}

/* ---------------------------------------------------------------- setup and results */

static int prepare(struct engine *e, const struct kf_mirror_image *images, size_t n,
		   struct kf_err *err)
{
	struct kf_oci_registry_opts so = { 0 }, to = { 0 };
	int rc;

	to.ca_file = e->opts->to_ca;
	to.push = true;
	to.chunk_size = e->opts->chunk_size;
	to.max_retries = e->opts->max_retries;
	to.stall_timeout_s = e->opts->stall_timeout_s;
	so.ca_file = e->opts->from_ca;
	so.max_retries = e->opts->max_retries;
	so.stall_timeout_s = e->opts->stall_timeout_s;
	if (!e->opts->to && !e->exporting)
		return kf_err_set(err, KF_EUSAGE, "mirror: no target registry given");
	if (!e->exporting && (rc = kf_oci_registry_new(&e->dst, e->opts->to, &to, err)) != 0)
		return rc;
	if (!(e->imgs = calloc(n ? n : 1, sizeof(*e->imgs))) ||
	    !(e->srcs = calloc(n + 1, sizeof(*e->srcs))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	e->n_imgs = n;
	if (e->opts->from) {
		if ((rc = kf_oci_registry_new(&e->srcs[0].reg, e->opts->from, &so, err)) != 0)
			return rc;
		if (!(e->srcs[0].name = strdup(e->opts->from)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		e->n_srcs = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct img *im = &e->imgs[i];
		struct kf_oci_ref t;
		im->idx = i;
		if ((rc = kf_oci_ref_parse(&im->src, images[i].source, err)) != 0)
			return rc;
		if (images[i].target) {
			if ((rc = kf_oci_ref_parse(&t, images[i].target, err)) != 0)
				return rc;
		} else {
			memset(&t, 0, sizeof(t));
			t.registry = strdup(im->src.registry);
			t.repo = strdup(im->src.repo);
			t.tag = im->src.tag ? strdup(im->src.tag) : NULL;
			t.digest = im->src.digest ? strdup(im->src.digest) : NULL;
			if (!t.registry || !t.repo || (im->src.tag && !t.tag) ||
			    (im->src.digest && !t.digest)) {
				kf_oci_ref_free(&t);
				return kf_err_set(err, KF_ENOMEM, "out of memory");
			}
		}
		im->dst = t;
		if (e->opts->from) {
			im->src_reg = e->srcs[0].reg;
		} else if (!(im->src_reg = source_for(e, im->src.registry))) {
			struct source_reg *s = &e->srcs[e->n_srcs];
			if ((rc = kf_oci_registry_new(&s->reg, im->src.registry, &so, err)) != 0)
				return rc;
			if (!(s->name = strdup(im->src.registry)))
				return kf_err_set(err, KF_ENOMEM, "out of memory");
			e->n_srcs++;
			im->src_reg = s->reg;
		}
	}
	return 0;
}

static void engine_free(struct engine *e)
{
	for (size_t i = 0; i < e->n_imgs; i++) {
		struct img *im = &e->imgs[i];
		kf_oci_ref_free(&im->src);
		kf_oci_ref_free(&im->dst);
		kf_oci_manifest_free(&im->top);
		for (size_t k = 0; k < im->n_children; k++)
			kf_oci_manifest_free(&im->children[k]);
		free(im->children);
		free(im->child_present);
		free(im->blobs);
		free(im->blob_ids);
		free(im->platform);
	}
	free(e->imgs);
	for (size_t j = 0; j < e->n_blobs; j++) {
		free(e->blobs[j].places);
		free(e->blobs[j].users);
	}
	free(e->blobs);
	free(e->order);
	for (size_t s = 0; s < e->n_srcs; s++) {
		kf_oci_registry_free(e->srcs[s].reg);
		free(e->srcs[s].name);
	}
	free(e->srcs);
	kf_oci_registry_free(e->dst);
	pthread_mutex_destroy(&e->tick_mu);
}

static int fill_results(struct engine *e, struct kf_mirror_result *res)
{
	for (size_t i = 0; i < e->n_imgs; i++) {
		struct img *im = &e->imgs[i];
		struct kf_mirror_result *r = &res[i];
		char *tref;
		size_t tl;

		r->source = kf_oci_ref_str(&im->src);
		tl = strlen(e->dst ? kf_oci_registry_name(e->dst) : "") + strlen(im->dst.repo) +
		     strlen(kf_oci_ref_reference(&im->dst)) + 4;
		if ((tref = malloc(tl)))
			snprintf(tref, tl, "%s/%s%s%s", e->dst ? kf_oci_registry_name(e->dst) : "", im->dst.repo,
				 im->dst.tag ? ":" : "@", kf_oci_ref_reference(&im->dst));
		r->target = tref;
		if (im->top.data)
			r->digest = strdup(im->top.digest);
		if (im->platform)
			r->platform = strdup(im->platform);
		if (im->failed) {
			r->status = KF_MIRROR_FAILED;
			r->reason = strdup(im->reason);
			continue;
		}
		for (size_t k = 0; k < im->n_blobs; k++) {
			struct blob *b = &e->blobs[im->blob_ids[k]];
			for (size_t p = 0; p < b->n_places; p++) {
				if (strcmp(b->places[p].repo, im->dst.repo) != 0)
					continue;
				switch (b->places[p].state) {
				case PLACE_PRESENT: r->blobs_present++; break;
				case PLACE_MOUNTED: r->blobs_mounted++; break;
				case PLACE_COPIED:
					r->blobs_copied++;
					r->bytes += b->d.size;
					break;
				default: break;
				}
			}
		}
		/* anything pushed (even only a tag onto a manifest that was there) is a copy */
		r->status = im->tag_ok ? KF_MIRROR_PRESENT : KF_MIRROR_COPIED;
		if (!r->source || !r->target)
			return -1;
	}
	return 0;
}

int kf_mirror_run(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		  size_t n, struct kf_mirror_result **results, struct kf_err *err)
{
	struct engine e;
	struct kf_mirror_result *res = NULL;
	size_t failed = 0;
	const char *first = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.tick_mu, NULL);
	*results = NULL;
	e.opts = opts;
	atomic_init(&e.done_bytes, 0);
	atomic_init(&e.done_items, 0);
	snprintf(e.platform, sizeof(e.platform), "%s", opts->platform ? opts->platform
								      : "linux/amd64");
	if (n > MAX_IMAGES) {
		rc = kf_err_set(err, KF_ELIMIT, "mirror: %zu images is more than %d", n, MAX_IMAGES);
		goto out;
	}
	if ((rc = prepare(&e, images, n, err)) != 0)
		goto out;
	if (opts->progress)
		kf_progress_set_total(opts->progress, 0, (int)n);
	run_pool_small(&e, n, resolve_one);
	if ((rc = build_blob_table(&e, err)) != 0)
		goto out;
	if (opts->progress)
		kf_progress_set_total(opts->progress, e.total_bytes, (int)n);
	kf_debug("mirror: %zu images, %zu distinct blobs to check (%llu bytes)", n, e.n_blobs,
		 (unsigned long long)e.total_bytes);
	run_pool_small(&e, n, finish_blobless);
	run_pool(&e, e.n_blobs, blob_one);
	/* an image still waiting for a blob lost it to an interruption (the pool stops taking work);
	 * one finished before is complete in the target and stays so */
	for (size_t i = 0; i < n; i++)
		if (!e.imgs[i].failed && !e.imgs[i].done)
			img_fail(&e.imgs[i], "interrupted");
	if (!(res = calloc(n ? n : 1, sizeof(*res)))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (fill_results(&e, res) != 0) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (res[i].status == KF_MIRROR_FAILED) {
			failed++;
			if (!first)
				first = res[i].reason;
			kf_error("%s: %s", res[i].source, res[i].reason ? res[i].reason : "failed");
		}
	if (kf_interrupted())
		rc = kf_err_set(err, KF_EINTR, "mirror interrupted; run it again to finish");
	else if (failed)
		rc = kf_err_set(err, KF_EFAIL, "mirror: %zu of %zu images failed (first: %s)", failed,
				n, first ? first : "?");
	*results = res;
	res = NULL;
out:
	if (res)
		kf_mirror_results_free(res, n);
	engine_free(&e);
	return rc;
}

int kf_mirror_export(const struct kf_mirror_opts *opts, const struct kf_mirror_image *images,
		     size_t n, const struct kf_mirror_writer *w, struct kf_err *err)
{
	struct engine e;
	int rc;

	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.tick_mu, NULL);
	e.opts = opts;
	e.exporting = true;
	atomic_init(&e.done_bytes, 0);
	atomic_init(&e.done_items, 0);
	snprintf(e.platform, sizeof(e.platform), "%s", opts->platform ? opts->platform
								      : "linux/amd64");
	if (n > MAX_IMAGES) {
		rc = kf_err_set(err, KF_ELIMIT, "bundle: %zu images is more than %d", n, MAX_IMAGES);
		goto out;
	}
	if ((rc = prepare(&e, images, n, err)) != 0)
		goto out;
	run_pool_small(&e, n, resolve_one);
	for (size_t i = 0; i < n; i++)
		if (e.imgs[i].failed) {
			rc = kf_err_set(err, KF_EFAIL, "bundle: %s: %s", images[i].source,
					e.imgs[i].reason);
			goto out;
		}
	if (kf_interrupted()) {
		rc = kf_err_set(err, KF_EINTR, "interrupted");
		goto out;
	}
	if ((rc = build_blob_table(&e, err)) != 0)
		goto out;
	if (opts->progress)
		kf_progress_set_total(opts->progress, e.total_bytes, (int)n);
	for (size_t j = 0; j < e.n_blobs; j++) {
		struct blob *b = &e.blobs[e.order[j]];
		if ((rc = w->blob(w->ud, b->src, b->src_repo, b->d.digest, b->d.size, err)) != 0)
			goto out;
		atomic_fetch_add(&e.done_bytes, b->d.size);
		progress_tick(&e);
	}
	for (size_t i = 0; i < n; i++) {
		struct img *im = &e.imgs[i];
		char *src = kf_oci_ref_str(&im->src), ref[1200];
		for (size_t k = 0; k < im->n_children && !rc; k++)
			rc = w->manifest(w->ud, &im->children[k], err);
		if (!rc)
			rc = w->manifest(w->ud, &im->top, err);
		snprintf(ref, sizeof(ref), "%s%s%s", im->dst.repo, im->dst.tag ? ":" : "@",
			 kf_oci_ref_reference(&im->dst));
		if (!rc)
			rc = w->image(w->ud, ref, src ? src : images[i].source, &im->top,
				      im->platform, err);
		free(src);
		if (rc)
			goto out;
		atomic_fetch_add(&e.done_items, 1);
		progress_tick(&e);
	}
out:
	engine_free(&e);
	return rc;
}

const char *kf_mirror_status_name(enum kf_mirror_status s)
{
	switch (s) {
	case KF_MIRROR_COPIED: return "copied";
	case KF_MIRROR_PRESENT: return "already present";
	default: return "failed";
	}
}
