/* k3sforge bundle export|import: the air-gap bundle (OCI image layout + files in one tar). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/addons.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/buf.h"
#include "k3sforge/bundle.h"
#include "k3sforge/cmd.h"
#include "k3sforge/oci.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/imageref.h"
#include "k3sforge/imagelist.h"
#include "k3sforge/labbundle.h"
#include "k3sforge/log.h"
#include "k3sforge/regserver.h"
#include "k3sforge/progress.h"


extern const struct kf_cmd kf_cmd_bundle;

static const char *opt_images, *opt_from, *opt_from_ca, *opt_platform, *opt_to, *opt_to_ca;
static const char *opt_files_dir;
static bool opt_all, opt_no_artifacts;
static struct kf_strlist opt_file;

static const struct kf_opt bundle_opts[] = {
	KF_OPT_STR_(0, "images", &opt_images, "FILE",
		    "export: image list, `source` or `source target` per line"),
	KF_OPT_STR_(0, "from", &opt_from, "REGISTRY",
		    "export: replace the registry of every source"),
	KF_OPT_STR_(0, "from-ca", &opt_from_ca, "FILE", "export: CA bundle for the source"),
	KF_OPT_FLAG_(0, "all-platforms", &opt_all, "export: keep whole multi-platform indexes"),
	KF_OPT_STR_(0, "platform", &opt_platform, "OS/ARCH", "export: platform (default linux/amd64)"),
	KF_OPT_LIST_(0, "file", &opt_file, "NAME=PATH", "export: add a file as files/NAME (repeat)"),
	KF_OPT_FLAG_(0, "no-artifacts", &opt_no_artifacts,
		     "export: leave the verified k3s release files out (they are in by default when "
		     "the configured image set is exported)"),
	KF_OPT_STR_(0, "to", &opt_to, "REGISTRY", "import: target registry (default the lab's)"),
	KF_OPT_STR_(0, "to-ca", &opt_to_ca, "FILE", "import: CA for the target"),
	KF_OPT_STR_(0, "files-dir", &opt_files_dir, "DIR", "import: where files/ are copied"),
	KF_OPT_END_,
};

static int do_export(struct kf_ctx *ctx, const char *file, int npos, char **argv)
{
	struct kf_config *cfg = NULL;
	struct kf_image_list l = { 0 };
	struct kf_bundle_file *files = NULL;
	struct kf_mirror_opts mo = { 0 };
	struct kf_artifacts_report rep;
	char hex[KF_SHA256_HEX_LEN + 1];
	size_t n_files;
	bool from_config = !opt_images && npos < 3;
	int r = 0;

	memset(&rep, 0, sizeof(rep));
	if (opt_all && opt_platform)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "bundle: --all-platforms and --platform exclude each other");
	/* an explicit -c is always read, whatever the command line gives */
	if (ctx->config_explicit || (!opt_images && npos < 3) || !opt_from)
		if ((r = kf_ctx_config(ctx, &cfg)) != 0)
			return r;
	if (opt_images) {
		r = kf_image_list_read(&l, opt_images, "bundle", &ctx->err);
	} else if (npos >= 3) {
		for (int i = 3; i <= npos && !r; i++) {
			char where[32];
			snprintf(where, sizeof(where), "argument %d", i);
			if ((r = kf_image_list_check(argv[i], "bundle", where, &ctx->err)) == 0 &&
			    kf_image_list_add(&l, argv[i], NULL) != 0)
				r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		}
	} else {
		for (size_t i = 0; i < cfg->images.n_refs && !r; i++)
			if (kf_image_list_add(&l, cfg->images.refs[i].source,
					      cfg->images.refs[i].target) != 0)
				r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	}
	if (r)
		goto out;
	if (opt_file.n && !(files = calloc((size_t)opt_file.n, sizeof(*files)))) {
		r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < opt_file.n; i++) {
		const char *eq = strchr(opt_file.items[i], '=');
		char *name;
		if (!eq || eq == opt_file.items[i] || !eq[1]) {
			r = kf_err_set(&ctx->err, KF_EUSAGE, "bundle: --file wants NAME=PATH, got '%s'",
				       opt_file.items[i]);
			goto out;
		}
		if (!(name = strndup(opt_file.items[i], (size_t)(eq - opt_file.items[i])))) {
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
			goto out;
		}
		files[i].name = name;
		files[i].path = eq + 1;
	}
	n_files = (size_t)opt_file.n;
	if (from_config && !opt_no_artifacts) {
		/* the artifacts step writes <out>/artifacts: hold the directory */
		if ((r = kf_ctx_config(ctx, &cfg)) != 0 || (r = kf_ctx_lock(ctx)) != 0 ||
		    (r = kf_lab_bundle_artifacts(&ctx->lab, &rep, &files, &n_files, &ctx->err)) != 0 ||
		    (r = kf_lab_bundle_complete(&ctx->lab, &l, &ctx->err)) != 0)
			goto out;
	}
	mo.from = opt_from ? opt_from : (cfg ? cfg->images.source_registry : NULL);
	mo.from_ca = opt_from_ca;
	mo.all_platforms = opt_all;
	mo.platform = opt_platform;
	mo.progress = kf_progress_new("bundle export", 0, (int)l.n);
	r = kf_bundle_export(&mo, l.v, l.n, files, n_files, file, hex, &ctx->err);
	if (mo.progress)
		kf_progress_done(mo.progress, r == 0);
	if (!r)
		kf_ok("bundle %s written (sha256 %s, also in %s.sha256)", file, hex, file);
