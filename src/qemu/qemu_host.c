/* The QEMU host: whether KVM really works, and the host checks for `doctor --host` and before
 * create-vms (qemu and its version, qemu-img, the accelerator, the bridge with the gateway, the
 * bridge helper's permission for a non-root user, memory and disk), each with its fix. */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/kvm.h>
#include <linux/sockios.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/qemu.h"
#include "qemu_internal.h"

#define MEM_HEADROOM_MB 1024
#define GIB (1024.0 * 1024.0 * 1024.0)

/* ------------------------------------------------------------------------------------------ */
/* KVM                                                                                          */

/* In the child: a one-page guest whose first instruction is hlt, run once. Only system calls
 * (async-signal-safe after fork in a threaded parent). Exit status says which step failed. */
static int kvm_probe_child(void)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_run *run;
	unsigned char *mem;
	int kvm, vm, vcpu, size;

	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		return 10;
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return 11;
	if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
		return 12;
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 13;
	mem[0] = 0xf4; /* hlt */
	region.slot = 0;
	region.guest_phys_addr = 0x1000;
	region.memory_size = 0x1000;
	region.userspace_addr = (unsigned long)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return 13;
	if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
		return 14;
	if ((size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		return 14;
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return 14;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return 15;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return 15;
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return 15;
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return 16;
	return run->exit_reason == KVM_EXIT_HLT ? 0 : 17;
}

bool kf_qemu_kvm_works(char **why)
{
	static const char *const steps[] = {
		[10] = "/dev/kvm does not open (no KVM module, or no permission: join the kvm group)",
		[11] = "/dev/kvm answers an unknown API version",
		[12] = "KVM cannot create a VM (virtualization disabled in the firmware, or in use "
		       "by another hypervisor)",
		[13] = "KVM refuses guest memory",
		[14] = "KVM cannot create a virtual CPU",
		[15] = "KVM refuses CPU registers",
		[16] = "KVM_RUN failed",
		[17] = "a test guest did not stop where it should (KVM_RUN exit)",
	};
	double deadline;
	pid_t pid;
	int st = 0;

	*why = NULL;
	if (access("/dev/kvm", F_OK) != 0) {
		*why = strdup("no /dev/kvm (no KVM module loaded, or virtualization off in the "
			      "firmware)");
		return false;
	}
	pid = fork();
	if (pid < 0) {
		*why = strdup("cannot fork the KVM probe");
		return false;
	}
	if (pid == 0)
		_exit(kvm_probe_child());
	/* A KVM that hangs its guests (seen on nested hosts) hangs KVM_RUN: one second is a
	 * thousand times what a one-instruction guest needs. */
	deadline = kf_now_mono() + 1.0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			*why = strdup("lost the KVM probe");
			return false;
		}
		if (kf_now_mono() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			*why = strdup("a one-instruction KVM guest did not finish within 1 s: KVM "
				      "guests hang on this host");
			return false;
		}
		kf_sleep_ms(20);
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	if (WIFEXITED(st) && WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) <= 17)
		*why = strdup(steps[WEXITSTATUS(st)]);
	else
		*why = strdup("the KVM probe crashed");
	return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Programs                                                                                     */

char *kf_qemu_find_binary(const struct kf_config *cfg)
{
	const char *b = cfg->qemu.binary;

	if (b && strcmp(b, "auto") != 0) {
		if (strchr(b, '/'))
			return access(b, X_OK) == 0 ? strdup(b) : NULL;
		return kf_proc_which(b);
	}
	return kf_proc_which("qemu-system-x86_64");
}

char *kf_qemu_find_img(const char *binary)
{
	char *dir, *slash, *p = NULL;

	/* next to the configured binary first (a self-built QEMU), then PATH */
	if (binary && (dir = strdup(binary)) != NULL) {
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			p = kf_path_join(dir, "qemu-img");
			if (p && access(p, X_OK) != 0) {
				free(p);
				p = NULL;
			}
		}
		free(dir);
	}
	return p ? p : kf_proc_which("qemu-img");
}

char *kf_qemu_find_helper(const struct kf_config *cfg)
{
	/* where distributions put it: Debian/Ubuntu /usr/lib/qemu, Fedora /usr/libexec, a
	 * source build /usr/local/libexec */
	static const char *const where[] = { "/usr/lib/qemu/qemu-bridge-helper",
					     "/usr/libexec/qemu-bridge-helper",
					     "/usr/local/libexec/qemu-bridge-helper" };
	const char *h = cfg->qemu.bridge_helper;

	if (h && strcmp(h, "auto") != 0)
		return strchr(h, '/') ? strdup(h) : kf_proc_which(h);
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0)
			return strdup(where[i]);
	return NULL;
}

