/* <out>/state.json: round trip, atomic save, corrupt files set aside and not trusted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/state.h"

struct fx {
	char dir[64];
	char *path;
	FILE *text;
	char *tbuf;
	size_t tlen;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_log_opts lo = { KF_LOG_INFO, false, KF_COLOR_NEVER };

	strcpy(f->dir, "/tmp/kf_test_state.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->path = kf_path_join(f->dir, "state.json");
	f->text = open_memstream(&f->tbuf, &f->tlen);
	kf_log_set_streams(f->text, NULL);
	kf_log_init(&lo);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_log_shutdown();
	fclose(f->text);
	free(f->tbuf);
	kf_fs_remove_tree(f->dir, NULL);
	free(f->path);
	free(f);
	return 0;
}

/* Names in the dir (sorted by readdir order), count returned; caller frees names. */
static int list_dir(const char *dir, char **names, int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < max)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	return n;
}

static void write_file(struct fx *f, const char *text)
{
	assert_int_equal(kf_fs_write_atomic(f->path, text, strlen(text), 0644, NULL), 0);
}

static void test_state_missing_file_is_an_empty_state(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	struct kf_err err;

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	assert_false(kf_state_get(st, "prep", &rec));
	assert_false(kf_state_was_corrupt(st, NULL));
	kf_state_free(st);
}

static void test_state_round_trips_records_and_data(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	struct kf_err err;

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_set(st, "prep", "done", 1000.5, 1012.75, "ab12", NULL);
	kf_state_set(st, "wait", "failed", 2000, 2003, NULL, "node k3s-worker1: no SSH");
	json_object_set_new(kf_state_data(st, "prep"), "registry_pid", json_integer(4242));
	assert_int_equal(kf_state_save(st, &err), 0);
	kf_state_free(st);

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	assert_true(kf_state_get(st, "prep", &rec));
	assert_string_equal(rec.status, "done");
	assert_true(rec.start == 1000.5);
	assert_true(rec.end == 1012.75);
	assert_true(rec.duration == 12.25);
	assert_string_equal(rec.fingerprint, "ab12");
	assert_null(rec.error);
	assert_true(kf_state_get(st, "wait", &rec));
	assert_string_equal(rec.status, "failed");
	assert_null(rec.fingerprint);
	assert_string_equal(rec.error, "node k3s-worker1: no SSH");
	assert_int_equal(json_integer_value(json_object_get(kf_state_data(st, "prep"), "registry_pid")),
			 4242);
	assert_false(kf_state_was_corrupt(st, NULL));
	kf_state_free(st);
}

static void test_state_save_is_atomic_and_leaves_no_temp(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_err err;
	char *names[8], *data;
	json_t *root;
	json_error_t jerr;
	int n;

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_set(st, "prep", "done", 1, 2, "ff", NULL);
	assert_int_equal(kf_state_save(st, &err), 0);
	kf_state_set(st, "prep", "done", 1, 3, "ee", NULL);
	assert_int_equal(kf_state_save(st, &err), 0);
	kf_state_free(st);
	n = list_dir(f->dir, names, 8);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "state.json");
	free(names[0]);
	assert_int_equal(kf_fs_read(&data, NULL, f->path, 1 << 20, NULL), 0);
	assert_int_equal(data[strlen(data) - 1], '\n');
	root = json_loads(data, 0, &jerr);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	json_decref(root);
	free(data);
}

/* Loads a corrupt file and checks it was moved aside, reported and not trusted. */
static void expect_set_aside(struct fx *f, const char *content, const char *reason)
{
	struct kf_state *st;
	struct kf_state_rec rec;
	struct kf_err err;
	const char *moved;
	char *data;

	write_file(f, content);
	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	assert_true(kf_state_was_corrupt(st, &moved));
	assert_non_null(strstr(moved, "state.json.corrupt-"));
	assert_false(kf_fs_exists(f->path));
	assert_int_equal(kf_fs_read(&data, NULL, moved, 1 << 20, NULL), 0);
	assert_string_equal(data, content);
	free(data);
	assert_false(kf_state_get(st, "prep", &rec));
	fflush(f->text);
	assert_non_null(strstr(f->tbuf, "is corrupt"));
	assert_non_null(strstr(f->tbuf, reason));
	assert_non_null(strstr(f->tbuf, moved));
	kf_state_free(st);
}

