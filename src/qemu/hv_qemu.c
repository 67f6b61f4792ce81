/* QEMU as the lab's hypervisor (hypervisor.h): each VM is a folder holding its definition
 * (<node>.qemu.json), its qcow2 disk, and while it runs QEMU's pid file, QMP socket and serial
 * console log. QEMU runs daemonized, so VMs outlive k3sforge as VMware's do; "is it on" is the
 * pid file's process, checked to be this VM's QEMU, answering on its QMP socket. The NIC is a
 * tap on the host bridge (qemu.bridge), made by k3sforge as root or by qemu-bridge-helper.
 * Snapshots: qemu_snap.c. Programs and host checks: qemu_host.c. */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/hv_impl.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "qemu_internal.h"

#define DEF_SUFFIX ".qemu.json"
#define DISK_SUFFIX ".qcow2"
#define QUIT_WAIT_S 10.0
#define KILL_WAIT_S 10.0
#define RELEASE_WAIT_S 30.0
#define START_TIMEOUT_MS 120000   /* a -loadvm start reads the whole saved RAM first */

/* ------------------------------------------------------------------------------------------ */
/* Shared helpers (qemu_internal.h)                                                             */

char *kf_qemu_folder(const struct kf_hv_qemu *q, const char *node)
{
	return kf_hv_vm_folder(&q->base, node);
}

static char *folder_file(const struct kf_hv_qemu *q, const char *node, const char *name)
{
	char *folder = kf_qemu_folder(q, node), *p = folder ? kf_path_join(folder, name) : NULL;

	free(folder);
	return p;
}

/* Is the process pid this VM's QEMU: its command line has the argument pidfile (the VM's own
 * pid file path, unique to the folder)? A zombie's or a reused pid's command line does not. */
static bool pid_is_vm(long pid, const char *pidfile)
{
	char path[64], *cmd = NULL;
	size_t len, i = 0;
	bool ours = false;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (kf_fs_read(&cmd, &len, path, 256 * 1024, NULL) != 0)
		return false;
	while (i < len) {
		size_t l = strnlen(cmd + i, len - i);
		if (l == strlen(pidfile) && memcmp(cmd + i, pidfile, l) == 0)
			ours = true;
		i += l + 1;
	}
	free(cmd);
	return ours;
}

long kf_qemu_pid(const struct kf_hv_qemu *q, const char *node)
{
	char *pidfile = folder_file(q, node, KF_QEMU_PIDFILE), *text = NULL, *end;
	size_t len;
	long pid = 0;

	if (pidfile && kf_fs_read(&text, &len, pidfile, 64, NULL) == 0) {
		errno = 0;
		pid = strtol(text, &end, 10);
		if (errno || end == text || pid <= 1 || (*end && *end != '\n') ||
		    !pid_is_vm(pid, pidfile))
			pid = 0;
	}
	free(text);
	free(pidfile);
	return pid;
}

int kf_qemu_qmp(const struct kf_hv_qemu *q, const char *node, struct kf_qmp **out,
		struct kf_err *err)
{
	char *folder = kf_qemu_folder(q, node);
	int r;

	if (!folder)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_qmp_open(out, folder, KF_QEMU_QMP, q->cmd_timeout_ms, err);
	if (r)
		kf_err_wrap(err, "%s", node);
	free(folder);
	return r;
}

int kf_qemu_def_load(const struct kf_hv_qemu *q, const char *node, struct kf_qemu_def *d,
		     struct kf_err *err)
{
	char *path = kf_hv_vm_file(&q->base, node), *text = NULL;
	size_t len;
	int r;

	memset(d, 0, sizeof(*d));
	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_fs_read(&text, &len, path, KF_QEMU_DEF_MAX, err)) == 0 &&
	    (r = kf_qemu_def_parse(d, text, len, err)) != 0)
		kf_err_wrap(err, "%s", path);
	free(text);
	free(path);
	return r;
}

static int def_save(const struct kf_hv_qemu *q, const struct kf_qemu_def *d, struct kf_err *err)
{
	char *path = kf_hv_vm_file(&q->base, d->node), *text = kf_qemu_def_dump(d);
	int r;

	if (!path || !text)
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
	else
		r = kf_fs_write_atomic(path, text, strlen(text), 0644, err);
	free(path);
	free(text);
	return r;
}

