/* SSH to the lab's nodes with libssh2: strict host-key pinning against <out>/ssh/known_hosts
 * (checked before any authentication), ed25519 only, public-key auth with the operator key,
 * exec with exit status and bounded stdout/stderr, SFTP read/write, and the one quoting helper
 * for remote command strings. Every wait is bounded. */
#ifndef K3SFORGE_SSH_H
#define K3SFORGE_SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"

/* Why a connection failed, for readiness probes and messages. */
enum kf_ssh_fail {
	KF_SSH_OK = 0,
	KF_SSH_REFUSED,    /* TCP connection refused: sshd not (yet) listening */
	KF_SSH_TIMEOUT,    /* no answer in time (connect, banner, handshake) */
	KF_SSH_NOROUTE,    /* host/network unreachable */
	KF_SSH_RESOLVE,    /* host name did not resolve */
	KF_SSH_HOSTKEY,    /* host key differs from the pinned one, or none pinned */
	KF_SSH_AUTH,       /* the operator key was refused */
	KF_SSH_PROTOCOL,   /* handshake failed / connection dropped */
};

struct kf_ssh_target {
	const char *node;         /* for messages ("k3s-master1") */
	const char *host;         /* address to connect to */
	int port;                 /* 0 = 22 */
	const char *user;
	const char *known_hosts;  /* file with the pinned keys */
	const char *key_path;     /* private key (OpenSSH format); public key derived from it */
	int timeout_ms;           /* per connect/handshake/auth step; 0 = 10000 */
};

struct kf_ssh;

/* Connects, verifies the host key against known_hosts (entry "[host]:port" or "host" when the
 * port is 22) before authenticating, then authenticates. On failure *why says what happened
 * (may be NULL) and err carries: KF_ENET (refused/no route/resolve), KF_ETIMEOUT, KF_EHOSTKEY
 * (names node, address and both fingerprints), KF_EAUTH, KF_EFAIL (protocol). */
int kf_ssh_connect(struct kf_ssh **out, const struct kf_ssh_target *t, enum kf_ssh_fail *why,
		   struct kf_err *err);

struct kf_ssh_result {
	int exit_status;          /* -1 when the remote side sent none (killed by signal) */
	char *exit_signal;        /* e.g. "KILL", or NULL */
	struct kf_buf out;        /* bounded stdout */
	struct kf_buf errout;     /* bounded stderr */
	bool truncated;
};

/* Runs one command string on the remote side (build it with kf_shell_join / kf_shell_quote).
 * Returns 0 when the command ran (check res->exit_status), KF_ETIMEOUT after timeout_ms (the
 * channel is closed), other codes for transport failures. out_max bounds each stream (0 = 1 MiB). */
int kf_ssh_exec(struct kf_ssh *s, const char *command, int timeout_ms, size_t out_max,
		struct kf_ssh_result *res, struct kf_err *err);
void kf_ssh_result_free(struct kf_ssh_result *res);

/* SFTP: reads a remote file of at most max bytes (caller frees *out, NUL-terminated). */
int kf_ssh_read_file(struct kf_ssh *s, const char *path, char **out, size_t *len, size_t max,
		     struct kf_err *err);
/* SFTP: writes a remote file (created/truncated) with the given mode. */
int kf_ssh_write_file(struct kf_ssh *s, const char *path, const void *data, size_t len, int mode,
		      struct kf_err *err);
void kf_ssh_close(struct kf_ssh *s);

/* Short name of a failure reason ("refused", "hostkey", ...). */
const char *kf_ssh_fail_name(enum kf_ssh_fail why);

/* The quoting helper: one argument as a POSIX shell word ('...' with embedded ' escaped).
 * Caller frees. */
char *kf_shell_quote(const char *arg);
/* Appends argv as a command line of quoted words to out. */
int kf_shell_join(struct kf_buf *out, const char *const *argv);

/* Opens and closes a TCP connection to host:port within timeout_ms: the cheapest readiness
 * probe. Returns 0 or KF_ENET / KF_ETIMEOUT with *why set. */
int kf_tcp_probe(const char *host, int port, int timeout_ms, enum kf_ssh_fail *why,
		 struct kf_err *err);

#endif
