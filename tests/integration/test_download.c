/* kf_download and kf_artifacts against a real loopback HTTP/HTTPS file server
 * (tests/lib/download_fileserver.py) serving a fake k3s release the test builds itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "download_fixture.h"
#include "k3sforge/artifacts.h"
#include "k3sforge/config.h"
#include "k3sforge/download.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#define VERSION "v1.33.4+k3s1"
#define VERSION_URL "v1.33.4%2Bk3s1"
#define BAD_VERSION "v1.33.4-bad+k3s1"
#define OMIT_VERSION "v1.33.4-omit+k3s1"

struct world {
	char *tmp;
	struct kf_dlsrv http;
	struct kf_dlsrv https;
	struct kf_fake_release rel, bad, omit;
	char *out;       /* per-test output dir */
	int seq;
};

static struct world *W;

static const char *const proxy_vars[] = { "http_proxy", "https_proxy", "HTTPS_PROXY",
					  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
					  KF_DOWNLOAD_CA_ENV, NULL };

static int group_setup(void **state)
{
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_NEVER };
	char d1[512], d2[512];

	/* Every request of these tests must stay on loopback: no inherited proxy. */
	for (int i = 0; proxy_vars[i]; i++)
		unsetenv(proxy_vars[i]);
	kf_log_init(&lo);
	W = calloc(1, sizeof(*W));
	if (!W || !(W->tmp = kf_test_tmpdir("dl")))
		return -1;
	snprintf(d1, sizeof(d1), "%s/http", W->tmp);
	snprintf(d2, sizeof(d2), "%s/https", W->tmp);
	if (kf_fs_mkdirs(d1, 0755, NULL) || kf_fs_mkdirs(d2, 0755, NULL))
		return -1;
	if (kf_dlsrv_start(&W->http, d1, false) != 0 || kf_dlsrv_start(&W->https, d2, true) != 0)
		return -1;
	if (kf_fake_release_make(&W->rel, W->http.www, "releases", VERSION, NULL, NULL) ||
	    kf_fake_release_make(&W->bad, W->http.www, "releases", BAD_VERSION, "k3s-images.txt",
				 NULL) ||
	    kf_fake_release_make(&W->omit, W->http.www, "releases", OMIT_VERSION, NULL,
				 "k3s-airgap-images-amd64.tar.zst"))
		return -1;
	{
		/* The HTTPS server serves its own copy of the k3s binary. */
		char src[1024], dst[1024];
		snprintf(src, sizeof(src), "%s/k3s", W->rel.dir);
		snprintf(dst, sizeof(dst), "%s/k3s", W->https.www);
		if (kf_fs_copy(src, dst, 0644, NULL) != 0)
			return -1;
	}
	*state = W;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!W)
		return 0;
	kf_dlsrv_stop(&W->http);
	kf_dlsrv_stop(&W->https);
	kf_fake_release_free(&W->rel);
	kf_fake_release_free(&W->bad);
	kf_fake_release_free(&W->omit);
	if (W->tmp)
		kf_fs_remove_tree(W->tmp, NULL);
	free(W->tmp);
	free(W);
	W = NULL;
	kf_log_shutdown();
	return 0;
}

static int setup(void **state)
{
	char d[512];

	(void)state;
	snprintf(d, sizeof(d), "%s/out%d", W->tmp, ++W->seq);
	W->out = strdup(d);
	if (!W->out || kf_fs_mkdirs(W->out, 0755, NULL))
		return -1;
	if (kf_dlsrv_set_faults(&W->http, "{}") || kf_dlsrv_set_faults(&W->https, "{}") ||
	    kf_dlsrv_clear_log(&W->http) || kf_dlsrv_clear_log(&W->https))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; proxy_vars[i]; i++)
		unsetenv(proxy_vars[i]);
	free(W->out);
	W->out = NULL;
	return 0;
}

/* ---- helpers ---- */

static char *asset_url(const struct kf_dlsrv *s, const char *prefix, const char *asset)
{
	char *u = NULL;

	assert_true(asprintf(&u, "%s%s/releases/%s/%s", s->base, prefix, VERSION_URL, asset) > 0);
	return u;
}

static char *out_path(const char *name)
{
	char *p = kf_path_join(W->out, name);

	assert_non_null(p);
	return p;
}

static void base_opts(struct kf_download_opts *o, const char *url, const char *dest)
{
	memset(o, 0, sizeof(*o));
	o->url = url;
	o->dest = dest;
	o->max_attempts = 3;
	o->retry_base_ms = 10;
	o->stall_timeout_s = 20;
	o->no_progress = true;
}

