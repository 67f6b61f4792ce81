/* The local registry's lifecycle: choose the program (distribution binary or docker), generate
 * <out>/registry/config.yml, start it detached in its own process group, record its pid, wait
 * until GET /v2/ answers over TLS, and later find, reuse, restart or stop it — only ever touching
 * a process whose command line shows it is our registry. */
#include "k3sforge/regserver.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "yaml_out.h"

#define CONFIG_MAX ((size_t)64 * 1024)
#define PIDFILE_MAX ((size_t)64)
#define CMDLINE_MAX ((size_t)64 * 1024)
#define HEALTH_BODY_MAX ((size_t)64 * 1024)
#define HEALTH_TIMEOUT_MS 3000
#define PROC_SCAN_MAX 100000
#define STORAGE_WALK_MAX_FILES 2000000ULL
#define STORAGE_WALK_MAX_DEPTH 64
#define LOG_TAIL_BYTES 4096
#define DOCKER_TIMEOUT_MS 30000
#define SECRET_HEX_LEN 64
#define PORT_RELEASE_WAIT_MS 5000

/* Where the registry:2 image expects things. */
#define DOCKER_CONFIG_PATH "/etc/docker/registry/config.yml"
#define DOCKER_DATA_PATH "/var/lib/registry"
#define DOCKER_CERT_PATH "/certs/registry.crt"
#define DOCKER_KEY_PATH "/certs/registry.key"

/* ---- paths, program, listen address ---- */

void kf_regserver_paths_free(struct kf_regserver_paths *p)
{
	if (!p)
		return;
	free(p->out_dir);
	free(p->dir);
	free(p->config);
	free(p->pid);
	free(p->log);
	free(p->data);
	free(p->ca);
	free(p->cert);
	free(p->key);
	memset(p, 0, sizeof(*p));
}

int kf_regserver_paths(struct kf_regserver_paths *p, const struct kf_config *cfg,
		       const char *out_dir, struct kf_err *err)
{
	char *pki = NULL;

	memset(p, 0, sizeof(*p));
	if (!out_dir || !*out_dir)
		return kf_err_set(err, KF_EUSAGE, "no output directory given");
	p->out_dir = kf_path_abs(out_dir);
	if (!p->out_dir)
		goto nomem;
	p->dir = kf_path_join(p->out_dir, "registry");
	pki = kf_path_join(p->out_dir, "pki");
	if (!p->dir || !pki)
		goto nomem;
	p->config = kf_path_join(p->dir, "config.yml");
	p->pid = kf_path_join(p->dir, "registry.pid");
	p->log = kf_path_join(p->dir, "registry.log");
	if (cfg->registry.storage_dir && *cfg->registry.storage_dir)
		p->data = kf_path_abs(cfg->registry.storage_dir);
	else
		p->data = kf_path_join(p->dir, "data");
	p->ca = kf_path_join(pki, "ca.crt");
	p->cert = kf_path_join(pki, "registry.crt");
	p->key = kf_path_join(pki, "registry.key");
	free(pki);
	pki = NULL;
	if (!p->config || !p->pid || !p->log || !p->data || !p->ca || !p->cert || !p->key)
		goto nomem;
	return 0;
nomem:
	free(pki);
	kf_regserver_paths_free(p);
	return kf_err_set(err, KF_ENOMEM, "out of memory");
}

void kf_regserver_program_free(struct kf_regserver_program *prog)
{
	if (!prog)
		return;
	free(prog->exe);
	prog->exe = NULL;
}

/* The distribution binary: configured path, else `registry` / `docker-registry` in PATH, else
 * Debian's /usr/bin/docker-registry. */
static char *find_binary(const struct kf_config *cfg)
{
	char *exe;

	if (cfg->registry.binary && *cfg->registry.binary)
		return kf_proc_which(cfg->registry.binary);
	if ((exe = kf_proc_which("registry")) != NULL)
		return exe;
	if ((exe = kf_proc_which("docker-registry")) != NULL)
		return exe;
	return kf_proc_which("/usr/bin/docker-registry");
}

