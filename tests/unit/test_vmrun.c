/* The vmrun wrapper against the test double tests/fakes/vmrun: discovery, WSL path translation,
 * flag order, output parsing, and one distinct classified failure per injected fault. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/vmlab.h"
#include "k3sforge/vmrun.h"
#include "k3sforge/vmsignals.h"
#include "k3sforge/strv.h"
#include "vmware_fixture.h"

struct fx {
	char *dir, *state, *faults, *vmx;
	struct kf_vmrun *v;
};

static void set_faults(struct fx *f, const char *text)
{
	struct kf_err e;
	assert_int_equal(kf_fs_write_atomic(f->faults, text, strlen(text), 0644, &e), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_config *cfg = vmw_config();
	struct kf_err e;

	f->dir = vmw_tempdir("vmrun");
	f->state = kf_path_join(f->dir, "state");
	f->faults = kf_path_join(f->dir, "faults.env");
	/* the double's state folder is the test's (the double also makes it, but only when it
	 * runs: vmrun's banner is read once per process) */
	if (kf_fs_mkdirs(f->state, 0755, &e) != 0)
		fail_msg("%s", e.msg);
	f->vmx = vmw_write(f->dir, "node1.vmx", ".encoding = \"UTF-8\"\ndisplayName = \"node1\"\n");
	setenv("FAKE_VMRUN_STATE", f->state, 1);
	setenv("FAKE_VMRUN_FAULTS", f->faults, 1);
	unsetenv("K3SFORGE_WSL");
	set_faults(f, "");
	if (kf_vmrun_find(&f->v, cfg, &e) != 0)
		fail_msg("%s", e.msg);
	kf_config_free(cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err e;

	kf_vmrun_free(f->v);
	kf_fs_remove_tree(f->dir, &e);
	free(f->dir);
	free(f->state);
	free(f->faults);
	free(f->vmx);
	free(f);
	unsetenv("K3SFORGE_WSL");
	return 0;
}

/* BEGIN lines of the double's call log (caller frees). */
static char *calls(struct fx *f)
{
	char *p = kf_path_join(f->state, "calls.log"), *t = vmw_slurp(p);
	free(p);
	return t ? t : strdup("");
}

static int count_calls(struct fx *f, const char *verb)
{
	char *t = calls(f), *p = t;
	int n = 0;
	while ((p = strstr(p, " BEGIN ")) != NULL) {
		char *eol = strchr(p, '\n');
		if (eol)
			*eol = '\0';
		if (strstr(p, verb))
			n++;
		p = eol ? eol + 1 : p + 1;
	}
	free(t);
	return n;
}

static void test_vmrun_find_uses_configured_path_and_reads_version(void **state)
{
	struct fx *f = *state;
	assert_string_equal(f->v->version, "1.17.0 build-24995812");
	assert_false(f->v->windows);
	assert_null(f->v->vdiskmanager);
}

static void test_vmrun_find_reports_missing_configured_path(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_vmrun *v = NULL;
	struct kf_err e;
	(void)state;
	free(cfg->vmware.vmrun);
	cfg->vmware.vmrun = strdup("/nonexistent/vmrun");
	assert_int_equal(kf_vmrun_find(&v, cfg, &e), KF_ENOTFOUND);
	assert_non_null(strstr(e.msg, "/nonexistent/vmrun"));
	assert_non_null(strstr(e.msg, "vmware.vmrun"));
	kf_config_free(cfg);
}

static void test_vmrun_find_auto_searches_path(void **state)
{
	struct kf_config *cfg = vmw_config();
	struct kf_vmrun *v = NULL;
	struct kf_err e;
	char *old = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"), *np = NULL;
	(void)state;
	free(cfg->vmware.vmrun);
	cfg->vmware.vmrun = strdup("auto");
	assert_true(asprintf(&np, "%s/fakes:%s", KF_TESTS_DIR, old) > 0);
	setenv("PATH", np, 1);
	assert_int_equal(kf_vmrun_find(&v, cfg, &e), 0);
	setenv("PATH", old, 1);
	assert_non_null(strstr(v->path, "/fakes/vmrun"));
	kf_vmrun_free(v);
	kf_config_free(cfg);
	free(old);
	free(np);
}

static void test_vmrun_parse_version_from_banner(void **state)
{
	char *v;
	(void)state;
	v = kf_vmrun_parse_version("\r\n\r\nvmrun version 1.17.0 build-14665864\r\nUsage: ...");
	assert_string_equal(v, "1.17.0 build-14665864");
	free(v);
	assert_null(kf_vmrun_parse_version("Usage: something else"));
}

/* Under WSL a vmrun.exe gets Windows paths; a path off the Windows drives never reaches it. */
static void test_vmrun_exe_under_wsl_gets_windows_paths(void **state)
{
	struct fx *f = *state;
	char *exe = kf_path_join(f->dir, "vmrun.exe");
	struct kf_vmrun *v = NULL;
	struct kf_err e;
	char *log;
	assert_int_equal(symlink(vmw_fake_vmrun(), exe), 0);
	setenv("K3SFORGE_WSL", "1", 1);
	assert_int_equal(kf_vmrun_open(&v, exe, 10, &e), 0);
	assert_true(v->windows);
	assert_int_equal(kf_vmrun_start(v, "/mnt/c/k3sforge-test-absent/n1/n1.vmx", false, &e),
			 KF_EVMRUN);
	log = calls(f);
	assert_non_null(strstr(log, "start C:\\k3sforge-test-absent\\n1\\n1.vmx nogui"));
	free(log);
	assert_int_equal(kf_vmrun_start(v, f->vmx, false, &e), KF_EUNSUPPORTED);
	assert_int_equal(count_calls(f, " start "), 1);
	kf_vmrun_free(v);
	free(exe);
}

