/* The local TLS registry the VMs pull from: a real CNCF distribution registry (`registry` /
 * Debian's `docker-registry` binary, or `docker run registry:2`) run as two instances on one
 * storage directory:
 *  - the serving instance, on registry.listen (default 0.0.0.0:5000, what the lab network and
 *    the WSL port proxy reach), in distribution's read-only maintenance mode: pulls only, every
 *    push, upload and delete refused (<out>/registry/config.yml, registry.pid, registry.log);
 *  - the push instance, bound to 127.0.0.1 on a port of its own (<out>/registry/push.addr),
 *    writable but never reachable from the lab network, through which k3sforge alone writes
 *    (prep, mirror, bundle import) (push-config.yml, push.pid, push.log).
 * Neither enables deletes. Both are supervised through their pid files, health-checked over TLS
 * against <out>/pki/ca.crt, and reused when they already serve our certificate. Also a TLS
 * handshake check that tells "nothing listens" from "unknown CA" from "certificate does not name
 * this address" (the seeds' "connection reset by peer" / SAN failure, caught on the host), and
 * a probe whether a registry accepts pushes. */
#ifndef K3SFORGE_REGSERVER_H
#define K3SFORGE_REGSERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/err.h"
#include "k3sforge/labpaths.h" /* <out>/registry and pki paths */

/* How long `ensure` waits for a freshly started registry to answer /v2/. */
#define KF_REGSERVER_START_TIMEOUT_MS 30000
/* How long `stop` waits after SIGTERM before SIGKILL. */
#define KF_REGSERVER_STOP_GRACE_MS 10000
/* The image used with registry.server = docker (never pulled by k3sforge). */
#define KF_REGSERVER_DOCKER_IMAGE "registry:2"

enum kf_regserver_kind {
	KF_REGSERVER_BINARY = 0,   /* the distribution binary runs directly */
	KF_REGSERVER_DOCKER = 1,   /* docker run registry:2 (the pid is the docker client's) */
};

/* Where everything lives; all absolute. Filled by kf_regserver_paths, freed with
 * kf_regserver_paths_free. */
struct kf_regserver_paths {
	char *out_dir;
	char *dir;        /* <out>/registry */
	char *config;     /* <out>/registry/config.yml */
	char *pid;        /* <out>/registry/registry.pid */
	char *log;        /* <out>/registry/registry.log */
	char *data;       /* registry.storage_dir or <out>/registry/data */
	char *ca;         /* <out>/pki/ca.crt */
	char *cert;       /* <out>/pki/registry.crt */
	char *key;        /* <out>/pki/registry.key */
	char *push_config; /* <out>/registry/push-config.yml */
	char *push_pid;   /* <out>/registry/push.pid */
	char *push_log;   /* <out>/registry/push.log */
	char *push_addr;  /* <out>/registry/push.addr: "127.0.0.1:<port>" of the push instance */
};

/* The program chosen to serve: kind and the executable (registry binary or docker). */
struct kf_regserver_program {
	enum kf_regserver_kind kind;
	char *exe;
};

/* What ensure did. */
struct kf_regserver_report {
	bool reused;       /* it was already running, healthy, with our certificate */
	bool restarted;    /* one of ours was running but stale (other cert/config, unhealthy) */
	bool config_changed; /* config.yml was (re)written */
	long pid;
	enum kf_regserver_kind kind;
	char probe_url[320];  /* where the health check went: https://127.0.0.1:<port>/v2/ */
	char url[320];        /* what the guests use: https://<registry ip>:<port> */
	long push_pid;        /* the push instance (127.0.0.1 only) */
	bool push_reused;
	char push_addr[64];   /* "127.0.0.1:<port>": where k3sforge pushes */
};

