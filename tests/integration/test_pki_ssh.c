/* The SSH material from kf_pki_ensure against a REAL sshd on loopback: OpenSSH's ssh client and
 * libssh2 log in with the generated operator key while strictly checking the generated
 * known_hosts, and refuse a host whose pinned key differs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>

#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/pki.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/sshkey.h"
#include "pki_testutil.h"

#define SSHD_IP "127.0.0.23"
#define SSHD_BIN "/usr/sbin/sshd"

struct fx {
	char *tmp;           /* sshd config, log, pid, authorized_keys */
	char *out;           /* the output dir whose keys the sshd uses */
	char *other;         /* a second output dir: same config, different keys */
	struct kf_config *cfg;
	int port;
	long pid;
	char user[64];
};

static int free_port(const char *ip)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int connect_to(const char *ip, int port)
{
	struct sockaddr_in a = { 0 };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
		return s;
	if (s >= 0)
		close(s);
	return -1;
}

static char *tpath(struct fx *f, const char *rel)
{
	return pki_t_path(f->tmp, rel);
}

static int start_sshd(struct fx *f)
{
	char *conf = tpath(f, "sshd_config"), *log = tpath(f, "sshd.log"),
	     *pidf = tpath(f, "sshd.pid"), *ak = tpath(f, "authorized_keys"),
	     *hk = kf_pki_host_key_path(f->out, "k3s-master1"), *oppub = NULL, text[2048];
	struct kf_proc p = { 0 };
	struct kf_err err = { 0 };
	int ok = -1;

	oppub = pki_t_path(f->out, KF_OUT_SSH_PUBKEY);
	if (kf_fs_copy(oppub, ak, 0600, &err) != 0)
		goto out;
	snprintf(text, sizeof(text),
		 "ListenAddress %s:%d\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n"
		 "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
		 "PermitRootLogin prohibit-password\nAllowUsers %s\nLogLevel VERBOSE\n",
		 SSHD_IP, f->port, hk, pidf, ak, f->user);
	pki_t_write(conf, text);
	/* sshd (as root) insists on its privilege separation directory. */
	if (geteuid() == 0 && !kf_fs_is_dir("/run/sshd") &&
	    kf_fs_mkdirs("/run/sshd", 0755, &err) != 0) {
		print_error("cannot create /run/sshd: %s\n", err.msg);
		goto out;
	}
	{
		const char *argv[] = { SSHD_BIN, "-t", "-f", conf, NULL };
		int code;
		char *o = pki_t_run(argv, &code, 1);
		if (code != 0) {
			print_error("sshd -t rejected the config: %s\n", o);
			free(o);
			goto out;
		}
		free(o);
	}
	{
		const char *argv[] = { SSHD_BIN, "-D", "-f", conf, "-E", log, NULL };
		p.argv = argv;
		p.detach = true;
		p.log_file = log;
		if (kf_proc_start(&p, &err) != 0) {
			print_error("cannot start sshd: %s\n", err.msg);
			goto out;
		}
		f->pid = p.pid;
		kf_proc_free(&p);
	}
	for (int i = 0; i < 200; i++) {     /* up to 10 s for the listener */
		int s = connect_to(SSHD_IP, f->port);
		if (s >= 0) {
			close(s);
			ok = 0;
			break;
		}
		if (!kf_proc_alive(f->pid))
			break;
		kf_sleep_ms(50);
	}
	if (ok != 0) {
		char *l = pki_t_read(log, NULL);
		print_error("sshd did not come up on %s:%d: %s\n", SSHD_IP, f->port, l ? l : "");
		free(l);
	}
out:
	free(conf);
	free(log);
	free(pidf);
	free(ak);
	free(hk);
	free(oppub);
	return ok;
}

static int group_teardown(void **state);

