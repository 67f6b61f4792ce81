/* Host checks for VMware labs (`k3sforge doctor --host`, and before create-vms): Workstation
 * present and its version, the vmnet host-only on the configured subnet with the host at the
 * gateway, free memory and disk for the nodes, kernel modules, WSL and its networking mode.
 * Each finding says what was checked, what was found and how to fix it. */
#ifndef K3SFORGE_HOSTCHECK_H
#define K3SFORGE_HOSTCHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/findings.h"
#include "k3sforge/hypervisor.h"

/* Runs the selected checks; vm_dir is where the VM folders go (for the disk check). Appends
 * findings; returns 0 unless out of memory (failed checks are findings, not errors). */
int kf_hostcheck_run(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir,
		     unsigned what);
/* One VMware virtual network as read from /etc/vmware/networking (Linux). */
struct kf_vmnet_info {
	bool present;          /* any answer VNET_<n>_* line */
	bool virtual_adapter;  /* VNET_<n>_VIRTUAL_ADAPTER yes / Adapter\UseAdapter 1: the host
				* has an adapter on it */
	bool adapter_known;    /* the source says either way (judged only then) */
	bool nat;              /* VNET_<n>_NAT yes */
	bool bridged;          /* add_bridge_mapping <if> <n> */
	bool dhcp;
	uint32_t subnet;       /* host order; 0 = not set */
	uint32_t netmask;
};

/* Parses the "answer VNET_<n>_KEY value" file for vmnet number n. */
int kf_vmnet_parse_linux(struct kf_vmnet_info *out, const char *text, int n);
/* Parses `reg.exe query ...\VMnetConfig\vmnet<n> /s` output (Windows via WSL interop):
 * NAT only when NAT\UseNAT is 1, the adapter from Adapter\UseAdapter (as vagrant reads them). */
int kf_vmnet_parse_windows_reg(struct kf_vmnet_info *out, const char *text);
/* The number in "VMnet1"/"vmnet8"; -1 if malformed. */
int kf_vmnet_number(const char *name);
/* Judges a vmnet against the configuration: host-only, the configured subnet, and the host's
 * adapter address (host_addr: dotted quad or NULL when it could not be read; with
 * host_addr_known false the adapter address is reported as not checked). */
int kf_vmnet_judge(struct kf_findings *out, const struct kf_config *cfg,
		   const struct kf_vmnet_info *info, const char *source, const char *host_addr,
		   bool host_addr_known);

#endif