static void assert_same_file(const char *a, const char *b)
{
	char ha[KF_SHA256_HEX_LEN + 1], hb[KF_SHA256_HEX_LEN + 1];

	assert_int_equal(kf_sha256_file(a, ha, NULL), 0);
	assert_int_equal(kf_sha256_file(b, hb, NULL), 0);
	assert_string_equal(ha, hb);
}

static char *release_file(const struct kf_fake_release *rel, const char *name)
{
	char *p = kf_path_join(rel->dir, name);

	assert_non_null(p);
	return p;
}

static off_t file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* ---- kf_download ---- */

static void test_download_fetches_file_and_verifies_digest(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s"), *src;
	char part[1024];

	(void)state;
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_string_equal(res.sha256, W->rel.k3s);
	assert_int_equal(res.size, (uint64_t)file_size(src));
	assert_int_equal(res.attempts, 1);
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_false(kf_fs_exists(part));
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, -1), 1);
	free(src);
	free(url);
	free(dest);
}

static void test_download_resumes_cut_transfer_with_range(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s-airgap-images-amd64.tar.zst");
	char *dest = out_path("airgap.tar.zst"), *src;

	(void)state;
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION
					     "/k3s-airgap-images-amd64.tar.zst\": "
					     "{\"cut_after\": 1000000, \"times\": 1}}"), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.airgap;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	src = release_file(&W->rel, "k3s-airgap-images-amd64.tar.zst");
	assert_same_file(src, dest);
	assert_int_equal(res.attempts, 2);
	assert_int_equal(kf_dlsrv_count(&W->http, "airgap", 206, "bytes=1000000-", -1), 1);
	free(src);
	free(url);
	free(dest);
}

static void test_download_resumes_part_left_by_killed_run(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s"), *src;
	char part[1024];
	off_t have = -1;
	pid_t child;
	int status;

	(void)state;
	snprintf(part, sizeof(part), "%s.part", dest);
	/* The server goes silent after 300000 bytes; the run is then killed with SIGKILL. */
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s\": "
					     "{\"stall_after\": 300000, \"stall_seconds\": 30}}"), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	o.stall_timeout_s = 60;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct kf_err cerr;
		_exit(kf_download_file(&o, NULL, &cerr) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 200 && have < 300000; i++) {
		kf_sleep_ms(100);
		have = file_size(part);
	}
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(have, 300000);
	assert_false(kf_fs_exists(dest));

	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{}"), 0);
	assert_int_equal(kf_dlsrv_clear_log(&W->http), 0);
	o.stall_timeout_s = 20;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	assert_int_equal(res.resumed_from, 300000);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 206, "bytes=300000-", -1), 1);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, -1), 0);
	free(src);
	free(url);
	free(dest);
}

static void test_download_stops_on_sigint_and_keeps_part(void **state)
{
	struct kf_download_opts o;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s");
	char part[1024];
	off_t have = -1;
	pid_t child;
	int status = 0, done = 0;

	(void)state;
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s\": "
					     "{\"stall_after\": 200000, \"stall_seconds\": 30}}"), 0);
	base_opts(&o, url, dest);
	o.stall_timeout_s = 60;
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct kf_err cerr;
		int rc;
		kf_platform_install_signals();
		rc = kf_download_file(&o, NULL, &cerr);
		_exit(rc == KF_EINTR && strstr(cerr.msg, "interrupted") ? 0 : 1);
	}
	for (int i = 0; i < 200 && have < 200000; i++) {
		kf_sleep_ms(100);
		have = file_size(part);
	}
	kill(child, SIGINT);
	for (int i = 0; i < 200 && !done; i++) {
		done = waitpid(child, &status, WNOHANG) == child;
		if (!done)
			kf_sleep_ms(100);
	}
	if (!done) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	assert_true(done);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(file_size(part), 200000);
	assert_false(kf_fs_exists(dest));
	free(url);
	free(dest);
}

static void test_download_digest_mismatch_deletes_file_and_names_digests(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s-images.txt"), *dest = out_path("k3s-images.txt");
	const char *wrong = "0000000000000000000000000000000000000000000000000000000000000001";
	char part[1024];

	(void)state;
	base_opts(&o, url, dest);
	o.expected_sha256 = wrong;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, dest));
	assert_non_null(strstr(err.msg, wrong));
	assert_non_null(strstr(err.msg, W->rel.images));
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_false(kf_fs_exists(dest));
	assert_false(kf_fs_exists(part));
	free(url);
	free(dest);
}

