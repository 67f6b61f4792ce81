/* The registry lifecycle against the real distribution registry (Debian's docker-registry) on
 * loopback, with certificates made by the openssl CLI, checked with curl and openssl s_client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/err.h"
#include "k3sforge/fs.h"
#include "k3sforge/proc.h"
#include "k3sforge/regserver.h"
#include "registry_fixture.h"

static int setup(void **state)
{
	struct regfix *f;
	if (regfix_new(&f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	regfix_free(*state);
	return 0;
}

static char *pki(const struct regfix *f, const char *name)
{
	return kf_path_join(f->pki_dir, name);
}

/* Starts the registry through the module; asserts success. Returns the pid. */
static long ensure_ok(struct regfix *f, struct kf_regserver_report *rep)
{
	struct kf_err err;
	int r;
	kf_err_clear(&err);
	r = kf_regserver_ensure(f->cfg, f->out_dir, rep, &err);
	if (r)
		fprintf(stderr, "ensure failed: %s\n", err.msg);
	assert_int_equal(r, 0);
	assert_true(rep->pid > 0);
	return rep->pid;
}

static void reissue(struct regfix *f, const char *san)
{
	char *ca_crt = pki(f, "ca.crt"), *ca_key = pki(f, "ca.key");
	assert_int_equal(regfix_issue(f->pki_dir, "registry", ca_crt, ca_key, san, "127.0.0.1"), 0);
	free(ca_crt);
	free(ca_key);
}

static void test_registry_started_answers_curl_with_our_ca(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	char url[128], *out = NULL, *ca = pki(f, "ca.crt");

	ensure_ok(f, &rep);
	assert_false(rep.reused);
	assert_true(kf_proc_alive(rep.pid));
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/v2/", f->port);
	const char *argv[] = { "curl", "-sS", "--noproxy", "*", "--cacert", ca, "-D", "-", "-o",
			       "/dev/null", "-w", "status=%{http_code}\n", url, NULL };
	assert_int_equal(regfix_run(argv, &out), 0);
	assert_non_null(strstr(out, "status=200"));
	assert_non_null(strcasestr(out, "Docker-Distribution-Api-Version: registry/2.0"));
	free(out);
	free(ca);
}

