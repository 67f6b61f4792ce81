/* The registry server's processes and port: pid file, /proc command lines (only a process whose
 * command line shows it is our registry is ever signalled), stopping a process group, who holds
 * a port, and the end of registry.log for error messages. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/regserver.h"
#include "server_internal.h"

/* ---- processes: pid file, /proc ---- */

long kf_rs_read_pidfile(const char *path)
{
	char *text = NULL;
	char *end;
	long pid;

	if (kf_fs_read(&text, NULL, path, PIDFILE_MAX, NULL) != 0)
		return 0;
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno || end == text || pid <= 1 || pid > INT_MAX || (*end && *end != '\n'))
		pid = 0;
	free(text);
	return pid;
}

int kf_rs_write_pidfile(const char *path, long pid, struct kf_err *err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", pid);
	return kf_fs_write_atomic(path, text, (size_t)n, 0644, err);
}

/* /proc/<pid>/cmdline as NUL-separated args; caller frees. */
char *kf_rs_read_cmdline(long pid, size_t *len)
{
	char path[64], *text = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (kf_fs_read(&text, len, path, CMDLINE_MAX, NULL) != 0)
		return NULL;
	return text;
}

/* Does a NUL-separated command line look like our registry? `argv0` (may be NULL) gets the
 * program name. */
bool kf_rs_cmdline_is_ours(const char *cl, size_t len, const char *config_path, char *argv0,
			    size_t an)
{
	const char *arg0 = cl, *base, *arg1;
	bool has_config = false, looks = false;

	if (!len)
		return false;
	base = strrchr(arg0, '/');
	base = base ? base + 1 : arg0;
	arg1 = arg0 + strlen(arg0) + 1;
	if (argv0)
		snprintf(argv0, an, "%s", arg0);
	looks = strstr(base, "registry") != NULL || strcmp(base, "docker") == 0 ||
		(arg1 < cl + len && strcmp(arg1, "serve") == 0);
	/* the config path as an argument (binary: `serve <config>`) or as a docker volume source
	 * (`<config>:/etc/docker/registry/config.yml:ro`) */
	for (const char *a = cl; a < cl + len; a += strlen(a) + 1) {
		size_t cl_len = strlen(config_path);
		if (strncmp(a, config_path, cl_len) == 0 && (a[cl_len] == '\0' || a[cl_len] == ':'))
			has_config = true;
	}
	return looks && has_config;
}

/* Alive and not a zombie. A registry started by another process that has not reaped it yet (a
 * test harness, a shell) stays a zombie after it exited; for us it is gone. */
bool kf_rs_pid_running(long pid)
{
	char path[64], *text = NULL;
	const char *rp;
	bool running = true;

	if (!kf_proc_alive(pid))
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (kf_fs_read(&text, NULL, path, 4096, NULL) != 0)
		return true;
	rp = strrchr(text, ')');
	if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
		running = false;
	free(text);
	return running;
}

/* SIGTERM to the process group (the registry leads its own), up to grace_ms, then SIGKILL. Like
 * kf_proc_stop, but a zombie counts as stopped (see pid_running). */
int kf_rs_stop_group(long pid, int grace_ms)
{
	double deadline;

	if (!kf_rs_pid_running(pid))
		return 0;
	if (kill(-(pid_t)pid, SIGTERM) != 0)
		kill((pid_t)pid, SIGTERM);
	deadline = kf_now_mono() + grace_ms / 1000.0;
	while (kf_now_mono() < deadline) {
		if (!kf_rs_pid_running(pid))
			return 0;
		kf_sleep_ms(50);
	}
	kf_warn("the registry (pid %ld) ignored SIGTERM for %.0fs; killing it", pid,
		grace_ms / 1000.0);
	if (kill(-(pid_t)pid, SIGKILL) != 0)
		kill((pid_t)pid, SIGKILL);
	for (int i = 0; i < 200 && kf_rs_pid_running(pid); i++)
		kf_sleep_ms(10);
	return kf_rs_pid_running(pid) ? KF_EPROC : 0;
}

