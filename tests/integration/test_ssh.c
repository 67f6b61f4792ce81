/* The SSH module against a real OpenSSH sshd on a loopback address: pinned host keys checked
 * before authentication, exec, quoting, SFTP, and every failure reason classified. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/ssh.h"
#include "k3sforge/sshkey.h"
#include "sshd_fixture.h"

#define NODE_IP "127.0.0.21"

struct fx {
	char *dir;
	char hostkey[600], ecdsakey[600], otherhost[600], client[600], otherclient[600];
	char known[600], known_other[600], known_empty[600], auth[600];
	struct kf_test_sshd sshd;
};

static int write_text(const char *path, const char *text)
{
	struct kf_err err;
	return kf_fs_write_atomic(path, text, strlen(text), 0600, &err);
}

/* "[ip]:port ssh-ed25519 AAAA..." from a .pub file. */
static int known_line(const char *out_path, const char *pub_path, const char *ip, int port)
{
	char *pub = NULL, line[2048];
	size_t len;
	struct kf_err err;
	char type[64], b64[1024];
	int r;

	if (kf_fs_read(&pub, &len, pub_path, 65536, &err) != 0)
		return -1;
	r = sscanf(pub, "%63s %1023s", type, b64);
	free(pub);
	if (r != 2)
		return -1;
	snprintf(line, sizeof(line), "[%s]:%d %s %s\n", ip, port, type, b64);
	return write_text(out_path, line);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char pub[700];
	const char *keys[3];

	f->dir = kf_test_tempdir("ssh");
	snprintf(f->hostkey, sizeof(f->hostkey), "%s/host_ed25519", f->dir);
	snprintf(f->ecdsakey, sizeof(f->ecdsakey), "%s/host_ecdsa", f->dir);
	snprintf(f->otherhost, sizeof(f->otherhost), "%s/other_host_ed25519", f->dir);
	snprintf(f->client, sizeof(f->client), "%s/id_ed25519", f->dir);
	snprintf(f->otherclient, sizeof(f->otherclient), "%s/other_id_ed25519", f->dir);
	snprintf(f->known, sizeof(f->known), "%s/known_hosts", f->dir);
	snprintf(f->known_other, sizeof(f->known_other), "%s/known_hosts_other", f->dir);
	snprintf(f->known_empty, sizeof(f->known_empty), "%s/known_hosts_empty", f->dir);
	snprintf(f->auth, sizeof(f->auth), "%s/authorized_keys", f->dir);
	assert_int_equal(kf_test_keygen(f->hostkey, "ed25519"), 0);
	assert_int_equal(kf_test_keygen(f->ecdsakey, "ecdsa"), 0);
	assert_int_equal(kf_test_keygen(f->otherhost, "ed25519"), 0);
	assert_int_equal(kf_test_keygen(f->client, "ed25519"), 0);
	assert_int_equal(kf_test_keygen(f->otherclient, "ed25519"), 0);
	snprintf(pub, sizeof(pub), "%s.pub", f->client);
	assert_int_equal(kf_fs_copy(pub, f->auth, 0600, NULL), 0);
	/* ECDSA listed first: the client must still negotiate the pinned ed25519 key. */
	keys[0] = f->ecdsakey;
	keys[1] = f->hostkey;
	keys[2] = NULL;
	{
		char sdir[700];
		snprintf(sdir, sizeof(sdir), "%s/sshd", f->dir);
		assert_int_equal(kf_test_sshd_start(&f->sshd, sdir, NODE_IP, 0, keys, f->auth), 0);
	}
	snprintf(pub, sizeof(pub), "%s.pub", f->hostkey);
	assert_int_equal(known_line(f->known, pub, NODE_IP, f->sshd.port), 0);
	snprintf(pub, sizeof(pub), "%s.pub", f->otherhost);
	assert_int_equal(known_line(f->known_other, pub, NODE_IP, f->sshd.port), 0);
	assert_int_equal(write_text(f->known_empty, "# nothing pinned\n"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_test_sshd_stop(&f->sshd);
	kf_fs_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return 0;
}

static struct kf_ssh_target target(struct fx *f, const char *known, const char *key)
{
	struct kf_ssh_target t = { "node-a", NODE_IP, f->sshd.port, kf_test_user(), known, key, 5000 };
	return t;
}

static struct kf_ssh *connect_ok(struct fx *f)
{
	struct kf_ssh_target t = target(f, f->known, f->client);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;
	int r = kf_ssh_connect(&s, &t, &why, &err);

	if (r)
		fprintf(stderr, "connect: %s\n", err.msg);
	assert_int_equal(r, 0);
	assert_int_equal(why, KF_SSH_OK);
	return s;
}

static void test_ssh_exec_returns_stdout_stderr_and_exit_status(void **state)
{
	struct fx *f = *state;
	struct kf_ssh *s = connect_ok(f);
	struct kf_ssh_result res;
	struct kf_err err;

	assert_int_equal(kf_ssh_exec(s, "printf out; printf err >&2; exit 3", 10000, 0, &res, &err), 0);
	assert_string_equal(kf_buf_str(&res.out), "out");
	assert_string_equal(kf_buf_str(&res.errout), "err");
	assert_int_equal(res.exit_status, 3);
	assert_null(res.exit_signal);
	kf_ssh_result_free(&res);
	/* The session is reusable. */
	assert_int_equal(kf_ssh_exec(s, "true", 10000, 0, &res, &err), 0);
	assert_int_equal(res.exit_status, 0);
	kf_ssh_result_free(&res);
	kf_ssh_close(s);
}

static void test_ssh_quoting_survives_the_remote_shell(void **state)
{
	struct fx *f = *state;
	struct kf_ssh *s = connect_ok(f);
	const char *args[] = { "printf", "%s\\n", "plain", "two words", "it's", "\"dq\"", "$(id)",
			       "`id`", "a;b|c&d", "if then fi", "완료: 단계", "", "back\\slash",
			       "new\nline", NULL };
	const char *expect = "plain\ntwo words\nit's\n\"dq\"\n$(id)\n`id`\na;b|c&d\nif then fi\n"
			     "완료: 단계\n\nback\\slash\nnew\nline\n";
	struct kf_buf cmd;
	struct kf_ssh_result res;
	struct kf_err err;

	kf_buf_init(&cmd, 0);
	assert_int_equal(kf_shell_join(&cmd, args), 0);
	assert_int_equal(kf_ssh_exec(s, kf_buf_str(&cmd), 10000, 0, &res, &err), 0);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(kf_buf_str(&res.out), expect);
	kf_ssh_result_free(&res);
	kf_buf_free(&cmd);
	kf_ssh_close(s);
}

static void test_ssh_refuses_a_mismatched_host_key_before_auth(void **state)
{
	struct fx *f = *state;
	struct kf_ssh_target t = target(f, f->known_other, f->client);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;
	char *log = NULL, *fp_out = NULL, pub[700];
	const char *argv[] = { "ssh-keygen", "-l", "-f", pub, NULL };
	char want[128], got[128];
	size_t before = 0;

	/* Only what sshd logs from here on counts. */
	assert_int_equal(kf_fs_read(&log, &before, f->sshd.log, 1 << 20, NULL), 0);
	free(log);
	log = NULL;
	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_EHOSTKEY);
	assert_null(s);
	assert_int_equal(why, KF_SSH_HOSTKEY);
	assert_non_null(strstr(err.msg, "host key mismatch for node-a"));
	assert_non_null(strstr(err.msg, NODE_IP));
	/* Both fingerprints, as ssh-keygen prints them. */
	snprintf(pub, sizeof(pub), "%s.pub", f->otherhost);
	assert_int_equal(kf_test_run(argv, &fp_out), 0);
	assert_int_equal(sscanf(fp_out, "%*d %127s", want), 1);
	free(fp_out);
	snprintf(pub, sizeof(pub), "%s.pub", f->hostkey);
	assert_int_equal(kf_test_run(argv, &fp_out), 0);
	assert_int_equal(sscanf(fp_out, "%*d %127s", got), 1);
	free(fp_out);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, got));
	/* Nothing was offered for authentication. */
	kf_sleep_ms(200);
	assert_int_equal(kf_fs_read(&log, NULL, f->sshd.log, 1 << 20, NULL), 0);
	assert_null(strstr(log + before, "Accepted publickey"));
	assert_null(strstr(log + before, "Failed publickey"));
	assert_null(strstr(log + before, "Postponed publickey"));
	free(log);
}

