/* The simulated lab for the ops tests (see ops_lab.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "mirror_fixture.h"
#include "ops_lab.h"

void ops_lab_put(const char *path, const char *text, mode_t mode)
{
	struct kf_err err;
	if (kf_fs_write_atomic(path, text, strlen(text), mode, &err) != 0)
		fail_msg("%s", err.msg);
}

void ops_lab_node_file(struct ops_lab *f, int i, const char *rel, const char *text, mode_t mode)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", f->root[i], rel);
	ops_lab_put(path, text, mode);
}

void ops_lab_node_rm(struct ops_lab *f, int i, const char *rel)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", f->root[i], rel);
	unlink(path);
}

void ops_lab_sh(const char *dir, const char *const *argv)
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
static void start_api(struct ops_lab *f)
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
		ops_lab_sh(d, argv);
	}
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "client" : "server";
		char subj[96], ext[96], kf[64], csr[64], crtf[64];
		if (k) {
			snprintf(subj, sizeof(subj), "/O=system:masters/CN=system:admin");
			snprintf(ext, sizeof(ext), "extendedKeyUsage=clientAuth");
		} else {
			snprintf(subj, sizeof(subj), "/CN=%s", f->ips[OPS_LAB_NODES]);
			snprintf(ext, sizeof(ext), "subjectAltName=IP:%s", f->ips[OPS_LAB_NODES]);
		}
		snprintf(kf, sizeof(kf), "%s.key", name);
		snprintf(csr, sizeof(csr), "%s.csr", name);
		snprintf(crtf, sizeof(crtf), "%s.crt", name);
		const char *a1[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
				     "ec_paramgen_curve:P-256", "-nodes", "-keyout", kf, "-out", csr,
				     "-subj", subj, "-addext", ext, NULL };
		ops_lab_sh(d, a1);
		const char *a2[] = { "openssl", "x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey",
				     "ca.key", "-CAcreateserial", "-out", crtf, "-days", "2",
				     "-copy_extensions", "copy", NULL };
		ops_lab_sh(d, a2);
	}
	f->api_port = kf_test_free_port(f->ips[OPS_LAB_NODES]);
	snprintf(script, sizeof(script), "%s/lib/tls_version_server.py", KF_TESTS_DIR);
	snprintf(cert, sizeof(cert), "%s/server.crt", d);
	snprintf(key, sizeof(key), "%s/server.key", d);
	snprintf(cca, sizeof(cca), "%s/ca.crt", d);
	snprintf(port, sizeof(port), "%d", f->api_port);
	snprintf(log, sizeof(log), "%s/server.log", d);
	{
		const char *argv[] = { "python3", script, "--ip", f->ips[OPS_LAB_NODES], "--port", port, "--cert",
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
		if (kf_tcp_probe(f->ips[OPS_LAB_NODES], f->api_port, 200, &why, &err) == 0)
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
	snprintf(server, sizeof(server), "https://%s:%d", f->ips[OPS_LAB_NODES], f->api_port);
	assert_int_equal(kf_kubeconfig_rewrite(&kc, yaml, strlen(yaml), "k3sforge-lab", server, &err), 0);
	{
		char *text = kf_kubeconfig_text(kc, &err);
		snprintf(path, sizeof(path), "%s/kubeconfig", f->out);
		assert_non_null(text);
		ops_lab_put(path, text, 0600);
		free(text);
	}
	kf_ynode_free(kc);
	free(cab);
	free(crt);
	free(ckey);
	free(yaml);
}

/* Pushes OPS_LAB_IMAGE's repository and tag into the lab registry. */
static void push_image(struct ops_lab *f)
{
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	struct mt_blob cfgb, layer;
	char spec[64], ca[500], digest[KF_OCI_DIGEST_LEN], *manifest = NULL;
	struct kf_err err;

	/* the lab-facing registry is read-only: push through its loopback push instance */
	if (kf_regserver_push_target(f->cfg, f->out, spec, sizeof(spec), &err) != 0)
		fail_msg("%s", err.msg);
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

void ops_lab_healthy_guest(struct ops_lab *f, int i)
{
	static const char *const marks[] = { "iso-copy-complete", "hostname-set", "timezone-set",
					     "swap-disabled", "kernel-modules-loaded",
					     "sysctl-applied", "ca-certificates-updated",
					     "sync-time-enabled", "cloud-init-complete" };
	char k3s[4096], curl[1024], path[600];

	ops_lab_node_file(f, i, "bin/sudo", "#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n", 0755);
	ops_lab_node_file(f, i, "bin/systemctl",
			  "#!/bin/sh\n[ \"$1\" = is-active ] && { echo active; exit 0; }\n"
			  "[ \"$1 $2 $3 $4\" = 'show -p Result --value' ] && { echo success; exit 0; }\n"
			  "exit 1\n",
			  0755);
	ops_lab_node_file(f, i, "bin/cloud-init",
			  "#!/bin/sh\necho 'status: done'\necho 'detail:'\necho 'DataSourceNoCloud'\n",
			  0755);
	ops_lab_node_file(f, i, "bin/journalctl",
			  "#!/bin/sh\necho \"k3s-bootstrap[42]: k3s is up with its images\"\n", 0755);
	/* The k3s stand-in: `k3s kubectl get nodes -o json` answers every node Ready, `k3s ctr
	 * images ls -q` lists the image set. */
	snprintf(k3s, sizeof(k3s),
		 "#!/bin/sh\n[ \"$1 $2 $3\" = 'kubectl get nodes' ] && "
		 "{ cat <<'EOF'\n%s\nEOF\nexit 0; }\n"
		 "[ \"$1 $2 $3 $4\" = 'ctr images ls -q' ] && { echo %s; exit 0; }\nexit 1\n",
		 nodes_json, OPS_LAB_IMAGE);
	ops_lab_node_file(f, i, "bin/k3s", k3s, 0755);
	/* curl as the guest runs it; the guest's CA path is looked up inside the node root. */
	snprintf(curl, sizeof(curl),
		 "#!/bin/bash\nargs=()\nfor a in \"$@\"; do\n"
		 "  [ \"$a\" = /usr/local/share/ca-certificates/k3sforge-ca.crt ] && a=%s$a\n"
		 "  args+=(\"$a\")\ndone\nexec /usr/bin/curl \"${args[@]}\"\n",
		 f->root[i]);
	ops_lab_node_file(f, i, "bin/curl", curl, 0755);
	snprintf(path, sizeof(path), "%s/usr/local/share/ca-certificates", f->root[i]);
	assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
	{
		char ca[600], *pem = NULL;
		snprintf(ca, sizeof(ca), "%s/pki/ca.crt", f->out);
		assert_int_equal(kf_fs_read(&pem, NULL, ca, 1 << 20, NULL), 0);
		ops_lab_node_file(f, i, "usr/local/share/ca-certificates/k3sforge-ca.crt", pem, 0644);
		free(pem);
	}
	ops_lab_node_rm(f, i, "bin/date");
	for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		snprintf(path, sizeof(path), "var/lib/%s", marks[k]);
		ops_lab_node_file(f, i, path, "", 0644);
	}
	ops_lab_node_file(f, i, i == 0 ? "var/lib/k3s-bootstrap.done" : "var/lib/k3s-agent-bootstrap.done",
			  "", 0644);
}

