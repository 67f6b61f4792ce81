/* The kubeconfig rewrite and merge, checked with kubectl itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/kubeconfig.h"
#include "k3sforge/proc.h"

static const char *k3s_yaml =
	"apiVersion: v1\n"
	"clusters:\n"
	"- cluster:\n"
	"    certificate-authority-data: Q0EtREFUQQ==\n"
	"    server: https://127.0.0.1:6443\n"
	"  name: default\n"
	"contexts:\n"
	"- context:\n"
	"    cluster: default\n"
	"    user: default\n"
	"  name: default\n"
	"current-context: default\n"
	"kind: Config\n"
	"preferences: {}\n"
	"users:\n"
	"- name: default\n"
	"  user:\n"
	"    client-certificate-data: Q0VSVA==\n"
	"    client-key-data: S0VZLURBVEEtU0VDUkVU\n";

static const char *other_config =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: prod\n"
	"  cluster:\n"
	"    server: https://10.0.0.1:6443\n"
	"    insecure-skip-tls-verify: false\n"
	"contexts:\n"
	"- name: prod\n"
	"  context: {cluster: prod, user: prod-admin, namespace: web}\n"
	"current-context: prod\n"
	"users:\n"
	"- name: prod-admin\n"
	"  user:\n"
	"    exec:\n"
	"      apiVersion: client.authentication.k8s.io/v1beta1\n"
	"      command: aws\n"
	"      args: [eks, get-token]\n";

struct fx {
	char dir[256];
	char path[300];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kf-kc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kube/config", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static struct kf_ynode *ours(void)
{
	struct kf_ynode *kc = NULL;
	struct kf_err err;

	assert_int_equal(kf_kubeconfig_rewrite(&kc, k3s_yaml, strlen(k3s_yaml), "k3sforge-lab",
					       "https://192.168.6.10:6443", &err),
			 0);
	return kc;
}

/* Runs kubectl against the file and returns its stdout (caller frees). */
static char *kubectl(const char *path, const char *a1, const char *a2, const char *a3,
		     const char *a4)
{
	const char *argv[] = { "kubectl", "--kubeconfig", path, "config", a1, a2, a3, a4, NULL };
	struct kf_proc p;
	struct kf_err err;
	char *out;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 30000;
	assert_int_equal(kf_proc_run_ok(&p, &err), 0);
	out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return out;
}

static void test_kubeconfig_rewrite_points_at_the_master_and_renames(void **state)
{
	struct kf_ynode *kc = ours();
	struct kf_ynode *cl = kf_ymap_get(kc, "clusters")->items[0];
	struct kf_ynode *cx = kf_ymap_get(kc, "contexts")->items[0];
	(void)state;
	assert_string_equal(kf_ymap_str(kf_ymap_get(cl, "cluster"), "server"),
			    "https://192.168.6.10:6443");
	assert_string_equal(kf_ymap_str(cl, "name"), "k3sforge-lab");
	assert_string_equal(kf_ymap_str(kf_ymap_get(cx, "context"), "cluster"), "k3sforge-lab");
	assert_string_equal(kf_ymap_str(kf_ymap_get(cx, "context"), "user"), "k3sforge-lab");
	assert_string_equal(kf_ymap_str(kc, "current-context"), "k3sforge-lab");
	/* Unrelated data is untouched: the CA stays, nothing else called "default" is renamed. */
	assert_string_equal(kf_ymap_str(kf_ymap_get(cl, "cluster"), "certificate-authority-data"),
			    "Q0EtREFUQQ==");
	kf_ynode_free(kc);
}

static void test_kubeconfig_rewrite_refuses_a_foreign_file(void **state)
{
	struct kf_ynode *kc = NULL;
	struct kf_err err;
	(void)state;
	assert_int_equal(kf_kubeconfig_rewrite(&kc, other_config, strlen(other_config), "x",
					       "https://1.2.3.4:6443", &err),
			 0);
	kf_ynode_free(kc);
	assert_int_equal(kf_kubeconfig_rewrite(&kc, "just: text\n", 11, "x", "https://h:6443", &err),
			 KF_EPARSE);
	assert_non_null(strstr(err.msg, "exactly one entry in 'clusters'"));
}