static void test_vmrun_auth_flags_come_before_the_command(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	bool exists = true;
	char *log, *line;
	assert_int_equal(kf_vmrun_set_guest_auth(f->v, "ubuntu", "pw-for-test"), 0);
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	assert_int_equal(kf_vmrun_file_exists(f->v, f->vmx, "/var/lib/x.done", &exists, &e), 0);
	assert_false(exists);
	/* The double logs its argv: the flags sit between -T ws and the command. */
	log = calls(f);
	line = strstr(log, "fileExistsInGuest");
	assert_non_null(line);
	while (line > log && line[-1] != '\n')
		line--;
	assert_non_null(strstr(line, " BEGIN "));
	assert_non_null(strstr(line, " -T ws -gu ubuntu -gp pw-for-test fileExistsInGuest "));
	free(log);
}

static void test_vmrun_auth_after_command_is_a_usage_error(void **state)
{
	struct fx *f = *state;
	const char *args[] = { f->vmx, "-gu", "ubuntu", NULL };
	enum kf_vmrun_fault fault;
	struct kf_err e;
	struct kf_vmrun_call o = { .retry_tools_s = 5 };
	assert_int_equal(kf_vmrun_run(f->v, &o, "fileExistsInGuest", args, NULL, &fault, &e),
			 KF_EVMRUN);
	assert_int_equal(fault, KF_VMRUN_USAGE);
	assert_non_null(strstr(e.msg, "usage"));
	assert_int_equal(count_calls(f, "fileExistsInGuest"), 1);
}

/* Runs `op` under the given fault and returns the classified fault and message. */
static enum kf_vmrun_fault fault_of(struct fx *f, const char *faults, int op, char *msg, size_t n)
{
	enum kf_vmrun_fault fault = KF_VMRUN_OK;
	struct kf_err e;
	bool ex;
	char *tv = NULL;
	int r;

	kf_err_clear(&e);
	set_faults(f, faults);
	kf_vmrun_set_guest_auth(f->v, "ubuntu", "pw-for-test");
	if (op == 0) { /* guest operation on a running VM */
		set_faults(f, "");
		assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
		set_faults(f, faults);
		r = kf_vmrun_file_exists(f->v, f->vmx, "/x", &ex, &e);
	} else if (op == 1) {
		r = kf_vmrun_start(f->v, f->vmx, false, &e);
	} else if (op == 2) {
		r = kf_vmrun_start(f->v, "/nonexistent/dir/n9.vmx", false, &e);
	} else if (op == 3) {
		r = kf_vmrun_reset(f->v, f->vmx, true, &e);
	} else {
		struct kf_vmrun_call o = { .timeout_s = 1 };
		const char *args[] = { NULL, "nogui", NULL };
		kf_vmrun_path(f->v, &tv, f->vmx, &e);
		args[0] = tv;
		r = kf_vmrun_run(f->v, &o, "start", args, NULL, &fault, &e);
		free(tv);
	}
	assert_int_not_equal(r, 0);
	snprintf(msg, n, "%s", e.msg);
	if (op == 4)
		assert_int_equal(fault, KF_VMRUN_TIMEOUT);
	/* The fault's name is part of the message: "[tools-not-running]". */
	for (int i = KF_VMRUN_TOOLS_NOT_RUNNING; i <= KF_VMRUN_FAULT_LAST; i++) {
		char tag[64];
		snprintf(tag, sizeof(tag), "[%s]", kf_vmrun_fault_name((enum kf_vmrun_fault)i));
		if (strstr(e.msg, tag))
			return (enum kf_vmrun_fault)i;
	}
	return KF_VMRUN_OK;
}

static void test_vmrun_fault_tools_not_running(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "TOOLS_NEVER_START=1\n", 0, msg, sizeof(msg)),
			 KF_VMRUN_TOOLS_NOT_RUNNING);
	assert_non_null(strstr(msg, "open-vm-tools"));
}

static void test_vmrun_fault_invalid_credentials(void **state)
{
	struct fx *f = *state;
	char msg[KF_ERR_MSG_MAX];
	struct kf_err e;
	bool ex;
	assert_int_equal(fault_of(f, "AUTH_FAIL=1\n", 0, msg, sizeof(msg)),
			 KF_VMRUN_BAD_CREDENTIALS);
	assert_non_null(strstr(msg, "guest.user"));
	assert_int_equal(kf_vmrun_file_exists(f->v, f->vmx, "/x", &ex, &e), KF_EAUTH);
}

static void test_vmrun_fault_file_locked(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "LOCKED=all\n", 1, msg, sizeof(msg)),
			 KF_VMRUN_FILE_LOCKED);
	assert_non_null(strstr(msg, "already in use"));
	assert_non_null(strstr(msg, "Workstation window"));
}

