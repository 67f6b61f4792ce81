/* The OCI client, the mirror and the downloader against a hostile server
 * (tests/lib/hostile_server.py): each misbehaviour ends within a bound with the right error, and
 * a mirror stuck on a dripping registry ends within ~1 s of SIGTERM with the interrupted result.
 * Tests that would hang on a client without bounds run under alarm(): a hang fails the test. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "download_fixture.h"
#include "hostile_fixture.h"
#include "k3sforge/digest.h"
#include "k3sforge/download.h"
#include "k3sforge/fs.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"

#define LAYER_LEN (64 * 1024)

static struct {
	char *dir;
	struct kf_hostile plain, tls;
	char layer[KF_OCI_DIGEST_LEN];
} W;

/* A hang (alarm) fails the test and takes the servers down with it (kill is async-signal-safe;
 * they run in their own process groups). */
static void on_alarm(int sig)
{
	static const char msg[] = "test_hostile: a call did not end within its bound (hang)\n";

	(void)sig;
	if (W.plain.pid > 0)
		kill(-(pid_t)W.plain.pid, SIGKILL);
	if (W.tls.pid > 0)
		kill(-(pid_t)W.tls.pid, SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static int setup(void **state)
{
	unsigned char *b = malloc(LAYER_LEN);
	char hex[KF_SHA256_HEX_LEN + 1], *pd, *td;

	(void)state;
	signal(SIGALRM, on_alarm);
	for (int i = 0; i < LAYER_LEN; i++)
		b[i] = (unsigned char)((i * 7 + 3) & 0xFF);
	kf_sha256_hex(b, LAYER_LEN, hex);
	free(b);
	snprintf(W.layer, sizeof(W.layer), "sha256:%s", hex);
	W.dir = kf_test_tmpdir("hostile");
	if (!W.dir || asprintf(&pd, "%s/plain", W.dir) < 0 || asprintf(&td, "%s/tls", W.dir) < 0)
		return -1;
	kf_fs_mkdirs(pd, 0755, NULL);
	kf_fs_mkdirs(td, 0755, NULL);
	if (kf_hostile_start(&W.plain, pd, false) != 0 || kf_hostile_start(&W.tls, td, true) != 0)
		return -1;
	free(pd);
	free(td);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kf_hostile_stop(&W.plain);
	kf_hostile_stop(&W.tls);
	if (W.dir)
		kf_fs_remove_tree(W.dir, NULL);
	free(W.dir);
	return 0;
}

/* A client with a 2 s progress window and one retry (the config minimum is 5 s; tests go lower
 * through the API). */
static struct kf_oci_registry *client(const struct kf_hostile *h)
{
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	struct kf_err err;

	o.ca_file = h->ca;
	o.stall_timeout_s = 2;
	o.max_retries = 1;
	o.connect_timeout_s = 5;
	o.docker_config = "/nonexistent";
	assert_int_equal(kf_oci_registry_new(&r, h->base, &o, &err), 0);
	return r;
}

static int discard_sink(void *ud, const void *data, size_t len)
{
	(void)ud;
	(void)data;
	(void)len;
	return 0;
}

static int get_manifest(const struct kf_hostile *h, const char *repo, struct kf_err *err)
{
	struct kf_oci_registry *r = client(h);
	struct kf_oci_manifest m;
	int rc = kf_oci_manifest_get(r, repo, "latest", &m, err);

	kf_oci_manifest_free(&m);
	kf_oci_registry_free(r);
	return rc;
}

static int get_blob(const struct kf_hostile *h, const char *repo, struct kf_err *err)
{
	struct kf_oci_registry *r = client(h);
	int rc = kf_oci_blob_get(r, repo, W.layer, LAYER_LEN, discard_sink, NULL, err);

	kf_oci_registry_free(r);
	return rc;
}

/* ---- progress deadlines ---- */

static void test_dripping_manifest_ends_with_timeout(void **state)
{
	struct kf_err err;
	double t0 = kf_now_mono();
	int rc;

	(void)state;
	alarm(40);   /* an unbounded client hangs on this server: fail instead of waiting */
	rc = get_manifest(&W.plain, "drip", &err);
	alarm(0);
	assert_int_equal(rc, KF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "bytes moved in 2 s"));
	/* two attempts of one 2 s window each, plus a backoff */
	assert_true(kf_now_mono() - t0 < 10.0);
}

static void test_dripping_blob_ends_with_timeout(void **state)
{
	struct kf_err err;
	double t0 = kf_now_mono();
	int rc;

	(void)state;
	alarm(40);
	rc = get_blob(&W.plain, "drip", &err);
	alarm(0);
	assert_int_equal(rc, KF_ETIMEOUT);
	assert_true(kf_now_mono() - t0 < 10.0);
}

static void test_endless_manifest_is_refused_at_its_bound(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(get_manifest(&W.plain, "endless", &err), KF_ELIMIT);
	alarm(0);
	assert_non_null(strstr(err.msg, "larger than"));
}

/* ---- lying bodies ---- */

static void test_wrong_digest_blob_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(get_blob(&W.plain, "wrong-digest", &err), KF_EDIGEST);
	alarm(0);
}