/* What status found. */
struct kf_regserver_status {
	bool running;        /* our registry's pid is alive */
	bool healthy;        /* /v2/ answered 200 with Docker-Distribution-Api-Version */
	bool serves_our_cert;  /* the served leaf certificate is <out>/pki/registry.crt */
	long pid;            /* 0 when not running */
	char program[256];   /* argv[0] of the running registry, or "" */
	char url[320];       /* https://<registry ip>:<port> */
	char probe_url[320];
	char health_error[256]; /* why it is not healthy, "" when healthy or stopped */
	bool cert_present;
	int cert_days_left;  /* days until registry.crt expires (negative: expired) */
	char cert_not_after[32]; /* "2027-11-22 03:00:00 UTC" */
	char storage_dir[1024];
	unsigned long long storage_bytes;
	unsigned long long storage_files;
	bool storage_truncated;  /* the walk stopped at its bound */
	bool read_only;      /* the serving instance's config.yml is in read-only mode */
	bool delete_enabled; /* either instance's config enables deletes */
	bool push_running;   /* the push instance's pid is alive */
	bool push_healthy;   /* it answers over TLS with our certificate */
	long push_pid;
	char push_addr[64];  /* "127.0.0.1:<port>", "" when never started */
	char push_health_error[256];
};

/* Fills the paths for this configuration and output directory. */
int kf_regserver_paths(struct kf_regserver_paths *p, const struct kf_config *cfg,
		       const char *out_dir, struct kf_err *err);
void kf_regserver_paths_free(struct kf_regserver_paths *p);

/* Does spec ("host:port") name the lab registry's serving instance: registry.host_ip:port, the
 * listen address, or (wildcard listen) 127.0.0.1/localhost on its port? Writes meant for it go
 * to kf_regserver_push_target instead. */
bool kf_regserver_is_lab_address(const struct kf_config *cfg, const char *spec);

/* Picks how to serve: registry.server "binary" (registry.binary, else `registry` or
 * `docker-registry` in PATH, else /usr/bin/docker-registry), "docker" (docker in PATH and the
 * registry:2 image present locally), or "auto" (a binary, else docker with the image). A missing
 * program is KF_ENOTFOUND with what to install or set. */
int kf_regserver_find_program(struct kf_regserver_program *prog, const struct kf_config *cfg,
			      struct kf_err *err);
void kf_regserver_program_free(struct kf_regserver_program *prog);

/* The listen address ("0.0.0.0:5000") and the host/port the health check connects to
 * (127.0.0.1 for a wildcard listen address, else the listen host). */
int kf_regserver_listen(const struct kf_config *cfg, char *listen, size_t n, char *probe_host,
			size_t hn, int *port, struct kf_err *err);

/* Renders the serving instance's config.yml (libyaml emitter) for the given kind: binary mode
 * uses the host paths, docker mode the container paths (/var/lib/registry, /certs). Read-only
 * maintenance mode, deletes and upload purging off (it never writes). `secret` is the http
 * secret. Caller frees *out. */
int kf_regserver_render_config(char **out, const struct kf_config *cfg,
			       const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
			       const char *secret, struct kf_err *err);
/* The push instance's push-config.yml: the same storage and certificate, writable, deletes off,
 * upload purging on, listening on 127.0.0.1:push_port (docker: 0.0.0.0:5000 in the container,
 * published on 127.0.0.1:push_port only). */
int kf_regserver_render_push_config(char **out, const struct kf_config *cfg,
				    const struct kf_regserver_paths *p,
				    enum kf_regserver_kind kind, int push_port, const char *secret,
				    struct kf_err *err);
/* Writes <out>/registry/config.yml (0600: it holds the http secret), keeping the http secret of
 * an existing file (generated once from the CSPRNG otherwise). Unchanged content leaves the file
 * untouched; *changed says whether it was written. */
int kf_regserver_write_config(const struct kf_config *cfg, const struct kf_regserver_paths *p,
			      enum kf_regserver_kind kind, bool *changed, struct kf_err *err);
/* The same for <out>/registry/push-config.yml. */
int kf_regserver_write_push_config(const struct kf_config *cfg,
				   const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
				   int push_port, bool *changed, struct kf_err *err);
