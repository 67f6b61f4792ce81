/* The registry server's configuration: paths under the output directory, which program serves
 * (distribution binary or docker), the listen address, config.yml (emitted with libyaml, http
 * secret generated once and kept) and the command line that starts it. */
#include "k3sforge/regserver.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/proc.h"
#include "server_internal.h"
#include "yaml_out.h"

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
	free(p->push_config);
	free(p->push_pid);
	free(p->push_log);
	free(p->push_addr);
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
	p->dir = kf_path_join(p->out_dir, KF_OUT_REGISTRY_DIR);
	pki = kf_path_join(p->out_dir, KF_OUT_PKI_DIR);
	if (!p->dir || !pki)
		goto nomem;
	p->config = kf_path_join(p->dir, "config.yml");
	p->pid = kf_path_join(p->dir, KF_REGISTRY_PID_NAME);
	p->log = kf_path_join(p->dir, KF_REGISTRY_LOG_NAME);
	p->push_config = kf_path_join(p->dir, "push-config.yml");
	p->push_pid = kf_path_join(p->dir, KF_PUSH_PID_NAME);
	p->push_log = kf_path_join(p->dir, KF_PUSH_LOG_NAME);
	p->push_addr = kf_path_join(p->dir, KF_PUSH_ADDR_NAME);
	if (cfg->registry.storage_dir && *cfg->registry.storage_dir)
		p->data = kf_path_abs(cfg->registry.storage_dir);
	else
		p->data = kf_path_join(p->dir, "data");
	p->ca = kf_path_join(pki, "ca.crt");
	p->cert = kf_path_join(pki, "registry.crt");
	p->key = kf_path_join(pki, "registry.key");
	free(pki);
	pki = NULL;
	if (!p->config || !p->pid || !p->log || !p->data || !p->ca || !p->cert || !p->key ||
	    !p->push_config || !p->push_pid || !p->push_log || !p->push_addr)
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
int kf_rs_split_hostport(const char *s, char *host, size_t hn, int *port)
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

bool kf_rs_is_wildcard(const char *host)
{
	return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

int kf_regserver_listen(const struct kf_config *cfg, char *listen, size_t n, char *probe_host,
			size_t hn, int *port, struct kf_err *err)
{
	char host[256];

	if (cfg->registry.listen && *cfg->registry.listen) {
		if (kf_rs_split_hostport(cfg->registry.listen, host, sizeof(host), port) != 0)
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
	snprintf(probe_host, hn, "%s", kf_rs_is_wildcard(host) ? "127.0.0.1" : host);
	return 0;
}

bool kf_regserver_is_lab_address(const struct kf_config *cfg, const char *spec)
{
	char listen[300], probe[256], host[256], lhost[256];
	int port, sport, lport;

	if (!spec || strncmp(spec, "https://", 8) == 0)
		spec = spec ? spec + 8 : spec;
	if (!spec || kf_rs_split_hostport(spec, host, sizeof(host), &sport) != 0)
		return false;
	if (cfg->registry.host_ip && strcmp(host, cfg->registry.host_ip) == 0 &&
	    sport == cfg->registry.port)
		return true;
	if (kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port, NULL) != 0 ||
	    sport != port || kf_rs_split_hostport(listen, lhost, sizeof(lhost), &lport) != 0)
		return false;
	if (strcmp(host, probe) == 0 || strcmp(host, lhost) == 0)
		return true;
	return kf_rs_is_wildcard(lhost) && (strcmp(host, "127.0.0.1") == 0 ||
					    strcmp(host, "localhost") == 0);
}

/* ---- config.yml ---- */

/* One renderer for both instances: `listen` is where it listens (inside the container for
 * docker); `push` makes the writable loopback instance, else the read-only serving one. */
static int render(char **out, const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
		  const char *listen_addr, bool push, const char *secret, struct kf_err *err)
{
	struct kf_yout y;
	char listen[300];
	int r;
	bool docker = kind == KF_REGSERVER_DOCKER;

	*out = NULL;
	snprintf(listen, sizeof(listen), "%s", docker ? "0.0.0.0:5000" : listen_addr);
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
	kf_yout_kv(&y, "service", push ? "k3sforge-registry-push" : "k3sforge-registry");
	kf_yout_map_end(&y);
	kf_yout_map_end(&y);

	kf_yout_str(&y, "storage");
	kf_yout_map_start(&y, false);
	kf_yout_str(&y, "filesystem");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "rootdirectory", docker ? DOCKER_DATA_PATH : p->data);
	kf_yout_map_end(&y);
	/* No k3sforge operation deletes manifests or blobs (cancelling an upload session is not a
	 * storage delete), so neither instance allows it. */
	kf_yout_str(&y, "delete");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "enabled", "false");
	kf_yout_map_end(&y);
	kf_yout_str(&y, "maintenance");
	kf_yout_map_start(&y, false);
	/* distribution starts its upload purger whatever the read-only setting
	 * (registry/handlers/app.go, NewApp): only the writer purges. */
	kf_yout_str(&y, "uploadpurging");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "enabled", push ? "true" : "false");
	if (push) {
		kf_yout_kv(&y, "age", "168h");
		kf_yout_kv(&y, "interval", "24h");
		kf_yout_kv(&y, "dryrun", "false");
	}
	kf_yout_map_end(&y);
	/* Read-only mode registers no upload, manifest PUT or DELETE route: they answer 405. */
	kf_yout_str(&y, "readonly");
	kf_yout_map_start(&y, false);
	kf_yout_kv(&y, "enabled", push ? "false" : "true");
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

