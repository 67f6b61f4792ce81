/* Helpers for the vmware module's tests: temp dirs, a config pointed at the vmrun test double. */
#ifndef KF_TEST_VMWARE_FIXTURE_H
#define KF_TEST_VMWARE_FIXTURE_H

#include <stdbool.h>

#include "k3sforge/config.h"

/* mkdtemp under TMPDIR (or /tmp); caller frees and removes. */
char *vmw_tempdir(const char *tag);
/* Writes text to dir/name; returns the joined path (caller frees). */
char *vmw_write(const char *dir, const char *name, const char *text);
/* Reads a whole small file (caller frees), NULL if missing. */
char *vmw_slurp(const char *path);
/* The test double's path: KF_TESTS_DIR/fakes/vmrun. Borrowed. */
const char *vmw_fake_vmrun(void);
/* A default configuration whose vmware.vmrun is the test double (caller frees). */
struct kf_config *vmw_config(void);
/* Runs argv (NULL-terminated) and returns its exit code; stdout into *out if not NULL. */
int vmw_run(char **out, const char *const *argv);

#endif
