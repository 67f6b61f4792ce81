/* VM folders of the lab: ownership marks and complete removal of one VM. */
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

char *kf_vmlab_dir(const struct kf_config *cfg, const char *out_dir)
{
	char *rel, *abs;

	if (cfg->paths.vm_dir && *cfg->paths.vm_dir)
		return kf_path_abs(cfg->paths.vm_dir);
	rel = kf_path_join(out_dir, "vms");
	abs = rel ? kf_path_abs(rel) : NULL;
	free(rel);
	return abs;
}

/* Files VMware keeps in a VM folder. */
static bool vm_file(const char *name)
{
	static const char *const ext[] = { ".vmx", ".vmdk", ".nvram", ".vmsd", ".vmxf", ".log",
					   ".vmem", ".vmss", ".lck", ".scoreboard", ".vmx~",
					   ".vmtx", ".vmsn" };
	const char *dot = strrchr(name, '.');

	if (!dot)
		return false;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (strcasecmp(dot, ext[i]) == 0)
			return true;
	return false;
}

int kf_vmlab_inspect(const char *folder, const char *cluster, const char *node,
		     enum kf_vm_folder *kind, char **owner, struct kf_err *err)
{
	char *mark = NULL, *text = NULL, *vmx_name = NULL;
	DIR *d;
	struct dirent *de;
	bool any = false, only_vm = true, has_vmx = false;
	int r = 0;

	*kind = KF_VMF_ABSENT;
	if (owner)
		*owner = NULL;
	if (!kf_fs_exists(folder))
		return 0;
	if (!kf_fs_is_dir(folder)) {
		*kind = KF_VMF_FOREIGN;
		return 0;
	}
	mark = kf_path_join(folder, KF_VMLAB_OWNER_FILE);
	if (!mark)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (kf_fs_read(&text, NULL, mark, 4096, err) == 0) {
		char c[256] = "", n[256] = "";
		const char *pc = strstr(text, "cluster="), *pn = strstr(text, "node=");
		if (pc)
			sscanf(pc, "cluster=%255[^\n]", c);
		if (pn)
			sscanf(pn, "node=%255[^\n]", n);
		if (strcmp(c, cluster) == 0 && strcmp(n, node) == 0) {
			*kind = KF_VMF_OURS;
		} else {
			*kind = KF_VMF_OTHER_LAB;
			if (owner && asprintf(owner, "%s/%s", c[0] ? c : "?", n[0] ? n : "?") < 0)
				*owner = NULL;
		}
		goto out;
	}
	kf_err_clear(err);
	if (asprintf(&vmx_name, "%s.vmx", node) < 0) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	d = opendir(folder);
	if (!d) {
		r = kf_err_set(err, KF_EIO, "cannot read folder %s", folder);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		any = true;
		if (strcmp(de->d_name, vmx_name) == 0)
			has_vmx = true;
		if (!vm_file(de->d_name))
			only_vm = false;
	}
	closedir(d);
	*kind = !any ? KF_VMF_EMPTY : (has_vmx && only_vm) ? KF_VMF_FOREIGN_VM : KF_VMF_FOREIGN;
out:
	free(text);
	free(mark);
	free(vmx_name);
	return r;
}

int kf_vmlab_mark(const char *folder, const char *cluster, const char *node, struct kf_err *err)
{
	char *mark = kf_path_join(folder, KF_VMLAB_OWNER_FILE), *text = NULL;
	int r;

	if (!mark || asprintf(&text,
			      "# Made by k3sforge: `k3sforge destroy` may delete this folder.\n"
			      "cluster=%s\nnode=%s\n",
			      cluster, node) < 0) {
		free(mark);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	r = kf_fs_write_atomic(mark, text, strlen(text), 0644, err);
	free(text);
	free(mark);
	return r;
}

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
		kf_sleep_ms(150); /* packer's shutdownLockPollInterval (driver.go:136) */
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