void ops_lab_start_node(struct ops_lab *f, int i)
{
	char sdir[500], auth[500], extra[1200], *hk;

	hk = kf_pki_host_key_path(f->out, f->cfg->nodes[i].name);
	const char *keys[] = { hk, NULL };
	snprintf(sdir, sizeof(sdir), "%s/sshd%d", f->dir, i);
	snprintf(auth, sizeof(auth), "%s/ssh/id_ed25519.pub", f->out);
	snprintf(extra, sizeof(extra), "ForceCommand %s/fakes/guest-shell %s", KF_TESTS_DIR,
		 f->root[i]);
	assert_int_equal(kf_test_sshd_start_ex(&f->sshd[i], sdir, f->ips[i], f->cfg->nodes[i].ssh_port,
					       keys, auth, extra),
			 0);
	free(hk);
}

/* The same lab as a configuration file for the CLI. The config loader refuses guest.user root
 * (the test user) and a registry outside network.subnet, so the file puts the lab on 127.0.0.0/24
 * and names a guest user sshd does not know: every node's SSH login is refused, while the
 * host-side checks (registry, API) see the real servers. */
void ops_lab_write_config(struct ops_lab *f)
{
	struct kf_buf y;

	kf_buf_init(&y, 0);
	kf_buf_printf(&y, "cluster: {name: lab}\nguest: {user: kf-no-such-user}\n"
			  "network: {subnet: 127.0.0.0/24, gateway: 127.0.0.1}\n");
	kf_buf_printf(&y, "registry: {host_ip: 127.0.0.1, port: %d, listen: \"127.0.0.1:%d\", "
			  "server: binary}\n",
		      f->cfg->registry.port, f->cfg->registry.port);
	kf_buf_printf(&y, "addons: {kubesphere: {enabled: false}}\nnodes:\n");
	for (int i = 0; i < OPS_LAB_NODES; i++)
		kf_buf_printf(&y, "  - {name: %s, role: %s, ip: %s, ssh: \"%s:%d\"}\n",
			      f->cfg->nodes[i].name, i == 0 ? "master" : "worker", f->ips[i], f->ips[i],
			      f->cfg->nodes[i].ssh_port);
	snprintf(f->cfg_path, sizeof(f->cfg_path), "%s/lab.yaml", f->dir);
	ops_lab_put(f->cfg_path, kf_buf_str(&y), 0644);
	kf_buf_free(&y);
}

