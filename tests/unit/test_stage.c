/* Stages: resumable execution against state.json, the resume rule of `up`, "done:" lines and
 * the end-of-run summary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/cmd.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"
#include "k3sforge/stage.h"
#include "k3sforge/state.h"

/* What the fake stage sees and does. */
static struct {
	const char *input;     /* goes into the fingerprint */
	int runs;              /* how often run was called */
	int fail_with;         /* run returns this (0 = success) */
	int check_result;      /* check returns this */
	int checks;
	int fp_error;
} F;

static int fake_fp(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	(void)lab;
	if (F.fp_error)
		return kf_err_set(err, F.fp_error, "cannot read inputs.txt");
	kf_fp_str(fp, "input", F.input);
	return 0;
}

static int fake_check(struct kf_lab *lab, struct kf_err *err)
{
	(void)lab;
	F.checks++;
	if (F.check_result)
		return kf_err_set(err, F.check_result, "registry is not running");
	return 0;
}

static int fake_run(struct kf_lab *lab, struct kf_err *err)
{
	(void)lab;
	F.runs++;
	if (F.fail_with)
		return kf_err_set(err, F.fail_with, "vmrun exited with status 255: boom");
	return 0;
}

/* A stage that records its own data in state.json while it runs. */
static int data_run(struct kf_lab *lab, struct kf_err *err)
{
	struct kf_state *st;
	int r;

	F.runs++;
	if ((r = kf_state_load(&st, lab->out_dir, err)) != 0)
		return r;
	json_object_set_new(kf_state_data(st, "data-stage"), "pid", json_integer(777));
	r = kf_state_save(st, err);
	kf_state_free(st);
	return r;
}

static const struct kf_stage_def stage_a = { "alpha", fake_fp, fake_check, fake_run, NULL, NULL };

/* A second stage whose fingerprint reads an output of the first (like build-iso reading prep's
 * certificates) and fails while that does not exist. */
static struct {
	bool output_exists;
	int fp_calls;
	int runs;
	int fail_with;
} B;

static int beta_fp(struct kf_lab *lab, struct kf_fp *fp, struct kf_err *err)
{
	(void)lab;
	B.fp_calls++;
	if (!B.output_exists)
		return kf_err_set(err, KF_ENOTFOUND, "pki/ca.crt: No such file or directory");
	kf_fp_str(fp, "ca", "cert-bytes");
	return 0;
}

static int beta_run(struct kf_lab *lab, struct kf_err *err)
{
	(void)lab;
	B.runs++;
	if (B.fail_with)
		return kf_err_set(err, B.fail_with, "xorriso exited with status 5");
	return 0;
}

static const struct kf_stage_def stage_b = { "beta", beta_fp, NULL, beta_run, NULL, NULL };
static const struct kf_stage_def *const pipeline[] = { &stage_a, &stage_b };
static const struct kf_stage_def stage_data = { "data-stage", fake_fp, NULL, data_run, NULL, NULL };
/* Like wait after create-vms: stale after every new run of alpha, whatever its fingerprint. */
static const char *const after_alpha[] = { "alpha", NULL };
static const struct kf_stage_def stage_c = { "gamma", beta_fp, NULL, beta_run, after_alpha, NULL };

struct fx {
	char dir[64];
	struct kf_lab lab;
	struct kf_err err;
	struct kf_lock *lock;    /* held as a command that runs stages holds it */
	FILE *text, *json;
	char *tbuf, *jbuf;
	size_t tlen, jlen;
};

static int setup_mode(void **state, bool json)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_log_opts lo = { KF_LOG_INFO, json, KF_COLOR_NEVER };

	memset(&F, 0, sizeof(F));
	memset(&B, 0, sizeof(B));
	F.input = "v1";
	strcpy(f->dir, "/tmp/kf_test_stage.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->lab.out_dir = f->dir;
	if (kf_run_new(&f->lab.run) != 0 || kf_lock_acquire(&f->lock, f->dir, &f->err) != 0)
		return -1;
	f->text = open_memstream(&f->tbuf, &f->tlen);
	f->json = open_memstream(&f->jbuf, &f->jlen);
	kf_log_set_streams(f->text, f->json);
	kf_log_init(&lo);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_mode(state, false);
}