static void test_kubeconfig_merge_keeps_other_contexts(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, false };
	struct kf_err err;
	bool changed = false;
	char *backup = NULL, *out;
	struct stat st;

	assert_int_equal(kf_fs_mkdirs(f->dir, 0700, &err), 0);
	{
		char kdir[300];
		snprintf(kdir, sizeof(kdir), "%s/kube", f->dir);
		kf_fs_mkdirs(kdir, 0700, &err);
	}
	assert_int_equal(kf_fs_write_atomic(f->path, other_config, strlen(other_config), 0644, &err), 0);
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, &backup, &err), 0);
	assert_true(changed);
	assert_non_null(backup);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	out = kubectl(f->path, "get-contexts", "-o", "name", NULL);
	assert_non_null(strstr(out, "prod\n"));
	assert_non_null(strstr(out, "k3sforge-lab\n"));
	free(out);
	/* The existing current context is kept unless asked to switch. */
	out = kubectl(f->path, "current-context", NULL, NULL, NULL);
	assert_string_equal(out, "prod\n");
	free(out);
	/* Other users' exec config survives byte for byte as data. */
	out = kubectl(f->path, "view", "-o", "jsonpath={.users[?(@.name==\"prod-admin\")].user.exec.command}", NULL);
	assert_string_equal(out, "aws");
	free(out);
	out = kubectl(f->path, "view", "--raw", "-o=jsonpath={.clusters[?(@.name==\"k3sforge-lab\")].cluster.server}", NULL);
	assert_string_equal(out, "https://192.168.6.10:6443");
	free(out);
	/* The backup holds the old file. */
	{
		char *old = NULL;
		assert_int_equal(kf_fs_read(&old, NULL, backup, 1 << 20, &err), 0);
		assert_string_equal(old, other_config);
		free(old);
	}
	free(backup);
	kf_ynode_free(kc);
}

static void test_kubeconfig_merge_again_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, true };
	struct kf_err err;
	bool changed = false;
	char *backup = NULL, *first = NULL, *second = NULL;

	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, &backup, &err), 0);
	assert_true(changed);
	assert_null(backup); /* nothing was there before */
	assert_int_equal(kf_fs_read(&first, NULL, f->path, 1 << 20, &err), 0);
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, &backup, &err), 0);
	assert_false(changed);
	assert_null(backup);
	assert_int_equal(kf_fs_read(&second, NULL, f->path, 1 << 20, &err), 0);
	assert_string_equal(first, second);
	free(first);
	free(second);
	{
		char *out = kubectl(f->path, "current-context", NULL, NULL, NULL);
		assert_string_equal(out, "k3sforge-lab\n");
		free(out);
	}
	kf_ynode_free(kc);
}

static void test_kubeconfig_merge_refuses_a_conflict_unless_overwrite(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours(), *other = ours();
	struct kf_kubeconfig_merge_opts opts = { false, false };
	struct kf_err err;
	bool changed = false;
	char *before = NULL, *after = NULL, *out;

	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, NULL, &err), 0);
	assert_int_equal(kf_fs_read(&before, NULL, f->path, 1 << 20, &err), 0);
	/* Same names, another server: an older lab. */
	kf_ymap_set_str(kf_ymap_get(kf_ymap_get(other, "clusters")->items[0], "cluster"), "server",
			"https://192.168.6.99:6443");
	assert_int_equal(kf_kubeconfig_merge_file(f->path, other, &opts, &changed, NULL, &err),
			 KF_EEXIST);
	assert_non_null(strstr(err.msg, "different cluster entry named 'k3sforge-lab'"));
	/* From `up` too, the message names the command that takes the option. */
	assert_non_null(strstr(err.msg, "`k3sforge kubeconfig --overwrite`"));
	assert_false(changed);
	assert_int_equal(kf_fs_read(&after, NULL, f->path, 1 << 20, &err), 0);
	assert_string_equal(before, after);
	opts.overwrite = true;
	assert_int_equal(kf_kubeconfig_merge_file(f->path, other, &opts, &changed, NULL, &err), 0);
	assert_true(changed);
	out = kubectl(f->path, "view", "-o", "jsonpath={.clusters[*].cluster.server}", NULL);
	assert_string_equal(out, "https://192.168.6.99:6443");
	free(out);
	free(before);
	free(after);
	kf_ynode_free(kc);
	kf_ynode_free(other);
}

