/* k3sforge backup FILE: the lab's identity (config, state, PKI, SSH material, token, kubeconfig,
 * registries.yaml) and optionally its registry content in one verified, 0600, optionally
 * encrypted archive (docs/backup.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/addons.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/backup.h"
#include "k3sforge/bundle.h"
#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/progress.h"
#include "k3sforge/regserver.h"

extern const struct kf_cmd kf_cmd_backup;

static bool opt_images;
static const char *opt_pass_file, *opt_pass_env;

static const struct kf_opt backup_opts[] = {
	KF_OPT_FLAG_(0, "with-images", &opt_images,
		     "also store the lab registry's images (an OCI layout bundle; the registry must run)"),
	KF_OPT_STR_(0, "passphrase-file", &opt_pass_file, "FILE",
		    "encrypt with the passphrase on the first line of FILE"),
	KF_OPT_STR_(0, "passphrase-env", &opt_pass_env, "VAR",
		    "encrypt with the passphrase in environment variable VAR"),
	KF_OPT_END_,
};

/* Exports the registry's copy of the image set to a bundle file at path. */
static int export_images(struct kf_ctx *ctx, const struct kf_config *cfg, const char *path)
{
	char listen[128], host[128], from[200];
	char *ca = kf_ctx_path(ctx, KF_OUT_CA_CRT);
	char **k3s = NULL;
	const char *const *addon = kf_addon_images(cfg);
	struct kf_mirror_image *imgs = NULL;
	struct kf_mirror_opts mo;
	size_t n_k3s = 0, n = 0;
	int port = 0, r;

	if ((r = kf_regserver_check(cfg, ctx->out_dir, &ctx->err)) != 0) {
		kf_err_wrap(&ctx->err, "--with-images needs the lab registry running "
				       "(`k3sforge registry start`)");
		goto out;
	}
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port,
				     &ctx->err)) != 0)
		goto out;
	snprintf(from, sizeof(from), "%s:%d", host, port);
	if ((r = kf_artifacts_images(&k3s, &n_k3s, ctx->out_dir, &ctx->err)) != 0)
		goto out;
	imgs = calloc(n_k3s + cfg->images.n_refs + 8, sizeof(*imgs));
	if (!imgs || !ca) {
		r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_k3s; i++)
		imgs[n++].source = k3s[i];
	for (size_t i = 0; addon[i] && i < 8; i++)
		imgs[n++].source = addon[i];
	for (size_t i = 0; i < cfg->images.n_refs; i++) {
		bool dup = false;
		const char *ref = cfg->images.refs[i].target ? cfg->images.refs[i].target
							     : cfg->images.refs[i].source;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcmp(imgs[k].source, ref) == 0;
		if (!dup)
			imgs[n++].source = ref;
	}
	memset(&mo, 0, sizeof(mo));
	mo.from = from;
	mo.from_ca = ca;
	kf_info("exporting %zu images from the lab registry %s", n, from);
	mo.progress = kf_progress_new("backup images", 0, (int)n);
	r = kf_bundle_export(&mo, imgs, n, NULL, 0, path, NULL, &ctx->err);
	if (mo.progress)
		kf_progress_done(mo.progress, r == 0);
out:
	kf_artifacts_images_free(k3s);
	free(imgs);
	free(ca);
	return r;
}

static int backup_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_backup_items items = { 0 };
	char *pass = NULL, *bundle = NULL, *tmpdir = NULL;
	int npos = 0, r;

	opt_images = false;
	opt_pass_file = opt_pass_env = NULL;
	r = kf_cmd_parse(ctx, &kf_cmd_backup, argc, argv, &npos);
	if (r)
		return r;
	if (npos != 1)
		return kf_err_set(&ctx->err, KF_EUSAGE, "backup needs exactly one FILE");
	if (opt_pass_file && opt_pass_env)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "--passphrase-file and --passphrase-env exclude each other");
	if ((opt_pass_file || opt_pass_env) &&
	    (r = kf_backup_passphrase(&pass, opt_pass_file, opt_pass_env, &ctx->err)) != 0)
		return r;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		goto out;
	if ((r = kf_ctx_lock(ctx)) != 0)
		goto out;
	if ((r = kf_backup_collect(&items, ctx->out_dir,
				   ctx->config_explicit || kf_fs_exists(ctx->config_path)
					   ? ctx->config_path : NULL,
				   &ctx->err)) != 0)
		goto out;
	if (opt_images) {
		/* The bundle is exported into a private directory of its own (0700, unpredictable
		 * name): nothing planted in the output dir can redirect the export. */
		if (!(tmpdir = kf_ctx_path(ctx, ".backup-images.XXXXXX"))) {
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
			goto out;
		}
		if (!mkdtemp(tmpdir)) {
			r = kf_err_set(&ctx->err, KF_EIO, "cannot create a temporary directory in %s: %s",
				       ctx->out_dir, strerror(errno));
			free(tmpdir);
			tmpdir = NULL;
			goto out;
		}
		if (!(bundle = kf_path_join(tmpdir, "bundle.tar"))) {
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
			goto out;
		}
		if ((r = export_images(ctx, cfg, bundle)) != 0)
			goto out;
		if (kf_backup_items_add(&items, "images/bundle.tar", bundle) != 0) {
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((r = kf_backup_write(argv[1], &items, cfg->cluster_name, pass, &ctx->err)) != 0) {
		kf_err_wrap(&ctx->err, "backup %s", argv[1]);
		goto out;
	}
	kf_ok("backup %s: %zu files%s%s (mode 0600; it holds the lab's keys and token)", argv[1],
	      items.n, opt_images ? " with the registry's images" : "",
	      pass ? ", encrypted" : "");
out:
	if (tmpdir) {
		struct kf_err e;
		kf_fs_remove_tree(tmpdir, &e);
		free(tmpdir);
	}
	free(bundle);
	kf_backup_items_free(&items);
	kf_backup_passphrase_free(pass);
	return r;
}

const struct kf_cmd kf_cmd_backup = {
	.name = "backup",
	.summary = "write the lab's identity (config, PKI, SSH keys, token, kubeconfig) to one archive",
	.usage = "k3sforge [-c FILE] [-o DIR] backup FILE [--with-images] "
		 "[--passphrase-file F | --passphrase-env VAR]",
	.description =
		"Writes the configuration (-c), state.json, pki/, ssh/, secrets/, kubeconfig and\n"
		"registries.yaml, and with --with-images the lab registry's images as an OCI layout\n"
		"bundle, into one archive with a sha256 manifest of every member. The archive is\n"
		"written 0600 to a temporary name and renamed. With a passphrase it is encrypted\n"
		"(scrypt + AES-256-GCM, authenticated). Format: docs/backup.md.",
	.example = "  k3sforge -c lab.yaml backup lab-backup.kfb --passphrase-file ~/.kf-pass",
	.opts = backup_opts,
	.run = backup_run,
};
