/* The template engine of templates/: variables, blocks, loops, filters, standalone lines and
 * the errors a user editing a template gets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/render.h"

static char *render_ok(const char *tpl, const char *json)
{
	json_error_t jerr;
	json_t *ctx = json_loads(json, 0, &jerr);
	struct kf_err err;
	char *out = NULL;

	assert_non_null(ctx);
	kf_err_clear(&err);
	if (kf_tpl_render(&out, "t", tpl, ctx, &err) != 0)
		fail_msg("render failed: %s", err.msg);
	json_decref(ctx);
	return out;
}

static int render_err(const char *tpl, const char *json, struct kf_err *err)
{
	json_t *ctx = json_loads(json, 0, NULL);
	char *out = NULL;
	int r;

	kf_err_clear(err);
	r = kf_tpl_render(&out, "t.yaml", tpl, ctx, err);
	assert_null(out);
	json_decref(ctx);
	return r;
}

static void test_template_substitutes_dotted_variables(void **state)
{
	char *s = render_ok("host {{node.name}} port {{port}} on={{on}}\n",
			    "{\"node\":{\"name\":\"m1\"},\"port\":5000,\"on\":true}");
	(void)state;
	assert_string_equal(s, "host m1 port 5000 on=true\n");
	free(s);
}

static void test_template_missing_variable_names_file_and_line(void **state)
{
	struct kf_err err;
	(void)state;
	assert_int_equal(render_err("a\nb {{nodes.nmae}}\n", "{\"nodes\":{\"name\":1}}", &err),
			 KF_EPARSE);
	assert_non_null(strstr(err.msg, "t.yaml:2:"));
	assert_non_null(strstr(err.msg, "nodes.nmae"));
}

static void test_template_if_else_and_unless(void **state)
{
	const char *tpl = "{{#if a}}A{{else}}not A{{/if}} {{#unless b}}no B{{/unless}}"
			  "{{#if missing}}X{{/if}}\n";
	char *s1 = render_ok(tpl, "{\"a\":\"x\",\"b\":[]}");
	char *s2 = render_ok(tpl, "{\"a\":\"\",\"b\":[1]}");
	(void)state;
	assert_string_equal(s1, "A no B\n");
	assert_string_equal(s2, "not A \n");
	free(s1);
	free(s2);
}

static void test_template_each_loops_over_items_and_index(void **state)
{
	char *s = render_ok("{{#each n}}{{#if @index}}, {{/if}}{{name}}@{{ip}}/{{@index}}{{/each}}\n",
			    "{\"n\":[{\"name\":\"a\",\"ip\":\"1\"},{\"name\":\"b\",\"ip\":\"2\"}]}");
	(void)state;
	assert_string_equal(s, "a@1/0, b@2/1\n");
	free(s);
}

static void test_template_each_sees_outer_names(void **state)
{
	char *s = render_ok("{{#each l}}{{.}}.{{domain}} {{/each}}", "{\"l\":[\"x\",\"y\"],\"domain\":\"lab\"}");
	(void)state;
	assert_string_equal(s, "x.lab y.lab ");
	free(s);
}

static void test_template_standalone_block_lines_vanish(void **state)
{
	const char *tpl = "list:\n"
			  "  {{#each l}}\n"
			  "  - {{.}}\n"
			  "  {{/each}}\n"
			  "{{! a comment line }}\n"
			  "end\n";
	char *s = render_ok(tpl, "{\"l\":[1,2]}");
	(void)state;
	assert_string_equal(s, "list:\n  - 1\n  - 2\nend\n");
	free(s);
}

static void test_template_indent_filter_embeds_block_scalars(void **state)
{
	char *s = render_ok("content: |\n  {{f | indent 2}}\nnext: 1\n",
			    "{\"f\":\"#!/bin/sh\\n\\necho hi\\n\"}");
	(void)state;
	/* blank lines stay empty; the value's own final newline is not doubled */
	assert_string_equal(s, "content: |\n  #!/bin/sh\n\n  echo hi\nnext: 1\n");
	free(s);
}

static void test_template_yaml_filter_quotes_hostile_text(void **state)
{
	char *s = render_ok("pw: {{p | yaml}}\n", "{\"p\":\"a\\\"b: #c\\n'd\\\\\"}");
	(void)state;
	assert_string_equal(s, "pw: \"a\\\"b: #c\\u000A'd\\\\\"\n");
	free(s);
}

static void test_template_sh_filter_makes_one_word(void **state)
{
	char *s = render_ok("x={{v | sh}}\n", "{\"v\":\"it's $(rm -rf /)\"}");
	(void)state;
	assert_string_equal(s, "x='it'\\''s $(rm -rf /)'\n");
	free(s);
}

