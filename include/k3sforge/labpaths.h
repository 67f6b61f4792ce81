/* The lab's contracts, each spelled once: every path below the output directory (docs/layout.md),
 * the markers and systemd units the recipe leaves on a node (templates/ writes them; wait, status
 * and doctor read them), and the registry's host:port as the guests reach it. A path here is
 * relative to <out>; join it with kf_path_join or kf_ctx_path. */
#ifndef K3SFORGE_LABPATHS_H
#define K3SFORGE_LABPATHS_H

#include <stddef.h>

#include "k3sforge/config.h"

/* <out>/ top level */
#define KF_OUT_STATE "state.json"
#define KF_OUT_LOG "k3sforge.log"
#define KF_OUT_LOCK ".lock"
#define KF_OUT_KUBECONFIG "kubeconfig"
#define KF_OUT_REGISTRIES_YAML "registries.yaml"

/* <out>/pki, <out>/ssh, <out>/secrets: the trust material prep makes */
#define KF_OUT_PKI_DIR "pki"
#define KF_OUT_CA_CRT "pki/ca.crt"
#define KF_OUT_CA_KEY "pki/ca.key"
#define KF_OUT_SERVER_CRT "pki/registry.crt"
#define KF_OUT_SERVER_KEY "pki/registry.key"
#define KF_OUT_SSH_DIR "ssh"
#define KF_OUT_SSH_KEY "ssh/id_ed25519"
#define KF_OUT_SSH_PUBKEY "ssh/id_ed25519.pub"
#define KF_OUT_SSH_HOST_DIR "ssh/host"
/* a node's host key: KF_OUT_SSH_HOST_DIR "/" <node> KF_SSH_HOST_KEY_SUFFIX (".pub" for the public) */
#define KF_SSH_HOST_KEY_SUFFIX "_ed25519"
#define KF_OUT_KNOWN_HOSTS "ssh/known_hosts"
#define KF_OUT_SECRETS_DIR "secrets"
#define KF_OUT_TOKEN "secrets/k3s-token"
#define KF_OUT_ADMIN_PASSWORD "secrets/admin-password"

/* <out>/iso: the installer and one seed per node (printf pattern, the node's name) */
#define KF_OUT_ISO_DIR "iso"
#define KF_OUT_INSTALLER_ISO "iso/installer.iso"  /* installer mode: the remastered installer */
#define KF_OUT_PAYLOAD_ISO "iso/payload.iso"      /* image mode (guest.image): the payload CD */
#define KF_OUT_SEED_ISO_FMT "iso/seed-%s.iso"

/* <out>/registry: the registry server's files */
#define KF_OUT_REGISTRY_DIR "registry"
#define KF_OUT_REGISTRY_PID "registry/registry.pid"
#define KF_OUT_REGISTRY_LOG "registry/registry.log"
#define KF_OUT_PUSH_PID "registry/push.pid"
#define KF_OUT_PUSH_LOG "registry/push.log"
#define KF_OUT_PUSH_ADDR "registry/push.addr"
/* prep's last two steps (the registry up, every image in it) finished: written after them,
 * removed when prep starts again; prep is not up to date without it */
#define KF_OUT_REGISTRY_READY "registry/.ready"
/* The same, relative to <out>/registry */
#define KF_REGISTRY_PID_NAME "registry.pid"
#define KF_REGISTRY_LOG_NAME "registry.log"
#define KF_PUSH_PID_NAME "push.pid"
#define KF_PUSH_LOG_NAME "push.log"
#define KF_PUSH_ADDR_NAME "push.addr"

/* <out>/artifacts: what the k3s download leaves (names inside the folder, then paths) */
#define KF_ARTIFACTS_SUBDIR "artifacts"
#define KF_ARTIFACTS_MANIFEST "verified.json"
#define KF_ARTIFACT_SUMS_NAME "sha256sum-amd64.txt"
#define KF_ARTIFACT_K3S_NAME "k3s"
#define KF_ARTIFACT_AIRGAP_NAME "k3s-airgap-images-amd64.tar.zst"
#define KF_ARTIFACT_IMAGES_NAME "k3s-images.txt"
#define KF_ARTIFACT_INSTALL_NAME "install.sh"
#define KF_OUT_K3S_BINARY KF_ARTIFACTS_SUBDIR "/" KF_ARTIFACT_K3S_NAME
#define KF_OUT_AIRGAP KF_ARTIFACTS_SUBDIR "/" KF_ARTIFACT_AIRGAP_NAME
#define KF_OUT_K3S_IMAGES_TXT KF_ARTIFACTS_SUBDIR "/" KF_ARTIFACT_IMAGES_NAME
#define KF_OUT_INSTALL_SH KF_ARTIFACTS_SUBDIR "/" KF_ARTIFACT_INSTALL_NAME

/* On a node: the markers node-prep and the bootstrap units write (under KF_MARKER_DIR), and the
 * units. A completion marker means done; the others are progress, never completion. */
#define KF_MARKER_DIR "/var/lib"
#define KF_MARKER_ISO_COPY "iso-copy-complete"
#define KF_MARKER_CLOUD_INIT "cloud-init-complete"
#define KF_MARKER_HOSTNAME "hostname-set"
#define KF_MARKER_TIMEZONE "timezone-set"
#define KF_MARKER_SWAP "swap-disabled"
#define KF_MARKER_MODULES "kernel-modules-loaded"
#define KF_MARKER_SYSCTL "sysctl-applied"
#define KF_MARKER_CA_CERTS "ca-certificates-updated"
#define KF_MARKER_SYNC_TIME "sync-time-enabled"
#define KF_MARKER_MASTER KF_MARKER_DIR "/k3s-bootstrap.done"
#define KF_MARKER_WORKER KF_MARKER_DIR "/k3s-agent-bootstrap.done"

#define KF_UNIT_BOOTSTRAP_MASTER "k3s-bootstrap"
#define KF_UNIT_BOOTSTRAP_WORKER "k3s-agent-bootstrap"
#define KF_UNIT_K3S_MASTER "k3s"
#define KF_UNIT_K3S_WORKER "k3s-agent"
#define KF_UNIT_SYNC_TIME "sync-time"

/* The completion marker of a role (an absolute path on the node). */
const char *kf_role_marker(enum kf_role role);
/* The bootstrap unit of a role (k3s-bootstrap / k3s-agent-bootstrap), without ".service". */
const char *kf_role_unit(enum kf_role role);
/* The k3s unit of a role (k3s / k3s-agent), without ".service". */
const char *kf_role_k3s_unit(enum kf_role role);

/* The registry's address as the guests reach it: "host_ip:port", an address with a ':' (IPv6)
 * in brackets. Caller frees; NULL when out of memory. */
char *kf_registry_hostport(const struct kf_config *cfg);

#endif
