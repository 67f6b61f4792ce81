/* vmrun: finding VMware Workstation's command-line tool, running it the one right way
 * (`vmrun -T ws [-gu USER -gp PASS] COMMAND ARGS...`, authentication flags always before the
 * command), parsing its output and turning its `Error: ...` lines into distinct faults, each
 * with a one-line explanation and what to do. Under WSL, vmrun.exe is a Windows program: every
 * path handed to it is translated (/mnt/c/x → C:\x). */
#ifndef K3SFORGE_VMRUN_H
#define K3SFORGE_VMRUN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/platform_wsl.h" /* kf_wsl_to_windows for vmrun.exe's paths */

/* What went wrong in a vmrun call. */
enum kf_vmrun_fault {
	KF_VMRUN_OK = 0,
	KF_VMRUN_TOOLS_NOT_RUNNING,  /* guest operation before VMware Tools are up */
	KF_VMRUN_BAD_CREDENTIALS,    /* -gu/-gp rejected by the guest */
	KF_VMRUN_VM_NOT_FOUND,       /* the .vmx cannot be opened */
	KF_VMRUN_NOT_POWERED_ON,     /* operation needs a running VM */
	KF_VMRUN_FILE_LOCKED,        /* VM files in use (open in the GUI, another process) */
	KF_VMRUN_USAGE,              /* vmrun printed its usage text: wrong command line */
	KF_VMRUN_PERMISSION,         /* host or guest permission denied */
	KF_VMRUN_TIMEOUT,            /* no answer within the per-call timeout */
	KF_VMRUN_NOT_INSTALLED,      /* the vmrun program is missing */
	KF_VMRUN_UNKNOWN,            /* anything else (vmrun's own "Unknown error" too) */
	KF_VMRUN_CANCELED,           /* "The operation was canceled": retried, see vmware.log */
	KF_VMRUN_NO_SERVICE,         /* "Unable to connect to host." + VIX_SERVICEPROVIDER_... */
	KF_VMRUN_BAD_CONFIG,         /* "Cannot read the virtual machine configuration file" */
};
/* The last fault value (tests iterate over every fault). */
#define KF_VMRUN_FAULT_LAST KF_VMRUN_BAD_CONFIG

/* A located vmrun. */
struct kf_vmrun {
	char *path;          /* the program (host path) */
	char *version;       /* "1.17.0 build-24995812", NULL if not reported */
	bool windows;        /* a Windows .exe run through WSL interop: paths get translated */
	int timeout_s;       /* per call */
	char *guest_user;    /* for guest operations; NULL = none */
	char *guest_pass;    /* secret: registered with the logger, wiped on free */
	char *vdiskmanager;  /* vmware-vdiskmanager next to vmrun or in PATH; NULL if absent */
	int canceled_tries;  /* attempts on "operation was canceled" (3, vagrant base.rb:1286) */
	int canceled_sleep_ms; /* between them (2000, vagrant base.rb:1301) */
};

/* Finds vmrun: cfg->vmware.vmrun when it is a path (not "auto"), else PATH, /usr/bin/vmrun,
 * /usr/lib/vmware/bin/vmrun, and under WSL the Workstation folders under /mnt/c/Program Files
 * (x86) and /mnt/c/Program Files. Reads the version. KF_ENOTFOUND with every place looked at and
 * what to do. */
int kf_vmrun_find(struct kf_vmrun **out, const struct kf_config *cfg, struct kf_err *err);
/* Uses the program at path as vmrun (checks it runs and reads its version). */
int kf_vmrun_open(struct kf_vmrun **out, const char *path, int timeout_s, struct kf_err *err);
/* Sets the guest credentials for guest operations; the password is masked in every log. */
int kf_vmrun_set_guest_auth(struct kf_vmrun *v, const char *user, const char *pass);
void kf_vmrun_free(struct kf_vmrun *v);

/* Parses "vmrun version 1.17.0 build-NNN" anywhere in vmrun's banner; caller frees. */
char *kf_vmrun_parse_version(const char *banner);

/* The path as vmrun will see it: translated when v->windows, else absolute. Caller frees. */
int kf_vmrun_path(const struct kf_vmrun *v, char **out, const char *host_path,
		  struct kf_err *err);

/* Classifies a finished call from its stdout (where vmrun prints errors), exit code and
 * whether it timed out. Only the message text counts: a trailing ": <vmx>" and a leading
 * "Cannot open VM: <vmx>, " are taken off first, so the VM's path never decides the fault. */
enum kf_vmrun_fault kf_vmrun_classify(const char *output, int exit_code, bool timed_out);
/* The same, with the VMX path as given to vmrun (may be NULL) to take off exactly. */
enum kf_vmrun_fault kf_vmrun_classify_vm(const char *output, const char *vmx, int exit_code,
					 bool timed_out);
/* True for the verbs that go through the serial lane (start, stop, snapshot, ...). */
bool kf_vmrun_is_serial(const char *command);
/* Stable short name ("tools-not-running") and a one-line explanation with what to do. */
const char *kf_vmrun_fault_name(enum kf_vmrun_fault f);
const char *kf_vmrun_fault_advice(enum kf_vmrun_fault f);

/* Options of one call. */
struct kf_vmrun_call {
	bool guest_auth;       /* add -gu/-gp (before the command) */
	int retry_tools_s;     /* >0: retry while Tools are not running, with backoff, this long */
	int timeout_s;         /* 0 = v->timeout_s */
};

