/* Helpers shared by the PKI/SSH tests: temporary output directories, running a real tool and
 * capturing its output, reading files. */
#ifndef KF_TESTS_PKI_TESTUTIL_H
#define KF_TESTS_PKI_TESTUTIL_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp) named k3sforge-<tag>-XXXXXX (caller frees, and
 * removes it with kf_fs_remove_tree). Fails the test on error. */
char *pki_t_tmpdir(const char *tag);
/* Runs argv (no shell, 60 s timeout) and returns its stdout (caller frees); *exit_code gets the
 * exit status (-1 when it did not run to completion). stderr is appended to stdout when
 * merge_stderr is set. */
char *pki_t_run(const char *const *argv, int *exit_code, int merge_stderr);
/* Whole file as a string (caller frees); NULL when absent. */
char *pki_t_read(const char *path, size_t *len);
/* Joins dir and a relative path (caller frees). */
char *pki_t_path(const char *dir, const char *rel);
/* Writes a file (mode 0600), failing the test on error. */
void pki_t_write(const char *path, const char *data);

#endif