static void test_vmrun_fault_vm_not_found(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "", 2, msg, sizeof(msg)), KF_VMRUN_VM_NOT_FOUND);
	assert_non_null(strstr(msg, "/nonexistent/dir/n9.vmx"));
}

static void test_vmrun_fault_not_powered_on(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "", 3, msg, sizeof(msg)), KF_VMRUN_NOT_POWERED_ON);
	assert_non_null(strstr(msg, "not running"));
}

static void test_vmrun_fault_permission(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "PERMISSION=all\n", 1, msg, sizeof(msg)),
			 KF_VMRUN_PERMISSION);
	assert_non_null(strstr(msg, "Insufficient permissions"));
}

static void test_vmrun_fault_timeout(void **state)
{
	struct fx *f = *state;
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(f, "HANG=start\n", 4, msg, sizeof(msg)), KF_VMRUN_TIMEOUT);
	assert_non_null(strstr(msg, "timeouts.vmrun_s"));
}

static void test_vmrun_fault_unknown_start_failure(void **state)
{
	char msg[KF_ERR_MSG_MAX];
	assert_int_equal(fault_of(*state, "START_FAIL=all\n", 1, msg, sizeof(msg)),
			 KF_VMRUN_UNKNOWN);
	assert_non_null(strstr(msg, "vmware.log"));
}

static void test_vmrun_each_fault_has_its_own_message(void **state)
{
	const char *seen[KF_VMRUN_FAULT_LAST + 1];
	(void)state;
	for (int i = KF_VMRUN_TOOLS_NOT_RUNNING; i <= KF_VMRUN_FAULT_LAST; i++) {
		seen[i] = kf_vmrun_fault_advice((enum kf_vmrun_fault)i);
		for (int j = KF_VMRUN_TOOLS_NOT_RUNNING; j < i; j++) {
			assert_string_not_equal(seen[i], seen[j]);
			assert_string_not_equal(kf_vmrun_fault_name((enum kf_vmrun_fault)i),
						kf_vmrun_fault_name((enum kf_vmrun_fault)j));
		}
	}
}

static void test_vmrun_classify_texts(void **state)
{
	(void)state;
	assert_int_equal(kf_vmrun_classify("Error: The VMware Tools are not running in the virtual "
					   "machine: C:\\a.vmx\r\n", 255, false),
			 KF_VMRUN_TOOLS_NOT_RUNNING);
	assert_int_equal(kf_vmrun_classify("Error: Invalid user name or password for the guest OS.\n",
					   255, false),
			 KF_VMRUN_BAD_CREDENTIALS);
	assert_int_equal(kf_vmrun_classify("Error: Unrecognized command: frob\n", 255, false),
			 KF_VMRUN_USAGE);
	assert_int_equal(kf_vmrun_classify("Total running VMs: 0\n", 0, false), KF_VMRUN_OK);
	assert_int_equal(kf_vmrun_classify("", 0, true), KF_VMRUN_TIMEOUT);
	assert_int_equal(kf_vmrun_classify("Error: Unable to get the IP address\n", 255, false),
			 KF_VMRUN_UNKNOWN);
}

static void test_vmrun_retries_while_tools_start(void **state)
{
	struct fx *f = *state;
	struct kf_vmrun_call o = { .guest_auth = true, .retry_tools_s = 20 };
	const char *args[] = { NULL, "/x", NULL };
	char *tv = NULL, *out = NULL;
	struct kf_err e;
	assert_int_equal(kf_vmrun_set_guest_auth(f->v, "ubuntu", "pw-for-test"), 0);
	set_faults(f, "TOOLS_START_AFTER=4\n"); /* longer than a busy host takes for one call */
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	kf_vmrun_path(f->v, &tv, f->vmx, &e);
	args[0] = tv;
	kf_vmrun_run(f->v, &o, "fileExistsInGuest", args, &out, NULL, &e);
	assert_non_null(strstr(out, "The file does not exist."));
	assert_true(count_calls(f, "fileExistsInGuest") >= 2);
	free(out);
	free(tv);
}

static void test_vmrun_never_retries_credential_errors(void **state)
{
	struct fx *f = *state;
	struct kf_vmrun_call o = { .guest_auth = true, .retry_tools_s = 20 };
	const char *args[] = { NULL, "/x", NULL };
	enum kf_vmrun_fault fault;
	char *tv = NULL;
	struct kf_err e;
	assert_int_equal(kf_vmrun_set_guest_auth(f->v, "ubuntu", "pw-for-test"), 0);
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	set_faults(f, "AUTH_FAIL=1\n");
	kf_vmrun_path(f->v, &tv, f->vmx, &e);
	args[0] = tv;
	assert_int_equal(kf_vmrun_run(f->v, &o, "fileExistsInGuest", args, NULL, &fault, &e),
			 KF_EAUTH);
	assert_int_equal(fault, KF_VMRUN_BAD_CREDENTIALS);
	assert_int_equal(count_calls(f, "fileExistsInGuest"), 1);
	free(tv);
}