int kf_qemu_version(const char *binary, int *major, int *minor, char **text, struct kf_err *err)
{
	const char *argv[] = { binary, "--version", NULL };
	struct kf_proc p = { .argv = argv, .timeout_ms = 20000, .out_max = 64 * 1024 };
	const char *s;
	int r;

	*text = NULL;
	if ((r = kf_proc_run_ok(&p, err)) != 0) {
		kf_proc_free(&p);
		return r;
	}
	/* "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" */
	s = strstr(kf_buf_str(&p.out), "version ");
	if (!s || sscanf(s + 8, "%d.%d", major, minor) != 2) {
		kf_proc_free(&p);
		return kf_err_set(err, KF_EPARSE, "%s --version: no version in its answer", binary);
	}
	*text = strndup(s + 8, strcspn(s + 8, " \n"));
	kf_proc_free(&p);
	return *text ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------------------------------ */
/* The bridge                                                                                   */

/* By ioctl and netlink, not /sys/class/net: sysfs shows the network namespace it was mounted
 * in, which is not ours under `unshare -n`. A bridge's driver is "bridge" (ethtool drvinfo). */
int kf_qemu_bridge_state(const char *bridge, const char *gateway, bool *exists, bool *up,
			 bool *has_gw)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ifaddrs *ifa = NULL;
	struct ifreq ifr;
	int fd;

	*exists = *up = *has_gw = false;
	if (strlen(bridge) >= IFNAMSIZ || if_nametoindex(bridge) == 0)
		return 0;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return KF_EIO;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, bridge, strlen(bridge));
	ifr.ifr_data = (void *)&drv;
	*exists = ioctl(fd, SIOCETHTOOL, &ifr) == 0 && strcmp(drv.driver, "bridge") == 0;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, bridge, strlen(bridge));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
		*up = (ifr.ifr_flags & IFF_UP) != 0;
	close(fd);
	if (!*exists)
		return 0;
	if (getifaddrs(&ifa) != 0)
		return KF_EIO;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		char a[INET_ADDRSTRLEN];
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, bridge))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
		if (strcmp(a, gateway) == 0)
			*has_gw = true;
	}
	freeifaddrs(ifa);
	return 0;
}

/* Does bridge.conf (and the files it includes, one level) allow the bridge? (qemu-bridge-helper
 * reads /etc/qemu/bridge.conf: "allow NAME", "allow all", "deny ...", "include FILE";
 * QEMU qemu-bridge-helper.c parse_acl_file.) */
static bool acl_allows(const char *file, const char *bridge, int depth)
{
	char *text = NULL, *save = NULL, *line;
	size_t len;
	bool allowed = false;

	if (depth > 2 || kf_fs_read(&text, &len, file, 256 * 1024, NULL) != 0)
		return false;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char verb[16], arg[256];
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || sscanf(line, "%15s %255s", verb, arg) != 2)
			continue;
		if (strcmp(verb, "allow") == 0 && (!strcmp(arg, "all") || !strcmp(arg, bridge)))
			allowed = true;
		else if (strcmp(verb, "deny") == 0 && (!strcmp(arg, "all") || !strcmp(arg, bridge)))
			allowed = false;
		else if (strcmp(verb, "include") == 0 && acl_allows(arg, bridge, depth + 1))
			allowed = true;
	}
	free(text);
	return allowed;
}

/* ------------------------------------------------------------------------------------------ */
/* Host checks                                                                                  */

static long long meminfo_kb(const char *key)
{
	char *text = NULL, *p;
	size_t len;
	long long v = -1;

	if (kf_fs_read(&text, &len, "/proc/meminfo", 64 * 1024, NULL) != 0)
		return -1;
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, strlen(key)) == 0 && p[strlen(key)] == ':') {
			v = atoll(p + strlen(key) + 1);
			break;
		}
	free(text);
	return v;
}