static void test_short_body_then_ignored_range_is_named(void **state)
{
	struct kf_err err;

	(void)state;
	/* half the bytes, a close, then a resume the server answers with the whole blob again */
	alarm(40);
	assert_int_equal(get_blob(&W.plain, "short-length", &err), KF_EHTTP);
	alarm(0);
	assert_non_null(strstr(err.msg, "ignored the Range request"));
}

static void test_endless_error_body_is_bounded(void **state)
{
	struct kf_err err;
	double t0 = kf_now_mono();

	(void)state;
	alarm(40);
	assert_int_equal(get_blob(&W.plain, "endless-error", &err), KF_EHTTP);
	alarm(0);
	assert_non_null(strstr(err.msg, "HTTP 503"));
	assert_true(kf_now_mono() - t0 < 10.0);
}

static void test_long_content_length_blob_fails(void **state)
{
	struct kf_err err;
	int rc;

	(void)state;
	alarm(40);
	rc = get_blob(&W.plain, "long-length", &err);
	alarm(0);
	assert_int_not_equal(rc, 0);
	assert_int_not_equal(rc, KF_EINTR);
}

/* ---- redirects ---- */

static void test_redirect_loop_is_an_http_error(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(get_blob(&W.plain, "redirect-loop", &err), KF_EHTTP);
	alarm(0);
	assert_non_null(strstr(err.msg, "edirect"));
}

static void test_https_blob_redirect_to_plain_http_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(get_blob(&W.tls, "downgrade", &err), KF_EHTTP);
	alarm(0);
	assert_non_null(strstr(err.msg, "plain http"));
	assert_non_null(strstr(err.msg, "http://127.1:"));
}

static void test_http_blob_redirect_to_http_is_followed(void **state)
{
	struct kf_err err;

	(void)state;
	/* from plain http (a loopback source) nothing is downgraded: the blob arrives */
	alarm(40);
	assert_int_equal(get_blob(&W.plain, "downgrade", &err), 0);
	alarm(0);
}

/* ---- WWW-Authenticate ---- */

static void test_huge_www_authenticate_is_named_as_such(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(get_manifest(&W.plain, "huge-auth", &err), KF_ELIMIT);
	alarm(0);
	assert_non_null(strstr(err.msg, "WWW-Authenticate"));
	assert_null(strstr(err.msg, "larger than"));
}

static void test_challenge_without_realm_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	assert_int_equal(get_manifest(&W.plain, "auth-norealm", &err), KF_EAUTH);
	assert_non_null(strstr(err.msg, "without realm"));
}

static void test_challenge_with_unknown_scheme_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	assert_int_equal(get_manifest(&W.plain, "auth-unknown", &err), KF_EAUTH);
	assert_non_null(strstr(err.msg, "unsupported authentication scheme 'Bearerish'"));
}

static void test_challenge_with_plain_http_realm_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	assert_int_equal(get_manifest(&W.tls, "auth-httprealm", &err), KF_EAUTH);
	assert_non_null(strstr(err.msg, "is not https"));
}

static void test_challenge_with_two_realms_is_refused(void **state)
{
	struct kf_err err;

	(void)state;
	assert_int_equal(get_manifest(&W.tls, "auth-dupe", &err), KF_EAUTH);
	assert_non_null(strstr(err.msg, "malformed"));
}

/* ---- the downloader ---- */

static int download(const struct kf_hostile *h, const char *path, struct kf_err *err)
{
	struct kf_download_opts o = { 0 };
	char url[256], *dest = NULL;
	int rc;

	snprintf(url, sizeof(url), "%s%s", h->base, path);
	assert_true(asprintf(&dest, "%s/dl-%d", W.dir, (int)(kf_now_mono() * 1000) % 100000) > 0);
	o.url = url;
	o.dest = dest;
	o.ca_file = h->ca;
	o.stall_timeout_s = 2;
	o.max_attempts = 1;
	o.no_progress = true;
	o.proxy = NULL;
	rc = kf_download_file(&o, NULL, err);
	free(dest);
	return rc;
}