int kf_qemu_img(const struct kf_hv_qemu *q, const char *const *args, char **out,
		struct kf_err *err)
{
	const char *argv[16];
	struct kf_proc p = { .argv = argv, .timeout_ms = q->cmd_timeout_ms * 4,
			     .out_max = 4 * 1024 * 1024 };
	size_t n = 0;
	int r;

	argv[n++] = q->qemu_img;
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (out)
		*out = NULL;
	r = kf_proc_run_ok(&p, err);
	if (r == 0 && out && !(*out = strdup(kf_buf_str(&p.out))))
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_proc_free(&p);
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Open, close, checks                                                                          */

static int qemu_open(struct kf_hv **out, const struct kf_config *cfg, const char *vm_dir,
		     struct kf_err *err)
{
	struct kf_hv_qemu *q = calloc(1, sizeof(*q));
	int major, minor, r;
	char *why = NULL;

	*out = NULL;
	if (!q)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	q->cmd_timeout_ms = (cfg->timeouts.vmrun_s > 0 ? cfg->timeouts.vmrun_s : 120) * 1000;
	if (!(q->binary = kf_qemu_find_binary(cfg))) {
		r = kf_err_set(err, KF_ENOTFOUND, "%s not found: install QEMU (apt install "
			       "qemu-system-x86) or set qemu.binary",
			       strcmp(cfg->qemu.binary, "auto") ? cfg->qemu.binary :
			       "qemu-system-x86_64 (on PATH)");
		goto fail;
	}
	if (!(q->qemu_img = kf_qemu_find_img(q->binary))) {
		r = kf_err_set(err, KF_ENOTFOUND, "qemu-img not found: install qemu-utils");
		goto fail;
	}
	if ((r = kf_qemu_version(q->binary, &major, &minor, &q->version, err)) != 0)
		goto fail;
	if (strcmp(cfg->qemu.accel, "tcg") == 0) {
		q->accel = "tcg";
	} else if (kf_qemu_kvm_works(&why)) {
		q->accel = "kvm";
	} else if (strcmp(cfg->qemu.accel, "kvm") == 0) {
		r = kf_err_set(err, KF_EUNSUPPORTED, "qemu.accel is kvm, but %s; fix KVM or set "
			       "qemu.accel: tcg", why);
		goto fail;
	} else {
		kf_warn("no working KVM (%s): the VMs run under TCG emulation, many times slower",
			why);
		q->accel = "tcg";
	}
	q->root = geteuid() == 0;
	if (!q->root)
		q->helper = kf_qemu_find_helper(cfg);
	free(why);
	*out = &q->base;
	return 0;
fail:
	free(why);
	free(q->binary);
	free(q->qemu_img);
	free(q->version);
	free(q);
	return r;
}

static void qemu_close(struct kf_hv *hv)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);

	free(q->binary);
	free(q->qemu_img);
	free(q->helper);
	free(q->version);
	free(q);
}

/* The base image's format and size (`qemu-img info --output=json`). */
static int image_info(const struct kf_hv_qemu *q, const char *image, char **format,
		      long long *size, struct kf_err *err)
{
	const char *args[] = { "info", "--output=json", image, NULL };
	char *out = NULL;
	json_t *j;
	int r;

	*format = NULL;
	if ((r = kf_qemu_img(q, args, &out, err)) != 0)
		return kf_err_wrap(err, "guest.image %s", image);
	j = json_loads(out, 0, NULL);
	free(out);
	if (!json_is_string(json_object_get(j, "format")) ||
	    !json_is_integer(json_object_get(j, "virtual-size"))) {
		json_decref(j);
		return kf_err_set(err, KF_EPARSE, "qemu-img info %s: no format or size", image);
	}
	*format = strdup(json_string_value(json_object_get(j, "format")));
	*size = json_integer_value(json_object_get(j, "virtual-size"));
	json_decref(j);
	return *format ? 0 : kf_err_set(err, KF_ENOMEM, "out of memory");
}

