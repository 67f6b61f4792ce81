/* Helpers shared by the PKI/SSH tests. */
#include "pki_testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/proc.h"

char *pki_t_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];

	snprintf(tmpl, sizeof(tmpl), "%s/k3sforge-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	assert_non_null(mkdtemp(tmpl));
	return strdup(tmpl);
}

char *pki_t_run(const char *const *argv, int *exit_code, int merge_stderr)
{
	struct kf_proc p = { 0 };
	struct kf_err err = { 0 };
	char *out;

	p.argv = argv;
	p.timeout_ms = 60000;
	if (kf_proc_run(&p, &err) != 0 || p.signaled || p.timed_out) {
		*exit_code = -1;
		print_message("could not run %s: %s\n", argv[0], err.msg);
	} else {
		*exit_code = p.exit_code;
	}
	if (merge_stderr)
		kf_buf_puts(&p.out, kf_buf_str(&p.errout));
	out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	assert_non_null(out);
	return out;
}

char *pki_t_read(const char *path, size_t *len)
{
	struct kf_err err = { 0 };
	char *data = NULL;
	size_t n = 0;

	if (kf_fs_read(&data, &n, path, 16 * 1024 * 1024, &err) != 0)
		return NULL;
	if (len)
		*len = n;
	return data;
}

char *pki_t_path(const char *dir, const char *rel)
{
	char *p = kf_path_join(dir, rel);

	assert_non_null(p);
	return p;
}

void pki_t_write(const char *path, const char *data)
{
	struct kf_err err = { 0 };

	assert_int_equal(kf_fs_write_atomic(path, data, strlen(data), 0600, &err), 0);
}