/* Is the registry:2 image present locally? (never pulled) */
static bool docker_image_present(const char *docker)
{
	const char *argv[] = { docker, "image", "inspect", "--format", "{{.Id}}",
			       KF_REGSERVER_DOCKER_IMAGE, NULL };
	struct kf_proc p;
	bool ok;

	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = DOCKER_TIMEOUT_MS;
	p.out_max = 4096;
	ok = kf_proc_run(&p, NULL) == 0 && !p.signaled && p.exit_code == 0;
	kf_proc_free(&p);
	return ok;
}

int kf_regserver_find_program(struct kf_regserver_program *prog, const struct kf_config *cfg,
			      struct kf_err *err)
{
	const char *mode = cfg->registry.server && *cfg->registry.server ? cfg->registry.server :
			   "auto";
	char *docker = NULL;

	memset(prog, 0, sizeof(*prog));
	if (strcmp(mode, "binary") != 0 && strcmp(mode, "docker") != 0 &&
	    strcmp(mode, "auto") != 0)
		return kf_err_set(err, KF_ECONFIG,
				  "registry.server is '%s': use auto, binary or docker", mode);
	if (strcmp(mode, "docker") != 0) {
		prog->exe = find_binary(cfg);
		if (prog->exe) {
			prog->kind = KF_REGSERVER_BINARY;
			return 0;
		}
		if (cfg->registry.binary && *cfg->registry.binary)
			return kf_err_set(err, KF_ENOTFOUND,
					  "registry.binary %s does not exist or is not executable; "
					  "install the distribution registry (Debian/Ubuntu: apt-get "
					  "install docker-registry) or fix registry.binary",
					  cfg->registry.binary);
		if (strcmp(mode, "binary") == 0)
			return kf_err_set(err, KF_ENOTFOUND,
					  "no registry binary found (looked for `registry` and "
					  "`docker-registry` in PATH and /usr/bin/docker-registry); "
					  "install it (Debian/Ubuntu: apt-get install docker-registry) or "
					  "set registry.binary");
	}
	docker = kf_proc_which("docker");
	if (!docker) {
		if (strcmp(mode, "docker") == 0)
			return kf_err_set(err, KF_ENOTFOUND,
					  "registry.server is docker but docker is not in PATH; install "
					  "Docker or set registry.server: binary");
		return kf_err_set(err, KF_ENOTFOUND,
				  "no registry program: no `registry`/`docker-registry` binary in "
				  "PATH and no docker; install one (Debian/Ubuntu: apt-get install "
				  "docker-registry) or set registry.binary");
	}
	if (!docker_image_present(docker)) {
		free(docker);
		return kf_err_set(err, KF_ENOTFOUND,
				  "%sthe %s image is not present locally and k3sforge never pulls: run "
				  "`docker pull %s` yourself, or install the registry binary "
				  "(apt-get install docker-registry)",
				  strcmp(mode, "auto") == 0 ? "no registry binary in PATH, and " : "",
				  KF_REGSERVER_DOCKER_IMAGE, KF_REGSERVER_DOCKER_IMAGE);
	}
	prog->kind = KF_REGSERVER_DOCKER;
	prog->exe = docker;
	return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port". */
static int split_hostport(const char *s, char *host, size_t hn, int *port)
{
	const char *colon;
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= hn)
			return -1;
		snprintf(host, hn, "%.*s", (int)(rb - s - 1), s + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= hn)
			return -1;
		snprintf(host, hn, "%.*s", (int)(colon - s), s);
	}
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno || *end || v <= 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static bool is_wildcard(const char *host)
{
	return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

int kf_regserver_listen(const struct kf_config *cfg, char *listen, size_t n, char *probe_host,
			size_t hn, int *port, struct kf_err *err)
{
	char host[256];

	if (cfg->registry.listen && *cfg->registry.listen) {
		if (split_hostport(cfg->registry.listen, host, sizeof(host), port) != 0)
			return kf_err_set(err, KF_ECONFIG,
					  "registry.listen '%s' is not host:port (e.g. 0.0.0.0:5000)",
					  cfg->registry.listen);
		snprintf(listen, n, "%s", cfg->registry.listen);
	} else {
		if (cfg->registry.port <= 0 || cfg->registry.port > 65535)
			return kf_err_set(err, KF_ECONFIG, "registry.port %d is not a TCP port "
					  "(1-65535)", cfg->registry.port);
		*port = cfg->registry.port;
		snprintf(host, sizeof(host), "0.0.0.0");
		snprintf(listen, n, "0.0.0.0:%d", *port);
	}
	snprintf(probe_host, hn, "%s", is_wildcard(host) ? "127.0.0.1" : host);
	return 0;
}

/* ---- config.yml ---- */

int kf_regserver_render_config(char **out, const struct kf_config *cfg,
			       const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
			       const char *secret, struct kf_err *err)
{
	struct kf_yout y;
	char listen[300], probe[256];
	int port, r;
	bool docker = kind == KF_REGSERVER_DOCKER;

	*out = NULL;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		return r;
	if (docker)
		snprintf(listen, sizeof(listen), "0.0.0.0:5000");
	if ((r = kf_yout_begin(&y)) != 0) {
		kf_yout_abort(&y);
		return kf_err_set(err, r, "out of memory emitting the registry config");
	}
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "version", "0.1");

	kf_yout_str(&y, "log");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "level", "info");
	kf_yout_kv(&y, "formatter", "text");
	kf_yout_str(&y, "accesslog");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "disabled", "true");
	kf_yout_map_end(&y);
	kf_yout_str(&y, "fields");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "service", "k3sforge-registry");
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);

	kf_yout_str(&y, "storage");
	kf_yout_map_start(&y, false);
	kf_yout_str(&y, "filesystem");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "rootdirectory", docker ? DOCKER_DATA_PATH : p->data);
	kf_yout_map_end(&y);
	kf_yout_str(&y, "delete");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "enabled", "true");
	kf_yout_map_end(&y);
	kf_yout_str(&y, "maintenance");
	kf_yout_map_start(&y, false);
	kf_yout_str(&y, "uploadpurging");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "enabled", "true");
	kf_yout_kv(&y, "age", "168h");
	kf_yout_kv(&y, "interval", "24h");
	kf_yout_kv(&y, "dryrun", "false");
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);

	kf_yout_str(&y, "http");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "addr", listen);
	kf_yout_kv(&y, "secret", secret);
	kf_yout_str(&y, "tls");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "certificate", docker ? DOCKER_CERT_PATH : p->cert);
	kf_yout_kv(&y, "key", docker ? DOCKER_KEY_PATH : p->key);
	kf_yout_map_end(&y);
	kf_yout_str(&y, "headers");
	kf_yout_map_start(&y, false);
	kf_yout_str(&y, "X-Content-Type-Options");
	kf_yout_seq_start(&y, true);
	kf_yout_str(&y, "nosniff");
	kf_yout_seq_end(&y);
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);

	kf_yout_map_end(&y);
	return kf_yout_finish(&y, out, "the registry config", err);
}