/* The argv to start the server (NULL-terminated, caller frees with kf_argv_free, strv.h). */
int kf_regserver_argv(char ***argv, const struct kf_config *cfg,
		      const struct kf_regserver_paths *p, const struct kf_regserver_program *prog,
		      struct kf_err *err);
/* The argv of the push instance (binary: `serve push-config.yml`; docker: published on
 * 127.0.0.1:push_port only). */
int kf_regserver_push_argv(char ***argv, const struct kf_regserver_paths *p,
			   const struct kf_regserver_program *prog, int push_port,
			   struct kf_err *err);

/* Starts the registry or reuses the running one: checks the PKI files (missing → "run k3sforge
 * prep first"; key not matching the certificate → error), writes config.yml, reuses a running
 * registry of ours that is healthy and serves <out>/pki/registry.crt, restarts it when it serves
 * another certificate, runs with an older config.yml or does not answer; refuses a foreign
 * program on the port ("port 5000 is taken by another program; stop it or set registry.port").
 * A started registry must answer GET /v2/ within KF_REGSERVER_START_TIMEOUT_MS, else the error
 * carries the tail of registry.log. */
int kf_regserver_ensure(const struct kf_config *cfg, const char *out_dir,
			struct kf_regserver_report *rep, struct kf_err *err);
/* Where k3sforge writes to the lab registry: starts (or reuses) the push instance on
 * 127.0.0.1 and puts "127.0.0.1:<port>" into addr. The serving instance is not touched (use
 * ensure for both). Everything that writes to the lab registry (prep, mirror, bundle import)
 * pushes here, never to the lab-facing address, which refuses writes. */
int kf_regserver_push_target(const struct kf_config *cfg, const char *out_dir, char *addr,
			     size_t n, struct kf_err *err);
/* Stops both instances (pid files, or found by their command lines) with SIGTERM then
 * SIGKILL, only when a pid really is ours (its /proc cmdline names a registry program and our
 * config file). Removes the pid files. *was_running (may be NULL) tells whether either was up. */
int kf_regserver_stop(const struct kf_config *cfg, const char *out_dir, bool *was_running,
		      struct kf_err *err);
/* Fills st. Never fails because the registry is down; errors are for bad arguments. */
int kf_regserver_status(const struct kf_config *cfg, const char *out_dir,
			struct kf_regserver_status *st, struct kf_err *err);
/* The status as the registry_status event's object (docs/events.md); NULL when out of memory. */
json_t *kf_regserver_status_json(const struct kf_regserver_status *st);
/* The stage check: 0 when both instances run, answer /v2/ and serve our certificate and the
 * serving one is read-only; else an error saying which of these is not so (so `up` reruns prep
 * after a host reboot, or after an upgrade from the single open registry). */
int kf_regserver_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err);
/* What prep runs after ensure: the TLS check against the probe address (127.0.0.1 for a
 * wildcard listen address) and, when registry.host_ip is an address of this host, against
 * <host_ip>:<registry.port> with the name host_ip — so a certificate without the registry IP in
 * its SANs, or a listen address that does not cover that IP, fails here and not in the guests.
 * *checked_ip (may be NULL) tells whether the registry IP was checked. */
int kf_regserver_tls_selfcheck(const struct kf_config *cfg, const char *out_dir,
			       bool *checked_ip, struct kf_err *err);
/* Adds the configuration the registry depends on to a stage fingerprint. */
void kf_regserver_fingerprint(const struct kf_config *cfg, struct kf_fp *fp);

/* GET https://host:port/v2/ verified against ca_file; 0 when it answers 200 with the
 * Docker-Distribution-Api-Version header, else KF_ENET/KF_ETLS/KF_EHTTP/KF_ETIMEOUT. */
int kf_regserver_health(const char *host, int port, const char *ca_file, int timeout_ms,
			struct kf_err *err);

/* Does the registry at https://host:port (verified against ca_file) accept a push from an
 * anonymous client? Starts a blob upload (POST /v2/<repo>/blobs/uploads/) and, when it is
 * accepted (202), cancels it at once (DELETE on the returned Location).
 * *accepts: true when the upload was accepted. Returns 0 when the question was answered
 * (accepted, or refused with 401/403/405), else KF_ENET/KF_ETLS/KF_ETIMEOUT/KF_EHTTP. */