/* Renders TPL with v = the bytes of `value`. */
static int render_value(char **out, const char *tpl, const char *value, struct kf_err *err)
{
	json_t *ctx = json_object();
	int r;

	json_object_set_new(ctx, "v", json_stringn_nocheck(value, strlen(value)));
	kf_err_clear(err);
	r = kf_tpl_render(out, "t.yaml", tpl, ctx, err);
	json_decref(ctx);
	return r;
}

static void test_template_yaml_filter_escapes_every_yaml_line_break_and_non_ascii(void **state)
{
	char *s = NULL;
	struct kf_err err;

	(void)state;
	/* the password: U+2028 around a bootcmd; then U+2029, NEL, CR, tab, C0, DEL, C1,
	 * printable non-ASCII (BMP and beyond) and U+FFFE */
	assert_int_equal(render_value(&s, "pw: {{v | yaml}}\n",
				      "Aa1\xe2\x80\xa8" "bootcmd: [x]\xe2\x80\xa9" "z\xc2\x85" "a\rb\tc\x01"
				      "\x7f\xc2\x9f" "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbe",
				      &err),
			 0);
	assert_string_equal(s, "pw: \"Aa1\\u2028bootcmd: [x]\\u2029z\\u0085a\\u000Db\\u0009c\\u0001"
			       "\\u007F\\u009F\\u00E9\\U0001F600\\uFFFE\"\n");
	for (const char *c = s; *c; c++)
		assert_true(*c == '\n' || (*c >= 0x20 && *c < 0x7f));
	free(s);
}

static void test_template_yaml_filter_refuses_invalid_utf8_without_echoing_it(void **state)
{
	static const char *const bad[] = { "Secret\xff", "\xed\xa0\x80", "\xc0\xaf", "ab\xe2\x80" };
	char *s = NULL;
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(render_value(&s, "a: 1\npw: {{v | yaml}}\n", bad[i], &err),
				 KF_EPARSE);
		assert_null(s);
		assert_string_equal(err.msg, "t.yaml:2: the value of {{v | yaml}} is not valid UTF-8");
	}
}

#define CANNOT_CARRY "holds a control or line-break character a YAML block scalar cannot carry"
#define LEADING_SPACE "starts with a space: a YAML block scalar would take its indentation from it"

static void test_template_indent_filter_refuses_what_a_block_scalar_cannot_carry(void **state)
{
	static const struct {
		const char *value;
		const char *why;
	} bad[] = {
		{ "a\xe2\x80\xa8" "b: c", CANNOT_CARRY " (U+2028)" },
		{ "a\xe2\x80\xa9" "b", CANNOT_CARRY " (U+2029)" },
		{ "a\xc2\x85" "b", CANNOT_CARRY " (U+0085)" },
		{ "a\rb: c", CANNOT_CARRY " (U+000D)" },
		{ "a\r", CANNOT_CARRY " (U+000D)" },
		{ "a\x01", CANNOT_CARRY " (U+0001)" },
		{ "a\x7f", CANNOT_CARRY " (U+007F)" },
		{ "a\xef\xbf\xbf", CANNOT_CARRY " (U+FFFF)" },
		{ "a\xff", "is not valid UTF-8" },
		{ " x\ny", LEADING_SPACE },
		{ "\n\n  x\ny", LEADING_SPACE },
	};
	char *s = NULL, want[300];
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(render_value(&s, "c: |\n  {{v | indent 2}}\n", bad[i].value, &err),
				 KF_EPARSE);
		assert_null(s);
		snprintf(want, sizeof(want), "t.yaml:2: the value of {{v | indent}} %s", bad[i].why);
		assert_string_equal(err.msg, want);
	}
}

static void test_template_indent_filter_keeps_crlf_and_tabs_inside_the_block(void **state)
{
	char *s = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(render_value(&s, "c: |\n  {{v | indent 2}}\nnext: 1\n",
				      "a\r\n\tb\r\n\r\nc\xc3\xa9\r\n", &err),
			 0);
	assert_string_equal(s, "c: |\n  a\r\n  \tb\r\n\r\n  c\xc3\xa9\nnext: 1\n");
	free(s);
}

static void test_template_sh_filter_writes_non_printable_bytes_as_bash_escapes(void **state)
{
	char *s = NULL;
	struct kf_err err;

	(void)state;
	assert_int_equal(render_value(&s, "# {{v | sh}}\n", "a\nb\xe2\x80\xa8" "c'\r", &err), 0);
	/* printable ASCII only: no line break can end the comment, the word or a YAML block */
	assert_string_equal(s, "# 'a'$'\\x0a''b'$'\\xe2'''$'\\x80'''$'\\xa8''c'\\'''$'\\x0d'''\n");
	free(s);
}

