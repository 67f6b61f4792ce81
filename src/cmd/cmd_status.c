/* k3sforge status: the lab's health on one screen or as one JSON object; --watch refreshes.
 * Exit 0 when healthy, 1 when anything is wrong (each problem is named). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k3sforge/cmd.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/status.h"
#include "k3sforge/vmsignals.h"

extern const struct kf_cmd kf_cmd_status;

static bool opt_json, opt_watch_flag;
static int opt_watch, opt_timeout, opt_rounds;
static const char *opt_max_skew;

static const struct kf_opt status_opts[] = {
	KF_OPT_FLAG_(0, "json", &opt_json, "print one JSON object on stdout (per round with --watch)"),
	KF_OPT_INT_(0, "watch", &opt_watch, "SECONDS", "refresh every SECONDS until Ctrl-C", 1, 3600),
	KF_OPT_FLAG_('w', NULL, &opt_watch_flag, "refresh every 5 seconds until Ctrl-C"),
	KF_OPT_INT_(0, "rounds", &opt_rounds, "N", "with --watch: stop after N rounds", 1, 1000000),
	KF_OPT_INT_(0, "timeout", &opt_timeout, "MS", "per SSH step and command (default 3000)", 100,
		    60000),
	KF_OPT_STR_(0, "max-skew", &opt_max_skew, "SECONDS",
		    "clock skew beyond this is a problem (default 2)"),
	KF_OPT_END_,
};

static void emit(const struct kf_status *st, bool json, bool redraw)
{
	if (json) {
		json_t *o = kf_status_json(st);
		char *s = kf_json_dumps(o);
		if (kf_log_json()) {
			kf_log_event("status", s);
		} else {
			printf("%s\n", s ? s : "{}");
		}
		free(s);
		json_decref(o);
	} else {
		char *text = kf_status_text(st);
		if (redraw)
			printf("\033[H\033[2J");
		printf("%s", text ? text : "");
		free(text);
	}
	fflush(stdout);
}

static int status_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_vmsignals vs;
	struct kf_status_opts so = { 0 };
	struct kf_err e;
	bool have_vm = false, json, healthy = false;
	int npos = 0, r, interval, round = 0;

	opt_json = opt_watch_flag = false;
	opt_watch = opt_timeout = opt_rounds = 0;
	opt_max_skew = NULL;
	r = kf_cmd_parse(ctx, &kf_cmd_status, argc, argv, &npos);
	if (r)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "status takes no arguments ('%s' given)",
				  argv[1]);
	if (opt_max_skew) {
		char *end = NULL;
		so.max_skew_s = strtod(opt_max_skew, &end);
		if (!end || *end || so.max_skew_s <= 0 || so.max_skew_s > 86400)
			return kf_err_set(&ctx->err, KF_EUSAGE,
					  "--max-skew '%s': a number of seconds above 0", opt_max_skew);
	}
	interval = opt_watch ? opt_watch : opt_watch_flag ? 5 : 0;
	json = opt_json || ctx->json;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	memset(&vs, 0, sizeof(vs));
	kf_err_clear(&e);
	if (kf_vmsignals_init(&vs, cfg, ctx->out_dir, &e) == 0)
		have_vm = true;
	else
		kf_debug("no vmrun: power state not checked (%s)", e.msg);
	so.out_dir = ctx->out_dir;
	so.ssh_timeout_ms = opt_timeout;
	so.vm = have_vm ? &vs.ops : NULL;
	if (interval)
		kf_platform_install_signals();
	for (;;) {
		struct kf_status *st = NULL;
		if ((r = kf_status_collect(&st, cfg, &so, &ctx->err)) != 0)
			break;
		healthy = kf_status_healthy(st);
		emit(st, json, interval > 0 && !json && kf_platform_isatty(1));
		kf_status_free(st);
		round++;
		if (!interval || (opt_rounds && round >= opt_rounds))
			break;
		for (int t = 0; t < interval * 10 && !kf_interrupted(); t++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (kf_interrupted())
			break;
	}
	if (have_vm)
		kf_vmsignals_free(&vs);
	if (r)
		return r;
	if (!healthy)
		return kf_err_set(&ctx->err, KF_EFAIL, "the lab is not healthy (problems listed above)");
	return 0;
}

const struct kf_cmd kf_cmd_status = {
	.name = "status",
	.summary = "the lab's health: nodes, registry, cluster (exit 0 healthy, 1 not)",
	.usage = "k3sforge [-c FILE] [-o DIR] status [--json] [--watch SECONDS] [--timeout MS]",
	.description =
		"Per node: power state (vmrun, when present), IP, SSH reachable with the pinned host\n"
		"key, the role's completion marker, the k3s/k3s-agent service, the node's Ready\n"
		"condition (asked on the master) and its clock skew against this host (`date` over\n"
		"SSH, half the round trip accounted). Registry: TLS with the lab CA, certificate days\n"
		"left, the image set (k3s-images.txt and add-ons) with missing images named. Cluster:\n"
		"the API server's /version through <out>/kubeconfig, the KubeSphere console.\n"
		"Nodes are checked in parallel; every step is bounded by --timeout.\n"
		"Exit status: 0 when healthy, 1 when any problem was found (each is listed).",
	.example = "  k3sforge status\n  k3sforge status --json | jq .nodes\n  k3sforge status --watch 10",
	.opts = status_opts,
	.run = status_run,
};
