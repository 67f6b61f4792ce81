/* The logger: line format, thresholds, colour, the file sink, secret masking in every sink, JSON
 * events, UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <pty.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"

struct sinks {
	FILE *text, *json;
	char *tbuf, *jbuf;
	size_t tlen, jlen;
	char dir[64];
	char *file;
};

static int setup(void **state)
{
	struct sinks *s = calloc(1, sizeof(*s));

	s->text = open_memstream(&s->tbuf, &s->tlen);
	s->json = open_memstream(&s->jbuf, &s->jlen);
	strcpy(s->dir, "/tmp/kf_test_log.XXXXXX");
	if (!s->text || !s->json || !mkdtemp(s->dir))
		return -1;
	s->file = kf_path_join(s->dir, "k3sforge.log");
	unsetenv("NO_COLOR");
	kf_log_set_streams(s->text, s->json);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sinks *s = *state;

	kf_log_shutdown();
	fclose(s->text);
	fclose(s->json);
	free(s->tbuf);
	free(s->jbuf);
	kf_fs_remove_tree(s->dir, NULL);
	free(s->file);
	free(s);
	unsetenv("NO_COLOR");
	return 0;
}

static void init(enum kf_log_level level, bool json, enum kf_color_mode color)
{
	struct kf_log_opts o = { level, json, color };

	kf_log_init(&o);
}

static const char *text_of(struct sinks *s)
{
	fflush(s->text);
	return s->tbuf ? s->tbuf : "";
}

static const char *json_of(struct sinks *s)
{
	fflush(s->json);
	return s->jbuf ? s->jbuf : "";
}

/* The log file's content (caller frees). */
static char *file_of(struct sinks *s)
{
	char *data = NULL;

	kf_log_close_file();
	assert_int_equal(kf_fs_read(&data, NULL, s->file, 1 << 20, NULL), 0);
	return data;
}

static bool matches(const char *text, const char *ere)
{
	regex_t re;
	int r;

	assert_int_equal(regcomp(&re, ere, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	r = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	return r == 0;
}

/* Occurrences of needle in hay (overlapping ones too). */
static int count(const char *hay, const char *needle)
{
	size_t nl = strlen(needle);
	int n = 0;

	for (size_t i = 0; hay[i]; i++)
		n += strncmp(hay + i, needle, nl) == 0;
	return n;
}

#define TS "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"

static void test_log_text_line_is_timestamp_level_message(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	kf_info("hello %d", 42);
	kf_warn("careful");
	assert_true(matches(text_of(s), "\\`" TS " INFO  hello 42\n" TS " WARN  careful\n\\'"));
}

static void test_log_multiline_message_gives_every_line_a_timestamp(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_error("docker failed:\nline two\nline three\n");
	assert_true(matches(text_of(s), "\\`" TS " ERROR docker failed:\n" TS " ERROR line two\n" TS
					 " ERROR line three\n\\'"));
	data = file_of(s);
	assert_true(matches(data, "^" TS " ERROR line three$"));
	free(data);
}

static void test_log_default_threshold_hides_debug(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	kf_debug("hidden detail");
	kf_info("shown");
	assert_null(strstr(text_of(s), "hidden detail"));
	assert_non_null(strstr(text_of(s), "shown"));
}

static void test_log_verbose_threshold_shows_debug(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_DEBUG, false, KF_COLOR_NEVER);
	kf_debug("detail %s", "x");
	assert_true(matches(text_of(s), "^" TS " DEBUG detail x$"));
}

static void test_log_quiet_threshold_shows_only_warnings_and_errors(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_WARN, false, KF_COLOR_NEVER);
	kf_info("info line");
	kf_ok("ok line");
	kf_warn("warn line");
	kf_error("error line");
	assert_null(strstr(text_of(s), "info line"));
	assert_null(strstr(text_of(s), "ok line"));
	assert_true(matches(text_of(s), "^" TS " WARN  warn line$"));
	assert_true(matches(text_of(s), "^" TS " ERROR error line$"));
}

static void test_log_auto_colour_is_off_when_not_a_terminal(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_AUTO);
	kf_error("plain");
	assert_false(kf_log_color());
	assert_null(strchr(text_of(s), '\033'));
}

