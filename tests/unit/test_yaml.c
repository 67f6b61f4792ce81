/* The YAML tree: parse, edit, emit, and the bounds on hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/yaml.h"

static struct kf_ynode *parse(const char *text)
{
	struct kf_ynode *n = NULL;
	struct kf_err err;
	int r = kf_yaml_parse(&n, "t.yaml", text, strlen(text), &err);

	if (r)
		fail_msg("%s", err.msg);
	return n;
}

static char *emit(const struct kf_ynode *n)
{
	struct kf_buf b;
	struct kf_err err;

	kf_buf_init(&b, 0);
	assert_int_equal(kf_yaml_emit(n, &b, &err), 0);
	return kf_buf_detach(&b);
}

static void test_yaml_parses_and_emits_in_order(void **state)
{
	struct kf_ynode *n = parse("b: 1\na:\n  - x\n  - 'y z'\nc: {k: v}\n");
	char *out;
	struct kf_ynode *again;
	(void)state;
	assert_int_equal(n->type, KF_Y_MAP);
	assert_string_equal(kf_ymap_str(n, "b"), "1");
	assert_int_equal(kf_ymap_get(n, "a")->n, 2);
	assert_true(kf_ymap_get(n, "a")->items[1]->quoted);
	out = emit(n);
	assert_true(strstr(out, "b: 1") < strstr(out, "a:"));
	again = parse(out);
	assert_true(kf_ynode_equal(n, again));
	free(out);
	kf_ynode_free(again);
	kf_ynode_free(n);
}

static void test_yaml_set_replaces_in_place_and_appends_new_keys(void **state)
{
	struct kf_ynode *n = parse("a: 1\nb: 2\n");
	char *out;
	(void)state;
	assert_int_equal(kf_ymap_set_str(n, "a", "changed"), 0);
	assert_int_equal(kf_ymap_set_str(n, "z", "new"), 0);
	out = emit(n);
	assert_non_null(strstr(out, "a: changed\nb: 2\nz: new\n"));
	free(out);
	kf_ynode_free(n);
}

static void test_yaml_quoted_strings_stay_strings(void **state)
{
	struct kf_ynode *n = kf_ymap_new(), *back;
	char *out;
	(void)state;
	kf_ymap_set_str(n, "mode", "0644");
	kf_ymap_get(n, "mode")->quoted = true;
	kf_ymap_set_str(n, "colon", "a: b");
	kf_ymap_set_str(n, "empty", "");
	out = emit(n);
	back = parse(out);
	assert_string_equal(kf_ymap_str(back, "colon"), "a: b");
	assert_string_equal(kf_ymap_str(back, "empty"), "");
	assert_true(kf_ymap_get(back, "mode")->quoted);
	free(out);
	kf_ynode_free(back);
	kf_ynode_free(n);
}

static void test_yaml_refuses_aliases(void **state)
{
	struct kf_ynode *n = NULL;
	struct kf_err err;
	const char *t = "a: &x [1, 2]\nb: *x\n";
	(void)state;
	assert_int_equal(kf_yaml_parse(&n, "t.yaml", t, strlen(t), &err), KF_EPARSE);
	assert_string_equal(err.msg, "t.yaml:2:4: YAML aliases are not supported here");
	assert_null(n);
}

static void test_yaml_refuses_deep_nesting(void **state)
{
	struct kf_ynode *n = NULL;
	struct kf_err err;
	char *t = malloc(20001);
	(void)state;
	memset(t, '[', 10000);
	memset(t + 10000, ']', 10000);
	t[20000] = '\0';
	assert_int_equal(kf_yaml_parse(&n, "deep.yaml", t, strlen(t), &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "nesting is too deep"));
	free(t);
}

static void test_yaml_reports_duplicate_keys_and_syntax_errors(void **state)
{
	struct kf_ynode *n = NULL;
	struct kf_err err;
	const char *dup = "a: 1\na: 2\n";
	const char *bad = "a: [1, 2\n";
	(void)state;
	assert_int_equal(kf_yaml_parse(&n, "d.yaml", dup, strlen(dup), &err), KF_EPARSE);
	assert_string_equal(err.msg, "d.yaml:2:1: duplicate key 'a'");
	assert_int_equal(kf_yaml_parse(&n, "b.yaml", bad, strlen(bad), &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "b.yaml:2:1:"));
}

static void test_yaml_empty_document_is_an_empty_map(void **state)
{
	struct kf_ynode *n = parse("");
	(void)state;
	assert_int_equal(n->type, KF_Y_MAP);
	assert_int_equal(n->n, 0);
	kf_ynode_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_parses_and_emits_in_order),
		cmocka_unit_test(test_yaml_set_replaces_in_place_and_appends_new_keys),
		cmocka_unit_test(test_yaml_quoted_strings_stay_strings),
		cmocka_unit_test(test_yaml_refuses_aliases),
		cmocka_unit_test(test_yaml_refuses_deep_nesting),
		cmocka_unit_test(test_yaml_reports_duplicate_keys_and_syntax_errors),
		cmocka_unit_test(test_yaml_empty_document_is_an_empty_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
