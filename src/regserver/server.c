/* The local registry's lifecycle: check the PKI, start the program server_config.c chose with
 * the config file it wrote, detached in its own process group, record its pid, wait until GET
 * /v2/ answers over TLS, and later find, reuse, restart, stop or describe it — only ever touching
 * a process whose command line shows it is our registry (server_proc.c). Two instances share the
 * storage: the read-only serving one the lab pulls from and the push one on 127.0.0.1 through
 * which k3sforge writes. The health check and the push probe are in server_probe.c. */
#include "k3sforge/regserver.h"

#include <dirent.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/strv.h"
#include "server_internal.h"

/* Healthy and serving our certificate? reason gets why not. */
static bool serving_ours(const struct kf_regserver_paths *p, const char *probe, int port,
			 char *reason, size_t rn)
{
	struct kf_tls_probe tp;
	struct kf_err e;
	bool ours;

	kf_err_clear(&e);
	if (kf_regserver_health(probe, port, p->ca, HEALTH_TIMEOUT_MS, &e) != 0) {
		snprintf(reason, rn, "it does not answer: %.900s", e.msg);
		return false;
	}
	if (kf_regserver_tls_check(&tp, probe, port, p->ca, probe, HEALTH_TIMEOUT_MS, &e) != 0) {
		snprintf(reason, rn, "%s", e.msg);
		kf_tls_probe_free(&tp);
		return false;
	}
	ours = kf_tls_probe_matches_file(&tp, p->cert);
	kf_tls_probe_free(&tp);
	if (!ours)
		snprintf(reason, rn, "it serves another certificate than %s", p->cert);
	return ours;
}

/* ---- PKI preconditions ---- */