static int check_programs(struct kf_findings *out, const struct kf_config *cfg)
{
	char *bin = kf_qemu_find_binary(cfg), *img = kf_qemu_find_img(bin), *ver = NULL, *why;
	int major = 0, minor = 0, r;
	struct kf_err e;

	if (!bin) {
		r = kf_findings_add(out, "qemu", KF_CHECK_FAIL,
				    "install QEMU (Debian/Ubuntu: apt install qemu-system-x86; Fedora: "
				    "dnf install qemu-system-x86) or set qemu.binary",
				    "%s not found", strcmp(cfg->qemu.binary, "auto") ?
				    cfg->qemu.binary : "qemu-system-x86_64 (on PATH)");
	} else if (kf_qemu_version(bin, &major, &minor, &ver, &e) != 0) {
		r = kf_findings_add(out, "qemu", KF_CHECK_FAIL, "reinstall QEMU", "%s", e.msg);
	} else if (major < 6) {
		/* snapshot-save/-load/-delete came in QEMU 6.0 (qapi/migration.json "Since: 6.0") */
		r = kf_findings_add(out, "qemu", KF_CHECK_FAIL,
				    "install QEMU 6.0 or later (Debian 12 has 7.2, Ubuntu 22.04 6.2)",
				    "%s is QEMU %s: live snapshots need 6.0 or later", bin, ver);
	} else {
		r = kf_findings_add(out, "qemu", KF_CHECK_OK, NULL, "%s (QEMU %s)", bin, ver);
	}
	if (!r)
		r = img ? kf_findings_add(out, "qemu-img", KF_CHECK_OK, NULL, "%s", img)
			: kf_findings_add(out, "qemu-img", KF_CHECK_FAIL,
					  "install qemu-utils (Debian/Ubuntu) or qemu-img (Fedora)",
					  "qemu-img not found: it makes the VMs' disks");
	if (!r) {
		bool works = kf_qemu_kvm_works(&why);
		const char *acc = cfg->qemu.accel;
		if (works)
			r = kf_findings_add(out, "accel", KF_CHECK_OK, NULL, "KVM works%s",
					    strcmp(acc, "tcg") == 0 ? " (qemu.accel: tcg asks for "
					    "emulation anyway)" : "");
		else if (strcmp(acc, "kvm") == 0)
			r = kf_findings_add(out, "accel", KF_CHECK_FAIL,
					    "enable virtualization (VT-x/AMD-V) in the firmware, load "
					    "kvm_intel or kvm_amd, join the kvm group; or set qemu.accel: "
					    "tcg (slow)", "qemu.accel is kvm but %s", why);
		else if (strcmp(acc, "tcg") == 0)
			r = kf_findings_add(out, "accel", KF_CHECK_INFO, NULL,
					    "qemu.accel: tcg: every instruction emulated, many times "
					    "slower than KVM (%s)", why);
		else
			r = kf_findings_add(out, "accel", KF_CHECK_WARN,
					    "enable virtualization (VT-x/AMD-V) and KVM for real speed",
					    "no working KVM (%s): the VMs run under TCG emulation, many "
					    "times slower", why);
		free(why);
	}
	free(bin);
	free(img);
	free(ver);
	return r;
}

static int check_network(struct kf_findings *out, const struct kf_config *cfg)
{
	const char *br = cfg->qemu.bridge, *gw = cfg->network.gateway;
	bool exists, up, has_gw;
	char fix[512];
	int r;

	kf_qemu_bridge_state(br, gw, &exists, &up, &has_gw);
	snprintf(fix, sizeof(fix), "create it (docs/qemu.md), or once: ip link add %s type bridge "
		 "&& ip addr add %s/%d dev %s && ip link set %s up", br, gw, cfg->network.prefix,
		 br, br);
	if (!exists)
		r = kf_findings_add(out, "bridge", KF_CHECK_FAIL, fix, "no bridge %s%s", br,
				    if_nametoindex(br) ? " (an interface of that name is no bridge)" :
				    "");
	else if (!up)
		r = kf_findings_add(out, "bridge", KF_CHECK_FAIL, fix, "bridge %s is down", br);
	else if (!has_gw) {
		snprintf(fix, sizeof(fix), "ip addr add %s/%d dev %s (and make it permanent, "
			 "docs/qemu.md)", gw, cfg->network.prefix, br);
		r = kf_findings_add(out, "bridge", KF_CHECK_FAIL, fix, "bridge %s does not carry "
				    "network.gateway %s: the nodes could not reach the registry", br,
				    gw);
	} else
		r = kf_findings_add(out, "bridge", KF_CHECK_OK, NULL, "bridge %s is up with %s", br,
				    gw);
	if (r)
		return r;
	if (geteuid() == 0)
		return kf_findings_add(out, "bridge-helper", KF_CHECK_OK, NULL,
				       access("/dev/net/tun", R_OK | W_OK) == 0 ?
				       "running as root: k3sforge makes each VM's tap itself" :
				       "running as root, but /dev/net/tun is missing (modprobe tun)");
	{
		char *h = kf_qemu_find_helper(cfg);
		struct stat st;
		if (!h)
			r = kf_findings_add(out, "bridge-helper", KF_CHECK_FAIL,
					    "install QEMU's qemu-bridge-helper (Debian: qemu-system-common) "
					    "or set qemu.bridge_helper, or run k3sforge as root",
					    "qemu-bridge-helper not found");
		else if (stat(h, &st) != 0 || st.st_uid != 0 || !(st.st_mode & S_ISUID))
			r = kf_findings_add(out, "bridge-helper", KF_CHECK_WARN,
					    "sudo chmod u+s on it (or give it cap_net_admin: sudo setcap "
					    "cap_net_admin+ep on it)",
					    "%s is not setuid root: it may not be able to make taps", h);
		else if (!acl_allows("/etc/qemu/bridge.conf", br, 0)) {
			snprintf(fix, sizeof(fix), "echo 'allow %s' | sudo tee -a /etc/qemu/bridge.conf "
				 "(the file is root's, mode 0644)", br);
			r = kf_findings_add(out, "bridge-helper", KF_CHECK_FAIL, fix,
					    "/etc/qemu/bridge.conf does not allow %s: QEMU cannot put "
					    "the VMs on it", br);
		} else
			r = kf_findings_add(out, "bridge-helper", KF_CHECK_OK, NULL,
					    "%s may use %s", h, br);
		free(h);
	}
	return r;
}