static void test_vmrun_list_and_is_running(void **state)
{
	struct fx *f = *state;
	char **paths = NULL;
	size_t n = 0;
	bool on = true;
	struct kf_err e;
	assert_int_equal(kf_vmrun_is_running(f->v, f->vmx, &on, &e), 0);
	assert_false(on);
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	assert_int_equal(kf_vmrun_list(f->v, &paths, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(paths[0], f->vmx);
	kf_strv_free(paths, n);
	assert_int_equal(kf_vmrun_is_running(f->v, f->vmx, &on, &e), 0);
	assert_true(on);
	assert_int_equal(kf_vmrun_stop(f->v, f->vmx, true, &e), 0);
	/* Stopping a stopped VM is not an error. */
	assert_int_equal(kf_vmrun_stop(f->v, f->vmx, true, &e), 0);
	assert_int_equal(kf_vmrun_is_running(f->v, f->vmx, &on, &e), 0);
	assert_false(on);
}

static void test_vmrun_tools_state_and_guest_ip(void **state)
{
	struct fx *f = *state;
	char *st = NULL, *ip = NULL, *ipf = kf_path_join(f->state, "node1.ip");
	struct kf_err e;
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	assert_int_equal(kf_vmrun_tools_state(f->v, f->vmx, &st, &e), 0);
	assert_string_equal(st, "running");
	free(st);
	assert_int_equal(kf_fs_write_atomic(ipf, "192.168.6.10\n", 13, 0644, &e), 0);
	assert_int_equal(kf_vmrun_guest_ip(f->v, f->vmx, true, 5, &ip, &e), 0);
	assert_string_equal(ip, "192.168.6.10");
	free(ip);
	free(ipf);
}

/* The double hands power-on to a hook (how end-to-end tests attach simulated guests): here
 * the hook gives the guest its IP, which getGuestIPAddress then reports. */
static void test_vmrun_double_runs_start_hook(void **state)
{
	struct fx *f = *state;
	char *hook = vmw_write(f->dir, "on-start.sh",
			       "#!/bin/sh\necho \"$1\" > \"$FAKE_VMRUN_STATE/hook-vmx\"\n"
			       "echo 192.168.6.11 > \"$FAKE_VMRUN_STATE/$2.ip\"\n");
	char *ip = NULL, *seen, *p;
	struct kf_err e;
	assert_non_null(hook);
	assert_int_equal(chmod(hook, 0755), 0);
	setenv("FAKE_VMRUN_ON_START", hook, 1);
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	unsetenv("FAKE_VMRUN_ON_START");
	assert_int_equal(kf_vmrun_guest_ip(f->v, f->vmx, false, 0, &ip, &e), 0);
	assert_string_equal(ip, "192.168.6.11");
	p = kf_path_join(f->state, "hook-vmx");
	seen = vmw_slurp(p);
	assert_non_null(seen);
	assert_non_null(strstr(seen, "node1.vmx"));
	free(seen);
	free(p);
	free(ip);
	free(hook);
}

static void test_vmrun_snapshots_round_trip(void **state)
{
	struct fx *f = *state;
	char **names = NULL;
	size_t n = 0;
	struct kf_err e;
	assert_int_equal(kf_vmrun_snapshot(f->v, f->vmx, "base", &e), 0);
	assert_int_equal(kf_vmrun_snapshot(f->v, f->vmx, "after k3s", &e), 0);
	assert_int_equal(kf_vmrun_snapshot(f->v, f->vmx, "base", &e), KF_EVMRUN);
	assert_non_null(strstr(e.msg, "already exists"));
	assert_int_equal(kf_vmrun_list_snapshots(f->v, f->vmx, &names, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[1], "after k3s");
	kf_strv_free(names, n);
	assert_int_equal(kf_vmrun_revert(f->v, f->vmx, "base", &e), 0);
	assert_int_equal(kf_vmrun_delete_snapshot(f->v, f->vmx, "base", &e), 0);
	assert_int_equal(kf_vmrun_list_snapshots(f->v, f->vmx, &names, &n, &e), 0);
	assert_int_equal(n, 1);
	kf_strv_free(names, n);
}

static void test_vmrun_register_unregister_delete(void **state)
{
	struct fx *f = *state;
	char *val = NULL;
	struct kf_err e;
	assert_int_equal(kf_vmrun_register(f->v, f->vmx, &e), 0);
	assert_int_equal(kf_vmrun_read_variable(f->v, f->vmx, "runtimeConfig", "displayName", &val,
						&e),
			 0);
	assert_string_equal(val, "node1");
	free(val);
	assert_int_equal(kf_vmrun_unregister(f->v, f->vmx, &e), 0);
	assert_int_equal(kf_vmrun_unregister(f->v, f->vmx, &e), 0);
	assert_int_equal(kf_vmrun_delete_vm(f->v, f->vmx, &e), 0);
	assert_false(kf_fs_exists(f->vmx));
}

static void test_vmrun_guest_password_never_logged(void **state)
{
	struct fx *f = *state;
	struct kf_log_opts lo = { KF_LOG_DEBUG, false, KF_COLOR_NEVER };
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	struct kf_err e;
	bool ex;
	kf_log_init(&lo);
	kf_log_set_streams(mem, mem);
	assert_int_equal(kf_vmrun_set_guest_auth(f->v, "ubuntu", "Sup3r-Secret-PW"), 0);
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	set_faults(f, "AUTH_FAIL=1\n");
	assert_int_not_equal(kf_vmrun_file_exists(f->v, f->vmx, "/x", &ex, &e), 0);
	kf_log_set_streams(NULL, NULL);
	fclose(mem);
	assert_non_null(strstr(buf, "fileExistsInGuest"));
	assert_null(strstr(buf, "Sup3r-Secret-PW"));
	assert_non_null(strstr(buf, "***"));
	assert_null(strstr(e.msg, "Sup3r-Secret-PW"));
	free(buf);
	kf_log_shutdown();
}


/* The VM's path never decides the fault: "blockchain" and "lockdown" hold "lock", and the old
 * substring match called these VMs locked, so stop and destroy failed on them. */
static void test_vmrun_classify_ignores_the_vmx_path(void **state)
{
	(void)state;
	assert_int_equal(kf_vmrun_classify("Error: The virtual machine is not powered on: "
					   "C:\\Users\\blockchain\\lab\\m1.vmx\r\n", 255, false),
			 KF_VMRUN_NOT_POWERED_ON);
	assert_int_equal(kf_vmrun_classify("Error: Cannot open VM: /home/lockdown/m1.vmx, The "
					   "virtual machine cannot be found\n", 255, false),
			 KF_VMRUN_VM_NOT_FOUND);
	assert_int_equal(kf_vmrun_classify_vm("Error: The VMware Tools are not running in the "
					      "virtual machine: /srv/permission denied/a.vmx\n",
					      "/srv/permission denied/a.vmx", 255, false),
			 KF_VMRUN_TOOLS_NOT_RUNNING);
	assert_int_equal(kf_vmrun_classify_vm("Error: Cannot open VM: /x/in use, a.vmx, Cannot read "
					      "the virtual machine configuration file\n",
					      "/x/in use, a.vmx", 255, false),
			 KF_VMRUN_BAD_CONFIG);
}

/* Messages captured from real vmrun runs in public issue threads (docs/vmware.md). */
static void test_vmrun_classify_captured_messages(void **state)
{
	(void)state;
	/* vagrant#6216: a log line first. */
	assert_int_equal(kf_vmrun_classify("2015-08-31T17:57:29.547| ServiceImpl_Opener: PID 5033\n"
					   "Error: The operation was canceled\n", 255, false),
			 KF_VMRUN_CANCELED);
	/* GNS3/gns3-gui#1967: exit 4294967295 (-1) from vmrun.exe, 255 through WSL. */
	assert_int_equal(kf_vmrun_classify("Unable to connect to host.\nError: Service type "
					   "VIX_SERVICEPROVIDER_VMWARE_WORKSTATION was specified, "
					   "but not installed\n", -1, false),
			 KF_VMRUN_NO_SERVICE);
	assert_int_equal(kf_vmrun_classify("Unable to connect to host.\r\nError: Service type "
					   "VIX_SERVICEPROVIDER_VMWARE_WORKSTATION was specified, "
					   "but not installed\r\n", 255, false),
			 KF_VMRUN_NO_SERVICE);
	/* hashicorp/vagrant#5675. */
	assert_int_equal(kf_vmrun_classify("Error: Cannot open VM: /Volumes/LaCie/Vagrant/owz.vmx, "
					   "Cannot read the virtual machine configuration file\n",
					   255, false),
			 KF_VMRUN_BAD_CONFIG);
	/* hashicorp/packer#3029, vagrant#9224. */
	assert_int_equal(kf_vmrun_classify("2017-11-29T00:22:40.719| ServiceImpl_Opener: PID 77422\n"
					   "Error: Unknown error\n", 255, false),
			 KF_VMRUN_UNKNOWN);
}

static void test_vmrun_retries_a_canceled_operation(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	f->v->canceled_sleep_ms = 50;
	set_faults(f, "CANCEL=1\n");
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	assert_int_equal(count_calls(f, " start "), 2);
}

static void test_vmrun_gives_up_after_three_cancels(void **state)
{
	struct fx *f = *state;
	struct kf_err e;
	f->v->canceled_sleep_ms = 50;
	set_faults(f, "CANCEL=9\n");
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), KF_EVMRUN);
	assert_non_null(strstr(e.msg, "[operation-canceled]"));
	assert_non_null(strstr(e.msg, "vmware.log"));
	assert_int_equal(count_calls(f, " start "), 3);
}

static void test_vmrun_names_a_missing_workstation_service(void **state)
{
	struct fx *f = *state;
	char **paths = NULL;
	size_t n = 0;
	struct kf_err e;
	set_faults(f, "NO_SERVICE=1\n");
	assert_int_equal(kf_vmrun_list(f->v, &paths, &n, &e), KF_EVMRUN);
	assert_non_null(strstr(e.msg, "[workstation-service-missing]"));
	assert_non_null(strstr(e.msg, "Workstation Pro"));
}

struct par {
	struct kf_vmrun *v;
	char *vmx;
	int rc;
	bool ip;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	struct kf_err e;
	char *ip = NULL;
	p->rc = p->ip ? kf_vmrun_guest_ip(p->v, p->vmx, true, 10, &ip, &e)
		      : kf_vmrun_start(p->v, p->vmx, false, &e);
	free(ip);
	return NULL;
}

static char *violations(struct fx *f)
{
	char *p = kf_path_join(f->state, "violations.log"), *t = vmw_slurp(p);
	free(p);
	return t;
}

/* Power calls from many threads reach vmrun one at a time (the double flags overlaps). */
static void test_vmrun_power_calls_never_overlap(void **state)
{
	struct fx *f = *state;
	struct par p[4];
	pthread_t th[4];
	char name[32], *v;
	set_faults(f, "SERIAL_ONLY=flag\nPOWER_ON_DELAY=0.3\n");
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.vmx", i);
		p[i] = (struct par){ .v = f->v, .vmx = vmw_write(f->dir, name, "displayName = \"x\"\n") };
		assert_int_equal(pthread_create(&th[i], NULL, par_main, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].rc, 0);
		free(p[i].vmx);
	}
	v = violations(f);
	if (v)
		fail_msg("overlapping vmrun calls: %s", v);
}