struct ops_lab *ops_lab_start(const char *tag, int base, bool with_api)
{
	struct ops_lab *f = calloc(1, sizeof(*f));
	struct kf_regserver_report rep;
	struct kf_err err;
	char path[600], listen[64];

	for (int i = 0; i <= OPS_LAB_NODES; i++)
		snprintf(f->ips[i], sizeof(f->ips[i]), "127.0.0.%d", base + 1 + i);
	f->dir = kf_test_tempdir(tag);
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
	for (int i = 0; i < OPS_LAB_NODES; i++) {
		struct kf_node *n = &f->cfg->nodes[i];
		free(n->ssh_host);
		n->ssh_host = strdup(f->ips[i]);
		n->ssh_port = kf_test_free_port(f->ips[i]);
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
	ops_lab_put(path, OPS_LAB_IMAGE "\n", 0644);
	if (with_api)
		start_api(f);
	for (int i = 0; i < OPS_LAB_NODES; i++) {
		snprintf(f->root[i], sizeof(f->root[i]), "%s/root%d", f->dir, i);
		snprintf(path, sizeof(path), "%s/bin", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		snprintf(path, sizeof(path), "%s/var/lib", f->root[i]);
		assert_int_equal(kf_fs_mkdirs(path, 0755, NULL), 0);
		ops_lab_healthy_guest(f, i);
		ops_lab_start_node(f, i);
	}
	ops_lab_write_config(f);
	return f;
}

void ops_lab_stop(struct ops_lab *f)
{
	struct kf_err err;
	bool was = false;

	for (int i = 0; i < OPS_LAB_NODES; i++)
		kf_test_sshd_stop(&f->sshd[i]);
	if (f->api_pid > 0)
		kf_proc_stop(f->api_pid, 2000);
	kf_regserver_stop(f->cfg, f->out, &was, &err);
	kf_config_free(f->cfg);
	kf_fs_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
}