static int setup_json(void **state)
{
	return setup_mode(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kf_lock_release(f->lock);
	kf_run_free(f->lab.run);
	kf_log_shutdown();
	fclose(f->text);
	fclose(f->json);
	free(f->tbuf);
	free(f->jbuf);
	kf_fs_remove_tree(f->dir, NULL);
	free(f);
	return 0;
}

static const char *text_of(struct fx *f)
{
	fflush(f->text);
	return f->tbuf ? f->tbuf : "";
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

static void record(struct fx *f, const char *stage, struct kf_state_rec *rec, struct kf_state **st)
{
	struct kf_err err;

	assert_int_equal(kf_state_load(st, f->dir, &err), 0);
	assert_true(kf_state_get(*st, stage, rec));
}

static void test_stage_first_run_runs_and_records_done(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	bool skipped = true;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(F.runs, 1);
	record(f, "alpha", &rec, &st);
	assert_string_equal(rec.status, "done");
	assert_true(kf_sha256_valid_hex(rec.fingerprint));
	assert_null(rec.error);
	assert_true(rec.end >= rec.start);
	kf_state_free(st);
	assert_true(kf_fs_exists(f->dir) && kf_fs_is_dir(f->dir));
}

static void test_stage_second_run_with_same_fingerprint_skips(void **state)
{
	struct fx *f = *state;
	bool skipped = false;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_true(skipped);
	assert_int_equal(F.runs, 1);
	assert_non_null(strstr(text_of(f), "skip: alpha (inputs unchanged since its last run)"));
}

static void test_stage_changed_fingerprint_reruns(void **state)
{
	struct fx *f = *state;
	bool skipped = true;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	F.input = "v2";
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(F.runs, 2);
	assert_non_null(strstr(text_of(f), "alpha: its inputs changed since its last run"));
}

static void test_stage_is_stale_after_a_new_run_of_a_stage_it_follows(void **state)
{
	struct fx *f = *state;
	bool skipped = false;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, NULL, &f->err), 0);
	assert_int_equal(B.runs, 1);
	/* alpha skipped as fresh: not a new run, gamma stays fresh */
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_true(skipped);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, &skipped, &f->err), 0);
	assert_true(skipped);
	assert_int_equal(B.runs, 1);
	/* alpha runs again with the same inputs: gamma runs again */
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, true, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(B.runs, 2);
	assert_non_null(strstr(text_of(f), "gamma: alpha ran again since its last run"));
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, &skipped, &f->err), 0);
	assert_true(skipped);
}

static void test_stage_a_failed_run_of_a_stage_it_follows_counts_too(void **state)
{
	struct fx *f = *state;
	bool skipped = false;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, NULL, &f->err), 0);
	F.fail_with = KF_EVMRUN;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, true, NULL, &f->err), KF_EVMRUN);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_c, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(B.runs, 2);
}

static void test_stage_failure_is_recorded_with_its_error(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;

	F.fail_with = KF_EVMRUN;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), KF_EVMRUN);
	assert_string_equal(f->err.msg, "vmrun exited with status 255: boom");
	record(f, "alpha", &rec, &st);
	assert_string_equal(rec.status, "failed");
	assert_string_equal(rec.error, "vmrun exited with status 255: boom");
	assert_null(rec.fingerprint);
	kf_state_free(st);
	assert_true(matches(text_of(f),
			    "failed: alpha after [0-9]+\\.[0-9]s: vmrun exited with status 255: boom$"));
}

static void test_stage_failed_stage_reruns_next_time(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;
	bool skipped = true;

	F.fail_with = KF_EPROC;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), KF_EPROC);
	F.fail_with = 0;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(F.runs, 2);
	assert_non_null(strstr(text_of(f), "alpha: its last run ended 'failed'"));
	record(f, "alpha", &rec, &st);
	assert_string_equal(rec.status, "done");
	assert_null(rec.error);
	kf_state_free(st);
}

static void test_stage_failing_check_forces_a_rerun(void **state)
{
	struct fx *f = *state;
	bool skipped = true;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	F.check_result = KF_ENOTFOUND;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(F.runs, 2);
	assert_true(F.checks >= 1);
	assert_non_null(strstr(text_of(f), "its outputs are no longer in place (registry is not running)"));
}

static void test_stage_force_reruns_a_fresh_stage(void **state)
{
	struct fx *f = *state;
	bool skipped = true;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, true, &skipped, &f->err), 0);
	assert_false(skipped);
	assert_int_equal(F.runs, 2);
}

static void test_stage_fingerprint_error_stops_before_running(void **state)
{
	struct fx *f = *state;

	F.fp_error = KF_EIO;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), KF_EIO);
	assert_int_equal(F.runs, 0);
	assert_string_equal(f->err.msg, "cannot read inputs.txt");
}