/* The scalar at a two-level key path (`http` → `secret`) of a YAML text, or NULL. */
static char *yaml_get2(const char *text, size_t len, const char *k1, const char *k2)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *node;
	char *result = NULL;
	const char *keys[2] = { k1, k2 };

	if (!yaml_parser_initialize(&parser))
		return NULL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_parser_delete(&parser);
		return NULL;
	}
	node = root = yaml_document_get_root_node(&doc);
	for (int depth = 0; node && depth < 2; depth++) {
		yaml_node_t *next = NULL;
		if (node->type != YAML_MAPPING_NODE)
			break;
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
			if (k && k->type == YAML_SCALAR_NODE &&
			    strlen(keys[depth]) == k->data.scalar.length &&
			    memcmp(k->data.scalar.value, keys[depth], k->data.scalar.length) == 0) {
				next = yaml_document_get_node(&doc, pr->value);
				break;
			}
		}
		node = next;
		if (depth == 1 && node && node->type == YAML_SCALAR_NODE)
			result = strndup((const char *)node->data.scalar.value,
					 node->data.scalar.length);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return result;
}

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

int kf_regserver_write_config(const struct kf_config *cfg, const struct kf_regserver_paths *p,
			      enum kf_regserver_kind kind, bool *changed, struct kf_err *err)
{
	char *old = NULL, *secret = NULL, *text = NULL;
	size_t old_len = 0;
	int r;