bool kf_regserver_pid_is_ours(long pid, const char *config_path)
{
	size_t len = 0;
	char *cl;
	bool ours;

	if (pid <= 1 || !kf_rs_pid_running(pid))
		return false;
	cl = kf_rs_read_cmdline(pid, &len);
	if (!cl)
		return false;
	ours = kf_rs_cmdline_is_ours(cl, len, config_path, NULL, 0);
	free(cl);
	return ours;
}

bool kf_rs_pid_is_docker(long pid)
{
	size_t len = 0;
	char *cl = kf_rs_read_cmdline(pid, &len);
	const char *base;
	bool docker;

	if (!cl)
		return false;
	base = strrchr(cl, '/');
	base = base ? base + 1 : cl;
	docker = strcmp(base, "docker") == 0;
	free(cl);
	return docker;
}

/* Our registry without (or with a stale) pid file: scan /proc for its command line. */
long kf_rs_find_our_pid(const char *config_path)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long found = 0;
	int seen = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d)) != NULL && seen++ < PROC_SCAN_MAX) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == (long)getpid())
			continue;
		if (kf_regserver_pid_is_ours(pid, config_path))
			found = pid;
	}
	closedir(d);
	return found;
}

/* The listening socket's inode for a TCP port, from /proc/net/tcp{,6}. */
static unsigned long listen_inode(int port)
{
	const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned long inode = 0;

	for (int f = 0; f < 2 && !inode; f++) {
		char *text = NULL, *line, *save = NULL;
		if (kf_fs_read(&text, NULL, files[f], (size_t)16 * 1024 * 1024, NULL) != 0)
			continue;
		for (line = strtok_r(text, "\n", &save); line && !inode;
		     line = strtok_r(NULL, "\n", &save)) {
			char local[80], remote[80];
			unsigned st, lport;
			unsigned long ino;
			const char *colon;
			if (sscanf(line, " %*d: %79s %79s %x %*s %*s %*s %*s %*s %lu", local, remote,
				   &st, &ino) != 4)
				continue;
			colon = strrchr(local, ':');
			if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
				continue;
			if (st == 0x0A && (int)lport == port)
				inode = ino;
		}
		free(text);
	}
	return inode;
}

/* Who listens on a port: pid and command name, best effort (0 when unknown, e.g. another
 * user's process). */
static long port_owner(int port, char *comm, size_t cn)
{
	unsigned long inode = listen_inode(port);
	char want[64];
	DIR *d;
	struct dirent *de;
	long found = 0;
	int budget = PROC_SCAN_MAX;

	comm[0] = '\0';
	if (!inode)
		return 0;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	d = opendir("/proc");
	if (!d)
		return 0;
	while (!found && budget > 0 && (de = readdir(d)) != NULL) {
		char fdpath[300];
		DIR *fdd;
		struct dirent *fe;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		budget--;
		if (*end || pid <= 0)
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd", pid);
		fdd = opendir(fdpath);
		if (!fdd)
			continue;
		while ((fe = readdir(fdd)) != NULL && budget-- > 0) {
			char link[600], target[128];
			ssize_t n;
			snprintf(link, sizeof(link), "%s/%s", fdpath, fe->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want) == 0) {
				found = pid;
				break;
			}
		}
		closedir(fdd);
	}
	closedir(d);
	if (found) {
		char path[64], *text = NULL;
		snprintf(path, sizeof(path), "/proc/%ld/comm", found);
		if (kf_fs_read(&text, NULL, path, 256, NULL) == 0) {
			text[strcspn(text, "\n")] = '\0';
			snprintf(comm, cn, "%s", text);
			free(text);
		}
	}
	return found;
}

int kf_rs_free_loopback_port(int avoid)
{
	for (int tries = 0; tries < 8; tries++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

		if (fd < 0)
			return 0;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
			port = ntohs(sa.sin_port);
		close(fd);
		if (port && port != avoid)
			return port;
	}
	return 0;
}

