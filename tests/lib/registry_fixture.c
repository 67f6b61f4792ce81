/* Registry test fixture (see registry_fixture.h). */
#include "registry_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/regserver.h"

#define MAX_HELPERS 32
#define MAX_FIXTURES 8

/* What must be stopped even when a test dies half-way (atexit). */
static long helpers[MAX_HELPERS];
static struct regfix *fixtures[MAX_FIXTURES];
static bool atexit_done;

static void stop_everything(void)
{
	for (int i = 0; i < MAX_HELPERS; i++)
		if (helpers[i]) {
			kf_proc_stop(helpers[i], 3000);
			helpers[i] = 0;
		}
	for (int i = 0; i < MAX_FIXTURES; i++)
		if (fixtures[i]) {
			kf_regserver_stop(fixtures[i]->cfg, fixtures[i]->out_dir, NULL, NULL);
			kf_fs_remove_tree(fixtures[i]->out_dir, NULL);
			fixtures[i] = NULL;
		}
}

static void arm_atexit(void)
{
	if (!atexit_done) {
		atexit(stop_everything);
		atexit_done = true;
	}
}

int regfix_run(const char *const *argv, char **out)
{
	struct kf_proc p;
	int code;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	if (out)
		*out = NULL;
	if (kf_proc_run(&p, NULL) != 0 || p.signaled) {
		kf_proc_free(&p);
		return -1;
	}
	code = p.exit_code;
	if (code != 0)
		fprintf(stderr, "[regfix] %s exited %d: %s\n", argv[0], code, kf_buf_str(&p.errout));
	if (out)
		*out = strdup(kf_buf_str(&p.out));
	kf_proc_free(&p);
	return code;
}

int regfix_make_ca(const char *dir, const char *name)
{
	char crt[1024], key[1024], subj[300];
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(subj, sizeof(subj), "/CN=%s", name);
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
			       "-days", "3650", "-subj", subj, "-addext",
			       "basicConstraints=critical,CA:TRUE", "-addext",
			       "keyUsage=critical,keyCertSign,cRLSign", NULL };
	return regfix_run(argv, NULL) == 0 ? 0 : -1;
}

int regfix_issue(const char *dir, const char *name, const char *ca_crt, const char *ca_key,
		 const char *san, const char *cn)
{
	return regfix_issue_curve(dir, name, ca_crt, ca_key, san, cn, "P-256");
}

int regfix_issue_curve(const char *dir, const char *name, const char *ca_crt, const char *ca_key,
		       const char *san, const char *cn, const char *curve)
{
	char curveopt[64];
	char crt[1024], key[1024], csr[1024], ext[1024], subj[300], extra[600];
	int r;

	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(csr, sizeof(csr), "%s/%s.csr", dir, name);
	snprintf(ext, sizeof(ext), "%s/%s.ext", dir, name);
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	snprintf(extra, sizeof(extra),
		 "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
		 "extendedKeyUsage=serverAuth\n%s%s\n", san ? "subjectAltName=" : "", san ? san : "");
	if (kf_fs_write_atomic(ext, extra, strlen(extra), 0644, NULL) != 0)
		return -1;
	snprintf(curveopt, sizeof(curveopt), "ec_paramgen_curve:%s", curve);
	{
		const char *argv[] = { "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
				       curveopt, "-nodes", "-keyout", key, "-out",
				       csr, "-subj", subj, NULL };
		if (regfix_run(argv, NULL) != 0)
			return -1;
	}
	{
		char serial[40];
		snprintf(serial, sizeof(serial), "0x%08lx%08lx", (unsigned long)random(),
			 (unsigned long)random());
		const char *argv[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca_crt,
				       "-CAkey", ca_key, "-set_serial", serial, "-out", crt,
				       "-days", "365", "-sha256", "-extfile", ext, NULL };
		r = regfix_run(argv, NULL);
	}
	unlink(csr);
	unlink(ext);
	chmod(key, 0600);
	return r == 0 ? 0 : -1;
}

int regfix_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

bool regfix_wait_listen(const char *host, int port, int timeout_ms)
{
	double deadline = kf_now_mono() + timeout_ms / 1000.0;

	while (kf_now_mono() < deadline) {
		struct sockaddr_in sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &sa.sin_addr);
		ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return true;
		kf_sleep_ms(50);
	}
	return false;
}

long regfix_spawn(const char *const *argv)
{
	struct kf_proc p;
	long pid = 0;

	arm_atexit();
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.detach = true;
	if (kf_proc_start(&p, NULL) == 0)
		pid = p.pid;
	kf_proc_free(&p);
	for (int i = 0; pid && i < MAX_HELPERS; i++)
		if (!helpers[i]) {
			helpers[i] = pid;
			break;
		}
	return pid;
}

void regfix_kill(long pid)
{
	if (!pid)
		return;
	kf_proc_stop(pid, 3000);
	for (int i = 0; i < MAX_HELPERS; i++)
		if (helpers[i] == pid)
			helpers[i] = 0;
}