static int check_pki(const struct kf_regserver_paths *p, struct kf_err *err)
{
	const char *files[] = { p->ca, p->cert, p->key };
	FILE *f;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int r = 0;

	for (int i = 0; i < 3; i++)
		if (!kf_fs_exists(files[i]))
			return kf_err_set(err, KF_ENOTFOUND, "%s is missing: run `k3sforge prep` first "
					  "(it makes the CA and the registry certificate)", files[i]);
	if ((f = fopen(p->cert, "rb")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!x) {
		r = kf_err_set(err, KF_ETLS, "%s is not a PEM certificate; rerun `k3sforge prep` to "
			       "re-issue it", p->cert);
		goto out;
	}
	if ((f = fopen(p->key, "rb")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!k) {
		r = kf_err_set(err, KF_ETLS, "%s is not a readable PEM private key; rerun `k3sforge "
			       "prep` to re-issue the registry certificate", p->key);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		r = kf_err_set(err, KF_ETLS, "%s does not belong to %s (certificate/key mismatch); "
			       "rerun `k3sforge prep` to re-issue the registry certificate",
			       p->key, p->cert);
		goto out;
	}
out:
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

/* ---- start / stop ---- */

static void docker_rm(const char *docker, const char *config_path)
{
	char name[64];
	const char *argv[] = { docker, "rm", "-f", name, NULL };
	struct kf_proc p;

	kf_rs_container_name(config_path, name, sizeof(name));
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = DOCKER_TIMEOUT_MS;
	p.out_max = 4096;
	kf_proc_run(&p, NULL);
	kf_proc_free(&p);
}

/* Stops our registry; with `listen` (may be NULL) also waits, bounded, until the port is free:
 * the main thread can be a zombie while the rest of the process still holds the socket. */
static int stop_pid(const struct kf_regserver_paths *p, long pid, const char *listen,
		    struct kf_err *err)
{
	bool docker = kf_rs_pid_is_docker(pid);
	int r;

	kf_info("stopping the registry (pid %ld)", pid);
	r = kf_rs_stop_group(pid, KF_REGSERVER_STOP_GRACE_MS);
	if (docker) {
		char *exe = kf_proc_which("docker");
		if (exe)
			docker_rm(exe, p->config);
		free(exe);
	}
	if (r)
		return kf_err_set(err, KF_EPROC, "the registry (pid %ld) did not stop after SIGTERM "
				  "and SIGKILL", pid);
	unlink(p->pid);
	for (int i = 0; listen && i < PORT_RELEASE_WAIT_MS / 50 && !kf_rs_port_free(listen); i++)
		kf_sleep_ms(50);
	return 0;
}

/* Starts a fresh registry from argv (taken over and freed) and waits for /v2/. `what` names
 * the instance in messages. */
static int start_new(const struct kf_regserver_paths *p, const struct kf_regserver_program *prog,
		     char **argv, const char *what, const char *listen, const char *probe,
		     int port, long *pid_out, struct kf_err *err)
{
	struct kf_proc proc;
	struct kf_err herr;
	char tail[600];
	long log_from, pid = 0;
	double deadline;
	long nap_ms;
	int r;

	*pid_out = 0;
	memset(&proc, 0, sizeof(proc));
	/* a container of ours left behind by a killed docker client would hold name and port */
	if (prog->kind == KF_REGSERVER_DOCKER)
		docker_rm(prog->exe, p->config);
	if (!kf_rs_port_free(listen)) {
		r = kf_rs_port_taken_error(err, port);
		goto out;
	}
	if ((r = kf_fs_mkdirs(p->data, 0755, err)) != 0)
		goto out;
	log_from = kf_rs_file_size(p->log);
	proc.argv = (const char *const *)argv;
	proc.detach = true;
	proc.log_file = p->log;
	if ((r = kf_proc_start(&proc, err)) != 0) {
		kf_err_wrap(err, "cannot start %s", what);
		goto out;
	}
	pid = proc.pid;
	if ((r = kf_rs_write_pidfile(p->pid, pid, err)) != 0)
		goto fail;
	kf_info("started %s (pid %ld, %s) on %s; waiting for https://%s:%d/v2/", what, pid,
		prog->exe, listen, probe, port);
	kf_err_clear(&herr);
	deadline = kf_now_mono() + KF_REGSERVER_START_TIMEOUT_MS / 1000.0;
	nap_ms = 20;
	for (;;) {
		if (!kf_rs_pid_running(pid)) {
			kf_rs_log_tail(p->log, log_from, tail, sizeof(tail));
			unlink(p->pid);
			if (strstr(tail, "address already in use"))
				r = kf_rs_port_taken_error(err, port);
			else
				r = kf_err_set(err, KF_EPROC, "%s exited at once (see %s): %s",
					       what, p->log, tail[0] ? tail : "no output");
			pid = 0;
			goto out;
		}
		if (kf_regserver_health(probe, port, p->ca, HEALTH_TIMEOUT_MS, &herr) == 0)
			break;
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "interrupted while waiting for %s", what);
			goto fail;
		}
		if (kf_now_mono() >= deadline) {
			kf_rs_log_tail(p->log, log_from, tail, sizeof(tail));
			r = kf_err_set(err, KF_ETIMEOUT,
				       "%s did not answer within %ds (%s); its log %s "
				       "ends: %s", what, KF_REGSERVER_START_TIMEOUT_MS / 1000, herr.msg,
				       p->log, tail[0] ? tail : "(empty)");
			goto fail;
		}
		/* the registry listens within about 0.1 s of its start: look often at first
		 * (a refused connection costs nothing), then back off */
		kf_sleep_ms(nap_ms);
		nap_ms = nap_ms * 2 > 200 ? 200 : nap_ms * 2;
	}
	*pid_out = pid;
	r = 0;
	goto out;
fail:
	if (pid) {
		kf_rs_stop_group(pid, KF_REGSERVER_STOP_GRACE_MS);
		if (prog->kind == KF_REGSERVER_DOCKER)
			docker_rm(prog->exe, p->config);
		unlink(p->pid);
	}
out:
	kf_proc_free(&proc);
	kf_argv_free(argv);
	return r;
}

/* Our running registry's pid: the pid file when it names our registry, else a /proc scan.
 * A stale pid file is removed. */
static long current_pid(const struct kf_regserver_paths *p)
{
	long pid = kf_rs_read_pidfile(p->pid);

	if (pid && kf_regserver_pid_is_ours(pid, p->config))
		return pid;
	if (pid) {
		kf_debug("%s names pid %ld, which is not our registry; ignoring it", p->pid, pid);
		unlink(p->pid);
	}
	return kf_rs_find_our_pid(p->config);
}

/* The push instance seen through the helpers above: the same certificate and storage, its own
 * config file, pid file and log. A shallow copy of p: never freed. */
static struct kf_regserver_paths push_view(const struct kf_regserver_paths *p)
{
	struct kf_regserver_paths v = *p;

	v.config = p->push_config;
	v.pid = p->push_pid;
	v.log = p->push_log;
	return v;
}

/* Starts (or reuses) the writable instance on 127.0.0.1:<port of push.addr>. avoid_port is the
 * serving instance's port, never picked for it. */
static int ensure_push(const struct kf_config *cfg, const struct kf_regserver_paths *p,
		       const struct kf_regserver_program *prog, int avoid_port, int *port_out,
		       long *pid_out, bool *reused, struct kf_err *err)
{
	struct kf_regserver_paths v = push_view(p);
	char listen[64], reason[KF_ERR_MSG_MAX];
	char **argv = NULL;
	bool changed = false;
	int port = kf_rs_read_push_port(p->push_addr), r = 0;
	long pid = current_pid(&v);

	*port_out = 0;
	*pid_out = 0;
	*reused = false;
	if (port == avoid_port)
		port = 0;
	if (port && (r = kf_regserver_write_push_config(cfg, p, prog->kind, port, &changed,
							err)) != 0)
		return r;
	if (pid) {
		if (!port)
			snprintf(reason, sizeof(reason), "%s is missing", p->push_addr);
		else if (changed)
			snprintf(reason, sizeof(reason), "its configuration changed");
		else if (serving_ours(&v, "127.0.0.1", port, reason, sizeof(reason))) {
			*reused = true;
			*pid_out = pid;
			*port_out = port;
			if (kf_rs_read_pidfile(v.pid) != pid)
				return kf_rs_write_pidfile(v.pid, pid, err);
			return 0;
		}
		kf_info("restarting the registry's push instance (pid %ld): %s", pid, reason);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		if ((r = stop_pid(&v, pid, port ? listen : NULL, err)) != 0)
			return r;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		if (!port || !kf_rs_port_free(listen)) {
			/* the kernel picks a free loopback port; recorded so every later push
			 * finds the instance */
			if (!(port = kf_rs_free_loopback_port(avoid_port)))
				return kf_err_set(err, KF_ENET, "no free TCP port on 127.0.0.1 for the "
						  "registry's push instance");
			snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		}
		if ((r = kf_rs_write_push_port(p->push_addr, port, err)) != 0 ||
		    (r = kf_regserver_write_push_config(cfg, p, prog->kind, port, &changed,
							err)) != 0 ||
		    (r = kf_regserver_push_argv(&argv, p, prog, port, err)) != 0)
			return r;
		r = start_new(&v, prog, argv, "the registry's push instance", listen, "127.0.0.1",
			      port, pid_out, err);
		/* another program took the port between the pick and the bind: pick again */
		if (r != KF_EEXIST)
			break;
		port = 0;
		kf_err_clear(err);
	}
	if (r)
		return r;
	if (!serving_ours(&v, "127.0.0.1", port, reason, sizeof(reason))) {
		stop_pid(&v, *pid_out, listen, NULL);
		*pid_out = 0;
		return kf_err_set(err, KF_ETLS, "the registry's push instance started but %s; "
				  "stopped it again", reason);
	}
	*port_out = port;
	return 0;
}

int kf_regserver_ensure(const struct kf_config *cfg, const char *out_dir,
			struct kf_regserver_report *rep, struct kf_err *err)
{
	struct kf_regserver_paths p;
	struct kf_regserver_program prog;
	char listen[300], probe[256], reason[KF_ERR_MSG_MAX];
	char **argv = NULL;
	int port, push_port = 0, r;
	long pid;

	memset(rep, 0, sizeof(*rep));
	memset(&prog, 0, sizeof(prog));
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		goto out;
	if ((r = check_pki(&p, err)) != 0)
		goto out;
	if ((r = kf_regserver_find_program(&prog, cfg, err)) != 0)
		goto out;
	rep->kind = prog.kind;
	snprintf(rep->probe_url, sizeof(rep->probe_url), "https://%s:%d/v2/", probe, port);
	snprintf(rep->url, sizeof(rep->url), "https://%s:%d", cfg->registry.host_ip ?
		 cfg->registry.host_ip : probe, cfg->registry.port);
	if ((r = kf_fs_mkdirs(p.dir, 0755, err)) != 0)
		goto out;
	/* A config.yml of the old single open registry differs from the read-only one, so such a
	 * registry is restarted read-only here. */
	if ((r = kf_regserver_write_config(cfg, &p, prog.kind, &rep->config_changed, err)) != 0)
		goto out;

	pid = current_pid(&p);
	if (pid) {
		if (rep->config_changed)
			snprintf(reason, sizeof(reason), "its configuration changed");
		else if (serving_ours(&p, probe, port, reason, sizeof(reason))) {
			rep->reused = true;
			rep->pid = pid;
			if (kf_rs_read_pidfile(p.pid) != pid && (r = kf_rs_write_pidfile(p.pid, pid, err)) != 0)
				goto out;
			kf_ok("the registry is already running (pid %ld) and serves %s", pid, p.cert);
			goto push;
		}
		if (kf_rs_port_taken_by_other(listen, port, pid)) {
			kf_rs_port_taken_error(err, port);
			r = kf_err_wrap(err, "the registry (pid %ld) must restart (%s) but cannot get "
					"%s, so it was left running", pid, reason, listen);
			goto out;
		}
		kf_info("restarting the registry (pid %ld): %s", pid, reason);
		if ((r = stop_pid(&p, pid, listen, err)) != 0)
			goto out;
		rep->restarted = true;
	}
	if ((r = kf_regserver_argv(&argv, cfg, &p, &prog, err)) != 0)
		goto out;
	if ((r = start_new(&p, &prog, argv, "the registry", listen, probe, port, &rep->pid,
			   err)) != 0)
		goto out;
	/* It answered over TLS against our CA; make sure it is our certificate it serves (a
	 * foreign registry cannot sneak in between start and check on the same port, but a
	 * certificate swapped while starting could). */
	if (!serving_ours(&p, probe, port, reason, sizeof(reason))) {
		r = kf_err_set(err, KF_ETLS, "the registry started but %s; stopped it again",
			       reason);
		stop_pid(&p, rep->pid, listen, NULL);
		rep->pid = 0;
		goto out;
	}
	kf_ok("registry up (read-only): %s (pid %ld), guests use %s", rep->probe_url, rep->pid,
	      rep->url);
push:
	if ((r = ensure_push(cfg, &p, &prog, port, &push_port, &rep->push_pid, &rep->push_reused,
			     err)) != 0)
		goto out;
	snprintf(rep->push_addr, sizeof(rep->push_addr), "127.0.0.1:%d", push_port);
	if (!rep->push_reused)
		kf_ok("registry push instance up: https://%s/v2/ (pid %ld, loopback only)",
		      rep->push_addr, rep->push_pid);
out:
	kf_regserver_program_free(&prog);
	kf_regserver_paths_free(&p);
	return r;
}

int kf_regserver_push_target(const struct kf_config *cfg, const char *out_dir, char *addr,
			     size_t n, struct kf_err *err)
{
	struct kf_regserver_paths p;
	struct kf_regserver_program prog;
	char listen[300], probe[256];
	bool reused = false;
	long pid = 0;
	int port, push_port = 0, r;

	memset(&prog, 0, sizeof(prog));
	if (n)
		addr[0] = '\0';
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0 ||
	    (r = check_pki(&p, err)) != 0 ||
	    (r = kf_regserver_find_program(&prog, cfg, err)) != 0 ||
	    (r = kf_fs_mkdirs(p.dir, 0755, err)) != 0)
		goto out;
	if ((r = ensure_push(cfg, &p, &prog, port, &push_port, &pid, &reused, err)) != 0) {
		kf_err_wrap(err, "the lab registry's push instance (127.0.0.1)");
		goto out;
	}
	snprintf(addr, n, "127.0.0.1:%d", push_port);
	kf_debug("pushing to the lab registry through %s (pid %ld%s)", addr, pid,
		 reused ? ", running" : ", started");
out:
	kf_regserver_program_free(&prog);
	kf_regserver_paths_free(&p);
	return r;
}