static void test_log_auto_colour_is_on_for_a_terminal(void **state)
{
	int master, slave;
	FILE *tty;
	char buf[512];
	ssize_t n;

	(void)state;
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	tty = fdopen(slave, "w");
	assert_non_null(tty);
	kf_log_set_streams(tty, NULL);
	init(KF_LOG_INFO, false, KF_COLOR_AUTO);
	assert_true(kf_log_color());
	kf_warn("on a terminal");
	n = read(master, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\033[33mWARN"));
	kf_log_shutdown();
	fclose(tty);
	close(master);
}

static void test_log_forced_colour_adds_escape_sequences(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_ALWAYS);
	kf_error("red");
	assert_true(kf_log_color());
	assert_non_null(strstr(text_of(s), "\033[31mERROR"));
	assert_non_null(strstr(text_of(s), "red\n"));
}

static void test_log_no_color_env_disables_even_forced_colour(void **state)
{
	struct sinks *s = *state;

	setenv("NO_COLOR", "1", 1);
	init(KF_LOG_INFO, false, KF_COLOR_ALWAYS);
	kf_error("plain");
	assert_false(kf_log_color());
	assert_null(strchr(text_of(s), '\033'));
}

static void test_log_file_sink_gets_debug_lines_below_terminal_threshold(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_WARN, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_debug("deep detail");
	kf_info("progress note");
	data = file_of(s);
	assert_true(matches(data, "^" TS " DEBUG deep detail$"));
	assert_true(matches(data, "^" TS " INFO  progress note$"));
	assert_null(strstr(text_of(s), "deep detail"));
	free(data);
}

static void test_log_file_lines_all_start_with_timestamp(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_info("a line");
	kf_log_raw("  %-10s %s", "table", "row");
	kf_log_event("stage_start", "{\"stage\":\"prep\"}");
	data = file_of(s);
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(matches(line, "^" TS " "));
	free(data);
}

static void test_log_masks_secret_in_text(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	kf_log_add_secret("hunter2-pass");
	kf_info("password is hunter2-pass, again hunter2-pass.");
	assert_null(strstr(text_of(s), "hunter2"));
	assert_non_null(strstr(text_of(s), "password is ***, again ***."));
}

static void test_log_masks_secret_in_file(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_log_add_secret("K10token::server:abc");
	kf_debug("token=K10token::server:abc");
	kf_log_raw("raw K10token::server:abc");
	data = file_of(s);
	assert_null(strstr(data, "K10token"));
	assert_int_equal(count(data, "***"), 2);
	free(data);
}

static void test_log_masks_secret_in_json_messages(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_log_add_secret("P@ssw0rd!");
	kf_info("admin password P@ssw0rd!");
	assert_null(strstr(json_of(s), "P@ssw0rd"));
	assert_non_null(strstr(json_of(s), "admin password ***"));
}

static void test_log_masks_secret_in_json_event_fields(void **state)
{
	struct sinks *s = *state;
	char *data;
	json_t *o;
	json_error_t jerr;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_log_add_secret("s3cr3t-value");
	kf_log_event("custom", "{\"cmd\":\"x --pw s3cr3t-value\",\"nested\":{\"list\":[\"s3cr3t-value\",1]}}");
	assert_null(strstr(json_of(s), "s3cr3t"));
	o = json_loads(json_of(s), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "cmd")), "x --pw ***");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(json_object_get(o, "nested"), "list"), 0)),
			    "***");
	json_decref(o);
	data = file_of(s);
	assert_null(strstr(data, "s3cr3t"));
	assert_non_null(strstr(data, "x --pw ***"));
	free(data);
}

static void test_log_ignores_secrets_shorter_than_four_bytes(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	kf_log_add_secret("abc");
	kf_log_add_secret("");
	kf_log_add_secret(NULL);
	kf_info("abc def abc");
	assert_non_null(strstr(text_of(s), "abc def abc"));
}

static void test_log_overlapping_secrets_longest_wins(void **state)
{
	char *m;

	(void)state;
	kf_log_add_secret("abcd");
	kf_log_add_secret("abcdefgh");
	m = kf_log_mask("x abcdefgh y abcd z");
	assert_string_equal(m, "x *** y *** z");
	free(m);
}

