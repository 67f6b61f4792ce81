/* The cluster's kubeconfig: taken from the master's /etc/rancher/k3s/k3s.yaml, rewritten to the
 * master's address with k3sforge names, proven against the API server, and merged into the
 * user's kubeconfig as parsed YAML (never by text replace), keeping every other entry. */
#ifndef K3SFORGE_KUBECONFIG_H
#define K3SFORGE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"
#include "k3sforge/yaml.h"

#define KF_K3S_KUBECONFIG_PATH "/etc/rancher/k3s/k3s.yaml"

/* Rewrites k3s.yaml text: the cluster's server becomes server_url, and its cluster, user and
 * context are renamed to `name` (k3sforge-<cluster>), current-context included. The input must
 * hold exactly one cluster, user and context (what k3s writes). */
int kf_kubeconfig_rewrite(struct kf_ynode **out, const char *k3s_yaml, size_t len,
			  const char *name, const char *server_url, struct kf_err *err);

/* The kubeconfig as text (caller frees). */
char *kf_kubeconfig_text(const struct kf_ynode *kc, struct kf_err *err);

struct kf_kubeconfig_merge_opts {
	bool overwrite;       /* replace entries of the same name that differ */
	bool switch_context;  /* make ours the current context (also when the file had none) */
};

/* The file a merge into path writes: path itself, or the end of its chain of symbolic links
 * (at most 40 hops; relative links resolved from the link's directory), which need not exist
 * yet. Caller frees. */
int kf_kubeconfig_write_target(char **out, const char *path, struct kf_err *err);

/* Merges the cluster/user/context of `src` into the kubeconfig file at path (created if absent,
 * parent directory too). A symlinked path is written through: the link's final target is read,
 * backed up and replaced (temp file and backup in the target's directory), the link stays.
 * Entries with other names stay untouched; an identical entry is a no-op; a different entry of
 * the same name is refused (KF_EEXIST) unless opts->overwrite. A namespace the user set on the
 * existing lab context is kept (and is no difference). The old file is copied to *backup
 * (<target>.bak-<UTC stamp>, caller frees; NULL when nothing was there or nothing changed) and
 * the new one written atomically, mode 0600; comments of the old file survive only in the
 * backup (the file is rewritten from parsed YAML). *changed tells whether the file was
 * rewritten. */
int kf_kubeconfig_merge_file(const char *path, const struct kf_ynode *src,
			     const struct kf_kubeconfig_merge_opts *opts, bool *changed,
			     char **backup, struct kf_err *err);

/* GET <server>/version with the kubeconfig's own CA and client certificate (no -k); returns the
 * server's gitVersion (caller frees). */
int kf_kubeconfig_probe(const struct kf_ynode *kc, int timeout_ms, char **version,
			struct kf_err *err);

/* Where to merge by default: the first entry of $KUBECONFIG, else ~/.kube/config (caller frees). */
char *kf_kubeconfig_default_path(void);

#endif