int kf_regserver_stop(const struct kf_config *cfg, const char *out_dir, bool *was_running,
		      struct kf_err *err)
{
	struct kf_regserver_paths p, v;
	char listen[300], probe[256], push_listen[64];
	bool have_listen;
	long pid;
	int r = 0, r2 = 0, port, push_port;

	if (was_running)
		*was_running = false;
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	have_listen = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
					  NULL) == 0;
	pid = current_pid(&p);
	if (pid) {
		if (was_running)
			*was_running = true;
		r = stop_pid(&p, pid, have_listen ? listen : NULL, err);
	} else {
		unlink(p.pid);
	}
	v = push_view(&p);
	push_port = kf_rs_read_push_port(p.push_addr);
	snprintf(push_listen, sizeof(push_listen), "127.0.0.1:%d", push_port);
	pid = current_pid(&v);
	if (pid) {
		if (was_running)
			*was_running = true;
		r2 = stop_pid(&v, pid, push_port ? push_listen : NULL, r ? NULL : err);
	} else {
		unlink(v.pid);
	}
	kf_regserver_paths_free(&p);
	return r ? r : r2;
}

/* ---- status ---- */

static void cert_expiry(const char *path, struct kf_regserver_status *st)
{
	FILE *f = fopen(path, "rb");
	X509 *x = NULL;
	int days = 0, secs = 0;
	struct tm tm;

	st->cert_present = false;
	if (!f)
		return;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		return;
	}
	st->cert_present = true;
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1)
		st->cert_days_left = days - (secs < 0 ? 1 : 0);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		strftime(st->cert_not_after, sizeof(st->cert_not_after), "%Y-%m-%d %H:%M:%S UTC",
			 &tm);
	X509_free(x);
}

