/* Vectors of owned strings (strv.h): appending copies, the NULL after the last, growth, freeing;
 * and the wipe-then-free of secrets (buf.h), which must take NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"
#include "k3sforge/strv.h"

static void test_strv_append_copies_and_keeps_a_null_after_the_last(void **state)
{
	char **v = NULL, word[] = "alpha-beta";
	size_t n = 0;

	(void)state;
	assert_int_equal(kf_strv_append(&v, &n, word, 5), 0);
	word[0] = 'X';   /* a copy: the caller's buffer may change */
	assert_int_equal(kf_strv_append(&v, &n, "gamma", 5), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "alpha");
	assert_string_equal(v[1], "gamma");
	assert_null(v[2]);
	kf_argv_free(v);   /* NULL-terminated, so an argv too */
}

static void test_strv_grows_past_many_entries(void **state)
{
	char **v = NULL, s[32];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(s, sizeof(s), "item-%d", i);
		assert_int_equal(kf_strv_append(&v, &n, s, strlen(s)), 0);
		assert_null(v[n]);
	}
	assert_int_equal(n, 5000);
	assert_string_equal(v[0], "item-0");
	assert_string_equal(v[4999], "item-4999");
	kf_strv_free(v, n);
}

static void test_strv_free_takes_null_and_empty(void **state)
{
	(void)state;
	kf_strv_free(NULL, 0);
	kf_strv_free(NULL, 3);
	kf_argv_free(NULL);
	kf_strv_free(calloc(1, sizeof(char *)), 0);
}

static void test_freezero_frees_secrets_and_takes_null(void **state)
{
	char *tok = strdup("s3cret-token");
	unsigned char *key = malloc(32);

	(void)state;
	assert_non_null(tok);
	assert_non_null(key);
	memset(key, 0xa5, 32);
	kf_freezero_str(tok);   /* ASan reports a leak if it did not free */
	kf_freezero(key, 32);
	kf_freezero(NULL, 32);
	kf_freezero_str(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strv_append_copies_and_keeps_a_null_after_the_last),
		cmocka_unit_test(test_strv_grows_past_many_entries),
		cmocka_unit_test(test_strv_free_takes_null_and_empty),
		cmocka_unit_test(test_freezero_frees_secrets_and_takes_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
