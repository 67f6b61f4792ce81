/* Shared between the QEMU backend's files (src/qemu); not a public header. */
#ifndef K3SFORGE_QEMU_INTERNAL_H
#define K3SFORGE_QEMU_INTERNAL_H

#include <stdbool.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/findings.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/qemu.h"

/* qemu_host.c: the programs (caller frees; NULL when not found) */
char *kf_qemu_find_binary(const struct kf_config *cfg);
char *kf_qemu_find_img(const char *binary);
char *kf_qemu_find_helper(const struct kf_config *cfg);
/* "7.2.22" from `qemu --version` (*text: caller frees) */
int kf_qemu_version(const char *binary, int *major, int *minor, char **text, struct kf_err *err);
/* Is there a bridge of that name, up, carrying the gateway address? */
int kf_qemu_bridge_state(const char *bridge, const char *gateway, bool *exists, bool *up,
			 bool *has_gw);
/* The host checks (hypervisor.h host_checks). */
int kf_qemu_host_checks(struct kf_findings *out, const struct kf_config *cfg,
			const char *vm_dir, unsigned what);

#endif

/* ---- The opened backend (hv_qemu.c), shared with the snapshot calls (qemu_snap.c) ---- */

struct kf_hv_qemu {
	struct kf_hv base;        /* first: the interface's common part */
	char *binary;             /* qemu-system-x86_64 */
	char *qemu_img;
	char *helper;             /* qemu-bridge-helper (non-root), NULL as root */
	char *version;            /* "7.2.22" */
	const char *accel;        /* "kvm" or "tcg", as resolved at open */
	bool root;                /* k3sforge makes the taps itself */
	int cmd_timeout_ms;       /* one QMP command or qemu-img call (timeouts.vmrun) */
};

#define KF_QEMU(hv) ((struct kf_hv_qemu *)(hv))

/* The VM's folder (caller frees). */
char *kf_qemu_folder(const struct kf_hv_qemu *q, const char *node);
/* The pid of the VM's QEMU when it runs (its pid file names a live process whose command
 * line carries this VM's pid file path); 0 when it does not. */
long kf_qemu_pid(const struct kf_hv_qemu *q, const char *node);
/* A QMP connection to the VM (bounded by cmd_timeout_ms). */
int kf_qemu_qmp(const struct kf_hv_qemu *q, const char *node, struct kf_qmp **out,
		struct kf_err *err);
/* Reads the VM's definition file. */
int kf_qemu_def_load(const struct kf_hv_qemu *q, const char *node, struct kf_qemu_def *d,
		     struct kf_err *err);
/* Runs qemu-img with args (NULL-terminated, after the program); *out (may be NULL) gets
 * stdout (caller frees). */
int kf_qemu_img(const struct kf_hv_qemu *q, const char *const *args, char **out,
		struct kf_err *err);
/* Starts the VM (loadvm: a snapshot to start from, NULL to boot). */
int kf_qemu_start_from(struct kf_hv_qemu *q, const char *node, const char *loadvm,
		       struct kf_err *err);
/* Hard stop: QMP quit, then SIGKILL; returns once the process is gone (bounded). */
int kf_qemu_stop_hard(struct kf_hv_qemu *q, const char *node, struct kf_err *err);

/* qemu_snap.c: the snapshot calls of the interface */
int kf_qemu_snapshot_list(struct kf_hv *hv, const char *node, char ***names, size_t *n,
			  struct kf_err *err);
int kf_qemu_snapshot_create(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err);
int kf_qemu_snapshot_revert(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err);
int kf_qemu_snapshot_delete(struct kf_hv *hv, const char *node, const char *name,
			    struct kf_err *err);