static void test_registry_writes_pid_file_and_config(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	char *pidfile = kf_path_join(f->out_dir, "registry/registry.pid");
	char *config = kf_path_join(f->out_dir, "registry/config.yml");
	char *text = NULL, expect[32];
	struct stat st;

	ensure_ok(f, &rep);
	assert_int_equal(kf_fs_read(&text, NULL, pidfile, 64, NULL), 0);
	snprintf(expect, sizeof(expect), "%ld\n", rep.pid);
	assert_string_equal(text, expect);
	assert_int_equal(stat(config, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(text);
	free(pidfile);
	free(config);
}

static void test_registry_serves_cert_with_required_sans(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	char connect[64], *out = NULL, *sans = NULL, *ca = pki(f, "ca.crt");
	char *pem_path = kf_path_join(f->out_dir, "served.pem");
	const char *begin, *end;

	ensure_ok(f, &rep);
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", f->port);
	const char *sc[] = { "openssl", "s_client", "-connect", connect, "-CAfile", ca,
			     "-verify_return_error", "-verify_ip", "127.0.0.1", NULL };
	assert_int_equal(regfix_run(sc, &out), 0);
	assert_non_null(strstr(out, "Verify return code: 0 (ok)"));
	begin = strstr(out, "-----BEGIN CERTIFICATE-----");
	end = strstr(out, "-----END CERTIFICATE-----");
	assert_non_null(begin);
	assert_non_null(end);
	end += strlen("-----END CERTIFICATE-----");
	assert_int_equal(kf_fs_write_atomic(pem_path, begin, (size_t)(end - begin), 0644, NULL), 0);
	const char *x5[] = { "openssl", "x509", "-in", pem_path, "-noout", "-ext", "subjectAltName",
			     NULL };
	assert_int_equal(regfix_run(x5, &sans), 0);
	assert_non_null(strstr(sans, "IP Address:127.0.0.1"));
	assert_non_null(strstr(sans, "DNS:localhost"));
	free(out);
	free(sans);
	free(ca);
	free(pem_path);
}

static void test_registry_second_ensure_reuses_running_process(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;

	ensure_ok(f, &rep1);
	ensure_ok(f, &rep2);
	assert_true(rep2.reused);
	assert_false(rep2.restarted);
	assert_false(rep2.config_changed);
	assert_int_equal(rep2.pid, rep1.pid);
}

static void test_registry_reissued_cert_restarts_it(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca = pki(f, "ca.crt"), *crt = pki(f, "registry.crt");

	ensure_ok(f, &rep1);
	reissue(f, "IP:127.0.0.1,DNS:localhost,DNS:registry.test");
	ensure_ok(f, &rep2);
	assert_false(rep2.reused);
	assert_true(rep2.restarted);
	assert_int_not_equal(rep2.pid, rep1.pid);
	assert_false(kf_proc_alive(rep1.pid));
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", f->port, ca, NULL, 5000, &err), 0);
	assert_true(kf_tls_probe_matches_file(&tp, crt));
	assert_non_null(strstr(tp.sans, "DNS:registry.test"));
	kf_tls_probe_free(&tp);
	free(ca);
	free(crt);
}

static void test_registry_config_change_restarts_it(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;
	char *data = kf_path_join(f->out_dir, "store2");

	ensure_ok(f, &rep1);
	free(f->cfg->registry.storage_dir);
	f->cfg->registry.storage_dir = strdup(data);
	ensure_ok(f, &rep2);
	assert_true(rep2.config_changed);
	assert_true(rep2.restarted);
	assert_int_not_equal(rep2.pid, rep1.pid);
	assert_true(kf_fs_is_dir(data));
	free(data);
}

static void test_registry_without_pid_file_is_found_and_reused(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;
	char *pidfile = kf_path_join(f->out_dir, "registry/registry.pid");

	ensure_ok(f, &rep1);
	assert_int_equal(unlink(pidfile), 0);
	ensure_ok(f, &rep2);
	assert_true(rep2.reused);
	assert_int_equal(rep2.pid, rep1.pid);
	assert_true(kf_fs_exists(pidfile));
	free(pidfile);
}

static void test_registry_stop_ends_the_process(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	bool was = false;
	char *pidfile = kf_path_join(f->out_dir, "registry/registry.pid");

	ensure_ok(f, &rep);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_stop(f->cfg, f->out_dir, &was, &err), 0);
	assert_true(was);
	assert_false(kf_proc_alive(rep.pid));
	assert_false(kf_fs_exists(pidfile));
	assert_int_equal(kf_regserver_stop(f->cfg, f->out_dir, &was, &err), 0);
	assert_false(was);
	free(pidfile);
}

static void test_registry_stop_spares_a_foreign_pid_in_the_pid_file(void **state)
{
	struct regfix *f = *state;
	char *dir = kf_path_join(f->out_dir, "registry");
	char *pidfile = kf_path_join(f->out_dir, "registry/registry.pid");
	const char *argv[] = { "sleep", "300", NULL };
	char text[32];
	struct kf_err err;
	bool was = true;
	long pid = regfix_spawn(argv);

	assert_true(pid > 0);
	assert_int_equal(kf_fs_mkdirs(dir, 0755, NULL), 0);
	snprintf(text, sizeof(text), "%ld\n", pid);
	assert_int_equal(kf_fs_write_atomic(pidfile, text, strlen(text), 0644, NULL), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_stop(f->cfg, f->out_dir, &was, &err), 0);
	assert_false(was);
	assert_true(kf_proc_alive(pid));
	regfix_kill(pid);
	free(dir);
	free(pidfile);
}

static void test_registry_port_taken_by_other_program_is_reported(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	char expect[128];
	long pid = regfix_listener("127.0.0.1", f->port);

	assert_true(pid > 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep, &err), KF_EEXIST);
	fprintf(stderr, "message: %s\n", err.msg);
	snprintf(expect, sizeof(expect), "port %d is taken by another program", f->port);
	assert_non_null(strstr(err.msg, expect));
	assert_non_null(strstr(err.msg, "stop it or set registry.port"));
	assert_true(kf_proc_alive(pid));
	regfix_kill(pid);
}

/* A restart onto a port another program holds is refused while the running registry still
 * runs: before, it was stopped first and the start then failed, leaving no registry at all. */
static void test_registry_restart_onto_a_taken_port_keeps_the_running_one(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;
	struct kf_err err;
	char expect[128], listen[64];
	int port2 = regfix_free_port();
	long pid;

	ensure_ok(f, &rep1);
	pid = regfix_listener("127.0.0.1", port2);
	assert_true(pid > 0);
	f->cfg->registry.port = port2;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port2);
	free(f->cfg->registry.listen);
	f->cfg->registry.listen = strdup(listen);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep2, &err), KF_EEXIST);
	fprintf(stderr, "message: %s\n", err.msg);
	snprintf(expect, sizeof(expect), "port %d is taken by another program", port2);
	assert_non_null(strstr(err.msg, expect));
	assert_non_null(strstr(err.msg, "left running"));
	assert_true(kf_proc_alive(rep1.pid));
	assert_true(kf_proc_alive(pid));
	regfix_kill(pid);
}

