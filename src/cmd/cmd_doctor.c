/* k3sforge doctor: is this machine ready for the lab (--host: VMware Workstation, the vmnet,
 * memory, disk, WSL), and what is wrong inside each node (deep checks over SSH)? Each finding
 * says what is wrong, why it matters and how to fix it; --bundle FILE collects everything, with
 * secrets masked, into one .tar.gz for a bug report. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/doctor.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/hypervisor.h"

extern const struct kf_cmd kf_cmd_doctor;

static bool opt_host, opt_nodes;
static bool opt_json;
static const char *opt_bundle;
static int opt_timeout;

static const struct kf_opt doctor_opts[] = {
	KF_OPT_FLAG_(0, "host", &opt_host, "only check this host"),
	KF_OPT_FLAG_(0, "nodes", &opt_nodes, "only the deep checks of the nodes (over SSH)"),
	KF_OPT_FLAG_(0, "json", &opt_json, "JSON events on stdout, as the global --json"),
	KF_OPT_STR_(0, "bundle", &opt_bundle, "FILE",
		    "also write every finding, log and config (secrets masked) to FILE (.tar.gz)"),
	KF_OPT_INT_(0, "timeout", &opt_timeout, "MS", "per SSH step and command (default 5000)",
		    100, 120000),
	KF_OPT_END_,
};

static int doctor_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_findings f = { 0 };
	struct kf_captures caps = { 0 };
	size_t failed;
	int npos = 0, r;

	opt_host = opt_nodes = opt_json = false;
	opt_bundle = NULL;
	opt_timeout = 0;
	r = kf_cmd_parse(ctx, &kf_cmd_doctor, argc, argv, &npos);
	if (r)
		return r;
	if (opt_json && !ctx->json) {
		/* `doctor --json` is `--json doctor`: one shape for scripts, whichever they type */
		struct kf_log_opts lo = { ctx->verbose ? KF_LOG_DEBUG : ctx->quiet ? KF_LOG_WARN
										 : KF_LOG_INFO,
					  true, KF_COLOR_NEVER };
		ctx->json = true;
		kf_log_init(&lo);
	}
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "doctor takes no arguments ('%s' given)",
				  argv[1]);
	if (opt_host && opt_nodes)
		return kf_err_set(&ctx->err, KF_EUSAGE, "--host and --nodes exclude each other");
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if (!opt_nodes) {
		if (kf_lab_host_checks(&f, cfg, ctx->out_dir, KF_HOSTCHECK_ALL) != 0) {
			kf_findings_free(&f);
			return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		}
	}
	if (!opt_host) {
		struct kf_doctor_opts o = { .out_dir = ctx->out_dir, .timeout_ms = opt_timeout,
					    .capture = opt_bundle != NULL };
		if (kf_doctor_nodes(&f, &caps, cfg, &o) != 0) {
			kf_findings_free(&f);
			kf_captures_free(&caps);
			return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		}
	}
	if (opt_bundle) {
		json_t *list = kf_findings_json(&f);
		char *text = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		r = text ? kf_captures_add(&caps, "findings.json", text, strlen(text)) : KF_ENOMEM;
		free(text);
		json_decref(list);
		if (r == 0)
			r = kf_doctor_bundle_write(opt_bundle, &caps, cfg, ctx->out_dir,
						   kf_fs_exists(ctx->config_path) ? ctx->config_path
										  : NULL,
						   &ctx->err);
		else
			r = kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
		kf_captures_free(&caps);
		if (r) {
			kf_findings_free(&f);
			return kf_err_wrap(&ctx->err, "doctor --bundle %s", opt_bundle);
		}
		kf_info("bug-report bundle: %s (secrets masked; no keys, token or passwords)",
			opt_bundle);
	}
	kf_captures_free(&caps);
	failed = kf_findings_failed(&f);
	/* The findings are doctor's result: stdout (or host_check events), logs stay on stderr. */
	kf_report_findings(&f, "doctor", true);
	if (ctx->json) {
		json_t *ev = json_pack("{s:o}", "findings", kf_findings_json(&f));
		char *evs = kf_json_dumps(ev);
		kf_log_event("doctor", evs);
		free(evs);
		json_decref(ev);
	}
	kf_findings_free(&f);
	if (failed)
		return kf_err_set(&ctx->err, KF_EFAIL,
				  "%zu check%s failed; each says how to fix it", failed,
				  failed == 1 ? "" : "s");
	if (!ctx->json)
		kf_ok(opt_host ? "this host is ready for the lab" : "no problem found");
	return 0;
}

const struct kf_cmd kf_cmd_doctor = {
	.name = "doctor",
	.summary = "diagnose the host and every node (over SSH); --bundle for a bug report",
	.usage = "k3sforge [-c FILE] [-o DIR] doctor [--host | --nodes] [--json] [--bundle FILE] "
		 "[--timeout MS]",
	.description =
		"Host checks (hypervisor: qemu: QEMU and its version, qemu-img, the accelerator, the\n"
		"bridge qemu.bridge up with network.gateway, bridge.conf for a non-root user, memory\n"
		"and disk; docs/qemu.md). VMware: vmrun present and its version; the configured vmnet exists, is\n"
		"host-only on network.subnet and the host holds network.gateway on it (Linux:\n"
		"/etc/vmware/networking and the vmnetN adapter; from WSL: the Windows registry\n"
		"through reg.exe, and what cannot be read is reported as not checked); free memory\n"
		"and disk for the nodes; WSL and its networking mode, and in NAT mode the registry\n"
		"port proxy (netsh portproxy <registry ip>:<port> -> WSL's current address). Exits\n"
		"non-zero when a check fails; every failure says how to fix it.\n"
		"Node checks (without --host), on every node in parallel over SSH: cloud-init's\n"
		"result, the bootstrap unit's result and last log lines, the seeds' markers under\n"
		"/var/lib (each missing one named with why it matters), containerd's images against\n"
		"k3s-images.txt, sync-time.service, the registry reached from the guest with the lab\n"
		"CA (curl --cacert), and name resolution. --bundle FILE writes the findings, the\n"
		"log, state.json, registries.yaml, the registry log, the configuration and each\n"
		"node's journal tail and cloud-init logs into one .tar.gz with secrets masked; it\n"
		"never holds a private key, the token or a password.",
	.example = "  k3sforge doctor\n"
		   "  k3sforge doctor --host --json | jq -c 'select(.type == \"host_check\")'\n"
		   "  k3sforge doctor --bundle k3sforge-report.tar.gz",
	.opts = doctor_opts,
	.run = doctor_run,
};
