/* <out>/registries.yaml: the k3s/containerd mirror configuration handed to every guest as
 * /etc/rancher/k3s/registries.yaml. Each upstream in registry.mirrors (default docker.io,
 * registry.k8s.io, quay.io, ghcr.io) gets the endpoint https://<registry ip>:<port>, and
 * `configs` — keyed by the endpoint's host:port, as k3s expects — names the CA file the guest
 * holds. */
#ifndef K3SFORGE_REGISTRIES_YAML_H
#define K3SFORGE_REGISTRIES_YAML_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"

/* Where the guest holds the cluster CA (installed by the guest recipe; update-ca-certificates
 * picks it up from there too). registries.yaml's tls.ca_file points here. */
#define KF_GUEST_CA_PATH "/usr/local/share/ca-certificates/k3sforge-ca.crt"

/* The endpoint's "host:port" (IPv6 hosts in brackets) into out. */
int kf_registries_yaml_hostport(const struct kf_config *cfg, char *out, size_t n,
				struct kf_err *err);
/* Renders the file with libyaml's emitter (caller frees *out). */
int kf_registries_yaml_render(char **out, const struct kf_config *cfg, struct kf_err *err);
/* Writes <out_dir>/registries.yaml atomically (0644); identical content leaves the file
 * untouched. *changed (may be NULL) says whether it was written. */
int kf_registries_yaml_write(const struct kf_config *cfg, const char *out_dir, bool *changed,
			     struct kf_err *err);

#endif
