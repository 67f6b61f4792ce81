/* Docker-style image references: normalisation and refusal of malformed ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/oci.h"

static void check(const char *in, const char *reg, const char *repo, const char *tag,
		  const char *digest)
{
	struct kf_oci_ref r;
	struct kf_err err;

	assert_int_equal(kf_oci_ref_parse(&r, in, &err), 0);
	assert_string_equal(r.registry, reg);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	kf_oci_ref_free(&r);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_ref_short_name_becomes_docker_library(void **state)
{
	(void)state;
	check("busybox", "docker.io", "library/busybox", "latest", NULL);
	check("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
}

static void test_ref_user_repo_stays_on_docker_io(void **state)
{
	(void)state;
	check("rancher/mirrored-pause:3.6", "docker.io", "rancher/mirrored-pause", "3.6", NULL);
	check("docker.io/rancher/x:1", "docker.io", "rancher/x", "1", NULL);
	check("index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", NULL);
}

static void test_ref_registry_with_port_and_digest(void **state)
{
	(void)state;
	check("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", NULL);
	check("quay.io/x/y@" D, "quay.io", "x/y", NULL, D);
	check("registry.k8s.io/pause:3.9@" D, "registry.k8s.io", "pause", "3.9", D);
	check("localhost/img", "localhost", "img", "latest", NULL);
}

static void test_ref_refuses_malformed(void **state)
{
	const char *bad[] = { "", "Upper/Case", "a//b", "x:", "x@sha256:12", "/a", "a/", "a b",
			      "x:-bad" };
	struct kf_oci_ref r;
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kf_oci_ref_parse(&r, bad[i], &err), KF_EPARSE);
		assert_null(r.repo);
	}
}

static void test_ref_str_round_trips(void **state)
{
	struct kf_oci_ref r;
	struct kf_err err;
	char *s;

	(void)state;
	assert_int_equal(kf_oci_ref_parse(&r, "alpine", &err), 0);
	s = kf_oci_ref_str(&r);
	assert_string_equal(s, "docker.io/library/alpine:latest");
	assert_string_equal(kf_oci_request_host(r.registry), "registry-1.docker.io");
	free(s);
	kf_oci_ref_free(&r);
}

static void test_registry_refuses_plain_http_off_loopback(void **state)
{
	struct kf_oci_registry *r = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(kf_oci_registry_new(&r, "http://192.168.6.1:5000", NULL, &err), KF_EUSAGE);
	assert_null(r);
	assert_non_null(strstr(err.msg, "loopback"));
	assert_int_equal(kf_oci_registry_new(&r, "http://127.0.0.2:5000", NULL, &err), 0);
	assert_string_equal(kf_oci_registry_name(r), "127.0.0.2:5000");
	kf_oci_registry_free(r);
	assert_int_equal(kf_oci_registry_new(&r, "http://127.0.0.1.evil.com:80", NULL, &err),
			 KF_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_short_name_becomes_docker_library),
		cmocka_unit_test(test_ref_user_repo_stays_on_docker_io),
		cmocka_unit_test(test_ref_registry_with_port_and_digest),
		cmocka_unit_test(test_ref_refuses_malformed),
		cmocka_unit_test(test_ref_str_round_trips),
		cmocka_unit_test(test_registry_refuses_plain_http_off_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
