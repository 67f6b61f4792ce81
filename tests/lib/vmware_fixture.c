/* Helpers for the vmware module's tests. */
#include "vmware_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/proc.h"

char *vmw_tempdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *t = NULL;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&t, "%s/kf-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(t)) {
		free(t);
		return NULL;
	}
	return t;
}

char *vmw_write(const char *dir, const char *name, const char *text)
{
	char *p = kf_path_join(dir, name);
	struct kf_err e;

	if (p && kf_fs_write_atomic(p, text, strlen(text), 0644, &e) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

char *vmw_slurp(const char *path)
{
	char *t = NULL;
	struct kf_err e;

	if (kf_fs_read(&t, NULL, path, 16 * 1024 * 1024, &e) != 0)
		return NULL;
	return t;
}

const char *vmw_fake_vmrun(void)
{
	return KF_TESTS_DIR "/fakes/vmrun";
}

struct kf_config *vmw_config(void)
{
	struct kf_config *c = NULL;
	struct kf_err e;

	if (kf_config_default(&c, &e) != 0)
		return NULL;
	free(c->vmware.vmrun);
	c->vmware.vmrun = strdup(vmw_fake_vmrun());
	c->timeouts.vmrun_s = 30;
	return c;
}

int vmw_run(char **out, const char *const *argv)
{
	struct kf_proc p;
	struct kf_err e;
	int code;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 120000;
	if (kf_proc_run(&p, &e) != 0) {
		kf_proc_free(&p);
		if (out)
			*out = strdup(e.msg);
		return -1;
	}
	code = p.signaled ? 128 + p.term_signal : p.exit_code;
	if (out)
		*out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return code;
}