/* Queries are not held up by the lane: waits on several guests overlap. */
static void test_vmrun_guest_queries_stay_parallel(void **state)
{
	struct fx *f = *state;
	struct par p[3];
	pthread_t th[3];
	char name[32], *log, *q;
	int begins = 0;
	struct kf_err e;
	/* Tools come up 5 s after power-on: every query has to wait, so all three are in
	 * flight together unless the lane held them back. */
	set_faults(f, "TOOLS_START_AFTER=5\n");
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "g%d.vmx", i);
		p[i] = (struct par){ .v = f->v, .vmx = vmw_write(f->dir, name, "displayName = \"g\"\n"),
				     .ip = true };
		assert_int_equal(kf_vmrun_start(f->v, p[i].vmx, false, &e), 0);
	}
	q = kf_path_join(f->state, "g.ip");
	assert_int_equal(kf_fs_write_atomic(q, "192.168.6.20\n", 13, 0644, &e), 0);
	free(q);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, par_main, &p[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].rc, 0);
		free(p[i].vmx);
	}
	/* All three getGuestIPAddress calls began before the first one ended. */
	log = calls(f);
	{
		char *line = log, *eol;
		bool ended = false;
		for (; line && *line; line = eol ? eol + 1 : NULL) {
			eol = strchr(line, '\n');
			if (eol)
				*eol = '\0';
			if (strstr(line, " BEGIN ") && strstr(line, "getGuestIPAddress") && !ended)
				begins++;
			if (strstr(line, " END ") && begins > 0)
				ended = true; /* the first query's END (starts ended before) */
		}
	}
	free(log);
	assert_int_equal(begins, 3);
}

