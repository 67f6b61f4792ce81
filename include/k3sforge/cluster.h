/* What the cluster itself says, asked on the master over SSH (`k3s kubectl ... -o json`):
 * are all configured nodes Ready, are kube-system's components running (honouring the disable
 * list), is the KubeSphere release up and its console answering. Used by finalize and status. */
#ifndef K3SFORGE_CLUSTER_H
#define K3SFORGE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/ssh.h"

/* One check's outcome: ok, or what is missing (a short human list). */
struct kf_check {
	bool ok;
	char detail[1024];
};

/* Parses `kubectl get nodes -o json` text: every configured node present and Ready. */
int kf_cluster_parse_nodes(const struct kf_config *cfg, const char *json, struct kf_check *out,
			   struct kf_err *err);
/* Parses `kubectl get pods -n kube-system -o json` text: coredns, traefik, svclb,
 * local-path-provisioner, metrics-server each have a Running, ready pod — except the ones
 * switched off with k3s.disable (svclb is expected only with both servicelb and traefik on). */
int kf_cluster_parse_system_pods(const struct kf_config *cfg, const char *json,
				 struct kf_check *out, struct kf_err *err);
/* Parses `kubectl get pods -n kubesphere-system -o json`: ks-apiserver, ks-console and
 * ks-controller-manager have Running, ready pods. */
int kf_cluster_parse_kubesphere_pods(const char *json, struct kf_check *out, struct kf_err *err);

/* Runs `sudo -n k3s kubectl <args> -o json` on the master; caller frees *json. */
int kf_cluster_kubectl_json(struct kf_ssh *s, const char *args, char **json, struct kf_err *err);

/* Waits (bounded, with backoff) until every configured node is Ready and kube-system is up; with
 * KubeSphere on, until its pods run and the console's login page (kf_console_status) answers 200.
 * Each wait explains what was still missing when it gave up. */
int kf_cluster_wait_healthy(struct kf_ssh *s, const struct kf_config *cfg, int timeout_s,
			    const char *console_url, struct kf_err *err);

/* GET url → HTTP status (0 when nothing answered); *why names the failure. */
long kf_http_status(const char *url, int timeout_ms, char *why, size_t why_len);

/* The page the KubeSphere console renders to a client without a session: ks-console v4.1.3
 * answers `/` with a 302 to /login (server/controllers/view.js:110-115) and renders /login with
 * 200 (server/routes.js:74, view.js:252). */
#define KF_CONSOLE_PROBE_PATH "/login"
/* GET console_url (http://<master>:30880, no trailing slash) + KF_CONSOLE_PROBE_PATH → HTTP
 * status (0 when nothing answered; *why names the failure). 200 means the console serves. */
long kf_console_status(const char *console_url, int timeout_ms, char *why, size_t why_len);

#endif