/* On failure it cleans up itself (cmocka does not run the group teardown then). */
static int group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_log_opts o = { .level = KF_LOG_WARN, .color = KF_COLOR_NEVER };
	struct kf_err err = { 0 };
	struct passwd *pw = getpwuid(geteuid());

	kf_log_init(&o);
	*state = f;
	if (!f || !pw)
		goto fail;
	snprintf(f->user, sizeof(f->user), "%s", pw->pw_name);
	f->tmp = pki_t_tmpdir("sshd");
	f->out = pki_t_tmpdir("pki-ssh");
	f->other = pki_t_tmpdir("pki-ssh-other");
	if ((f->port = free_port(SSHD_IP)) <= 0) {
		print_error("no free port on %s\n", SSHD_IP);
		goto fail;
	}
	if (kf_config_default(&f->cfg, &err) != 0)
		goto fail;
	/* The master is reached at [127.0.0.23]:port, so known_hosts pins that endpoint. */
	f->cfg->nodes[0].ssh_host = strdup(SSHD_IP);
	f->cfg->nodes[0].ssh_port = f->port;
	if (kf_pki_ensure(f->cfg, f->out, false, NULL, &err) != 0 ||
	    kf_pki_ensure(f->cfg, f->other, false, NULL, &err) != 0) {
		print_error("kf_pki_ensure: %s\n", err.msg);
		goto fail;
	}
	if (start_sshd(f) == 0)
		return 0;
fail:
	group_teardown(state);
	*state = NULL;
	return -1;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err err = { 0 };

	if (!f)
		return 0;
	if (f->pid > 0)
		kf_proc_stop(f->pid, 3000);
	if (f->tmp)
		kf_fs_remove_tree(f->tmp, &err);
	if (f->out)
		kf_fs_remove_tree(f->out, &err);
	if (f->other)
		kf_fs_remove_tree(f->other, &err);
	free(f->tmp);
	free(f->out);
	free(f->other);
	kf_config_free(f->cfg);
	free(f);
	kf_log_shutdown();
	return 0;
}

/* Runs the OpenSSH client with strict host key checking against `known_hosts`. */
static char *run_ssh(struct fx *f, const char *identity, const char *known_hosts, int *code)
{
	char port[16], dest[128], kh[600];
	const char *argv[] = { "ssh", "-F", "/dev/null", "-i", identity, "-o", kh,
			       "-o", "GlobalKnownHostsFile=/dev/null",
			       "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			       "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
			       "-p", port, dest, "echo", "pinned-login-ok", NULL };

	snprintf(port, sizeof(port), "%d", f->port);
	snprintf(dest, sizeof(dest), "%s@%s", f->user, SSHD_IP);
	snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s", known_hosts);
	return pki_t_run(argv, code, 1);
}

static void test_openssh_client_logs_in_with_the_generated_key_and_known_hosts(void **state)
{
	struct fx *f = *state;
	char *id = pki_t_path(f->out, KF_OUT_SSH_KEY), *kh = pki_t_path(f->out, KF_OUT_KNOWN_HOSTS);
	int code;
	char *out = run_ssh(f, id, kh, &code);

	if (code != 0)
		fail_msg("ssh exited %d: %s", code, out);
	assert_non_null(strstr(out, "pinned-login-ok"));
	free(out);
	free(id);
	free(kh);
}

static void test_openssh_client_refuses_a_host_whose_key_differs(void **state)
{
	struct fx *f = *state;
	/* The other output dir pins the same endpoint to a different master1 key. */
	char *id = pki_t_path(f->out, KF_OUT_SSH_KEY), *kh = pki_t_path(f->other, KF_OUT_KNOWN_HOSTS);
	int code;
	char *out = run_ssh(f, id, kh, &code);

	assert_int_equal(code, 255);
	assert_non_null(strstr(out, "Host key verification failed"));
	assert_null(strstr(out, "pinned-login-ok"));
	free(out);
	free(id);
	free(kh);
}

