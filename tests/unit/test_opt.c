/* The option parser: long, short, bundled, --x=v, --, values, ranges, lists, suggestions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/opt.h"

struct vals {
	bool verbose, quiet, force;
	const char *config, *from;
	int workers;
	struct kf_strlist images;
};

static struct vals V;

static const struct kf_opt opts[] = {
	KF_OPT_FLAG_('v', "verbose", &V.verbose, "more output"),
	KF_OPT_FLAG_('q', "quiet", &V.quiet, "less output"),
	KF_OPT_FLAG_(0, "force", &V.force, "rerun"),
	KF_OPT_STR_('c', "config", &V.config, "FILE", "configuration file"),
	KF_OPT_STR_(0, "from", &V.from, "STAGE", "start here"),
	KF_OPT_INT_('w', "workers", &V.workers, "N", "worker count", 1, 64),
	KF_OPT_LIST_('i', "image", &V.images, "REF", "an image (repeatable)"),
	KF_OPT_END_,
};

static int reset(void **state)
{
	(void)state;
	kf_strlist_free(&V.images);
	memset(&V, 0, sizeof(V));
	return 0;
}

/* Parses a NULL-terminated list of arguments (copied, since the parser reorders them). */
static int parse(struct kf_err *err, int *npos, char **out, bool *help, int stop, ...)
{
	va_list ap;
	int n = 0;
	const char *a;

	va_start(ap, stop);
	while ((a = va_arg(ap, const char *)) != NULL)
		out[n++] = (char *)a;
	va_end(ap);
	out[n] = NULL;
	return kf_opt_parse(opts, n, out, npos, help, stop != 0, err);
}

static void test_opt_parses_long_and_short_options(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--verbose", "-c", "lab.yaml",
			       "--from", "wait", NULL), 0);
	assert_true(V.verbose);
	assert_string_equal(V.config, "lab.yaml");
	assert_string_equal(V.from, "wait");
	assert_int_equal(npos, 0);
}

static void test_opt_parses_bundled_short_flags_and_attached_value(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-vqclab.yaml", NULL), 0);
	assert_true(V.verbose);
	assert_true(V.quiet);
	assert_string_equal(V.config, "lab.yaml");
}

static void test_opt_parses_long_option_with_equals_value(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--config=a=b.yaml", "--workers=3",
			       NULL), 0);
	assert_string_equal(V.config, "a=b.yaml");
	assert_int_equal(V.workers, 3);
}

static void test_opt_flag_refuses_a_value(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--force=yes", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "option --force takes no value");
}

static void test_opt_double_dash_ends_options(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "pos1", "-v", "--", "--force", "-q",
			       NULL), 0);
	assert_true(V.verbose);
	assert_false(V.force);
	assert_false(V.quiet);
	assert_int_equal(npos, 3);
	assert_string_equal(argv[0], "pos1");
	assert_string_equal(argv[1], "--force");
	assert_string_equal(argv[2], "-q");
}

static void test_opt_positionals_are_moved_to_the_front_in_order(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "a", "-v", "b", "--from", "x", "c",
			       NULL), 0);
	assert_int_equal(npos, 3);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "b");
	assert_string_equal(argv[2], "c");
}

static void test_opt_stops_at_first_positional_when_asked(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, true, "-v", "up", "--force", NULL), 0);
	assert_true(V.verbose);
	assert_false(V.force);
	assert_int_equal(npos, 2);
	assert_string_equal(argv[0], "up");
	assert_string_equal(argv[1], "--force");
}

static void test_opt_missing_value_is_a_usage_error(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--config", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "option --config needs a value (FILE)");
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-c", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "option -c needs a value (FILE)");
}

static void test_opt_int_outside_range_is_rejected(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--workers", "65", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "option --workers must be between 1 and 64, not 65");
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-w", "0", NULL), KF_EUSAGE);
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-w", "64", NULL), 0);
	assert_int_equal(V.workers, 64);
}

static void test_opt_int_must_be_a_whole_number(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--workers", "3x", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "option --workers needs a whole number, not '3x'");
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--workers", "", NULL), KF_EUSAGE);
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--workers", "99999999999999", NULL),
			 KF_EUSAGE);
}

static void test_opt_list_collects_repeated_values_in_order(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-i", "a:1", "--image=b:2",
			       "--image", "c:3", NULL), 0);
	assert_int_equal(V.images.n, 3);
	assert_string_equal(V.images.items[0], "a:1");
	assert_string_equal(V.images.items[1], "b:2");
	assert_string_equal(V.images.items[2], "c:3");
}

static void test_opt_unknown_long_option_suggests_the_closest(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--frce", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "unknown option --frce (did you mean --force?)");
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--zzzzzzzz", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "unknown option --zzzzzzzz (see --help)");
}

