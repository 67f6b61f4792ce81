/* kf_proc: the only way k3sforge runs another program. argv vector (no shell), optional env and
 * working dir, a timeout after which the child's process group is killed, stdout/stderr captured
 * up to a bound, and the command line logged with secrets masked. */
#ifndef K3SFORGE_PROC_H
#define K3SFORGE_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"

struct kf_proc {
	/* inputs */
	const char *const *argv;   /* argv[0] is looked up in PATH when it has no '/' */
	const char *const *env;    /* extra "K=V" entries added to the inherited environment; NULL ok */
	const char *cwd;           /* NULL = inherit */
	const char *stdin_data;    /* written to the child's stdin then closed; NULL = /dev/null */
	size_t stdin_len;
	int timeout_ms;            /* 0 = none */
	size_t out_max;            /* capture bound per stream; 0 = 1 MiB. Extra output is dropped and
	                              `truncated` is set. */
	bool inherit_output;       /* child writes to our stdout/stderr instead of being captured */
	bool detach;               /* start and return at once (a server): see kf_proc_start */
	const char *log_file;      /* with detach: child's stdout+stderr appended here */

	/* outputs */
	struct kf_buf out;
	struct kf_buf errout;
	int exit_code;             /* valid when !signaled && !timed_out */
	int term_signal;           /* signal number when signaled */
	bool signaled;
	bool timed_out;
	bool truncated;
	long pid;
	double elapsed_s;
};

/* Runs to completion. Returns 0 when the program ran (whatever its exit code: check exit_code),
 * KF_ENOTFOUND if the program does not exist, KF_ETIMEOUT if killed at the deadline, KF_EPROC
 * for other spawn failures. */
int kf_proc_run(struct kf_proc *p, struct kf_err *err);
/* Like kf_proc_run but also fails (KF_EPROC) on a non-zero exit or signal, with the program
 * name, exit status and the last line of stderr (or stdout) in the message. */
int kf_proc_run_ok(struct kf_proc *p, struct kf_err *err);
/* Starts a long-running child in its own process group (servers); sets p->pid. */
int kf_proc_start(struct kf_proc *p, struct kf_err *err);
/* Is the pid alive? */
bool kf_proc_alive(long pid);
/* Sends SIGTERM to the group, waits up to grace_ms, then SIGKILL. Reaps if it is our child. */
int kf_proc_stop(long pid, int grace_ms);
/* Frees captured output. */
void kf_proc_free(struct kf_proc *p);
/* Finds an executable in PATH (caller frees), NULL if absent. */
char *kf_proc_which(const char *name);
/* The command line as one string, each argument shell-quoted where needed, secrets masked. */
char *kf_proc_cmdline(const char *const *argv);

#endif