static void test_log_masks_every_secret_of_a_large_lab(void **state)
{
	struct sinks *s = *state;
	char secret[32];

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	for (int i = 0; i < 300; i++) {
		snprintf(secret, sizeof(secret), "node-token-%04d", i);
		kf_log_add_secret(secret);
	}
	kf_info("first node-token-0000 last node-token-0299");
	assert_null(strstr(text_of(s), "node-token"));
	assert_non_null(strstr(text_of(s), "first *** last ***"));
}

static void test_log_json_mode_emits_one_object_per_line(void **state)
{
	struct sinks *s = *state;
	char *copy;
	int lines = 0;
	const char *levels[] = { "info", "warn", "error", "ok" };

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_info("one");
	kf_warn("two \"quoted\"\nnewline");
	kf_error("three");
	kf_ok("four");
	copy = strdup(json_of(s));
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		assert_non_null(o);
		assert_true(json_is_object(o));
		assert_string_equal(json_string_value(json_object_get(o, "type")), "log");
		assert_true(matches(json_string_value(json_object_get(o, "time")),
				    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"));
		assert_string_equal(json_string_value(json_object_get(o, "level")), levels[lines]);
		assert_non_null(json_string_value(json_object_get(o, "msg")));
		json_decref(o);
		lines++;
	}
	assert_int_equal(lines, 4);
	assert_string_equal(text_of(s), "");
	free(copy);
}

static void test_log_event_keeps_its_type_and_time_over_same_named_fields(void **state)
{
	struct sinks *s = *state;
	json_t *o;
	json_error_t jerr;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_log_event("stage_end", "{\"type\":\"forged\",\"time\":\"never\",\"stage\":\"prep\"}");
	o = json_loads(json_of(s), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "stage_end");
	assert_string_not_equal(json_string_value(json_object_get(o, "time")), "never");
	assert_string_equal(json_string_value(json_object_get(o, "stage")), "prep");
	json_decref(o);
}

static void test_log_korean_text_passes_through_once(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_ok("완료: 단계 %s", "prep");
	assert_true(matches(text_of(s), "^" TS " OK    완료: 단계 prep$"));
	assert_int_equal(count(text_of(s), "완료"), 1);
	data = file_of(s);
	assert_int_equal(count(data, "완료: 단계 prep"), 1);
	free(data);
}

static void test_log_korean_text_in_json_is_raw_utf8(void **state)
{
	struct sinks *s = *state;
	json_t *o;
	json_error_t jerr;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_info("완료: 단계");
	assert_int_equal(count(json_of(s), "완료: 단계"), 1);
	assert_null(strstr(json_of(s), "\\u"));
	o = json_loads(json_of(s), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "msg")), "완료: 단계");
	json_decref(o);
}

static void test_log_invalid_utf8_still_gives_a_json_message(void **state)
{
	struct sinks *s = *state;
	json_t *o;
	json_error_t jerr;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_info("bytes \xff\xfe end");
	o = json_loads(json_of(s), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "bytes \xef\xbf\xbd\xef\xbf\xbd end");
	json_decref(o);
}

static void test_log_every_json_line_carries_schema_version_1(void **state)
{
	struct sinks *s = *state;
	const char *p;
	int lines = 0;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_info("a line");
	kf_log_event("stage_start", "{\"stage\":\"prep\"}");
	kf_log_event("result", NULL);
	/* a field named v does not replace the version */
	kf_log_event("x", "{\"v\":7}");
	for (p = json_of(s); *p; p = strchr(p, '\n') + 1) {
		json_error_t e;
		json_t *o = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, &e);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "v")), KF_EVENTS_VERSION);
		assert_int_equal(KF_EVENTS_VERSION, 1);
		json_decref(o);
		lines++;
	}
	assert_int_equal(lines, 4);
	/* in the order type, v, time */
	assert_non_null(strstr(json_of(s), "{\"type\":\"result\",\"v\":1,\"time\":\""));
}

static void test_log_json_reals_have_at_most_ten_significant_digits(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_log_event("stage_end", "{\"seconds\":8.4399999999999995,\"share\":97.9,\"n\":3}");
	assert_non_null(strstr(json_of(s), "\"seconds\":8.44,\"share\":97.9,\"n\":3}"));
	assert_null(strstr(json_of(s), "8.4399"));
}

