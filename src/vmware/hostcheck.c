/* Host checks for VMware labs. Each check appends findings; nothing here prints or exits.
 * Linux reads /etc/vmware/networking (the "answer VNET_<n>_KEY value" file VMware's
 * vmware-networks keeps) and the host adapter's address; from WSL the Windows side is read
 * through interop with reg.exe (HKLM\SOFTWARE\WOW6432Node\VMware, Inc.\VMnetLib\VMnetConfig),
 * and what cannot be read is reported as not checked, never as fine. */
#include "k3sforge/hostcheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/platform_wsl.h"
#include "k3sforge/proc.h"
#include "k3sforge/vmrun.h"

#define LINUX_NETWORKING "/etc/vmware/networking"
#define REG_EXE KF_WIN_REG_EXE
#define NET_EXE KF_WIN_NET_EXE
#define REG_KEY "HKLM\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMnetLib\\VMnetConfig\\"
#define GIB (1024.0 * 1024.0 * 1024.0)
/* What an install + k3s + the airgap images actually write per node before first use. */
#define DISK_NEED_PER_NODE_GB 10
#define MEM_HEADROOM_MB 1024

int kf_vmnet_number(const char *name)
{
	char *end;
	long n;

	if (!name || strncasecmp(name, "vmnet", 5) != 0 || !isdigit((unsigned char)name[5]))
		return -1;
	n = strtol(name + 5, &end, 10);
	return *end || n < 0 || n > 255 ? -1 : (int)n;
}

static bool parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;
	char buf[64];
	size_t n = strcspn(s, " \t\r\n");

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

static bool yes(const char *v)
{
	return strncasecmp(v, "yes", 3) == 0 || strncasecmp(v, "true", 4) == 0 || *v == '1';
}

int kf_vmnet_parse_linux(struct kf_vmnet_info *out, const char *text, int n)
{
	char prefix[32];
	const char *p = text;

	memset(out, 0, sizeof(*out));
	snprintf(prefix, sizeof(prefix), "VNET_%d_", n);
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		char line[512];
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		p = eol ? eol + 1 : NULL;
		if (strncmp(line, "answer ", 7) == 0 && strncmp(line + 7, prefix, strlen(prefix)) == 0) {
			const char *k = line + 7 + strlen(prefix);
			const char *v = strchr(k, ' ');
			out->present = true;
			v = v ? v + 1 : "";
			if (strncmp(k, "HOSTONLY_SUBNET ", 16) == 0)
				parse_ip(v, &out->subnet);
			else if (strncmp(k, "HOSTONLY_NETMASK ", 17) == 0)
				parse_ip(v, &out->netmask);
			else if (strncmp(k, "VIRTUAL_ADAPTER ", 16) == 0) {
				out->virtual_adapter = yes(v);
				out->adapter_known = true;
			}
			else if (strncmp(k, "NAT ", 4) == 0)
				out->nat = yes(v);
			else if (strncmp(k, "DHCP ", 5) == 0)
				out->dhcp = yes(v);
		} else if (strncmp(line, "add_bridge_mapping ", 19) == 0) {
			const char *num = strrchr(line, ' ');
			if (num && atoi(num + 1) == n && isdigit((unsigned char)num[1])) {
				out->bridged = true;
				out->present = true;
			}
		}
	}
	return 0;
}

/* `reg query ...\VMnetConfig\vmnet<n> /s`: the vmnet's key, then its subkeys, each a header
 * line followed by "    Name    REG_TYPE    value" lines. Read as vagrant-vmware-desktop reads
 * the same keys: NAT only when NAT\UseNAT is 1, else host-only, even when a NAT subkey exists
 * (go_src/vagrant-vmware-utility/driver/base_windows.go:90-102); the host's virtual adapter
 * exists when Adapter\UseAdapter is 1 (service/vnetlib_windows.go:271-292). */
