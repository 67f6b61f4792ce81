/* How k3sforge reaches a node: its SSH address (the configured `ssh: host:port`, else
 * <ip>:22), the operator, the pinned known_hosts and the operator key under the output dir. */
#ifndef K3SFORGE_NODE_H
#define K3SFORGE_NODE_H

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/ssh.h"

struct kf_node_access {
	struct kf_ssh_target target;   /* points into the strings below */
	char *known_hosts;
	char *key;
};

int kf_node_access_init(struct kf_node_access *a, const struct kf_config *cfg,
			const struct kf_node *n, const char *out_dir, int timeout_ms,
			struct kf_err *err);
void kf_node_access_free(struct kf_node_access *a);
/* Connects to the node (host key pinned, operator key). */
int kf_node_connect(struct kf_ssh **out, const struct kf_config *cfg, const struct kf_node *n,
		    const char *out_dir, int timeout_ms, enum kf_ssh_fail *why, struct kf_err *err);

/* The node's clock against this host's, over an open session: runs `date +%s.%N`, timed, and
 * sets *skew_s to the node's time minus the call's midpoint on this host. Returns 0 when the
 * clock was read; otherwise KF_EFAIL with err's message exactly what came back instead (stdout,
 * else stderr, else the session's error; "" when nothing did), for "date: <that>". */
int kf_node_clock_skew(struct kf_ssh *s, int timeout_ms, double *skew_s, struct kf_err *err);

#endif
