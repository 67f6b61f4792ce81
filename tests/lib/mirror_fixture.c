/* Mirror test helpers: registries, the fault proxy, synthetic images. */
#include "mirror_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"

/* Every server started and not yet stopped, so a failed assertion (which longjmps out of a
 * test) cannot leave one running: the group teardown calls mt_stop_all. */
static long started[64];

static void remember(long pid)
{
	for (int i = 0; i < 64; i++)
		if (!started[i]) {
			started[i] = pid;
			return;
		}
}

static void forget(long pid)
{
	for (int i = 0; i < 64; i++)
		if (started[i] == pid)
			started[i] = 0;
}

void mt_stop_all(void)
{
	for (int i = 0; i < 64; i++)
		if (started[i]) {
			kf_proc_stop(started[i], 3000);
			started[i] = 0;
		}
}

int mt_free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static int wait_http(const char *url, const char *ca)
{
	for (int i = 0; i < 200; i++) {
		CURL *h = curl_easy_init();
		long st = 0;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 2L);
		if (ca)
			curl_easy_setopt(h, CURLOPT_CAINFO, ca);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		curl_easy_cleanup(h);
		if (st == 200 || st == 401)
			return 0;
		kf_sleep_ms(50);
	}
	return -1;
}

int mt_registry_start(struct mt_server *s, const char *dir, const char *cert, const char *key)
{
	char *cfg = kf_path_join(dir, "config.yml"), *data = kf_path_join(dir, "data");
	char *log = kf_path_join(dir, "registry.log");
	struct kf_buf y = KF_BUF_INIT;
	struct kf_err err;
	struct kf_proc p = { 0 };
	const char *argv[] = { "docker-registry", "serve", cfg, NULL };
	char probe[128];
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->port = mt_free_port();
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
	snprintf(s->url, sizeof(s->url), cert ? "127.0.0.1:%d" : "http://127.0.0.1:%d", s->port);
	kf_fs_mkdirs(data, 0755, &err);
	kf_buf_printf(&y,
		      "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
		      "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
		      "http:\n  addr: %s\n",
		      data, s->addr);
	if (cert)
		kf_buf_printf(&y, "  tls:\n    certificate: %s\n    key: %s\n", cert, key);
	if (kf_fs_write_atomic(cfg, y.data, y.len, 0644, &err) != 0)
		goto out;
	p.argv = argv;
	p.detach = true;
	p.log_file = log;
	if (kf_proc_start(&p, &err) != 0) {
		fprintf(stderr, "registry start: %s\n", err.msg);
		goto out;
	}
	s->pid = p.pid;
	remember(s->pid);
	snprintf(probe, sizeof(probe), "%s://127.0.0.1:%d/v2/", cert ? "https" : "http", s->port);
	rc = wait_http(probe, cert);
	if (rc) {
		fprintf(stderr, "registry on %s did not answer\n", s->addr);
		mt_server_stop(s);
	}
out:
	kf_proc_free(&p);
	kf_buf_free(&y);
	free(cfg);
	free(data);
	free(log);
	return rc;
}

int mt_proxy_start(struct mt_server *s, const char *dir, const struct mt_server *upstream,
		   const char *const *extra)
{
	char script[1024], listen[64], *pf = kf_path_join(dir, "proxy.port");
	char *log = kf_path_join(dir, "proxy.log");
	const char *argv[32];
	int n = 0, rc = -1;
	struct kf_proc p = { 0 };
	struct kf_err err;
	char probe[128];

	memset(s, 0, sizeof(*s));
	unlink(pf);
	s->port = mt_free_port();
	snprintf(script, sizeof(script), "%s/lib/mirror_fault_proxy.py", KF_TESTS_DIR);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--upstream";
	argv[n++] = upstream->addr;
	argv[n++] = "--log";
	argv[n++] = log;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	p.argv = argv;
	p.detach = true;
	p.log_file = log;
	if (kf_proc_start(&p, &err) != 0)
		goto out;
	s->pid = p.pid;
	remember(s->pid);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	snprintf(probe, sizeof(probe), "http://127.0.0.1:%d/v2/", s->port);
	rc = wait_http(probe, NULL);
	if (rc) {
		fprintf(stderr, "proxy on %s did not answer\n", s->addr);
		mt_server_stop(s);
	}
out:
	kf_proc_free(&p);
	free(pf);
	free(log);
	return rc;
}

