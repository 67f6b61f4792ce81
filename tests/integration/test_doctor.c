/* kf_doctor_nodes, the bug-report bundle and `k3sforge doctor` against the simulated lab
 * (tests/lib/ops_lab: a real sshd per node with its pinned host key, guest commands in the node
 * root's bin/, the real registry over TLS). A finished lab has no failed finding; each injected
 * fault is named with why it matters and a fix; the bundle holds the logs but no private key,
 * token or password. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/doctor.h"
#include "k3sforge/fs.h"
#include "k3sforge/pki.h"
#include "k3sforge/proc.h"
#include "k3sforge/ssh.h"
#include "ops_lab.h"

#define IMAGE_MISSING "docker.io/rancher/mirrored-coredns-coredns:1.12.3"

static int group_setup(void **state)
{
	*state = ops_lab_start("doctor", 60, false);
	return *state ? 0 : -1;
}

static int group_teardown(void **state)
{
	ops_lab_stop(*state);
	return 0;
}

static void run_doctor(struct ops_lab *f, struct kf_findings *out, struct kf_captures *caps)
{
	struct kf_doctor_opts o = { .out_dir = f->out, .timeout_ms = 15000, .capture = caps != NULL };

	memset(out, 0, sizeof(*out));
	assert_int_equal(kf_doctor_nodes(out, caps, f->cfg, &o), 0);
}

static const struct kf_finding *find(const struct kf_findings *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->items[i].id, id) == 0)
			return &f->items[i];
	return NULL;
}

/* The finding id has status FAIL, a fix, and its summary contains text. */
static void assert_failed(const struct kf_findings *f, const char *id, const char *text)
{
	const struct kf_finding *x = find(f, id);

	if (!x)
		fail_msg("no finding %s", id);
	if (x->status != KF_CHECK_FAIL || !x->fix || !strstr(x->summary, text))
		fail_msg("%s: status %s, summary '%s', fix '%s'", id, kf_check_status_name(x->status),
			 x->summary, x->fix ? x->fix : "(none)");
}

static void test_doctor_finished_nodes_have_no_failed_finding(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	run_doctor(f, &fs, NULL);
	for (size_t i = 0; i < fs.n; i++)
		if (fs.items[i].status == KF_CHECK_FAIL)
			print_message("failed: %s: %s\n", fs.items[i].id, fs.items[i].summary);
	assert_int_equal(kf_findings_failed(&fs), 0);
	assert_non_null(find(&fs, "k3s-worker2/registry"));
	assert_int_equal(find(&fs, "k3s-worker2/registry")->status, KF_CHECK_OK);
	assert_int_equal(find(&fs, "k3s-master1/images")->status, KF_CHECK_OK);
	kf_findings_free(&fs);
}

static void test_doctor_names_a_missing_marker_and_why_it_matters(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	ops_lab_node_rm(f, 1, "var/lib/sysctl-applied");
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-worker1/marker:sysctl-applied", "services do not route");
	assert_null(find(&fs, "k3s-worker2/marker:sysctl-applied"));
	kf_findings_free(&fs);
	ops_lab_healthy_guest(f, 1);
}

static void test_doctor_names_a_failed_bootstrap_with_its_last_log_lines(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	ops_lab_node_file(f, 2, "bin/systemctl",
			  "#!/bin/sh\ncase \"$*\" in\n"
			  "  *k3s-agent-bootstrap.service) echo exit-code ;;\n"
			  "  'show -p Result --value'*) echo success ;;\n  *) echo active ;;\nesac\n",
			  0755);
	ops_lab_node_file(f, 2, "bin/journalctl",
			  "#!/bin/sh\necho 'k3s-agent-bootstrap[7]: importing images'\n"
			  "echo 'k3s-agent-bootstrap[7]: containerd socket did not appear in 120 s'\n",
			  0755);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-worker2/bootstrap", "containerd socket did not appear in 120 s");
	assert_failed(&fs, "k3s-worker2/bootstrap", "result: exit-code");
	{
		/* the fix is a command to paste: only our key, the pinned host key, quoted paths */
		const struct kf_finding *x = find(&fs, "k3s-worker2/bootstrap");
		char want[700], key[600], *q;
		assert_non_null(strstr(x->fix, "-o IdentitiesOnly=yes"));
		assert_non_null(strstr(x->fix, "-o StrictHostKeyChecking=yes"));
		snprintf(key, sizeof(key), "%s/ssh/id_ed25519", f->out);
		q = kf_shell_quote(key);
		snprintf(want, sizeof(want), "ssh -i %s ", q);
		free(q);
		assert_non_null(strstr(x->fix, want));
	}
	kf_findings_free(&fs);
	ops_lab_healthy_guest(f, 2);
}