static void test_download_reports_404_with_status_and_url(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "no-such-asset"), *dest = out_path("x");

	(void)state;
	base_opts(&o, url, dest);
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EHTTP);
	assert_non_null(strstr(err.msg, "HTTP 404"));
	assert_non_null(strstr(err.msg, url));
	/* Not retried: a missing file stays missing. */
	assert_int_equal(kf_dlsrv_count(&W->http, "no-such-asset", 404, NULL, -1), 1);
	assert_false(kf_fs_exists(dest));
	free(url);
	free(dest);
}

static int free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_download_reports_unreachable_port_with_url(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char url[128], *dest = out_path("x");

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/k3s", free_port());
	base_opts(&o, url, dest);
	o.max_attempts = 2;
	assert_int_equal(kf_download_file(&o, &res, &err), KF_ENET);
	assert_non_null(strstr(err.msg, url));
	assert_non_null(strstr(err.msg, "cannot reach"));
	assert_int_equal(res.attempts, 2);
	free(dest);
}

static void test_download_retries_after_503_and_succeeds(void **state)
{
	FILE *logf = tmpfile();
	char text[8192];
	size_t n;
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s-images.txt"), *dest = out_path("k3s-images.txt");

	(void)state;
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s-images.txt\":"
					     " {\"status\": 503, \"times\": 2, \"retry_after\": 1}}"),
			 0);
	base_opts(&o, url, dest);
	o.max_attempts = 4;
	o.expected_sha256 = W->rel.images;
	assert_non_null(logf);
	kf_log_set_streams(logf, NULL);
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	kf_log_set_streams(NULL, NULL);
	rewind(logf);
	n = fread(text, 1, sizeof(text) - 1, logf);
	text[n] = '\0';
	fclose(logf);
	/* The wait follows the server's Retry-After (1 s), not the 10 ms backoff. */
	assert_non_null(strstr(text, "HTTP 503"));
	assert_non_null(strstr(text, "retrying in 1.0 s"));
	assert_int_equal(res.attempts, 3);
	assert_int_equal(kf_dlsrv_count(&W->http, "k3s-images.txt", 503, NULL, -1), 2);
	assert_int_equal(kf_dlsrv_count(&W->http, "k3s-images.txt", 200, NULL, -1), 1);
	free(url);
	free(dest);
}

static void test_download_gives_up_after_bounded_5xx_retries(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s-images.txt"), *dest = out_path("k3s-images.txt");

	(void)state;
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s-images.txt\":"
					     " {\"status\": 502}}"), 0);
	base_opts(&o, url, dest);
	o.max_attempts = 3;
	assert_int_equal(kf_download_file(&o, &res, &err), KF_EHTTP);
	assert_non_null(strstr(err.msg, "HTTP 502"));
	assert_non_null(strstr(err.msg, url));
	assert_non_null(strstr(err.msg, "3 attempts"));
	assert_int_equal(kf_dlsrv_count(&W->http, "k3s-images.txt", 502, NULL, -1), 3);
	free(url);
	free(dest);
}

static void test_download_stall_times_out_and_keeps_part(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s");
	char part[1024];

	(void)state;
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s\": "
					     "{\"stall_after\": 65536, \"stall_seconds\": 30}}"), 0);
	base_opts(&o, url, dest);
	o.stall_timeout_s = 1;
	o.max_attempts = 1;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "stalled transfer"));
	assert_non_null(strstr(err.msg, url));
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_int_equal(file_size(part), 65536);
	assert_false(kf_fs_exists(dest));
	free(url);
	free(dest);
}

static void test_download_restarts_when_server_ignores_range(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s"), *src;
	char part[1024];

	(void)state;
	assert_int_equal(kf_dlsrv_set_faults(&W->http, "{\"/releases/" VERSION "/k3s\": "
					     "{\"ignore_range\": true}}"), 0);
	snprintf(part, sizeof(part), "%s.part", dest);
	/* Junk in the .part: kept only if the server honoured Range (it won't). */
	assert_int_equal(kf_test_random_file(part, 4096), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	assert_true(res.restarted);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, "bytes=4096-", -1), 1);
	free(src);
	free(url);
	free(dest);
}

