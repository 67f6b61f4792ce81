/* k3sforge version: what --version prints, as kubectl users type it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "k3sforge/cmd.h"
#include "k3sforge/log.h"

#ifndef KF_VERSION
#define KF_VERSION "0.0.0-dev"
#endif

extern const struct kf_cmd kf_cmd_version;

static const struct kf_opt version_opts[] = {
	KF_OPT_END_,
};

void kf_version_print(bool json)
{
	if (json) {
		json_t *o = json_pack("{s:s,s:s}", "version", KF_VERSION, "commit", kf_build_commit);
		char *ev = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		kf_log_event("version", ev);
		free(ev);
		json_decref(o);
		return;
	}
	printf("k3sforge %s (%s)\n", KF_VERSION, kf_build_commit);
	fflush(stdout);
}

static int version_run(struct kf_ctx *ctx, int argc, char **argv)
{
	int r = kf_cmd_parse_no_args(ctx, &kf_cmd_version, argc, argv);

	if (r)
		return r;
	kf_version_print(ctx->json);
	return 0;
}

const struct kf_cmd kf_cmd_version = {
	.name = "version",
	.summary = "print the version and the git commit it was built from (same as --version)",
	.usage = "k3sforge version",
	.description = "Prints \"k3sforge VERSION (COMMIT)\"; with --json, one version event\n"
		       "{\"type\":\"version\",\"version\":...,\"commit\":...} and the result event.",
	.example = "k3sforge version\n"
		   "k3sforge --json version",
	.opts = version_opts,
	.run = version_run,
};
