/* Progress: JSON events with --json, nothing on a non-terminal in text mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <pty.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/log.h"
#include "k3sforge/progress.h"

struct fx {
	FILE *text, *json;
	char *tbuf, *jbuf;
	size_t tlen, jlen;
};

static int setup_mode(void **state, bool json)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_log_opts lo = { KF_LOG_INFO, json, KF_COLOR_NEVER };

	f->text = open_memstream(&f->tbuf, &f->tlen);
	f->json = open_memstream(&f->jbuf, &f->jlen);
	kf_log_set_streams(f->text, f->json);
	kf_log_init(&lo);
	*state = f;
	return 0;
}

static int setup_json(void **state)
{
	return setup_mode(state, true);
}

static int setup_text(void **state)
{
	return setup_mode(state, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_log_shutdown();
	fclose(f->text);
	fclose(f->json);
	free(f->tbuf);
	free(f->jbuf);
	free(f);
	return 0;
}

static void test_progress_emits_json_events_ending_with_a_final_one(void **state)
{
	struct fx *f = *state;
	struct kf_progress *p = kf_progress_new("download k3s", 1000, 4);
	json_t *last = NULL;
	json_error_t jerr;
	int n = 0;

	kf_progress_update(p, 250, 1);
	kf_progress_add(p, 750, 3);
	kf_progress_done(p, 1);
	fflush(f->json);
	for (char *line = strtok(f->jbuf, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, &jerr);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "type")), "progress");
		assert_string_equal(json_string_value(json_object_get(o, "what")), "download k3s");
		json_decref(last);
		last = o;
		n++;
	}
	assert_true(n >= 2);
	assert_true(json_is_true(json_object_get(last, "final")));
	assert_int_equal(json_integer_value(json_object_get(last, "bytes")), 1000);
	assert_int_equal(json_integer_value(json_object_get(last, "total_bytes")), 1000);
	assert_int_equal(json_integer_value(json_object_get(last, "items")), 4);
	assert_int_equal(json_integer_value(json_object_get(last, "total_items")), 4);
	json_decref(last);
	fflush(f->text);
	assert_int_equal(f->tlen, 0);
}

static void test_progress_draws_nothing_when_not_a_terminal(void **state)
{
	struct fx *f = *state;
	struct kf_progress *p = kf_progress_new("mirror images", 0, 10);

	kf_progress_add(p, 100, 1);
	kf_progress_done(p, 1);
	kf_info("after");
	fflush(f->text);
	fflush(f->json);
	assert_null(strchr(f->tbuf, '\r'));
	assert_non_null(strstr(f->tbuf, "INFO  after"));
	assert_int_equal(f->jlen, 0);
}

static void test_progress_live_line_on_a_terminal_is_cleared_before_log_lines(void **state)
{
	int master, slave;
	FILE *tty;
	char buf[4096];
	size_t got = 0;
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_NEVER };
	struct kf_progress *p;
	const char *line, *cleared;

	(void)state;
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	tty = fdopen(slave, "w");
	assert_non_null(tty);
	kf_log_set_streams(tty, NULL);
	kf_log_init(&lo);
	p = kf_progress_new("download k3s", 2048, 0);
	kf_progress_update(p, 1024, 0);
	kf_info("a log line");
	kf_progress_done(p, 1);
	fcntl(master, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(master, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	line = strstr(buf, "\r\033[Kdownload k3s: 1.0 KiB / 2.0 KiB (50%)");
	assert_non_null(line);
	/* the live line is wiped before the log line is printed */
	cleared = strstr(line + 1, "\r\033[K");
	assert_non_null(cleared);
	assert_true(cleared < strstr(buf, "INFO  a log line"));
	kf_log_shutdown();
	fclose(tty);
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_progress_emits_json_events_ending_with_a_final_one,
						setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_progress_draws_nothing_when_not_a_terminal,
						setup_text, teardown),
		cmocka_unit_test_setup_teardown(
			test_progress_live_line_on_a_terminal_is_cleared_before_log_lines, setup_text,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
