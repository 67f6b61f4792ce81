/* The QEMU backend through the hypervisor interface, on a real QEMU: a tiny VM (no OS: an empty
 * disk and two small CD images, TCG) in a network namespace this test makes (bridge k3sbr0 with
 * 192.168.6.1/24, the VM's tap on it). Create, start, power state, soft stop (bounded: nothing
 * in the VM answers the ACPI button) and hard stop, live and offline snapshots (create, list,
 * revert, delete), media detach, remove -- and afterwards no QEMU process, tap or folder. The VM
 * folder is deeper than a unix socket address holds, so the QMP path goes through
 * /proc/self/fd. Needs root (the namespace, the tap); skipped otherwise. */
#include <dirent.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/hypervisor.h"
#include "k3sforge/proc.h"
#include "k3sforge/qemu.h"
#include "k3sforge/vmfolder.h"
#include "k3sforge/strv.h"

#define NODE "k3s-master1"

static char work[256];
static char vm_dir[1024];
static struct kf_config *cfg;
static struct kf_hv *hv;

static void sh(const char *cmd)
{
	const char *argv[] = { "sh", "-c", cmd, NULL };
	struct kf_proc p = { .argv = argv, .timeout_ms = 30000 };
	struct kf_err e;

	kf_err_clear(&e);
	if (kf_proc_run_ok(&p, &e) != 0)
		fail_msg("%s: %s", cmd, e.msg);
	kf_proc_free(&p);
}

static char *folder_file(const char *name)
{
	char *folder = kf_hv_vm_folder(hv, NODE), *p = kf_path_join(folder, name);

	free(folder);
	return p;
}

static long vm_pid(void)
{
	char *pf = folder_file("qemu.pid"), *t = NULL;
	size_t len;
	long pid = 0;

	if (kf_fs_read(&t, &len, pf, 64, NULL) == 0)
		pid = atol(t);
	free(t);
	free(pf);
	return pid;
}

static bool pid_is_qemu(long pid)
{
	char path[64], *cmd = NULL;
	size_t len;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (kf_fs_read(&cmd, &len, path, 1 << 20, NULL) != 0)
		return false;
	yes = len > 0 && strstr(cmd, "qemu-system") != NULL;
	free(cmd);
	return yes;
}

/* Does process pid hold path open (one of its /proc/<pid>/fd links)? */
static bool holds_file(long pid, const char *path)
{
	char dir[64], link[384], target[1100];
	DIR *d;
	struct dirent *de;
	bool held = false;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	if (!(d = opendir(dir)))
		return false;
	while (!held && (de = readdir(d)) != NULL) {
		ssize_t n;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			held = strcmp(target, path) == 0;
		}
	}
	closedir(d);
	return held;
}

static bool on(void)
{
	struct kf_err e;
	bool v = false;

	kf_err_clear(&e);
	if (hv->ops->running(hv, NODE, 0, &v, &e) != 0)
		fail_msg("running: %s", e.msg);
	return v;
}

static void names_are(const char *const *want, size_t n)
{
	char **names = NULL;
	size_t got = 0;
	struct kf_err e;

	kf_err_clear(&e);
	if (hv->ops->snapshot_list(hv, NODE, &names, &got, &e) != 0)
		fail_msg("snapshot_list: %s", e.msg);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
	kf_strv_free(names, got);
}