out:
	kf_artifacts_report_free(&rep);
	for (int i = 0; files && i < opt_file.n; i++)
		free((char *)files[i].name);
	free(files);
	kf_image_list_free(&l);
	return r;
}

static int do_import(struct kf_ctx *ctx, const char *file)
{
	struct kf_config *cfg = NULL;
	struct kf_bundle_import_stats st;
	char to[300], *ca = NULL;
	int r;

	/* An explicit -c is always read (its errors are the user's to see). Without one, --to
	 * naming the lab registry's address means the lab registry (known only with the
	 * configuration at hand; without one it is another registry). */
	if (!opt_to || ctx->config_explicit) {
		if ((r = kf_ctx_config(ctx, &cfg)) != 0)
			return r;
	} else if (kf_ctx_config(ctx, &cfg) != 0) {
		cfg = NULL;
		kf_err_clear(&ctx->err);
	}
	if (!opt_to || (cfg && kf_regserver_is_lab_address(cfg, opt_to))) {
		/* into the lab registry through its loopback push instance (the lab-facing one is
		 * read-only), trusted with the lab CA */
		if ((r = kf_ctx_lock(ctx)) != 0 ||
		    (r = kf_regserver_push_target(cfg, ctx->out_dir, to, sizeof(to), &ctx->err)) != 0)
			return r;
		if (!(ca = kf_ctx_path(ctx, KF_OUT_CA_CRT)))
			return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	} else {
		snprintf(to, sizeof(to), "%s", opt_to);
	}
	r = kf_bundle_import(file, to, opt_to_ca ? opt_to_ca : ca, opt_files_dir, &st, &ctx->err);
	if (!r)
		kf_ok("bundle %s: %zu images in %s", file, st.images, to);
	free(ca);
	return r;
}

static int bundle_run(struct kf_ctx *ctx, int argc, char **argv)
{
	int npos = 0, r;

	static const char *const verbs[] = { "export", "import" };

	if ((r = kf_cmd_parse(ctx, &kf_cmd_bundle, argc, argv, &npos)) != 0)
		return r == 1 ? 0 : r;
	if (npos >= 1 && strcmp(argv[1], "export") != 0 && strcmp(argv[1], "import") != 0)
		return kf_cmd_unknown_verb(ctx, "bundle", argv[1], verbs, 2);
	if (npos < 2)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "bundle needs a verb and a file: bundle export FILE | bundle "
				  "import FILE");
	if (strcmp(argv[1], "export") == 0)
		return do_export(ctx, argv[2], npos, argv);
	if (strcmp(argv[1], "import") == 0) {
		if (npos > 2)
			return kf_err_set(&ctx->err, KF_EUSAGE, "bundle import takes one FILE");
		return do_import(ctx, argv[2]);
	}
	return kf_err_set(&ctx->err, KF_EUSAGE, "bundle: unknown verb '%s' (export or import)",
			  argv[1]);
}

const struct kf_cmd kf_cmd_bundle = {
	.name = "bundle",
	.summary = "write or load an air-gap bundle (images as an OCI layout + files, verified)",
	.usage = "k3sforge bundle export FILE [--images FILE | IMAGE...] [--from REGISTRY] "
		 "[--file NAME=PATH]... | k3sforge bundle import FILE [--to REGISTRY]",
	.description =
		"export resolves the image set (same rules as mirror) and writes one tar archive:\n"
		"an OCI image layout (oci-layout, index.json, blobs/sha256/...), extra files under\n"
		"files/, and k3sforge-bundle.json listing every digest; FILE.sha256 gets the\n"
		"archive's own digest. import checks every digest first and refuses a truncated\n"
		"or altered bundle before loading anything into the registry. Exporting the\n"
		"configured image set (no --images, no IMAGE) also puts the verified k3s release\n"
		"files in (fetched into <out>/artifacts like prep does; --no-artifacts leaves them\n"
		"out), adds every image of the release's k3s-images.txt (and k3s.pause_image) the\n"
		"list lacks, as prep mirrors them, and refuses when it lacks an add-on image, so\n"
		"`k3sforge prep --from-bundle FILE` on the offline machine has all it needs.",
	.example = "  k3sforge bundle export lab-bundle.tar --images images.txt --file "
		   "k3s=artifacts/k3s\n  k3sforge bundle import lab-bundle.tar",
	.opts = bundle_opts,
	.run = bundle_run,
};
