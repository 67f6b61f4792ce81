/* The QEMU backend's parts (src/qemu): the QMP client, the VM definition file, the command line
 * and the accelerator probe. The stages never use these: they use the hypervisor interface
 * (hypervisor.h), which src/qemu/hv_qemu.c implements on top of them. Public for the tests. */
#ifndef K3SFORGE_QEMU_H
#define K3SFORGE_QEMU_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"

/* ---- QMP (the QEMU Machine Protocol over the VM's unix socket) ---------------------------- */

/* Longest QMP message accepted (query-named-block-nodes with a few snapshots is ~10 KiB); a
 * longer one is an error, never a bigger buffer. */
#define KF_QMP_MAX_MSG ((size_t)1024 * 1024)

enum kf_qmp_kind { KF_QMP_GREETING, KF_QMP_RETURN, KF_QMP_ERROR, KF_QMP_EVENT };

/* Classifies one QMP message (one JSON object, without its line end). *value gets the greeting's
 * "QMP" object, the "return" value, the "error" object or the whole event (new references).
 * KF_EPARSE for anything else: not JSON, not an object, none of those keys. */
int kf_qmp_parse(const char *text, size_t len, enum kf_qmp_kind *kind, json_t **value,
		 struct kf_err *err);
/* "GenericError: <desc>" from an error object (caller frees). */
char *kf_qmp_error_text(const json_t *error);

struct kf_qmp;

/* Connects to <dir>/<name> (through /proc/self/fd when the path is longer than a unix socket
 * address holds), reads the greeting and enters command mode (qmp_capabilities); every step
 * bounded by timeout_ms. */
int kf_qmp_open(struct kf_qmp **out, const char *dir, const char *name, int timeout_ms,
		struct kf_err *err);
/* The same over an already connected stream socket (taken over: closed by kf_qmp_close). */
int kf_qmp_open_fd(struct kf_qmp **out, int fd, int timeout_ms, struct kf_err *err);
/* Runs one command (args may be NULL; stolen) and waits, bounded, for its answer, skipping
 * events (kept for kf_qmp_saw_event). *ret (may be NULL) gets the "return" value. A QMP error
 * answer is KF_EFAIL with its class and description. */
int kf_qmp_exec(struct kf_qmp *q, const char *command, json_t *args, json_t **ret,
		struct kf_err *err);
/* Did an event with this name arrive since the connection opened? */
bool kf_qmp_saw_event(const struct kf_qmp *q, const char *event);
void kf_qmp_close(struct kf_qmp *q);

/* ---- The VM definition file: <folder>/<node>.qemu.json ---------------------------------- */

#define KF_QEMU_MAX_MEDIA 3        /* installer or payload CD, seed CD */
#define KF_QEMU_DEF_MAX ((size_t)64 * 1024)

struct kf_qemu_def {
	char *node;               /* the node (and VM) name */
	int cpus;
	int memory_mb;
	char *mac;                /* "52:54:00:..." or the lab's 00:50:56:... */
	char *disk;               /* file name in the VM's folder: "<node>.qcow2" */
	char *bridge;             /* host bridge the NIC's tap joins */
	char *media[KF_QEMU_MAX_MEDIA]; /* absolute paths of CD images, boot order after the disk */
	size_t n_media;
};

/* Parses and checks a definition (bounded, hostile-input safe: wrong types, unknown keys,
 * file names with '/', relative media paths are KF_EPARSE naming the field). */
int kf_qemu_def_parse(struct kf_qemu_def *out, const char *text, size_t len, struct kf_err *err);
/* The definition as JSON text (caller frees). */
char *kf_qemu_def_dump(const struct kf_qemu_def *d);
void kf_qemu_def_free(struct kf_qemu_def *d);

/* ---- The command line ------------------------------------------------------------------ */

/* How the VM's NIC reaches the bridge. */
struct kf_qemu_net {
	const char *tap;          /* an existing tap on the bridge (k3sforge made it, as root) */
	const char *helper;       /* else: qemu-bridge-helper makes one (-netdev bridge) */
};

#define KF_QEMU_PIDFILE "qemu.pid"
#define KF_QEMU_QMP "qmp.sock"
#define KF_QEMU_CONSOLE "console.log"

/* The argv that starts a definition's VM daemonized: folder is the VM's folder (absolute),
 * accel "kvm" or "tcg", loadvm a snapshot to start from (NULL: boot). NULL-terminated, caller
 * frees with kf_qemu_argv_free. QMP at ./qmp.sock (QEMU runs with its working directory in the
 * folder), pid file and console log by absolute path. */
char **kf_qemu_argv(const struct kf_qemu_def *d, const char *binary, const char *accel,
		    const char *folder, const struct kf_qemu_net *net, const char *loadvm);
void kf_qemu_argv_free(char **argv);
/* A value for a QEMU option list: every ',' doubled (caller frees). */
char *kf_qemu_opt_escape(const char *s);
/* The tap name for a VM folder: "kf" + 12 hex digits of its path's SHA-256 (14 bytes, under
 * IFNAMSIZ). */
void kf_qemu_tap_name(char out[16], const char *folder);

/* ---- The accelerator ------------------------------------------------------------------- */

/* Does KVM work here: /dev/kvm opens, the API answers, and a one-instruction guest (hlt)
 * runs to its halt within a second, in a child process (so a hung KVM_RUN is killed, not
 * inherited). *why gets the reason it does not (caller frees; NULL when it works). */
bool kf_qemu_kvm_works(char **why);

#endif
