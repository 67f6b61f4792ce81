/* kf_pki_ensure: runs the TLS, SSH and secret parts in order, and the report that tells prep
 * what changed. */
#include "k3sforge/pki.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "pki_internal.h"

int kf_pki_ensure(const struct kf_config *cfg, const char *out_dir, bool force,
		  struct kf_pki_report *rep, struct kf_err *err)
{
	int r;

	if ((r = kf_pki_ensure_tls(cfg, out_dir, force, rep, err)) != 0)
		return r;
	if ((r = kf_pki_ensure_ssh(cfg, out_dir, force, rep, err)) != 0)
		return r;
	return kf_pki_ensure_secrets(cfg, out_dir, force, rep, err);
}

int kf_pki_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	int r;

	if ((r = kf_pki_check_tls(cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_pki_check_ssh(cfg, out_dir, err)) != 0)
		return r;
	return kf_pki_check_secrets(cfg, out_dir, err);
}

void kf_pki_fingerprint(struct kf_fp *fp, const struct kf_config *cfg)
{
	char key[64];

	kf_fp_str(fp, "pki.cluster", cfg->cluster_name);
	kf_fp_str(fp, "pki.registry_ip", cfg->registry.host_ip);
	kf_fp_int(fp, "pki.n_extra_sans", (long long)cfg->registry.n_extra_sans);
	for (size_t i = 0; i < cfg->registry.n_extra_sans; i++)
		kf_fp_str(fp, "pki.extra_san", cfg->registry.extra_sans[i]);
	kf_fp_int(fp, "pki.n_nodes", (long long)cfg->n_nodes);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		snprintf(key, sizeof(key), "pki.node[%zu]", i);
		kf_fp_str(fp, key, cfg->nodes[i].name);
		kf_fp_str(fp, key, cfg->nodes[i].ip);
		kf_fp_str(fp, key, cfg->nodes[i].ssh_host);
		kf_fp_int(fp, key, cfg->nodes[i].ssh_port);
	}
	kf_fp_int(fp, "pki.kubesphere", cfg->addons.kubesphere);
	kf_fp_int(fp, "pki.admin_password_configured",
		  cfg->addons.admin_password && cfg->addons.admin_password[0]);
}

/* --- the report ----------------------------------------------------------------------------- */

const char *kf_pki_action_name(enum kf_pki_action action)
{
	switch (action) {
	case KF_PKI_KEPT: return "kept";
	case KF_PKI_CREATED: return "created";
	case KF_PKI_REISSUED: return "re-issued";
	case KF_PKI_REGENERATED: return "regenerated";
	case KF_PKI_UPDATED: return "updated";
	}
	return "?";
}

int kf_pki_report_add(struct kf_pki_report *rep, const char *path, enum kf_pki_action action,
		      const char *why, struct kf_err *err)
{
	const char *reason = why ? why : "";
	struct kf_pki_item *it;

	if (action == KF_PKI_KEPT)
		kf_debug("%s: kept", path);
	else
		kf_info("%s: %s%s%s%s", path, kf_pki_action_name(action), reason[0] ? " (" : "",
			reason, reason[0] ? ")" : "");
	if (action != KF_PKI_KEPT) {
		json_t *ev = json_pack("{s:s, s:s, s:s?}", "path", path, "action",
				       kf_pki_action_name(action), "reason", reason[0] ? reason : NULL);
		char *txt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		kf_log_event("pki_file", txt);
		free(txt);
		json_decref(ev);
	}
	if (!rep)
		return 0;
	if (rep->n == rep->cap) {
		size_t ncap = rep->cap ? rep->cap * 2 : 16;
		struct kf_pki_item *ni = realloc(rep->items, ncap * sizeof(*ni));
		if (!ni)
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		rep->items = ni;
		rep->cap = ncap;
	}
	it = &rep->items[rep->n];
	it->path = strdup(path);
	it->action = action;
	it->reason = reason[0] ? strdup(reason) : NULL;
	if (!it->path || (reason[0] && !it->reason)) {
		free(it->path);
		free(it->reason);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	rep->n++;
	return 0;
}

void kf_pki_report_free(struct kf_pki_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->items[i].path);
		free(rep->items[i].reason);
	}
	free(rep->items);
	rep->items = NULL;
	rep->n = rep->cap = 0;
}

size_t kf_pki_report_changes(const struct kf_pki_report *rep)
{
	size_t c = 0;

	for (size_t i = 0; rep && i < rep->n; i++)
		if (rep->items[i].action != KF_PKI_KEPT)
			c++;
	return c;
}

const struct kf_pki_item *kf_pki_report_find(const struct kf_pki_report *rep, const char *path)
{
	for (size_t i = rep ? rep->n : 0; i-- > 0;)
		if (strcmp(rep->items[i].path, path) == 0)
			return &rep->items[i];
	return NULL;
}

/* --- small shared helpers ------------------------------------------------------------------- */

char *kf_pki_path(const char *out_dir, const char *rel, struct kf_err *err)
{
	char *p = kf_path_join(out_dir, rel);

	if (!p)
		kf_err_set(err, KF_ENOMEM, "out of memory");
	return p;
}

int kf_pki_fix_mode(const char *path, const char *rel, mode_t mode, struct kf_pki_report *rep,
		    struct kf_err *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return kf_err_set(err, KF_EIO, "%s: %s", path, strerror(errno));
	if ((st.st_mode & 07777) == mode)
		return 0;
	if (chmod(path, mode) != 0)
		return kf_err_set(err, KF_EIO, "%s: cannot set mode %04o: %s (fix the permissions "
				  "by hand)", path, (unsigned)mode, strerror(errno));
	char why[64];
	snprintf(why, sizeof(why), "mode was %04o, set to %04o", (unsigned)(st.st_mode & 07777),
		 (unsigned)mode);
	return kf_pki_report_add(rep, rel, KF_PKI_UPDATED, why, err);
}
