/* k3sforge mirror: copy images registry to registry (default: into the lab registry), verified,
 * parallel and resumable. Thin: parses options and the image list, calls kf_mirror_run. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/imagelist.h"
#include "k3sforge/log.h"
#include "k3sforge/regserver.h"
#include "k3sforge/mirror.h"
#include "k3sforge/platform.h"
#include "k3sforge/progress.h"


extern const struct kf_cmd kf_cmd_mirror;

static const char *opt_images, *opt_from, *opt_to, *opt_from_ca, *opt_to_ca, *opt_platform;
static int opt_jobs = 8;
static bool opt_all;

static const struct kf_opt mirror_opts[] = {
	KF_OPT_STR_(0, "images", &opt_images, "FILE",
		    "image list: one `source` or `source target` per line (# comments)"),
	KF_OPT_STR_(0, "from", &opt_from, "REGISTRY",
		    "replace the registry of every source (default images.source_registry)"),
	KF_OPT_STR_(0, "to", &opt_to, "REGISTRY",
		    "target registry host:port (default: the lab registry)"),
	KF_OPT_STR_(0, "from-ca", &opt_from_ca, "FILE", "CA bundle for the source registry"),
	KF_OPT_STR_(0, "to-ca", &opt_to_ca, "FILE",
		    "CA bundle for the target (default <out>/pki/ca.crt for the lab registry)"),
	KF_OPT_INT_('j', "jobs", &opt_jobs, "N", "parallel transfers (default 8)", 1, 64),
	KF_OPT_FLAG_(0, "all-platforms", &opt_all, "keep whole multi-platform indexes"),
	KF_OPT_STR_(0, "platform", &opt_platform, "OS/ARCH",
		    "platform to take from an index (default linux/amd64)"),
	KF_OPT_END_,
};

static void print_results(const struct kf_mirror_result *res, size_t n, double secs)
{
	size_t copied = 0, present = 0, failed = 0;
	uint64_t bytes = 0;

	for (size_t i = 0; i < n; i++) {
		const struct kf_mirror_result *r = &res[i];
		if (r->status == KF_MIRROR_COPIED)
			copied++;
		else if (r->status == KF_MIRROR_PRESENT)
			present++;
		else
			failed++;
		bytes += r->bytes;
		{
			json_t *o = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:I,s:i,s:i,s:i,s:s?}", "source",
					      r->source, "target", r->target, "status",
					      kf_mirror_status_name(r->status), "digest", r->digest,
					      "platform", r->platform, "bytes", (json_int_t)r->bytes,
					      "blobs_copied", r->blobs_copied, "blobs_mounted",
					      r->blobs_mounted, "blobs_present", r->blobs_present,
					      "reason", r->reason);
			char *txt = o ? kf_json_dumps(o) : NULL;
			if (txt)
				kf_log_event("mirror_image", txt);
			free(txt);
			json_decref(o);
		}
	}
	/* The table is the command's result: stdout (also with -q); the summary line is a log line */
	if (!kf_log_json()) {
		kf_log_data("%-16s %-60s %s", "RESULT", "IMAGE", "DETAIL");
		for (size_t i = 0; i < n; i++) {
			const struct kf_mirror_result *r = &res[i];
			char detail[1200];
			if (r->status == KF_MIRROR_FAILED)
				snprintf(detail, sizeof(detail), "%s", r->reason ? r->reason : "");
			else
				snprintf(detail, sizeof(detail), "%s%s%s blobs: %d copied, %d mounted, %d present",
					 r->platform ? r->platform : "",
					 r->platform ? "; " : "", r->digest ? r->digest : "",
					 r->blobs_copied, r->blobs_mounted, r->blobs_present);
			kf_log_data("%-16s %-60s %s", kf_mirror_status_name(r->status), r->target,
				    detail);
		}
	}
	kf_log_final("mirror: %zu copied, %zu already present, %zu failed; %.1f MiB in %.1fs", copied,
		present, failed, (double)bytes / (1024.0 * 1024.0), secs);
}