int kf_vmnet_parse_windows_reg(struct kf_vmnet_info *out, const char *text)
{
	enum { SEC_NONE, SEC_VMNET, SEC_NAT, SEC_ADAPTER, SEC_DHCP, SEC_OTHER } sec = SEC_NONE;
	const char *p = text;

	memset(out, 0, sizeof(*out));
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		char line[512], name[128], type[32], val[256];
		const char *sub;
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		p = eol ? eol + 1 : NULL;
		line[strcspn(line, "\r")] = '\0';
		if ((sub = strcasestr(line, "VMnetConfig\\vmnet")) != NULL && line[0] == 'H') {
			const char *tail = strchr(sub + strlen("VMnetConfig\\vmnet"), '\\');
			out->present = true;
			out->adapter_known = true; /* Windows: no Adapter key means no adapter */
			sec = !tail ? SEC_VMNET
			      : strcasecmp(tail, "\\NAT") == 0 ? SEC_NAT
			      : strcasecmp(tail, "\\Adapter") == 0 ? SEC_ADAPTER
			      : strcasecmp(tail, "\\DHCP") == 0 ? SEC_DHCP
								 : SEC_OTHER;
			continue;
		}
		if (sscanf(line, " %127s %31s %255s", name, type, val) != 3 ||
		    strncmp(type, "REG_", 4) != 0)
			continue;
		if (sec == SEC_VMNET && strcasecmp(name, "IPSubnetAddress") == 0)
			parse_ip(val, &out->subnet);
		else if (sec == SEC_VMNET && strcasecmp(name, "IPSubnetMask") == 0)
			parse_ip(val, &out->netmask);
		else if ((sec == SEC_DHCP || sec == SEC_VMNET) && strcasecmp(name, "UseDHCP") == 0)
			out->dhcp = strtoul(val, NULL, 0) == 1;
		else if (sec == SEC_NAT && strcasecmp(name, "UseNAT") == 0)
			out->nat = strtoul(val, NULL, 0) == 1;
		else if (sec == SEC_ADAPTER && strcasecmp(name, "UseAdapter") == 0)
			out->virtual_adapter = strtoul(val, NULL, 0) == 1;
	}
	return 0;
}

