/* The one image-reference grammar (distribution's) and Docker's normalisation, as every input
 * sees it: core's kf_imageref_parse, the OCI client's kf_oci_ref_parse and the configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/imageref.h"
#include "k3sforge/oci.h"

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void full_is(const char *in, const char *want)
{
	struct kf_imageref r;
	char why[160], full[600];
	size_t off;

	if (kf_imageref_parse(in, &r, &off, why, sizeof(why)) != 0)
		fail_msg("'%s' refused at %zu: %s", in, off, why);
	kf_imageref_full(&r, full, sizeof(full));
	assert_string_equal(full, want);
}

static void test_imageref_normalises_like_docker(void **state)
{
	(void)state;
	full_is("busybox", "docker.io/library/busybox:latest");
	full_is("rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause:3.6");
	full_is("index.docker.io/alpine:3", "docker.io/library/alpine:3");
	full_is("registry-1.docker.io/library/alpine", "docker.io/library/alpine:latest");
	full_is("docker.io/library/x@" D, "docker.io/library/x@" D);
	full_is("localhost/img", "localhost/img:latest");
	full_is("localhost:5000/a/b:v1", "localhost:5000/a/b:v1");
	full_is("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000/a/b/c:v1");
	full_is("[::1]:5000/a:1", "[::1]:5000/a:1");
	/* an upper-case first component is a registry (Docker's rule), not a repository */
	full_is("Registry.Example/a:1", "Registry.Example/a:1");
	full_is("a__b/c-d---e/f.g_h:_T.a-g", "docker.io/a__b/c-d---e/f.g_h:_T.a-g");
}

struct bad {
	const char *ref;
	size_t off;
	const char *why;
};

/* Every break of the grammar, with where it is. ".." and "." components can never reach a
 * URL, where curl would resolve them into another endpoint. */
static void test_imageref_refuses_what_the_grammar_refuses(void **state)
{
	static const struct bad bad[] = {
		{ "h/../../v2/x:1", 2, "bad repository name component '..'" },
		{ "a/./b", 2, "bad repository name component '.'" },
		{ "registry.example/../v2/_catalog", 17, "bad repository name component '..'" },
		{ "a/b/..", 4, "bad repository name component '..'" },
		{ "a..b", 2, "bad repository name component 'a..b'" },
		{ "a___b", 3, "bad repository name component" },
		{ "-a", 0, "bad repository name component" },
		{ "a-", 1, "bad repository name component" },
		{ "a//b", 2, "bad repository name component ''" },
		{ "a/", 1, "repository name ends with '/'" },
		{ "/a", 0, "bad repository name component ''" },
		{ "docker.io/Library/busybox", 10, "repository names must be lowercase" },
		{ "a b", 1, "bad repository name component" },
		{ "x:", 2, "tag must be 1 to 128 characters" },
		{ "x:-bad", 2, "tag may hold only" },
		{ "x:a/b", 2, "registry is not a host[:port]" },
		{ "x@sha256:12", 2, "digest must be sha256: followed by 64 hex digits" },
		{ "x@sha512:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 2,
		  "digest must be sha256" },
		{ "x@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 19,
		  "digest must be lowercase hex" },
		{ "host:0/x", 5, "registry is not a host[:port]" },
		{ "host:70000/x", 5, "registry is not a host[:port]" },
		{ "-host.example/x", 0, "registry is not a host[:port]" },
		{ "host..example/x", 5, "registry is not a host[:port]" },
		{ "[zz]:5000/x", 1, "registry is not a host[:port]" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0,
		  "64 hex digits" },
		{ "", 0, "empty image reference" },
		{ ":tag", 0, "no repository name" },
		{ "@" D, 0, "no repository name" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char why[200] = "";
		size_t off = 999;
		if (kf_imageref_parse(bad[i].ref, NULL, &off, why, sizeof(why)) == 0)
			fail_msg("'%s' was accepted", bad[i].ref);
		if (off != bad[i].off || !strstr(why, bad[i].why))
			fail_msg("'%s': at %zu '%s', expected at %zu '%s'", bad[i].ref, off, why,
				 bad[i].off, bad[i].why);
	}
}

static void test_imageref_bounds_tag_and_name_length(void **state)
{
	char ref[600];
	char why[160];
	size_t off;

	(void)state;
	memset(ref, 0, sizeof(ref));
	memcpy(ref, "x:", 2);
	memset(ref + 2, 't', 128);
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), 0);
	ref[2 + 128] = 't';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), -1);
	memcpy(ref, "r.io/", 5);
	memset(ref + 5, 'a', 250);
	ref[255] = '\0';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), 0);
	ref[255] = 'a';
	ref[256] = '\0';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "longer than 255"));
	/* the bound holds for the name as Docker reads it: 237 + "docker.io/library/" = 255
	 * (found by fuzz_imageref: a 248-byte short name normalised to one the parser refused) */
	memset(ref, 'a', 237);
	ref[237] = '\0';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), 0);
	ref[237] = 'a';
	ref[238] = '\0';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "as Docker reads it"));
	memset(ref, 'a', 513);
	ref[513] = '\0';
	assert_int_equal(kf_imageref_parse(ref, NULL, &off, why, sizeof(why)), -1);
}

