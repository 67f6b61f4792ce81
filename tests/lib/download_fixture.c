/* Loopback file server and fake k3s release for the download tests. */
#include "download_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/err.h"
#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"

char *kf_test_tmpdir(const char *tag)
{
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "/tmp/kf-%s-XXXXXX", tag);
	if (!mkdtemp(tmpl))
		return NULL;
	return strdup(tmpl);
}

int kf_test_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

char *kf_test_read(const char *path)
{
	char *data = NULL;
	size_t len = 0;

	if (kf_fs_read(&data, &len, path, 64 << 20, NULL) != 0)
		return NULL;
	return data;
}

int kf_test_random_file(const char *path, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);
	FILE *f;
	int r = -1;

	if (!buf)
		return -1;
	if (RAND_bytes(buf, (int)len) == 1 && (f = fopen(path, "wb"))) {
		r = fwrite(buf, 1, len, f) == len ? 0 : -1;
		if (fclose(f) != 0)
			r = -1;
	}
	free(buf);
	return r;
}

static int run_ok(const char *const *argv)
{
	struct kf_proc p = { 0 };
	struct kf_err err;
	int r;

	p.argv = argv;
	p.timeout_ms = 60000;
	r = kf_proc_run_ok(&p, &err);
	if (r)
		fprintf(stderr, "fixture: %s\n", err.msg);
	kf_proc_free(&p);
	return r;
}

static char *join(const char *a, const char *b)
{
	return kf_path_join(a, b);
}

/* A CA (self-signed) with the openssl CLI. */
static int make_ca(const char *dir, const char *name)
{
	char key[512], crt[512], subj[128];
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
			       "-days", "2", "-subj", subj, NULL };

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(subj, sizeof(subj), "/CN=kf test %s", name);
	return run_ok(argv);
}

static int make_tls(struct kf_dlsrv *s)
{
	char key[512], csr[512], crt[512], cakey[512], ext[512];
	const char *req[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
			      "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
			      "-subj", "/CN=127.0.0.1", NULL };
	const char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", NULL, "-CAkey", cakey,
			       "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext, NULL };

	if (make_ca(s->dir, "ca") || make_ca(s->dir, "otherca"))
		return -1;
	s->ca_crt = join(s->dir, "ca.crt");
	s->other_ca_crt = join(s->dir, "otherca.crt");
	snprintf(key, sizeof(key), "%s/server.key", s->dir);
	snprintf(csr, sizeof(csr), "%s/server.csr", s->dir);
	snprintf(crt, sizeof(crt), "%s/server.crt", s->dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", s->dir);
	snprintf(ext, sizeof(ext), "%s/server.ext", s->dir);
	sign[6] = s->ca_crt;
	if (kf_test_write(ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
			       "subjectAltName=IP:127.0.0.1,DNS:localhost\n"))
		return -1;
	if (run_ok(req) || run_ok(sign))
		return -1;
	return 0;
}

int kf_dlsrv_start(struct kf_dlsrv *s, const char *dir, bool tls)
{
	char script[1024], port_file[1024], cert[1024], key[1024];
	const char *argv[16];
	struct kf_proc p = { 0 };
	struct kf_err err;
	int n = 0;

	memset(s, 0, sizeof(*s));
	s->tls = tls;
	s->dir = strdup(dir);
	s->www = join(dir, "www");
	s->access_log = join(dir, "access.log");
	s->faults = join(dir, "faults.json");
	s->server_log = join(dir, "server.log");
	if (!s->dir || !s->www || !s->access_log || !s->faults || !s->server_log)
		return -1;
	if (kf_fs_mkdirs(s->www, 0755, NULL) != 0 || kf_test_write(s->faults, "{}") != 0 ||
	    kf_test_write(s->access_log, "") != 0)
		return -1;
	if (tls && make_tls(s) != 0)
		return -1;
	snprintf(script, sizeof(script), "%s/lib/download_fileserver.py", KF_TESTS_DIR);
	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	snprintf(cert, sizeof(cert), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	unlink(port_file);
	argv[n++] = "python3";
	argv[n++] = "-u";
	argv[n++] = script;
	argv[n++] = "--root";
	argv[n++] = s->www;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--access-log";
	argv[n++] = s->access_log;
	argv[n++] = "--faults";
	argv[n++] = s->faults;
	if (tls) {
		argv[n++] = "--cert";
		argv[n++] = cert;
		argv[n++] = "--key";
		argv[n++] = key;
	}
	argv[n] = NULL;
	p.argv = argv;
	p.detach = true;
	p.log_file = s->server_log;
	if (kf_proc_start(&p, &err) != 0) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		kf_proc_free(&p);
		return -1;
	}
	s->pid = p.pid;
	kf_proc_free(&p);
	for (int i = 0; i < 200; i++) {  /* up to 20 s */
		char *txt = kf_test_read(port_file);
		if (txt) {
			s->port = atoi(txt);
			free(txt);
			break;
		}
		if (!kf_proc_alive(s->pid))
			break;
		kf_sleep_ms(100);
	}
	if (s->port <= 0) {
		char *log = kf_test_read(s->server_log);
		fprintf(stderr, "fixture: file server did not start: %s\n", log ? log : "");
		free(log);
		return -1;
	}
	snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d", tls ? "https" : "http", s->port);
	return 0;
}

void kf_dlsrv_stop(struct kf_dlsrv *s)
{
	if (s->pid > 0)
		kf_proc_stop(s->pid, 3000);
	s->pid = 0;
	free(s->dir);
	free(s->www);
	free(s->access_log);
	free(s->faults);
	free(s->server_log);
	free(s->ca_crt);
	free(s->other_ca_crt);
	memset(s, 0, sizeof(*s));
}

int kf_dlsrv_set_faults(struct kf_dlsrv *s, const char *json)
{
	return kf_fs_write_atomic(s->faults, json, strlen(json), 0644, NULL);
}

int kf_dlsrv_clear_log(struct kf_dlsrv *s)
{
	return kf_test_write(s->access_log, "");
}

int kf_dlsrv_count(const struct kf_dlsrv *s, const char *path_part, int status, const char *range,
		   int proxied)
{
	char *data = kf_test_read(s->access_log), *line, *save = NULL;
	int n = 0;

	if (!data)
		return -1;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *rng = json_string_value(json_object_get(e, "range"));
		int st = (int)json_integer_value(json_object_get(e, "status"));
		int px = json_is_true(json_object_get(e, "proxied"));
		bool ok = e && path;
		if (ok && path_part && !strstr(path, path_part))
			ok = false;
		if (ok && status && st != status)
			ok = false;
		if (ok && range && (!rng || (*range && strcmp(rng, range) != 0)))
			ok = false;
		if (ok && proxied >= 0 && px != proxied)
			ok = false;
		n += ok;
		json_decref(e);
	}
	free(data);
	return n;
}