static void test_doctor_checks_each_guest_clock_against_the_host(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;
	const struct kf_finding *x;

	run_doctor(f, &fs, NULL);
	x = find(&fs, "k3s-worker1/clock");
	assert_non_null(x);
	assert_int_equal(x->status, KF_CHECK_OK);
	kf_findings_free(&fs);
	/* a guest whose clock is back in 2020: the seeds' TLS failure */
	ops_lab_node_file(f, 1, "bin/date", "#!/bin/sh\necho 1577836800.000000000\n", 0755);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-worker1/clock", "certificates look not yet valid or expired");
	x = find(&fs, "k3s-worker1/clock");
	assert_non_null(strstr(x->fix, "systemctl restart sync-time.service"));
	kf_findings_free(&fs);
	ops_lab_node_file(f, 1, "bin/date", "#!/bin/sh\nexec /usr/bin/date \"$@\"\n", 0755);
}

static void test_doctor_names_containerd_images_missing(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;
	char path[600];

	snprintf(path, sizeof(path), "%s/artifacts/k3s-images.txt", f->out);
	ops_lab_put(path, OPS_LAB_IMAGE "\n" IMAGE_MISSING "\n", 0644);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-master1/images", IMAGE_MISSING);
	assert_failed(&fs, "k3s-master1/images", "1 of 2 images missing");
	kf_findings_free(&fs);
	ops_lab_put(path, OPS_LAB_IMAGE "\n", 0644);
}

static void test_doctor_names_a_cloud_init_error(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	ops_lab_node_file(f, 0, "bin/cloud-init",
			  "#!/bin/sh\necho 'status: error'\necho 'errors:'\n"
			  "echo \"- ('scripts_user', RuntimeError('Runparts: 1 failures'))\"\nexit 1\n",
			  0755);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-master1/cloud-init", "Runparts: 1 failures");
	kf_findings_free(&fs);
	ops_lab_healthy_guest(f, 0);
}

static void test_doctor_names_a_registry_the_guest_cannot_trust(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	ops_lab_node_rm(f, 1, "usr/local/share/ca-certificates/k3sforge-ca.crt");
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-worker1/registry", "k3s cannot pull any image");
	kf_findings_free(&fs);
	ops_lab_healthy_guest(f, 1);
}

static void test_doctor_names_a_failed_sync_time(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	ops_lab_node_file(f, 0, "bin/systemctl",
			  "#!/bin/sh\ncase \"$*\" in\n  *sync-time.service) echo exit-code ;;\n"
			  "  'show -p Result --value'*) echo success ;;\n  *) echo active ;;\nesac\n",
			  0755);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-master1/sync-time", "not yet valid");
	kf_findings_free(&fs);
	ops_lab_healthy_guest(f, 0);
}

static void test_doctor_names_a_node_whose_sshd_is_stopped(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;

	kf_test_sshd_stop(&f->sshd[1]);
	run_doctor(f, &fs, NULL);
	assert_failed(&fs, "k3s-worker1/ssh", "SSH not reachable");
	assert_int_equal(find(&fs, "k3s-worker2/ssh")->status, KF_CHECK_OK);
	kf_findings_free(&fs);
	ops_lab_start_node(f, 1);
}

static bool file_has(const char *path, const char *needle)
{
	char *text = NULL;
	size_t len = 0;
	bool found;

	if (kf_fs_read(&text, &len, path, 64 << 20, NULL) != 0)
		return false;
	found = memmem(text, len, needle, strlen(needle)) != NULL;
	free(text);
	return found;
}

