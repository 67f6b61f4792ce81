/* kf_proc: spawn a program from an argv vector with posix_spawn (no shell), feed stdin, capture
 * stdout/stderr up to a bound, enforce a timeout by killing the child's process group. */
#include "k3sforge/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k3sforge/log.h"
#include "k3sforge/platform.h"

extern char **environ;

#define DEFAULT_OUT_MAX ((size_t)1024 * 1024)

char *kf_proc_which(const char *name)
{
	const char *path = getenv("PATH");
	const char *p;

	if (!name || !*name)
		return NULL;
	if (strchr(name, '/')) {
		struct stat st;
		return stat(name, &st) == 0 && S_ISREG(st.st_mode) && access(name, X_OK) == 0
			       ? strdup(name)
			       : NULL;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *cand = malloc(n + strlen(name) + 2);
		struct stat st;
		if (!cand)
			return NULL;
		if (n == 0)
			sprintf(cand, "./%s", name);
		else
			sprintf(cand, "%.*s/%s", (int)n, p, name);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (!end)
			break;
		p = end + 1;
	}
	return NULL;
}

static bool needs_quote(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%",
			    *s))
			return true;
	return false;
}

char *kf_proc_cmdline(const char *const *argv)
{
	struct kf_buf b;
	char *masked;

	kf_buf_init(&b, 0);
	for (int i = 0; argv && argv[i]; i++) {
		/* Mask before quoting: quoting a secret that holds a ' would hide it from the mask. */
		char *arg = kf_log_mask(argv[i]);
		if (!arg)
			break;
		if (i)
			kf_buf_putc(&b, ' ');
		if (!needs_quote(arg)) {
			kf_buf_puts(&b, arg);
			free(arg);
			continue;
		}
		kf_buf_putc(&b, '\'');
		for (const char *s = arg; *s; s++) {
			if (*s == '\'')
				kf_buf_puts(&b, "'\\''");
			else
				kf_buf_putc(&b, *s);
		}
		kf_buf_putc(&b, '\'');
		free(arg);
	}
	masked = kf_log_mask(kf_buf_str(&b));
	kf_buf_free(&b);
	return masked;
}

/* environ plus extra "K=V" entries, extra ones replacing inherited ones of the same name. */
static char **build_env(const char *const *extra)
{
	size_t n_env = 0, n_extra = 0, k = 0;
	char **env;

	while (environ && environ[n_env])
		n_env++;
	while (extra && extra[n_extra])
		n_extra++;
	env = calloc(n_env + n_extra + 1, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n_env; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < n_extra; j++)
			if (strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=')
				replaced = true;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < n_extra; j++)
		env[k++] = (char *)extra[j];
	env[k] = NULL;
	return env;
}

static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0)
		kill(pid, sig);
}

/* Spawns with the given fds for stdin/stdout/stderr (-1 = /dev/null). */
static int spawn(struct kf_proc *p, int in_fd, int out_fd, int err_fd, pid_t *pid,
		 struct kf_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **env = NULL;
	char *prog = NULL;
	char *cmd;
	int r;
	sigset_t def, none;

	if (!p->argv || !p->argv[0])
		return kf_err_set(err, KF_EPROC, "no program given");
	if (p->cwd) {
		struct stat st;
		if (stat(p->cwd, &st) != 0 || !S_ISDIR(st.st_mode))
			return kf_err_set(err, KF_ENOTFOUND, "cannot run %s in %s: no such directory",
					  p->argv[0], p->cwd);
	}
	prog = kf_proc_which(p->argv[0]);
	if (!prog)
		return kf_err_set(err, KF_ENOTFOUND, "%s: program not found%s", p->argv[0],
				  strchr(p->argv[0], '/') ? "" : " in PATH");
	env = build_env(p->env);
	if (!env) {
		free(prog);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	cmd = kf_proc_cmdline(p->argv);
	kf_debug("run: %s%s%s%s", cmd, p->cwd ? " (in " : "", p->cwd ? p->cwd : "",
		 p->cwd ? ")" : "");
	free(cmd);

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	/* The child starts with no blocked signals whatever our threads have blocked. */
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETSIGMASK);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	if (p->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, p->cwd);
	r = posix_spawn(pid, prog, &fa, &attr, (char *const *)p->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (r != 0) {
		kf_err_set(err, r == ENOENT ? KF_ENOTFOUND : KF_EPROC, "cannot start %s: %s", prog,
			   strerror(r));
		free(prog);
		return err ? err->code : KF_EPROC;
	}
	free(prog);
	p->pid = (long)*pid;
	return 0;
}

/* Reads what is available from *fd into b (up to max; the rest is dropped and *truncated set).
 * Closes the fd at EOF or on error. Returns the bytes read, 0 when nothing was. */
static ssize_t drain(int *fd, struct kf_buf *b, size_t max, bool *truncated)
{
	char chunk[65536];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0) {
		size_t room = b->len < max ? max - b->len : 0;
		size_t take = (size_t)n < room ? (size_t)n : room;
		if (take)
			kf_buf_append(b, chunk, take);
		if (take < (size_t)n)
			*truncated = true;
		return n;
	}
	if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
	return 0;
}