long regfix_listener(const char *host, int port)
{
	char portstr[16];
	long pid;
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *argv[] = { "python3", "-c",
			       "import socket,sys,time\n"
			       "s=socket.socket()\n"
			       "s.bind((sys.argv[1],int(sys.argv[2])))\n"
			       "s.listen(16)\n"
			       "time.sleep(600)\n",
			       host, portstr, NULL };
	pid = regfix_spawn(argv);
	if (pid && !regfix_wait_listen(host, port, 10000)) {
		regfix_kill(pid);
		return 0;
	}
	return pid;
}

long regfix_resetter(const char *host, int port)
{
	char portstr[16];
	long pid;
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *argv[] = { "python3", "-c",
			       "import socket,struct,sys\n"
			       "s=socket.socket()\n"
			       "s.bind((sys.argv[1],int(sys.argv[2])))\n"
			       "s.listen(16)\n"
			       "while True:\n"
			       "    c,_=s.accept()\n"
			       "    c.recv(1)\n"
			       "    c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n"
			       "    c.close()\n",
			       host, portstr, NULL };
	pid = regfix_spawn(argv);
	if (pid && !regfix_wait_listen(host, port, 10000)) {
		regfix_kill(pid);
		return 0;
	}
	return pid;
}

long regfix_tls_server(const char *host, int port, const char *cert, const char *key)
{
	char accept[64];
	long pid;
	snprintf(accept, sizeof(accept), "%s:%d", host, port);
	const char *argv[] = { "openssl", "s_server", "-quiet", "-www", "-accept", accept, "-cert",
			       cert, "-key", key, NULL };
	pid = regfix_spawn(argv);
	if (pid && !regfix_wait_listen(host, port, 10000)) {
		regfix_kill(pid);
		return 0;
	}
	return pid;
}

json_t *regfix_yaml_file(const char *path)
{
	char *out = NULL;
	json_t *j = NULL;
	json_error_t je;
	const char *argv[] = { "python3", "-c",
			       "import json,sys,yaml\n"
			       "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))\n",
			       path, NULL };

	if (regfix_run(argv, &out) == 0 && out)
		j = json_loads(out, 0, &je);
	free(out);
	return j;
}

int regfix_new(struct regfix **out)
{
	struct regfix *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/kf-registry-test-XXXXXX";
	char ca_crt[1024], ca_key[1024], listen[64];
	int slot = -1;

	*out = NULL;
	arm_atexit();
	srandom((unsigned)getpid() ^ (unsigned)kf_now_mono());
	if (!f || !mkdtemp(tmpl))
		goto fail;
	f->out_dir = strdup(tmpl);
	f->pki_dir = kf_path_join(f->out_dir, "pki");
	if (!f->out_dir || !f->pki_dir || kf_fs_mkdirs(f->pki_dir, 0700, NULL) != 0)
		goto fail;
	for (int i = 0; i < MAX_FIXTURES; i++)
		if (!fixtures[i]) {
			slot = i;
			break;
		}
	if (slot < 0 || kf_config_default(&f->cfg, NULL) != 0)
		goto fail;
	fixtures[slot] = f;
	if (regfix_make_ca(f->pki_dir, "ca") != 0)
		goto fail;
	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", f->pki_dir);
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", f->pki_dir);
	if (regfix_issue(f->pki_dir, "registry", ca_crt, ca_key, "IP:127.0.0.1,DNS:localhost",
			 "127.0.0.1") != 0)
		goto fail;
	f->port = regfix_free_port();
	if (f->port <= 0)
		goto fail;
	free(f->cfg->registry.host_ip);
	f->cfg->registry.host_ip = strdup("127.0.0.1");
	f->cfg->registry.port = f->port;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port);
	free(f->cfg->registry.listen);
	f->cfg->registry.listen = strdup(listen);
	free(f->cfg->registry.server);
	f->cfg->registry.server = strdup("binary");
	*out = f;
	return 0;
fail:
	fprintf(stderr, "[regfix] fixture setup failed\n");
	regfix_free(f);
	return -1;
}

void regfix_free(struct regfix *f)
{
	if (!f)
		return;
	for (int i = 0; i < MAX_FIXTURES; i++)
		if (fixtures[i] == f)
			fixtures[i] = NULL;
	for (int i = 0; i < MAX_HELPERS; i++)
		if (helpers[i]) {
			kf_proc_stop(helpers[i], 3000);
			helpers[i] = 0;
		}
	if (f->cfg && f->out_dir)
		kf_regserver_stop(f->cfg, f->out_dir, NULL, NULL);
	if (f->out_dir)
		kf_fs_remove_tree(f->out_dir, NULL);
	kf_config_free(f->cfg);
	free(f->out_dir);
	free(f->pki_dir);
	free(f);
}
