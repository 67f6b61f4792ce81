/* Progress: JSON events with --json, nothing on a non-terminal in text mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <pty.h>
#include <sys/ioctl.h>
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

/* Everything the pty's master side has to read now (NUL-terminated into buf). */
static size_t drain(int master, char *buf, size_t cap)
{
	size_t got = 0;

	fcntl(master, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(master, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* A pty of `cols` columns as the terminal sink. */
static FILE *open_tty(int *master, int cols)
{
	int slave;
	struct winsize ws = { 24, (unsigned short)cols, 0, 0 };
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_NEVER };
	FILE *tty;

	assert_int_equal(openpty(master, &slave, NULL, NULL, &ws), 0);
	tty = fdopen(slave, "w");
	assert_non_null(tty);
	kf_log_set_streams(tty, NULL);
	kf_log_init(&lo);
	return tty;
}

static void test_progress_fit_cuts_to_the_width_without_splitting_utf8(void **state)
{
	char s[64];

	(void)state;
	strcpy(s, "abcdefghij");
	kf_progress_fit(s, 6);
	assert_string_equal(s, "abcde");
	strcpy(s, "abc");
	kf_progress_fit(s, 6);
	assert_string_equal(s, "abc");
	/* "ssh ✓ ok": the check mark is 3 bytes and one column */
	strcpy(s, "ssh \u2713 ok");
	kf_progress_fit(s, 7);
	assert_string_equal(s, "ssh \u2713 ");
	strcpy(s, "ssh \u2713 ok");
	kf_progress_fit(s, 6);
	assert_string_equal(s, "ssh \u2713");
	strcpy(s, "\ub178\ub4dc\ub178");
	kf_progress_fit(s, 3);
	assert_string_equal(s, "\ub178\ub4dc");
}

static void test_progress_duration_reads_as_minutes_and_seconds(void **state)
{
	char d[32];

	(void)state;
	kf_progress_duration(8.4, d, sizeof(d));
	assert_string_equal(d, "8s");
	kf_progress_duration(65, d, sizeof(d));
	assert_string_equal(d, "1m05s");
	kf_progress_duration(599.6, d, sizeof(d));
	assert_string_equal(d, "10m00s");
	kf_progress_duration(7380, d, sizeof(d));
	assert_string_equal(d, "2h03m");
	kf_progress_duration(-3, d, sizeof(d));
	assert_string_equal(d, "0s");
}

static void test_progress_live_line_is_cut_to_a_narrow_terminal(void **state)
{
	int master;
	FILE *tty = open_tty(&master, 30);
	char buf[8192];
	struct kf_progress *p;
	const char *at;

	(void)state;
	p = kf_progress_new("mirror docker.io/library/a-very-long-image-name:1.2.3", 4096, 26);
	kf_progress_update(p, 1024, 3);
	kf_progress_done(p, 1);
	drain(master, buf, sizeof(buf));
	at = strstr(buf, "\r\033[Kmirror docker.io/library/");
	assert_non_null(at);
	at += 4;
	/* 29 columns, then the next control sequence: no line longer than the terminal */
	assert_int_equal(strcspn(at, "\r"), 29);
	kf_log_shutdown();
	fclose(tty);
	close(master);
}

static void test_progress_redraws_the_live_line_after_a_log_line(void **state)
{
	int master;
	FILE *tty = open_tty(&master, 200);
	char buf[8192];
	struct kf_progress *p;
	const char *log;

	(void)state;
	p = kf_progress_new("download k3s", 2048, 0);
	kf_progress_update(p, 1024, 0);
	kf_info("a log line");
	drain(master, buf, sizeof(buf));
	log = strstr(buf, "INFO  a log line");
	assert_non_null(log);
	/* the bar is back below the log line, not gone until the next update */
	assert_non_null(strstr(log, "\r\033[Kdownload k3s: 1.0 KiB / 2.0 KiB (50%)"));
	kf_progress_done(p, 1);
	kf_log_shutdown();
	fclose(tty);
	close(master);
}

static void test_progress_node_line_shows_each_nodes_phase_on_a_terminal(void **state)
{
	int master;
	FILE *tty = open_tty(&master, 200);
	char buf[16384];
	const char *names[] = { "master", "worker1" };

	(void)state;
	assert_true(kf_progress_nodes_begin(names, 2));
	assert_true(kf_progress_nodes_live());
	kf_log_event("node_phase", "{\"node\":\"master\",\"phase\":\"ssh-authenticated\","
				   "\"seconds\":40,\"progress\":\"hostname-set seed-done\"}");
	kf_log_event("node_phase", "{\"node\":\"worker1\",\"phase\":\"powered-on\","
				   "\"seconds\":3}");
	drain(master, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\033[Kmaster: waiting  worker1: waiting  ("));
	assert_non_null(strstr(buf, "\r\033[Kmaster: ssh \u2713 marker seed-done  worker1: booting  ("));
	kf_log_event("node_phase", "{\"node\":\"master\",\"phase\":\"done\",\"seconds\":50}");
	kf_progress_nodes_end();
	assert_false(kf_progress_nodes_live());
	drain(master, buf, sizeof(buf));
	assert_non_null(strstr(buf, "master: ready \u2713  worker1: booting"));
	/* the line is wiped at the end */
	assert_int_equal(strcmp(buf + strlen(buf) - 4, "\r\033[K"), 0);
	kf_log_shutdown();
	fclose(tty);
	close(master);
}

static void test_progress_node_line_is_off_when_not_a_terminal(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "master" };

	assert_false(kf_progress_nodes_begin(names, 1));
	assert_false(kf_progress_nodes_live());
	kf_log_event("node_phase", "{\"node\":\"master\",\"phase\":\"done\"}");
	kf_progress_nodes_end();
	fflush(f->text);
	assert_true(f->tlen == 0);
}

static void test_size_format_uses_binary_units(void **state)
{
	char s[32];

	(void)state;
	kf_size_format(0, s, sizeof(s));
	assert_string_equal(s, "0 B");
	kf_size_format(1023, s, sizeof(s));
	assert_string_equal(s, "1023 B");
	kf_size_format(1024, s, sizeof(s));
	assert_string_equal(s, "1.0 KiB");
	kf_size_format(1536, s, sizeof(s));
	assert_string_equal(s, "1.5 KiB");
	kf_size_format(3ull * 1024 * 1024 * 1024 + 200ull * 1024 * 1024, s, sizeof(s));
	assert_string_equal(s, "3.2 GiB");
	kf_size_format(5000ull * 1024 * 1024 * 1024 * 1024, s, sizeof(s));
	assert_string_equal(s, "5000.0 TiB");
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
		cmocka_unit_test(test_progress_fit_cuts_to_the_width_without_splitting_utf8),
		cmocka_unit_test(test_size_format_uses_binary_units),
		cmocka_unit_test(test_progress_duration_reads_as_minutes_and_seconds),
		cmocka_unit_test(test_progress_live_line_is_cut_to_a_narrow_terminal),
		cmocka_unit_test(test_progress_redraws_the_live_line_after_a_log_line),
		cmocka_unit_test(test_progress_node_line_shows_each_nodes_phase_on_a_terminal),
		cmocka_unit_test_setup_teardown(test_progress_node_line_is_off_when_not_a_terminal,
						setup_text, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