static void test_registry_missing_binary_is_reported(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;

	free(f->cfg->registry.binary);
	f->cfg->registry.binary = strdup("/nonexistent");
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent"));
	assert_non_null(strstr(err.msg, "registry.binary"));
}

static void test_registry_missing_pki_asks_for_prep(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	char *crt = pki(f, "registry.crt");

	assert_int_equal(unlink(crt), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "registry.crt"));
	assert_non_null(strstr(err.msg, "k3sforge prep"));
	free(crt);
}

static void test_registry_key_not_matching_cert_is_reported(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	char *other = kf_path_join(f->pki_dir, "other.key"), *key = pki(f, "registry.key");
	char *ca_crt = pki(f, "ca.crt"), *ca_key = pki(f, "ca.key");

	assert_int_equal(regfix_issue(f->pki_dir, "other", ca_crt, ca_key, "IP:127.0.0.1",
				      "127.0.0.1"), 0);
	assert_int_equal(rename(other, key), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep, &err), KF_ETLS);
	assert_non_null(strstr(err.msg, "certificate/key mismatch"));
	free(other);
	free(key);
	free(ca_crt);
	free(ca_key);
}

static void test_registry_that_exits_at_once_reports_its_log(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	char *ca_crt = pki(f, "ca.crt"), *ca_key = pki(f, "ca.key");
	char *pidfile = kf_path_join(f->out_dir, "registry/registry.pid");

	/* OpenSSL takes a secp256k1 key, Go's TLS does not: the registry dies at start-up */
	assert_int_equal(regfix_issue_curve(f->pki_dir, "registry", ca_crt, ca_key,
					    "IP:127.0.0.1,DNS:localhost", "127.0.0.1", "secp256k1"),
			 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_ensure(f->cfg, f->out_dir, &rep, &err), KF_EPROC);
	fprintf(stderr, "message: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "the registry exited at once"));
	assert_non_null(strstr(err.msg, "registry.log"));
	assert_non_null(strstr(err.msg, "curve"));
	assert_false(kf_fs_exists(pidfile));
	free(ca_crt);
	free(ca_key);
	free(pidfile);
}

static void test_tls_check_accepts_our_registry(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca = pki(f, "ca.crt"), *crt = pki(f, "registry.crt");

	ensure_ok(f, &rep);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", f->port, ca, "127.0.0.1", 5000,
						&err), 0);
	assert_int_equal(tp.verdict, KF_TLS_OK);
	assert_true(kf_tls_probe_matches_file(&tp, crt));
	kf_tls_probe_free(&tp);
	free(ca);
	free(crt);
}

static void test_tls_check_reports_san_mismatch(void **state)
{
	struct regfix *f = *state;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca_crt = pki(f, "ca.crt"), *ca_key = pki(f, "ca.key");
	char *crt = pki(f, "nosan.crt"), *key = pki(f, "nosan.key");
	int port = regfix_free_port();
	long pid;

	/* the seeds' certificate: CN=localhost, no IP SAN; served at 127.0.0.2 */
	assert_int_equal(regfix_issue(f->pki_dir, "nosan", ca_crt, ca_key, "DNS:localhost",
				      "localhost"), 0);
	pid = regfix_tls_server("127.0.0.2", port, crt, key);
	assert_true(pid > 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.2", port, ca_crt, NULL, 5000, &err),
			 KF_ETLS);
	assert_int_equal(tp.verdict, KF_TLS_NAME_MISMATCH);
	assert_non_null(strstr(err.msg, "does not name 127.0.0.2"));
	assert_non_null(strstr(err.msg, "DNS:localhost"));
	kf_tls_probe_free(&tp);
	regfix_kill(pid);
	free(ca_crt);
	free(ca_key);
	free(crt);
	free(key);
}