static void test_openssh_client_is_refused_with_another_operator_key(void **state)
{
	struct fx *f = *state;
	char *id = pki_t_path(f->other, KF_OUT_SSH_KEY), *kh = pki_t_path(f->out, KF_OUT_KNOWN_HOSTS);
	int code;
	char *out = run_ssh(f, id, kh, &code);

	assert_int_equal(code, 255);
	assert_non_null(strstr(out, "Permission denied"));
	free(out);
	free(id);
	free(kh);
}

/* A libssh2 session to the test sshd, pinned to ssh-ed25519 host keys. */
static LIBSSH2_SESSION *ssh2_open(struct fx *f, int *sock)
{
	LIBSSH2_SESSION *s;

	*sock = connect_to(SSHD_IP, f->port);
	assert_true(*sock >= 0);
	s = libssh2_session_init();
	assert_non_null(s);
	assert_int_equal(libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519"), 0);
	assert_int_equal(libssh2_session_handshake(s, *sock), 0);
	return s;
}

static void ssh2_close(LIBSSH2_SESSION *s, int sock)
{
	libssh2_session_disconnect(s, "bye");
	libssh2_session_free(s);
	close(sock);
}

static int check_known_hosts(LIBSSH2_SESSION *s, const char *path, int port)
{
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	struct libssh2_knownhost *found = NULL;
	size_t len = 0;
	int type = 0, rc;
	const char *key = libssh2_session_hostkey(s, &len, &type);

	assert_non_null(kh);
	assert_non_null(key);
	assert_int_equal(type, LIBSSH2_HOSTKEY_TYPE_ED25519);
	assert_true(libssh2_knownhost_readfile(kh, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH) > 0);
	rc = libssh2_knownhost_checkp(kh, SSHD_IP, port, key, len,
				      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
				      LIBSSH2_KNOWNHOST_KEY_ED25519, &found);
	libssh2_knownhost_free(kh);
	return rc;
}

static void test_libssh2_matches_the_pinned_host_key(void **state)
{
	struct fx *f = *state;
	char *kh = pki_t_path(f->out, KF_OUT_KNOWN_HOSTS), *hk = kf_pki_host_key_path(f->out,
										       "k3s-master1");
	char mine[KF_SSH_FP_LEN], theirs[KF_SSH_FP_LEN];
	struct kf_sshkey *k = NULL;
	struct kf_err err = { 0 };
	const char *key;
	size_t len = 0;
	int type, sock;
	LIBSSH2_SESSION *s = ssh2_open(f, &sock);

	assert_int_equal(check_known_hosts(s, kh, f->port), LIBSSH2_KNOWNHOST_CHECK_MATCH);
	/* the presented key's fingerprint is the generated host key's */
	key = libssh2_session_hostkey(s, &len, &type);
	kf_ssh_fingerprint_blob(key, len, theirs);
	assert_int_equal(kf_sshkey_load_private(&k, hk, &err), 0);
	kf_sshkey_fingerprint(k, mine);
	assert_string_equal(mine, theirs);
	kf_sshkey_free(k);
	ssh2_close(s, sock);
	free(kh);
	free(hk);
}

static void test_libssh2_reports_a_mismatch_for_another_host_key(void **state)
{
	struct fx *f = *state;
	char *kh = pki_t_path(f->other, KF_OUT_KNOWN_HOSTS);
	char *theirs = kf_pki_host_key_path(f->out, "k3s-master1");
	char *pinned = kf_pki_host_key_path(f->other, "k3s-master1");
	char fp_got[KF_SSH_FP_LEN], fp_want[KF_SSH_FP_LEN], expect[300];
	struct kf_sshkey *got = NULL, *want = NULL;
	struct kf_err err = { 0 };
	const char *key;
	size_t len = 0;
	int sock, type;
	LIBSSH2_SESSION *s = ssh2_open(f, &sock);

	assert_int_equal(check_known_hosts(s, kh, f->port), LIBSSH2_KNOWNHOST_CHECK_MISMATCH);
	/* the message names the pinned key and the one the server really presented */
	key = libssh2_session_hostkey(s, &len, &type);
	assert_int_equal(kf_sshkey_load_private(&got, theirs, &err), 0);
	assert_int_equal(kf_sshkey_load_private(&want, pinned, &err), 0);
	kf_sshkey_fingerprint(got, fp_got);
	kf_sshkey_fingerprint(want, fp_want);
	assert_int_equal(kf_sshkey_mismatch_error(&err, "k3s-master1", SSHD_IP, want, key, len),
			 KF_EHOSTKEY);
	snprintf(expect, sizeof(expect), "expected %s, got %s", fp_want, fp_got);
	assert_non_null(strstr(err.msg, expect));
	kf_sshkey_free(got);
	kf_sshkey_free(want);
	ssh2_close(s, sock);
	free(theirs);
	free(pinned);
	free(kh);
}

static char *ssh2_exec(LIBSSH2_SESSION *s, const char *cmd)
{
	LIBSSH2_CHANNEL *ch = libssh2_channel_open_session(s);
	char buf[256], *r;
	ssize_t n, total = 0;

	assert_non_null(ch);
	assert_int_equal(libssh2_channel_exec(ch, cmd), 0);
	while ((n = libssh2_channel_read(ch, buf + total, sizeof(buf) - 1 - (size_t)total)) > 0)
		total += n;
	buf[total] = '\0';
	libssh2_channel_close(ch);
	libssh2_channel_free(ch);
	r = strdup(buf);
	return r;
}

static void test_libssh2_authenticates_with_the_generated_key_file(void **state)
{
	struct fx *f = *state;
	char *priv = pki_t_path(f->out, KF_OUT_SSH_KEY), *pub = pki_t_path(f->out,
									   KF_OUT_SSH_PUBKEY);
	char *out, *msg = NULL;
	int sock, rc;
	LIBSSH2_SESSION *s = ssh2_open(f, &sock);

	rc = libssh2_userauth_publickey_fromfile(s, f->user, pub, priv, NULL);
	if (rc != 0) {
		libssh2_session_last_error(s, &msg, NULL, 0);
		fail_msg("libssh2_userauth_publickey_fromfile: %d %s", rc, msg ? msg : "");
	}
	out = ssh2_exec(s, "echo libssh2-ok");
	assert_string_equal(out, "libssh2-ok\n");
	free(out);
	ssh2_close(s, sock);
	free(priv);
	free(pub);
}

static void test_libssh2_authenticates_with_the_private_key_from_memory(void **state)
{
	struct fx *f = *state;
	char *priv = pki_t_path(f->out, KF_OUT_SSH_KEY), *text, *msg = NULL;
	size_t len = 0;
	int sock, rc;
	LIBSSH2_SESSION *s;

	text = pki_t_read(priv, &len);
	assert_non_null(text);
	s = ssh2_open(f, &sock);
	/* no public key given: libssh2 derives it from the OpenSSH private key */
	rc = libssh2_userauth_publickey_frommemory(s, f->user, strlen(f->user), NULL, 0, text, len,
						   NULL);
	if (rc != 0) {
		libssh2_session_last_error(s, &msg, NULL, 0);
		fail_msg("libssh2_userauth_publickey_frommemory: %d %s", rc, msg ? msg : "");
	}
	ssh2_close(s, sock);
	free(text);
	free(priv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssh_client_logs_in_with_the_generated_key_and_known_hosts),
		cmocka_unit_test(test_openssh_client_refuses_a_host_whose_key_differs),
		cmocka_unit_test(test_openssh_client_is_refused_with_another_operator_key),
		cmocka_unit_test(test_libssh2_matches_the_pinned_host_key),
		cmocka_unit_test(test_libssh2_reports_a_mismatch_for_another_host_key),
		cmocka_unit_test(test_libssh2_authenticates_with_the_generated_key_file),
		cmocka_unit_test(test_libssh2_authenticates_with_the_private_key_from_memory),
	};
	int r;

	if (libssh2_init(0) != 0)
		return 1;
	r = cmocka_run_group_tests(tests, group_setup, group_teardown);
	libssh2_exit();
	return r;
}