static void test_stage_keeps_data_the_stage_saved_while_running(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_state_rec rec;

	assert_int_equal(kf_stage_execute(&f->lab, &stage_data, false, NULL, &f->err), 0);
	record(f, "data-stage", &rec, &st);
	assert_string_equal(rec.status, "done");
	assert_int_equal(json_integer_value(json_object_get(kf_state_data(st, "data-stage"), "pid")),
			 777);
	kf_state_free(st);
}

/* A command that runs a stage declares it (kf_cmd.needs): the output directory's lock is
 * taken once its options parsed, so a second k3sforge on the same directory stops there,
 * before any stage looked at anything. */
static void test_stage_command_refuses_a_locked_output_dir(void **state)
{
	static const struct kf_cmd cmd = { .name = "alpha", .summary = "", .usage = "",
					   .needs = KF_CMD_LOCK };
	struct fx *f = *state;
	struct kf_ctx ctx;
	char *argv[] = { "alpha", NULL };

	memset(&ctx, 0, sizeof(ctx));
	ctx.out_dir = f->dir;
	/* f holds the lock, as the other k3sforge would */
	assert_int_equal(kf_cmd_parse_no_args(&ctx, &cmd, 1, argv), KF_ELOCKED);
	assert_non_null(strstr(ctx.err.msg, "in use by another k3sforge run"));
	assert_null(ctx.lock);
	kf_lock_release(f->lock);
	f->lock = NULL;
	if (kf_cmd_parse_no_args(&ctx, &cmd, 1, argv) != 0)
		fail_msg("%s", ctx.err.msg);
	assert_non_null(ctx.lock);
	kf_lock_release(ctx.lock);
	assert_int_equal(F.runs, 0);
}

static void test_stage_fresh_says_why_a_stage_must_run(void **state)
{
	struct fx *f = *state;
	struct kf_state *st;
	struct kf_err err;
	char hex[KF_SHA256_HEX_LEN + 1], why[256];

	assert_int_equal(kf_state_load(&st, f->dir, &err), 0);
	assert_int_equal(kf_stage_fresh(&f->lab, &stage_a, st, hex, why, sizeof(why), &f->err), 0);
	assert_string_equal(why, "it never ran here");
	assert_true(kf_sha256_valid_hex(hex));
	kf_state_set(st, "alpha", "done", 1, 2, hex, NULL);
	assert_int_equal(kf_stage_fresh(&f->lab, &stage_a, st, hex, why, sizeof(why), &f->err), 1);
	kf_state_set(st, "alpha", "interrupted", 1, 2, NULL, "interrupted");
	assert_int_equal(kf_stage_fresh(&f->lab, &stage_a, st, hex, why, sizeof(why), &f->err), 0);
	assert_string_equal(why, "its last run ended 'interrupted': interrupted");
	kf_state_free(st);
}

static void test_stage_resume_starts_at_first_stale_stage(void **state)
{
	const bool fresh[] = { true, true, false, true, false, true };

	(void)state;
	assert_int_equal(kf_stage_first_to_run(fresh, 6, -1, false), 2);
}

static void test_stage_resume_runs_nothing_when_all_fresh(void **state)
{
	const bool fresh[] = { true, true, true };

	(void)state;
	assert_int_equal(kf_stage_first_to_run(fresh, 3, -1, false), 3);
	assert_int_equal(kf_stage_first_to_run(fresh, 0, -1, false), 0);
}

static void test_stage_resume_from_a_named_stage(void **state)
{
	const bool all_fresh[] = { true, true, true, true };
	const bool stale_1[] = { true, false, true, true };

	(void)state;
	assert_int_equal(kf_stage_first_to_run(all_fresh, 4, 2, false), 2);
	/* an earlier stale stage still comes first */
	assert_int_equal(kf_stage_first_to_run(stale_1, 4, 3, false), 1);
}

static void test_stage_resume_with_force_starts_at_the_beginning(void **state)
{
	const bool fresh[] = { true, true, true };

	(void)state;
	assert_int_equal(kf_stage_first_to_run(fresh, 3, 2, true), 0);
}

static void test_stage_resume_point_on_a_fresh_dir_starts_at_the_first_stage(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	/* beta's fingerprint cannot be computed before alpha ran: that must not stop `up`. */
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 0);
	assert_string_equal(why, "it never ran here");
	assert_int_equal(B.fp_calls, 0);
}