static int check_resources(struct kf_findings *out, const struct kf_config *cfg,
			   const char *vm_dir)
{
	long long need_mb = MEM_HEADROOM_MB, avail_kb = meminfo_kb("MemAvailable"), disk = 0;
	char *dir = strdup(vm_dir ? vm_dir : ".");
	struct statvfs sv;
	int r;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		need_mb += cfg->nodes[i].memory_mb;
		disk += cfg->nodes[i].disk_gb;
	}
	if (avail_kb < 0)
		r = kf_findings_add(out, "memory", KF_CHECK_WARN, NULL,
				    "cannot read /proc/meminfo: free memory not checked");
	else if (avail_kb / 1024 < need_mb)
		r = kf_findings_add(out, "memory", KF_CHECK_FAIL,
				    "free memory or lower nodes[].memory; the guests would swap",
				    "%lld MiB available, the nodes need %lld MiB (with %d MiB for "
				    "the host)", avail_kb / 1024, need_mb, MEM_HEADROOM_MB);
	else
		r = kf_findings_add(out, "memory", KF_CHECK_OK, NULL,
				    "%lld MiB available for %lld MiB of nodes", avail_kb / 1024,
				    need_mb);
	if (r || !dir) {
		free(dir);
		return r ? r : KF_ENOMEM;
	}
	/* the VM dir may not exist yet: the nearest existing parent */
	while (statvfs(dir, &sv) != 0) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			free(dir);
			return kf_findings_add(out, "disk", KF_CHECK_WARN, NULL,
					       "cannot measure free disk space for %s", vm_dir);
		}
		*slash = '\0';
	}
	{
		/* qcow2 disks start small and grow; the nodes need a few GiB each to run */
		double free_gb = (double)sv.f_bavail * (double)sv.f_frsize / GIB;
		long long floor_gb = 4 * (long long)cfg->n_nodes;
		if (free_gb < (double)floor_gb)
			r = kf_findings_add(out, "disk", KF_CHECK_FAIL,
					    "free disk space, or put paths.vm_dir on a larger disk",
					    "%.1f GiB free at %s; the nodes need at least %lld GiB",
					    free_gb, dir, floor_gb);
		else if (free_gb < (double)disk)
			r = kf_findings_add(out, "disk", KF_CHECK_WARN,
					    "fine for a lab; free more before filling the nodes' disks",
					    "%.1f GiB free at %s, less than the %lld GiB the qcow2 "
					    "disks may grow to", free_gb, dir, disk);
		else
			r = kf_findings_add(out, "disk", KF_CHECK_OK, NULL,
					    "%.1f GiB free at %s for disks of up to %lld GiB", free_gb,
					    dir, disk);
	}
	free(dir);
	return r;
}

int kf_qemu_host_checks(struct kf_findings *out, const struct kf_config *cfg,
			const char *vm_dir, unsigned what)
{
	int r = 0;

	if (what & KF_HOSTCHECK_VMRUN)
		r = check_programs(out, cfg);
	if (!r && (what & KF_HOSTCHECK_NETWORK))
		r = check_network(out, cfg);
	if (!r && (what & KF_HOSTCHECK_RESOURCES))
		r = check_resources(out, cfg, vm_dir);
	return r;
}
