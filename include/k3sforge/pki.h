/* The trust material prep makes (docs/layout.md): the cluster CA and the registry server
 * certificate (OpenSSL 3, EC P-256), the operator and per-node SSH keys with known_hosts, the k3s
 * cluster token and the generated KubeSphere admin password. Everything is idempotent: a rerun
 * keeps valid material, re-issues only what no longer fits, and never silently replaces the CA. */
#ifndef K3SFORGE_PKI_H
#define K3SFORGE_PKI_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/err.h"
#include "k3sforge/labpaths.h"

#define KF_PKI_CA_DAYS 3650
#define KF_PKI_SERVER_DAYS 825
/* A server certificate that expires sooner than this is re-issued. */
#define KF_PKI_RENEW_DAYS 30
#define KF_PKI_TOKEN_BYTES 32
#define KF_PKI_PASSWORD_LEN 20

enum kf_pki_action {
	KF_PKI_KEPT = 0,      /* valid and left byte-identical */
	KF_PKI_CREATED,       /* did not exist */
	KF_PKI_REISSUED,      /* existed but no longer fitted (reason says why) */
	KF_PKI_REGENERATED,   /* replaced because of --force */
	KF_PKI_UPDATED,       /* derived file rewritten (known_hosts, a .pub, a file mode) */
};

/* What happened to one file (path relative to the output directory). */
struct kf_pki_item {
	char *path;
	enum kf_pki_action action;
	char *reason;         /* NULL for KEPT/CREATED */
};

/* What kf_pki_ensure did, so prep can log it and a second run can say "nothing to do". */
struct kf_pki_report {
	struct kf_pki_item *items;
	size_t n;
	size_t cap;
};

/* Frees the items (the struct itself is the caller's); leaves it empty and reusable. */
void kf_pki_report_free(struct kf_pki_report *rep);
/* Number of items whose action is not KEPT. */
size_t kf_pki_report_changes(const struct kf_pki_report *rep);
/* The item for a path, or NULL. */
const struct kf_pki_item *kf_pki_report_find(const struct kf_pki_report *rep, const char *path);
/* "kept", "created", "re-issued", "regenerated", "updated". */
const char *kf_pki_action_name(enum kf_pki_action action);

/* Makes sure <out_dir> holds every file listed above, valid for cfg (the admin password only
 * when KubeSphere is on and no password is configured). With force, the CA, the
 * server certificate, every SSH key, the token and the generated password are regenerated
 * (keys of nodes no longer in the config are left alone). Without force, a CA (or token) that is
 * unreadable, expired or whose key does not match is an error telling to use --force. rep may be
 * NULL; otherwise it is appended to (free with kf_pki_report_free). */
int kf_pki_ensure(const struct kf_config *cfg, const char *out_dir, bool force,
		  struct kf_pki_report *rep, struct kf_err *err);
/* The three parts of kf_pki_ensure, for callers that need only one. */
int kf_pki_ensure_tls(const struct kf_config *cfg, const char *out_dir, bool force,
		      struct kf_pki_report *rep, struct kf_err *err);
int kf_pki_ensure_ssh(const struct kf_config *cfg, const char *out_dir, bool force,
		      struct kf_pki_report *rep, struct kf_err *err);
int kf_pki_ensure_secrets(const struct kf_config *cfg, const char *out_dir, bool force,
			  struct kf_pki_report *rep, struct kf_err *err);

/* Read-only: 0 when every file kf_pki_ensure makes is present and valid for cfg, so a rerun
 * would change nothing (the stage's `check`; status/doctor). Otherwise the first problem:
 * KF_ESTATE for what prep would create or re-issue ("pki/registry.crt: expires in 12 days"),
 * or the error prep itself would give (a CA it refuses to replace). Never writes. */
int kf_pki_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);
int kf_pki_check_tls(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);
int kf_pki_check_ssh(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);
int kf_pki_check_secrets(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);

/* <out_dir>/ssh/host/<node>_ed25519, the node's private host key (".pub" next to it); caller
 * frees; NULL for an unusable name. */
char *kf_pki_host_key_path(const char *out_dir, const char *node);

/* Adds the configuration the material depends on to a stage fingerprint: cluster name, registry
 * IP and extra SANs, every node's name, IP, ssh host and port, and whether an admin password is
 * configured and whether KubeSphere is on (never the password itself). */
void kf_pki_fingerprint(struct kf_fp *fp, const struct kf_config *cfg);

/* The server certificate's wanted SANs for cfg, normalised ("IP:192.168.6.1", "DNS:localhost"),
 * de-duplicated, in order: registry IP, 127.0.0.1, localhost, extra SANs. Extra SANs may be
 * "DNS:name", "IP:addr" or bare (an address if it parses as IPv4/IPv6, else a DNS name); a bad
 * one is KF_ECONFIG naming registry.extra_sans[i]. Free with kf_strv_free (strv.h). */
int kf_pki_wanted_sans(char ***out, size_t *n, const struct kf_config *cfg, struct kf_err *err);
/* The SANs a certificate file carries, normalised like kf_pki_wanted_sans, sorted. */
int kf_pki_cert_sans(char ***out, size_t *n, const char *cert_path, struct kf_err *err);

/* Checks a server certificate: it parses, chains to the CA at ca_path (signature, validity,
 * serverAuth purpose), key_path holds its private key (key_path may be NULL to skip), and its
 * SAN set is exactly `sans` (skipped when sans is NULL). KF_ETLS with the first problem found,
 * e.g. "pki/registry.crt: SANs differ: has IP:10.0.0.1, DNS:localhost; wanted ...". */
int kf_pki_verify_server_cert(const char *ca_path, const char *cert_path, const char *key_path,
			      const char *const *sans, size_t n_sans, struct kf_err *err);
/* Whole days until the certificate expires (negative once expired; 0 on its last day). */
int kf_pki_cert_days_left(long *days, const char *cert_path, struct kf_err *err);

/* Reads <out>/secrets/k3s-token (64 hex characters; caller wipes and frees). */
int kf_pki_read_token(char **out, const char *out_dir, struct kf_err *err);
/* The KubeSphere admin password: the configured one (unless empty), else
 * <out>/secrets/admin-password, which prep writes only when KubeSphere is on (caller wipes and
 * frees). */
int kf_pki_admin_password(char **out, const struct kf_config *cfg, const char *out_dir,
			  struct kf_err *err);
/* True when pw meets KubeSphere's rules: at least 8 characters with an upper-case letter, a
 * lower-case letter and a digit. */
bool kf_pki_password_ok(const char *pw);

#endif