static int qemu_precheck(struct kf_hv *hv, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	const struct kf_config *cfg = hv->cfg;
	bool exists, up, has_gw;
	char *ip;

	kf_qemu_bridge_state(cfg->qemu.bridge, cfg->network.gateway, &exists, &up, &has_gw);
	if (!exists || !up)
		return kf_err_set(err, KF_ENOTFOUND, "qemu.bridge %s %s: create it with the gateway "
				  "%s (docs/qemu.md; `k3sforge doctor --host` says how)",
				  cfg->qemu.bridge, exists ? "is down" : "does not exist",
				  cfg->network.gateway);
	if (!has_gw)
		return kf_err_set(err, KF_ECONFIG, "qemu.bridge %s does not carry network.gateway "
				  "%s: ip addr add %s/%d dev %s", cfg->qemu.bridge,
				  cfg->network.gateway, cfg->network.gateway, cfg->network.prefix,
				  cfg->qemu.bridge);
	if (q->root && !(ip = kf_proc_which("ip")))
		return kf_err_set(err, KF_ENOTFOUND, "the ip program (iproute2) is needed to make "
				  "the VMs' taps: install iproute2");
	if (q->root)
		free(ip);
	if (!q->root && !q->helper)
		return kf_err_set(err, KF_ENOTFOUND, "qemu-bridge-helper not found: install it, set "
				  "qemu.bridge_helper, or run k3sforge as root");
	if (cfg->guest.image) {
		char *fmt = NULL;
		long long size = 0;
		int r = image_info(q, cfg->guest.image, &fmt, &size, err);
		free(fmt);
		if (r)
			return r;
		for (size_t i = 0; i < cfg->n_nodes; i++)
			if ((long long)cfg->nodes[i].disk_gb << 30 < size)
				return kf_err_set(err, KF_ECONFIG, "nodes[%zu] '%s': disk %d GiB is "
						  "smaller than guest.image (%.1f GiB)", i,
						  cfg->nodes[i].name, cfg->nodes[i].disk_gb,
						  (double)size / (1 << 30));
	}
	return 0;
}

static char *qemu_vm_file_name(const char *node)
{
	char *s = NULL;

	return asprintf(&s, "%s" DEF_SUFFIX, node) < 0 ? NULL : s;
}