/* write() that cannot kill us with SIGPIPE when the child closed its stdin early, whatever the
 * caller's signal disposition (a library must not rely on main() ignoring SIGPIPE). */
static ssize_t write_nosigpipe(int fd, const void *data, size_t len)
{
	sigset_t set, old, pending;
	bool was_pending;
	ssize_t w;
	int e;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &old);
	w = write(fd, data, len);
	e = errno;
	if (w < 0 && e == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

/* A pollable handle that becomes readable when the child exits (Linux >= 5.3), or -1. */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		return (int)fd;
	}
#else
	(void)pid;
#endif
	return -1;
}

int kf_proc_run(struct kf_proc *p, struct kf_err *err)
{
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	size_t max = p->out_max ? p->out_max : DEFAULT_OUT_MAX;
	size_t in_off = 0;
	pid_t pid = -1;
	int pidfd = -1;
	double start = kf_now_mono(), deadline, kill_at = 0;
	int status = 0, r, backoff_ms = 1;
	bool killed = false, exited = false, interrupted = false;
	/* Only an interrupt that arrives while this program runs stops it; programs run after
	 * Ctrl-C (cleanup) run normally, bounded by their own timeouts. */
	bool interrupted_before = kf_interrupted();

	kf_buf_init(&p->out, max + 1);
	kf_buf_init(&p->errout, max + 1);
	p->exit_code = -1;
	p->term_signal = 0;
	p->signaled = p->timed_out = p->truncated = false;
	p->elapsed_s = 0;
	deadline = p->timeout_ms > 0 ? start + p->timeout_ms / 1000.0 : 0;

	if ((p->stdin_data && pipe2(in_pipe, O_CLOEXEC) != 0) ||
	    (!p->inherit_output && (pipe2(out_pipe, O_CLOEXEC) != 0 ||
				    pipe2(err_pipe, O_CLOEXEC) != 0))) {
		r = kf_err_set(err, KF_EPROC, "pipe: %s", strerror(errno));
		goto out;
	}
	r = spawn(p, in_pipe[0], out_pipe[1], err_pipe[1], &pid, err);
	if (in_pipe[0] >= 0) {
		close(in_pipe[0]);
		in_pipe[0] = -1;
	}
	if (out_pipe[1] >= 0) {
		close(out_pipe[1]);
		out_pipe[1] = -1;
	}
	if (err_pipe[1] >= 0) {
		close(err_pipe[1]);
		err_pipe[1] = -1;
	}
	if (r)
		goto out;
	if (in_pipe[1] >= 0)
		fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	if (out_pipe[0] >= 0)
		fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	if (err_pipe[0] >= 0)
		fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
	pidfd = open_pidfd(pid);

	/* One loop: feed stdin, collect output, and notice the exit through the pidfd (or, without
	 * one, by polling waitpid with a growing interval) -- never sleeping past the deadline. */
	while (!exited) {
		struct pollfd pfd[4];
		int n = 0, wait_ms = -1;
		pid_t w;

		if (out_pipe[0] >= 0)
			pfd[n++] = (struct pollfd){ out_pipe[0], POLLIN, 0 };
		if (err_pipe[0] >= 0)
			pfd[n++] = (struct pollfd){ err_pipe[0], POLLIN, 0 };
		if (in_pipe[1] >= 0)
			pfd[n++] = (struct pollfd){ in_pipe[1], POLLOUT, 0 };
		if (pidfd >= 0)
			pfd[n++] = (struct pollfd){ pidfd, POLLIN, 0 };
		else {
			wait_ms = backoff_ms;
			if (backoff_ms < 100)
				backoff_ms *= 2;
		}
		if (!killed && !interrupted_before && !interrupted && kf_interrupted()) {
			/* Ctrl-C reaches us, not the child's own process group: pass it on. */
			interrupted = true;
			kill_group(pid, SIGTERM);
			kill_at = kf_now_mono() + 3.0;
		}
		if (!killed && (deadline || kill_at)) {
			double now = kf_now_mono();
			double until = deadline && (!kill_at || deadline < kill_at) ? deadline : kill_at;
			if (now >= until) {
				killed = true;
				kill_group(pid, SIGKILL);
				continue;
			}
			if (wait_ms < 0 || (until - now) * 1000 < wait_ms)
				wait_ms = (int)((until - now) * 1000) + 1;
		}
		if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR) {
			r = kf_err_set(err, KF_EPROC, "poll: %s", strerror(errno));
			kill_group(pid, SIGKILL);
			waitpid(pid, &status, 0);
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == out_pipe[0])
				drain(&out_pipe[0], &p->out, max, &p->truncated);
			else if (pfd[i].fd == err_pipe[0])
				drain(&err_pipe[0], &p->errout, max, &p->truncated);
			else if (pfd[i].fd == in_pipe[1]) {
				ssize_t wr = write_nosigpipe(in_pipe[1], p->stdin_data + in_off,
							     p->stdin_len - in_off);
				if (wr > 0)
					in_off += (size_t)wr;
				if ((wr < 0 && errno != EAGAIN && errno != EINTR) ||
				    in_off >= p->stdin_len) {
					close(in_pipe[1]);
					in_pipe[1] = -1;
				}
			}
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = true;
		} else if (w < 0 && errno != EINTR) {
			r = kf_err_set(err, KF_EPROC, "waitpid: %s", strerror(errno));
			goto out;
		}
	}
	/* The child is gone; what it wrote is in the pipes. Take it, but do not wait for
	 * grandchildren that inherited the pipes (a daemon it started). */
	while (out_pipe[0] >= 0 && drain(&out_pipe[0], &p->out, max, &p->truncated) > 0)
		;
	while (err_pipe[0] >= 0 && drain(&err_pipe[0], &p->errout, max, &p->truncated) > 0)
		;
	/* Kill any grandchildren left in the group after a timeout. */
	if (killed)
		kill(-pid, SIGKILL);
	p->elapsed_s = kf_now_mono() - start;
	if (killed && !interrupted) {
		p->timed_out = true;
		r = kf_err_set(err, KF_ETIMEOUT, "%s did not finish within %.1fs and was killed",
			       p->argv[0], p->timeout_ms / 1000.0);
	} else if (interrupted) {
		r = kf_err_set(err, KF_EINTR, "%s was stopped: interrupted", p->argv[0]);
	} else {
		r = 0;
	}
	if (!p->timed_out && WIFSIGNALED(status)) {
		p->signaled = true;
		p->term_signal = WTERMSIG(status);
	} else if (!p->timed_out && WIFEXITED(status)) {
		p->exit_code = WEXITSTATUS(status);
	}
	kf_debug("exit: %s %s %d after %.2fs", p->argv[0],
		 p->signaled ? "signal" : (p->timed_out ? "timeout" : "code"),
		 p->signaled ? p->term_signal : p->exit_code, p->elapsed_s);