static void test_download_finishes_part_that_already_holds_whole_file(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s"), *src;
	char part[1024];

	(void)state;
	src = release_file(&W->rel, "k3s");
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_int_equal(kf_fs_copy(src, part, 0644, NULL), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	assert_same_file(src, dest);
	/* The server said 416 (nothing left to send); the .part was verified and moved. */
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 416, "", -1), 1);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, -1), 0);
	assert_false(kf_fs_exists(part));
	free(src);
	free(url);
	free(dest);
}

static void test_download_drops_part_longer_than_remote_file(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s-images.txt"), *dest = out_path("k3s-images.txt");
	char part[1024];

	(void)state;
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_int_equal(kf_test_random_file(part, 100000), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.images;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	assert_true(res.restarted);
	assert_string_equal(res.sha256, W->rel.images);
	assert_int_equal(kf_dlsrv_count(&W->http, "k3s-images.txt", 416, "bytes=100000-", -1), 1);
	assert_int_equal(kf_dlsrv_count(&W->http, "k3s-images.txt", 200, NULL, -1), 1);
	free(url);
	free(dest);
}

static void test_download_redownloads_when_resumed_data_fails_digest(void **state)
{
	struct kf_download_opts o;
	struct kf_download_result res;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s"), *src;
	char part[1024];

	(void)state;
	snprintf(part, sizeof(part), "%s.part", dest);
	/* A .part from some other file (say, another k3s version). */
	assert_int_equal(kf_test_random_file(part, 100000), 0);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, &res, &err), 0);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 206, "bytes=100000-", -1), 1);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, -1), 1);
	free(src);
	free(url);
	free(dest);
}

static void test_download_follows_redirect_chain(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "/redir/3", "k3s"), *dest = out_path("k3s"), *src;

	(void)state;
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_int_equal(kf_dlsrv_count(&W->http, "/redir/", 302, NULL, -1), 3);
	free(src);
	free(url);
	free(dest);
}

static void test_download_refuses_endless_redirects(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "/redir/30", "k3s"), *dest = out_path("k3s");

	(void)state;
	base_opts(&o, url, dest);
	o.max_redirects = 5;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EHTTP);
	assert_non_null(strstr(err.msg, "too many redirects"));
	assert_non_null(strstr(err.msg, url));
	assert_false(kf_fs_exists(dest));
	free(url);
	free(dest);
}

static void test_download_https_trusts_custom_ca_option(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "%s/k3s", W->https.base);
	base_opts(&o, url, dest);
	o.ca_file = W->https.ca_crt;
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	assert_int_equal(kf_dlsrv_count(&W->https, "/k3s", 200, NULL, -1), 1);
	free(dest);
}

static void test_download_https_trusts_ca_from_env(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "%s/k3s", W->https.base);
	setenv(KF_DOWNLOAD_CA_ENV, W->https.ca_crt, 1);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	free(dest);
}

static void test_download_https_rejects_cert_from_other_ca(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "%s/k3s", W->https.base);
	base_opts(&o, url, dest);
	o.ca_file = W->https.other_ca_crt;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ETLS);
	assert_non_null(strstr(err.msg, "TLS verification failed"));
	assert_non_null(strstr(err.msg, url));
	assert_false(kf_fs_exists(dest));
	assert_int_equal(kf_dlsrv_count(&W->https, "/k3s", 0, NULL, -1), 0);
	free(dest);
}

static void test_download_https_rejects_unknown_ca_without_custom_bundle(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "%s/k3s", W->https.base);
	base_opts(&o, url, dest);
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_ETLS);
	assert_non_null(strstr(err.msg, KF_DOWNLOAD_CA_ENV));
	free(dest);
}

static void test_download_uses_explicit_proxy(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s"), *src;

	(void)state;
	/* Nothing listens at the URL's port: only the proxy can answer. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/releases/%s/k3s", free_port(),
		 VERSION_URL);
	base_opts(&o, url, dest);
	o.proxy = W->http.base;
	o.no_proxy = "";
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	src = release_file(&W->rel, "k3s");
	assert_same_file(src, dest);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, 1), 1);
	free(src);
	free(dest);
}

static void test_download_honours_http_proxy_env(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/releases/%s/k3s", free_port(),
		 VERSION_URL);
	setenv("http_proxy", W->http.base, 1);
	base_opts(&o, url, dest);
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 200, NULL, 1), 1);
	free(dest);
}

static void test_download_tunnels_https_through_https_proxy_env(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char url[256], tunnel[64], *dest = out_path("k3s");

	(void)state;
	snprintf(url, sizeof(url), "%s/k3s", W->https.base);
	snprintf(tunnel, sizeof(tunnel), "127.0.0.1:%d", W->https.port);
	setenv("https_proxy", W->http.base, 1);
	base_opts(&o, url, dest);
	o.ca_file = W->https.ca_crt;
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	/* The proxy saw a CONNECT to the HTTPS server; TLS was still verified end to end. */
	assert_int_equal(kf_dlsrv_count(&W->http, tunnel, 200, NULL, 1), 1);
	assert_int_equal(kf_dlsrv_count(&W->https, "/k3s", 200, NULL, 0), 1);
	free(dest);
}