static void test_download_of_dripping_file_ends_with_timeout(void **state)
{
	struct kf_err err;
	double t0 = kf_now_mono();

	(void)state;
	alarm(40);
	assert_int_equal(download(&W.plain, "/drip/file", &err), KF_ETIMEOUT);
	alarm(0);
	assert_true(kf_now_mono() - t0 < 8.0);
}

static void test_download_refuses_https_to_http_redirect(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(download(&W.tls, "/downgrade/file", &err), KF_EHTTP);
	alarm(0);
	assert_non_null(strstr(err.msg, "plain http"));
}

static void test_download_redirect_loop_is_bounded(void **state)
{
	struct kf_err err;

	(void)state;
	alarm(40);
	assert_int_equal(download(&W.plain, "/redirect-loop/file", &err), KF_EHTTP);
	alarm(0);
}

/* ---- SIGTERM during a dripping transfer ---- */

static void test_mirror_ends_within_a_second_of_sigterm_during_a_drip(void **state)
{
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	char *out = NULL, *log = NULL, *list = NULL;
	double t_term, waited;
	int status = 0;
	pid_t pid, w = 0;

	(void)state;
	assert_true(asprintf(&out, "%s/out-term", W.dir) > 0);
	assert_true(asprintf(&log, "%s/mirror-term.log", W.dir) > 0);
	assert_true(asprintf(&list, "%s/term-images.txt", W.dir) > 0);
	/* the source drips its manifest; the target has nothing yet */
	assert_int_equal(kf_test_write(list, "hostile/drip:latest hostile/absent:latest\n"), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "-o", out, "mirror", "--from", W.plain.base, "--to", W.plain.base,
		      "--images", list, (char *)NULL);
		_exit(127);
	}
	kf_sleep_ms(2500);   /* the manifest GET is dripping by now */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	t_term = kf_now_mono();
	kill(pid, SIGTERM);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		waited = kf_now_mono() - t_term;
		if (w == pid || waited > 5.0)
			break;
		kf_sleep_ms(20);
	}
	if (w != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("mirror still running %.1f s after SIGTERM", waited);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 130);   /* docs/exit-codes.md: interrupted */
	assert_true(waited < 2.0);
	{
		char *txt = NULL;
		size_t len;
		assert_int_equal(kf_fs_read(&txt, &len, log, 1 << 20, NULL), 0);
		assert_non_null(strstr(txt, "interrupted"));
		free(txt);
	}
	free(out);
	free(log);
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dripping_manifest_ends_with_timeout),
		cmocka_unit_test(test_dripping_blob_ends_with_timeout),
		cmocka_unit_test(test_endless_manifest_is_refused_at_its_bound),
		cmocka_unit_test(test_wrong_digest_blob_is_refused),
		cmocka_unit_test(test_short_body_then_ignored_range_is_named),
		cmocka_unit_test(test_endless_error_body_is_bounded),
		cmocka_unit_test(test_long_content_length_blob_fails),
		cmocka_unit_test(test_redirect_loop_is_an_http_error),
		cmocka_unit_test(test_https_blob_redirect_to_plain_http_is_refused),
		cmocka_unit_test(test_http_blob_redirect_to_http_is_followed),
		cmocka_unit_test(test_huge_www_authenticate_is_named_as_such),
		cmocka_unit_test(test_challenge_without_realm_is_refused),
		cmocka_unit_test(test_challenge_with_unknown_scheme_is_refused),
		cmocka_unit_test(test_challenge_with_plain_http_realm_is_refused),
		cmocka_unit_test(test_challenge_with_two_realms_is_refused),
		cmocka_unit_test(test_download_of_dripping_file_ends_with_timeout),
		cmocka_unit_test(test_download_refuses_https_to_http_redirect),
		cmocka_unit_test(test_download_redirect_loop_is_bounded),
		cmocka_unit_test(test_mirror_ends_within_a_second_of_sigterm_during_a_drip),
	};

	if (getenv("KF_TEST_FILTER"))   /* one test at a time, e.g. against an older build */
		cmocka_set_test_filter(getenv("KF_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
