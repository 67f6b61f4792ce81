/* The guest recipe against the real validators (cloud-init 22.4's schema, subiquity's
 * autoinstall schema with python3-jsonschema, shellcheck, bash -n), and the bootstrap scripts
 * run for real in a sandbox root with test doubles of k3s, systemctl and install.sh
 * (tests/fakes/recipe/). Inputs are made by tests/lib/recipe_fixture.sh with
 * ssh-keygen and openssl, in the shape prep leaves them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/proc.h"
#include "k3sforge/render.h"

#define SCHEMA KF_TESTS_DIR "/data/schema/autoinstall-schema.json"
#define CHECK KF_TESTS_DIR "/lib/recipe_check.py"
#define FAKES KF_TESTS_DIR "/fakes/recipe"

static char g_dir[64];     /* the fixture: <g_dir>/out is the output directory */
static char g_out[128];

/* ---- helpers --------------------------------------------------------------------------- */

static struct kf_proc run_cmd(const char *const *argv, const char *const *env)
{
	struct kf_proc p;
	struct kf_err err;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.env = env;
	p.timeout_ms = 120000;
	kf_err_clear(&err);
	if (kf_proc_run(&p, &err) != 0)
		fail_msg("%s: %s", argv[0], err.msg);
	return p;
}

/* Runs argv and fails the test with its output unless it exits 0. */
static void must_run(const char *const *argv)
{
	struct kf_proc p = run_cmd(argv, NULL);

	if (p.exit_code != 0 || p.signaled)
		fail_msg("%s %s failed (exit %d):\n%s%s", argv[0], argv[1] ? argv[1] : "",
			 p.exit_code, kf_buf_str(&p.out), kf_buf_str(&p.errout));
	kf_proc_free(&p);
}

static struct kf_config *lab(void)
{
	struct kf_config *cfg;
	struct kf_err err;

	assert_int_equal(kf_config_default(&cfg, &err), 0);
	return cfg;
}

static struct kf_node_recipe *render(const struct kf_config *cfg, const char *node)
{
	struct kf_recipe_inputs *in = NULL;
	struct kf_node_recipe *rc = NULL;
	struct kf_err err;

	kf_err_clear(&err);
	if (kf_recipe_inputs_load(&in, cfg, g_out, &err) != 0)
		fail_msg("inputs: %s", err.msg);
	if (kf_recipe_render_node(&rc, cfg, in, node, KF_SOURCE_DIR "/templates", &err) != 0)
		fail_msg("render %s: %s", node, err.msg);
	kf_recipe_inputs_free(in);
	return rc;
}

static void write_text(const char *path, const char *text)
{
	struct kf_err err;

	if (kf_fs_write_atomic(path, text, strlen(text), 0644, &err) != 0)
		fail_msg("%s", err.msg);
}

static char *read_text(const char *path)
{
	char *s = NULL;
	struct kf_err err;

	if (kf_fs_read(&s, NULL, path, 64 * 1024 * 1024, &err) != 0)
		fail_msg("%s", err.msg);
	return s;
}

/* A short image wait in a rendered bootstrap script, so a test does not sit out the real
 * 300 s bound. */
static void shorten_image_wait(const char *script)
{
	static const char from[] = "IMAGES_WAIT_S=300", to[] = "IMAGES_WAIT_S=4  ";
	char *s = read_text(script);
	size_t off = 0;

	while (s[off] && strncmp(s + off, from, sizeof(from) - 1) != 0)
		off++;
	assert_true(s[off] != '\0');
	memcpy(s + off, to, sizeof(to) - 1);
	write_text(script, s);
	free(s);
}

static void tmpdir(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/kfr.XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static void rmtree(const char *d)
{
	kf_fs_remove_tree(d, NULL);
}

/* guest.debs of the fixture: <dir>/debs with kf-hello_1.0_all.deb (caller frees). */
static char *debs_dir(void)
{
	char *d = malloc(strlen(g_dir) + 8);

	sprintf(d, "%s/debs", g_dir);
	return d;
}

/* The nodes of the lab rendered with several configurations: default, KubeSphere off,
 * pinned pause image + disable list + MAC + guest.debs, image mode (guest.image). */
static struct kf_config *variant(int v)
{
	struct kf_config *cfg = lab();

	if (v == 1) {
		cfg->addons.kubesphere = false;
	} else if (v == 2) {
		cfg->k3s.pause_image = strdup("rancher/mirrored-pause:3.6");
		cfg->k3s.disable = calloc(2, sizeof(char *));
		cfg->k3s.disable[0] = strdup("servicelb");
		cfg->k3s.disable[1] = strdup("metrics-server");
		cfg->k3s.n_disable = 2;
		cfg->nodes[0].mac = strdup("00:50:56:3f:00:10");
		cfg->nodes[1].mac = strdup("00:50:56:3f:00:11");
		cfg->guest.debs = debs_dir();
	} else if (v == 3) {
		cfg->guest.image = strdup("/images/jammy-server-cloudimg-amd64.img");
	}
	return cfg;
}

/* ---- fixture --------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	/* the lab's prep outputs, and a real .deb (dpkg-deb) in <dir>/debs for guest.debs */
	const char *argv[] = { "bash", "-c",
			       "set -e; source \"$1\"; recipe_fixture \"$2\" k3s-master1 k3s-worker1 "
			       "k3s-worker2; d=$(dirname \"$2\"); mkdir -p \"$d/deb/DEBIAN\" "
			       "\"$d/deb/usr/share/kf-hello\" \"$d/debs\"; printf 'Package: kf-hello\\n"
			       "Version: 1.0\\nArchitecture: all\\nMaintainer: k3sforge tests "
			       "<t@example.invalid>\\nDescription: test\\n test\\n' "
			       ">\"$d/deb/DEBIAN/control\"; echo hello >\"$d/deb/usr/share/kf-hello/hello\"; "
			       "dpkg-deb --root-owner-group --build \"$d/deb\" "
			       "\"$d/debs/kf-hello_1.0_all.deb\" >/dev/null",
			       "_", KF_TESTS_DIR "/lib/recipe_fixture.sh", g_out, NULL };
	const char *env[] = { "KF_SOURCE_DIR=" KF_SOURCE_DIR, NULL };
	struct kf_proc p;

	(void)state;
	tmpdir(g_dir, sizeof(g_dir));
	snprintf(g_out, sizeof(g_out), "%s/out", g_dir);
	p = run_cmd(argv, env);
	if (p.exit_code != 0) {
		fprintf(stderr, "fixture failed: %s%s\n", kf_buf_str(&p.out), kf_buf_str(&p.errout));
		kf_proc_free(&p);
		return -1;
	}
	kf_proc_free(&p);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rmtree(g_dir);
	return 0;
}

