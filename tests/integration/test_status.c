/* kf_status_collect and `k3sforge status` against the simulated lab: a real sshd per node on
 * its own loopback address with the node's pinned host key from kf_pki_ensure and a private
 * /var/lib (tests/fakes/guest-shell; guest commands — sudo, systemctl, the k3s stand-in — in
 * the node root's bin/), the real docker-registry over TLS with one image pushed, and a TLS API
 * server answering /version with client certificates. A healthy lab has no problems and exits 0;
 * each injected fault is named and makes the exit status 1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/kubeconfig.h"
#include "k3sforge/oci.h"
#include "k3sforge/pki.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/regserver.h"
#include "k3sforge/ssh.h"
#include "k3sforge/status.h"
#include "mirror_fixture.h"
#include "sshd_fixture.h"

#define NODES 3
#define API_IP "127.0.0.54"
#define IMAGE_OK "docker.io/rancher/mirrored-pause:3.6"
#define IMAGE_MISSING "docker.io/rancher/mirrored-coredns-coredns:1.12.3"

static const char *ips[NODES] = { "127.0.0.51", "127.0.0.52", "127.0.0.53" };

struct fx {
	char *dir;
	char out[400], root[NODES][400], cfg_path[500];
	struct kf_test_sshd sshd[NODES];
	struct kf_config *cfg;
	long api_pid;
	int api_port;
};

static void put(const char *path, const char *text, mode_t mode)
{
	struct kf_err err;
	if (kf_fs_write_atomic(path, text, strlen(text), mode, &err) != 0)
		fail_msg("%s", err.msg);
}

static void node_file(struct fx *f, int i, const char *rel, const char *text, mode_t mode)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", f->root[i], rel);
	put(path, text, mode);
}

static void node_rm(struct fx *f, int i, const char *rel)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", f->root[i], rel);
	unlink(path);
}

static void sh(const char *dir, const char *const *argv)
{
	struct kf_proc p;
	struct kf_err err;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.cwd = dir;
	p.timeout_ms = 30000;
	if (kf_proc_run_ok(&p, &err) != 0)
		fail_msg("%s", err.msg);
	kf_proc_free(&p);
}

static char *b64_file(const char *path)
{
	char *data = NULL, *out;
	size_t len = 0;
	int n;

	assert_int_equal(kf_fs_read(&data, &len, path, 1 << 20, NULL), 0);
	out = malloc(len * 2 + 8);
	n = EVP_EncodeBlock((unsigned char *)out, (unsigned char *)data, (int)len);
	out[n] = '\0';
	free(data);
	return out;
}

/* An API server (tests/lib/tls_version_server.py) with its own CA, and <out>/kubeconfig for it. */
static void start_api(struct fx *f)
{
	char d[500], script[512], cert[600], key[600], cca[600], port[16], log[600];
	char *cab, *crt, *ckey, *yaml, server[128], path[600];
	struct kf_ynode *kc = NULL;
	struct kf_err err;
	struct kf_proc p;
	size_t n;

	snprintf(d, sizeof(d), "%s/api", f->dir);
	assert_int_equal(kf_fs_mkdirs(d, 0700, NULL), 0);
	{
		const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
				       "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
				       "ca.crt", "-days", "2", "-subj", "/CN=api-ca", NULL };
		sh(d, argv);
	}
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "client" : "server";
		const char *subj = k ? "/O=system:masters/CN=system:admin" : "/CN=" API_IP;
		const char *ext = k ? "extendedKeyUsage=clientAuth" : "subjectAltName=IP:" API_IP;
		char kf[64], csr[64], crtf[64];
		snprintf(kf, sizeof(kf), "%s.key", name);
		snprintf(csr, sizeof(csr), "%s.csr", name);
		snprintf(crtf, sizeof(crtf), "%s.crt", name);
		const char *a1[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
				     "ec_paramgen_curve:P-256", "-nodes", "-keyout", kf, "-out", csr,
				     "-subj", subj, "-addext", ext, NULL };
		sh(d, a1);
		const char *a2[] = { "openssl", "x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey",
				     "ca.key", "-CAcreateserial", "-out", crtf, "-days", "2",
				     "-copy_extensions", "copy", NULL };
		sh(d, a2);
	}
	f->api_port = kf_test_free_port(API_IP);
	snprintf(script, sizeof(script), "%s/lib/tls_version_server.py", KF_TESTS_DIR);
	snprintf(cert, sizeof(cert), "%s/server.crt", d);
	snprintf(key, sizeof(key), "%s/server.key", d);
	snprintf(cca, sizeof(cca), "%s/ca.crt", d);
	snprintf(port, sizeof(port), "%d", f->api_port);
	snprintf(log, sizeof(log), "%s/server.log", d);
	{
		const char *argv[] = { "python3", script, "--ip", API_IP, "--port", port, "--cert",
				       cert, "--key", key, "--client-ca", cca, NULL };
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.log_file = log;
		assert_int_equal(kf_proc_start(&p, &err), 0);
		f->api_pid = p.pid;
		kf_proc_free(&p);
	}
	for (int i = 0; i < 200; i++) {
		enum kf_ssh_fail why;
		if (kf_tcp_probe(API_IP, f->api_port, 200, &why, &err) == 0)
			break;
		kf_sleep_ms(25);
	}
	cab = b64_file(cca);
	snprintf(path, sizeof(path), "%s/client.crt", d);
	crt = b64_file(path);
	snprintf(path, sizeof(path), "%s/client.key", d);
	ckey = b64_file(path);
	n = strlen(cab) + strlen(crt) + strlen(ckey) + 1024;
	yaml = malloc(n);
	snprintf(yaml, n,
		 "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
		 "    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n"
		 "    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n"
		 "users:\n- name: default\n  user:\n    client-certificate-data: %s\n"
		 "    client-key-data: %s\n",
		 cab, crt, ckey);
	snprintf(server, sizeof(server), "https://%s:%d", API_IP, f->api_port);
	assert_int_equal(kf_kubeconfig_rewrite(&kc, yaml, strlen(yaml), "k3sforge-lab", server, &err), 0);
	{
		char *text = kf_kubeconfig_text(kc, &err);
		snprintf(path, sizeof(path), "%s/kubeconfig", f->out);
		assert_non_null(text);
		put(path, text, 0600);
		free(text);
	}
	kf_ynode_free(kc);
	free(cab);
	free(crt);
	free(ckey);
	free(yaml);
}