static void test_ssh_refuses_a_host_that_is_not_pinned(void **state)
{
	struct fx *f = *state;
	struct kf_ssh_target t = target(f, f->known_empty, f->client);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;

	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_EHOSTKEY);
	assert_int_equal(why, KF_SSH_HOSTKEY);
	assert_non_null(strstr(err.msg, "no pinned host key"));
	t.known_hosts = "/nonexistent/known_hosts";
	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_EHOSTKEY);
	assert_non_null(strstr(err.msg, "k3sforge prep"));
}

static void test_ssh_reports_a_refused_operator_key(void **state)
{
	struct fx *f = *state;
	struct kf_ssh_target t = target(f, f->known, f->otherclient);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;

	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_EAUTH);
	assert_int_equal(why, KF_SSH_AUTH);
	assert_non_null(strstr(err.msg, "refused the operator key"));
	t.key_path = "/nonexistent/id_ed25519";
	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/id_ed25519"));
}

static void test_ssh_reports_connection_refused(void **state)
{
	struct fx *f = *state;
	struct kf_ssh_target t = target(f, f->known, f->client);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;

	t.host = "127.0.0.22";
	t.port = kf_test_free_port("127.0.0.22");
	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_ENET);
	assert_int_equal(why, KF_SSH_REFUSED);
	assert_non_null(strstr(err.msg, "refused"));
	assert_int_equal(kf_tcp_probe("127.0.0.22", t.port, 1000, &why, &err), KF_ENET);
	assert_int_equal(why, KF_SSH_REFUSED);
	assert_int_equal(kf_tcp_probe(NODE_IP, f->sshd.port, 1000, &why, &err), 0);
}