out:
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	return r;
}

/* Last non-empty line of s, at most 300 bytes, into out. */
static void last_line(const char *s, char *out, size_t n)
{
	const char *end = s + strlen(s);
	const char *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	snprintf(out, n, "%.*s", (int)(end - start > 300 ? 300 : end - start), start);
}

int kf_proc_run_ok(struct kf_proc *p, struct kf_err *err)
{
	char line[320];
	char *masked;
	int r = kf_proc_run(p, err);

	if (r)
		return r;
	if (!p->signaled && p->exit_code == 0)
		return 0;
	last_line(kf_buf_str(&p->errout), line, sizeof(line));
	if (!line[0])
		last_line(kf_buf_str(&p->out), line, sizeof(line));
	masked = kf_log_mask(line);
	if (p->signaled)
		kf_err_set(err, KF_EPROC, "%s was killed by signal %d (%s)%s%s", p->argv[0],
			   p->term_signal, strsignal(p->term_signal), masked && masked[0] ? ": " : "",
			   masked ? masked : "");
	else
		kf_err_set(err, KF_EPROC, "%s exited with status %d%s%s", p->argv[0], p->exit_code,
			   masked && masked[0] ? ": " : "", masked ? masked : "");
	free(masked);
	return KF_EPROC;
}

int kf_proc_start(struct kf_proc *p, struct kf_err *err)
{
	int fd = -1, r;
	pid_t pid;

	kf_buf_init(&p->out, 1);
	kf_buf_init(&p->errout, 1);
	if (p->log_file) {
		fd = open(p->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return kf_err_set(err, KF_EIO, "%s: %s", p->log_file, strerror(errno));
	} else {
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	r = spawn(p, -1, fd, fd, &pid, err);
	if (fd >= 0)
		close(fd);
	return r;
}

bool kf_proc_alive(long pid)
{
	int status;

	if (pid <= 0)
		return false;
	/* Reap it if it is our child and has exited. */
	if (waitpid((pid_t)pid, &status, WNOHANG) == (pid_t)pid)
		return false;
	if (!(kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return false;
	/* Someone else's child that has exited stays a zombie until its parent reaps it: it is
	 * not running any more. */
	{
		char path[64], buf[512];
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "re");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			char *paren;
			fclose(f);
			buf[n] = '\0';
			paren = strrchr(buf, ')');
			if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
				return false;
		}
	}
	return true;
}

int kf_proc_stop(long pid, int grace_ms)
{
	double deadline;

	if (pid <= 0)
		return 0;
	if (!kf_proc_alive(pid))
		return 0;
	kill_group((pid_t)pid, SIGTERM);
	deadline = kf_now_mono() + grace_ms / 1000.0;
	while (kf_now_mono() < deadline) {
		if (!kf_proc_alive(pid))
			return 0;
		kf_sleep_ms(20);
	}
	kill_group((pid_t)pid, SIGKILL);
	for (int i = 0; i < 100 && kf_proc_alive(pid); i++)
		kf_sleep_ms(10);
	return kf_proc_alive(pid) ? KF_EPROC : 0;
}

void kf_proc_free(struct kf_proc *p)
{
	kf_buf_free(&p->out);
	kf_buf_free(&p->errout);
}