/* Sums file sizes under dir, bounded in depth and count. */
static void walk_size(const char *dir, int depth, struct kf_regserver_status *st)
{
	DIR *d;
	struct dirent *de;

	if (depth > STORAGE_WALK_MAX_DEPTH || st->storage_truncated)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat sb;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (st->storage_files >= STORAGE_WALK_MAX_FILES) {
			st->storage_truncated = true;
			break;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			walk_size(path, depth + 1, st);
		} else if (S_ISREG(sb.st_mode)) {
			st->storage_files++;
			st->storage_bytes += (unsigned long long)sb.st_size;
		}
	}
	closedir(d);
}

static bool yaml_true(const char *path, const char *const *keys)
{
	char *v = kf_rs_yaml_file_get(path, keys);
	bool t = v && strcmp(v, "true") == 0;

	free(v);
	return t;
}

/* What the two config files say: read-only serving instance, deletes anywhere. */
static void config_modes(const struct kf_regserver_paths *p, struct kf_regserver_status *st)
{
	const char *ro[] = { "storage", "maintenance", "readonly", "enabled", NULL };
	const char *del[] = { "storage", "delete", "enabled", NULL };

	st->read_only = yaml_true(p->config, ro);
	st->delete_enabled = yaml_true(p->config, del) || yaml_true(p->push_config, del);
}