static int sha_file(const char *path, char out[KF_SHA256_HEX_LEN + 1])
{
	return kf_sha256_file(path, out, NULL);
}

int kf_fake_release_make(struct kf_fake_release *rel, const char *www, const char *prefix,
			 const char *version, const char *bad_entry, const char *omit_entry)
{
	static const char images_txt[] =
		"docker.io/rancher/klipper-helm:v0.9.8-build20250709\n"
		"docker.io/rancher/klipper-lb:v0.4.13\n"
		"docker.io/rancher/local-path-provisioner:v0.0.31\n"
		"docker.io/rancher/mirrored-coredns-coredns:1.12.3\n"
		"docker.io/rancher/mirrored-library-traefik:3.3.6\n"
		"docker.io/rancher/mirrored-metrics-server:v0.8.0\n"
		"docker.io/rancher/mirrored-pause:3.6\n";
	const char *names[] = { "k3s", "k3s-airgap-images-amd64.tar.zst", "k3s-images.txt" };
	char *digests[3];
	char path[1024], line[256];
	FILE *f;
	int r = -1;

	memset(rel, 0, sizeof(*rel));
	if (asprintf(&rel->dir, "%s/%s/%s", www, prefix, version) < 0) {
		rel->dir = NULL;
		return -1;
	}
	if (kf_fs_mkdirs(rel->dir, 0755, NULL) != 0)
		return -1;
	digests[0] = rel->k3s;
	digests[1] = rel->airgap;
	digests[2] = rel->images;
#define P(name) (snprintf(path, sizeof(path), "%s/%s", rel->dir, name), path)
	if (kf_test_random_file(P("k3s"), 1536 * 1024 + 17) ||
	    kf_test_random_file(P("k3s-airgap-images-amd64.tar.zst"), 3 * 1024 * 1024 + 5) ||
	    kf_test_write(P("k3s-images.txt"), images_txt) ||
	    kf_test_write(P("install.sh"), "#!/bin/sh\n# fake k3s install script for tests\n"
					   "echo installing k3s\n") ||
	    kf_test_random_file(P("ks-core-1.1.4.tgz"), 50 * 1024))
		goto out;
	for (int i = 0; i < 3; i++)
		if (sha_file(P(names[i]), digests[i]))
			goto out;
	if (sha_file(P("install.sh"), rel->install) || sha_file(P("ks-core-1.1.4.tgz"), rel->chart))
		goto out;
	f = fopen(P("sha256sum-amd64.txt"), "w");
	if (!f)
		goto out;
	/* Like the real file: more assets than we need. */
	fprintf(f, "%064d  k3s-airgap-images-amd64.tar\n", 7);
	for (int i = 0; i < 3; i++) {
		const char *d = digests[i];
		char wrong[KF_SHA256_HEX_LEN + 1];
		if (omit_entry && strcmp(omit_entry, names[i]) == 0)
			continue;
		if (bad_entry && strcmp(bad_entry, names[i]) == 0) {
			memcpy(wrong, d, sizeof(wrong));
			wrong[0] = wrong[0] == '0' ? '1' : '0';
			d = wrong;
		}
		snprintf(line, sizeof(line), "%s  %s\n", d, names[i]);
		fputs(line, f);
	}
	fprintf(f, "%064d  k3s-arm64\n", 9);
	if (fclose(f) != 0)
		goto out;
	r = 0;
#undef P
out:
	return r;
}

void kf_fake_release_free(struct kf_fake_release *rel)
{
	free(rel->dir);
	rel->dir = NULL;
}