int kf_regserver_push_probe(const char *host, int port, const char *ca_file, const char *repo,
			    int timeout_ms, bool *accepts, struct kf_err *err);
/* The repository name the probe uses (reserved: removed from our storage after a probe). */
#define KF_REGSERVER_PROBE_REPO "k3sforge-push-probe"
/* The lab-facing check of doctor and status: probes the address the lab reaches
 * (registry.host_ip:port when it is an address of this host, else the serving instance's
 * listen address) with the probe above under KF_REGSERVER_PROBE_REPO; when it was accepted, that
 * repository (what the cancelled session left) is removed from our storage. A read-only
 * registry creates nothing. addr gets "host:port" probed. */
int kf_regserver_lab_accepts_pushes(const struct kf_config *cfg, const char *out_dir,
				    bool *accepts, char *addr, size_t an, struct kf_err *err);
/* The finding's text and fix, shared by doctor and status. */
#define KF_REGSERVER_OPEN_FINDING "the lab registry accepts pushes from the lab network"
#define KF_REGSERVER_OPEN_FIX "`k3sforge registry stop` then `k3sforge registry start` " \
	"restarts it read-only, with pushes through 127.0.0.1 only; if another program serves " \
	"this address, stop it"

/* Is our registry process: /proc/<pid>/cmdline names a registry program and contains
 * config_path. */
bool kf_regserver_pid_is_ours(long pid, const char *config_path);

/* ---- TLS handshake check ---- */

enum kf_tls_verdict {
	KF_TLS_OK = 0,
	KF_TLS_REFUSED,        /* nothing listens there */
	KF_TLS_UNREACHABLE,    /* no answer within the timeout, no route */
	KF_TLS_HANDSHAKE,      /* TCP works but TLS failed: reset by peer, not TLS, protocol error */
	KF_TLS_UNKNOWN_CA,     /* the chain does not lead to the given CA */
	KF_TLS_NAME_MISMATCH,  /* the certificate does not name the host/IP (SAN) */
	KF_TLS_EXPIRED,        /* expired or not yet valid */
	KF_TLS_BAD_CERT,       /* any other verification failure */
};

struct kf_tls_probe {
	enum kf_tls_verdict verdict;
	long verify_error;          /* OpenSSL X509_V_ERR_* of the reported failure, 0 if none */
	char subject[256];          /* the served leaf's subject, "" when none was served */
	char sans[512];             /* its SANs: "IP:127.0.0.1, DNS:localhost" */
	unsigned char *leaf_der;    /* the served leaf certificate (DER), NULL when none */
	size_t leaf_der_len;
};

/* Connects to host:port (numeric IP or name), does a TLS handshake, verifies the chain against
 * ca_file and that the certificate names `name` (IP SAN when it is an address, DNS otherwise;
 * NULL = host). Fills probe (verdict, served certificate) and returns 0 when verdict is OK, else
 * KF_ENET (refused/unreachable), KF_ETIMEOUT or KF_ETLS with a message saying which and what to
 * do. Free with kf_tls_probe_free. */
int kf_regserver_tls_check(struct kf_tls_probe *probe, const char *host, int port,
			   const char *ca_file, const char *name, int timeout_ms, struct kf_err *err);
void kf_tls_probe_free(struct kf_tls_probe *probe);
/* Short name of a verdict ("ok", "refused", "unknown-ca", "name-mismatch", ...). */
const char *kf_tls_verdict_name(enum kf_tls_verdict v);
/* Is the served leaf the certificate in cert_file (PEM)? */
bool kf_tls_probe_matches_file(const struct kf_tls_probe *probe, const char *cert_file);
/* Is addr (numeric IPv4/IPv6) assigned to an interface of this host (loopback included)? */
bool kf_regserver_addr_is_local(const char *addr);

#endif