int kf_regserver_status(const struct kf_config *cfg, const char *out_dir,
			struct kf_regserver_status *st, struct kf_err *err)
{
	struct kf_regserver_paths p;
	char listen[300], probe[256];
	int port, r;

	memset(st, 0, sizeof(*st));
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		goto out;
	snprintf(st->url, sizeof(st->url), "https://%s:%d", cfg->registry.host_ip ?
		 cfg->registry.host_ip : probe, cfg->registry.port);
	snprintf(st->storage_dir, sizeof(st->storage_dir), "%s", p.data);
	cert_expiry(p.cert, st);
	walk_size(p.data, 0, st);

	st->pid = current_pid(&p);
	st->running = st->pid != 0;
	if (st->running) {
		size_t len = 0;
		char *cl = kf_rs_read_cmdline(st->pid, &len);
		if (cl) {
			kf_rs_cmdline_is_ours(cl, len, p.config, st->program, sizeof(st->program));
			free(cl);
		}
		/* A binary registry listens where its config.yml says; a docker one where the
		 * configuration maps the port. */
		if (!kf_rs_pid_is_docker(st->pid)) {
			char *text = NULL, *addr = NULL, host[256];
			size_t tl = 0;
			int aport;
			if (kf_fs_read(&text, &tl, p.config, CONFIG_MAX, NULL) == 0)
				addr = kf_rs_yaml_get2(text, tl, "http", "addr");
			if (addr && kf_rs_split_hostport(addr, host, sizeof(host), &aport) == 0) {
				port = aport;
				snprintf(probe, sizeof(probe), "%s",
					 kf_rs_is_wildcard(host) ? "127.0.0.1" : host);
			}
			free(addr);
			kf_freezero(text, tl);
		}
		snprintf(st->probe_url, sizeof(st->probe_url), "https://%s:%d/v2/", probe, port);
		if (serving_ours(&p, probe, port, st->health_error, sizeof(st->health_error))) {
			st->healthy = true;
			st->serves_our_cert = true;
		} else {
			struct kf_err e;
			kf_err_clear(&e);
			st->healthy = kf_regserver_health(probe, port, p.ca, HEALTH_TIMEOUT_MS,
							  &e) == 0;
		}
	}
	config_modes(&p, st);
	{
		struct kf_regserver_paths v = push_view(&p);
		int push_port = kf_rs_read_push_port(p.push_addr);
		if (push_port)
			snprintf(st->push_addr, sizeof(st->push_addr), "127.0.0.1:%d", push_port);
		st->push_pid = current_pid(&v);
		st->push_running = st->push_pid != 0;
		if (st->push_running && push_port)
			st->push_healthy = serving_ours(&v, "127.0.0.1", push_port,
							st->push_health_error,
							sizeof(st->push_health_error));
		else if (st->push_running)
			snprintf(st->push_health_error, sizeof(st->push_health_error),
				 "%s is missing", p.push_addr);
	}
out:
	kf_regserver_paths_free(&p);
	return r;
}

