/* The hypervisor implementations (hypervisor.h), for the dispatcher in src/hv only. */
#ifndef K3SFORGE_HV_IMPL_H
#define K3SFORGE_HV_IMPL_H

#include "k3sforge/hypervisor.h"

/* VMware Workstation through vmrun (src/vmware/hv_vmware.c). */
extern const struct kf_hv_ops kf_hv_vmware_ops;
/* QEMU through QMP (src/qemu/hv_qemu.c). */
extern const struct kf_hv_ops kf_hv_qemu_ops;

#endif