/* ---- the rendered files ---------------------------------------------------------------- */

static void check_all_nodes(void (*check)(const struct kf_node_recipe *, const char *dir))
{
	char dir[64];

	tmpdir(dir, sizeof(dir));
	for (int v = 0; v < 4; v++) {
		struct kf_config *cfg = variant(v);
		for (size_t i = 0; i < cfg->n_nodes; i++) {
			struct kf_node_recipe *rc = render(cfg, cfg->nodes[i].name);
			check(rc, dir);
			kf_node_recipe_free(rc);
		}
		kf_config_free(cfg);
	}
	rmtree(dir);
}

static void schema_user_data(const struct kf_node_recipe *rc, const char *dir)
{
	char path[128];
	const char *argv[] = { "cloud-init", "schema", "--config-file", path, NULL };

	snprintf(path, sizeof(path), "%s/user-data", dir);
	write_text(path, rc->user_data);
	must_run(argv);
}

static void test_recipe_user_data_passes_cloud_init_schema(void **state)
{
	(void)state;
	check_all_nodes(schema_user_data);
}

static void schema_autoinstall_as_cloud_config(const struct kf_node_recipe *rc, const char *dir)
{
	char path[128];
	const char *argv[] = { "cloud-init", "schema", "--config-file", path, NULL };

	snprintf(path, sizeof(path), "%s/autoinstall-user-data", dir);
	write_text(path, rc->autoinstall);
	must_run(argv);
}

static void test_recipe_autoinstall_passes_cloud_init_schema(void **state)
{
	(void)state;
	check_all_nodes(schema_autoinstall_as_cloud_config);
}

static void schema_subiquity(const struct kf_node_recipe *rc, const char *dir)
{
	char path[128];
	const char *argv[] = { "python3", CHECK, "autoinstall", path, SCHEMA, NULL };

	snprintf(path, sizeof(path), "%s/autoinstall-user-data", dir);
	write_text(path, rc->autoinstall);
	must_run(argv);
}

static void test_recipe_autoinstall_validates_against_subiquity_schema(void **state)
{
	(void)state;
	check_all_nodes(schema_subiquity);
}