int kf_regserver_check(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	struct kf_regserver_paths p;
	char listen[300], probe[256], reason[KF_ERR_MSG_MAX];
	int port, r;
	long pid;

	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		goto out;
	pid = current_pid(&p);
	if (!pid) {
		r = kf_err_set(err, KF_ESTATE, "the registry is not running (after a reboot?)");
		goto out;
	}
	if (!serving_ours(&p, probe, port, reason, sizeof(reason))) {
		r = kf_err_set(err, KF_ESTATE, "the registry (pid %ld) is not healthy: %s", pid,
			       reason);
		goto out;
	}
	{
		const char *ro[] = { "storage", "maintenance", "readonly", "enabled", NULL };
		struct kf_regserver_paths v = push_view(&p);
		int push_port = kf_rs_read_push_port(p.push_addr);
		if (!yaml_true(p.config, ro)) {
			r = kf_err_set(err, KF_ESTATE, "the registry (pid %ld) takes pushes from the "
				       "lab network: %s is not read-only (made by an older k3sforge)",
				       pid, p.config);
			goto out;
		}
		pid = current_pid(&v);
		if (!pid || !push_port) {
			r = kf_err_set(err, KF_ESTATE, "the registry's push instance (127.0.0.1) is "
				       "not running");
			goto out;
		}
		if (!serving_ours(&v, "127.0.0.1", push_port, reason, sizeof(reason)))
			r = kf_err_set(err, KF_ESTATE, "the registry's push instance (pid %ld) is "
				       "not healthy: %s", pid, reason);
	}
out:
	kf_regserver_paths_free(&p);
	return r;
}

