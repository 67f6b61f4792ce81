/* The error object: a code and a one-line reason with context. */
#include "k3sforge/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kf_err_clear(struct kf_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

int kf_err_set(struct kf_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int kf_err_wrap(struct kf_err *err, const char *fmt, ...)
{
	char prefix[KF_ERR_MSG_MAX];
	char old[KF_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return KF_EFAIL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	{
		size_t pl = strlen(prefix), ol = strlen(old), n = 0, cap = sizeof(err->msg) - 1;
		char *m = err->msg;
		memcpy(m, prefix, pl < cap ? pl : cap);
		n = pl < cap ? pl : cap;
		if (ol && n + 2 <= cap) {
			m[n++] = ':';
			m[n++] = ' ';
			memcpy(m + n, old, ol < cap - n ? ol : cap - n);
			n += ol < cap - n ? ol : cap - n;
		}
		m[n] = '\0';
	}
	if (err->code == 0)
		err->code = KF_EFAIL;
	return err->code;
}

static const struct {
	int code;
	const char *name;
	int exit_status;
} codes[] = {
	{ KF_OK, "ok", 0 },
	{ KF_EFAIL, "failure", 1 },
	{ KF_EUSAGE, "usage", 2 },
	{ KF_ECONFIG, "config", 3 },
	{ KF_ENOMEM, "nomem", 1 },
	{ KF_EIO, "io", 1 },
	{ KF_ETIMEOUT, "timeout", 5 },
	{ KF_ENOTFOUND, "notfound", 1 },
	{ KF_EEXIST, "exists", 1 },
	{ KF_ELIMIT, "limit", 1 },
	{ KF_ENET, "network", 1 },
	{ KF_EHTTP, "http", 1 },
	{ KF_EDIGEST, "digest", 1 },
	{ KF_ETLS, "tls", 1 },
	{ KF_EAUTH, "auth", 1 },
	{ KF_EHOSTKEY, "hostkey", 1 },
	{ KF_EPROC, "process", 1 },
	{ KF_ELOCKED, "locked", 4 },
	{ KF_ESTATE, "state", 1 },
	{ KF_EVMRUN, "vmrun", 1 },
	{ KF_EINTR, "interrupted", 130 },
	{ KF_EPARSE, "parse", 1 },
	{ KF_EUNSUPPORTED, "unsupported", 1 },
};

const char *kf_err_name(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "failure";
}

int kf_err_exit_status(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].exit_status;
	return 1;
}