static void ip_str(uint32_t a, char *buf, size_t n)
{
	snprintf(buf, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

int kf_vmnet_judge(struct kf_findings *out, const struct kf_config *cfg,
		   const struct kf_vmnet_info *info, const char *source, const char *host_addr,
		   bool host_addr_known)
{
	const char *vnet = cfg->network.vmnet;
	uint32_t want_mask = cfg->network.prefix ? 0xffffffffu << (32 - cfg->network.prefix) : 0;
	uint32_t gw = 0;
	char sub[32], mask[32], fix[512];
	int r = 0;

	if (!info->present) {
		snprintf(fix, sizeof(fix),
			 "open the Virtual Network Editor (Linux: vmware-netcfg; Windows: Edit > "
			 "Virtual Network Editor, as administrator), add %s as Host-only with subnet "
			 "%s and apply",
			 vnet, cfg->network.subnet);
		return kf_findings_add(out, "vmnet", KF_CHECK_FAIL, fix, "%s does not exist (%s)",
				       vnet, source);
	}
	if (info->bridged || info->nat || !info->subnet) {
		snprintf(fix, sizeof(fix),
			 "in the Virtual Network Editor set %s to Host-only (not %s) with subnet %s, "
			 "or set network.vmnet to a host-only vmnet",
			 vnet, info->bridged ? "bridged" : info->nat ? "NAT" : "custom", cfg->network.subnet);
		return kf_findings_add(out, "vmnet", KF_CHECK_FAIL, fix, "%s is %s, not host-only (%s)",
				       vnet, info->bridged ? "bridged" : info->nat ? "NAT" : "not configured with a subnet",
				       source);
	}
	ip_str(info->subnet, sub, sizeof(sub));
	ip_str(info->netmask, mask, sizeof(mask));
	if (info->subnet != cfg->network.subnet_addr || (info->netmask && info->netmask != want_mask)) {
		snprintf(fix, sizeof(fix),
			 "either change %s's subnet to %s in the Virtual Network Editor, or set "
			 "network.subnet (and the node IPs) to match %s/%s",
			 vnet, cfg->network.subnet, sub, mask);
		return kf_findings_add(out, "vmnet", KF_CHECK_FAIL, fix,
				       "%s is host-only on %s/%s but network.subnet is %s (%s)", vnet,
				       sub, mask, cfg->network.subnet, source);
	}
	r = kf_findings_add(out, "vmnet", KF_CHECK_OK, NULL, "%s is host-only on %s (%s)%s", vnet,
			    cfg->network.subnet, source,
			    info->dhcp ? "; its DHCP server is on, harmless with static node IPs" : "");
	if (r)
		return r;
	if (info->adapter_known && !info->virtual_adapter) {
		snprintf(fix, sizeof(fix),
			 "in the Virtual Network Editor tick \"Connect a host virtual adapter to this "
			 "network\" for %s and apply (the host must be %s on it for the registry and "
			 "the guests' downloads)",
			 vnet, cfg->network.gateway);
		return kf_findings_add(out, "host-adapter", KF_CHECK_FAIL, fix,
				       "%s has no host virtual adapter (%s)", vnet, source);
	}
	if (info->adapter_known &&
	    (r = kf_findings_add(out, "host-adapter", KF_CHECK_OK, NULL,
				 "%s has a host virtual adapter (%s)", vnet, source)) != 0)
		return r;
	parse_ip(cfg->network.gateway, &gw);
	if (!host_addr_known) {
		snprintf(fix, sizeof(fix),
			 "on Windows run `ipconfig` and check that \"VMware Network Adapter %s\" has "
			 "IPv4 address %s",
			 vnet, cfg->network.gateway);
		return kf_findings_add(out, "host-ip", KF_CHECK_INFO, fix,
				       "the host adapter's address on %s cannot be read from here: not "
				       "checked",
				       vnet);
	}
	if (!host_addr) {
		snprintf(fix, sizeof(fix),
			 "start VMware's networks (`sudo vmware-networks --start`) and make sure "
			 "%s has \"Connect a host virtual adapter\" ticked in the Virtual Network Editor",
			 vnet);
		return kf_findings_add(out, "host-ip", KF_CHECK_FAIL, fix,
				       "the host has no adapter with an IPv4 address on %s", vnet);
	}
	if (strcmp(host_addr, cfg->network.gateway) != 0) {
		snprintf(fix, sizeof(fix),
			 "set network.gateway (and registry.host_ip) to %s, the address VMware gave "
			 "the host on %s",
			 host_addr, vnet);
		return kf_findings_add(out, "host-ip", KF_CHECK_FAIL, fix,
				       "the host is %s on %s but network.gateway is %s", host_addr,
				       vnet, cfg->network.gateway);
	}
	return kf_findings_add(out, "host-ip", KF_CHECK_OK, NULL, "the host is %s on %s",
			       host_addr, vnet);
}

static int check_vmrun(struct kf_findings *out, const struct kf_config *cfg)
{
	struct kf_vmrun *v = NULL;
	struct kf_err e;
	int r;
	unsigned maj = 0, min = 0;

	kf_err_clear(&e);
	if (kf_vmrun_find(&v, cfg, &e) != 0)
		return kf_findings_add(out, "vmrun", KF_CHECK_FAIL,
				       "install VMware Workstation 17 Pro, or set vmware.vmrun to "
				       "vmrun's full path",
				       "%s", e.msg);
	if (sscanf(v->version, "%u.%u", &maj, &min) == 2 && (maj < 1 || (maj == 1 && min < 17)))
		r = kf_findings_add(out, "vmrun", KF_CHECK_WARN,
				    "upgrade to VMware Workstation 17 (vmrun 1.17); older releases are "
				    "untested",
				    "vmrun %s at %s is older than Workstation 17", v->version, v->path);
	else
		r = kf_findings_add(out, "vmrun", KF_CHECK_OK, NULL,
				    "VMware Workstation's vmrun %s at %s%s", v->version, v->path,
				    v->windows ? " (Windows, through WSL interop)" : "");
	if (!r) {
		/* vmrun's banner says 1.17.0 for every Workstation since 14: the product version
		 * decides which virtualHW.version powers on. */
		char *ws = NULL;
		bool uncertain = false;
		kf_err_clear(&e);
		if (kf_vmrun_workstation_version(v, &ws, &e) != 0)
			r = kf_findings_add(out, "workstation", KF_CHECK_WARN,
					    "check Help > About in Workstation: vmware.hw_version 22 "
					    "needs 25H2, 21 is tested with 17.6",
					    "%s: vmware.hw_version %d not checked", e.msg,
					    cfg->vmware.hw_version);
		else if (kf_vmrun_check_hw_version(cfg->vmware.hw_version, ws, &uncertain, &e) != 0)
			r = kf_findings_add(out, "workstation", KF_CHECK_FAIL,
					    "lower vmware.hw_version or upgrade Workstation", "%s", e.msg);
		else if (uncertain)
			r = kf_findings_add(out, "workstation", KF_CHECK_WARN,
					    "set vmware.hw_version lower if a VM will not start",
					    "VMware Workstation %s: %s", ws, e.msg);
		else
			r = kf_findings_add(out, "workstation", KF_CHECK_OK, NULL,
					    "VMware Workstation %s runs vmware.hw_version %d", ws,
					    cfg->vmware.hw_version);
		free(ws);
	}
	if (!r)
		r = kf_findings_add(out, "vdiskmanager", KF_CHECK_INFO, NULL, "%s",
				    v->vdiskmanager ? "vmware-vdiskmanager found: disks are made with it"
						    : "vmware-vdiskmanager not found: k3sforge writes the "
						      "sparse disks itself");
	/* VMware's kernel modules on Linux: without them nothing starts. */
	if (!r && !v->windows && !kf_fs_exists("/dev/vmmon"))
		r = kf_findings_add(out, "modules", KF_CHECK_WARN,
				    "load VMware's kernel modules: `sudo vmware-modconfig --console "
				    "--install-all` (and enroll the signing key with Secure Boot)",
				    "/dev/vmmon is missing: VMware's kernel modules are not loaded");
	else if (!r && !v->windows && access("/dev/vmmon", R_OK | W_OK) != 0)
		r = kf_findings_add(out, "modules", KF_CHECK_WARN,
				    "run as a user with access to /dev/vmmon (VMware's group) or fix its "
				    "permissions",
				    "/dev/vmmon exists but this user cannot open it");
	kf_vmrun_free(v);
	return r;
}

/* The IPv4 address of host interface `ifname` (lower-case vmnetN), into buf; false if none. */
static bool iface_addr(const char *ifname, char *buf, size_t n)
{
	struct ifaddrs *ifa = NULL, *i;
	bool found = false;

	if (getifaddrs(&ifa) != 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    strcasecmp(i->ifa_name, ifname) == 0)
			found = inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf,
					  (socklen_t)n) != NULL;
	freeifaddrs(ifa);
	return found;
}

static int check_network(struct kf_findings *out, const struct kf_config *cfg)
{
	struct kf_vmnet_info info;
	int n = kf_vmnet_number(cfg->network.vmnet);
	char ifname[32], addr[64];
	struct kf_err e;
	int r;

	if (n < 0)
		return kf_findings_add(out, "vmnet", KF_CHECK_FAIL,
				       "set network.vmnet to a VMware network name such as VMnet1",
				       "network.vmnet '%s' is not a VMnet name", cfg->network.vmnet);
	if (kf_platform_is_wsl()) {
		char key[256];
		struct kf_proc p;
		snprintf(key, sizeof(key), REG_KEY "vmnet%d", n);
		if (!kf_fs_exists(REG_EXE))
			return kf_findings_add(out, "vmnet", KF_CHECK_WARN,
					       "check the Virtual Network Editor on Windows by hand: " "host-only, the configured subnet",
					       "%s not reachable from WSL (no %s): %s not checked",
					       "Windows registry", REG_EXE, cfg->network.vmnet);
		{
			const char *argv[] = { REG_EXE, "query", key, "/s", NULL };
			memset(&p, 0, sizeof(p));
			p.argv = argv;
			p.timeout_ms = 20000;
			r = kf_proc_run(&p, &e);
			if (r || p.exit_code != 0) {
				kf_proc_free(&p);
				memset(&info, 0, sizeof(info));
				return kf_vmnet_judge(out, cfg, &info, "Windows registry VMnetLib", NULL,
						      false);
			}
			kf_vmnet_parse_windows_reg(&info, kf_buf_str(&p.out));
			kf_proc_free(&p);
		}
		return kf_vmnet_judge(out, cfg, &info, "Windows registry VMnetLib", NULL, false);
	}
	{
		char *text = NULL;
		r = kf_fs_read(&text, NULL, LINUX_NETWORKING, 1024 * 1024, &e);
		if (r)
			return kf_findings_add(out, "vmnet", KF_CHECK_FAIL,
					       "install VMware Workstation and run `sudo vmware-networks "
					       "--start` once (it writes " LINUX_NETWORKING ")",
					       "cannot read VMware's network configuration: %s", e.msg);
		kf_vmnet_parse_linux(&info, text, n);
		free(text);
	}
	snprintf(ifname, sizeof(ifname), "vmnet%d", n);
	return kf_vmnet_judge(out, cfg, &info, LINUX_NETWORKING,
			      iface_addr(ifname, addr, sizeof(addr)) ? addr : NULL, true);
}

static long long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			v = atoll(line + strlen(key) + 1);
			break;
		}
	fclose(f);
	return v;
}