void mt_server_stop(struct mt_server *s)
{
	if (s->pid > 0) {
		kf_proc_stop(s->pid, 3000);
		forget(s->pid);
	}
	s->pid = 0;
}

void mt_blob_random(struct mt_blob *b, size_t len, unsigned seed)
{
	char hex[KF_SHA256_HEX_LEN + 1];
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ seed;

	b->data = malloc(len ? len : 1);
	b->len = len;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b->data[i] = (unsigned char)(x >> 24);
	}
	kf_sha256_hex(b->data, len, hex);
	snprintf(b->digest, sizeof(b->digest), "sha256:%s", hex);
}

void mt_blob_text(struct mt_blob *b, const char *text)
{
	char hex[KF_SHA256_HEX_LEN + 1];

	b->len = strlen(text);
	b->data = (unsigned char *)strdup(text);
	kf_sha256_hex(b->data, b->len, hex);
	snprintf(b->digest, sizeof(b->digest), "sha256:%s", hex);
}

void mt_blob_free(struct mt_blob *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int mt_push_image(struct kf_oci_registry *r, const char *repo, const char *tag, const char *mt,
		  const struct mt_blob *config, const struct mt_blob *layers, size_t n_layers,
		  char **manifest, char digest[KF_OCI_DIGEST_LEN])
{
	struct kf_buf m = KF_BUF_INIT;
	struct kf_err err;
	char hex[KF_SHA256_HEX_LEN + 1];
	bool docker = strcmp(mt, KF_OCI_MT_DOCKER_MANIFEST) == 0;
	int rc;

	kf_err_clear(&err);
	if ((rc = kf_oci_blob_put(r, repo, config->digest, config->data, config->len, &err)) != 0)
		goto fail;
	for (size_t i = 0; i < n_layers; i++)
		if ((rc = kf_oci_blob_put(r, repo, layers[i].digest, layers[i].data, layers[i].len,
					  &err)) != 0)
			goto fail;
	kf_buf_printf(&m,
		      "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"%s\",\n   \"config\": "
		      "{\"mediaType\": \"%s\", \"size\": %zu, \"digest\": \"%s\"},\n   \"layers\": [",
		      mt, docker ? "application/vnd.docker.container.image.v1+json"
				 : "application/vnd.oci.image.config.v1+json",
		      config->len, config->digest);
	for (size_t i = 0; i < n_layers; i++)
		kf_buf_printf(&m, "%s\n      {\"mediaType\": \"%s\", \"size\": %zu, \"digest\": \"%s\"}",
			      i ? "," : "",
			      docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
				     : "application/vnd.oci.image.layer.v1.tar+gzip",
			      layers[i].len, layers[i].digest);
	kf_buf_puts(&m, "\n   ]\n}");
	kf_sha256_hex(m.data, m.len, hex);
	snprintf(digest, KF_OCI_DIGEST_LEN, "sha256:%s", hex);
	if ((rc = kf_oci_manifest_put(r, repo, tag ? tag : digest, m.data, m.len, mt, &err)) != 0)
		goto fail;
	*manifest = kf_buf_detach(&m);
	return 0;
fail:
	fprintf(stderr, "push %s: %s\n", repo, err.msg);
	kf_buf_free(&m);
	return rc;
}

int mt_run(const char *const *argv, char **out, int timeout_ms)
{
	struct kf_proc p = { 0 };
	struct kf_err err;
	int rc;

	p.argv = argv;
	p.timeout_ms = timeout_ms;
	p.out_max = 64 * 1024 * 1024;
	if (kf_proc_run(&p, &err) != 0) {
		fprintf(stderr, "run %s: %s\n", argv[0], err.msg);
		kf_proc_free(&p);
		return -1;
	}
	rc = p.signaled ? -1 : p.exit_code;
	if (rc != 0)
		fprintf(stderr, "%s exited %d: %s\n", argv[0], rc, kf_buf_str(&p.errout));
	if (out)
		*out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return rc;
}

char *mt_tmpdir(const char *tag)
{
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "/tmp/kf-%s-XXXXXX", tag);
	if (!mkdtemp(tmpl))
		return NULL;
	return strdup(tmpl);
}