int kf_regserver_tls_selfcheck(const struct kf_config *cfg, const char *out_dir,
			       bool *checked_ip, struct kf_err *err)
{
	struct kf_regserver_paths p;
	struct kf_tls_probe tp;
	char listen[300], probe[256];
	int port, r;

	if (checked_ip)
		*checked_ip = false;
	memset(&tp, 0, sizeof(tp));
	if ((r = kf_regserver_paths(&p, cfg, out_dir, err)) != 0)
		return r;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		goto out;
	if ((r = kf_regserver_tls_check(&tp, probe, port, p.ca, probe, HEALTH_TIMEOUT_MS,
					err)) != 0)
		goto out;
	kf_tls_probe_free(&tp);
	if (cfg->registry.host_ip && kf_regserver_addr_is_local(cfg->registry.host_ip) &&
	    (strcmp(cfg->registry.host_ip, probe) != 0 || cfg->registry.port != port)) {
		if (checked_ip)
			*checked_ip = true;
		r = kf_regserver_tls_check(&tp, cfg->registry.host_ip, cfg->registry.port, p.ca,
					   cfg->registry.host_ip, HEALTH_TIMEOUT_MS, err);
		if (r)
			kf_err_wrap(err, "the guests reach the registry at %s:%d, but",
				    cfg->registry.host_ip, cfg->registry.port);
	} else if (cfg->registry.host_ip && strcmp(cfg->registry.host_ip, probe) == 0) {
		if (checked_ip)
			*checked_ip = true;
	} else {
		kf_debug("registry IP %s is not an address of this host; its TLS check waits for "
			 "the guests", cfg->registry.host_ip ? cfg->registry.host_ip : "(unset)");
	}
out:
	kf_tls_probe_free(&tp);
	kf_regserver_paths_free(&p);
	return r;
}

void kf_regserver_fingerprint(const struct kf_config *cfg, struct kf_fp *fp)
{
	kf_fp_str(fp, "registry.host_ip", cfg->registry.host_ip);
	kf_fp_int(fp, "registry.port", cfg->registry.port);
	kf_fp_str(fp, "registry.storage_dir", cfg->registry.storage_dir);
	kf_fp_str(fp, "registry.server", cfg->registry.server);
	kf_fp_str(fp, "registry.binary", cfg->registry.binary);
	kf_fp_str(fp, "registry.listen", cfg->registry.listen);
	kf_fp_int(fp, "registry.n_mirrors", (long long)cfg->registry.n_mirrors);
	for (size_t i = 0; i < cfg->registry.n_mirrors; i++)
		kf_fp_str(fp, "registry.mirror", cfg->registry.mirrors[i]);
}
