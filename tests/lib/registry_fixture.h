/* Test helpers for the registry tests: a temp output dir with a CA and a registry certificate
 * made by the openssl CLI, a free loopback port, helper servers (listeners, openssl s_server)
 * stopped by pid on every exit path (teardown and atexit), and YAML read back by python3. */
#ifndef KF_TEST_REGISTRY_FIXTURE_H
#define KF_TEST_REGISTRY_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "k3sforge/config.h"

struct regfix {
	char *out_dir;    /* temp dir, removed in teardown */
	char *pki_dir;    /* <out>/pki */
	struct kf_config *cfg;  /* defaults with registry.host_ip 127.0.0.1, a free port, listen
				   127.0.0.1:<port>, server binary */
	int port;
};

/* Makes the fixture (CA + server cert with SAN IP:127.0.0.1, DNS:localhost). 0 or -1. */
int regfix_new(struct regfix **out);
/* Stops our registry (by its pid file) and every helper, removes the temp dir. */
void regfix_free(struct regfix *f);

/* Creates <dir>/<name>.crt/.key: a self-signed CA (EC P-256). */
int regfix_make_ca(const char *dir, const char *name);
/* Issues <dir>/<name>.crt/.key signed by ca_crt/ca_key with the given subjectAltName value
 * ("IP:127.0.0.1,DNS:localhost") and CN. */
int regfix_issue(const char *dir, const char *name, const char *ca_crt, const char *ca_key,
		 const char *san, const char *cn);
/* Same with the key on another EC curve (e.g. secp256k1, which Go's TLS refuses). */
int regfix_issue_curve(const char *dir, const char *name, const char *ca_crt, const char *ca_key,
		       const char *san, const char *cn, const char *curve);
/* A TCP port free on 127.0.0.1 right now. */
int regfix_free_port(void);
/* Waits until host:port accepts TCP connections (bounded); true when it does. */
bool regfix_wait_listen(const char *host, int port, int timeout_ms);
/* Starts a helper server from argv; remembered and stopped at teardown/exit. Returns pid or 0. */
long regfix_spawn(const char *const *argv);
/* A plain TCP listener (python3) on host:port; waits until it accepts. Returns pid or 0. */
long regfix_listener(const char *host, int port);
/* A listener (python3) that resets every connection after its first byte arrives (RST), like
 * the seeds' registry did. Returns pid or 0. */
long regfix_resetter(const char *host, int port);
/* openssl s_server -www on host:port with cert/key; waits until it accepts. Returns pid or 0. */
long regfix_tls_server(const char *host, int port, const char *cert, const char *key);
/* Stops a helper by pid and forgets it. */
void regfix_kill(long pid);
/* Parses a YAML file with python3's yaml.safe_load into JSON (caller decrefs); NULL on error. */
json_t *regfix_yaml_file(const char *path);
/* Runs argv to completion; stdout into *out (caller frees, may be NULL). Returns exit code or
 * -1. */
int regfix_run(const char *const *argv, char **out);

#endif
