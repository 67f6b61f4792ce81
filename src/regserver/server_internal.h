/* Internal to src/regserver: what the registry server's files share — configuration and
 * command line (server_config.c), processes, ports and the log (server_proc.c), lifecycle and
 * status (server.c), health check and push probe (server_probe.c). Not a public interface. */
#ifndef KF_REGISTRY_SERVER_INTERNAL_H
#define KF_REGISTRY_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "k3sforge/err.h"

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

/* ---- server_config.c ---- */

/* Splits "host:port" / "[v6]:port" / ":port"; 0 or -1. */
int kf_rs_split_hostport(const char *s, char *host, size_t hn, int *port);
/* "", 0.0.0.0 or :: */
bool kf_rs_is_wildcard(const char *host);
/* The scalar at a two-level key path (`http` → `secret`) of a YAML text, or NULL (caller
 * frees). */
char *kf_rs_yaml_get2(const char *text, size_t len, const char *k1, const char *k2);
/* The same for a key path of any depth (NULL-terminated keys). */
char *kf_rs_yaml_get(const char *text, size_t len, const char *const *keys);
/* The scalar at a key path of a YAML file (CONFIG_MAX bound), or NULL (caller frees). */
char *kf_rs_yaml_file_get(const char *path, const char *const *keys);
/* The push instance's port from <out>/registry/push.addr, 0 when absent or malformed. */
int kf_rs_read_push_port(const char *path);
int kf_rs_write_push_port(const char *path, int port, struct kf_err *err);
/* "k3sforge-registry-<12 hex of the config path>": one container per output directory. */
void kf_rs_container_name(const char *config_path, char *out, size_t n);

/* ---- server_proc.c ---- */

/* The pid in a pid file, 0 when absent or malformed. */
long kf_rs_read_pidfile(const char *path);
int kf_rs_write_pidfile(const char *path, long pid, struct kf_err *err);
/* /proc/<pid>/cmdline as NUL-separated args (caller frees), NULL when unreadable. */
char *kf_rs_read_cmdline(long pid, size_t *len);
/* Does a command line look like our registry (a registry program, our config path)? argv0
 * (may be NULL) gets the program name. */
bool kf_rs_cmdline_is_ours(const char *cl, size_t len, const char *config_path, char *argv0,
			   size_t an);
/* Alive and not a zombie. */
bool kf_rs_pid_running(long pid);
/* SIGTERM to the process group, grace_ms, then SIGKILL; 0 when it is gone. */
int kf_rs_stop_group(long pid, int grace_ms);
/* Is the process the docker client? */
bool kf_rs_pid_is_docker(long pid);
/* Our registry found by its command line in /proc, 0 when none. */
long kf_rs_find_our_pid(const char *config_path);
/* A free TCP port on 127.0.0.1 (the kernel's pick), other than `avoid`; 0 when none. */
int kf_rs_free_loopback_port(int avoid);
/* Can the listen address be bound (false: another program holds the port)? */
bool kf_rs_port_free(const char *listen);
/* "port N is taken by another program (pid, name); stop it or set registry.port" */
int kf_rs_port_taken_error(struct kf_err *err, int port);
/* Is listen's port held, by a process known not to be `ours` (the instance about to be
 * replaced)? Checked before stopping it, so a restart never ends with no registry at all. */
bool kf_rs_port_taken_by_other(const char *listen, int port, long ours);
/* The last lines of the log written since offset `from`, shortened and joined with " | ". */
void kf_rs_log_tail(const char *path, long from, char *out, size_t n);
long kf_rs_file_size(const char *path);

#endif
