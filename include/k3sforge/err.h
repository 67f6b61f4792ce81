/* Error codes and the error object every fallible k3sforge function fills. */
#ifndef K3SFORGE_ERR_H
#define K3SFORGE_ERR_H

#include <stddef.h>

/* Negative result codes. 0 is success. */
enum kf_errcode {
	KF_OK = 0,
	KF_EFAIL = -1,      /* generic failure */
	KF_EUSAGE = -2,     /* bad command line */
	KF_ECONFIG = -3,    /* bad configuration */
	KF_ENOMEM = -4,
	KF_EIO = -5,        /* file system error */
	KF_ETIMEOUT = -6,
	KF_ENOTFOUND = -7,
	KF_EEXIST = -8,
	KF_ELIMIT = -9,     /* a bound was exceeded (size, depth, count) */
	KF_ENET = -10,      /* network: refused, unreachable, DNS */
	KF_EHTTP = -11,     /* peer answered with an HTTP error */
	KF_EDIGEST = -12,   /* checksum / digest mismatch */
	KF_ETLS = -13,      /* certificate or TLS failure */
	KF_EAUTH = -14,     /* authentication denied */
	KF_EHOSTKEY = -15,  /* SSH host key mismatch */
	KF_EPROC = -16,     /* a child program failed */
	KF_ELOCKED = -17,   /* output directory is locked by another run */
	KF_ESTATE = -18,    /* stage state says no */
	KF_EVMRUN = -19,    /* vmrun reported an error */
	KF_EINTR = -20,     /* interrupted by a signal */
	KF_EPARSE = -21,    /* malformed data from outside */
	KF_EUNSUPPORTED = -22,
};

#define KF_ERR_MSG_MAX 1024

/* One-line human reason for a failure, with context (file:line, host, URL). */
struct kf_err {
	int code;
	char msg[KF_ERR_MSG_MAX];
};

/* Clears an error object. */
void kf_err_clear(struct kf_err *err);

/* Sets code and printf-style message; returns code so callers can `return kf_err_set(...)`.
 * err may be NULL. The message replaces any earlier one. */
int kf_err_set(struct kf_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context: "prefix: old message". Returns err->code. */
int kf_err_wrap(struct kf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short stable name of a code ("timeout", "config", ...), for JSON output. */
const char *kf_err_name(int code);

/* Process exit status for an error code: 0 ok, 1 failure, 2 usage, 3 config, 4 locked,
 * 5 timeout, 130 interrupted. Documented in docs/exit-codes.md. */
int kf_err_exit_status(int code);

#endif
