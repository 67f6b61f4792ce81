/* kf_buf: growth, limits, formatting, detaching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/err.h"

static void test_buf_appends_and_terminates(void **state)
{
	struct kf_buf b;
	(void)state;
	kf_buf_init(&b, 0);
	assert_string_equal(kf_buf_str(&b), "");
	assert_int_equal(kf_buf_puts(&b, "hello"), 0);
	assert_int_equal(kf_buf_printf(&b, " %d-%s", 42, "x"), 0);
	assert_string_equal(kf_buf_str(&b), "hello 42-x");
	assert_int_equal(b.len, 10);
	kf_buf_free(&b);
}

static void test_buf_refuses_growth_past_max(void **state)
{
	struct kf_buf b;
	(void)state;
	kf_buf_init(&b, 8);
	assert_int_equal(kf_buf_puts(&b, "12345678"), 0);
	assert_int_equal(kf_buf_putc(&b, '9'), KF_ELIMIT);
	assert_string_equal(kf_buf_str(&b), "12345678");
	assert_int_equal(kf_buf_printf(&b, "%s", "more"), KF_ELIMIT);
	kf_buf_free(&b);
}

static void test_buf_grows_through_many_appends(void **state)
{
	struct kf_buf b;
	(void)state;
	kf_buf_init(&b, 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(kf_buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.data[26], 'a');
	kf_buf_free(&b);
}

static void test_buf_detach_hands_over_memory(void **state)
{
	struct kf_buf b;
	char *s;
	(void)state;
	kf_buf_init(&b, 0);
	s = kf_buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	kf_buf_puts(&b, "abc");
	s = kf_buf_detach(&b);
	assert_string_equal(s, "abc");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
	kf_buf_puts(&b, "secret");
	kf_buf_free_secret(&b);
	assert_null(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_appends_and_terminates),
		cmocka_unit_test(test_buf_refuses_growth_past_max),
		cmocka_unit_test(test_buf_grows_through_many_appends),
		cmocka_unit_test(test_buf_detach_hands_over_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
