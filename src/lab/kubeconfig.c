/* The kubeconfig stage: fetch the master's kubeconfig over SSH (pinned host key), point it at the
 * master, prove it against the API server, write <out>/kubeconfig and merge it into the user's
 * kubeconfig (and, from WSL with --windows, the Windows user's). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/kubeconfig.h"
#include "k3sforge/lab.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/node.h"
#include "k3sforge/platform.h"
#include "k3sforge/platform_wsl.h"
#include "k3sforge/proc.h"
#include "k3sforge/ssh.h"
#include "k3sforge/state.h"

static char *context_name(const struct kf_config *cfg)
{
	size_t n = strlen(cfg->cluster_name) + 16;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "k3sforge-%s", cfg->cluster_name);
	return s;
}

static int merge_into(const struct kf_lab *lab, const char *path, const struct kf_ynode *kc,
		      struct kf_err *err)
{
	struct kf_kubeconfig_merge_opts mo = { lab->opts.kubeconfig.overwrite,
					       lab->opts.kubeconfig.switch_context };
	bool changed = false;
	char *backup = NULL, *target = NULL;
	int r = kf_kubeconfig_write_target(&target, path, err);

	if (r == 0)
		r = kf_kubeconfig_merge_file(path, kc, &mo, &changed, &backup, err);
	if (r) {
		free(target);
		return r;
	}
	if (strcmp(target, path) != 0)
		kf_info("%s is a symbolic link: writing through to %s", path, target);
	if (!changed)
		kf_info("%s already has the lab's context: unchanged", target);
	else if (backup)
		kf_ok("merged the lab's context into %s (previous file, comments included, kept as "
		      "%s)", target, backup);
	else
		kf_ok("wrote %s with the lab's context", target);
	free(backup);
	free(target);
	return 0;
}

/* Reads k3s.yaml: SFTP first (readable when the operator may), else `sudo -n cat` (k3sforge
 * renders write-kubeconfig-mode "0600": root only). */
static int fetch(struct kf_ssh *s, const char *node, char **text, size_t *len, struct kf_err *err)
{
	struct kf_ssh_result res;
	int r;

	r = kf_ssh_read_file(s, KF_K3S_KUBECONFIG_PATH, text, len, 1024 * 1024, err);
	if (r == 0)
		return 0;
	kf_debug("%s: SFTP read of %s failed (%s); trying sudo", node, KF_K3S_KUBECONFIG_PATH,
		 err->msg);
	r = kf_ssh_exec(s, "sudo -n cat " KF_K3S_KUBECONFIG_PATH, 30000, 1024 * 1024, &res, err);
	if (r == 0 && res.exit_status != 0)
		r = kf_err_set(err, KF_ENOTFOUND,
			       "%s: cannot read %s (%s); is k3s running? `k3sforge wait` first",
			       node, KF_K3S_KUBECONFIG_PATH, kf_buf_str(&res.errout));
	if (r == 0) {
		*len = res.out.len;
		*text = kf_buf_detach(&res.out);
	}
	kf_ssh_result_free(&res);
	return r;
}

static int kubeconfig_stage_run(struct kf_lab *lab, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const struct kf_node *m;
	struct kf_ssh *s = NULL;
	struct kf_ynode *kc = NULL;
	char *text = NULL, *out_text = NULL, *name = NULL, *out_path = NULL, *target = NULL;
	char *version = NULL, *winhome = NULL, server[128];
	size_t len = 0;
	int r;

	m = kf_config_master(cfg);
	if (!m)
		return kf_err_set(err, KF_ECONFIG, "the configuration has no master node");
	if ((r = kf_node_connect(&s, cfg, m, lab->out_dir, 0, NULL, err)) != 0)
		goto out;
	if ((r = fetch(s, m->name, &text, &len, err)) != 0)
		goto out;
	name = context_name(cfg);
	snprintf(server, sizeof(server), "https://%s:6443", m->ip);
	if ((r = kf_kubeconfig_rewrite(&kc, text, len, name, server, err)) != 0)
		goto out;
	if (!(out_text = kf_kubeconfig_text(kc, err))) {
		r = err->code;
		goto out;
	}
	out_path = kf_lab_path(lab, KF_OUT_KUBECONFIG);
	if ((r = kf_fs_write_atomic(out_path, out_text, strlen(out_text), 0600, err)) != 0)
		goto out;
	kf_info("wrote %s (context %s, server %s)", out_path, name, server);
	if ((r = kf_kubeconfig_probe(kc, 15000, &version, err)) != 0) {
		kf_err_wrap(err, "the kubeconfig does not work yet");
		goto out;
	}
	kf_ok("API server at %s answers with the kubeconfig's credentials: %s", server, version);
	if (!lab->opts.kubeconfig.no_merge) {
		target = lab->opts.kubeconfig.target ? strdup(lab->opts.kubeconfig.target)
						 : kf_kubeconfig_default_path();
		if ((r = merge_into(lab, target, kc, err)) != 0)
			goto out;
	}
	if (lab->opts.kubeconfig.windows) {
		char *wpath;
		if ((r = kf_wsl_windows_home(&winhome, err)) != 0)
			goto out;
		wpath = kf_path_join(winhome, ".kube/config");
		r = wpath ? merge_into(lab, wpath, kc, err) : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(wpath);
		if (r)
			goto out;
	}
	kf_info("use it: kubectl --context %s get nodes", name);
out:
	kf_ssh_close(s);
	kf_ynode_free(kc);
	free(text);
	free(out_text);
	free(name);
	free(out_path);
	free(target);
	free(version);
	free(winhome);
	return r;
}

static int kubeconfig_fingerprint(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	const struct kf_config *cfg = lab->cfg;
	const struct kf_node *m;
	char *kh;

	(void)err;
	m = kf_config_master(cfg);
	kf_fp_str(fp, "cluster", cfg->cluster_name);
	kf_fp_str(fp, "master.ip", m ? m->ip : NULL);
	kf_fp_str(fp, "master.ssh_host", m ? m->ssh_host : NULL);
	kf_fp_int(fp, "master.ssh_port", m ? m->ssh_port : 0);
	kf_fp_str(fp, "user", cfg->guest.user);
	kf_fp_int(fp, "no_merge", lab->opts.kubeconfig.no_merge);
	kf_fp_str(fp, "target", lab->opts.kubeconfig.target);
	kf_fp_int(fp, "windows", lab->opts.kubeconfig.windows);
	kh = kf_lab_path(lab, KF_OUT_KNOWN_HOSTS);
	kf_fp_file(fp, "known_hosts", kh);
	free(kh);
	return 0;
}

static int kubeconfig_check(struct kf_lab *lab, struct kf_err *err)
{
	char *p = kf_lab_path(lab, KF_OUT_KUBECONFIG);
	bool ok = p && kf_fs_exists(p);

	free(p);
	return ok ? 0 : kf_err_set(err, KF_ENOTFOUND, "<out>/kubeconfig is missing");
}

const struct kf_stage_def kf_stage_kubeconfig = {
	.name = "kubeconfig",
	.fingerprint = kubeconfig_fingerprint,
	.check = kubeconfig_check,
	.run = kubeconfig_stage_run,
	.after = kf_after_create_vms,
};