static void test_opt_unknown_short_option_is_a_usage_error(void **state)
{
	char *argv[16];
	int npos;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "-x", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "unknown option -x (see --help)");
}

static void test_opt_help_is_reported_when_asked_for(void **state)
{
	char *argv[16];
	int npos;
	bool help = false;
	struct kf_err err;

	(void)state;
	assert_int_equal(parse(&err, &npos, argv, &help, false, "--help", NULL), 0);
	assert_true(help);
	help = false;
	assert_int_equal(parse(&err, &npos, argv, &help, false, "-vh", NULL), 0);
	assert_true(help);
	assert_int_equal(parse(&err, &npos, argv, NULL, false, "--help", NULL), KF_EUSAGE);
	assert_string_equal(err.msg, "unknown option --help (see --help)");
}

static void test_opt_usage_aligns_every_row(void **state)
{
	char *u = kf_opt_usage(opts);
	size_t col = 0;
	int rows = 0;

	(void)state;
	for (char *line = strtok(u, "\n"); line; line = strtok(NULL, "\n")) {
		/* the help text starts at the same column on every row */
		const char *helps[] = { "more output", "less output", "rerun", "configuration file",
					"start here", "worker count", "an image (repeatable)" };
		char *h = strstr(line, helps[rows]);
		assert_non_null(h);
		if (rows == 0)
			col = (size_t)(h - line);
		assert_int_equal((size_t)(h - line), col);
		rows++;
	}
	assert_int_equal(rows, 7);
	free(u);
}

/* One token looked up without parsing (main's global options after the command). */
static void test_opt_find_names_the_option_of_one_token(void **state)
{
	bool inl = true;

	(void)state;
	assert_ptr_equal(kf_opt_find(opts, "--config", &inl), &opts[3]);
	assert_false(inl);
	assert_ptr_equal(kf_opt_find(opts, "--config=lab.yaml", &inl), &opts[3]);
	assert_true(inl);
	assert_ptr_equal(kf_opt_find(opts, "-c", &inl), &opts[3]);
	assert_false(inl);
	assert_ptr_equal(kf_opt_find(opts, "-clab.yaml", &inl), &opts[3]);
	assert_true(inl);
	assert_ptr_equal(kf_opt_find(opts, "-v", &inl), &opts[0]);
	assert_false(inl);
	/* bundled flags are left to the parser; a prefix is not a name */
	assert_null(kf_opt_find(opts, "-vq", &inl));
	assert_null(kf_opt_find(opts, "--conf", &inl));
	assert_null(kf_opt_find(opts, "--configx", &inl));
	assert_null(kf_opt_find(opts, "lab.yaml", &inl));
	assert_null(kf_opt_find(opts, "-", &inl));
	assert_null(kf_opt_find(opts, "-x", &inl));
	assert_null(kf_opt_find(NULL, "--config", &inl));
}

static void test_opt_edit_distance_counts_edits(void **state)
{
	(void)state;
	assert_int_equal(kf_edit_distance("", ""), 0);
	assert_int_equal(kf_edit_distance("abc", ""), 3);
	assert_int_equal(kf_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(kf_edit_distance("force", "frce"), 1);
	assert_int_equal(kf_edit_distance("prep", "prep"), 0);
}

static void test_opt_closest_picks_a_near_candidate_or_none(void **state)
{
	const char *cands[] = { "prep", "build-iso", "create-vms", "wait", "finalize", "kubeconfig" };

	(void)state;
	assert_string_equal(kf_closest("perp", cands, 6), "prep");
	assert_string_equal(kf_closest("build", cands, 6), "build-iso");
	assert_string_equal(kf_closest("kubeconfg", cands, 6), "kubeconfig");
	assert_null(kf_closest("zzzzzz", cands, 6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, reset, reset)
		T(test_opt_parses_long_and_short_options),
		T(test_opt_find_names_the_option_of_one_token),
		T(test_opt_parses_bundled_short_flags_and_attached_value),
		T(test_opt_parses_long_option_with_equals_value),
		T(test_opt_flag_refuses_a_value),
		T(test_opt_double_dash_ends_options),
		T(test_opt_positionals_are_moved_to_the_front_in_order),
		T(test_opt_stops_at_first_positional_when_asked),
		T(test_opt_missing_value_is_a_usage_error),
		T(test_opt_int_outside_range_is_rejected),
		T(test_opt_int_must_be_a_whole_number),
		T(test_opt_list_collects_repeated_values_in_order),
		T(test_opt_unknown_long_option_suggests_the_closest),
		T(test_opt_unknown_short_option_is_a_usage_error),
		T(test_opt_help_is_reported_when_asked_for),
		T(test_opt_usage_aligns_every_row),
		T(test_opt_edit_distance_counts_edits),
		T(test_opt_closest_picks_a_near_candidate_or_none),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