static bool qemu_is_vm_file(const char *node, const char *name)
{
	size_t n = strlen(node);

	if (strcmp(name, KF_QEMU_PIDFILE) == 0 || strcmp(name, KF_QEMU_QMP) == 0 ||
	    strcmp(name, KF_QEMU_CONSOLE) == 0)
		return true;
	return strncmp(name, node, n) == 0 &&
	       (strcmp(name + n, DEF_SUFFIX) == 0 || strcmp(name + n, DISK_SUFFIX) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Create, start, power state, stop                                                             */

static int qemu_create(struct kf_hv *hv, const struct kf_vm_spec *spec, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	const struct kf_node *node = spec->node;
	struct kf_qemu_def d = { 0 };
	char *disk_name = NULL, *disk = NULL, size[32], *fmt = NULL;
	int r;

	if (asprintf(&disk_name, "%s" DISK_SUFFIX, node->name) < 0) {
		disk_name = NULL;
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (!(disk = folder_file(q, node->name, disk_name))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(size, sizeof(size), "%dG", node->disk_gb);
	if (spec->base_image) {
		/* image mode: a copy-on-write overlay on the cloud image, grown to the node's
		 * disk (cloud-init's growpart fills it at first boot) */
		long long vsize = 0;
		if ((r = image_info(q, spec->base_image, &fmt, &vsize, err)) != 0)
			goto out;
		if (vsize > (long long)node->disk_gb << 30) {
			r = kf_err_set(err, KF_ECONFIG, "%s: disk %d GiB is smaller than the image "
				       "%s", node->name, node->disk_gb, spec->base_image);
			goto out;
		}
		const char *args[] = { "create", "-q", "-f", "qcow2", "-b", spec->base_image, "-F",
				       fmt, disk, size, NULL };
		r = kf_qemu_img(q, args, NULL, err);
	} else {
		const char *args[] = { "create", "-q", "-f", "qcow2", disk, size, NULL };
		r = kf_qemu_img(q, args, NULL, err);
	}
	if (r) {
		kf_err_wrap(err, "%s: making its disk", node->name);
		goto out;
	}
	d.node = (char *)node->name;
	d.cpus = node->cpus;
	d.memory_mb = node->memory_mb;
	d.mac = (char *)spec->mac;
	d.disk = disk_name;
	d.bridge = hv->cfg->qemu.bridge;
	/* boot order after the disk: the installer (when the disk is empty), then the rest */
	if (spec->installer_iso)
		d.media[d.n_media++] = (char *)spec->installer_iso;
	if (spec->payload_iso)
		d.media[d.n_media++] = (char *)spec->payload_iso;
	if (spec->seed_iso)
		d.media[d.n_media++] = (char *)spec->seed_iso;
	r = def_save(q, &d, err);
out:
	free(fmt);
	free(disk);
	free(disk_name);
	return r;
}

static int run_ip(const char *const *argv, struct kf_err *err)
{
	struct kf_proc p = { .argv = argv, .timeout_ms = 20000 };
	int r = kf_proc_run_ok(&p, err);

	kf_proc_free(&p);
	return r;
}

/* As root: the VM's tap, persistent, in the bridge and up (made once, reused at each start). */
static int ensure_tap(const char *tap, const char *bridge, struct kf_err *err)
{
	int r;

	if (if_nametoindex(tap) == 0) {
		const char *add[] = { "ip", "tuntap", "add", "dev", tap, "mode", "tap", NULL };
		if ((r = run_ip(add, err)) != 0)
			return kf_err_wrap(err, "making the VM's tap %s", tap);
	}
	const char *master[] = { "ip", "link", "set", "dev", tap, "master", bridge, NULL };
	const char *up[] = { "ip", "link", "set", "dev", tap, "up", NULL };
	if ((r = run_ip(master, err)) != 0 || (r = run_ip(up, err)) != 0)
		return kf_err_wrap(err, "putting tap %s on bridge %s", tap, bridge);
	return 0;
}

static void delete_tap(const char *folder)
{
	char tap[16];
	struct kf_err e;

	kf_qemu_tap_name(tap, folder);
	if (if_nametoindex(tap) != 0) {
		const char *del[] = { "ip", "link", "del", "dev", tap, NULL };
		if (run_ip(del, &e) != 0)
			kf_warn("could not delete tap %s: %s", tap, e.msg);
	}
}

int kf_qemu_start_from(struct kf_hv_qemu *q, const char *node, const char *loadvm,
		       struct kf_err *err)
{
	struct kf_qemu_def d;
	struct kf_qemu_net net = { 0 };
	struct kf_proc p = { 0 };
	char *folder = NULL, *pidfile = NULL, *sock = NULL, **argv = NULL, tap[16];
	int r;

	if (kf_qemu_pid(q, node) > 0)
		return 0;
	if ((r = kf_qemu_def_load(q, node, &d, err)) != 0)
		return r;
	folder = kf_qemu_folder(q, node);
	pidfile = folder_file(q, node, KF_QEMU_PIDFILE);
	sock = folder_file(q, node, KF_QEMU_QMP);
	if (!folder || !pidfile || !sock) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	/* what a QEMU that was killed left behind */
	unlink(pidfile);
	unlink(sock);
	if (q->root) {
		kf_qemu_tap_name(tap, folder);
		if ((r = ensure_tap(tap, d.bridge, err)) != 0)
			goto out;
		net.tap = tap;
	} else if (!(net.helper = q->helper)) {
		r = kf_err_set(err, KF_ENOTFOUND, "qemu-bridge-helper not found: set "
			       "qemu.bridge_helper or run k3sforge as root");
		goto out;
	}
	if (!(argv = kf_qemu_argv(&d, q->binary, q->accel, folder, &net, loadvm))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	p.argv = (const char *const *)argv;
	p.cwd = folder;
	p.timeout_ms = START_TIMEOUT_MS;
	/* -daemonize: the first process exits once the VM is set up, with QEMU's error on
	 * stderr when it is not (os-posix.c os_daemonize / os_setup_post) */
	if ((r = kf_proc_run_ok(&p, err)) != 0) {
		kf_err_wrap(err, "%s: starting QEMU", node);
		goto out;
	}
	if (kf_qemu_pid(q, node) <= 0)
		r = kf_err_set(err, KF_EPROC, "%s: QEMU started but left no live process behind its "
			       "pid file %s (see %s/%s)", node, pidfile, folder, KF_QEMU_CONSOLE);
out:
	kf_proc_free(&p);
	kf_qemu_argv_free(argv);
	kf_qemu_def_free(&d);
	free(folder);
	free(pidfile);
	free(sock);
	return r;
}

static int qemu_start(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	return kf_qemu_start_from(KF_QEMU(hv), node, NULL, err);
}

static int qemu_running(struct kf_hv *hv, const char *node, double not_before, bool *on,
			struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct kf_qmp *m = NULL;
	json_t *st = NULL;
	const char *status;
	int r;

	*on = false;
	if (kf_qemu_pid(q, node) <= 0)
		return 0;
	/* the process is there; QMP says whether the machine is (a VM whose guest shut down
	 * exits, since QEMU runs without -no-shutdown) */
	if ((r = kf_qemu_qmp(q, node, &m, err)) != 0)
		return r;
	r = kf_qmp_exec(m, "query-status", NULL, &st, err);
	kf_qmp_close(m);
	if (r)
		return kf_err_wrap(err, "%s", node);
	status = json_string_value(json_object_get(st, "status"));
	*on = !status || (strcmp(status, "shutdown") != 0 && strcmp(status, "guest-panicked"));
	json_decref(st);
	return 0;
}

/* Waits, bounded, for the VM's process to go. */
static bool wait_gone(const struct kf_hv_qemu *q, const char *node, double seconds)
{
	double end = kf_now_mono() + seconds;

	while (kf_qemu_pid(q, node) > 0) {
		if (kf_now_mono() > end || kf_interrupted())
			return false;
		kf_sleep_ms(100);
	}
	return true;
}

int kf_qemu_stop_hard(struct kf_hv_qemu *q, const char *node, struct kf_err *err)
{
	struct kf_qmp *m = NULL;
	struct kf_err e;
	long pid = kf_qemu_pid(q, node);

	if (pid <= 0)
		return 0;
	/* quit first: QEMU exits at once and removes its pid file; SIGKILL if it cannot answer */
	if (kf_qemu_qmp(q, node, &m, &e) == 0) {
		kf_qmp_exec(m, "quit", NULL, NULL, &e);
		kf_qmp_close(m);
	}
	if (wait_gone(q, node, QUIT_WAIT_S))
		return 0;
	if ((pid = kf_qemu_pid(q, node)) > 0 && kill((pid_t)pid, SIGKILL) != 0 && errno != ESRCH)
		return kf_err_set(err, KF_EPROC, "%s: cannot kill QEMU (pid %ld): %s", node, pid,
				  strerror(errno));
	if (!wait_gone(q, node, KILL_WAIT_S))
		return kf_err_set(err, kf_interrupted() ? KF_EINTR : KF_ETIMEOUT,
				  "%s: QEMU (pid %ld) is still there %.0f s after SIGKILL", node,
				  pid, KILL_WAIT_S);
	return 0;
}

static int qemu_stop(struct kf_hv *hv, const char *node, bool hard, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct kf_qmp *m = NULL;
	int secs = hv->cfg->timeouts.vmrun_s > 0 ? hv->cfg->timeouts.vmrun_s : 120, r;

	if (hard)
		return kf_qemu_stop_hard(q, node, err);
	if (kf_qemu_pid(q, node) <= 0)
		return 0;
	/* ACPI power button; the guest shuts down and QEMU exits */
	if ((r = kf_qemu_qmp(q, node, &m, err)) != 0)
		return r;
	r = kf_qmp_exec(m, "system_powerdown", NULL, NULL, err);
	kf_qmp_close(m);
	if (r)
		return kf_err_wrap(err, "%s", node);
	if (!wait_gone(q, node, secs))
		return kf_err_set(err, kf_interrupted() ? KF_EINTR : KF_ETIMEOUT,
				  "%s: still running %d s after the ACPI power button (timeouts."
				  "vmrun): the guest did not shut down; stop it hard", node, secs);
	return 0;
}

static int qemu_wait_released(struct kf_hv *hv, const char *node, bool stopped,
			      struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	long pid;

	if (wait_gone(q, node, stopped ? RELEASE_WAIT_S : 0.0))
		return 0;
	pid = kf_qemu_pid(q, node);
	return kf_err_set(err, KF_ELOCKED, "%s: QEMU (pid %ld) still holds the VM's files", node,
			  pid);
}

static int qemu_media_attached(struct kf_hv *hv, const char *node, bool *attached,
			       struct kf_err *err)
{
	struct kf_qemu_def d;
	int r = kf_qemu_def_load(KF_QEMU(hv), node, &d, err);

	*attached = r == 0 && d.n_media > 0;
	kf_qemu_def_free(&d);
	return r;
}

static int qemu_detach_media(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct kf_qemu_def d;
	int r;

	if (kf_qemu_pid(q, node) > 0)
		return kf_err_set(err, KF_ESTATE, "%s: the VM is running; stop it before taking "
				  "its media out", node);
	if ((r = kf_qemu_def_load(q, node, &d, err)) != 0)
		return r;
	for (size_t i = 0; i < d.n_media; i++) {
		free(d.media[i]);
		d.media[i] = NULL;
	}
	d.n_media = 0;
	r = def_save(q, &d, err);
	kf_qemu_def_free(&d);
	return r;
}

/* finalize without a restart: each CD taken out of the running VM over QMP -- the tray opened
 * with force (the guest may hold it locked: qapi/block.json BlockdevOpenTray), the medium
 * removed (blockdev-remove-medium), its block nodes deleted so QEMU lets go of the ISO file --
 * and out of the definition, so the next start has none either. */
static int qemu_detach_media_live(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	struct kf_qemu_def d;
	struct kf_qmp *m = NULL;
	int r;

	if ((r = kf_qemu_def_load(q, node, &d, err)) != 0)
		return r;
	if (d.n_media && (r = kf_qemu_qmp(q, node, &m, err)) != 0)
		goto out;
	for (size_t i = 0; i < d.n_media && !r; i++) {
		char id[32], fmt[32], file[32];

		snprintf(id, sizeof(id), "cdrom%zu", i);
		snprintf(fmt, sizeof(fmt), "cd%zu", i);
		snprintf(file, sizeof(file), "cd%zu-file", i);
		if ((r = kf_qmp_exec(m, "blockdev-open-tray",
				     json_pack("{s:s,s:b}", "id", id, "force", 1), NULL, err)) != 0 ||
		    (r = kf_qmp_exec(m, "blockdev-remove-medium", json_pack("{s:s}", "id", id),
				     NULL, err)) != 0 ||
		    (r = kf_qmp_exec(m, "blockdev-del", json_pack("{s:s}", "node-name", fmt), NULL,
				     err)) != 0 ||
		    (r = kf_qmp_exec(m, "blockdev-del", json_pack("{s:s}", "node-name", file), NULL,
				     err)) != 0)
			kf_err_wrap(err, "%s: taking %s out", node, d.media[i]);
	}
	if (r == 0) {
		for (size_t i = 0; i < d.n_media; i++) {
			free(d.media[i]);
			d.media[i] = NULL;
		}
		d.n_media = 0;
		r = def_save(q, &d, err);
	}
out:
	kf_qmp_close(m);
	kf_qemu_def_free(&d);
	return r;
}

static int qemu_remove(struct kf_hv *hv, const char *node, struct kf_err *err)
{
	struct kf_hv_qemu *q = KF_QEMU(hv);
	char *folder = kf_qemu_folder(q, node);
	int r;

	if (!folder)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_qemu_stop_hard(q, node, err)) == 0) {
		if (q->root)
			delete_tap(folder);
		if (kf_fs_exists(folder))
			r = kf_fs_remove_tree(folder, err);
	}
	free(folder);
	return r;
}

static json_t *qemu_describe(const struct kf_hv *hv)
{
	const struct kf_hv_qemu *q = (const struct kf_hv_qemu *)hv;

	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "program", q->binary, "version",
			 q->version, "accel", q->accel, "qemu_img", q->qemu_img, "network",
			 q->root ? "tap (root)" : "qemu-bridge-helper");
}

const struct kf_hv_ops kf_hv_qemu_ops = {
	.name = "qemu",
	.host_checks = kf_qemu_host_checks,
	.open = qemu_open,
	.close = qemu_close,
	.precheck = qemu_precheck,
	.vm_file_name = qemu_vm_file_name,
	.is_vm_file = qemu_is_vm_file,
	.create = qemu_create,
	.start = qemu_start,
	.running = qemu_running,
	.stop = qemu_stop,
	.wait_released = qemu_wait_released,
	.media_attached = qemu_media_attached,
	.detach_media = qemu_detach_media,
	.detach_media_live = qemu_detach_media_live,
	.tools_running = NULL,   /* no guest tools: `wait` goes by SSH */
	.guest_ip = NULL,
	.snapshot_list = kf_qemu_snapshot_list,
	.snapshot_create = kf_qemu_snapshot_create,
	.snapshot_revert = kf_qemu_snapshot_revert,
	.snapshot_delete = kf_qemu_snapshot_delete,
	.remove = qemu_remove,
	.describe = qemu_describe,
};
