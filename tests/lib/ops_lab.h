/* The simulated lab for the ops tests (status, doctor): the default three nodes, each a real
 * sshd on its own loopback address presenting the node's pinned host key from kf_pki_ensure,
 * with a private /var/lib and bin/ (tests/fakes/guest-shell) holding the guest's commands
 * (sudo, systemctl, cloud-init, journalctl wrappers, a curl wrapper that finds the guest CA in the
 * node root, and the k3s stand-in); the real docker-registry over TLS with OPS_LAB_IMAGE pushed;
 * optionally a TLS API server (tests/lib/tls_version_server.py) with <out>/kubeconfig for it.
 * Everything is stopped by pid in ops_lab_stop. */
#ifndef KF_TEST_OPS_LAB_H
#define KF_TEST_OPS_LAB_H

#include <stdbool.h>
#include <sys/types.h>

#include "k3sforge/config.h"
#include "sshd_fixture.h"

#define OPS_LAB_NODES 3
#define OPS_LAB_IMAGE "docker.io/rancher/mirrored-pause:3.6"

struct ops_lab {
	char *dir;
	char out[400], root[OPS_LAB_NODES][400], cfg_path[500];
	char ips[OPS_LAB_NODES + 1][32];   /* nodes, then the API server */
	struct kf_test_sshd sshd[OPS_LAB_NODES];
	struct kf_config *cfg;
	long api_pid;
	int api_port;
};

/* Starts the lab on 127.0.0.<base+1..base+3> (API server on base+4 when with_api). The caller
 * fails the test on a NULL return. */
struct ops_lab *ops_lab_start(const char *tag, int base, bool with_api);
void ops_lab_stop(struct ops_lab *f);
/* (Re)writes node i's guest files as a healthy, finished node. */
void ops_lab_healthy_guest(struct ops_lab *f, int i);
/* Starts node i's sshd again (after kf_test_sshd_stop). */
void ops_lab_start_node(struct ops_lab *f, int i);
/* Writes text to <root of node i>/rel (mode) / removes it. */
void ops_lab_node_file(struct ops_lab *f, int i, const char *rel, const char *text, mode_t mode);
void ops_lab_node_rm(struct ops_lab *f, int i, const char *rel);
/* Writes a file (atomically), failing the test on error. */
void ops_lab_put(const char *path, const char *text, mode_t mode);
/* Writes f->cfg_path: the lab as YAML for the CLI (see ops_lab.c for what differs). */
void ops_lab_write_config(struct ops_lab *f);

/* Runs argv in dir (bounded, 30 s) and fails the test with its error when it does not exit 0. */
void ops_lab_sh(const char *dir, const char *const *argv);

#endif
