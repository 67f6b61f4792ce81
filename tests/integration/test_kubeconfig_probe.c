/* kf_kubeconfig_probe against a real TLS server that demands a client certificate: the
 * kubeconfig's own CA and client certificate are used, never -k. */
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

#include "k3sforge/fs.h"
#include "k3sforge/kubeconfig.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "ops_lab.h"
#include "probe_server.h"

#define API_IP "127.0.0.31"

struct fx {
	char dir[256];
	int port;
	long pid;
};

static void make_ca(const char *dir, const char *name)
{
	char key[64], crt[64], subj[64];
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(subj, sizeof(subj), "/CN=%s", name);
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
			       "-days", "2", "-subj", subj, NULL };
	ops_lab_sh(dir, argv);
}

static void make_leaf(const char *dir, const char *ca, const char *name, const char *subj,
		      const char *ext)
{
	char key[64], csr[64], crt[64], cacrt[64], cakey[64];
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(csr, sizeof(csr), "%s.csr", name);
	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(cacrt, sizeof(cacrt), "%s.crt", ca);
	snprintf(cakey, sizeof(cakey), "%s.key", ca);
	{
		const char *argv[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
				       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
				       "-subj", subj, "-addext", ext, NULL };
		ops_lab_sh(dir, argv);
	}
	{
		const char *argv[] = { "openssl", "x509", "-req", "-in", csr, "-CA", cacrt, "-CAkey",
				       cakey, "-CAcreateserial", "-out", crt, "-days", "2",
				       "-copy_extensions", "copy", NULL };
		ops_lab_sh(dir, argv);
	}
}

static char *b64_file(const char *dir, const char *name)
{
	char path[400], *data = NULL, *out;
	size_t len = 0;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(kf_fs_read(&data, &len, path, 1 << 20, NULL), 0);
	out = malloc(len * 2 + 8);
	n = EVP_EncodeBlock((unsigned char *)out, (unsigned char *)data, (int)len);
	out[n] = '\0';
	free(data);
	return out;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char script[512], cert[300], key[300], cca[300], port[16];

	snprintf(f->dir, sizeof(f->dir), "/tmp/kf-probe-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	make_ca(f->dir, "ca");
	make_ca(f->dir, "otherca");
	make_leaf(f->dir, "ca", "server", "/CN=" API_IP, "subjectAltName=IP:" API_IP);
	make_leaf(f->dir, "ca", "client", "/O=system:masters/CN=system:admin",
		  "extendedKeyUsage=clientAuth");
	make_leaf(f->dir, "otherca", "stranger", "/CN=stranger", "extendedKeyUsage=clientAuth");

	f->port = probe_free_port(API_IP);
	snprintf(script, sizeof(script), "%s/lib/tls_version_server.py", KF_TESTS_DIR);
	snprintf(cert, sizeof(cert), "%s/server.crt", f->dir);
	snprintf(key, sizeof(key), "%s/server.key", f->dir);
	snprintf(cca, sizeof(cca), "%s/ca.crt", f->dir);
	snprintf(port, sizeof(port), "%d", f->port);
	{
		const char *argv[] = { "python3", script, "--ip", API_IP, "--port", port, "--cert",
				       cert, "--key", key, "--client-ca", cca, NULL };
		char log[300];
		snprintf(log, sizeof(log), "%s/server.log", f->dir);
		f->pid = probe_server_start(argv, log, API_IP, f->port);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_proc_stop(f->pid, 2000);
	kf_fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

/* A k3s.yaml with the given CA and client material, rewritten as k3sforge would. */
static struct kf_ynode *kubeconfig(struct fx *f, const char *ca, const char *client)
{
	char *cab = b64_file(f->dir, ca), *crt, *key, name[64], *yaml, server[128];
	struct kf_ynode *kc = NULL;
	struct kf_err err;
	size_t n;

	snprintf(name, sizeof(name), "%s.crt", client);
	crt = b64_file(f->dir, name);
	snprintf(name, sizeof(name), "%s.key", client);
	key = b64_file(f->dir, name);
	n = strlen(cab) + strlen(crt) + strlen(key) + 1024;
	yaml = malloc(n);
	snprintf(yaml, n,
		 "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
		 "    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n"
		 "    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n"
		 "users:\n- name: default\n  user:\n    client-certificate-data: %s\n"
		 "    client-key-data: %s\n",
		 cab, crt, key);
	snprintf(server, sizeof(server), "https://%s:%d", API_IP, f->port);
	assert_int_equal(kf_kubeconfig_rewrite(&kc, yaml, strlen(yaml), "k3sforge-lab", server, &err), 0);
	free(cab);
	free(crt);
	free(key);
	free(yaml);
	return kc;
}

static void test_probe_answers_with_the_kubeconfigs_own_credentials(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = kubeconfig(f, "ca.crt", "client");
	char *version = NULL;
	struct kf_err err;

	if (kf_kubeconfig_probe(kc, 10000, &version, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(version, "v1.33.4+k3s1");
	free(version);
	kf_ynode_free(kc);
}

static void test_probe_fails_on_an_unknown_server_ca(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = kubeconfig(f, "otherca.crt", "client");
	char *version = NULL;
	struct kf_err err;

	assert_int_equal(kf_kubeconfig_probe(kc, 10000, &version, &err), KF_ETLS);
	assert_null(version);
	assert_non_null(strstr(err.msg, "/version"));
	kf_ynode_free(kc);
}

static void test_probe_fails_when_the_client_certificate_is_refused(void **state)
{
	struct fx *f = *state;
	struct kf_ynode *kc = kubeconfig(f, "ca.crt", "stranger");
	char *version = NULL;
	struct kf_err err;

	assert_true(kf_kubeconfig_probe(kc, 10000, &version, &err) != 0);
	assert_null(version);
	assert_non_null(strstr(err.msg, "client certificate"));
	kf_ynode_free(kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_answers_with_the_kubeconfigs_own_credentials),
		cmocka_unit_test(test_probe_fails_on_an_unknown_server_ca),
		cmocka_unit_test(test_probe_fails_when_the_client_certificate_is_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