static void test_kubeconfig_merge_refuses_a_broken_target(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, false };
	struct kf_err err;
	bool changed = false;
	const char *broken = "clusters: [\n";
	char kdir[300];

	snprintf(kdir, sizeof(kdir), "%s/kube", f->dir);
	kf_fs_mkdirs(kdir, 0700, &err);
	assert_int_equal(kf_fs_write_atomic(f->path, broken, strlen(broken), 0600, &err), 0);
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, NULL, &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "--no-merge"));
	assert_false(changed);
	kf_ynode_free(kc);
}

static void mkdir_in(const struct fx *f, const char *sub)
{
	char d[400];
	struct kf_err err;

	snprintf(d, sizeof(d), "%s/%s", f->dir, sub);
	assert_int_equal(kf_fs_mkdirs(d, 0700, &err), 0);
}

/* Names in dir starting with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* WSL: ~/.kube/config -> /mnt/c/Users/op/.kube/config, here through two links, one relative. */
static void test_kubeconfig_merge_writes_through_a_symlink_to_its_target(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, true };
	struct kf_err err;
	bool changed = false;
	char *backup = NULL, *resolved = NULL, *out, *old = NULL;
	char win[600], hop[400], windir[400];
	struct stat st;

	mkdir_in(f, "kube");
	mkdir_in(f, "win/kube");
	snprintf(windir, sizeof(windir), "%s/win/kube", f->dir);
	snprintf(win, sizeof(win), "%s/config", windir);
	snprintf(hop, sizeof(hop), "%s/kube/hop", f->dir);
	assert_int_equal(kf_fs_write_atomic(win, other_config, strlen(other_config), 0644, &err), 0);
	assert_int_equal(symlink(win, hop), 0);
	assert_int_equal(symlink("hop", f->path), 0);
	assert_int_equal(kf_kubeconfig_write_target(&resolved, f->path, &err), 0);
	assert_string_equal(resolved, win);
	free(resolved);

	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, &backup, &err), 0);
	assert_true(changed);
	/* The links are still links, and the file they name holds the lab. */
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(hop, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	out = kubectl(win, "get-contexts", "-o", "name", NULL);
	assert_non_null(strstr(out, "prod\n"));
	assert_non_null(strstr(out, "k3sforge-lab\n"));
	free(out);
	out = kubectl(f->path, "current-context", NULL, NULL, NULL);
	assert_string_equal(out, "k3sforge-lab\n");
	free(out);
	/* The backup sits beside the target and holds the old file; no temp file is left anywhere. */
	assert_non_null(backup);
	assert_int_equal(strncmp(backup, win, strlen(win)), 0);
	assert_int_equal(kf_fs_read(&old, NULL, backup, 1 << 20, &err), 0);
	assert_string_equal(old, other_config);
	free(old);
	free(backup);
	assert_int_equal(count_prefixed(windir, "config.tmp."), 0);
	{
		char kdir[400];
		snprintf(kdir, sizeof(kdir), "%s/kube", f->dir);
		assert_int_equal(count_prefixed(kdir, "config."), 0);
	}
	kf_ynode_free(kc);
}