/* Pushes IMAGE_OK's repository and tag into the lab registry. */
static void push_image(struct fx *f)
{
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	struct mt_blob cfgb, layer;
	char spec[64], ca[500], digest[KF_OCI_DIGEST_LEN], *manifest = NULL;
	struct kf_err err;

	snprintf(spec, sizeof(spec), "127.0.0.1:%d", f->cfg->registry.port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.crt", f->out);
	o.ca_file = ca;
	o.push = true;
	if (kf_oci_registry_new(&r, spec, &o, &err) != 0)
		fail_msg("%s", err.msg);
	mt_blob_text(&cfgb, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	mt_blob_random(&layer, 2048, 7);
	assert_int_equal(mt_push_image(r, "rancher/mirrored-pause", "3.6", KF_OCI_MT_DOCKER_MANIFEST,
				       &cfgb, &layer, 1, &manifest, digest),
			 0);
	free(manifest);
	mt_blob_free(&cfgb);
	mt_blob_free(&layer);
	kf_oci_registry_free(r);
}

static const char *nodes_json =
	"{\"items\":["
	"{\"metadata\":{\"name\":\"k3s-master1\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	"{\"metadata\":{\"name\":\"k3s-worker1\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	"{\"metadata\":{\"name\":\"k3s-worker2\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}]}";

static void healthy_guest(struct fx *f, int i)
{
	char k3s[2048];

	node_file(f, i, "bin/sudo", "#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n", 0755);
	node_file(f, i, "bin/systemctl",
		  "#!/bin/sh\n[ \"$1\" = is-active ] && { echo active; exit 0; }\nexit 1\n", 0755);
	/* The k3s stand-in: `k3s kubectl get nodes -o json` answers every node Ready. */
	snprintf(k3s, sizeof(k3s), "#!/bin/sh\n[ \"$1 $2 $3\" = 'kubectl get nodes' ] && "
				   "{ cat <<'EOF'\n%s\nEOF\nexit 0; }\nexit 1\n",
		 nodes_json);
	node_file(f, i, "bin/k3s", k3s, 0755);
	node_rm(f, i, "bin/date");
	node_file(f, i, i == 0 ? "var/lib/k3s-bootstrap.done" : "var/lib/k3s-agent-bootstrap.done",
		  "", 0644);
}

/* The same lab as a configuration file for the CLI. The config loader refuses guest.user root
 * (the test user) and a registry outside network.subnet, so the file puts the lab on 127.0.0.0/24
 * and names a guest user sshd does not know: every node's SSH login is refused, while the
 * host-side checks (registry, API) see the real servers. */
static void write_config(struct fx *f)
{
	struct kf_buf y;

	kf_buf_init(&y, 0);
	kf_buf_printf(&y, "cluster: {name: lab}\nguest: {user: kf-no-such-user}\n"
			  "network: {subnet: 127.0.0.0/24, gateway: 127.0.0.1}\n");
	kf_buf_printf(&y, "registry: {host_ip: 127.0.0.1, port: %d, listen: \"127.0.0.1:%d\", "
			  "server: binary}\n",
		      f->cfg->registry.port, f->cfg->registry.port);
	kf_buf_printf(&y, "addons: {kubesphere: {enabled: false}}\nnodes:\n");
	for (int i = 0; i < NODES; i++)
		kf_buf_printf(&y, "  - {name: %s, role: %s, ip: %s, ssh: \"%s:%d\"}\n",
			      f->cfg->nodes[i].name, i == 0 ? "master" : "worker", ips[i], ips[i],
			      f->cfg->nodes[i].ssh_port);
	snprintf(f->cfg_path, sizeof(f->cfg_path), "%s/lab.yaml", f->dir);
	put(f->cfg_path, kf_buf_str(&y), 0644);
	kf_buf_free(&y);
}

static int group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_regserver_report rep;
	struct kf_err err;
	char path[600], listen[64];

	f->dir = kf_test_tempdir("status");
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	assert_int_equal(kf_config_default(&f->cfg, NULL), 0);
	free(f->cfg->guest.user);
	f->cfg->guest.user = strdup(kf_test_user());
	f->cfg->addons.kubesphere = false;
	free(f->cfg->registry.host_ip);
	f->cfg->registry.host_ip = strdup("127.0.0.1");
	f->cfg->registry.port = kf_test_free_port("127.0.0.1");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->cfg->registry.port);
	free(f->cfg->registry.listen);
	f->cfg->registry.listen = strdup(listen);
	free(f->cfg->registry.server);
	f->cfg->registry.server = strdup("binary");
	for (int i = 0; i < NODES; i++) {
		struct kf_node *n = &f->cfg->nodes[i];
		free(n->ssh_host);
		n->ssh_host = strdup(ips[i]);
		n->ssh_port = kf_test_free_port(ips[i]);
	}
	if (kf_pki_ensure(f->cfg, f->out, false, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	memset(&rep, 0, sizeof(rep));
	if (kf_regserver_ensure(f->cfg, f->out, &rep, &err) != 0)
		fail_msg("%s", err.msg);
	push_image(f);
	snprintf(path, sizeof(path), "%s/artifacts", f->out);
	assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
	snprintf(path, sizeof(path), "%s/artifacts/k3s-images.txt", f->out);
	put(path, IMAGE_OK "\n", 0644);
	start_api(f);
	for (int i = 0; i < NODES; i++) {
		char sdir[500], auth[500], extra[1200], *hk;
		snprintf(f->root[i], sizeof(f->root[i]), "%s/root%d", f->dir, i);
		snprintf(path, sizeof(path), "%s/bin", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		snprintf(path, sizeof(path), "%s/var/lib", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		healthy_guest(f, i);
		hk = kf_pki_host_key_path(f->out, f->cfg->nodes[i].name);
		const char *keys[] = { hk, NULL };
		snprintf(sdir, sizeof(sdir), "%s/sshd%d", f->dir, i);
		snprintf(auth, sizeof(auth), "%s/ssh/id_ed25519.pub", f->out);
		snprintf(extra, sizeof(extra), "ForceCommand %s/fakes/guest-shell %s", KF_TESTS_DIR,
			 f->root[i]);
		assert_int_equal(kf_test_sshd_start_ex(&f->sshd[i], sdir, ips[i],
						       f->cfg->nodes[i].ssh_port, keys, auth, extra),
				 0);
		free(hk);
	}
	write_config(f);
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err err;
	bool was = false;

	for (int i = 0; i < NODES; i++)
		kf_test_sshd_stop(&f->sshd[i]);
	if (f->api_pid > 0)
		kf_proc_stop(f->api_pid, 2000);
	kf_regserver_stop(f->cfg, f->out, &was, &err);
	kf_config_free(f->cfg);
	kf_fs_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return 0;
}

static struct kf_status *collect(struct fx *f)
{
	struct kf_status_opts o = { .out_dir = f->out, .ssh_timeout_ms = 3000 };
	struct kf_status *st = NULL;
	struct kf_err err;

	if (kf_status_collect(&st, f->cfg, &o, &err) != 0)
		fail_msg("%s", err.msg);
	return st;
}

static bool has_problem(const struct kf_status *st, const char *text)
{
	for (size_t i = 0; i < st->n_problems; i++)
		if (strstr(st->problems[i], text))
			return true;
	return false;
}

static void print_problems(const struct kf_status *st)
{
	for (size_t i = 0; i < st->n_problems; i++)
		print_message("problem: %s\n", st->problems[i]);
}

static void test_status_healthy_lab_has_no_problems(void **state)
{
	struct fx *f = *state;
	struct kf_status *st = collect(f);

	print_problems(st);
	assert_true(kf_status_healthy(st));
	for (int i = 0; i < NODES; i++) {
		assert_int_equal(st->nodes[i].ssh, KF_TRI_YES);
		assert_int_equal(st->nodes[i].marker, KF_TRI_YES);
		assert_int_equal(st->nodes[i].k3s_active, KF_TRI_YES);
		assert_int_equal(st->nodes[i].ready, KF_TRI_YES);
		assert_true(st->nodes[i].skew_known);
	}
	assert_int_equal(st->registry.tls_ok, KF_TRI_YES);
	assert_int_equal(st->registry.images_wanted, 1);
	assert_int_equal(st->registry.n_missing, 0);
	assert_int_equal(st->api.ok, KF_TRI_YES);
	kf_status_free(st);
}

static void test_status_names_a_node_whose_sshd_is_stopped(void **state)
{
	struct fx *f = *state;
	struct kf_status *st;
	char sdir[500], auth[500], extra[1200], *hk;

	kf_test_sshd_stop(&f->sshd[2]);
	st = collect(f);
	assert_false(kf_status_healthy(st));
	assert_int_equal(st->nodes[2].ssh, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-worker2: SSH not reachable"));
	assert_false(has_problem(st, "k3s-worker1"));
	kf_status_free(st);
	hk = kf_pki_host_key_path(f->out, "k3s-worker2");
	const char *keys[] = { hk, NULL };
	snprintf(sdir, sizeof(sdir), "%s/sshd2", f->dir);
	snprintf(auth, sizeof(auth), "%s/ssh/id_ed25519.pub", f->out);
	snprintf(extra, sizeof(extra), "ForceCommand %s/fakes/guest-shell %s", KF_TESTS_DIR,
		 f->root[2]);
	assert_int_equal(kf_test_sshd_start_ex(&f->sshd[2], sdir, ips[2], f->cfg->nodes[2].ssh_port,
					       keys, auth, extra),
			 0);
	free(hk);
}

static void test_status_names_a_missing_role_marker(void **state)
{
	struct fx *f = *state;
	struct kf_status *st;

	node_rm(f, 1, "var/lib/k3s-agent-bootstrap.done");
	st = collect(f);
	assert_int_equal(st->nodes[1].marker, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-worker1: role marker /var/lib/k3s-agent-bootstrap.done missing"));
	kf_status_free(st);
	healthy_guest(f, 1);
}

static void test_status_names_a_skewed_clock(void **state)
{
	struct fx *f = *state;
	struct kf_status *st;

	/* The guest's clock runs two minutes ahead. */
	node_file(f, 1, "bin/date", "#!/bin/sh\necho \"$(( $(/bin/date +%s) + 120 )).$(/bin/date +%N)\"\n",
		  0755);
	st = collect(f);
	assert_true(st->nodes[1].skew_known);
	assert_true(st->nodes[1].skew_s > 100 && st->nodes[1].skew_s < 140);
	assert_true(has_problem(st, "k3s-worker1: clock skew +1"));
	assert_false(kf_status_healthy(st));
	kf_status_free(st);
	healthy_guest(f, 1);
}

static void test_status_names_a_missing_image(void **state)
{
	struct fx *f = *state;
	struct kf_status *st;
	char path[600];

	snprintf(path, sizeof(path), "%s/artifacts/k3s-images.txt", f->out);
	put(path, IMAGE_OK "\n" IMAGE_MISSING "\n", 0644);
	st = collect(f);
	assert_int_equal(st->registry.n_missing, 1);
	assert_true(has_problem(st, "registry: 1 of 2 images missing"));
	assert_true(has_problem(st, "mirrored-coredns-coredns:1.12.3"));
	kf_status_free(st);
	put(path, IMAGE_OK "\n", 0644);
}

static void test_status_names_an_inactive_k3s_service(void **state)
{
	struct fx *f = *state;
	struct kf_status *st;

	node_file(f, 0, "bin/systemctl", "#!/bin/sh\necho failed\nexit 3\n", 0755);
	st = collect(f);
	assert_int_equal(st->nodes[0].k3s_active, KF_TRI_NO);
	assert_true(has_problem(st, "k3s-master1: k3s service is failed"));
	kf_status_free(st);
	healthy_guest(f, 0);
}

/* Runs the CLI; returns its exit code and stdout. */
static int cli(struct fx *f, char **out, const char *extra)
{
	const char *argv[] = { KF_BINARY, "--no-color", "-c", f->cfg_path, "-o", f->out, "status",
			       extra, NULL };
	struct kf_proc p;
	struct kf_err err;
	int code;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	assert_int_equal(kf_proc_run(&p, &err), 0);
	code = p.exit_code;
	*out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return code;
}

static void test_status_cli_json_is_one_object_and_exits_1_when_unhealthy(void **state)
{
	struct fx *f = *state;
	char *out = NULL;
	json_t *o, *reg;

	assert_int_equal(cli(f, &out, "--json"), 1);
	o = json_loads(out, 0, NULL);
	if (!o)
		fail_msg("not one JSON object: %s", out);
	assert_true(json_is_false(json_object_get(o, "healthy")));
	assert_int_equal(json_array_size(json_object_get(o, "nodes")), NODES);
	assert_true(json_is_false(json_object_get(json_array_get(json_object_get(o, "nodes"), 0),
						  "ssh")));
	reg = json_object_get(o, "registry");
	assert_true(json_is_true(json_object_get(reg, "tls_ok")));
	assert_int_equal(json_integer_value(json_object_get(reg, "images_present")), 1);
	assert_true(json_is_true(json_object_get(json_object_get(o, "api"), "ok")));
	assert_true(json_array_size(json_object_get(o, "problems")) >= NODES);
	json_decref(o);
	free(out);
}

static void test_status_cli_screen_names_the_fault_and_exits_1(void **state)
{
	struct fx *f = *state;
	char *out = NULL;

	assert_int_equal(cli(f, &out, "--timeout=3000"), 1);
	if (!strstr(out, "problem: k3s-master1: SSH not reachable") || !strstr(out, "NODE"))
		fail_msg("fault not named: %s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_healthy_lab_has_no_problems),
		cmocka_unit_test(test_status_names_a_node_whose_sshd_is_stopped),
		cmocka_unit_test(test_status_names_a_missing_role_marker),
		cmocka_unit_test(test_status_names_a_skewed_clock),
		cmocka_unit_test(test_status_names_a_missing_image),
		cmocka_unit_test(test_status_names_an_inactive_k3s_service),
		cmocka_unit_test(test_status_cli_json_is_one_object_and_exits_1_when_unhealthy),
		cmocka_unit_test(test_status_cli_screen_names_the_fault_and_exits_1),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