/* Runs `vmrun -T ws [auth] command args...` (args already translated; NULL-terminated).
 * *out (if not NULL) gets vmrun's stdout whenever it ran, on failure too (caller frees; NULL
 * when it could not run). On failure returns KF_EVMRUN
 * (KF_ETIMEOUT for a timeout, KF_EAUTH for credentials, KF_ENOTFOUND for a missing vmrun) with
 * the message "vmrun <command> <vmx>: <vmrun's error> — <advice>" and *fault (may be NULL). */
int kf_vmrun_run(struct kf_vmrun *v, const struct kf_vmrun_call *opts, const char *command,
		 const char *const *args, char **out, enum kf_vmrun_fault *fault,
		 struct kf_err *err);

/* The verbs k3sforge uses. vmx is always the host path; it is translated here. */
int kf_vmrun_start(struct kf_vmrun *v, const char *vmx, bool gui, struct kf_err *err);
/* Stops (hard or soft); a VM that is not running counts as stopped. */
int kf_vmrun_stop(struct kf_vmrun *v, const char *vmx, bool hard, struct kf_err *err);
int kf_vmrun_reset(struct kf_vmrun *v, const char *vmx, bool hard, struct kf_err *err);
/* Running VMs as vmrun prints them (caller frees with kf_strv_free, strv.h). */
int kf_vmrun_list(struct kf_vmrun *v, char ***paths, size_t *n, struct kf_err *err);
/* Is this VMX among the running VMs? (compares translated, absolute paths; case-insensitive
 * for Windows paths) */
int kf_vmrun_is_running(struct kf_vmrun *v, const char *vmx, bool *running, struct kf_err *err);
/* "running", "installed", "unknown", ... (caller frees). */
int kf_vmrun_tools_state(struct kf_vmrun *v, const char *vmx, char **state, struct kf_err *err);
/* The guest's IP as reported by Tools (caller frees). With wait, vmrun's -wait, bounded by
 * wait_s (0 = the call's usual timeout): a VM started nogui answers only with -wait
 * (open-vm-tools#718, docker-machine-driver-vmware#31); vagrant asks with -wait and a 10 s
 * timeout (lib/vagrant-vmware-desktop/driver/base.rb:599). */
int kf_vmrun_guest_ip(struct kf_vmrun *v, const char *vmx, bool wait, int wait_s, char **ip,
		      struct kf_err *err);
/* True when a checkToolsState answer means Tools are there: "running", and "installed",
 * which is what a VM started nogui answers with Tools running (open-vm-tools#718). */
bool kf_vmrun_tools_present(const char *state);
/* Needs guest credentials. */
int kf_vmrun_file_exists(struct kf_vmrun *v, const char *vmx, const char *guest_path,
			 bool *exists, struct kf_err *err);
int kf_vmrun_list_snapshots(struct kf_vmrun *v, const char *vmx, char ***names, size_t *n,
			    struct kf_err *err);
int kf_vmrun_snapshot(struct kf_vmrun *v, const char *vmx, const char *name, struct kf_err *err);
int kf_vmrun_revert(struct kf_vmrun *v, const char *vmx, const char *name, struct kf_err *err);
int kf_vmrun_delete_snapshot(struct kf_vmrun *v, const char *vmx, const char *name,
			     struct kf_err *err);
int kf_vmrun_register(struct kf_vmrun *v, const char *vmx, struct kf_err *err);
/* Unregisters; a VM that is not registered (or not found) counts as done. */
int kf_vmrun_unregister(struct kf_vmrun *v, const char *vmx, struct kf_err *err);
int kf_vmrun_delete_vm(struct kf_vmrun *v, const char *vmx, struct kf_err *err);
/* readVariable runtimeConfig|guestEnv|guestVar (caller frees). */
int kf_vmrun_read_variable(struct kf_vmrun *v, const char *vmx, const char *kind,
			   const char *name, char **value, struct kf_err *err);
/* kf_strv_free under its old name, for the stages that still call it (they move to the
 * hypervisor interface, issue #16). */

/* The Workstation product version ("17.6.1"), which vmrun's banner does not give (vmrun has
 * said 1.17.0 since Workstation 14). Linux: `vmware -v` next to vmrun or in PATH ("VMware
 * Workstation 17.6.1 build-...", as gns3-server compute/vmware/__init__.py:225 and packer
 * driver_workstation_unix.go:150-161 read it). Windows through WSL: ProductVersion under
 * HKLM\SOFTWARE\WOW6432Node\VMware, Inc.\VMware Workstation, read with reg.exe (packer
 * driver_workstation_windows.go:28-31,194-204). KF_ENOTFOUND when it cannot be learned. */
int kf_vmrun_workstation_version(const struct kf_vmrun *v, char **version, struct kf_err *err);
/* Parses "VMware Workstation 17.6.1 build-24319023" (or a bare "17.6.1.xxxx") into numbers. */
bool kf_workstation_parse_version(const char *text, unsigned *major, unsigned *minor,
				  unsigned *patch);
/* Checks that Workstation `ws_version` can power on virtualHW.version `hw`. 0 (with
 * *uncertain and a warning in err->msg when the host is older than the release the pairing was
 * tested with but not provably too old), or KF_EUNSUPPORTED with the version needed and what
 * to do. */
int kf_vmrun_check_hw_version(int hw, const char *ws_version, bool *uncertain,
			      struct kf_err *err);

#endif