/* The link wraps write() (tests/CMakeLists.txt): with full_disk set, a write to a file whose
 * name ends in ".part" fails as on a full disk. */
static bool full_disk;
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (full_disk) {
		char link[64], target[4096];
		ssize_t len;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 5 && memcmp(target + len - 5, ".part", 5) == 0) {
			errno = ENOSPC;
			return -1;
		}
	}
	return __real_write(fd, buf, n);
}

/* The .part's name is predictable (a later run resumes it): a symlink planted there is
 * refused, and the file it points at is left as it was. */
static void test_download_never_writes_through_a_planted_part_symlink(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s");
	char *victim = out_path("victim"), part[1024], buf[64];
	FILE *f;

	(void)state;
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	snprintf(part, sizeof(part), "%s.part", dest);
	assert_int_equal(symlink(victim, part), 0);
	base_opts(&o, url, dest);
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "symbolic link"));
	assert_false(kf_fs_exists(dest));
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "precious\n");
	unlink(part);
	unlink(victim);
	free(victim);
	free(url);
	free(dest);
}

static void test_download_disk_full_keeps_part_and_says_free_space(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s");
	char part[1024];

	(void)state;
	/* Every write to a .part fails with ENOSPC (__wrap_write above): a full disk without
	 * privileges. */
	snprintf(part, sizeof(part), "%s.part", dest);
	base_opts(&o, url, dest);
	full_disk = true;
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EIO);
	full_disk = false;
	assert_non_null(strstr(err.msg, "disk full"));
	assert_non_null(strstr(err.msg, "free"));
	assert_non_null(strstr(err.msg, part));
	assert_false(kf_fs_exists(dest));
	/* Not retried: a full disk does not empty itself. */
	assert_int_equal(kf_dlsrv_count(&W->http, "/k3s", 0, NULL, -1), 1);
	unlink(part);
	free(url);
	free(dest);
}

static void test_download_reports_write_error_when_part_cannot_be_created(void **state)
{
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("no-such-dir/k3s");

	(void)state;
	base_opts(&o, url, dest);
	assert_int_equal(kf_download_file(&o, NULL, &err), KF_EIO);
	assert_non_null(strstr(err.msg, "no-such-dir/k3s.part"));
	free(url);
	free(dest);
}

static void test_download_emits_json_progress_events(void **state)
{
	struct kf_log_opts json_on = { KF_LOG_INFO, true, KF_COLOR_NEVER };
	struct kf_log_opts json_off = { KF_LOG_INFO, false, KF_COLOR_NEVER };
	struct kf_download_opts o;
	struct kf_err err;
	char *url = asset_url(&W->http, "", "k3s"), *dest = out_path("k3s");
	FILE *events = tmpfile();
	char line[4096];
	int progress = 0, final = 0;

	(void)state;
	assert_non_null(events);
	kf_log_init(&json_on);
	kf_log_set_streams(NULL, events);
	base_opts(&o, url, dest);
	o.no_progress = false;
	o.expected_sha256 = W->rel.k3s;
	assert_int_equal(kf_download_file(&o, NULL, &err), 0);
	kf_log_set_streams(NULL, NULL);
	kf_log_init(&json_off);
	rewind(events);
	while (fgets(line, sizeof(line), events)) {
		if (strstr(line, "\"type\":\"progress\"") && strstr(line, "download k3s")) {
			progress++;
			if (strstr(line, "\"final\":true") && strstr(line, "\"bytes\":1572881"))
				final++;
		}
	}
	fclose(events);
	assert_true(progress >= 1);
	assert_int_equal(final, 1);
	free(url);
	free(dest);
}

/* ---- kf_artifacts ---- */

static struct kf_config *release_config(const char *version, bool kubesphere)
{
	struct kf_config *cfg;
	struct kf_err err;
	char *u = NULL;