static int check_resources(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir)
{
	long long need_mb = MEM_HEADROOM_MB, avail_kb = meminfo_kb("MemAvailable");
	long long disk_full = 0, disk_need = 1;
	char fix[256], *dir = vm_dir ? strdup(vm_dir) : strdup(".");
	struct statvfs sv;
	int r;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		need_mb += cfg->nodes[i].memory_mb;
		disk_full += cfg->nodes[i].disk_gb;
		disk_need += cfg->nodes[i].disk_gb < DISK_NEED_PER_NODE_GB ? cfg->nodes[i].disk_gb
									  : DISK_NEED_PER_NODE_GB;
	}
	if (kf_platform_is_wsl())
		r = kf_findings_add(out, "memory", KF_CHECK_INFO,
				    "make sure Windows has the nodes' memory free (Task Manager)",
				    "WSL sees only its own memory: Windows' free memory (%lld MiB "
				    "needed) not checked",
				    need_mb);
	else if (avail_kb < 0)
		r = kf_findings_add(out, "memory", KF_CHECK_WARN, NULL,
				    "cannot read /proc/meminfo: free memory not checked");
	else if (avail_kb / 1024 < need_mb) {
		snprintf(fix, sizeof(fix),
			 "free memory (close programs) or lower nodes[].memory_mb; VMware would "
			 "swap and the install would crawl");
		r = kf_findings_add(out, "memory", KF_CHECK_FAIL, fix,
				    "%lld MiB available, the nodes need %lld MiB (with %d MiB for the "
				    "host)",
				    avail_kb / 1024, need_mb, MEM_HEADROOM_MB);
	} else
		r = kf_findings_add(out, "memory", KF_CHECK_OK, NULL,
				    "%lld MiB available for %lld MiB of nodes", avail_kb / 1024, need_mb);
	if (r) {
		free(dir);
		return r;
	}
	/* The VM dir may not exist yet: measure the nearest existing parent. */
	while (dir && statvfs(dir, &sv) != 0) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			strcpy(dir, slash ? "/" : ".");
			if (statvfs(dir, &sv) != 0) {
				free(dir);
				return kf_findings_add(out, "disk", KF_CHECK_WARN, NULL,
						       "cannot measure free disk space for %s", vm_dir);
			}
			break;
		}
		*slash = '\0';
	}
	if (!dir)
		return KF_ENOMEM;
	{
		double free_gb = (double)sv.f_bavail * (double)sv.f_frsize / GIB;
		if (free_gb < (double)disk_need) {
			snprintf(fix, sizeof(fix),
				 "free disk space on %s, or put paths.vm_dir on a larger disk", dir);
			r = kf_findings_add(out, "disk", KF_CHECK_FAIL, fix,
					    "%.1f GiB free at %s; the nodes need at least %lld GiB to "
					    "install (their disks may grow to %lld GiB)",
					    free_gb, dir, disk_need, disk_full);
		} else if (free_gb < (double)disk_full) {
			r = kf_findings_add(out, "disk", KF_CHECK_WARN,
					    "fine for a lab; free more space before filling the nodes' "
					    "disks",
					    "%.1f GiB free at %s: enough to install, less than the %lld "
					    "GiB the disks may grow to",
					    free_gb, dir, disk_full);
		} else
			r = kf_findings_add(out, "disk", KF_CHECK_OK, NULL,
					    "%.1f GiB free at %s for disks of up to %lld GiB", free_gb,
					    dir, disk_full);
	}
	free(dir);
	return r;
}