static void test_kubeconfig_merge_creates_the_missing_target_of_a_link(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, false };
	struct kf_err err;
	bool changed = false;
	char *backup = NULL, *out;
	char win[400];
	struct stat st;

	mkdir_in(f, "kube");
	snprintf(win, sizeof(win), "%s/win/kube/config", f->dir);
	assert_int_equal(symlink("../win/kube/config", f->path), 0);
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, &backup, &err), 0);
	assert_true(changed);
	assert_null(backup);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(win, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	out = kubectl(f->path, "current-context", NULL, NULL, NULL);
	assert_string_equal(out, "k3sforge-lab\n");
	free(out);
	kf_ynode_free(kc);
}

static void test_kubeconfig_merge_refuses_a_symlink_loop(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours();
	struct kf_kubeconfig_merge_opts opts = { false, false };
	struct kf_err err;
	bool changed = false;
	char other[400];
	struct stat st;

	mkdir_in(f, "kube");
	snprintf(other, sizeof(other), "%s/kube/other", f->dir);
	assert_int_equal(symlink("other", f->path), 0);
	assert_int_equal(symlink("config", other), 0);
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, NULL, &err),
			 KF_EFAIL);
	assert_non_null(strstr(err.msg, "symbolic links"));
	assert_false(changed);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	kf_ynode_free(kc);
}

/* kubectl config set-context k3sforge-lab --namespace web, then a rerun and an --overwrite. */
static void test_kubeconfig_merge_keeps_the_users_namespace_on_overwrite(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = ours(), *other = ours();
	struct kf_kubeconfig_merge_opts opts = { false, true };
	struct kf_err err;
	bool changed = false;
	char *out;

	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, NULL, &err), 0);
	out = kubectl(f->path, "set-context", "k3sforge-lab", "--namespace=web", NULL);
	free(out);
	/* The same lab again: the namespace (and kubectl's key order) is no conflict, no rewrite. */
	assert_int_equal(kf_kubeconfig_merge_file(f->path, kc, &opts, &changed, NULL, &err), 0);
	assert_false(changed);
	/* A rebuilt lab (new server) with --overwrite: the server changes, the namespace stays. */
	kf_ymap_set_str(kf_ymap_get(kf_ymap_get(other, "clusters")->items[0], "cluster"), "server",
			"https://192.168.6.99:6443");
	opts.overwrite = true;
	assert_int_equal(kf_kubeconfig_merge_file(f->path, other, &opts, &changed, NULL, &err), 0);
	assert_true(changed);
	out = kubectl(f->path, "view", "-o",
		      "jsonpath={.contexts[?(@.name==\"k3sforge-lab\")].context.namespace}", NULL);
	assert_string_equal(out, "web");
	free(out);
	out = kubectl(f->path, "view", "-o", "jsonpath={.clusters[*].cluster.server}", NULL);
	assert_string_equal(out, "https://192.168.6.99:6443");
	free(out);
	kf_ynode_free(kc);
	kf_ynode_free(other);
}

static void test_kubeconfig_default_path_follows_KUBECONFIG(void **state)
{
	char *p;
	(void)state;
	setenv("KUBECONFIG", "/a/first:/b/second", 1);
	p = kf_kubeconfig_default_path();
	assert_string_equal(p, "/a/first");
	free(p);
	unsetenv("KUBECONFIG");
	setenv("HOME", "/home/op", 1);
	p = kf_kubeconfig_default_path();
	assert_string_equal(p, "/home/op/.kube/config");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeconfig_rewrite_points_at_the_master_and_renames),
		cmocka_unit_test(test_kubeconfig_rewrite_refuses_a_foreign_file),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_keeps_other_contexts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_again_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_refuses_a_conflict_unless_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_refuses_a_broken_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_writes_through_a_symlink_to_its_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_creates_the_missing_target_of_a_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_refuses_a_symlink_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_merge_keeps_the_users_namespace_on_overwrite, setup, teardown),
		cmocka_unit_test(test_kubeconfig_default_path_follows_KUBECONFIG),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