	*changed = false;
	if (kf_fs_read(&old, &old_len, p->config, CONFIG_MAX, NULL) == 0) {
		secret = yaml_get2(old, old_len, "http", "secret");
		if (secret && !is_hex(secret, SECRET_HEX_LEN)) {
			OPENSSL_cleanse(secret, strlen(secret));
			free(secret);
			secret = NULL;
		}
	}
	if (!secret) {
		unsigned char raw[SECRET_HEX_LEN / 2];
		secret = malloc(SECRET_HEX_LEN + 1);
		if (!secret) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
			r = kf_err_set(err, KF_EFAIL, "the CSPRNG failed to make the registry's http "
				       "secret");
			goto out;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(secret + 2 * i, 3, "%02x", raw[i]);
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	if ((r = kf_regserver_render_config(&text, cfg, p, kind, secret, err)) != 0)
		goto out;
	if (old && old_len == strlen(text) && memcmp(old, text, old_len) == 0)
		goto out;
	if ((r = kf_fs_mkdirs(p->dir, 0755, err)) != 0)
		goto out;
	if ((r = kf_fs_write_atomic(p->config, text, strlen(text), 0600, err)) != 0)
		goto out;
	*changed = true;
	kf_debug("wrote %s", p->config);
out:
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	if (old) {
		OPENSSL_cleanse(old, old_len);
		free(old);
	}
	return r;
}

/* ---- argv ---- */

void kf_regserver_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* "k3sforge-registry-<12 hex of the config path>": one container per output directory. */
static void container_name(const char *config_path, char *out, size_t n)
{
	char hex[KF_SHA256_HEX_LEN + 1];
	kf_sha256_hex(config_path, strlen(config_path), hex);
	snprintf(out, n, "k3sforge-registry-%.12s", hex);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int kf_regserver_argv(char ***argv, const struct kf_config *cfg,
		      const struct kf_regserver_paths *p, const struct kf_regserver_program *prog,
		      struct kf_err *err)
{
	char **v = calloc(32, sizeof(char *));
	char listen[300], host[256], probe[256], name[64];
	int port, r, n = 0;

	*argv = NULL;
	if (!v)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0) {
		free(v);
		return r;
	}
	if (prog->kind == KF_REGSERVER_BINARY) {
		v[n++] = strdup(prog->exe);
		v[n++] = strdup("serve");
		v[n++] = strdup(p->config);
	} else {
		split_hostport(listen, host, sizeof(host), &port);
		container_name(p->config, name, sizeof(name));
		v[n++] = strdup(prog->exe);
		v[n++] = strdup("run");
		v[n++] = strdup("--rm");
		v[n++] = strdup("--name");
		v[n++] = strdup(name);
		v[n++] = strdup("-p");
		if (is_wildcard(host))
			v[n++] = xasprintf("%d:5000", port);
		else if (strchr(host, ':'))
			v[n++] = xasprintf("[%s]:%d:5000", host, port);
		else
			v[n++] = xasprintf("%s:%d:5000", host, port);
		v[n++] = strdup("-v");
		v[n++] = xasprintf("%s:%s:ro", p->config, DOCKER_CONFIG_PATH);
		v[n++] = strdup("-v");
		v[n++] = xasprintf("%s:%s:ro", p->cert, DOCKER_CERT_PATH);
		v[n++] = strdup("-v");
		v[n++] = xasprintf("%s:%s:ro", p->key, DOCKER_KEY_PATH);
		v[n++] = strdup("-v");
		v[n++] = xasprintf("%s:%s", p->data, DOCKER_DATA_PATH);
		v[n++] = strdup(KF_REGSERVER_DOCKER_IMAGE);
	}
	for (int i = 0; i < n; i++)
		if (!v[i]) {
			for (int j = 0; j < n; j++)
				free(v[j]);
			free(v);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
	*argv = v;
	return 0;
}

/* ---- processes: pid file, /proc ---- */

static long read_pidfile(const char *path)
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

static int write_pidfile(const char *path, long pid, struct kf_err *err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", pid);
	return kf_fs_write_atomic(path, text, (size_t)n, 0644, err);
}

/* /proc/<pid>/cmdline as NUL-separated args; caller frees. */
static char *read_cmdline(long pid, size_t *len)
{
	char path[64], *text = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (kf_fs_read(&text, len, path, CMDLINE_MAX, NULL) != 0)
		return NULL;
	return text;
}

/* Does a NUL-separated command line look like our registry? `argv0` (may be NULL) gets the
 * program name. */
static bool cmdline_is_ours(const char *cl, size_t len, const char *config_path, char *argv0,
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
static bool pid_running(long pid)
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
static int stop_group(long pid, int grace_ms)
{
	double deadline;

	if (!pid_running(pid))
		return 0;
	if (kill(-(pid_t)pid, SIGTERM) != 0)
		kill((pid_t)pid, SIGTERM);
	deadline = kf_now_mono() + grace_ms / 1000.0;
	while (kf_now_mono() < deadline) {
		if (!pid_running(pid))
			return 0;
		kf_sleep_ms(50);
	}
	kf_warn("the registry (pid %ld) ignored SIGTERM for %.0fs; killing it", pid,
		grace_ms / 1000.0);
	if (kill(-(pid_t)pid, SIGKILL) != 0)
		kill((pid_t)pid, SIGKILL);
	for (int i = 0; i < 200 && pid_running(pid); i++)
		kf_sleep_ms(10);
	return pid_running(pid) ? KF_EPROC : 0;
}

bool kf_regserver_pid_is_ours(long pid, const char *config_path)
{
	size_t len = 0;
	char *cl;
	bool ours;

	if (pid <= 1 || !pid_running(pid))
		return false;
	cl = read_cmdline(pid, &len);
	if (!cl)
		return false;
	ours = cmdline_is_ours(cl, len, config_path, NULL, 0);
	free(cl);
	return ours;
}

static bool pid_is_docker(long pid)
{
	size_t len = 0;
	char *cl = read_cmdline(pid, &len);
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
static long find_our_pid(const char *config_path)
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

/* Can we bind the listen address? false (EADDRINUSE) means another program holds the port. */
static bool port_free(const char *listen)
{
	char host[256];
	int port, fd, one = 1;
	struct sockaddr_storage ss;
	socklen_t sl;
	bool ok;

	if (split_hostport(listen, host, sizeof(host), &port) != 0)
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
		if (is_wildcard(host))
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

static int port_taken_error(struct kf_err *err, int port)
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
static void log_tail(const char *path, long from, char *out, size_t n)
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

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* ---- health over TLS ---- */

struct health_ctx {
	bool api_header;
	size_t body;
};

static size_t health_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct health_ctx *h = data;
	size_t n = size * nitems;
	const char *name = "docker-distribution-api-version:";
	if (n >= strlen(name) && strncasecmp(buf, name, strlen(name)) == 0)
		h->api_header = true;
	return n;
}

static size_t health_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct health_ctx *h = data;
	size_t n = size * nitems;
	(void)buf;
	h->body += n;
	return h->body > HEALTH_BODY_MAX ? 0 : n;
}

int kf_regserver_health(const char *host, int port, const char *ca_file, int timeout_ms,
			struct kf_err *err)
{
	CURL *c;
	CURLcode cc;
	struct health_ctx h = { false, 0 };
	char url[300], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	int r = 0;

	if (strchr(host, ':'))
		snprintf(url, sizeof(url), "https://[%s]:%d/v2/", host, port);
	else
		snprintf(url, sizeof(url), "https://%s:%d/v2/", host, port);
	c = curl_easy_init();
	if (!c)
		return kf_err_set(err, KF_ENOMEM, "cannot initialise libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");        /* never through a proxy: it is local */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, health_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, health_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		int code = KF_ENET;
		if (cc == CURLE_OPERATION_TIMEDOUT)
			code = KF_ETIMEOUT;
		else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
			 cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM)
			code = KF_ETLS;
		r = kf_err_set(err, code, "GET %s: %s", url, errbuf[0] ? errbuf :
			       curl_easy_strerror(cc));
	} else if (status != 200) {
		r = kf_err_set(err, KF_EHTTP, "GET %s answered HTTP %ld, not 200: is it a "
			       "registry without authentication?", url, status);
	} else if (!h.api_header) {
		r = kf_err_set(err, KF_EHTTP, "GET %s answered 200 without a "
			       "Docker-Distribution-Api-Version header: not a registry", url);
	}
	return r;
}

/* Healthy and serving our certificate? reason gets why not. */
static bool serving_ours(const struct kf_regserver_paths *p, const char *probe, int port,
			 char *reason, size_t rn)
{
	struct kf_tls_probe tp;
	struct kf_err e;
	bool ours;

	kf_err_clear(&e);
	if (kf_regserver_health(probe, port, p->ca, HEALTH_TIMEOUT_MS, &e) != 0) {
		snprintf(reason, rn, "it does not answer: %s", e.msg);
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

	container_name(config_path, name, sizeof(name));
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
	bool docker = pid_is_docker(pid);
	int r;

	kf_info("stopping the registry (pid %ld)", pid);
	r = stop_group(pid, KF_REGSERVER_STOP_GRACE_MS);
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
	for (int i = 0; listen && i < PORT_RELEASE_WAIT_MS / 50 && !port_free(listen); i++)
		kf_sleep_ms(50);
	return 0;
}

/* Starts a fresh registry and waits for /v2/. */
static int start_new(const struct kf_config *cfg, const struct kf_regserver_paths *p,
		     const struct kf_regserver_program *prog, const char *listen,
		     const char *probe, int port, long *pid_out, struct kf_err *err)
{
	char **argv = NULL;
	struct kf_proc proc;
	struct kf_err herr;
	char tail[600];
	long log_from, pid = 0;
	double deadline;
	int r;

	*pid_out = 0;
	memset(&proc, 0, sizeof(proc));
	/* a container of ours left behind by a killed docker client would hold name and port */
	if (prog->kind == KF_REGSERVER_DOCKER)
		docker_rm(prog->exe, p->config);
	if (!port_free(listen))
		return port_taken_error(err, port);
	if ((r = kf_fs_mkdirs(p->data, 0755, err)) != 0)
		return r;
	if ((r = kf_regserver_argv(&argv, cfg, p, prog, err)) != 0)
		return r;
	log_from = file_size(p->log);
	proc.argv = (const char *const *)argv;
	proc.detach = true;
	proc.log_file = p->log;
	if ((r = kf_proc_start(&proc, err)) != 0) {
		kf_err_wrap(err, "cannot start the registry");
		goto out;
	}
	pid = proc.pid;
	if ((r = write_pidfile(p->pid, pid, err)) != 0)
		goto fail;
	kf_info("started the registry (pid %ld, %s) on %s; waiting for https://%s:%d/v2/", pid,
		prog->exe, listen, probe, port);
	kf_err_clear(&herr);
	deadline = kf_now_mono() + KF_REGSERVER_START_TIMEOUT_MS / 1000.0;
	for (;;) {
		if (!pid_running(pid)) {
			log_tail(p->log, log_from, tail, sizeof(tail));
			unlink(p->pid);
			if (strstr(tail, "address already in use"))
				r = port_taken_error(err, port);
			else
				r = kf_err_set(err, KF_EPROC, "the registry exited at once (see %s): %s",
					       p->log, tail[0] ? tail : "no output");
			pid = 0;
			goto out;
		}
		if (kf_regserver_health(probe, port, p->ca, HEALTH_TIMEOUT_MS, &herr) == 0)
			break;
		if (kf_interrupted()) {
			r = kf_err_set(err, KF_EINTR, "interrupted while waiting for the registry");
			goto fail;
		}
		if (kf_now_mono() >= deadline) {
			log_tail(p->log, log_from, tail, sizeof(tail));
			r = kf_err_set(err, KF_ETIMEOUT,
				       "the registry did not answer within %ds (%s); its log %s "
				       "ends: %s", KF_REGSERVER_START_TIMEOUT_MS / 1000, herr.msg,
				       p->log, tail[0] ? tail : "(empty)");
			goto fail;
		}
		kf_sleep_ms(200);
	}
	*pid_out = pid;
	r = 0;
	goto out;
fail:
	if (pid) {
		stop_group(pid, KF_REGSERVER_STOP_GRACE_MS);
		if (prog->kind == KF_REGSERVER_DOCKER)
			docker_rm(prog->exe, p->config);
		unlink(p->pid);
	}
out:
	kf_proc_free(&proc);
	kf_regserver_argv_free(argv);
	return r;
}

/* Our running registry's pid: the pid file when it names our registry, else a /proc scan.
 * A stale pid file is removed. */
static long current_pid(const struct kf_regserver_paths *p)
{
	long pid = read_pidfile(p->pid);

	if (pid && kf_regserver_pid_is_ours(pid, p->config))
		return pid;
	if (pid) {
		kf_debug("%s names pid %ld, which is not our registry; ignoring it", p->pid, pid);
		unlink(p->pid);
	}
	return find_our_pid(p->config);
}

int kf_regserver_ensure(const struct kf_config *cfg, const char *out_dir,
			struct kf_regserver_report *rep, struct kf_err *err)
{
	struct kf_regserver_paths p;
	struct kf_regserver_program prog;
	char listen[300], probe[256], reason[KF_ERR_MSG_MAX];
	int port, r;
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
	if ((r = kf_regserver_write_config(cfg, &p, prog.kind, &rep->config_changed, err)) != 0)
		goto out;

	pid = current_pid(&p);
	if (pid) {
		if (rep->config_changed)
			snprintf(reason, sizeof(reason), "its configuration changed");
		else if (serving_ours(&p, probe, port, reason, sizeof(reason))) {
			rep->reused = true;
			rep->pid = pid;
			if (read_pidfile(p.pid) != pid && (r = write_pidfile(p.pid, pid, err)) != 0)
				goto out;
			kf_ok("the registry is already running (pid %ld) and serves %s", pid, p.cert);
			goto out;
		}
		kf_info("restarting the registry (pid %ld): %s", pid, reason);
		if ((r = stop_pid(&p, pid, listen, err)) != 0)
			goto out;
		rep->restarted = true;
	}
	if ((r = start_new(cfg, &p, &prog, listen, probe, port, &rep->pid, err)) != 0)
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
	kf_ok("registry up: %s (pid %ld), guests use %s", rep->probe_url, rep->pid, rep->url);
out:
	kf_regserver_program_free(&prog);
	kf_regserver_paths_free(&p);
	return r;
}

int kf_regserver_stop(const struct kf_config *cfg, const char *out_dir, bool *was_running,
		      struct kf_err *err)
{
	struct kf_regserver_paths p;
	char listen[300], probe[256];
	bool have_listen;
	long pid;
	int r, port;

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
	kf_regserver_paths_free(&p);
	return r;
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
		char *cl = read_cmdline(st->pid, &len);
		if (cl) {
			cmdline_is_ours(cl, len, p.config, st->program, sizeof(st->program));
			free(cl);
		}
		/* A binary registry listens where its config.yml says; a docker one where the
		 * configuration maps the port. */
		if (!pid_is_docker(st->pid)) {
			char *text = NULL, *addr = NULL, host[256];
			size_t tl = 0;
			int aport;
			if (kf_fs_read(&text, &tl, p.config, CONFIG_MAX, NULL) == 0)
				addr = yaml_get2(text, tl, "http", "addr");
			if (addr && split_hostport(addr, host, sizeof(host), &aport) == 0) {
				port = aport;
				snprintf(probe, sizeof(probe), "%s",
					 is_wildcard(host) ? "127.0.0.1" : host);
			}
			free(addr);
			if (text) {
				OPENSSL_cleanse(text, tl);
				free(text);
			}
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
	if (!serving_ours(&p, probe, port, reason, sizeof(reason)))
		r = kf_err_set(err, KF_ESTATE, "the registry (pid %ld) is not healthy: %s", pid,
			       reason);
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
