/* core/http.c: the redirect downgrade rule, what counts as loopback, the progress watch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "k3sforge/http.h"
#include "k3sforge/platform.h"

static void test_http_redirect_refuses_https_to_plain_http(void **state)
{
	(void)state;
	assert_false(kf_http_redirect_allowed("https://r.example/v2/x/blobs/sha256:1",
					      "http://cdn.example/blob"));
	assert_false(kf_http_redirect_allowed("https://r.example/", "HTTP://cdn.example/blob"));
	/* 127.1 is loopback in fact, but only addresses written as such count */
	assert_false(kf_http_redirect_allowed("https://127.0.0.1:5000/", "http://127.1:80/x"));
	assert_false(kf_http_redirect_allowed("https://r.example/",
					      "http://127.0.0.1@evil.example/x"));
}

static void test_http_redirect_allows_https_relative_and_loopback(void **state)
{
	(void)state;
	assert_true(kf_http_redirect_allowed("https://r.example/", "https://cdn.example/b"));
	assert_true(kf_http_redirect_allowed("https://r.example/", "/v2/x/blobs/y"));
	assert_true(kf_http_redirect_allowed("https://r.example/", "//cdn.example/b"));
	assert_true(kf_http_redirect_allowed("https://r.example/", "http://127.0.0.1:8080/b"));
	assert_true(kf_http_redirect_allowed("https://r.example/", "http://[::1]:8080/b"));
	assert_true(kf_http_redirect_allowed("https://r.example/", "http://localhost/b"));
	assert_true(kf_http_redirect_allowed("http://127.0.0.1:5000/", "http://127.1:80/x"));
}

static void test_http_redirect_refuses_other_schemes(void **state)
{
	(void)state;
	assert_false(kf_http_redirect_allowed("https://r.example/", "file:///etc/passwd"));
	assert_false(kf_http_redirect_allowed("http://127.0.0.1/", "ftp://127.0.0.1/x"));
}

static void test_http_loopback_is_by_literal_address(void **state)
{
	(void)state;
	assert_true(kf_http_url_is_loopback("http://127.0.0.1:5000/v2/"));
	assert_true(kf_http_url_is_loopback("https://127.255.3.4/"));
	assert_true(kf_http_url_is_loopback("http://[::1]:80/"));
	assert_true(kf_http_host_is_loopback("localhost:5000"));
	assert_false(kf_http_url_is_loopback("http://127.0.0.1.evil.example/"));
	assert_false(kf_http_url_is_loopback("http://127.0.0.999/"));
	assert_false(kf_http_url_is_loopback("http://10.0.0.1/"));
	assert_false(kf_http_url_is_loopback("http://user@10.0.0.1/"));
}

static void test_http_watch_window_is_bytes_per_window(void **state)
{
	struct kf_http_watch w;

	(void)state;
	kf_http_watch_arm(&w, 5, 0);
	assert_int_equal(w.min_bytes, 5 * KF_HTTP_MIN_RATE);
	assert_true(w.deadline == 0);
	kf_http_watch_arm(&w, 0, 3);
	assert_true(w.deadline > kf_now_mono());
	assert_int_equal(w.stop, KF_HTTP_RUNNING);
}

static void test_http_dripping_transfer_is_stopped_by_the_watch(void **state)
{
	struct kf_http_watch w;
	curl_xferinfo_callback cb;
	struct kf_http_opts o = { 0 };
	CURL *h;
	char why[160];

	(void)state;
	/* drive the callback the handle got, as libcurl would: 25 bytes in 1.2 s of a 1 s window */
	o.watch = &w;
	h = kf_http_easy_new(&o);
	assert_non_null(h);
	kf_http_watch_arm(&w, 1, 0);
	cb = kf_http_progress_callback();
	assert_int_equal(cb(&w, 0, 5, 0, 0), 0);
	kf_sleep_ms(600);
	assert_int_equal(cb(&w, 0, 15, 0, 0), 0);
	kf_sleep_ms(600);
	assert_int_not_equal(cb(&w, 0, 25, 0, 0), 0);
	assert_int_equal(w.stop, KF_HTTP_TOO_SLOW);
	assert_non_null(strstr(kf_http_watch_reason(&w, why, sizeof(why)), "1024 bytes"));
	/* a fast transfer keeps opening new windows */
	kf_http_watch_arm(&w, 1, 0);
	for (int i = 1; i <= 4; i++) {
		kf_sleep_ms(400);
		assert_int_equal(cb(&w, 0, (curl_off_t)i * 2048, 0, 0), 0);
	}
	curl_easy_cleanup(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_redirect_refuses_https_to_plain_http),
		cmocka_unit_test(test_http_redirect_allows_https_relative_and_loopback),
		cmocka_unit_test(test_http_redirect_refuses_other_schemes),
		cmocka_unit_test(test_http_loopback_is_by_literal_address),
		cmocka_unit_test(test_http_watch_window_is_bytes_per_window),
		cmocka_unit_test(test_http_dripping_transfer_is_stopped_by_the_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