/* A VM started nogui answers getGuestIPAddress only with -wait, and checkToolsState with
 * "installed" while Tools run (open-vm-tools#718): both count. */
static void test_vmrun_nogui_vm_answers_with_wait(void **state)
{
	struct fx *f = *state;
	char *st = NULL, *ip = NULL, *ipf = kf_path_join(f->state, "node1.ip");
	struct kf_err e;
	set_faults(f, "NOGUI=record\n");
	assert_int_equal(kf_vmrun_start(f->v, f->vmx, false, &e), 0);
	assert_int_equal(kf_fs_write_atomic(ipf, "192.168.6.10\n", 13, 0644, &e), 0);
	assert_int_equal(kf_vmrun_tools_state(f->v, f->vmx, &st, &e), 0);
	assert_string_equal(st, "installed");
	assert_true(kf_vmrun_tools_present(st));
	assert_false(kf_vmrun_tools_present("unknown"));
	free(st);
	assert_int_equal(kf_vmrun_guest_ip(f->v, f->vmx, false, 0, &ip, &e), KF_EVMRUN);
	assert_non_null(strstr(e.msg, "[tools-not-running]"));
	assert_int_equal(kf_vmrun_guest_ip(f->v, f->vmx, true, 5, &ip, &e), 0);
	assert_string_equal(ip, "192.168.6.10");
	free(ip);
	free(ipf);
}

/* wait's Tools and IP signals (vmsignals) advance for a VM started nogui: "installed" counts
 * and the IP is asked with -wait. Without that, a nogui lab never leaves "powered-on". */
static void test_vmsignals_advance_for_a_nogui_vm(void **state)
{
	struct fx *f = *state;
	struct kf_config *cfg = vmw_config();
	struct kf_vmsignals vs;
	char *out = kf_path_join(f->dir, "out"), *dir = NULL, *vmx = NULL, *ip = NULL;
	char *ipf = kf_path_join(f->state, "k3s-master1.ip");
	bool running = false;
	struct kf_err e;
	set_faults(f, "NOGUI=record\n");
	assert_int_equal(kf_vmsignals_init(&vs, cfg, out, &e), 0);
	vmx = kf_hv_vm_file(vs.hv, cfg->nodes[0].name);
	dir = strdup(vmx);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kf_fs_mkdirs(dir, 0755, &e), 0);
	assert_int_equal(kf_fs_write_atomic(vmx, "displayName = \"k3s-master1\"\n", 28, 0644, &e), 0);
	assert_int_equal(kf_fs_write_atomic(ipf, "192.168.6.10\n", 13, 0644, &e), 0);
	if (vs.hv->ops->start(vs.hv, cfg->nodes[0].name, &e) != 0)
		fail_msg("start: %s", e.msg);
	assert_int_equal(vs.ops.tools_running(vs.ops.ctx, &cfg->nodes[0], &running, &e), 0);
	assert_true(running);
	assert_int_equal(vs.ops.guest_ip(vs.ops.ctx, &cfg->nodes[0], &ip, &e), 0);
	assert_string_equal(ip, "192.168.6.10");
	free(ip);
	kf_vmsignals_free(&vs);
	kf_config_free(cfg);
	free(vmx);
	free(dir);
	free(out);
	free(ipf);
}

