/* The lab's host checks (lab.h): the hypervisor's, plus what only the lab knows of (the
 * registry's WSL port proxy, which needs the registry's listen port). */
#include <stdlib.h>

#include "k3sforge/fs.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/lab.h"
#include "k3sforge/platform.h"
#include "k3sforge/platform_wsl.h"
#include "k3sforge/regserver.h"
#include "k3sforge/wslproxy.h"

/* Under WSL in NAT mode the guests reach the registry through a Windows port proxy that prep
 * sets up: is it there? */
static int check_portproxy(struct kf_findings *out, const struct kf_config *cfg)
{
	char listen[128], host[128], *src = NULL;
	enum kf_wsl_netmode mode = kf_wsl_networking_mode(&src);
	struct kf_err e;
	int port = 0, r;

	if (mode != KF_WSL_NAT) {
		r = kf_findings_add(out, "portproxy", KF_CHECK_OK, NULL,
				    "WSL networking is mirrored (%s): no registry port proxy needed",
				    src ? src : "?");
		free(src);
		return r;
	}
	free(src);
	if (!kf_fs_exists(KF_WIN_NETSH_EXE))
		return kf_findings_add(out, "portproxy", KF_CHECK_WARN,
				       "enable WSL interop, or check `netsh interface portproxy show "
				       "v4tov4` on Windows yourself",
				       "%s not reachable: the registry port proxy is not checked",
				       KF_WIN_NETSH_EXE);
	kf_err_clear(&e);
	if (kf_regserver_listen(cfg, listen, sizeof(listen), host, sizeof(host), &port, &e) == 0 &&
	    kf_wslproxy_check(cfg->registry.host_ip, cfg->registry.port, port, &e) == 0)
		return kf_findings_add(out, "portproxy", KF_CHECK_OK, NULL,
				       "port proxy %s:%d -> WSL:%d in place", cfg->registry.host_ip,
				       cfg->registry.port, port);
	return kf_findings_add(out, "portproxy", KF_CHECK_FAIL,
			       "run `k3sforge prep` from a terminal opened as administrator",
			       "%s", e.msg);
}

int kf_lab_host_checks(struct kf_findings *out, const struct kf_config *cfg, const char *out_dir,
		       unsigned what)
{
	char *vm_dir = kf_hv_vm_dir(cfg, out_dir);
	int r;

	if (!vm_dir)
		return KF_ENOMEM;
	r = kf_hv_host_checks(out, cfg, vm_dir, what);
	free(vm_dir);
	if (!r && (what & KF_HOSTCHECK_WSL) && kf_platform_is_wsl())
		r = check_portproxy(out, cfg);
	return r;
}