/* NAT mode: the registry port proxy exists and points at WSL's current address. */
static int check_wsl(struct kf_findings *out, const struct kf_config *cfg)
{
	char *where = NULL;
	int r;

	if (!kf_platform_is_wsl())
		return kf_findings_add(out, "wsl", KF_CHECK_OK, NULL,
				       "not running under WSL: native Linux host");
	if (kf_wsl_networking_mode(&where) == KF_WSL_MIRRORED)
		r = kf_findings_add(out, "wsl", KF_CHECK_WARN,
				    "mirrored mode may not reach VMware host-only guests: if kubectl "
				    "from WSL cannot reach the master, set networkingMode=nat in "
				    ".wslconfig and run `wsl --shutdown`",
				    "WSL2 with networkingMode=mirrored (%s)", where);
	else
		r = kf_findings_add(out, "wsl", KF_CHECK_INFO,
				    "the registry port proxy (gateway:5000 to WSL) is set up by `k3sforge "
				    "prep`; it needs an administrator once (netsh)",
				    "WSL2 in NAT networking mode%s%s%s", where ? " (" : " (the default",
				    where ? where : "", ")");
	free(where);
	if (r)
		return r;
	/* Administrator rights are needed once, for the registry port proxy (netsh portproxy in
	 * prep). `net session` succeeds only in an elevated session; WSL interop runs Windows
	 * programs with the token of the terminal WSL was started from. */
	if (!kf_fs_exists(NET_EXE))
		return kf_findings_add(out, "admin", KF_CHECK_INFO,
				       "run `k3sforge prep` from a WSL terminal opened as administrator",
				       "%s not reachable: Windows administrator rights not checked",
				       NET_EXE);
	{
		const char *argv[] = { NET_EXE, "session", NULL };
		struct kf_proc p;
		struct kf_err e;
		bool elevated;
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.timeout_ms = 15000;
		elevated = kf_proc_run(&p, &e) == 0 && !p.signaled && p.exit_code == 0;
		kf_proc_free(&p);
		if (elevated)
			return kf_findings_add(out, "admin", KF_CHECK_OK, NULL,
					       "this WSL session has Windows administrator rights");
		return kf_findings_add(out, "admin", KF_CHECK_INFO,
				       "fine for create-vms; run `k3sforge prep` once from a terminal "
				       "opened as administrator (it adds the registry port proxy)",
				       "this WSL session has no Windows administrator rights");
	}
}

int kf_hostcheck_run(struct kf_findings *out, const struct kf_config *cfg, const char *vm_dir,
		     unsigned what)
{
	int r = 0;

	if (!r && (what & KF_HOSTCHECK_VMRUN))
		r = check_vmrun(out, cfg);
	if (!r && (what & KF_HOSTCHECK_NETWORK))
		r = check_network(out, cfg);
	if (!r && (what & KF_HOSTCHECK_RESOURCES))
		r = check_resources(out, cfg, vm_dir);
	if (!r && (what & KF_HOSTCHECK_WSL))
		r = check_wsl(out, cfg);
	return r;
}