	assert_int_equal(kf_config_default(&cfg, &err), 0);
	free(cfg->k3s.version);
	cfg->k3s.version = strdup(version);
	free(cfg->k3s.release_url);
	assert_true(asprintf(&cfg->k3s.release_url, "%s/releases/", W->http.base) > 0);
	free(cfg->k3s.install_script_url);
	assert_true(asprintf(&cfg->k3s.install_script_url, "%s/releases/%s/install.sh",
			     W->http.base, VERSION_URL) > 0);
	cfg->k3s.install_script_sha256 = strdup(W->rel.install);
	cfg->addons.kubesphere = kubesphere;
	free(cfg->addons.kubesphere_chart);
	assert_true(asprintf(&u, "%s/releases/%s/ks-core-1.1.4.tgz", W->http.base,
			     VERSION_URL) > 0);
	cfg->addons.kubesphere_chart = u;
	cfg->addons.kubesphere_chart_sha256 = strdup(W->rel.chart);
	cfg->timeouts.download_s = 20;
	return cfg;
}

static void art_opts(struct kf_artifacts_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_attempts = 2;
	o->retry_base_ms = 10;
	o->no_progress = true;
}

static void test_artifacts_fetches_verified_release(void **state)
{
	struct kf_config *cfg = release_config(VERSION, true);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	struct stat st;
	char *p;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(rep.n_fetched, 6);
	assert_int_equal(rep.n_reused, 0);
	assert_string_equal(rep.items[KF_ARTIFACT_K3S].sha256, W->rel.k3s);
	assert_string_equal(rep.items[KF_ARTIFACT_AIRGAP].sha256, W->rel.airgap);
	assert_string_equal(rep.items[KF_ARTIFACT_IMAGES].sha256, W->rel.images);
	assert_string_equal(rep.items[KF_ARTIFACT_INSTALL].sha256, W->rel.install);
	assert_string_equal(rep.items[KF_ARTIFACT_CHART].sha256, W->rel.chart);
	assert_string_equal(rep.chart_version, "1.1.4");
	assert_string_equal(rep.items[KF_ARTIFACT_CHART].name, "ks-core-1.1.4.tgz");
	assert_int_equal(stat(rep.items[KF_ARTIFACT_K3S].path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	p = kf_path_join(W->out, "artifacts/verified.json");
	assert_true(kf_fs_exists(p));
	free(p);
	/* The sum file came first. */
	{
		char *log = kf_test_read(W->http.access_log);
		char *sums = strstr(log, "sha256sum-amd64.txt"), *k3s = strstr(log, "/k3s\"");
		assert_non_null(sums);
		assert_non_null(k3s);
		assert_true(sums < k3s);
		free(log);
	}
	assert_int_equal(kf_artifacts_check(cfg, W->out, &err), 0);
	{
		json_t *j = kf_artifacts_report_json(&rep);
		json_t *k3s = json_object_get(json_object_get(j, "files"), "k3s");
		assert_string_equal(json_string_value(json_object_get(k3s, "sha256")), W->rel.k3s);
		assert_true(json_is_true(json_object_get(k3s, "fetched")));
		assert_int_equal(json_integer_value(json_object_get(j, "fetched")), 6);
		json_decref(j);
	}
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_rerun_downloads_nothing(void **state)
{
	struct kf_config *cfg = release_config(VERSION, true);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	kf_artifacts_report_free(&rep);
	assert_int_equal(kf_dlsrv_clear_log(&W->http), 0);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(rep.n_fetched, 0);
	assert_int_equal(rep.n_reused, 6);
	assert_int_equal(kf_dlsrv_count(&W->http, NULL, 0, NULL, -1), 0);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_rehashes_changed_file_and_refetches(void **state)
{
	struct kf_config *cfg = release_config(VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char *airgap;
	FILE *f;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	airgap = strdup(rep.items[KF_ARTIFACT_AIRGAP].path);
	kf_artifacts_report_free(&rep);
	f = fopen(airgap, "ab");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	assert_int_equal(kf_artifacts_check(cfg, W->out, &err), KF_ESTATE);
	assert_int_equal(kf_dlsrv_clear_log(&W->http), 0);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(rep.n_fetched, 1);
	assert_true(rep.items[KF_ARTIFACT_AIRGAP].fetched);
	assert_string_equal(rep.items[KF_ARTIFACT_AIRGAP].sha256, W->rel.airgap);
	assert_int_equal(kf_dlsrv_count(&W->http, NULL, 0, NULL, -1), 1);
	assert_int_equal(kf_dlsrv_count(&W->http, "airgap", 0, NULL, -1), 1);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(airgap);
}

static void test_artifacts_wrong_sum_entry_deletes_and_names_file(void **state)
{
	struct kf_config *cfg = release_config(BAD_VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char *p, *sums, *line;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_EDIGEST);
	p = kf_path_join(W->out, "artifacts/k3s-images.txt");
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, W->bad.images));       /* actual */
	sums = release_file(&W->bad, "sha256sum-amd64.txt");
	line = kf_test_read(sums);
	assert_non_null(line);
	{
		/* expected = what the (bad) sum file says */
		char *at = strstr(line, "  k3s-images.txt");
		assert_non_null(at);
		assert_non_null(strstr(err.msg, "expected "));
		at[0] = '\0';
		assert_non_null(strstr(err.msg, at - 64));
	}
	assert_false(kf_fs_exists(p));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(p);
	free(sums);
	free(line);
}

static void test_artifacts_sum_file_without_entry_fails(void **state)
{
	struct kf_config *cfg = release_config(OMIT_VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no entry for k3s-airgap-images-amd64.tar.zst"));
	assert_int_equal(kf_dlsrv_count(&W->http, "airgap", 0, NULL, -1), 0);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_from_dir_copies_without_network(void **state)
{
	struct kf_config *cfg = release_config(VERSION, true);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char *src;

	(void)state;
	art_opts(&o);
	o.from_dir = W->rel.dir;
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(rep.n_fetched, 6);
	src = release_file(&W->rel, "k3s-airgap-images-amd64.tar.zst");
	assert_same_file(src, rep.items[KF_ARTIFACT_AIRGAP].path);
	assert_string_equal(rep.items[KF_ARTIFACT_AIRGAP].source, src);
	assert_int_equal(kf_dlsrv_count(&W->http, NULL, 0, NULL, -1), 0);
	kf_artifacts_report_free(&rep);
	/* and a rerun copies nothing */
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(rep.n_fetched, 0);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(src);
}

static void test_artifacts_from_dir_verifies_against_its_sum_file(void **state)
{
	struct kf_config *cfg = release_config(BAD_VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;

	(void)state;
	art_opts(&o);
	o.from_dir = W->bad.dir;
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, "k3s-images.txt"));
	assert_non_null(strstr(err.msg, W->bad.images));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_from_dir_requires_sum_file(void **state)
{
	struct kf_config *cfg = release_config(VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char dir[1024], *src, *dst;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/offline", W->out);
	assert_int_equal(kf_fs_mkdirs(dir, 0755, NULL), 0);
	src = release_file(&W->rel, "k3s");
	dst = kf_path_join(dir, "k3s");
	assert_int_equal(kf_fs_copy(src, dst, 0755, NULL), 0);
	art_opts(&o);
	o.from_dir = dir;
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "sha256sum-amd64.txt"));
	assert_non_null(strstr(err.msg, dir));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(src);
	free(dst);
}

static void test_artifacts_install_script_pin_mismatch_fails(void **state)
{
	struct kf_config *cfg = release_config(VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	const char *pin = "abababababababababababababababababababababababababababababababab";
	char *p;

	(void)state;
	free(cfg->k3s.install_script_sha256);
	cfg->k3s.install_script_sha256 = strdup(pin);
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_EDIGEST);
	p = kf_path_join(W->out, "artifacts/install.sh");
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, pin));
	assert_non_null(strstr(err.msg, W->rel.install));
	assert_false(kf_fs_exists(p));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(p);
}

static void test_artifacts_unpinned_install_script_warns_with_digest(void **state)
{
	struct kf_config *cfg = release_config(VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	FILE *logf = tmpfile();
	char text[8192];
	size_t n;

	(void)state;
	assert_non_null(logf);
	free(cfg->k3s.install_script_sha256);
	cfg->k3s.install_script_sha256 = NULL;
	art_opts(&o);
	kf_log_set_streams(logf, NULL);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	kf_log_set_streams(NULL, NULL);
	rewind(logf);
	n = fread(text, 1, sizeof(text) - 1, logf);
	text[n] = '\0';
	fclose(logf);
	assert_non_null(strstr(text, "install.sh is not pinned"));
	assert_non_null(strstr(text, W->rel.install));
	assert_non_null(strstr(text, "k3s.install_script_sha256"));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_chart_from_local_path_relative_to_config(void **state)
{
	struct kf_config *cfg = release_config(VERSION, true);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char *src;

	(void)state;
	/* A chart path in the configuration is relative to the configuration file. */
	assert_true(asprintf(&cfg->path, "%s/k3sforge.yaml", W->rel.dir) > 0);
	free(cfg->addons.kubesphere_chart);
	cfg->addons.kubesphere_chart = strdup("ks-core-1.1.4.tgz");
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	src = release_file(&W->rel, "ks-core-1.1.4.tgz");
	assert_string_equal(rep.items[KF_ARTIFACT_CHART].source, src);
	assert_same_file(src, rep.items[KF_ARTIFACT_CHART].path);
	assert_int_equal(kf_dlsrv_count(&W->http, "ks-core", 0, NULL, -1), 0);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
	free(src);
}

static void test_artifacts_chart_digest_mismatch_fails(void **state)
{
	struct kf_config *cfg = release_config(VERSION, true);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	const char *pin = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

	(void)state;
	free(cfg->addons.kubesphere_chart_sha256);
	cfg->addons.kubesphere_chart_sha256 = strdup(pin);
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), KF_EDIGEST);
	assert_non_null(strstr(err.msg, "ks-core-1.1.4.tgz"));
	assert_non_null(strstr(err.msg, pin));
	assert_non_null(strstr(err.msg, W->rel.chart));
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

static void test_artifacts_images_lists_release_image_refs(void **state)
{
	struct kf_config *cfg = release_config(VERSION, false);
	struct kf_artifacts_opts o;
	struct kf_artifacts_report rep;
	struct kf_err err;
	char **refs;
	size_t n;

	(void)state;
	art_opts(&o);
	assert_int_equal(kf_artifacts_ensure(cfg, W->out, &o, &rep, &err), 0);
	assert_int_equal(kf_artifacts_images(&refs, &n, W->out, &err), 0);
	assert_int_equal(n, 7);
	assert_string_equal(refs[0], "docker.io/rancher/klipper-helm:v0.9.8-build20250709");
	assert_string_equal(refs[6], "docker.io/rancher/mirrored-pause:3.6");
	assert_null(refs[7]);
	kf_artifacts_images_free(refs);
	kf_artifacts_report_free(&rep);
	kf_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_download_fetches_file_and_verifies_digest),
		T(test_download_resumes_cut_transfer_with_range),
		T(test_download_resumes_part_left_by_killed_run),
		T(test_download_stops_on_sigint_and_keeps_part),
		T(test_download_digest_mismatch_deletes_file_and_names_digests),
		T(test_download_reports_404_with_status_and_url),
		T(test_download_reports_unreachable_port_with_url),
		T(test_download_retries_after_503_and_succeeds),
		T(test_download_gives_up_after_bounded_5xx_retries),
		T(test_download_stall_times_out_and_keeps_part),
		T(test_download_restarts_when_server_ignores_range),
		T(test_download_finishes_part_that_already_holds_whole_file),
		T(test_download_drops_part_longer_than_remote_file),
		T(test_download_redownloads_when_resumed_data_fails_digest),
		T(test_download_follows_redirect_chain),
		T(test_download_refuses_endless_redirects),
		T(test_download_https_trusts_custom_ca_option),
		T(test_download_https_trusts_ca_from_env),
		T(test_download_https_rejects_cert_from_other_ca),
		T(test_download_https_rejects_unknown_ca_without_custom_bundle),
		T(test_download_uses_explicit_proxy),
		T(test_download_honours_http_proxy_env),
		T(test_download_tunnels_https_through_https_proxy_env),
		T(test_download_disk_full_keeps_part_and_says_free_space),
		T(test_download_never_writes_through_a_planted_part_symlink),
		T(test_download_reports_write_error_when_part_cannot_be_created),
		T(test_download_emits_json_progress_events),
		T(test_artifacts_fetches_verified_release),
		T(test_artifacts_rerun_downloads_nothing),
		T(test_artifacts_rehashes_changed_file_and_refetches),
		T(test_artifacts_wrong_sum_entry_deletes_and_names_file),
		T(test_artifacts_sum_file_without_entry_fails),
		T(test_artifacts_from_dir_copies_without_network),
		T(test_artifacts_from_dir_verifies_against_its_sum_file),
		T(test_artifacts_from_dir_requires_sum_file),
		T(test_artifacts_install_script_pin_mismatch_fails),
		T(test_artifacts_unpinned_install_script_warns_with_digest),
		T(test_artifacts_chart_from_local_path_relative_to_config),
		T(test_artifacts_chart_digest_mismatch_fails),
		T(test_artifacts_images_lists_release_image_refs),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