/* "Is it on" for many nodes at once costs one `vmrun list`, not one each: concurrent askers
 * share the list in flight, and an answer must be younger than what the caller asks for (after
 * a stop, a list from before it does not count). 30 list processes at once were what finalize
 * and the wait rounds spent most of their time on (issue #20). */
struct running_ask {
	struct kf_vmsignals *vs;
	const char *node;
	double not_before;
	bool on;
	int rc;
};

static void *ask_running(void *arg)
{
	struct running_ask *a = arg;
	struct kf_err e;

	a->rc = a->vs->hv->ops->running(a->vs->hv, a->node, a->not_before, &a->on, &e);
	return NULL;
}

static void test_vmsignals_one_list_answers_every_node(void **state)
{
	struct fx *f = *state;
	struct kf_config *cfg = vmw_config();
	struct kf_vmsignals vs;
	char *out = kf_path_join(f->dir, "out"), *vmx[8] = { 0 };
	struct running_ask ask[8];
	pthread_t th[8];
	size_t n;
	double t0;
	struct kf_err e;

	assert_int_equal(kf_vmsignals_init(&vs, cfg, out, &e), 0);
	n = cfg->n_nodes < 8 ? cfg->n_nodes : 8;
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		char *dir;

		vmx[i] = kf_hv_vm_file(vs.hv, cfg->nodes[i].name);
		dir = strdup(vmx[i]);
		*strrchr(dir, '/') = '\0';
		assert_int_equal(kf_fs_mkdirs(dir, 0755, &e), 0);
		assert_int_equal(kf_fs_write_atomic(vmx[i], "displayName = \"n\"\n", 17, 0644, &e), 0);
		free(dir);
	}
	assert_int_equal(vs.hv->ops->start(vs.hv, cfg->nodes[0].name, &e), 0);
	t0 = kf_now_mono();
	for (size_t i = 0; i < n; i++) {
		ask[i] = (struct running_ask){ &vs, cfg->nodes[i].name, t0, false, -1 };
		assert_int_equal(pthread_create(&th[i], NULL, ask_running, &ask[i]), 0);
	}
	for (size_t i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ask[i].rc, 0);
		assert_int_equal(ask[i].on, i == 0);
	}
	assert_int_equal(count_calls(f, " list"), 1);
	/* a fresher answer is asked for after the stop: a new list, and it sees the VM off */
	assert_int_equal(vs.hv->ops->stop(vs.hv, cfg->nodes[0].name, true, &e), 0);
	ask[0] = (struct running_ask){ &vs, cfg->nodes[0].name, kf_now_mono(), true, -1 };
	ask_running(&ask[0]);
	assert_int_equal(ask[0].rc, 0);
	assert_false(ask[0].on);
	assert_int_equal(count_calls(f, " list"), 2);
	/* the wait engine's question accepts the answer just given */
	assert_int_equal(vs.ops.powered_on(vs.ops.ctx, &cfg->nodes[0], &ask[0].on, &e), 0);
	assert_false(ask[0].on);
	assert_int_equal(count_calls(f, " list"), 2);
	kf_vmsignals_free(&vs);
	kf_config_free(cfg);
	for (size_t i = 0; i < n; i++)
		free(vmx[i]);
	free(out);
}

/* After a stop vmware-vmx keeps the disk's lock a moment (packer#1267): the wait returns once
 * only the .vmx's own lock is left, and names what is still held when the bound runs out. */
static void test_vmlab_waits_for_vmware_locks_after_stop(void **state)
{
	struct fx *f = *state;
	char *vmx = vmw_write(f->dir, "lk.vmx", "displayName = \"lk\"\nscsi0:0.fileName = \"lk.vmdk\"\n");
	char *held = NULL;
	double t0;
	struct kf_err e;
	set_faults(f, "LINGER_LOCKS=0.8\n");
	setenv("K3SFORGE_VMWARE_SETTLE_MS", "0", 1);
	assert_int_equal(kf_vmrun_start(f->v, vmx, false, &e), 0);
	assert_int_equal(kf_vmlab_held_locks(f->dir, &held, &e), 0);
	assert_non_null(held);
	assert_non_null(strstr(held, "lk.vmdk.lck/M"));
	assert_null(strstr(held, "lk.vmx.lck")); /* the vmx's own lock may stay (packer) */
	free(held);
	assert_int_equal(kf_vmrun_stop(f->v, vmx, true, &e), 0);
	setenv("K3SFORGE_VMWARE_LOCK_WAIT_S", "0", 1);
	assert_int_equal(kf_vmlab_wait_unlocked(f->dir, "lk", true, &e), KF_ETIMEOUT);
	assert_non_null(strstr(e.msg, "still holds lk.vmdk.lck/M"));
	unsetenv("K3SFORGE_VMWARE_LOCK_WAIT_S");
	t0 = kf_now_mono();
	assert_int_equal(kf_vmlab_wait_unlocked(f->dir, "lk", true, &e), 0);
	assert_int_equal(kf_vmlab_held_locks(f->dir, &held, &e), 0);
	assert_null(held);
	assert_true(kf_now_mono() - t0 < 30);
	unsetenv("K3SFORGE_VMWARE_SETTLE_MS");
	free(vmx);
}

