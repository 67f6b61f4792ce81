/* Virtual disks for the nodes: vmware-vdiskmanager when it is installed, otherwise a growable
 * monolithicSparse VMDK written by k3sforge itself (header, embedded descriptor, redundant and
 * primary grain directories, zeroed grain tables; a few MiB until the guest writes). */
#ifndef K3SFORGE_VMDK_H
#define K3SFORGE_VMDK_H

#include <stdint.h>

#include "k3sforge/err.h"

/* Largest disk k3sforge makes (vdiskmanager's own limit for scsi). */
#define KF_VMDK_MAX_GB 8192

/* Largest disk k3sforge writes itself: a sparse extent's grain table entries are 32-bit sector
 * numbers (QEMU block/vmdk.c, l2 tables of uint32_t), so the file cannot pass 2^32 * 512 bytes
 * = 2 TiB. Larger disks need vmware-vdiskmanager. */
#define KF_VMDK_SPARSE_MAX_GB 2048

/* 0 when a disk of size_gb can be made here (with vdiskmanager when not NULL, else by
 * k3sforge); KF_EUNSUPPORTED / KF_ECONFIG naming the limit and what to do. */
int kf_vmdk_check_size(const char *vdiskmanager, int size_gb, struct kf_err *err);

/* Writes a monolithicSparse VMDK of size_gb GiB at path (atomically: temp + rename).
 * adapter_type is the ddb.adapterType ("lsilogic"); hw_version goes into
 * ddb.virtualHWVersion. */
int kf_vmdk_write_sparse(const char *path, int size_gb, const char *adapter_type, int hw_version,
			 struct kf_err *err);

/* Creates the disk: runs `vdiskmanager -c -s <N>GB -a lsilogic -t 0 <path_for_tool>` when
 * vdiskmanager is not NULL (path_for_tool is the path as that program sees it, e.g. a Windows
 * path under WSL), else kf_vmdk_write_sparse(path). timeout_s bounds the tool. Checks the
 * size first (kf_vmdk_check_size). */
int kf_vmdk_create(const char *vdiskmanager, const char *path, const char *path_for_tool,
		   int size_gb, int hw_version, int timeout_s, struct kf_err *err);

/* Image mode (guest.image): the node's disk from a cloud image (qcow2 or raw), grown to
 * size_gb and written as a monolithicSparse VMDK (lsilogic) at path, with qemu-img
 * (KF_ENOTFOUND saying to install qemu-utils when it is missing). timeout_s bounds each step
 * (the conversion ten times that). */
int kf_vmdk_from_image(const char *path, const char *image, int size_gb, int timeout_s,
		       struct kf_err *err);
/* Reads the capacity (in bytes) from a sparse VMDK's header; checks the magic. */
int kf_vmdk_read_capacity(const char *path, uint64_t *bytes, struct kf_err *err);

#endif