static void test_tls_check_reports_unknown_ca(void **state)
{
	struct regfix *f = *state;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca_crt = pki(f, "ca.crt");
	char *o_crt = pki(f, "otherca.crt"), *o_key = pki(f, "otherca.key");
	char *crt = pki(f, "foreign.crt"), *key = pki(f, "foreign.key");
	int port = regfix_free_port();
	long pid;

	assert_int_equal(regfix_make_ca(f->pki_dir, "otherca"), 0);
	assert_int_equal(regfix_issue(f->pki_dir, "foreign", o_crt, o_key,
				      "IP:127.0.0.1,DNS:localhost", "127.0.0.1"), 0);
	pid = regfix_tls_server("127.0.0.1", port, crt, key);
	assert_true(pid > 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", port, ca_crt, NULL, 5000, &err),
			 KF_ETLS);
	assert_int_equal(tp.verdict, KF_TLS_UNKNOWN_CA);
	assert_non_null(strstr(err.msg, "is not signed by the CA"));
	kf_tls_probe_free(&tp);
	regfix_kill(pid);
	free(ca_crt);
	free(o_crt);
	free(o_key);
	free(crt);
	free(key);
}

static void test_tls_check_reports_refused_port(void **state)
{
	struct regfix *f = *state;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca = pki(f, "ca.crt");

	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", regfix_free_port(), ca, NULL,
						5000, &err), KF_ENET);
	assert_int_equal(tp.verdict, KF_TLS_REFUSED);
	assert_non_null(strstr(err.msg, "connection refused"));
	kf_tls_probe_free(&tp);
	free(ca);
}

static void test_tls_check_reports_plain_tcp_peer_as_handshake_failure(void **state)
{
	struct regfix *f = *state;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca = pki(f, "ca.crt");
	int port = regfix_free_port();
	long pid = regfix_listener("127.0.0.1", port);

	assert_true(pid > 0);
	kf_err_clear(&err);
	/* the listener accepts but never answers: the handshake times out */
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", port, ca, NULL, 1000, &err),
			 KF_ETLS);
	assert_int_equal(tp.verdict, KF_TLS_HANDSHAKE);
	assert_non_null(strstr(err.msg, "TLS handshake failed"));
	kf_tls_probe_free(&tp);
	regfix_kill(pid);
	free(ca);
}

static void test_tls_check_reports_connection_reset_as_handshake_failure(void **state)
{
	struct regfix *f = *state;
	struct kf_tls_probe tp;
	struct kf_err err;
	char *ca = pki(f, "ca.crt");
	int port = regfix_free_port();
	long pid = regfix_resetter("127.0.0.1", port);

	assert_true(pid > 0);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_check(&tp, "127.0.0.1", port, ca, NULL, 5000, &err),
			 KF_ETLS);
	assert_int_equal(tp.verdict, KF_TLS_HANDSHAKE);
	assert_non_null(strstr(err.msg, "TLS handshake failed (Connection reset by peer)"));
	kf_tls_probe_free(&tp);
	regfix_kill(pid);
	free(ca);
}

static void test_registry_status_reports_running_registry(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_regserver_status st;
	struct kf_err err;
	char url[64];

	ensure_ok(f, &rep);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_status(f->cfg, f->out_dir, &st, &err), 0);
	assert_true(st.running);
	assert_true(st.healthy);
	assert_true(st.serves_our_cert);
	assert_int_equal(st.pid, rep.pid);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", f->port);
	assert_string_equal(st.url, url);
	assert_true(st.cert_present);
	/* issued for 365 days a moment ago */
	assert_true(st.cert_days_left >= 364 && st.cert_days_left <= 365);
	assert_non_null(strstr(st.storage_dir, f->out_dir));
	assert_non_null(strstr(st.program, "registry"));
}

static void test_registry_status_reports_stopped_registry(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_status st;
	struct kf_err err;

	kf_err_clear(&err);
	assert_int_equal(kf_regserver_status(f->cfg, f->out_dir, &st, &err), 0);
	assert_false(st.running);
	assert_int_equal(st.pid, 0);
	assert_true(st.cert_present);
}

static void test_registry_cli_status_json_prints_one_event(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	const char *bin = getenv("K3SFORGE_BIN");
	char *out = NULL, *line, *save = NULL;
	int events = 0;

	if (!bin)
		bin = KF_BINARY;
	ensure_ok(f, &rep);
	const char *argv[] = { bin, "--json", "-o", f->out_dir, "registry", "status", NULL };
	assert_int_equal(regfix_run(argv, &out), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);
		assert_non_null(j);
		if (strcmp(json_string_value(json_object_get(j, "type")), "registry_status") == 0) {
			events++;
			assert_string_equal(json_string_value(json_object_get(j, "state")),
					    "running");
			assert_int_equal(json_integer_value(json_object_get(j, "pid")), rep.pid);
			assert_true(json_is_true(json_object_get(j, "healthy")));
			assert_true(json_integer_value(json_object_get(j, "cert_days_left")) >= 364);
		}
		json_decref(j);
	}
	assert_int_equal(events, 1);
	free(out);
}