static void test_vmrun_reads_the_workstation_version(void **state)
{
	struct fx *f = *state;
	char *ws = NULL;
	struct kf_err e;
	/* tests/fakes/vmware (the double) sits next to the vmrun double, as /usr/bin/vmware
	 * sits next to /usr/bin/vmrun. */
	assert_int_equal(kf_vmrun_workstation_version(f->v, &ws, &e), 0);
	assert_string_equal(ws, "17.5.2");
	free(ws);
	set_faults(f, "WS_VERSION=17.6.1\n");
	assert_int_equal(kf_vmrun_workstation_version(f->v, &ws, &e), 0);
	assert_string_equal(ws, "17.6.1");
	free(ws);
}

static void test_hw_version_is_checked_against_workstation(void **state)
{
	struct kf_err e;
	bool unsure;
	unsigned a, b, c;
	(void)state;
	assert_int_equal(kf_vmrun_check_hw_version(22, "17.6.1", &unsure, &e), KF_EUNSUPPORTED);
	assert_non_null(strstr(e.msg, "25H2"));
	assert_non_null(strstr(e.msg, "17.6.1"));
	assert_non_null(strstr(e.msg, "hw_version to 21"));
	assert_int_equal(kf_vmrun_check_hw_version(22, "25.0.0", &unsure, &e), 0);
	assert_false(unsure);
	assert_int_equal(kf_vmrun_check_hw_version(21, "17.6.1", &unsure, &e), 0);
	assert_false(unsure);
	assert_int_equal(kf_vmrun_check_hw_version(21, "17.5.2", &unsure, &e), 0);
	assert_true(unsure);
	assert_non_null(strstr(e.msg, "17.6"));
	assert_int_equal(kf_vmrun_check_hw_version(21, "17.0.2", &unsure, &e), KF_EUNSUPPORTED);
	assert_int_equal(kf_vmrun_check_hw_version(19, "17.0.2", &unsure, &e), 0);
	assert_true(kf_workstation_parse_version("VMware Workstation 17.5.2 build-23775571", &a, &b,
						 &c));
	assert_true(a == 17 && b == 5 && c == 2);
	assert_true(kf_workstation_parse_version("    17.6.1.24319023", &a, &b, &c));
	assert_true(a == 17 && b == 6 && c == 1);
	assert_false(kf_workstation_parse_version("VMware Player", &a, &b, &c));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_vmrun_find_uses_configured_path_and_reads_version),
		T(test_vmrun_find_reports_missing_configured_path),
		T(test_vmrun_find_auto_searches_path),
		T(test_vmrun_parse_version_from_banner),
		T(test_vmrun_exe_under_wsl_gets_windows_paths),
		T(test_vmrun_auth_flags_come_before_the_command),
		T(test_vmrun_auth_after_command_is_a_usage_error),
		T(test_vmrun_fault_tools_not_running),
		T(test_vmrun_fault_invalid_credentials),
		T(test_vmrun_fault_file_locked),
		T(test_vmrun_fault_vm_not_found),
		T(test_vmrun_fault_not_powered_on),
		T(test_vmrun_fault_permission),
		T(test_vmrun_fault_timeout),
		T(test_vmrun_fault_unknown_start_failure),
		T(test_vmrun_each_fault_has_its_own_message),
		T(test_vmrun_classify_texts),
		T(test_vmrun_retries_while_tools_start),
		T(test_vmrun_never_retries_credential_errors),
		T(test_vmrun_list_and_is_running),
		T(test_vmrun_tools_state_and_guest_ip),
		T(test_vmrun_double_runs_start_hook),
		T(test_vmrun_snapshots_round_trip),
		T(test_vmrun_register_unregister_delete),
		T(test_vmrun_guest_password_never_logged),
		T(test_vmrun_classify_ignores_the_vmx_path),
		T(test_vmrun_classify_captured_messages),
		T(test_vmrun_retries_a_canceled_operation),
		T(test_vmrun_gives_up_after_three_cancels),
		T(test_vmrun_names_a_missing_workstation_service),
		T(test_vmrun_power_calls_never_overlap),
		T(test_vmrun_guest_queries_stay_parallel),
		T(test_vmrun_nogui_vm_answers_with_wait),
		T(test_vmsignals_advance_for_a_nogui_vm),
		T(test_vmsignals_one_list_answers_every_node),
		T(test_vmlab_waits_for_vmware_locks_after_stop),
		T(test_vmrun_reads_the_workstation_version),
		T(test_hw_version_is_checked_against_workstation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
