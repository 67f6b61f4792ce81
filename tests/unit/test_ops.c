/* The pure parts of src/ops: secret scrubbing for the doctor bundle, the Ready condition from
 * kubectl's JSON, snapshot names and the names common to all nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/doctor.h"
#include "k3sforge/log.h"
#include "k3sforge/snapshot.h"
#include "k3sforge/status.h"
#include "k3sforge/strv.h"

static void test_scrub_removes_private_key_blocks(void **state)
{
	char *out = kf_doctor_scrub("before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
				    "AAAA\n-----END OPENSSH PRIVATE KEY-----\nafter\n");
	(void)state;
	assert_non_null(out);
	assert_null(strstr(out, "b3BlbnNzaC1rZXk"));
	assert_null(strstr(out, "PRIVATE KEY-----"));
	assert_non_null(strstr(out, "before\n[private key removed]\nafter"));
	free(out);
}

static void test_scrub_masks_values_of_secret_keys(void **state)
{
	char *out = kf_doctor_scrub("admin_password: s3cr3t-value\nK3S_TOKEN=abcdef\nname: lab\n");
	(void)state;
	assert_non_null(out);
	assert_null(strstr(out, "s3cr3t-value"));
	assert_null(strstr(out, "abcdef"));
	assert_non_null(strstr(out, "admin_password: ***"));
	assert_non_null(strstr(out, "name: lab"));
	free(out);
}

static void test_scrub_masks_registered_secrets_anywhere(void **state)
{
	char *out;
	(void)state;
	kf_log_add_secret("0123456789abcdef0123456789abcdef");
	out = kf_doctor_scrub("joining with 0123456789abcdef0123456789abcdef now");
	assert_non_null(out);
	assert_null(strstr(out, "0123456789abcdef0123456789abcdef"));
	free(out);
}

static const char *nodes =
	"{\"items\":[{\"metadata\":{\"name\":\"m\"},\"status\":{\"conditions\":["
	"{\"type\":\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	"{\"metadata\":{\"name\":\"w\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Unknown\"}]}}]}";

static void test_node_ready_reads_the_ready_condition(void **state)
{
	(void)state;
	assert_int_equal(kf_status_node_ready(nodes, "m"), KF_TRI_YES);
	assert_int_equal(kf_status_node_ready(nodes, "w"), KF_TRI_NO);
}

static void test_node_ready_is_unknown_for_an_absent_node(void **state)
{
	(void)state;
	assert_int_equal(kf_status_node_ready(nodes, "x"), KF_TRI_UNKNOWN);
	assert_int_equal(kf_status_node_ready("not json", "m"), KF_TRI_UNKNOWN);
}

static void test_snapshot_name_check_refuses_spaces_and_leading_dash(void **state)
{
	struct kf_err e;
	(void)state;
	assert_int_equal(kf_snapshot_name_check("before-upgrade_1.2", &e), 0);
	assert_int_equal(kf_snapshot_name_check("a b", &e), KF_EUSAGE);
	assert_int_equal(kf_snapshot_name_check("-x", &e), KF_EUSAGE);
	assert_int_equal(kf_snapshot_name_check("", &e), KF_EUSAGE);
}

static void test_snapshot_common_keeps_names_every_node_has(void **state)
{
	char *a[] = { "base", "one", "two" }, *b[] = { "two", "base" }, **common = NULL;
	struct kf_snap_node n[2];
	size_t nc = 0;
	(void)state;
	memset(n, 0, sizeof(n));
	n[0].names = a;
	n[0].n_names = 3;
	n[1].names = b;
	n[1].n_names = 2;
	assert_int_equal(kf_snapshot_common(n, 2, &common, &nc), 0);
	assert_int_equal(nc, 2);
	assert_string_equal(common[0], "base");
	assert_string_equal(common[1], "two");
	kf_strv_free(common, nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrub_removes_private_key_blocks),
		cmocka_unit_test(test_scrub_masks_values_of_secret_keys),
		cmocka_unit_test(test_scrub_masks_registered_secrets_anywhere),
		cmocka_unit_test(test_node_ready_reads_the_ready_condition),
		cmocka_unit_test(test_node_ready_is_unknown_for_an_absent_node),
		cmocka_unit_test(test_snapshot_name_check_refuses_spaces_and_leading_dash),
		cmocka_unit_test(test_snapshot_common_keeps_names_every_node_has),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