static void test_doctor_bundle_holds_logs_but_no_key_token_or_password(void **state)
{
	struct ops_lab *f = *state;
	struct kf_findings fs;
	struct kf_captures caps = { 0 };
	struct kf_err err;
	char bundle[600], dir[600], cfgp[600], journal[4096], *token = NULL, *key = NULL, keyp[600];
	struct stat sb;

	assert_int_equal(kf_pki_read_token(&token, f->out, &err), 0);
	snprintf(keyp, sizeof(keyp), "%s/ssh/id_ed25519", f->out);
	assert_int_equal(kf_fs_read(&key, NULL, keyp, 65536, NULL), 0);
	/* A guest journal that leaks everything it could. */
	snprintf(journal, sizeof(journal),
		 "#!/bin/sh\necho 'k3s-bootstrap[1]: K3S_TOKEN=%s'\necho 'k3s-bootstrap[1]: "
		 "joining with token %s'\ncat <<'EOF'\n%sEOF\necho 'ks: admin password: "
		 "Hunter2-Lab-Pass'\n",
		 token, token, key);
	ops_lab_node_file(f, 0, "bin/journalctl", journal, 0755);
	snprintf(cfgp, sizeof(cfgp), "%s/doctor-lab.yaml", f->dir);
	ops_lab_put(cfgp, "cluster: {name: lab}\naddons:\n  kubesphere: {admin_password: Hunter2-Lab-Pass}\n",
		    0600);
	free(f->cfg->addons.admin_password);
	f->cfg->addons.admin_password = strdup("Hunter2-Lab-Pass");
	run_doctor(f, &fs, &caps);
	snprintf(bundle, sizeof(bundle), "%s/report.tar.gz", f->dir);
	if (kf_doctor_bundle_write(bundle, &caps, f->cfg, f->out, cfgp, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(stat(bundle, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/report", f->dir);
	assert_int_equal(kf_fs_mkdirs(dir, 0700, NULL), 0);
	{
		const char *argv[] = { "tar", "-xzf", bundle, "-C", dir, NULL };
		struct kf_proc p;
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.timeout_ms = 30000;
		assert_int_equal(kf_proc_run_ok(&p, &err), 0);
		kf_proc_free(&p);
	}
	{
		/* Every file of the extracted bundle, searched. */
		const char *argv[] = { "grep", "-rlE", "", dir, NULL };
		struct kf_proc p;
		char journal_path[700], cfg_copy[700];
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.timeout_ms = 30000;
		assert_int_equal(kf_proc_run(&p, &err), 0);
		snprintf(journal_path, sizeof(journal_path), "%s/nodes/k3s-master1/bootstrap-journal.txt",
			 dir);
		snprintf(cfg_copy, sizeof(cfg_copy), "%s/config/doctor-lab.yaml", dir);
		assert_non_null(strstr(kf_buf_str(&p.out), journal_path));
		assert_true(file_has(journal_path, "K3S_TOKEN="));
		assert_true(file_has(journal_path, "[private key removed]"));
		assert_true(file_has(cfg_copy, "cluster: {name: lab}"));
		for (const char *l = kf_buf_str(&p.out); *l;) {
			char path[1024];
			size_t len = strcspn(l, "\n");
			snprintf(path, sizeof(path), "%.*s", (int)len, l);
			if (file_has(path, token) || file_has(path, "PRIVATE KEY") ||
			    file_has(path, "Hunter2-Lab-Pass"))
				fail_msg("%s holds a secret", path);
			l += len + (l[len] ? 1 : 0);
		}
		kf_proc_free(&p);
	}
	assert_true(kf_fs_exists(dir));
	free(f->cfg->addons.admin_password);
	f->cfg->addons.admin_password = NULL;
	kf_findings_free(&fs);
	kf_captures_free(&caps);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	free(key);
	ops_lab_healthy_guest(f, 0);
}

static void test_doctor_cli_names_unreachable_nodes_and_exits_1(void **state)
{
	struct ops_lab *f = *state;
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", f->out, "doctor",
			       "--nodes", "--timeout=3000", NULL };
	struct kf_proc p;
	struct kf_err err;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 1);
	/* the findings are doctor's result: stdout (docs/cli.md) */
	if (!strstr(kf_buf_str(&p.out), "k3s-master1: SSH not reachable"))
		fail_msg("not named: %s", kf_buf_str(&p.out));
	kf_proc_free(&p);
}

static void test_doctor_cli_bundle_is_written_even_when_nodes_fail(void **state)
{
	struct ops_lab *f = *state;
	char bundle[600];
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", f->out, "doctor",
			       "--nodes", "--timeout=3000", "--bundle", bundle, NULL };
	struct kf_proc p;
	struct kf_err err;
	struct stat sb;

	snprintf(bundle, sizeof(bundle), "%s/cli-report.tar.gz", f->dir);
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	assert_int_equal(p.exit_code, 1);
	kf_proc_free(&p);
	assert_int_equal(stat(bundle, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	{
		const char *tar[] = { "tar", "-tzf", bundle, NULL };
		memset(&p, 0, sizeof(p));
		p.argv = tar;
		p.timeout_ms = 30000;
		assert_int_equal(kf_proc_run_ok(&p, &err), 0);
		assert_non_null(strstr(kf_buf_str(&p.out), "findings.json"));
		assert_non_null(strstr(kf_buf_str(&p.out), "out/state.json") ?
					strstr(kf_buf_str(&p.out), "out/state.json") :
					strstr(kf_buf_str(&p.out), "config/lab.yaml"));
		assert_null(strstr(kf_buf_str(&p.out), "pki/"));
		assert_null(strstr(kf_buf_str(&p.out), "ssh/"));
		assert_null(strstr(kf_buf_str(&p.out), "secrets/"));
		kf_proc_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doctor_finished_nodes_have_no_failed_finding),
		cmocka_unit_test(test_doctor_names_a_missing_marker_and_why_it_matters),
		cmocka_unit_test(test_doctor_names_a_failed_bootstrap_with_its_last_log_lines),
		cmocka_unit_test(test_doctor_checks_each_guest_clock_against_the_host),
		cmocka_unit_test(test_doctor_names_containerd_images_missing),
		cmocka_unit_test(test_doctor_names_a_cloud_init_error),
		cmocka_unit_test(test_doctor_names_a_registry_the_guest_cannot_trust),
		cmocka_unit_test(test_doctor_names_a_failed_sync_time),
		cmocka_unit_test(test_doctor_names_a_node_whose_sshd_is_stopped),
		cmocka_unit_test(test_doctor_bundle_holds_logs_but_no_key_token_or_password),
		cmocka_unit_test(test_doctor_cli_names_unreachable_nodes_and_exits_1),
		cmocka_unit_test(test_doctor_cli_bundle_is_written_even_when_nodes_fail),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