static void test_stage_resume_point_after_success_runs_nothing(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_b, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 2);
	assert_string_equal(why, "");
}

static void test_stage_resume_point_resumes_at_the_failed_stage(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	B.output_exists = true;
	B.fail_with = KF_EPROC;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_b, false, NULL, &f->err), KF_EPROC);
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 1);
	assert_string_equal(why, "its last run ended 'failed': xorriso exited with status 5");
}

static void test_stage_resume_point_reruns_everything_after_a_changed_stage(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_b, false, NULL, &f->err), 0);
	F.input = "v2";
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 0);
	assert_string_equal(why, "its inputs changed since its last run");
}

static void test_stage_resume_point_honours_from(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_b, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, 1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 1);
	assert_string_equal(why, "");
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, true, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 0);
}

static void test_stage_resume_point_counts_an_unfingerprintable_stage_as_stale(void **state)
{
	struct fx *f = *state;
	char why[256];
	int first = -1;

	B.output_exists = true;
	assert_int_equal(kf_stage_execute(&f->lab, &stage_a, false, NULL, &f->err), 0);
	assert_int_equal(kf_stage_execute(&f->lab, &stage_b, false, NULL, &f->err), 0);
	B.output_exists = false;
	assert_int_equal(kf_stage_resume_point(&f->lab, pipeline, 2, -1, false, &first, why,
					       sizeof(why), &f->err), 0);
	assert_int_equal(first, 1);
	assert_string_equal(why, "its inputs cannot be fingerprinted "
				 "(pki/ca.crt: No such file or directory)");
	assert_int_equal(f->err.code, 0);
}

static void test_stage_end_says_done_with_duration(void **state)
{
	struct fx *f = *state;
	double took;

	kf_stage_begin(f->lab.run, "prep");
	took = kf_stage_end(f->lab.run, "prep", 0, NULL);
	assert_true(took >= 0);
	assert_true(matches(text_of(f), "INFO  start: prep$"));
	assert_true(matches(text_of(f), "OK    done: prep \\(took [0-9]+\\.[0-9]s\\)$"));
	assert_int_equal(kf_run_count(f->lab.run), 1);
}

/* Parses the summary rows "  <name> <sec>s <share>%  <result>" into arrays. */
static int summary_rows(const char *text, char names[][32], double *secs, double *shares)
{
	const char *p = strstr(text, "stage summary:");
	int n = 0;

	assert_non_null(p);
	while ((p = strchr(p, '\n')) != NULL && n < 16) {
		char name[32];
		double s, sh;
		p++;
		/* skip the timestamp and level: "yyyy-MM-dd HH:mm:ss INFO  " */
		if (strlen(p) < 26)
			break;
		if (sscanf(p + 26, " %31s %lfs %lf%%", name, &s, &sh) == 3) {
			strcpy(names[n], name);
			secs[n] = s;
			shares[n] = sh;
			n++;
		}
	}
	return n;
}

static void test_stage_summary_lists_time_share_and_total(void **state)
{
	struct fx *f = *state;
	char names[16][32];
	double secs[16], shares[16], sum = 0;
	int n;

	kf_stage_begin(f->lab.run, "prep");
	kf_sleep_ms(200);
	kf_stage_end(f->lab.run, "prep", 0, NULL);
	kf_stage_skip(f->lab.run, "build-iso", NULL);
	kf_stage_begin(f->lab.run, "wait");
	kf_sleep_ms(100);
	kf_stage_end(f->lab.run, "wait", KF_ETIMEOUT, "k3s-worker1 not ready");
	kf_run_summary(f->lab.run);
	assert_true(matches(text_of(f), "INFO    stage +time +share  result$"));
	assert_true(matches(text_of(f), "  prep +[0-9.]+s +[0-9.]+%  ok$"));
	assert_true(matches(text_of(f), "  build-iso +0\\.0s +0\\.0%  skipped \\(up to date\\)$"));
	assert_true(matches(text_of(f), "  wait +[0-9.]+s +[0-9.]+%  FAILED$"));
	n = summary_rows(text_of(f), names, secs, shares);
	assert_int_equal(n, 4);
	assert_string_equal(names[0], "prep");
	assert_string_equal(names[1], "build-iso");
	assert_string_equal(names[2], "wait");
	assert_string_equal(names[3], "total");
	assert_true(secs[3] > 0);
	assert_true(shares[3] == 100.0);
	for (int i = 0; i < 3; i++)
		sum += shares[i];
	assert_true(sum > 99.5 && sum < 100.5);
}

