/* A real sshd per simulated node, for integration tests. */
#include "sshd_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"

int kf_test_free_port(const char *ip)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

char *kf_test_tempdir(const char *tag)
{
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "/tmp/kf-%s-XXXXXX", tag);
	if (!mkdtemp(tmpl))
		return NULL;
	return strdup(tmpl);
}

int kf_test_run(const char *const *argv, char **out)
{
	struct kf_proc p;
	struct kf_err err;
	int r;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 60000;
	r = kf_proc_run(&p, &err);
	if (out)
		*out = r == 0 ? strdup(kf_buf_str(&p.out)) : NULL;
	if (r == 0 && p.exit_code != 0 && p.errout.len)
		fprintf(stderr, "%s: %s", argv[0], kf_buf_str(&p.errout));
	r = r == 0 ? p.exit_code : -1;
	kf_proc_free(&p);
	return r;
}

int kf_test_keygen(const char *path, const char *type)
{
	const char *argv[] = { "ssh-keygen", "-q", "-t", type, "-N", "", "-C", "test", "-f", path,
			       NULL };
	char pub[600];

	unlink(path);
	snprintf(pub, sizeof(pub), "%s.pub", path);
	unlink(pub);
	return kf_test_run(argv, NULL);
}

const char *kf_test_user(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw ? pw->pw_name : "root";
}

int kf_test_sshd_start(struct kf_test_sshd *s, const char *dir, const char *ip, int port,
		       const char *const *host_keys, const char *authorized_keys)
{
	return kf_test_sshd_start_ex(s, dir, ip, port, host_keys, authorized_keys, NULL);
}

int kf_test_sshd_start_ex(struct kf_test_sshd *s, const char *dir, const char *ip, int port,
			  const char *const *host_keys, const char *authorized_keys,
			  const char *extra_config)
{
	struct kf_buf cfg;
	struct kf_proc p;
	struct kf_err err;
	char *sshd = kf_proc_which("/usr/sbin/sshd");
	int r;

	memset(s, 0, sizeof(*s));
	if (!sshd)
		return -1;
	free(sshd);
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->port = port ? port : kf_test_free_port(ip);
	snprintf(s->log, sizeof(s->log), "%s/sshd.log", dir);
	snprintf(s->config, sizeof(s->config), "%s/sshd_config", dir);
	mkdir(dir, 0700);
	mkdir("/run/sshd", 0755); /* privilege separation directory */
	kf_buf_init(&cfg, 0);
	kf_buf_printf(&cfg,
		      "ListenAddress %s:%d\n"
		      "PidFile %s/sshd.pid\n"
		      "AuthorizedKeysFile %s\n"
		      "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
		      "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
		      "LogLevel VERBOSE\nSubsystem sftp internal-sftp\nMaxStartups 100\n",
		      ip, s->port, dir, authorized_keys);
	for (int i = 0; host_keys && host_keys[i]; i++)
		kf_buf_printf(&cfg, "HostKey %s\n", host_keys[i]);
	if (extra_config)
		kf_buf_printf(&cfg, "%s\n", extra_config);
	r = kf_fs_write_atomic(s->config, cfg.data, cfg.len, 0600, &err);
	kf_buf_free(&cfg);
	if (r)
		return r;
	{
		const char *argv[] = { "/usr/sbin/sshd", "-D", "-f", s->config, "-E", s->log, NULL };
		memset(&p, 0, sizeof(p));
		p.argv = argv;
		p.log_file = s->log;
		if ((r = kf_proc_start(&p, &err)) != 0) {
			fprintf(stderr, "sshd: %s\n", err.msg);
			return r;
		}
		s->pid = p.pid;
		kf_proc_free(&p);
	}
	/* Wait until it listens (or died). */
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((unsigned short)s->port);
		inet_pton(AF_INET, ip, &a.sin_addr);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		if (!kf_proc_alive(s->pid)) {
			fprintf(stderr, "sshd exited at start; see %s\n", s->log);
			s->pid = 0;
			return -1;
		}
		kf_sleep_ms(25);
	}
	kf_test_sshd_stop(s);
	return -1;
}

void kf_test_sshd_stop(struct kf_test_sshd *s)
{
	if (s->pid > 0)
		kf_proc_stop(s->pid, 2000);
	s->pid = 0;
}