static void test_ssh_times_out_on_a_silent_server(void **state)
{
	struct fx *f = *state;
	struct kf_ssh_target t = target(f, f->known, f->client);
	struct kf_ssh *s = NULL;
	struct kf_err err;
	enum kf_ssh_fail why;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	/* A listener that never accepts: TCP completes, no SSH banner ever comes. */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.23", &a.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	t.host = "127.0.0.23";
	t.port = ntohs(a.sin_port);
	t.timeout_ms = 700;
	assert_int_equal(kf_ssh_connect(&s, &t, &why, &err), KF_ETIMEOUT);
	assert_int_equal(why, KF_SSH_TIMEOUT);
	assert_non_null(strstr(err.msg, "handshake"));
	close(lfd);
}

static void test_ssh_exec_times_out_and_bounds_output(void **state)
{
	struct fx *f = *state;
	struct kf_ssh *s = connect_ok(f);
	struct kf_ssh_result res;
	struct kf_err err;

	assert_int_equal(kf_ssh_exec(s, "sleep 5", 600, 0, &res, &err), KF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "did not finish"));
	kf_ssh_result_free(&res);
	kf_ssh_close(s);
	s = connect_ok(f);
	assert_int_equal(kf_ssh_exec(s, "head -c 3000000 /dev/zero | tr '\\0' x", 20000, 100000,
				     &res, &err),
			 0);
	assert_int_equal(res.exit_status, 0);
	assert_true(res.truncated);
	assert_int_equal(res.out.len, 100000);
	kf_ssh_result_free(&res);
	kf_ssh_close(s);
}

static void test_ssh_sftp_writes_and_reads_back(void **state)
{
	struct fx *f = *state;
	struct kf_ssh *s = connect_ok(f);
	struct kf_err err;
	char path[700], *back = NULL;
	size_t len = 0;
	const char *data = "apiVersion: v1\nserver: https://127.0.0.1:6443\n";

	snprintf(path, sizeof(path), "%s/remote.yaml", f->dir);
	assert_int_equal(kf_ssh_write_file(s, path, data, strlen(data), 0600, &err), 0);
	assert_int_equal(kf_ssh_read_file(s, path, &back, &len, 1 << 20, &err), 0);
	assert_int_equal(len, strlen(data));
	assert_string_equal(back, data);
	free(back);
	assert_int_equal(kf_ssh_read_file(s, path, &back, &len, 10, &err), KF_ELIMIT);
	assert_null(back);
	snprintf(path, sizeof(path), "%s/missing.yaml", f->dir);
	assert_int_equal(kf_ssh_read_file(s, path, &back, &len, 1 << 20, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no such file"));
	kf_ssh_close(s);
}

static void test_ssh_fingerprint_matches_ssh_keygen(void **state)
{
	struct fx *f = *state;
	char pub[700], *text = NULL, *out = NULL, type[64], b64[1024], want[128], got[128];
	unsigned char blob[1024];
	const char *argv[] = { "ssh-keygen", "-l", "-f", pub, NULL };
	int n;

	snprintf(pub, sizeof(pub), "%s.pub", f->hostkey);
	assert_int_equal(kf_fs_read(&text, NULL, pub, 65536, NULL), 0);
	assert_int_equal(sscanf(text, "%63s %1023s", type, b64), 2);
	free(text);
	n = EVP_DecodeBlock(blob, (unsigned char *)b64, (int)strlen(b64));
	assert_true(n > 0);
	while (b64[strlen(b64) - 1] == '=') {
		b64[strlen(b64) - 1] = '\0';
		n--;
	}
	kf_ssh_fingerprint_blob(blob, (size_t)n, got);
	assert_int_equal(kf_test_run(argv, &out), 0);
	assert_int_equal(sscanf(out, "%*d %127s", want), 1);
	free(out);
	assert_string_equal(got, want);
}

static void test_shell_quote_words(void **state)
{
	char *q;
	(void)state;
	q = kf_shell_quote("simple-word_1.2/x");
	assert_string_equal(q, "simple-word_1.2/x");
	free(q);
	q = kf_shell_quote("it's");
	assert_string_equal(q, "'it'\\''s'");
	free(q);
	q = kf_shell_quote("");
	assert_string_equal(q, "''");
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_quote_words),
		cmocka_unit_test(test_ssh_exec_returns_stdout_stderr_and_exit_status),
		cmocka_unit_test(test_ssh_quoting_survives_the_remote_shell),
		cmocka_unit_test(test_ssh_refuses_a_mismatched_host_key_before_auth),
		cmocka_unit_test(test_ssh_refuses_a_host_that_is_not_pinned),
		cmocka_unit_test(test_ssh_reports_a_refused_operator_key),
		cmocka_unit_test(test_ssh_reports_connection_refused),
		cmocka_unit_test(test_ssh_times_out_on_a_silent_server),
		cmocka_unit_test(test_ssh_exec_times_out_and_bounds_output),
		cmocka_unit_test(test_ssh_sftp_writes_and_reads_back),
		cmocka_unit_test(test_ssh_fingerprint_matches_ssh_keygen),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
