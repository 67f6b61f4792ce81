/* k3sforge render: prints the guest recipe of every node (or one), or writes the installed
 * system's NoCloud seed per node. Read-only on the output directory. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/render.h"

extern const struct kf_cmd kf_cmd_render;

static const char *opt_node;
static const char *opt_seed_dir;
static const char *opt_payload_dir;

static const struct kf_opt render_opts[] = {
	KF_OPT_STR_(0, "node", &opt_node, "NAME", "only this node"),
	KF_OPT_STR_(0, "seed-dir", &opt_seed_dir, "DIR",
		    "write each node's installed-system seed (user-data, meta-data, "
		    "network-config) into DIR/<node>/ instead of printing"),
	KF_OPT_STR_(0, "payload-dir", &opt_payload_dir, "DIR",
		    "also write the installer payload (k3s, install.sh, airgap images, ..., "
		    "SHA256SUMS) into DIR, as the installer leaves it in " KF_SEED_DIR),
	KF_OPT_END_,
};

/* Text: a header line per file. --json: one object per file on stdout (not a log event:
 * events mask secrets, and the files are printed to be used as they are). */
static void print_file(bool json, const char *node, const char *name, const char *text)
{
	if (json) {
		char ts[40];
		json_t *o;
		char *line;
		kf_format_rfc3339(kf_now_wall(), ts, sizeof(ts));
		o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "type", "render", "v",
			      KF_EVENTS_VERSION, "time", ts, "node", node, "file", name, "content",
			      text);
		line = o ? kf_json_dumps(o) : NULL;
		if (line)
			puts(line);
		free(line);
		json_decref(o);
		return;
	}
	printf("# ==> %s/%s <==\n%s", node, name, text);
	if (*text && text[strlen(text) - 1] != '\n')
		putchar('\n');
}

static int render_one(struct kf_ctx *ctx, const struct kf_config *cfg,
		      const struct kf_recipe_inputs *in, const char *node)
{
	struct kf_node_recipe *rc = NULL;
	int r;

	if ((r = kf_recipe_render_node(&rc, cfg, in, node, NULL, &ctx->err)) != 0)
		return r;
	if (opt_seed_dir) {
		char *dir = kf_path_join(opt_seed_dir, node);
		r = dir ? kf_recipe_write_seed(rc, dir, &ctx->err)
			: kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		if (!r)
			kf_ok("%s: seed written to %s (instance-id %s)", node, dir, rc->instance_id);
		free(dir);
	} else {
		print_file(ctx->json, node, "autoinstall-user-data", rc->autoinstall);
		print_file(ctx->json, node, "user-data", rc->user_data);
		print_file(ctx->json, node, "meta-data", rc->meta_data);
		print_file(ctx->json, node, "network-config", rc->network_config);
	}
	kf_node_recipe_free(rc);
	return r;
}

static int render_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_recipe_inputs *in = NULL;
	int npos = 0, r;

	opt_node = opt_seed_dir = opt_payload_dir = NULL;
	if ((r = kf_cmd_parse(ctx, &kf_cmd_render, argc, argv, &npos)) != 0)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "render takes no arguments (got '%s')",
				  argv[1]);
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if (opt_node && !kf_config_node(cfg, opt_node))
		return kf_err_set(&ctx->err, KF_EUSAGE, "--node %s: no such node in %s", opt_node,
				  ctx->config_path);
	if ((r = kf_recipe_inputs_load(&in, cfg, ctx->out_dir, &ctx->err)) != 0)
		return r;
	kf_log_add_secret(in->token);
	if (in->admin_password)
		kf_log_add_secret(in->admin_password);
	if (opt_payload_dir && (r = kf_recipe_write_payload(in, opt_payload_dir, &ctx->err)) == 0)
		kf_ok("payload written to %s", opt_payload_dir);
	for (size_t i = 0; i < cfg->n_nodes && !r; i++)
		if (!opt_node || strcmp(opt_node, cfg->nodes[i].name) == 0)
			r = render_one(ctx, cfg, in, cfg->nodes[i].name);
	kf_recipe_inputs_free(in);
	return r;
}

const struct kf_cmd kf_cmd_render = {
	.name = "render",
	.summary = "print each node's cloud-init recipe, or write its installed-system seed",
	.usage = "k3sforge render [--node NAME] [--seed-dir DIR] [--payload-dir DIR]",
	.description =
		"Renders the guest templates with the configuration and prep's outputs:\nthe "
		"installer's autoinstall user-data, the installed system's user-data, meta-data and"
		"\nnetwork-config. The output holds the k3s token and the node's private host key."
		"\n--seed-dir writes DIR/<node>/{user-data,meta-data,network-config} (mode 0600): a "
		"NoCloud\nseed of the installed system. --payload-dir writes what the installer "
		"copies to\n" KF_SEED_DIR " (for guests booted without the installer).\nThe "
		"templates are built into the binary. K3SFORGE_TEMPLATES=DIR renders the ones in DIR"
		"\ninstead (for template authors: start from a copy of the source tree's templates/; "
		"build-iso\nreads them from DIR too).",
	.example = "  k3sforge render --node k3s-master1 | less\n"
		   "  k3sforge render --seed-dir /tmp/seeds",
	.opts = render_opts,
	.run = render_run,
};