static void test_template_plain_variable_refuses_line_breaks_and_controls(void **state)
{
	static const char *const bad[] = { "a\nb", "a\rb", "a\tb", "a\xe2\x80\xa8" "b",
					   "a\xc2\x85" "b", "a\x1b", "a\x7f" };
	char *s = NULL;
	struct kf_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(render_value(&s, "x\nhost: {{v}}\n", bad[i], &err), KF_EPARSE);
		assert_null(s);
		assert_non_null(strstr(err.msg, "t.yaml:2: the value of {{v}} holds a control or "
						"line-break character (use the yaml or sh filter "
						"for free text)"));
	}
	assert_int_equal(render_value(&s, "host: {{v}}\n", "caf\xc3\xa9-1", &err), 0);
	assert_string_equal(s, "host: caf\xc3\xa9-1\n");
	free(s);
}

static void test_template_rejects_unclosed_block(void **state)
{
	struct kf_err err;
	(void)state;
	assert_int_equal(render_err("a\n{{#if x}}\nb\n", "{}", &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "t.yaml:2: block is never closed"));
}

static void test_template_rejects_mismatched_end(void **state)
{
	struct kf_err err;
	(void)state;
	assert_int_equal(render_err("{{#each l}}\n{{/if}}\n", "{\"l\":[]}", &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "{{/if}} closes {{#each}}"));
}

static void test_template_rejects_unknown_filter(void **state)
{
	struct kf_err err;
	(void)state;
	assert_int_equal(render_err("{{x | upper}}", "{\"x\":\"a\"}", &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "unknown filter"));
}

static void test_template_rejects_list_as_text(void **state)
{
	struct kf_err err;
	(void)state;
	assert_int_equal(render_err("{{l}}", "{\"l\":[1]}", &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "list or mapping"));
}

static void test_template_rejects_nesting_beyond_the_bound(void **state)
{
	char tpl[2048] = "";
	struct kf_err err;
	(void)state;
	for (int i = 0; i <= KF_TPL_MAX_DEPTH; i++)
		strcat(tpl, "{{#if a}}");
	assert_int_equal(render_err(tpl, "{\"a\":1}", &err), KF_EPARSE);
	assert_non_null(strstr(err.msg, "nested too deeply"));
}

static void test_template_file_with_crlf_renders_with_lf(void **state)
{
	char dir[] = "/tmp/kftpl.XXXXXX", path[64], *out = NULL;
	json_t *ctx = json_pack("{s:s}", "a", "x");
	struct kf_err err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.sh", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\r\n{{#if a}}\r\necho {{a}}\r\n{{/if}}\r\n", f);
	fclose(f);
	assert_int_equal(kf_tpl_render_file(&out, dir, "t.sh", ctx, &err), 0);
	assert_string_equal(out, "#!/bin/sh\necho x\n");
	free(out);
	json_decref(ctx);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_substitutes_dotted_variables),
		cmocka_unit_test(test_template_missing_variable_names_file_and_line),
		cmocka_unit_test(test_template_if_else_and_unless),
		cmocka_unit_test(test_template_each_loops_over_items_and_index),
		cmocka_unit_test(test_template_each_sees_outer_names),
		cmocka_unit_test(test_template_standalone_block_lines_vanish),
		cmocka_unit_test(test_template_indent_filter_embeds_block_scalars),
		cmocka_unit_test(test_template_yaml_filter_quotes_hostile_text),
		cmocka_unit_test(test_template_sh_filter_makes_one_word),
		cmocka_unit_test(test_template_yaml_filter_escapes_every_yaml_line_break_and_non_ascii),
		cmocka_unit_test(test_template_yaml_filter_refuses_invalid_utf8_without_echoing_it),
		cmocka_unit_test(test_template_indent_filter_refuses_what_a_block_scalar_cannot_carry),
		cmocka_unit_test(test_template_indent_filter_keeps_crlf_and_tabs_inside_the_block),
		cmocka_unit_test(test_template_sh_filter_writes_non_printable_bytes_as_bash_escapes),
		cmocka_unit_test(test_template_plain_variable_refuses_line_breaks_and_controls),
		cmocka_unit_test(test_template_rejects_unclosed_block),
		cmocka_unit_test(test_template_rejects_mismatched_end),
		cmocka_unit_test(test_template_rejects_unknown_filter),
		cmocka_unit_test(test_template_rejects_list_as_text),
		cmocka_unit_test(test_template_rejects_nesting_beyond_the_bound),
		cmocka_unit_test(test_template_file_with_crlf_renders_with_lf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
