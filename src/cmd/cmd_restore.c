/* k3sforge restore FILE: verifies a backup completely (member list, every digest, the GCM tag)
 * and only then writes its files into the output directory, all or nothing, so `up` rebuilds
 * the lab with the same CA, host keys and token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/backup.h"
#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"

extern const struct kf_cmd kf_cmd_restore;

static bool opt_force;
static const char *opt_pass_file, *opt_pass_env, *opt_config_dir;

static const struct kf_opt restore_opts[] = {
	KF_OPT_FLAG_(0, "force", &opt_force, "overwrite existing files that differ (another PKI)"),
	KF_OPT_STR_(0, "config-dir", &opt_config_dir, "DIR",
		    "where the configuration file goes (default: the output dir)"),
	KF_OPT_STR_(0, "passphrase-file", &opt_pass_file, "FILE",
		    "the passphrase of an encrypted backup, first line of FILE"),
	KF_OPT_STR_(0, "passphrase-env", &opt_pass_env, "VAR",
		    "the passphrase of an encrypted backup, in environment variable VAR"),
	KF_OPT_END_,
};

static int restore_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_restore_opts ro = { 0 };
	struct kf_restore_stats st = { 0 };
	char *pass = NULL;
	int npos = 0, r;

	opt_force = false;
	opt_pass_file = opt_pass_env = opt_config_dir = NULL;
	r = kf_cmd_parse(ctx, &kf_cmd_restore, argc, argv, &npos);
	if (r)
		return r;
	if (npos != 1)
		return kf_err_set(&ctx->err, KF_EUSAGE, "restore needs exactly one FILE");
	if (opt_pass_file && opt_pass_env)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "--passphrase-file and --passphrase-env exclude each other");
	if (!kf_fs_exists(argv[1]))
		return kf_err_set(&ctx->err, KF_ENOTFOUND, "%s does not exist", argv[1]);
	if (kf_backup_is_encrypted(argv[1]) && !opt_pass_file && !opt_pass_env)
		return kf_err_set(&ctx->err, KF_EUSAGE,
				  "%s is encrypted: pass --passphrase-file FILE or --passphrase-env VAR",
				  argv[1]);
	if ((opt_pass_file || opt_pass_env) &&
	    (r = kf_backup_passphrase(&pass, opt_pass_file, opt_pass_env, &ctx->err)) != 0)
		return r;
	/* The lock is taken only if the output dir exists: a refused archive creates nothing. */
	if (kf_fs_is_dir(ctx->out_dir) && (r = kf_ctx_lock(ctx)) != 0)
		goto out;
	ro.out_dir = ctx->out_dir;
	ro.config_dir = opt_config_dir;
	ro.passphrase = pass;
	ro.force = opt_force;
	if ((r = kf_restore(argv[1], &ro, &st, &ctx->err)) != 0)
		goto out;
	kf_ok("restored %zu files into %s (%zu already identical)", st.files, ctx->out_dir,
	      st.unchanged);
	if (st.config_path)
		kf_info("configuration: %s — run `k3sforge -c %s -o %s up` to rebuild the lab with the "
			"same CA, host keys and token",
			st.config_path, st.config_path, ctx->out_dir);
	if (st.images_path)
		kf_info("registry images: %s — load them with `k3sforge bundle import %s`",
			st.images_path, st.images_path);
out:
	kf_restore_stats_free(&st);
	kf_backup_passphrase_free(pass);
	return r;
}

const struct kf_cmd kf_cmd_restore = {
	.name = "restore",
	.summary = "verify a backup completely, then restore it into the output dir",
	.usage = "k3sforge [-o DIR] restore FILE [--force] [--config-dir DIR] "
		 "[--passphrase-file F | --passphrase-env VAR]",
	.description =
		"Reads the archive twice: first the member list and every member's sha256 against the\n"
		"manifest (and, when encrypted, the AES-GCM tag) — a damaged, truncated, tampered or\n"
		"crafted archive or a wrong passphrase is refused before anything changes; existing\n"
		"files that differ (another lab's PKI) are refused unless --force. Then the files are\n"
		"written into a staging directory next to the output dir, verified again and moved\n"
		"into place; if a move fails, the moves made are undone. Modes are k3sforge's own\n"
		"(dirs 0700, keys and secrets 0600), never the archive's. A rerun of `up` then\n"
		"rebuilds the lab with the same CA, host keys and token.",
	.example = "  k3sforge -o k3sforge-out restore lab-backup.kfb --passphrase-env KF_PASS",
	.opts = restore_opts,
	.run = restore_run,
};