static void test_state_bad_json_is_set_aside_and_not_trusted(void **state)
{
	expect_set_aside(*state, "{\"version\":1,\"stages\":{\"prep\":", "");
}

static void test_state_wrong_version_is_set_aside_and_not_trusted(void **state)
{
	expect_set_aside(*state,
			 "{\"version\":7,\"stages\":{\"prep\":{\"status\":\"done\",\"start_ts\":1,"
			 "\"end_ts\":2,\"fingerprint\":\"aa\"}}}",
			 "unknown state version");
}

static void test_state_record_without_status_is_set_aside(void **state)
{
	expect_set_aside(*state,
			 "{\"version\":1,\"stages\":{\"prep\":{\"start_ts\":1,\"end_ts\":2,"
			 "\"fingerprint\":\"aa\"}}}",
			 "no status");
}

static void test_state_record_without_times_is_set_aside(void **state)
{
	expect_set_aside(*state,
			 "{\"version\":1,\"stages\":{\"prep\":{\"status\":\"done\",\"fingerprint\":\"aa\"}}}",
			 "no times");
}

static void test_state_record_without_fingerprint_is_set_aside(void **state)
{
	expect_set_aside(*state,
			 "{\"version\":1,\"stages\":{\"prep\":{\"status\":\"done\",\"start_ts\":1,"
			 "\"end_ts\":2}}}",
			 "no fingerprint");
}

static void test_state_without_stages_is_set_aside(void **state)
{
	expect_set_aside(*state, "{\"version\":1}", "\"stages\" is missing");
}

static void test_state_two_corrupt_files_in_a_row_are_both_kept(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_err err;
	char *names[8];
	int n;

	write_file(f, "garbage one");
	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_free(st);
	write_file(f, "garbage two");
	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_free(st);
	n = list_dir(f->dir, names, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_non_null(strstr(names[i], "state.json.corrupt-"));
		free(names[i]);
	}
}

static void test_state_clear_removes_a_record(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	struct kf_err err;

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_set(st, "prep", "done", 1, 2, "aa", NULL);
	kf_state_clear(st, "prep");
	assert_false(kf_state_get(st, "prep", &rec));
	kf_state_free(st);
}

static void test_state_keeps_an_error_that_is_not_valid_utf8(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	struct kf_err err;

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	kf_state_set(st, "prep", "failed", 1, 2, NULL, "vmrun said \xff\xfe");
	assert_int_equal(kf_state_save(st, &err), 0);
	kf_state_free(st);
	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	assert_true(kf_state_get(st, "prep", &rec));
	assert_string_equal(rec.error, "vmrun said \xef\xbf\xbd\xef\xbf\xbd");
	kf_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_state_missing_file_is_an_empty_state),
		T(test_state_round_trips_records_and_data),
		T(test_state_save_is_atomic_and_leaves_no_temp),
		T(test_state_bad_json_is_set_aside_and_not_trusted),
		T(test_state_wrong_version_is_set_aside_and_not_trusted),
		T(test_state_record_without_status_is_set_aside),
		T(test_state_record_without_times_is_set_aside),
		T(test_state_record_without_fingerprint_is_set_aside),
		T(test_state_without_stages_is_set_aside),
		T(test_state_two_corrupt_files_in_a_row_are_both_kept),
		T(test_state_clear_removes_a_record),
		T(test_state_keeps_an_error_that_is_not_valid_utf8),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
