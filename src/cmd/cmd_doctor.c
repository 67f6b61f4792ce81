/* k3sforge doctor --host: is this machine ready for the lab? (VMware Workstation, the vmnet,
 * memory, disk, WSL). Each failed check says how to fix it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/hostcheck.h"
#include "k3sforge/log.h"
#include "k3sforge/vmlab.h"

extern const struct kf_cmd kf_cmd_doctor;

static bool opt_host;
static bool opt_json;

static const struct kf_opt doctor_opts[] = {
	KF_OPT_FLAG_(0, "host", &opt_host, "check this host (the only mode so far; the default)"),
	KF_OPT_FLAG_(0, "json", &opt_json, "print the findings as a JSON list on stdout"),
	KF_OPT_END_,
};

static int doctor_run(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_findings f = { 0 };
	char *vm_dir = NULL;
	size_t failed;
	int npos = 0, r;

	opt_host = opt_json = false;
	r = kf_cmd_parse(ctx, &kf_cmd_doctor, argc, argv, &npos);
	if (r)
		return r;
	if (npos > 0)
		return kf_err_set(&ctx->err, KF_EUSAGE, "doctor takes no arguments ('%s' given)",
				  argv[1]);
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	vm_dir = kf_vmlab_dir(cfg, ctx->out_dir);
	if (!vm_dir || kf_hostcheck_run(&f, cfg, vm_dir, KF_HOSTCHECK_ALL) != 0) {
		free(vm_dir);
		kf_findings_free(&f);
		return kf_err_set(&ctx->err, KF_ENOMEM, "out of memory");
	}
	free(vm_dir);
	failed = kf_findings_failed(&f);
	if (opt_json || ctx->json) {
		json_t *list = kf_findings_json(&f);
		char *text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (opt_json && !ctx->json) {
			printf("%s\n", text ? text : "[]");
			fflush(stdout);
		} else {
			json_t *ev = json_pack("{s:o}", "findings", json_incref(list));
			char *evs = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
			kf_log_event("doctor", evs);
			free(evs);
			json_decref(ev);
		}
		free(text);
		json_decref(list);
	} else {
		kf_findings_log(&f);
	}
	kf_findings_free(&f);
	if (failed)
		return kf_err_set(&ctx->err, KF_EFAIL,
				  "%zu host check%s failed; each says how to fix it", failed,
				  failed == 1 ? "" : "s");
	if (!opt_json && !ctx->json)
		kf_ok("this host is ready for the lab");
	return 0;
}

const struct kf_cmd kf_cmd_doctor = {
	.name = "doctor",
	.summary = "check this host: VMware Workstation, the vmnet, memory, disk, WSL",
	.usage = "k3sforge [-c FILE] [-o DIR] doctor [--host] [--json]",
	.description =
		"Host checks: vmrun present and its version; the configured vmnet exists, is\n"
		"host-only on network.subnet and the host holds network.gateway on it (Linux:\n"
		"/etc/vmware/networking and the vmnetN adapter; from WSL: the Windows registry\n"
		"through reg.exe, and what cannot be read is reported as not checked); free memory\n"
		"and disk for the nodes; WSL and its networking mode, and in NAT mode the registry\n"
		"port proxy (netsh portproxy <registry ip>:<port> -> WSL's current address). Exits\n"
		"non-zero when a check fails; every failure says how to fix it.",
	.example = "  k3sforge doctor --host\n  k3sforge doctor --host --json | jq .",
	.opts = doctor_opts,
	.run = doctor_run,
};