static void lint_scripts(const struct kf_node_recipe *rc, const char *dir)
{
	char path[128], sdir[128];
	const char *argv[] = { "python3", CHECK, "scripts", path, sdir, NULL };
	struct kf_proc p;
	char *names, *save = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/autoinstall-user-data", dir);
	snprintf(sdir, sizeof(sdir), "%s/scripts", dir);
	write_text(path, rc->autoinstall);
	p = run_cmd(argv, NULL);
	assert_int_equal(p.exit_code, 0);
	names = strdup(kf_buf_str(&p.out));
	for (char *name = strtok_r(names, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		char script[256];
		bool posix = strcmp(name, "late-commands.sh") == 0;
		const char *sc[] = { "shellcheck", "-s", posix ? "sh" : "bash", script, NULL };
		const char *bn[] = { posix ? "sh" : "bash", "-n", script, NULL };
		snprintf(script, sizeof(script), "%s/%s", sdir, name);
		must_run(sc);
		must_run(bn);
		n++;
	}
	/* node prep, sync-time, the bootstrap, the late-commands */
	assert_int_equal(n, 4);
	free(names);
	kf_proc_free(&p);
}

static void test_recipe_scripts_pass_shellcheck_and_bash_n(void **state)
{
	(void)state;
	check_all_nodes(lint_scripts);
}

static void nested_equal(const struct kf_node_recipe *rc, const char *dir)
{
	char ai[128], ud[128], nc[128];
	const char *argv[] = { "python3", CHECK, "nested", ai, ud, nc, NULL };

	snprintf(ai, sizeof(ai), "%s/autoinstall-user-data", dir);
	snprintf(ud, sizeof(ud), "%s/user-data", dir);
	snprintf(nc, sizeof(nc), "%s/network-config", dir);
	write_text(ai, rc->autoinstall);
	write_text(ud, rc->user_data);
	write_text(nc, rc->network_config);
	must_run(argv);
}

static void test_recipe_autoinstall_carries_the_installed_user_data_and_network(void **state)
{
	(void)state;
	check_all_nodes(nested_equal);
}

static void test_recipe_network_config_is_static_netplan_v2(void **state)
{
	char dir[64], path[128];
	const char *argv[] = { "python3", CHECK, "netplan", path, NULL };
	struct kf_config *cfg = variant(2);
	struct kf_node_recipe *with_mac = render(cfg, "k3s-worker1");
	struct kf_node_recipe *by_name = render(cfg, "k3s-worker2");

	(void)state;
	tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/network-config", dir);
	write_text(path, with_mac->network_config);
	must_run(argv);
	assert_non_null(strstr(with_mac->network_config, "macaddress: \"00:50:56:3f:00:11\""));
	assert_non_null(strstr(with_mac->network_config, "- \"192.168.6.11/24\""));
	write_text(path, by_name->network_config);
	must_run(argv);
	assert_non_null(strstr(by_name->network_config, "name: \"e*\""));
	assert_null(strstr(by_name->network_config, "macaddress"));
	/* the installer gets the same network */
	assert_non_null(strstr(with_mac->autoinstall, "macaddress: \"00:50:56:3f:00:11\""));
	kf_node_recipe_free(with_mac);
	kf_node_recipe_free(by_name);
	kf_config_free(cfg);
	rmtree(dir);
}

static char *k3s_config_of(const struct kf_node_recipe *rc)
{
	char dir[64], ud[128], out[128], *text;
	const char *argv[] = { "python3", CHECK, "file", ud, "/etc/rancher/k3s/config.yaml", out,
			       NULL };

	tmpdir(dir, sizeof(dir));
	snprintf(ud, sizeof(ud), "%s/user-data", dir);
	snprintf(out, sizeof(out), "%s/config.yaml", dir);
	write_text(ud, rc->user_data);
	must_run(argv);
	text = read_text(out);
	rmtree(dir);
	return text;
}

static void test_recipe_k3s_config_pins_pause_image_only_when_configured(void **state)
{
	struct kf_config *plain = variant(0), *pinned = variant(2);
	struct kf_node_recipe *a = render(plain, "k3s-master1"), *b = render(pinned, "k3s-master1");
	char *ca = k3s_config_of(a), *cb = k3s_config_of(b);

	(void)state;
	assert_null(strstr(ca, "pause-image"));
	assert_null(strstr(ca, "disable:"));
	assert_non_null(strstr(cb, "pause-image: \"rancher/mirrored-pause:3.6\""));
	assert_non_null(strstr(cb, "disable:\n  - \"servicelb\"\n  - \"metrics-server\"\n"));
	/* never the kubelet flag the seeds used */
	assert_null(strstr(cb, "pod-infra-container-image"));
	free(ca);
	free(cb);
	kf_node_recipe_free(a);
	kf_node_recipe_free(b);
	kf_config_free(plain);
	kf_config_free(pinned);
}

static void test_recipe_k3s_config_of_master_and_worker(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *m = render(cfg, "k3s-master1"), *w = render(cfg, "k3s-worker2");
	char *cm = k3s_config_of(m), *cw = k3s_config_of(w), *token;
	char want[256];

	(void)state;
	snprintf(want, sizeof(want), "%s/secrets/k3s-token", g_out);
	token = read_text(want);
	token[strcspn(token, "\n")] = '\0';
	snprintf(want, sizeof(want), "token: \"%s\"\n", token);
	assert_non_null(strstr(cm, want));
	assert_non_null(strstr(cw, want));
	assert_non_null(strstr(cm, "node-ip: \"192.168.6.10\"\n"));
	assert_non_null(strstr(cm, "tls-san:\n  - \"192.168.6.10\"\n  - \"k3s-master1\"\n"));
	assert_non_null(strstr(cm, "disable-default-registry-endpoint: true\n"));
	assert_null(strstr(cm, "server:"));
	assert_non_null(strstr(cw, "server: \"https://192.168.6.10:6443\"\n"));
	assert_non_null(strstr(cw, "node-ip: \"192.168.6.12\"\n"));
	assert_non_null(strstr(cw, "disable-default-registry-endpoint: true\n"));
	assert_null(strstr(cw, "tls-san"));
	free(token);
	free(cm);
	free(cw);
	kf_node_recipe_free(m);
	kf_node_recipe_free(w);
	kf_config_free(cfg);
}

/* k3s writes the admin kubeconfig (cluster-admin credentials) with this mode: owner only, so
 * no unprivileged process on the master can read it; `k3sforge kubeconfig` reads it with
 * `sudo -n cat` when SFTP as the operator cannot. Workers write no kubeconfig. */
static void test_recipe_master_admin_kubeconfig_is_owner_only(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *m = render(cfg, "k3s-master1"), *w = render(cfg, "k3s-worker1");
	char *cm = k3s_config_of(m), *cw = k3s_config_of(w);

	(void)state;
	assert_non_null(strstr(cm, "\nwrite-kubeconfig-mode: \"0600\"\n"));
	assert_null(strstr(cm, "0644"));
	assert_null(strstr(cw, "write-kubeconfig-mode"));
	free(cm);
	free(cw);
	kf_node_recipe_free(m);
	kf_node_recipe_free(w);
	kf_config_free(cfg);
}

static void test_recipe_pins_only_the_ed25519_host_key(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-worker1");
	char path[256], *pub;

	(void)state;
	snprintf(path, sizeof(path), "%s/ssh/host/k3s-worker1_ed25519.pub", g_out);
	pub = read_text(path);
	pub[strcspn(pub, "\n")] = '\0';
	assert_non_null(strstr(rc->user_data, pub));
	assert_non_null(strstr(rc->user_data, "ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY"));
	assert_non_null(strstr(rc->user_data, "ssh_deletekeys: true\n"));
	assert_non_null(strstr(rc->user_data, "ssh_genkeytypes: [ed25519]\n"));
	assert_null(strstr(rc->user_data, "rsa_"));
	assert_null(strstr(rc->user_data, "ecdsa_"));
	assert_non_null(strstr(rc->user_data, "ssh_pwauth: false\n"));
	assert_non_null(strstr(rc->user_data, "disable_root: true\n"));
	assert_non_null(strstr(rc->user_data, "lock_passwd: true\n"));
	assert_non_null(strstr(rc->user_data, "PermitRootLogin no\n"));
	assert_non_null(strstr(rc->autoinstall, "allow-pw: false\n"));
	free(pub);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

static void test_recipe_instance_id_follows_the_recipe(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *a = render(cfg, "k3s-master1"), *b = render(cfg, "k3s-master1"), *c;

	(void)state;
	assert_string_equal(a->instance_id, b->instance_id);
	free(cfg->guest.timezone);
	cfg->guest.timezone = strdup("UTC");
	c = render(cfg, "k3s-master1");
	assert_string_not_equal(a->instance_id, c->instance_id);
	assert_non_null(strstr(c->meta_data, c->instance_id));
	assert_non_null(strstr(c->meta_data, "local-hostname: \"k3s-master1\"\n"));
	kf_node_recipe_free(a);
	kf_node_recipe_free(b);
	kf_node_recipe_free(c);
	kf_config_free(cfg);
}

static void test_recipe_kubesphere_helmchart_uses_local_registry(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *m = render(cfg, "k3s-master1"), *w = render(cfg, "k3s-worker1");
	char path[256], *pw, want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/secrets/admin-password", g_out);
	pw = read_text(path);
	pw[strcspn(pw, "\n")] = '\0';
	snprintf(want, sizeof(want), "adminPassword: \"%s\"", pw);
	assert_non_null(strstr(m->user_data, want));
	assert_non_null(strstr(m->user_data, "global:\n            imageRegistry: \"192.168.6.1:5000\""));
	assert_non_null(strstr(m->user_data, "extension:\n            imageRegistry: \"192.168.6.1:5000\""));
	/* telemetry off through the Secret ks-core's helper looks up, not a dead value */
	assert_non_null(strstr(m->user_data, "name: io.kubesphere.config.platformconfig.telemetry"));
	assert_null(strstr(m->user_data, "telemetry:\n            enabled: false"));
	/* the chart travels in the ISO payload, not in user-data */
	assert_null(strstr(m->user_data, "chartContent: H4sI"));
	assert_null(strstr(w->user_data, "HelmChart"));
	free(pw);
	kf_node_recipe_free(m);
	kf_node_recipe_free(w);
	kf_config_free(cfg);
}

/* The installer is asked for what the recipe's scripts run (curl, zstd) and guest.packages,
 * each once; no longer the seeds' ops tools (jq is in universe: not on the ISO). */
static void test_recipe_packages_are_the_recipes_own_plus_configured(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc;
	const char *first;

	(void)state;
	for (size_t i = 0; i < cfg->guest.n_packages; i++)
		free(cfg->guest.packages[i]);
	free(cfg->guest.packages);
	cfg->guest.packages = calloc(2, sizeof(char *));
	cfg->guest.packages[0] = strdup("curl");
	cfg->guest.packages[1] = strdup("chrony");
	cfg->guest.n_packages = 2;
	rc = render(cfg, "k3s-worker1");
	assert_non_null(strstr(rc->autoinstall,
			       "  packages:\n    - \"curl\"\n    - \"zstd\"\n    - \"chrony\"\n"));
	first = strstr(rc->autoinstall, "    - \"curl\"\n");
	assert_non_null(first);
	assert_null(strstr(first + 1, "    - \"curl\"\n"));
	assert_null(strstr(rc->autoinstall, "    - \"jq\"\n"));
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

/* What docs/recipe.md says about the installed user: subiquity's identity entry comes first
 * and wins where both set a key (lock_passwd false, passwd "!"), ours adds the sudo rule; the
 * only key is the operator's. Computed with cloud-init's own user normalization. */
static void test_recipe_installed_user_is_identitys_entry_plus_our_sudo_rule(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-worker1");
	char dir[64], ai[128], want[600];
	const char *argv[] = { "/usr/bin/python3", CHECK, "installed-user", ai, NULL };
	struct kf_proc p;
	const char *out;

	(void)state;
	tmpdir(dir, sizeof(dir));
	snprintf(ai, sizeof(ai), "%s/autoinstall-user-data", dir);
	write_text(ai, rc->autoinstall);
	p = run_cmd(argv, NULL);
	if (p.exit_code != 0)
		fail_msg("installed-user: %s%s", kf_buf_str(&p.out), kf_buf_str(&p.errout));
	out = kf_buf_str(&p.out);
	assert_non_null(strstr(out, "\"lock_passwd\": false"));
	assert_non_null(strstr(out, "\"passwd\": \"!\""));
	assert_non_null(strstr(out, "\"sudo\": \"ALL=(ALL) NOPASSWD:ALL\""));
	{
		const char *k = strstr(rc->autoinstall, "ssh-ed25519 ");
		assert_non_null(k);
		snprintf(want, sizeof(want), "\"ssh_authorized_keys\": [\"%.*s\"]",
			 (int)strcspn(k, "\""), k);
		assert_non_null(strstr(out, want)); /* the operator's key, once */
	}
	kf_proc_free(&p);
	rmtree(dir);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

/* The late-command's shell script (inside sh -c '...') of the guest.debs install. */
static char *debs_late_command(const char *autoinstall)
{
	const char *c = strstr(autoinstall, "curtin in-target --target=/target -- sh -c '"), *e;

	if (!c)
		return NULL;
	c = strchr(c, '\'') + 1;
	e = strchr(c, '\'');
	assert_non_null(e);
	return strndup(c, (size_t)(e - c));
}

/* guest.debs: the files go into the payload (debs/<file>, in SHA256SUMS) and the installer's
 * late-commands check them against SHA256SUMS and dpkg-install them in the target. Run here
 * as rendered, with dpkg pointed at a scratch root instead of /target. */
static void test_recipe_guest_debs_travel_in_the_payload_and_install_in_late_commands(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_recipe_inputs *in = NULL;
	struct kf_node_recipe *rc = NULL;
	char payload[160], root[160], script[2048], *cmd, *sums;
	struct kf_err err;
	struct kf_buf b;

	(void)state;
	cfg->guest.debs = debs_dir();
	assert_int_equal(kf_recipe_inputs_load(&in, cfg, g_out, &err), 0);
	assert_string_equal(in->payload[in->n_payload - 1].name, "debs/kf-hello_1.0_all.deb");
	assert_int_equal(kf_recipe_render_node(&rc, cfg, in, "k3s-worker1",
					       KF_SOURCE_DIR "/templates", &err), 0);
	cmd = debs_late_command(rc->autoinstall);
	assert_non_null(cmd);
	snprintf(payload, sizeof(payload), "%s/seed", g_dir);
	snprintf(root, sizeof(root), "%s/target", g_dir);
	assert_int_equal(kf_recipe_write_payload(in, payload, &err), 0);
	{
		char p[200];
		snprintf(p, sizeof(p), "%s/SHA256SUMS", payload);
		sums = read_text(p);
		assert_non_null(strstr(sums, "  debs/kf-hello_1.0_all.deb\n"));
		free(sums);
	}
	/* the rendered script, in the payload copy, with dpkg working on a scratch root */
	kf_buf_init(&b, 8192);
	for (const char *s = cmd; *s;) {
		if (strncmp(s, "cd " KF_SEED_DIR, 3 + strlen(KF_SEED_DIR)) == 0) {
			kf_buf_printf(&b, "cd %s", payload);
			s += 3 + strlen(KF_SEED_DIR);
		} else if (strncmp(s, "dpkg --install", 14) == 0) {
			kf_buf_printf(&b, "dpkg --force-not-root --force-bad-path --root=%s "
				      "--log=/dev/null --install", root);
			s += 14;
		} else {
			kf_buf_append(&b, s++, 1);
		}
	}
	snprintf(script, sizeof(script), "mkdir -p %s/var/lib/dpkg/info %s/var/lib/dpkg/updates && "
		 "touch %s/var/lib/dpkg/status && %s && cat %s/usr/share/kf-hello/hello",
		 root, root, root, kf_buf_str(&b), root);
	{
		const char *argv[] = { "sh", "-c", script, NULL };
		struct kf_proc p = run_cmd(argv, NULL);
		if (p.exit_code != 0)
			fail_msg("late-command failed: %s\n%s%s", script, kf_buf_str(&p.out),
				 kf_buf_str(&p.errout));
		assert_non_null(strstr(kf_buf_str(&p.out), "hello\n"));
		kf_proc_free(&p);
	}
	/* a .deb changed after the build: the checksum stops the install */
	{
		char deb[200];
		snprintf(deb, sizeof(deb), "%s/debs/kf-hello_1.0_all.deb", payload);
		write_text(deb, "not the package\n");
		const char *argv[] = { "sh", "-c", kf_buf_str(&b), NULL };
		struct kf_proc p = run_cmd(argv, NULL);
		assert_int_not_equal(p.exit_code, 0);
		kf_proc_free(&p);
	}
	kf_buf_free(&b);
	free(cmd);
	kf_fs_remove_tree(payload, NULL);
	kf_fs_remove_tree(root, NULL);
	kf_node_recipe_free(rc);
	kf_recipe_inputs_free(in);
	kf_config_free(cfg);
}

/* A package whose .deb is in guest.debs (here also the recipe's own curl) is not asked of the
 * installer, so neither its packages: list nor the ISO check needs it. */
static void test_recipe_packages_brought_as_debs_are_not_asked_of_the_installer(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc;
	char deb[200];
	const char **v;
	size_t n;

	(void)state;
	cfg->guest.debs = debs_dir();
	snprintf(deb, sizeof(deb), "%s/curl_7.81.0-1ubuntu1.16_amd64.deb", cfg->guest.debs);
	write_text(deb, "stand-in");
	free(cfg->guest.packages);
	cfg->guest.packages = calloc(2, sizeof(char *));
	cfg->guest.packages[0] = strdup("kf-hello");
	cfg->guest.packages[1] = strdup("htop");
	cfg->guest.n_packages = 2;
	v = kf_recipe_packages(cfg, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "zstd");
	assert_string_equal(v[1], "htop");
	free(v);
	rc = render(cfg, "k3s-worker1");
	assert_non_null(strstr(rc->autoinstall, "  packages:\n    - \"zstd\"\n    - \"htop\"\n  network:"));
	unlink(deb);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

/* Without guest.debs there is no dpkg late-command. */
/* Image mode: no installer copies the payload, so the installed system's user-data does, from
 * the payload CD, before node-prep (which starts the bootstrap that reads it); and it keeps
 * its cloud-init instance once finalize has taken the seed CD out. Installer mode has neither. */
static void test_recipe_image_mode_copies_the_payload_cd_before_node_prep(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc;
	const char *copy, *prep;

	(void)state;
	rc = render(cfg, "k3s-worker1");
	assert_null(strstr(rc->user_data, "LABEL=KFPAYLOAD"));
	assert_null(strstr(rc->user_data, "manual_cache_clean"));
	kf_node_recipe_free(rc);
	cfg->guest.image = strdup("/images/jammy.img");
	rc = render(cfg, "k3s-worker1");
	copy = strstr(rc->user_data, "mount -o ro LABEL=KFPAYLOAD $m; cp -a $m/k3sforge/. /usr/local/seed/");
	prep = strstr(rc->user_data, "- [/usr/local/sbin/k3sforge-node-prep.sh]");
	assert_non_null(copy);
	assert_non_null(prep);
	assert_true(copy < prep);
	assert_non_null(strstr(rc->user_data, "> /var/lib/iso-copy-complete"));
	assert_non_null(strstr(rc->user_data, "manual_cache_clean: true"));
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

static void test_recipe_without_guest_debs_installs_no_debs(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-master1");

	(void)state;
	assert_null(strstr(rc->autoinstall, "dpkg"));
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

/* A guest.debs file for another architecture is refused by name before anything is built. */
static void test_recipe_guest_debs_refuses_a_foreign_architecture(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_recipe_inputs *in = NULL;
	char dir[160], deb[200];
	struct kf_err err;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/debs-arm", g_dir);
	snprintf(deb, sizeof(deb), "%s/kf-hello_1.0_arm64.deb", dir);
	assert_int_equal(kf_fs_mkdirs(dir, 0755, &err), 0);
	write_text(deb, "x");
	cfg->guest.debs = strdup(dir);
	assert_int_equal(kf_recipe_inputs_load(&in, cfg, g_out, &err), KF_ECONFIG);
	assert_null(in);
	assert_non_null(strstr(err.msg, "kf-hello_1.0_arm64.deb"));
	kf_config_free(cfg);
}

static void test_recipe_missing_input_says_run_prep(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_recipe_inputs *in = NULL;
	struct kf_err err;
	char path[256], moved[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/secrets/k3s-token", g_out);
	snprintf(moved, sizeof(moved), "%s/secrets/k3s-token.away", g_out);
	assert_int_equal(rename(path, moved), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_recipe_inputs_load(&in, cfg, g_out, &err), KF_ENOTFOUND);
	assert_null(in);
	assert_non_null(strstr(err.msg, "secrets/k3s-token"));
	assert_non_null(strstr(err.msg, "k3sforge prep"));
	assert_int_equal(rename(moved, path), 0);
	kf_config_free(cfg);
}

static void test_recipe_seed_dir_holds_the_installed_system_seed(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-worker2");
	char dir[64], sub[128], path[192], *s;
	struct kf_err err;
	struct stat st;

	(void)state;
	tmpdir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/k3s-worker2", dir);
	assert_int_equal(kf_recipe_write_seed(rc, sub, &err), 0);
	snprintf(path, sizeof(path), "%s/user-data", sub);
	s = read_text(path);
	assert_string_equal(s, rc->user_data);
	assert_null(strstr(s, "autoinstall:"));
	free(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/meta-data", sub);
	s = read_text(path);
	assert_string_equal(s, rc->meta_data);
	free(s);
	snprintf(path, sizeof(path), "%s/network-config", sub);
	s = read_text(path);
	assert_string_equal(s, rc->network_config);
	free(s);
	rmtree(dir);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

/* ---- the bootstrap scripts in a sandbox --------------------------------------------------- */

struct sandbox {
	char root[64];
	char script[128];
	char log[128];
	char marker[160];
};

static void copy_in(const char *from, const char *root, const char *name, mode_t mode)
{
	char dst[256];
	struct kf_err err;

	snprintf(dst, sizeof(dst), "%s/usr/local/seed/%s", root, name);
	if (kf_fs_copy(from, dst, mode, &err) != 0)
		fail_msg("%s", err.msg);
}

/* Builds ROOT/usr/local/seed like the installer's late-commands leave it, and extracts the
 * node's bootstrap script (and the KubeSphere manifest head) from its rendered user-data. */
static void sandbox_new(struct sandbox *sb, const struct kf_node_recipe *rc, bool master)
{
	static const char *const files[] = { "k3s", "install.sh", "k3s-airgap-images-amd64.tar.zst",
					     "k3s-images.txt", "ks-core-1.1.4.tgz" };
	char seed[128], ud[128], path[256], sums[2048] = "";
	const char *bname = master ? "k3s-bootstrap" : "k3s-agent-bootstrap";
	struct kf_err err;

	tmpdir(sb->root, sizeof(sb->root));
	snprintf(seed, sizeof(seed), "%s/usr/local/seed", sb->root);
	assert_int_equal(kf_fs_mkdirs(seed, 0755, &err), 0);
	snprintf(path, sizeof(path), "%s/var/lib", sb->root);
	assert_int_equal(kf_fs_mkdirs(path, 0755, &err), 0);
	snprintf(path, sizeof(path), "%s/etc/k3sforge", sb->root);
	assert_int_equal(kf_fs_mkdirs(path, 0755, &err), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char from[256], hex[KF_SHA256_HEX_LEN + 1];
		snprintf(from, sizeof(from), "%s/artifacts/%s", g_out, files[i]);
		copy_in(from, sb->root, files[i], 0755);
		assert_int_equal(kf_sha256_file(from, hex, &err), 0);
		snprintf(sums + strlen(sums), sizeof(sums) - strlen(sums), "%s  %s\n", hex, files[i]);
	}
	snprintf(path, sizeof(path), "%s/SHA256SUMS", seed);
	write_text(path, sums);

	snprintf(ud, sizeof(ud), "%s/user-data", sb->root);
	write_text(ud, rc->user_data);
	snprintf(sb->script, sizeof(sb->script), "%s/%s.sh", sb->root, bname);
	snprintf(path, sizeof(path), "/usr/local/sbin/%s.sh", bname);
	{
		const char *argv[] = { "python3", CHECK, "file", ud, path, sb->script, NULL };
		must_run(argv);
	}
	if (strstr(rc->user_data, "/etc/k3sforge/ks-core-helmchart.yaml")) {
		char mf[256];
		const char *argv[] = { "python3", CHECK, "file", ud,
				       "/etc/k3sforge/ks-core-helmchart.yaml", mf, NULL };
		snprintf(mf, sizeof(mf), "%s/etc/k3sforge/ks-core-helmchart.yaml", sb->root);
		must_run(argv);
	}
	snprintf(sb->log, sizeof(sb->log), "%s/fake.log", sb->root);
	snprintf(sb->marker, sizeof(sb->marker), "%s/var/lib/%s.done", sb->root, bname);
}

static struct kf_proc sandbox_run(const struct sandbox *sb)
{
	char root_env[128], path_env[4096];
	const char *env[] = { root_env, path_env, NULL };
	const char *argv[] = { "bash", sb->script, NULL };

	snprintf(root_env, sizeof(root_env), "K3SFORGE_ROOT=%s", sb->root);
	snprintf(path_env, sizeof(path_env), "PATH=%s:%s", FAKES, getenv("PATH"));
	return run_cmd(argv, env);
}

/* Line number (1-based) of the first log line containing `what` at or after line `from`;
 * 0 if none. */
static int log_line(const struct sandbox *sb, const char *what, int from)
{
	char *log = kf_fs_exists(sb->log) ? read_text(sb->log) : strdup("");
	int n = 1, found = 0;

	for (char *l = log; l && *l; n++) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (n >= from && strstr(l, what)) {
			found = n;
			break;
		}
		l = nl ? nl + 1 : NULL;
	}
	free(log);
	return found;
}

static int log_last_line(const struct sandbox *sb, const char *what)
{
	int last = 0, at = 0;

	while ((at = log_line(sb, what, last + 1)) != 0)
		last = at;
	return last;
}

static void test_bootstrap_master_writes_marker_last(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-master1");
	struct sandbox sb;
	struct kf_proc p;
	int install, start, import, verify_ls;
	char path[256], *manifest;

	(void)state;
	sandbox_new(&sb, rc, true);
	p = sandbox_run(&sb);
	if (p.exit_code != 0)
		fail_msg("bootstrap failed: %s%s", kf_buf_str(&p.out), kf_buf_str(&p.errout));
	assert_true(kf_fs_exists(sb.marker));
	install = log_line(&sb, "install.sh SKIP_DOWNLOAD=true", 1);
	start = log_line(&sb, "systemctl start --no-block k3s", 1);
	import = log_line(&sb, "k3s ctr images import", 1);
	verify_ls = log_last_line(&sb, "k3s ctr images ls");
	assert_true(install > 0 && start > install);
	assert_true(import > start);      /* images only after k3s (and its socket) started */
	assert_true(verify_ls > import);  /* verified after the import */
	/* nothing ran after the final verification: the marker came last */
	assert_int_equal(log_line(&sb, "", verify_ls + 1), 0);
	snprintf(path, sizeof(path), "%s/var/lib/rancher/k3s/agent/images/"
		 "k3s-airgap-images-amd64.tar.zst", sb.root);
	assert_true(kf_fs_exists(path));
	snprintf(path, sizeof(path), "%s/usr/local/bin/k3s", sb.root);
	assert_true(kf_fs_exists(path));
	snprintf(path, sizeof(path), "%s/var/lib/rancher/k3s/server/manifests/ks-core.yaml", sb.root);
	manifest = read_text(path);
	assert_non_null(strstr(manifest, "\n  chartContent: H4sI")); /* base64 of a gzip */
	free(manifest);
	{
		char chart[256], pwfile[256], *pw;
		const char *argv[] = { "python3", CHECK, "helmchart", path, chart, "192.168.6.1:5000",
				       NULL, NULL };
		snprintf(chart, sizeof(chart), "%s/artifacts/ks-core-1.1.4.tgz", g_out);
		snprintf(pwfile, sizeof(pwfile), "%s/secrets/admin-password", g_out);
		pw = read_text(pwfile);
		pw[strcspn(pw, "\n")] = '\0';
		argv[6] = pw;
		must_run(argv);
		free(pw);
	}
	kf_proc_free(&p);
	rmtree(sb.root);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

static void test_bootstrap_refuses_corrupt_airgap_tarball(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-worker1");
	struct sandbox sb;
	struct kf_proc p;
	char path[256];
	FILE *f;

	(void)state;
	sandbox_new(&sb, rc, false);
	snprintf(path, sizeof(path), "%s/usr/local/seed/k3s-airgap-images-amd64.tar.zst", sb.root);
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 4096, SEEK_SET);
	fputc(0x5a ^ fgetc(f), f); /* flip bits of one byte in the middle */
	fclose(f);
	p = sandbox_run(&sb);
	assert_int_not_equal(p.exit_code, 0);
	assert_non_null(strstr(kf_buf_str(&p.errout), "k3s-airgap-images-amd64.tar.zst is corrupt"));
	assert_false(kf_fs_exists(sb.marker));
	assert_int_equal(log_line(&sb, "install.sh", 1), 0);
	assert_int_equal(log_line(&sb, "systemctl start", 1), 0);
	snprintf(path, sizeof(path), "%s/var/lib/rancher/k3s/agent/images/"
		 "k3s-airgap-images-amd64.tar.zst", sb.root);
	assert_false(kf_fs_exists(path));
	kf_proc_free(&p);
	rmtree(sb.root);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

static void test_bootstrap_missing_critical_image_writes_no_marker(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-master1");
	struct sandbox sb;
	struct kf_proc p;
	char path[256];

	(void)state;
	cfg->addons.kubesphere = false;
	kf_node_recipe_free(rc);
	rc = render(cfg, "k3s-master1");
	sandbox_new(&sb, rc, true);
	/* k3s runs, but containerd never lists traefik */
	snprintf(path, sizeof(path), "%s/fake-hidden-images", sb.root);
	write_text(path, "docker.io/rancher/mirrored-library-traefik:3.3.6\n");
	shorten_image_wait(sb.script);
	p = sandbox_run(&sb);
	assert_int_not_equal(p.exit_code, 0);
	assert_non_null(strstr(kf_buf_str(&p.errout), "mirrored-library-traefik:3.3.6"));
	assert_false(kf_fs_exists(sb.marker));
	kf_proc_free(&p);
	rmtree(sb.root);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

static void test_bootstrap_is_idempotent_after_the_marker(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc = render(cfg, "k3s-worker2");
	struct sandbox sb;
	struct kf_proc p;

	(void)state;
	sandbox_new(&sb, rc, false);
	write_text(sb.marker, "2026-01-01T00:00:00Z\n");
	p = sandbox_run(&sb);
	assert_int_equal(p.exit_code, 0);
	assert_non_null(strstr(kf_buf_str(&p.out), "already bootstrapped"));
	assert_false(kf_fs_exists(sb.log)); /* neither k3s, systemctl nor install.sh ran */
	kf_proc_free(&p);
	rmtree(sb.root);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

struct bg_run {
	const struct sandbox *sb;
	struct kf_proc p;
};

static void *bg_main(void *arg)
{
	struct bg_run *bg = arg;

	bg->p = sandbox_run(bg->sb);
	return NULL;
}

static void test_bootstrap_worker_waits_for_master_api(void **state)
{
	struct kf_config *cfg = lab();
	struct kf_node_recipe *rc;
	struct sandbox sb;
	struct bg_run bg;
	pthread_t th;
	char ip[32];
	struct sockaddr_in sa;
	int fd, one = 1;

	(void)state;
	/* the master on a loopback address of its own; its API port opens late */
	snprintf(ip, sizeof(ip), "127.77.%d.%d", (int)(getpid() % 200) + 1,
		 (int)(getpid() / 200 % 200) + 1);
	free(cfg->nodes[0].ip);
	cfg->nodes[0].ip = strdup(ip);
	rc = render(cfg, "k3s-worker1");
	sandbox_new(&sb, rc, false);
	memset(&bg, 0, sizeof(bg));
	bg.sb = &sb;
	assert_int_equal(pthread_create(&th, NULL, bg_main, &bg), 0);
	sleep(4);
	/* still waiting: nothing installed, nothing started, no marker */
	assert_int_equal(log_line(&sb, "install.sh", 1), 0);
	assert_int_equal(log_line(&sb, "systemctl start", 1), 0);
	assert_false(kf_fs_exists(sb.marker));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(6443);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	pthread_join(th, NULL);
	close(fd);
	if (bg.p.exit_code != 0)
		fail_msg("worker bootstrap failed: %s%s", kf_buf_str(&bg.p.out),
			 kf_buf_str(&bg.p.errout));
	assert_non_null(strstr(kf_buf_str(&bg.p.out), "answers"));
	assert_true(kf_fs_exists(sb.marker));
	assert_true(log_line(&sb, "systemctl start --no-block k3s-agent", 1) > 0);
	kf_proc_free(&bg.p);
	rmtree(sb.root);
	kf_node_recipe_free(rc);
	kf_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recipe_user_data_passes_cloud_init_schema),
		cmocka_unit_test(test_recipe_autoinstall_passes_cloud_init_schema),
		cmocka_unit_test(test_recipe_autoinstall_validates_against_subiquity_schema),
		cmocka_unit_test(test_recipe_scripts_pass_shellcheck_and_bash_n),
		cmocka_unit_test(test_recipe_autoinstall_carries_the_installed_user_data_and_network),
		cmocka_unit_test(test_recipe_network_config_is_static_netplan_v2),
		cmocka_unit_test(test_recipe_k3s_config_pins_pause_image_only_when_configured),
		cmocka_unit_test(test_recipe_k3s_config_of_master_and_worker),
		cmocka_unit_test(test_recipe_master_admin_kubeconfig_is_owner_only),
		cmocka_unit_test(test_recipe_pins_only_the_ed25519_host_key),
		cmocka_unit_test(test_recipe_instance_id_follows_the_recipe),
		cmocka_unit_test(test_recipe_kubesphere_helmchart_uses_local_registry),
		cmocka_unit_test(test_recipe_packages_are_the_recipes_own_plus_configured),
		cmocka_unit_test(test_recipe_guest_debs_travel_in_the_payload_and_install_in_late_commands),
		cmocka_unit_test(test_recipe_without_guest_debs_installs_no_debs),
		cmocka_unit_test(test_recipe_image_mode_copies_the_payload_cd_before_node_prep),
		cmocka_unit_test(test_recipe_packages_brought_as_debs_are_not_asked_of_the_installer),
		cmocka_unit_test(test_recipe_installed_user_is_identitys_entry_plus_our_sudo_rule),
		cmocka_unit_test(test_recipe_guest_debs_refuses_a_foreign_architecture),
		cmocka_unit_test(test_recipe_missing_input_says_run_prep),
		cmocka_unit_test(test_recipe_seed_dir_holds_the_installed_system_seed),
		cmocka_unit_test(test_bootstrap_master_writes_marker_last),
		cmocka_unit_test(test_bootstrap_refuses_corrupt_airgap_tarball),
		cmocka_unit_test(test_bootstrap_missing_critical_image_writes_no_marker),
		cmocka_unit_test(test_bootstrap_is_idempotent_after_the_marker),
		cmocka_unit_test(test_bootstrap_worker_waits_for_master_api),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