static void test_registry_cli_status_text_names_pid_and_expiry(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	const char *bin = getenv("K3SFORGE_BIN");
	char *out = NULL, expect[64];

	if (!bin)
		bin = KF_BINARY;
	ensure_ok(f, &rep);
	const char *argv[] = { bin, "-o", f->out_dir, "registry", "status", NULL };
	assert_int_equal(regfix_run(argv, &out), 0);
	snprintf(expect, sizeof(expect), "running (pid %ld, ", rep.pid);
	assert_non_null(strstr(out, expect));
	assert_non_null(strstr(out, "serving our certificate"));
	assert_non_null(strstr(out, "days left"));
	free(out);
}

static void test_registry_cli_stop_stops_it(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	const char *bin = getenv("K3SFORGE_BIN");

	if (!bin)
		bin = KF_BINARY;
	ensure_ok(f, &rep);
	const char *argv[] = { bin, "-o", f->out_dir, "registry", "stop", NULL };
	assert_int_equal(regfix_run(argv, NULL), 0);
	assert_false(kf_proc_alive(rep.pid));
}

static void test_registry_check_fails_after_registry_died(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;

	ensure_ok(f, &rep);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_check(f->cfg, f->out_dir, &err), 0);
	/* what a host reboot does to it */
	assert_int_equal(kf_proc_stop(rep.pid, 5000), 0);
	assert_int_equal(kf_regserver_check(f->cfg, f->out_dir, &err), KF_ESTATE);
	assert_non_null(strstr(err.msg, "not running"));
}

static void test_registry_ensure_after_death_starts_a_new_one(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep1, rep2;

	ensure_ok(f, &rep1);
	assert_int_equal(kf_proc_stop(rep1.pid, 5000), 0);
	ensure_ok(f, &rep2);
	assert_false(rep2.reused);
	assert_int_not_equal(rep2.pid, rep1.pid);
}

static void test_registry_selfcheck_passes_on_loopback_registry_ip(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	bool checked = false;

	ensure_ok(f, &rep);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_selfcheck(f->cfg, f->out_dir, &checked, &err), 0);
	assert_true(checked);
}

static void test_registry_selfcheck_fails_when_registry_ip_is_not_served(void **state)
{
	struct regfix *f = *state;
	struct kf_regserver_report rep;
	struct kf_err err;
	bool checked = false;
	char expect[64];

	ensure_ok(f, &rep);
	/* the guests would use 127.0.0.2, the registry listens on 127.0.0.1 only */
	free(f->cfg->registry.host_ip);
	f->cfg->registry.host_ip = strdup("127.0.0.2");
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_tls_selfcheck(f->cfg, f->out_dir, &checked, &err), KF_ENET);
	assert_true(checked);
	snprintf(expect, sizeof(expect), "reach the registry at 127.0.0.2:%d", f->port);
	assert_non_null(strstr(err.msg, expect));
	assert_non_null(strstr(err.msg, "connection refused"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry_started_answers_curl_with_our_ca, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_writes_pid_file_and_config, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_serves_cert_with_required_sans, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_second_ensure_reuses_running_process,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_reissued_cert_restarts_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_config_change_restarts_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_without_pid_file_is_found_and_reused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_stop_ends_the_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_stop_spares_a_foreign_pid_in_the_pid_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_port_taken_by_other_program_is_reported,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_restart_onto_a_taken_port_keeps_the_running_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_missing_binary_is_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_missing_pki_asks_for_prep, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_key_not_matching_cert_is_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_that_exits_at_once_reports_its_log, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tls_check_accepts_our_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_check_reports_san_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_check_reports_unknown_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_check_reports_refused_port, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tls_check_reports_plain_tcp_peer_as_handshake_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tls_check_reports_connection_reset_as_handshake_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_status_reports_running_registry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_status_reports_stopped_registry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_cli_status_json_prints_one_event, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_cli_status_text_names_pid_and_expiry,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_cli_stop_stops_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_check_fails_after_registry_died, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registry_ensure_after_death_starts_a_new_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_selfcheck_passes_on_loopback_registry_ip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_registry_selfcheck_fails_when_registry_ip_is_not_served, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
