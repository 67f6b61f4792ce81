/* Deep checks of the lab's nodes over SSH (`k3sforge doctor`): cloud-init's result, the
 * bootstrap unit's state and last log lines, the seeds' markers, containerd's images against
 * k3s-images.txt, sync-time.service, the registry reached from inside the guest with the lab CA,
 * and name resolution. Each finding says what is wrong, why it matters and the command that fixes
 * it. `doctor --bundle` also captures logs for a bug report, written as one .tar.gz with every
 * secret masked and no private key, token or password. */
#ifndef K3SFORGE_DOCTOR_H
#define K3SFORGE_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/findings.h"

/* A text captured for the bundle: its name in the archive and the (not yet masked) text. */
struct kf_capture {
	char *name;   /* "nodes/k3s-master1/cloud-init-status.txt" */
	char *text;
};

struct kf_captures {
	struct kf_capture *v;
	size_t n;
};

struct kf_doctor_opts {
	const char *out_dir;
	int timeout_ms;        /* per SSH step and command; 0 = 5000 */
	bool capture;          /* also fetch logs (journal tails, cloud-init logs) into caps */
};

/* Runs the node checks on every node in parallel and appends the findings (ids
 * "<node>/<check>") in node order; with opts->capture, appends the raw outputs to caps.
 * Returns 0 unless out of memory (a failed check is a finding). */
int kf_doctor_nodes(struct kf_findings *out, struct kf_captures *caps,
		    const struct kf_config *cfg, const struct kf_doctor_opts *opts);
/* Adds a capture (copies name and text). */
int kf_captures_add(struct kf_captures *caps, const char *name, const char *text, size_t len);
void kf_captures_free(struct kf_captures *caps);

/* Removes secrets from text: registered secrets (kf_log_mask), PEM/OpenSSH private key blocks,
 * and the values after "token", "password", "secret" keys. Caller frees. */
char *kf_doctor_scrub(const char *text);
/* Writes the bundle (tar.gz, 0600, temp + rename): every capture, the output dir's k3sforge.log,
 * state.json, registries.yaml, registry/registry.log, the configuration (config_path, may be
 * NULL), each scrubbed; never a key, the token, a password or the registry config's secret.
 * The token and the admin password are registered for masking first. */
int kf_doctor_bundle_write(const char *path, const struct kf_captures *caps,
			   const struct kf_config *cfg, const char *out_dir,
			   const char *config_path, struct kf_err *err);

#endif