int kf_regserver_render_config(char **out, const struct kf_config *cfg,
			       const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
			       const char *secret, struct kf_err *err)
{
	char listen[300], probe[256];
	int port, r;

	*out = NULL;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		return r;
	return render(out, p, kind, listen, false, secret, err);
}

int kf_regserver_render_push_config(char **out, const struct kf_config *cfg,
				    const struct kf_regserver_paths *p,
				    enum kf_regserver_kind kind, int push_port, const char *secret,
				    struct kf_err *err)
{
	char listen[64];

	(void)cfg;
	*out = NULL;
	if (push_port <= 0 || push_port > 65535)
		return kf_err_set(err, KF_EUSAGE, "push port %d is not a TCP port", push_port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", push_port);
	return render(out, p, kind, listen, true, secret, err);
}

/* The scalar at a two-level key path (`http` → `secret`) of a YAML text, or NULL. */
char *kf_rs_yaml_get2(const char *text, size_t len, const char *k1, const char *k2)
{
	const char *keys[] = { k1, k2, NULL };
	return kf_rs_yaml_get(text, len, keys);
}

char *kf_rs_yaml_file_get(const char *path, const char *const *keys)
{
	char *text = NULL, *v;
	size_t len = 0;

	if (kf_fs_read(&text, &len, path, CONFIG_MAX, NULL) != 0)
		return NULL;
	v = kf_rs_yaml_get(text, len, keys);
	kf_freezero(text, len);
	return v;
}

char *kf_rs_yaml_get(const char *text, size_t len, const char *const *keys)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *node;
	char *result = NULL;
	int depth_n = 0;

	while (keys[depth_n])
		depth_n++;
	if (!depth_n)
		return NULL;