/* A call that must succeed; it reports into E. */
#define OK(call)                                                                   \
	do {                                                                       \
		struct kf_err E;                                                   \
		kf_err_clear(&E);                                                  \
		if ((call) != 0)                                                   \
			fail_msg("%s: %s", #call, E.msg);                          \
	} while (0)

static int setup(void **state)
{
	struct kf_err e;
	char deep[256];
	(void)state;

	/* our own network namespace (unshare -n, from C) before any link or address: the bridge
	 * and taps never touch the host's; without it the test fails here */
	if (unshare(CLONE_NEWNET) != 0)
		fail_msg("unshare(CLONE_NEWNET) failed");
	sh("ip link set lo up && ip link add k3sbr0 type bridge && "
	   "ip addr add 192.168.6.1/24 dev k3sbr0 && ip link set k3sbr0 up");
	snprintf(work, sizeof(work), "/tmp/kf-qemu-it.XXXXXX");
	assert_non_null(mkdtemp(work));
	memset(deep, 'd', 120);
	deep[120] = '\0';
	snprintf(vm_dir, sizeof(vm_dir), "%s/%s/vms", work, deep);
	kf_err_clear(&e);
	assert_int_equal(kf_fs_mkdirs(vm_dir, 0755, &e), 0);
	assert_int_equal(kf_config_default(&cfg, &e), 0);
	cfg->hypervisor = KF_HV_QEMU;
	free(cfg->qemu.accel);
	cfg->qemu.accel = strdup("tcg");
	cfg->timeouts.vmrun_s = 3;   /* the soft stop's bound: nothing answers ACPI here */
	cfg->nodes[0].cpus = 1;
	cfg->nodes[0].memory_mb = 128;
	cfg->nodes[0].disk_gb = 1;
	if (kf_hv_open_at(&hv, cfg, vm_dir, &e) != 0)
		fail_msg("open: %s", e.msg);
	return 0;
}

static int teardown(void **state)
{
	struct kf_err e;
	long pid = hv ? vm_pid() : 0;
	(void)state;

	if (hv) {
		hv->ops->remove(hv, NODE, &e);
		kf_hv_close(hv);
	}
	if (pid > 0 && pid_is_qemu(pid))
		kill((pid_t)pid, SIGKILL);
	kf_config_free(cfg);
	if (work[0])
		kf_fs_remove_tree(work, &e);
	return 0;
}

static void test_qemu_vm_lifecycle_through_the_interface(void **state)
{
	struct kf_findings f = { 0 };
	struct kf_vm_spec spec = { 0 };
	char *folder, *installer, *seed, *def, tap[16];
	bool attached;
	long pid;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	/* host checks: the bridge with the gateway is found in this namespace */
	assert_int_equal(hv->ops->host_checks(&f, cfg, vm_dir, KF_HOSTCHECK_NETWORK), 0);
	assert_true(f.n >= 1);
	assert_string_equal(f.items[0].id, "bridge");
	if (f.items[0].status != KF_CHECK_OK)
		fail_msg("bridge check: %s", f.items[0].summary);
	kf_findings_free(&f);
	/* every check, each with its id: the programs, the accelerator (tcg asked for: info, KVM
	 * not tried -- KVM guests hang on the test machine), the
	 * bridge, the helper (root: k3sforge makes the taps), memory, disk */
	assert_int_equal(hv->ops->host_checks(&f, cfg, vm_dir, KF_HOSTCHECK_ALL), 0);
	{
		static const char *const ids[] = { "qemu", "qemu-img", "accel", "bridge",
						   "bridge-helper", "memory", "disk" };
		assert_int_equal(f.n, 7);
		for (size_t i = 0; i < 7; i++) {
			assert_string_equal(f.items[i].id, ids[i]);
			print_message("host check %s: %s: %s\n", f.items[i].id,
				      kf_check_status_name(f.items[i].status), f.items[i].summary);
		}
		assert_int_equal(f.items[0].status, KF_CHECK_OK);
		assert_non_null(strstr(f.items[0].summary, "QEMU "));
		assert_int_equal(f.items[2].status, KF_CHECK_INFO);
		assert_non_null(strstr(f.items[2].summary, "KVM not tried"));
		assert_int_equal(f.items[4].status, KF_CHECK_OK);
	}
	kf_findings_free(&f);
	OK(hv->ops->precheck(hv, &E));

	/* create: a marked, empty folder; an empty disk; two CDs */
	folder = kf_hv_vm_folder(hv, NODE);
	assert_int_equal(kf_fs_mkdirs(folder, 0755, &e), 0);
	assert_int_equal(kf_vmfolder_mark(folder, cfg->cluster_name, NODE, &e), 0);
	installer = kf_path_join(work, "installer.iso");
	seed = kf_path_join(work, "seed.iso");
	{
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "truncate -s 1M '%s' '%s'", installer, seed);
		sh(cmd);
	}
	spec.node = &cfg->nodes[0];
	spec.mac = "00:50:56:3a:00:10";
	spec.annotation = "test";
	spec.installer_iso = installer;
	spec.seed_iso = seed;
	if (hv->ops->create(hv, &spec, &e) != 0)
		fail_msg("create: %s", e.msg);
	def = kf_hv_vm_file(hv, NODE);
	assert_true(kf_fs_exists(def));
	assert_true(hv->ops->is_vm_file(NODE, NODE ".qemu.json"));
	assert_true(hv->ops->is_vm_file(NODE, NODE ".qcow2"));
	assert_false(hv->ops->is_vm_file(NODE, "notes.txt"));
	assert_false(on());

	/* start: a daemonized QEMU that outlives the call, its tap on the bridge */
	if (hv->ops->start(hv, NODE, &e) != 0)
		fail_msg("start: %s", e.msg);
	assert_true(on());
	pid = vm_pid();
	assert_true(pid > 1 && pid_is_qemu(pid));
	OK(hv->ops->start(hv, NODE, &E));  /* already on: nothing to do */
	assert_int_equal(vm_pid(), pid);
	{
		const char *argv[] = { "ip", "-o", "link", "show", "dev", tap, NULL };
		struct kf_proc p = { .argv = argv, .timeout_ms = 10000 };
		kf_qemu_tap_name(tap, folder);
		assert_int_equal(kf_proc_run_ok(&p, &e), 0);
		if (!strstr(kf_buf_str(&p.out), "master k3sbr0"))
			fail_msg("tap not on the bridge: %s", kf_buf_str(&p.out));
		kf_proc_free(&p);
	}
	assert_int_equal(hv->ops->media_attached(hv, NODE, &attached, &e), 0);
	assert_true(attached);
	assert_int_equal(hv->ops->detach_media(hv, NODE, &e), KF_ESTATE);

	/* live snapshots: RAM and disk, while it runs */
	names_are(NULL, 0);
	OK(hv->ops->snapshot_create(hv, NODE, "s1", &E));
	names_are((const char *const[]){ "s1" }, 1);
	assert_int_equal(hv->ops->snapshot_create(hv, NODE, "s1", &e), KF_EEXIST);
	OK(hv->ops->snapshot_revert(hv, NODE, "s1", &E));
	assert_true(on());
	assert_int_equal(vm_pid(), pid);
	assert_int_equal(hv->ops->snapshot_revert(hv, NODE, "nope", &e), KF_ENOTFOUND);
	OK(hv->ops->snapshot_delete(hv, NODE, "s1", &E));
	names_are(NULL, 0);

	/* live detach (finalize without a restart): the CDs leave the running VM and its
	 * definition, and QEMU lets go of the ISO files */
	assert_true(holds_file(pid, installer) && holds_file(pid, seed));
	OK(hv->ops->detach_media_live(hv, NODE, &E));
	assert_true(on());
	assert_int_equal(vm_pid(), pid);
	assert_int_equal(hv->ops->media_attached(hv, NODE, &attached, &e), 0);
	assert_false(attached);
	assert_false(holds_file(pid, installer));
	assert_false(holds_file(pid, seed));
	OK(hv->ops->detach_media_live(hv, NODE, &E));  /* nothing left: nothing to do */

	/* soft stop is bounded: no OS here answers the ACPI button */
	assert_int_equal(hv->ops->stop(hv, NODE, false, &e), KF_ETIMEOUT);
	assert_non_null(strstr(e.msg, "ACPI"));
	assert_true(on());
	/* hard stop: QMP quit; the process goes, the files are released */
	OK(hv->ops->stop(hv, NODE, true, &E));
	assert_false(on());
	assert_false(pid_is_qemu(pid));
	OK(hv->ops->wait_released(hv, NODE, true, &E));
	OK(hv->ops->stop(hv, NODE, true, &E));  /* off counts as stopped */

	/* offline: a disk-only snapshot; reverting to it leaves the VM off */
	OK(hv->ops->snapshot_create(hv, NODE, "off1", &E));
	names_are((const char *const[]){ "off1" }, 1);
	OK(hv->ops->snapshot_revert(hv, NODE, "off1", &E));
	assert_false(on());
	OK(hv->ops->detach_media(hv, NODE, &E));
	assert_int_equal(hv->ops->media_attached(hv, NODE, &attached, &e), 0);
	assert_false(attached);

	/* a live snapshot reverted while off starts the VM from it (-loadvm) */
	OK(hv->ops->start(hv, NODE, &E));
	assert_true(on());
	OK(hv->ops->snapshot_create(hv, NODE, "live2", &E));
	names_are((const char *const[]){ "off1", "live2" }, 2);
	OK(hv->ops->stop(hv, NODE, true, &E));
	assert_false(on());
	OK(hv->ops->snapshot_revert(hv, NODE, "live2", &E));
	assert_true(on());
	/* a process killed from outside is off, and its leftovers do not confuse a start */
	pid = vm_pid();
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	for (int i = 0; i < 100 && pid_is_qemu(pid); i++)
		usleep(50000);
	assert_false(on());
	OK(hv->ops->start(hv, NODE, &E));
	assert_true(on());
	OK(hv->ops->snapshot_delete(hv, NODE, "off1", &E));
	names_are((const char *const[]){ "live2" }, 1);

	/* remove: the process, the tap and the folder go; removing again is done */
	pid = vm_pid();
	OK(hv->ops->remove(hv, NODE, &E));
	assert_false(pid_is_qemu(pid));
	assert_false(kf_fs_exists(folder));
	assert_int_equal(if_nametoindex(tap), 0);
	OK(hv->ops->remove(hv, NODE, &E));
	{
		json_t *d = hv->ops->describe(hv);
		assert_string_equal(json_string_value(json_object_get(d, "accel")), "tcg");
		json_decref(d);
	}
	free(def);
	free(installer);
	free(seed);
	free(folder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_vm_lifecycle_through_the_interface, setup,
						teardown),
	};

	char *qemu = kf_proc_which("qemu-system-x86_64");

	if (geteuid() != 0 || !qemu) {
		printf("SKIP: needs root (a network namespace, taps) and qemu-system-x86_64\n");
		free(qemu);
		return 77;
	}
	free(qemu);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
