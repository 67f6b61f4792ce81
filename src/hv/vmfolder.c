/* VM folders of the lab (vmfolder.h): ownership marks and what an unmarked folder holds. */
#include "k3sforge/vmfolder.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"

int kf_vmfolder_inspect(const struct kf_hv_ops *ops, const char *folder, const char *cluster,
			const char *node, enum kf_vm_folder *kind, char **owner,
			struct kf_err *err)
{
	char *mark = NULL, *text = NULL, *vm_name = NULL;
	DIR *d;
	struct dirent *de;
	bool any = false, only_vm = true, has_vm = false;
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
	mark = kf_path_join(folder, KF_VMFOLDER_OWNER_FILE);
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
	if (!(vm_name = ops->vm_file_name(node))) {
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
		if (strcmp(de->d_name, vm_name) == 0)
			has_vm = true;
		if (!ops->is_vm_file(node, de->d_name))
			only_vm = false;
	}
	closedir(d);
	*kind = !any ? KF_VMF_EMPTY : (has_vm && only_vm) ? KF_VMF_FOREIGN_VM : KF_VMF_FOREIGN;
out:
	free(text);
	free(mark);
	free(vm_name);
	return r;
}

int kf_vmfolder_mark(const char *folder, const char *cluster, const char *node,
		     struct kf_err *err)
{
	char *mark = kf_path_join(folder, KF_VMFOLDER_OWNER_FILE), *text = NULL;
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
