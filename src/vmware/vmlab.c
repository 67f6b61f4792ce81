/* VMware's hold on a VM folder (its lock files) and the complete removal of one VM. */
#include "k3sforge/vmlab.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

static bool is_lck(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcasecmp(name + n - 4, ".lck") == 0;
}

/* The .vmx's own lock: "<x>.vmx.lck" (a file, or a directory holding M<n>.lck files). Packer
 * lets it stay (step_shutdown.go:108); packer#2125 shows it as centos6.vmx.lck/M00208.lck. */
static bool is_vmx_lck(const char *name)
{
	size_t n = strlen(name);

	return n > 8 && strcasecmp(name + n - 8, ".vmx.lck") == 0;
}

static void add_held(struct kf_buf *b, const char *dir, const char *name)
{
	kf_buf_printf(b, "%s%s%s%s", b->len ? ", " : "", dir ? dir : "", dir ? "/" : "", name);
}

int kf_vmlab_held_locks(const char *folder, char **held, struct kf_err *err)
{
	struct kf_buf b;
	struct dirent *de;
	DIR *d;

	*held = NULL;
	if (!(d = opendir(folder)))
		return kf_fs_exists(folder) ? kf_err_set(err, KF_EIO, "cannot read folder %s", folder)
					    : 0;
	kf_buf_init(&b, 64 * 1024);
	while ((de = readdir(d)) != NULL) {
		char *sub;
		DIR *sd;
		struct dirent *se;
		if (!is_lck(de->d_name) || is_vmx_lck(de->d_name))
			continue;
		sub = kf_path_join(folder, de->d_name);
		sd = sub ? opendir(sub) : NULL;
		if (sd) {
			while ((se = readdir(sd)) != NULL)
				if (se->d_name[0] != '.')
					add_held(&b, de->d_name, se->d_name);
			closedir(sd); /* an empty .lck directory holds nothing */
		} else {
			add_held(&b, NULL, de->d_name);
		}
		free(sub);
	}
	closedir(d);
	if (b.len)
		*held = kf_buf_detach(&b);
	kf_buf_free(&b);
	return 0;
}

static long env_bound(const char *name, long def, long max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return *end || n < 0 || n > max ? def : n;
}

int kf_vmlab_wait_unlocked(const char *folder, const char *node, bool stopped,
			   struct kf_err *err)
{
	long wait_s = env_bound("K3SFORGE_VMWARE_LOCK_WAIT_S", KF_VMLAB_LOCK_WAIT_S, 600);
	long settle_ms = env_bound("K3SFORGE_VMWARE_SETTLE_MS", KF_VMLAB_SETTLE_MS, 60000);
	double deadline = kf_now_mono() + (double)wait_s;
	char *held = NULL;
	bool logged = false;
	int r;

	for (;;) {
		free(held);
		if ((r = kf_vmlab_held_locks(folder, &held, err)) != 0)
			return r;
		if (!held)
			break;
		if (kf_now_mono() >= deadline || kf_interrupted()) {
			r = kf_err_set(err, KF_ETIMEOUT,
				       "VMware still holds %s in %s %lds after the VM stopped; "
				       "nothing was changed. Check that no vmware-vmx process runs "
				       "for it (close it in the Workstation window), then run again",
				       held, folder, wait_s);
			free(held);
			return r;
		}
		if (!logged) {
			kf_info("%s: waiting for VMware to release %s", node, held);
			logged = true;
		}
		/* packer polls every 150 ms (shutdownLockPollInterval, driver.go:136); a look is
		 * a directory listing, so looking three times as often costs nothing and the
		 * restart of a node goes on sooner once its locks are gone */
		kf_sleep_ms(50);
	}
	/* What packer waits after the locks are gone: the host finishing with the files. Only
	 * after a stop (or locks seen): a VM long off needs no settling. */
	if (settle_ms > 0 && (stopped || logged))
		kf_sleep_ms(settle_ms);
	return 0;
}

int kf_vmlab_remove_vm(struct kf_vmrun *v, const char *folder, const char *node,
		       struct kf_err *err)
{
	char *vmx = NULL;
	int r = 0;

	if (asprintf(&vmx, "%s/%s.vmx", folder, node) < 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (v && kf_fs_exists(vmx)) {
		bool running = false;
		if ((r = kf_vmrun_is_running(v, vmx, &running, err)) != 0)
			goto out;
		if (running) {
			kf_info("%s: stopping (hard) before removing it", node);
			if ((r = kf_vmrun_stop(v, vmx, true, err)) != 0)
				goto out;
		}
		/* Not only after our stop: a VM stopped just before may still be held. */
		if ((r = kf_vmlab_wait_unlocked(folder, node, running, err)) != 0)
			goto out;
		/* A stopped VM's folder is safe to delete even if VMware's inventory keeps a stale
		 * entry; say so rather than leave the folder behind. */
		if (kf_vmrun_unregister(v, vmx, err) != 0) {
			kf_warn("%s: could not unregister (%s); deleting its folder anyway", node,
				err ? err->msg : "vmrun failed");
			kf_err_clear(err);
		}
	}
	r = kf_fs_remove_tree(folder, err);
	if (r == 0)
		kf_info("%s: removed %s", node, folder);
out:
	free(vmx);
	return r;
}