static void test_stage_summary_event_carries_every_stage(void **state)
{
	struct fx *f = *state;
	char *line;
	json_t *o = NULL, *stages;
	json_error_t jerr;

	kf_stage_begin(f->lab.run, "prep");
	kf_stage_end(f->lab.run, "prep", 0, NULL);
	kf_stage_skip(f->lab.run, "build-iso", "up to date");
	kf_run_summary(f->lab.run);
	fflush(f->json);
	assert_string_equal(text_of(f), "");
	for (line = strtok(f->jbuf, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *e = json_loads(line, 0, &jerr);
		assert_non_null(e);
		if (strcmp(json_string_value(json_object_get(e, "type")), "summary") == 0) {
			json_decref(o);
			o = e;
		} else {
			json_decref(e);
		}
	}
	assert_non_null(o);
	stages = json_object_get(o, "stages");
	assert_int_equal(json_array_size(stages), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 0), "stage")), "prep");
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 0), "result")), "ok");
	assert_string_equal(json_string_value(json_object_get(json_array_get(stages, 1), "result")),
			    "skipped");
	assert_true(json_is_number(json_object_get(o, "total_seconds")));
	json_decref(o);
}

static void test_stage_events_mark_start_and_end_in_json(void **state)
{
	struct fx *f = *state;
	char *line;
	const char *types[4] = { NULL, NULL, NULL, NULL };
	int n = 0;
	json_t *events[4] = { NULL, NULL, NULL, NULL };
	json_error_t jerr;

	kf_stage_begin(f->lab.run, "prep");
	kf_stage_end(f->lab.run, "prep", KF_EPROC, "docker exited with status 1");
	fflush(f->json);
	for (line = strtok(f->jbuf, "\n"); line && n < 4; line = strtok(NULL, "\n")) {
		events[n] = json_loads(line, 0, &jerr);
		assert_non_null(events[n]);
		types[n] = json_string_value(json_object_get(events[n], "type"));
		n++;
	}
	/* log "start", stage_start, log "failed", stage_end */
	assert_int_equal(n, 4);
	assert_string_equal(types[1], "stage_start");
	assert_string_equal(types[3], "stage_end");
	assert_string_equal(json_string_value(json_object_get(events[3], "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(events[3], "code")), "process");
	assert_string_equal(json_string_value(json_object_get(events[3], "reason")),
			    "docker exited with status 1");
	for (int i = 0; i < n; i++)
		json_decref(events[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_stage_first_run_runs_and_records_done),
		T(test_stage_second_run_with_same_fingerprint_skips),
		T(test_stage_changed_fingerprint_reruns),
		T(test_stage_is_stale_after_a_new_run_of_a_stage_it_follows),
		T(test_stage_a_failed_run_of_a_stage_it_follows_counts_too),
		T(test_stage_failure_is_recorded_with_its_error),
		T(test_stage_failed_stage_reruns_next_time),
		T(test_stage_failing_check_forces_a_rerun),
		T(test_stage_force_reruns_a_fresh_stage),
		T(test_stage_fingerprint_error_stops_before_running),
		T(test_stage_keeps_data_the_stage_saved_while_running),
		T(test_stage_command_refuses_a_locked_output_dir),
		T(test_stage_fresh_says_why_a_stage_must_run),
		T(test_stage_resume_starts_at_first_stale_stage),
		T(test_stage_resume_runs_nothing_when_all_fresh),
		T(test_stage_resume_from_a_named_stage),
		T(test_stage_resume_with_force_starts_at_the_beginning),
		T(test_stage_resume_point_on_a_fresh_dir_starts_at_the_first_stage),
		T(test_stage_resume_point_after_success_runs_nothing),
		T(test_stage_resume_point_resumes_at_the_failed_stage),
		T(test_stage_resume_point_reruns_everything_after_a_changed_stage),
		T(test_stage_resume_point_honours_from),
		T(test_stage_resume_point_counts_an_unfingerprintable_stage_as_stale),
		T(test_stage_end_says_done_with_duration),
		T(test_stage_summary_lists_time_share_and_total),
		cmocka_unit_test_setup_teardown(test_stage_summary_event_carries_every_stage, setup_json,
						teardown),
		cmocka_unit_test_setup_teardown(test_stage_events_mark_start_and_end_in_json, setup_json,
						teardown),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