/* The OCI client's parser is the same grammar: ".." from a command line or a bundle listing is
 * refused as the config file refuses it. */
static void test_oci_ref_parse_uses_the_one_grammar(void **state)
{
	const char *bad[] = { "h/../../v2/x:1", "127.0.0.1:5000/a/../../v2/_catalog", "a/./b",
			      "a..b", "a___b", "host:70000/x" };
	struct kf_oci_ref r;
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kf_oci_ref_parse(&r, bad[i], &err) != KF_EPARSE)
			fail_msg("'%s' was accepted", bad[i]);
		assert_null(r.repo);
		assert_non_null(strstr(err.msg, "image reference"));
	}
	assert_int_equal(kf_oci_ref_parse(&r, "index.docker.io/alpine@" D, &err), 0);
	assert_string_equal(r.registry, "docker.io");
	assert_string_equal(r.repo, "library/alpine");
	assert_null(r.tag);
	assert_string_equal(r.digest, D);
	kf_oci_ref_free(&r);
}

/* The configuration's image check and its Docker reading of names are the same parser: an
 * index.docker.io pause image is the docker.io one in the image list (it used to be reported
 * as coming from an unmirrored registry). */
static void test_config_reads_index_docker_io_as_docker_io(void **state)
{
	static const char yaml[] = "k3s:\n  pause_image: index.docker.io/rancher/mirrored-pause:3.6\n"
				   "images:\n  inline: [rancher/mirrored-pause:3.6]\n";
	static const char bad[] = "images:\n  inline: [\"registry.example/a/../../v2/x:1\"]\n";
	struct kf_config *c = NULL;
	struct kf_err err;

	(void)state;
	kf_err_clear(&err);
	if (kf_config_load_mem(&c, "t.yaml", yaml, strlen(yaml), &err) != 0)
		fail_msg("refused: %s", err.msg);
	kf_config_free(c);
	c = NULL;
	assert_int_equal(kf_config_load_mem(&c, "t.yaml", bad, strlen(bad), &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "t.yaml:2:32: images.inline[0]"));
	assert_non_null(strstr(err.msg, "bad repository name component '..'"));
}

/* kf_digest_valid is the one digest check: sha256 and 64 lowercase hex, nothing else. */
static void test_digest_valid_is_sha256_and_64_lowercase_hex(void **state)
{
	(void)state;
	assert_true(kf_digest_valid(D));
	assert_string_equal(kf_digest_hex(D), D + 7);
	assert_false(kf_digest_valid(NULL));
	assert_false(kf_digest_valid(""));
	assert_false(kf_digest_valid("x"));
	assert_false(kf_digest_valid("sha256:"));
	assert_false(kf_digest_valid(D "0"));
	assert_false(kf_digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(kf_digest_valid("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(kf_digest_valid("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
	assert_null(kf_digest_hex("x"));
}

/* The OCI client checks a digest where it enters, before it becomes part of a URL: a dotted
 * "sha256:../.." would be resolved by curl into another endpoint (found for HEAD blob: the
 * mirror's target got "HEAD /a"). No request is made. */
static void test_oci_client_refuses_bad_digests_before_any_request(void **state)
{
	const char *evil = "sha256:../../../../../../../../../../../../../../../../../../../../../a";
	struct kf_oci_registry *r = NULL;
	struct kf_oci_manifest m;
	struct kf_err err;
	bool mounted;

	(void)state;
	/* port 9 on loopback: a request would fail with a network error, not KF_EPARSE */
	assert_int_equal(kf_oci_registry_new(&r, "http://127.0.0.1:9", NULL, &err), 0);
	assert_int_equal(kf_oci_blob_head(r, "a/b", evil, NULL, &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "is not a digest"));
	assert_int_equal(kf_oci_blob_mount(r, "a/b", evil, "c/d", &mounted, NULL, &err), KF_EPARSE);
	assert_int_equal(kf_oci_blob_get(r, "a/b", evil, 1, NULL, NULL, &err), KF_EPARSE);
	assert_int_equal(kf_oci_blob_put(r, "a/b", evil, "x", 1, &err), KF_EPARSE);
	assert_int_equal(kf_oci_manifest_get(r, "a/b", evil, &m, &err), KF_EPARSE);
	assert_int_equal(kf_oci_registry_requests(r), 0);
	kf_oci_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imageref_normalises_like_docker),
		cmocka_unit_test(test_imageref_refuses_what_the_grammar_refuses),
		cmocka_unit_test(test_imageref_bounds_tag_and_name_length),
		cmocka_unit_test(test_oci_ref_parse_uses_the_one_grammar),
		cmocka_unit_test(test_config_reads_index_docker_io_as_docker_io),
		cmocka_unit_test(test_digest_valid_is_sha256_and_64_lowercase_hex),
		cmocka_unit_test(test_oci_client_refuses_bad_digests_before_any_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
