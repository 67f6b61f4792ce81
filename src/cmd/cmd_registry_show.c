/* k3sforge registry status|ls: what the lab registry is doing and what it holds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/log.h"
#include "k3sforge/oci.h"
#include "k3sforge/progress.h"
#include "k3sforge/regserver.h"

#include "cmd_registry.h"

int kf_cmd_registry_status(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_regserver_status st;
	char size[32];
	int r;

	(void)argc;
	(void)argv;
	if ((r = kf_ctx_config(ctx, &cfg)) != 0)
		return r;
	if ((r = kf_regserver_status(cfg, ctx->out_dir, &st, &ctx->err)) != 0)
		return r;
	if (ctx->json) {
		json_t *o = kf_regserver_status_json(&st);
		char *text;
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		kf_log_event("registry_status", text);
		free(text);
		json_decref(o);
		return 0;
	}
	kf_size_format(st.storage_bytes, size, sizeof(size));
	if (st.running)
		printf("registry:    running (pid %ld, %s)\n", st.pid, st.program);
	else
		printf("registry:    stopped (k3sforge registry start)\n");
	printf("url:         %s\n", st.url);
	if (st.running)
		printf("health:      %s%s%s\n", st.probe_url,
		       st.healthy && st.serves_our_cert ? " answers, serving our certificate" :
		       st.healthy ? " answers, but NOT with our certificate: " : " fails: ",
		       st.serves_our_cert ? "" : st.health_error);
	if (st.running)
		printf("lab side:    %s\n", st.read_only ? "read-only (pulls only)" :
		       "ACCEPTS PUSHES from the lab network (started by an older k3sforge; `k3sforge "
		       "registry stop` and `start` make it read-only)");
	if (st.push_running)
		printf("push:        https://%s/v2/ (pid %ld, loopback only)%s%s\n",
		       st.push_addr[0] ? st.push_addr : "?", st.push_pid,
		       st.push_healthy ? "" : " fails: ", st.push_healthy ? "" : st.push_health_error);
	else
		printf("push:        stopped (prep, mirror and bundle import start it)\n");
	if (st.cert_present)
		printf("certificate: expires %s (%d day%s left)\n", st.cert_not_after,
		       st.cert_days_left, st.cert_days_left == 1 ? "" : "s");
	else
		printf("certificate: missing (run `k3sforge prep` first)\n");
	printf("storage:     %s (%s in %llu file%s%s)\n", st.storage_dir, size, st.storage_files,
	       st.storage_files == 1 ? "" : "s", st.storage_truncated ? ", counting stopped early" :
	       "");
	return 0;
}

int kf_cmd_registry_ls(struct kf_ctx *ctx, int argc, char **argv)
{
	struct kf_config *cfg;
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	struct kf_oci_repo_tags *list = NULL;
	char spec[300], *ca = NULL;
	size_t n = 0, n_tags = 0, width = 10;
	int rc;

	if (kf_registry_opt_registry) {
		snprintf(spec, sizeof(spec), "%s", kf_registry_opt_registry);
		o.ca_file = kf_registry_opt_ca;
	} else {
		char listen[128], host[128];
		int port = 0;
		if ((rc = kf_ctx_config(ctx, &cfg)) != 0 ||
		    (rc = kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port,
					      &ctx->err)) != 0)
			return rc;
		snprintf(spec, sizeof(spec), "%s:%d", host, port);
		ca = kf_ctx_path(ctx, KF_OUT_CA_CRT);
		o.ca_file = kf_registry_opt_ca ? kf_registry_opt_ca : ca;
	}
	if ((rc = kf_oci_registry_new(&r, spec, &o, &ctx->err)) != 0 ||
	    (rc = kf_oci_list(r, argv + 1, argc > 1 ? (size_t)argc - 1 : 0, LS_MAX_REPOS,
			      LS_MAX_TAGS, &list, &n, &ctx->err)) != 0) {
		if (!kf_registry_opt_registry && rc != KF_ENOMEM)
			kf_err_wrap(&ctx->err, "the lab registry (`k3sforge registry status` tells "
					       "whether it runs; `k3sforge prep` sets it up)");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		n_tags += list[i].n_tags;
		if (strlen(list[i].name) > width)
			width = strlen(list[i].name);
	}
	if (ctx->json) {
		json_t *repos = json_array(), *ev;
		char *text;
		for (size_t i = 0; repos && i < n; i++) {
			json_t *jt = json_array();
			for (size_t k = 0; k < list[i].n_tags; k++)
				json_array_append_new(jt, json_string(list[i].tags[k]));
			json_array_append_new(repos, json_pack("{s:s,s:o}", "name", list[i].name,
							       "tags", jt));
		}
		ev = json_pack("{s:s,s:o,s:I,s:I}", "registry", spec, "repositories", repos,
			       "repository_count", (json_int_t)n, "tag_count", (json_int_t)n_tags);
		text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		kf_log_event("registry_ls", text);
		free(text);
		json_decref(ev);
	} else {
		printf("%-*s  %s\n", (int)width, "REPOSITORY", "TAGS");
		for (size_t i = 0; i < n; i++) {
			printf("%-*s  ", (int)width, list[i].name);
			for (size_t k = 0; k < list[i].n_tags; k++)
				printf("%s%s", k ? " " : "", list[i].tags[k]);
			printf("%s\n", list[i].n_tags ? "" : "(no tags)");
		}
		printf("%zu repositor%s, %zu tag%s in %s\n", n, n == 1 ? "y" : "ies", n_tags,
		       n_tags == 1 ? "" : "s", spec);
	}
out:
	kf_oci_repo_tags_free(list, n);
	kf_oci_registry_free(r);
	free(ca);
	return rc;
}