static void test_log_json_ascii_mode_escapes_non_ascii(void **state)
{
	struct sinks *s = *state;
	const char *out;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_log_set_json_ascii(true);
	kf_info("노드 준비 완료 café");
	out = json_of(s);
	for (const char *p = out; *p; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_non_null(strstr(out, "\\uB178\\uB4DC"));
	assert_non_null(strstr(out, "caf\\u00E9"));
	{
		/* and a parser gets the same text back */
		json_error_t e;
		json_t *o = json_loadb(out, strcspn(out, "\n"), 0, &e);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "msg")), "노드 준비 완료 café");
		json_decref(o);
	}
}

static void test_log_data_goes_to_stdout_and_the_file_not_stderr(void **state)
{
	struct sinks *s = *state;
	char *data;

	init(KF_LOG_WARN, false, KF_COLOR_NEVER);
	assert_int_equal(kf_log_open_file(s->file), 0);
	kf_log_data("RESULT  IMAGE  %s", "DETAIL");
	assert_string_equal(json_of(s), "RESULT  IMAGE  DETAIL\n");
	assert_string_equal(text_of(s), "");
	data = file_of(s);
	assert_true(matches(data, "^" TS " INFO  RESULT  IMAGE  DETAIL$"));
	free(data);
}

static void test_log_data_is_silent_in_json_mode(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_INFO, true, KF_COLOR_NEVER);
	kf_log_data("a table row");
	assert_string_equal(json_of(s), "");
}

static void test_log_final_line_is_kept_by_quiet(void **state)
{
	struct sinks *s = *state;

	init(KF_LOG_WARN, false, KF_COLOR_NEVER);
	kf_ok("hidden by -q");
	kf_log_final("3 nodes ready in %s", "4m12s");
	assert_true(matches(text_of(s), "\\`" TS " OK    3 nodes ready in 4m12s\n\\'"));
}

static const char *hook_type;
static char hook_node[32];
static void hook(const char *type, const json_t *fields)
{
	hook_type = type;
	snprintf(hook_node, sizeof(hook_node), "%s",
		 json_string_value(json_object_get(fields, "node")));
}

static void test_log_event_hook_sees_events_in_text_mode_too(void **state)
{
	(void)state;
	init(KF_LOG_INFO, false, KF_COLOR_NEVER);
	kf_log_set_event_hook(hook);
	kf_log_event("node_phase", "{\"node\":\"master\",\"phase\":\"done\"}");
	assert_string_equal(hook_type, "node_phase");
	assert_string_equal(hook_node, "master");
	kf_log_set_event_hook(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_log_text_line_is_timestamp_level_message),
		T(test_log_multiline_message_gives_every_line_a_timestamp),
		T(test_log_default_threshold_hides_debug),
		T(test_log_verbose_threshold_shows_debug),
		T(test_log_quiet_threshold_shows_only_warnings_and_errors),
		T(test_log_auto_colour_is_off_when_not_a_terminal),
		T(test_log_auto_colour_is_on_for_a_terminal),
		T(test_log_forced_colour_adds_escape_sequences),
		T(test_log_no_color_env_disables_even_forced_colour),
		T(test_log_file_sink_gets_debug_lines_below_terminal_threshold),
		T(test_log_file_lines_all_start_with_timestamp),
		T(test_log_masks_secret_in_text),
		T(test_log_masks_secret_in_file),
		T(test_log_masks_secret_in_json_messages),
		T(test_log_masks_secret_in_json_event_fields),
		T(test_log_ignores_secrets_shorter_than_four_bytes),
		T(test_log_overlapping_secrets_longest_wins),
		T(test_log_masks_every_secret_of_a_large_lab),
		T(test_log_json_mode_emits_one_object_per_line),
		T(test_log_event_keeps_its_type_and_time_over_same_named_fields),
		T(test_log_korean_text_passes_through_once),
		T(test_log_korean_text_in_json_is_raw_utf8),
		T(test_log_invalid_utf8_still_gives_a_json_message),
		T(test_log_every_json_line_carries_schema_version_1),
		T(test_log_json_reals_have_at_most_ten_significant_digits),
		T(test_log_json_ascii_mode_escapes_non_ascii),
		T(test_log_data_goes_to_stdout_and_the_file_not_stderr),
		T(test_log_data_is_silent_in_json_mode),
		T(test_log_final_line_is_kept_by_quiet),
		T(test_log_event_hook_sees_events_in_text_mode_too),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
