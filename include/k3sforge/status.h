/* The lab's health on one screen (`k3sforge status`): per node power, IP, SSH, role marker, k3s
 * service, node Ready and clock skew; the registry's TLS, certificate and image set; the API
 * server and the KubeSphere console. Nodes are checked in parallel, every check bounded. */
#ifndef K3SFORGE_STATUS_H
#define K3SFORGE_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/wait.h"

/* A tri-state answer: not checked (could not ask), no, yes. */
enum kf_tri { KF_TRI_UNKNOWN = -1, KF_TRI_NO = 0, KF_TRI_YES = 1 };

struct kf_status_node {
	const struct kf_node *node;   /* borrowed from the config */
	enum kf_tri power;            /* vmrun's view; unknown without vmrun */
	char ip[64];                  /* the configured IP (the truth), or vmrun's when it differs */
	enum kf_tri ssh;
	char ssh_error[KF_ERR_MSG_MAX];
	enum kf_tri marker;           /* the role's completion marker */
	enum kf_tri k3s_active;
	char k3s_state[32];           /* `systemctl is-active` answer */
	enum kf_tri ready;            /* the node's Ready condition, from the master */
	bool skew_known;
	double skew_s;                /* guest clock minus host clock, round trip halved */
};

struct kf_status {
	struct kf_status_node *nodes;
	size_t n;
	struct {
		enum kf_tri running, healthy, tls_ok;
		char tls_detail[KF_ERR_MSG_MAX];
		bool cert_known;
		int cert_days_left;
		bool images_checked;
		size_t images_wanted;
		char **missing;           /* images not in the registry */
		size_t n_missing;
		char images_error[KF_ERR_MSG_MAX];
		enum kf_tri accepts_pushes;  /* an anonymous upload was accepted on the lab side */
		char lab_addr[300];          /* where that was probed */
	} registry;
	struct {
		enum kf_tri ok;
		char version[64];
		char error[KF_ERR_MSG_MAX];
	} api;
	struct {
		bool wanted;              /* KubeSphere is on */
		enum kf_tri ok;
		long http_status;
		char error[KF_ERR_MSG_MAX];
	} console;
	char **problems;              /* one line each: what is wrong, where */
	size_t n_problems;
};

struct kf_status_opts {
	const char *out_dir;
	int ssh_timeout_ms;           /* per SSH step and per command; 0 = 3000 */
	double max_skew_s;            /* a larger |skew| is a problem; 0 = 2 */
	const struct kf_wait_vm_ops *vm;  /* may be NULL (no vmrun) */
};

/* Collects everything (never fails for an unhealthy lab; errors are out of memory). */
int kf_status_collect(struct kf_status **out, const struct kf_config *cfg,
		      const struct kf_status_opts *opts, struct kf_err *err);
/* Healthy: no problems. */
bool kf_status_healthy(const struct kf_status *st);
/* The whole status as one JSON object (new reference). */
json_t *kf_status_json(const struct kf_status *st);
/* The screen: a node table, the registry and cluster lines, then the problems (caller frees). */
char *kf_status_text(const struct kf_status *st);
void kf_status_free(struct kf_status *st);

/* Parses `kubectl get nodes -o json`: the Ready condition of node `name` (UNKNOWN if absent). */
enum kf_tri kf_status_node_ready(const char *nodes_json, const char *name);

#endif
