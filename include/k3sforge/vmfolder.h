/* The lab's VM folders, whichever hypervisor: who owns one, and marking one as the lab's.
 * k3sforge marks every folder it creates with KF_VMFOLDER_OWNER_FILE (cluster and node name)
 * and only ever deletes folders carrying its mark for the same cluster and node, or -- when the
 * operator forces it -- unmarked folders that hold nothing but this node's VM files (as the
 * hypervisor's is_vm_file says). */
#ifndef K3SFORGE_VMFOLDER_H
#define K3SFORGE_VMFOLDER_H

#include "k3sforge/err.h"
#include "k3sforge/hypervisor.h"

#define KF_VMFOLDER_OWNER_FILE ".k3sforge-owned"

enum kf_vm_folder {
	KF_VMF_ABSENT = 0,   /* no such folder */
	KF_VMF_EMPTY,        /* exists, empty: free to use */
	KF_VMF_OURS,         /* marked by k3sforge for this cluster and node */
	KF_VMF_OTHER_LAB,    /* marked by k3sforge for another cluster or node */
	KF_VMF_FOREIGN_VM,   /* unmarked, holds the node's VM file and only VM files */
	KF_VMF_FOREIGN,      /* unmarked, anything else: never touched */
};

/* Classifies a node's folder; ops says which files are VM files (its vm_file and is_vm_file).
 * *owner (may be NULL) gets "cluster/node" of another lab's mark. */
int kf_vmfolder_inspect(const struct kf_hv_ops *ops, const char *folder, const char *cluster,
			const char *node, enum kf_vm_folder *kind, char **owner,
			struct kf_err *err);
/* Writes the ownership mark into folder. */
int kf_vmfolder_mark(const char *folder, const char *cluster, const char *node,
		     struct kf_err *err);

#endif
