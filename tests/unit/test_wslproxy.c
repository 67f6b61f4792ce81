/* The WSL2 registry port proxy: parsing netsh's `portproxy show v4tov4` table (English and
 * localized headers, CRLF), deciding add / replace / nothing, and the exact netsh argv. The
 * netsh calls themselves only run on Windows (WSL interop) and are not exercised here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/strv.h"
#include "k3sforge/wslproxy.h"

/* As Windows 11 prints it (CRLF), two entries. */
static const char show_en[] =
	"\r\n"
	"Listen on ipv4:             Connect to ipv4:\r\n"
	"\r\n"
	"Address         Port        Address         Port\r\n"
	"--------------- ----------  --------------- ----------\r\n"
	"192.168.6.1     5000        172.20.240.2    5000\r\n"
	"0.0.0.0         8080        127.0.0.1       80\r\n"
	"\r\n";

/* A Korean Windows: headers in Korean (UTF-8 here; the console code page may differ). */
static const char show_ko[] =
	"\r\n"
	"ipv4 수신 대기:             ipv4에 연결:\r\n"
	"\r\n"
	"주소            포트        주소            포트\r\n"
	"--------------- ----------  --------------- ----------\r\n"
	"192.168.6.1     5000        172.31.1.7      5000\r\n";

static void assert_argv(char **argv, const char *const *want)
{
	size_t i;

	assert_non_null(argv);
	for (i = 0; want[i]; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
	kf_argv_free(argv);
}

static void test_wslproxy_parses_the_english_show_table(void **state)
{
	struct kf_portproxy *e = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(show_en, &e, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].listen_addr, "192.168.6.1");
	assert_int_equal(e[0].listen_port, 5000);
	assert_string_equal(e[0].connect_addr, "172.20.240.2");
	assert_int_equal(e[0].connect_port, 5000);
	assert_string_equal(e[1].listen_addr, "0.0.0.0");
	assert_int_equal(e[1].connect_port, 80);
	free(e);
}

static void test_wslproxy_parses_a_localized_show_table(void **state)
{
	struct kf_portproxy *e = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(show_ko, &e, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].connect_addr, "172.31.1.7");
	free(e);
}

static void test_wslproxy_empty_table_has_no_entries(void **state)
{
	struct kf_portproxy *e = (void *)1;
	size_t n = 7;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show("\r\n", &e, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(e);
	assert_int_equal(kf_wslproxy_parse_show(NULL, &e, &n, NULL), 0);
	assert_int_equal(n, 0);
}

static void test_wslproxy_ignores_lines_that_are_not_entries(void **state)
{
	static const char text[] = "The following command was not found: interface portproxy.\n"
				   "1.2.3.4 99999 5.6.7.8 5000\n"    /* port out of range */
				   "1.2.3.4 5000 5.6.7.8\n"          /* three columns */
				   "1.2.3.4 5000 5.6.7.8 50x0\n";    /* not a port */
	struct kf_portproxy *e = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(text, &e, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(e);
}

static void test_wslproxy_plan_present_when_it_points_at_wsl(void **state)
{
	struct kf_portproxy *e = NULL;
	const struct kf_portproxy *f = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(show_en, &e, &n, NULL), 0);
	assert_int_equal(kf_wslproxy_plan(e, n, "192.168.6.1", 5000, "172.20.240.2", 5000, &f),
			 KF_WSLPROXY_PRESENT);
	assert_ptr_equal(f, &e[0]);
	free(e);
}

static void test_wslproxy_plan_replace_when_wsl_moved(void **state)
{
	struct kf_portproxy *e = NULL;
	const struct kf_portproxy *f = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(show_en, &e, &n, NULL), 0);
	assert_int_equal(kf_wslproxy_plan(e, n, "192.168.6.1", 5000, "172.20.250.9", 5000, &f),
			 KF_WSLPROXY_REPLACE);
	assert_string_equal(f->connect_addr, "172.20.240.2");
	free(e);
}

static void test_wslproxy_plan_add_when_absent(void **state)
{
	struct kf_portproxy *e = NULL;
	const struct kf_portproxy *f = (void *)1;
	size_t n = 0;
	(void)state;

	assert_int_equal(kf_wslproxy_parse_show(show_en, &e, &n, NULL), 0);
	assert_int_equal(kf_wslproxy_plan(e, n, "192.168.6.1", 5001, "172.20.240.2", 5001, &f),
			 KF_WSLPROXY_ADD);
	assert_null(f);
	free(e);
}

static void test_wslproxy_add_argv_is_one_argument_per_key(void **state)
{
	const char *const want[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "add", "v4tov4",
				     "listenaddress=192.168.6.1", "listenport=5000",
				     "connectaddress=172.20.240.2", "connectport=5000", NULL };
	(void)state;
	assert_argv(kf_wslproxy_argv_add("192.168.6.1", 5000, "172.20.240.2", 5000), want);
}

static void test_wslproxy_delete_and_show_argv(void **state)
{
	const char *const del[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "delete", "v4tov4",
				    "listenaddress=192.168.6.1", "listenport=5000", NULL };
	const char *const show[] = { KF_WIN_NETSH_EXE, "interface", "portproxy", "show", "v4tov4", NULL };
	(void)state;
	assert_argv(kf_wslproxy_argv_delete("192.168.6.1", 5000), del);
	assert_argv(kf_wslproxy_argv_show(), show);
}

static void test_wslproxy_firewall_rule_argv(void **state)
{
	const char *const show[] = { KF_WIN_NETSH_EXE, "advfirewall", "firewall", "show", "rule",
				     "name=k3sforge-registry-5000", NULL };
	const char *const add[] = { KF_WIN_NETSH_EXE, "advfirewall", "firewall", "add", "rule",
				    "name=k3sforge-registry-5000", "dir=in", "action=allow",
				    "protocol=TCP", "localport=5000", NULL };
	char *name = kf_wslproxy_rule_name(5000);
	(void)state;
	assert_string_equal(name, "k3sforge-registry-5000");
	free(name);
	assert_argv(kf_wslproxy_argv_rule_show(5000), show);
	assert_argv(kf_wslproxy_argv_rule_add(5000), add);
}

static void test_wslproxy_argv_text_is_what_to_type_elevated(void **state)
{
	char **argv = kf_wslproxy_argv_add("192.168.6.1", 5000, "172.20.240.2", 5000);
	char *text = kf_wslproxy_argv_text(argv);
	(void)state;

	assert_string_equal(text, "netsh.exe interface portproxy add v4tov4 listenaddress=192.168.6.1 "
				  "listenport=5000 connectaddress=172.20.240.2 connectport=5000");
	free(text);
	kf_argv_free(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wslproxy_parses_the_english_show_table),
		cmocka_unit_test(test_wslproxy_parses_a_localized_show_table),
		cmocka_unit_test(test_wslproxy_empty_table_has_no_entries),
		cmocka_unit_test(test_wslproxy_ignores_lines_that_are_not_entries),
		cmocka_unit_test(test_wslproxy_plan_present_when_it_points_at_wsl),
		cmocka_unit_test(test_wslproxy_plan_replace_when_wsl_moved),
		cmocka_unit_test(test_wslproxy_plan_add_when_absent),
		cmocka_unit_test(test_wslproxy_add_argv_is_one_argument_per_key),
		cmocka_unit_test(test_wslproxy_delete_and_show_argv),
		cmocka_unit_test(test_wslproxy_firewall_rule_argv),
		cmocka_unit_test(test_wslproxy_argv_text_is_what_to_type_elevated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