	if (!yaml_parser_initialize(&parser))
		return NULL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_parser_delete(&parser);
		return NULL;
	}
	node = root = yaml_document_get_root_node(&doc);
	for (int depth = 0; node && depth < depth_n; depth++) {
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
		if (depth == depth_n - 1 && node && node->type == YAML_SCALAR_NODE)
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

/* Writes one instance's config file (path), keeping its http secret. push_port 0 = serving. */
static int write_config(const struct kf_config *cfg, const struct kf_regserver_paths *p,
			enum kf_regserver_kind kind, const char *path, int push_port,
			bool *changed, struct kf_err *err)
{
	char *old = NULL, *secret = NULL, *text = NULL;
	size_t old_len = 0;
	int r;

	*changed = false;
	if (kf_fs_read(&old, &old_len, path, CONFIG_MAX, NULL) == 0) {
		secret = kf_rs_yaml_get2(old, old_len, "http", "secret");
		if (secret && !is_hex(secret, SECRET_HEX_LEN)) {
			kf_freezero_str(secret);
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
	r = push_port ? kf_regserver_render_push_config(&text, cfg, p, kind, push_port, secret, err)
		      : kf_regserver_render_config(&text, cfg, p, kind, secret, err);
	if (r != 0)
		goto out;
	if (old && old_len == strlen(text) && memcmp(old, text, old_len) == 0)
		goto out;
	if ((r = kf_fs_mkdirs(p->dir, 0755, err)) != 0)
		goto out;
	if ((r = kf_fs_write_atomic(path, text, strlen(text), 0600, err)) != 0)
		goto out;
	*changed = true;
	kf_debug("wrote %s", path);
out:
	kf_freezero_str(secret);
	kf_freezero_str(text);
	kf_freezero(old, old_len);
	return r;
}

int kf_regserver_write_config(const struct kf_config *cfg, const struct kf_regserver_paths *p,
			      enum kf_regserver_kind kind, bool *changed, struct kf_err *err)
{
	return write_config(cfg, p, kind, p->config, 0, changed, err);
}

int kf_regserver_write_push_config(const struct kf_config *cfg,
				   const struct kf_regserver_paths *p, enum kf_regserver_kind kind,
				   int push_port, bool *changed, struct kf_err *err)
{
	*changed = false;
	if (push_port <= 0 || push_port > 65535)
		return kf_err_set(err, KF_EUSAGE, "push port %d is not a TCP port", push_port);
	return write_config(cfg, p, kind, p->push_config, push_port, changed, err);
}

int kf_rs_read_push_port(const char *path)
{
	char *text = NULL, host[64];
	int port = 0;

	if (kf_fs_read(&text, NULL, path, 64, NULL) != 0)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	if (kf_rs_split_hostport(text, host, sizeof(host), &port) != 0 ||
	    strcmp(host, "127.0.0.1") != 0)
		port = 0;
	free(text);
	return port;
}

int kf_rs_write_push_port(const char *path, int port, struct kf_err *err)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "127.0.0.1:%d\n", port);
	return kf_fs_write_atomic(path, text, (size_t)n, 0644, err);
}

/* ---- argv ---- */


/* "k3sforge-registry-<12 hex of the config path>": one container per output directory. */
void kf_rs_container_name(const char *config_path, char *out, size_t n)
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

/* The command line serving config_path; `listen` is the host address docker publishes. */
static int make_argv(char ***argv, const char *config_path,
		     const struct kf_regserver_paths *p, const struct kf_regserver_program *prog,
		     const char *listen, struct kf_err *err)
{
	char **v = calloc(32, sizeof(char *));
	char host[256] = "", name[64];
	int port, n = 0;

	*argv = NULL;
	if (!v)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (prog->kind == KF_REGSERVER_BINARY) {
		v[n++] = strdup(prog->exe);
		v[n++] = strdup("serve");
		v[n++] = strdup(config_path);
	} else {
		kf_rs_split_hostport(listen, host, sizeof(host), &port);
		kf_rs_container_name(config_path, name, sizeof(name));
		v[n++] = strdup(prog->exe);
		v[n++] = strdup("run");
		v[n++] = strdup("--rm");
		v[n++] = strdup("--name");
		v[n++] = strdup(name);
		v[n++] = strdup("-p");
		if (kf_rs_is_wildcard(host))
			v[n++] = xasprintf("%d:5000", port);
		else if (strchr(host, ':'))
			v[n++] = xasprintf("[%s]:%d:5000", host, port);
		else
			v[n++] = xasprintf("%s:%d:5000", host, port);
		v[n++] = strdup("-v");
		v[n++] = xasprintf("%s:%s:ro", config_path, DOCKER_CONFIG_PATH);
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

int kf_regserver_argv(char ***argv, const struct kf_config *cfg,
		      const struct kf_regserver_paths *p, const struct kf_regserver_program *prog,
		      struct kf_err *err)
{
	char listen[300], probe[256];
	int port, r;

	*argv = NULL;
	if ((r = kf_regserver_listen(cfg, listen, sizeof(listen), probe, sizeof(probe), &port,
				     err)) != 0)
		return r;
	return make_argv(argv, p->config, p, prog, listen, err);
}

int kf_regserver_push_argv(char ***argv, const struct kf_regserver_paths *p,
			   const struct kf_regserver_program *prog, int push_port,
			   struct kf_err *err)
{
	char listen[64];

	*argv = NULL;
	if (push_port <= 0 || push_port > 65535)
		return kf_err_set(err, KF_EUSAGE, "push port %d is not a TCP port", push_port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", push_port);
	return make_argv(argv, p->push_config, p, prog, listen, err);
}
