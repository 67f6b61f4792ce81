/* Starts tests/lib/hostile_server.py on loopback (see hostile_fixture.h). */
#include "hostile_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"

static char *join2(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

/* A self-signed P-256 certificate for 127.0.0.1 (trusted by the tests as its own anchor). */
static int make_cert(const char *crt, const char *key)
{
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
			       "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
			       "subjectAltName=IP:127.0.0.1", NULL };
	struct kf_proc p = { 0 };
	struct kf_err err;
	int r;

	p.argv = argv;
	p.timeout_ms = 30000;
	r = kf_proc_run_ok(&p, &err);
	if (r)
		fprintf(stderr, "fixture: %s\n", err.msg);
	kf_proc_free(&p);
	return r ? -1 : 0;
}

int kf_hostile_start(struct kf_hostile *h, const char *dir, bool tls)
{
	char script[1024];
	char *port_file = NULL, *log = NULL, *key = NULL;
	const char *argv[12];
	struct kf_proc p = { 0 };
	struct kf_err err;
	int n = 0, r = -1;

	memset(h, 0, sizeof(*h));
	h->dir = strdup(dir);
	port_file = join2(dir, "hostile.port");
	log = join2(dir, "hostile.log");
	key = join2(dir, "hostile.key");
	if (!h->dir || !port_file || !log || !key)
		goto out;
	unlink(port_file);
	if (tls && (!(h->ca = join2(dir, "hostile.crt")) || make_cert(h->ca, key) != 0))
		goto out;
	snprintf(script, sizeof(script), "%s/lib/hostile_server.py", KF_TESTS_DIR);
	argv[n++] = "python3";
	argv[n++] = "-u";
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	if (tls) {
		argv[n++] = "--cert";
		argv[n++] = h->ca;
		argv[n++] = "--key";
		argv[n++] = key;
	}
	argv[n] = NULL;
	p.argv = argv;
	p.detach = true;
	p.log_file = log;
	if (kf_proc_start(&p, &err) != 0) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		kf_proc_free(&p);
		goto out;
	}
	h->pid = p.pid;
	kf_proc_free(&p);
	for (int i = 0; i < 200 && h->port <= 0; i++) {  /* up to 20 s */
		char *txt = NULL;
		size_t len;
		if (kf_fs_read(&txt, &len, port_file, 64, &err) == 0) {
			if (sscanf(txt, "%d %d", &h->port, &h->plain_port) != 2)
				h->port = 0;
			free(txt);
		}
		if (h->port <= 0 && !kf_proc_alive(h->pid))
			break;
		if (h->port <= 0)
			kf_sleep_ms(100);
	}
	if (h->port <= 0) {
		fprintf(stderr, "fixture: hostile server did not start (see %s)\n", log);
		goto out;
	}
	snprintf(h->base, sizeof(h->base), "%s://127.0.0.1:%d", tls ? "https" : "http", h->port);
	r = 0;
out:
	free(port_file);
	free(log);
	free(key);
	return r;
}

void kf_hostile_stop(struct kf_hostile *h)
{
	if (h->pid > 0)
		kf_proc_stop(h->pid, 3000);
	free(h->dir);
	free(h->ca);
	memset(h, 0, sizeof(*h));
}