static int mirror_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg = NULL;
	struct kf_image_list l = { 0 };
	struct kf_mirror_opts mo = { 0 };
	struct kf_mirror_result *res = NULL;
	char *to_default = NULL, *ca_default = NULL;
	int npos = 0, r;
	double t0;

	if ((r = kf_cmd_parse(ctx, &kf_cmd_mirror, argc, argv, &npos)) != 0)
		return r == 1 ? 0 : r;
	if (opt_all && opt_platform)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "mirror: --all-platforms and --platform exclude each other");
	if (opt_images && npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "mirror: give images either with --images FILE or as arguments");
	if (opt_platform && (!strchr(opt_platform, '/') || strlen(opt_platform) > 100))
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "mirror: --platform wants OS/ARCH[/VARIANT] such as linux/amd64");
	/* An explicit -c is always read: its timeouts and the lab registry's CA apply even when
	 * --from, --to and the images are all given here. */
	if (ctx->config_explicit || !opt_to || (!opt_images && npos == 0) || !opt_from) {
		if ((r = kf_ctx_config(ctx, &cfg)) != 0)
			return r;
	}
	if (opt_images) {
		if ((r = kf_image_list_read(&l, opt_images, "mirror", &ctx->err)) != 0)
			goto out;
	} else if (npos > 0) {
		for (int i = 1; i <= npos; i++) {
			char where[32];
			snprintf(where, sizeof(where), "argument %d", i);
			if ((r = kf_image_list_check(argv[i], "mirror", where, &ctx->err)) != 0)
				goto out;
			if (kf_image_list_add(&l, argv[i], NULL) != 0) {
				r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		for (size_t i = 0; i < cfg->images.n_refs; i++) {
			if (kf_image_list_add(&l, cfg->images.refs[i].source,
					      cfg->images.refs[i].target) != 0) {
				r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (l.n == 0) {
		r = kf_err_set(&ctx->err, KF_EUSAGE,
			       "mirror: no images (give IMAGE arguments, --images FILE or "
			       "images: in the configuration)");
		goto out;
	}
	mo.from = opt_from ? opt_from : (cfg ? cfg->images.source_registry : NULL);
	mo.from_ca = opt_from_ca;
	/* Is --to the lab registry? Only the configuration tells; without one it is not. */
	if (opt_to && !cfg && kf_ctx_config(ctx, &cfg) != 0) {
		cfg = NULL;
		kf_err_clear(&ctx->err);
	}
	if (opt_to && !(cfg && kf_regserver_is_lab_address(cfg, opt_to))) {
		mo.to = opt_to;
		mo.to_ca = opt_to_ca;
		if (!opt_to_ca && cfg) {
			/* --to naming the lab registry: its CA, as without --to */
			char *lab = kf_registry_hostport(cfg);
			bool is_lab = lab && strcmp(opt_to, lab) == 0;

			free(lab);
			if (is_lab) {
				if (!(ca_default = kf_ctx_path(ctx, KF_OUT_CA_CRT))) {
					r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
					goto out;
				}
				mo.to_ca = ca_default;
			}
		}
	} else {
		/* The lab registry is read-only where the lab reaches it: k3sforge writes through
		 * its push instance on 127.0.0.1 (same storage, same certificate). */
		size_t n = 64;
		if (!(to_default = malloc(n)) || !(ca_default = kf_ctx_path(ctx, KF_OUT_CA_CRT))) {
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
			goto out;
		}
		/* the lock keeps two runs from starting the push instance at once */
		if ((r = kf_ctx_lock(ctx)) != 0 ||
		    (r = kf_regserver_push_target(cfg, ctx->out_dir, to_default, n, &ctx->err)) != 0)
			goto out;
		mo.to = to_default;
		mo.to_ca = opt_to_ca ? opt_to_ca : ca_default;
	}
	mo.jobs = opt_jobs;
	if (cfg && cfg->timeouts.download_s > 0)
		mo.stall_timeout_s = cfg->timeouts.download_s;
	mo.all_platforms = opt_all;
	mo.platform = opt_platform;
	mo.progress = kf_progress_new("mirror", 0, (int)l.n);
	kf_info("mirror: %zu image%s to %s (%s, %d jobs)", l.n, l.n == 1 ? "" : "s", mo.to,
		opt_all ? "all platforms" : (opt_platform ? opt_platform : "linux/amd64"),
		opt_jobs);
	t0 = kf_now_mono();
	r = kf_mirror_run(&mo, l.v, l.n, &res, &ctx->err);
	if (mo.progress)
		kf_progress_done(mo.progress, r == 0);
	if (res)
		print_results(res, l.n, kf_now_mono() - t0);
out:
	kf_mirror_results_free(res, l.n);
	kf_image_list_free(&l);
	free(to_default);
	free(ca_default);
	return r;
}

const struct kf_cmd kf_cmd_mirror = {
	.name = "mirror",
	.summary = "copy container images into the lab registry (verified, parallel, resumable)",
	.usage = "k3sforge mirror [--images FILE | IMAGE...] [--from REGISTRY] [--to REGISTRY] "
		 "[--from-ca FILE] [--to-ca FILE] [--jobs N] [--all-platforms | --platform OS/ARCH]",
	.description =
		"Copies images registry to registry over the OCI distribution API: every blob and\n"
		"manifest digest is verified while streaming, blobs already in the target are\n"
		"skipped (or mounted from another repository), a blob shared by several images is\n"
		"fetched once, and digests are preserved. Rerun it after an interruption: it moves\n"
		"only what is missing. Without --to the lab registry <registry.host_ip>:<port> is\n"
		"used with <out>/pki/ca.crt. `http://host:port` is accepted for loopback only.\n"
		"Exits non-zero when any image failed, after trying all.",
	.example = "  k3sforge mirror --images images.txt\n"
		   "  k3sforge mirror --to 127.0.0.1:5000 --to-ca ca.crt rancher/mirrored-pause:3.6",
	.opts = mirror_opts,
	.run = mirror_run,
};