/* Can we bind the listen address? false (EADDRINUSE) means another program holds the port. */
bool kf_rs_port_free(const char *listen)
{
	char host[256];
	int port, fd, one = 1;
	struct sockaddr_storage ss;
	socklen_t sl;
	bool ok;

	if (kf_rs_split_hostport(listen, host, sizeof(host), &port) != 0)
		return true;
	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return true;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (kf_rs_is_wildcard(host))
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return true;
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&ss, sl) == 0 || errno != EADDRINUSE;
	close(fd);
	return ok;
}

bool kf_rs_port_taken_by_other(const char *listen, int port, long ours)
{
	char comm[64];
	long owner;

	if (kf_rs_port_free(listen))
		return false;
	owner = port_owner(port, comm, sizeof(comm));
	/* unknown owner (another user's process, docker-proxy): as before, ours may hold it */
	return owner > 0 && owner != ours;
}

int kf_rs_port_taken_error(struct kf_err *err, int port)
{
	char comm[64];
	long owner = port_owner(port, comm, sizeof(comm));

	if (owner)
		return kf_err_set(err, KF_EEXIST,
				  "port %d is taken by another program (pid %ld, %s); stop it or "
				  "set registry.port", port, owner, comm[0] ? comm : "?");
	return kf_err_set(err, KF_EEXIST,
			  "port %d is taken by another program; stop it or set registry.port", port);
}

/* One log line made short: a logrus line `time=".." level=fatal msg="..." go.version=..` becomes
 * `fatal: ...`; other lines are kept as they are. */
static void short_line(const char *line, size_t len, char *out, size_t n)
{
	const char *lv = NULL, *msg = NULL, *end = line + len;

	for (const char *p = line; p + 7 < end; p++) {
		if (!lv && strncmp(p, "level=", 6) == 0)
			lv = p + 6;
		if (!msg && strncmp(p, "msg=\"", 5) == 0)
			msg = p + 5;
	}
	if (lv && msg) {
		size_t ll = strcspn(lv, " \n"), ml = 0;
		/* msg ends at the first unescaped quote */
		while (msg + ml < end && !(msg[ml] == '"' && (ml == 0 || msg[ml - 1] != '\\')))
			ml++;
		snprintf(out, n, "%.*s: %.*s", (int)ll, lv, (int)ml, msg);
	} else {
		snprintf(out, n, "%.*s", (int)len, line);
	}
}

/* The last lines of the log written since offset `from`, newest last, joined with " | " and
 * cut from the front when they do not fit, so the final (usually fatal) line always shows. */
void kf_rs_log_tail(const char *path, long from, char *out, size_t n)
{
	FILE *f = fopen(path, "rb");
	char buf[LOG_TAIL_BYTES + 1], *acc;
	long size, start;
	size_t got, used = 0;
	const char *end;
	int lines = 0;

	out[0] = '\0';
	if (!f || n < 8) {
		if (f)
			fclose(f);
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	start = size - LOG_TAIL_BYTES;
	if (start < from)
		start = from;
	if (start < 0)
		start = 0;
	fseek(f, start, SEEK_SET);
	got = fread(buf, 1, LOG_TAIL_BYTES, f);
	fclose(f);
	buf[got] = '\0';
	for (size_t i = 0; i < got; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
			buf[i] = ' ';
	acc = calloc(1, n);
	if (!acc)
		return;
	/* walk lines from the end, prepending each while it fits */
	end = buf + got;
	while (end > buf && lines < 4) {
		const char *ls;
		char item[400], *joined;
		size_t il;
		while (end > buf && end[-1] == '\n')
			end--;
		if (end == buf)
			break;
		ls = end;
		while (ls > buf && ls[-1] != '\n')
			ls--;
		short_line(ls, (size_t)(end - ls), item, sizeof(item));
		il = strlen(item);
		if (used + il + (used ? 3 : 0) + 1 > n)
			break;
		joined = malloc(n);
		if (!joined)
			break;
		snprintf(joined, n, "%s%s%s", item, used ? " | " : "", acc);
		snprintf(acc, n, "%s", joined);
		free(joined);
		used = strlen(acc);
		lines++;
		end = ls;
	}
	snprintf(out, n, "%s", acc);
	free(acc);
}

long kf_rs_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

