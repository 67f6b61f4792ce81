/* The QEMU backend's parts: the QMP parser and client (over a socketpair whose other end a
 * thread scripts, hostile answers included), the VM definition file, the command line. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "k3sforge/qemu.h"

/* ---- kf_qmp_parse ------------------------------------------------------------------------ */

static void parse_ok(const char *text, enum kf_qmp_kind want, json_t **v)
{
	enum kf_qmp_kind kind;
	struct kf_err e;

	kf_err_clear(&e);
	assert_int_equal(kf_qmp_parse(text, strlen(text), &kind, v, &e), 0);
	assert_int_equal(kind, want);
}

static void parse_bad(const char *text, size_t len, const char *msg_part)
{
	enum kf_qmp_kind kind;
	struct kf_err e;
	json_t *v = (json_t *)1;

	kf_err_clear(&e);
	assert_int_equal(kf_qmp_parse(text, len, &kind, &v, &e), KF_EPARSE);
	assert_null(v);
	assert_non_null(strstr(e.msg, msg_part));
}

static void test_qmp_parse_classifies_the_four_kinds(void **state)
{
	json_t *v;
	(void)state;

	parse_ok("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}",
		 KF_QMP_GREETING, &v);
	assert_non_null(json_object_get(v, "version"));
	json_decref(v);
	parse_ok("{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": \"kf-2\"}",
		 KF_QMP_RETURN, &v);
	assert_string_equal(json_string_value(json_object_get(v, "status")), "running");
	json_decref(v);
	parse_ok("{\"return\": {}}", KF_QMP_RETURN, &v);
	json_decref(v);
	parse_ok("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such tag\"}}",
		 KF_QMP_ERROR, &v);
	{
		char *t = kf_qmp_error_text(v);
		assert_string_equal(t, "GenericError: no such tag");
		free(t);
	}
	json_decref(v);
	parse_ok("{\"event\": \"POWERDOWN\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
		 KF_QMP_EVENT, &v);
	assert_string_equal(json_string_value(json_object_get(v, "event")), "POWERDOWN");
	json_decref(v);
}

static void test_qmp_parse_refuses_what_is_not_a_qmp_message(void **state)
{
	static const char big_prefix[] = "{\"return\": \"";
	char *big;
	size_t n = KF_QMP_MAX_MSG + 10;
	(void)state;

	parse_bad("not json", 8, "not JSON");
	parse_bad("[1, 2]", 6, "not a JSON object");
	parse_bad("{\"hello\": 1}", 12, "none of return");
	parse_bad("{\"event\": 5}", 12, "none of return");
	parse_bad("{\"return\": 1, \"return\": 2}", 26, "not JSON");
	parse_bad("{\"return\": {}", 13, "not JSON");
	parse_bad("", 0, "not JSON");
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, big_prefix, sizeof(big_prefix) - 1);
	parse_bad(big, n, "over the");
	free(big);
}

/* ---- the client over a scripted peer ------------------------------------------------------ */

struct peer {
	int fd;
	const char *const *script; /* lines to send; "<" = read one client line first */
	char got[8][512];          /* client lines read */
	int n_got;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	for (const char *const *s = p->script; *s; s++) {
		if (strcmp(*s, "<") == 0) {
			char c;
			size_t n = 0;
			while (read(p->fd, &c, 1) == 1 && c != '\n')
				if (n + 1 < sizeof(p->got[0]) && p->n_got < 8)
					p->got[p->n_got][n++] = c;
			if (p->n_got < 8)
				p->got[p->n_got++][n] = '\0';
		} else if (strcmp(*s, "BIG") == 0) {
			/* 2 MiB without a line end */
			char chunk[4096];
			memset(chunk, 'x', sizeof(chunk));
			for (int i = 0; i < 512; i++)
				if (write(p->fd, chunk, sizeof(chunk)) < 0)
					break;
		} else if (strcmp(*s, "CLOSE") == 0) {
			shutdown(p->fd, SHUT_RDWR);
		} else if (write(p->fd, *s, strlen(*s)) < 0) {
			break;
		}
	}
	return NULL;
}

static const char greeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n";

static int open_with(const char *const *script, struct kf_qmp **q, struct peer *p,
		     pthread_t *th, int timeout_ms, struct kf_err *e)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(p, 0, sizeof(*p));
	p->fd = sv[1];
	p->script = script;
	assert_int_equal(pthread_create(th, NULL, peer_main, p), 0);
	kf_err_clear(e);
	return kf_qmp_open_fd(q, sv[0], timeout_ms, e);
}

static void finish(struct kf_qmp *q, struct peer *p, pthread_t th)
{
	kf_qmp_close(q);
	shutdown(p->fd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(p->fd);
}

/* Opens against a peer playing `script` and expects the open to fail with `code` and a message
 * holding `needle`; returns what the open left in its handle (NULL when it cleaned up). */
static struct kf_qmp *open_refused(const char *const *script, int timeout_ms, int code,
				   const char *needle)
{
	struct kf_qmp *q = (struct kf_qmp *)1;
	struct peer p;
	struct kf_err e;
	pthread_t th;

	assert_int_equal(open_with(script, &q, &p, &th, timeout_ms, &e), code);
	assert_non_null(strstr(e.msg, needle));
	finish(NULL, &p, th);
	return q;
}

static void test_qmp_client_negotiates_skips_events_and_matches_ids(void **state)
{
	static const char *const script[] = {
		greeting, "<", "{\"return\": {}, \"id\": \"kf-1\"}\r\n",
		"<",
		"{\"event\": \"RESUME\", \"timestamp\": {}}\r\n",
		"{\"return\": {\"status\": \"stale\"}, \"id\": \"other\"}\r\n",
		"{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": \"kf-2\"}\r\n",
		"<",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Snapshot 'x' not found\"}, "
		"\"id\": \"kf-3\"}\r\n",
		NULL
	};
	struct kf_qmp *q = NULL;
	struct peer p;
	struct kf_err e;
	pthread_t th;
	json_t *ret = NULL;
	(void)state;

	assert_int_equal(open_with(script, &q, &p, &th, 3000, &e), 0);
	assert_int_equal(kf_qmp_exec(q, "query-status", NULL, &ret, &e), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
	assert_true(kf_qmp_saw_event(q, "RESUME"));
	assert_false(kf_qmp_saw_event(q, "SHUTDOWN"));
	assert_int_equal(kf_qmp_exec(q, "snapshot-load", json_pack("{s:s}", "tag", "x"), NULL, &e),
			 KF_EFAIL);
	assert_string_equal(e.msg, "QMP snapshot-load: GenericError: Snapshot 'x' not found");
	finish(q, &p, th);
	assert_string_equal(p.got[0], "{\"execute\":\"qmp_capabilities\",\"id\":\"kf-1\"}");
	assert_string_equal(p.got[1], "{\"execute\":\"query-status\",\"id\":\"kf-2\"}");
	assert_string_equal(p.got[2], "{\"execute\":\"snapshot-load\",\"id\":\"kf-3\","
				      "\"arguments\":{\"tag\":\"x\"}}");
}

static void test_qmp_client_refuses_a_peer_that_does_not_greet(void **state)
{
	static const char *const script[] = { "{\"return\": {}}\r\n", NULL };
	(void)state;

	assert_null(open_refused(script, 2000, KF_EPARSE, "did not greet"));
}

static void test_qmp_client_bounds_an_endless_message(void **state)
{
	static const char *const script[] = { greeting, "<", "BIG", NULL };
	(void)state;

	assert_null(open_refused(script, 5000, KF_EPARSE, "longer than"));
}

static void test_qmp_client_refuses_garbage_answers(void **state)
{
	static const char *const script[] = { greeting, "<", "\x01\x02garbage\r\n", NULL };
	(void)state;

	assert_null(open_refused(script, 2000, KF_EPARSE,
				 "QMP qmp_capabilities: QMP message is not JSON"));
}

static void test_qmp_client_times_out_on_a_silent_peer(void **state)
{
	static const char *const script[] = { greeting, "<", NULL };
	(void)state;

	assert_null(open_refused(script, 300, KF_ETIMEOUT, "no answer within 300 ms"));
}

static void test_qmp_client_reports_a_closed_connection(void **state)
{
	static const char *const script[] = { greeting, "<", "CLOSE", NULL };
	(void)state;

	(void)open_refused(script, 2000, KF_EIO, "closed the connection");
}

static void test_qmp_open_reports_a_missing_socket(void **state)
{
	struct kf_qmp *q = (struct kf_qmp *)1;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_qmp_open(&q, "/nonexistent-kf-dir", "qmp.sock", 500, &e),
			 KF_ENOTFOUND);
	assert_null(q);
	assert_non_null(strstr(e.msg, "/nonexistent-kf-dir"));
}

/* ---- the definition file ------------------------------------------------------------------ */

static const char def_text[] =
	"{\"node\": \"k3s-master1\", \"cpus\": 2, \"memory_mb\": 2048, "
	"\"mac\": \"00:50:56:12:34:56\", \"disk\": \"k3s-master1.qcow2\", \"bridge\": \"k3sbr0\", "
	"\"media\": [\"/lab/iso/installer.iso\", \"/lab/iso/seed-k3s-master1.iso\"]}";

static void test_qemu_def_round_trips(void **state)
{
	struct kf_qemu_def a, b;
	struct kf_err e;
	char *text;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_qemu_def_parse(&a, def_text, strlen(def_text), &e), 0);
	assert_string_equal(a.node, "k3s-master1");
	assert_int_equal(a.cpus, 2);
	assert_int_equal(a.memory_mb, 2048);
	assert_int_equal(a.n_media, 2);
	assert_string_equal(a.media[1], "/lab/iso/seed-k3s-master1.iso");
	text = kf_qemu_def_dump(&a);
	assert_non_null(text);
	assert_int_equal(kf_qemu_def_parse(&b, text, strlen(text), &e), 0);
	assert_string_equal(b.mac, a.mac);
	assert_string_equal(b.disk, a.disk);
	assert_string_equal(b.bridge, a.bridge);
	assert_int_equal(b.n_media, 2);
	assert_string_equal(b.media[0], a.media[0]);
	free(text);
	kf_qemu_def_free(&a);
	kf_qemu_def_free(&b);
}

static void def_bad(const char *text, const char *msg_part)
{
	struct kf_qemu_def d;
	struct kf_err e;

	kf_err_clear(&e);
	assert_int_equal(kf_qemu_def_parse(&d, text, strlen(text), &e), KF_EPARSE);
	if (!strstr(e.msg, msg_part))
		fail_msg("'%s' lacks '%s'", e.msg, msg_part);
	assert_null(d.node);
	assert_int_equal(d.n_media, 0);
}

static void test_qemu_def_refuses_hostile_or_wrong_files(void **state)
{
	char *big;
	(void)state;

	def_bad("[]", "not a JSON object");
	def_bad("{\"node\": \"n\"", "not JSON");
	def_bad("{\"node\": \"n\", \"cpus\": 1, \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": [], \"extra\": 1}",
		"unknown key 'extra'");
	def_bad("{\"node\": \"n\", \"cpus\": \"2\", \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": []}", "'cpus' must be");
	def_bad("{\"node\": \"n\", \"cpus\": 1000, \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": []}", "out of range");
	def_bad("{\"node\": \"n\", \"cpus\": 1, \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"../../etc/passwd\", \"bridge\": \"br0\", \"media\": []}",
		"plain file names");
	def_bad("{\"node\": \"n\", \"cpus\": 1, \"memory_mb\": 512, \"mac\": \"01:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": []}", "not a unicast MAC");
	def_bad("{\"node\": \"n\", \"cpus\": 1, \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": [\"seed.iso\"]}",
		"media[0] is not an absolute path");
	def_bad("{\"node\": \"n\", \"cpus\": 1, \"memory_mb\": 512, \"mac\": \"00:50:56:00:00:01\", "
		"\"disk\": \"n.qcow2\", \"bridge\": \"br0\", \"media\": [\"/a\", \"/b\", \"/c\", \"/d\"]}",
		"at most 3");
	def_bad("{\"node\": \"n\\u0000x\", \"cpus\": 1, \"memory_mb\": 512, "
		"\"mac\": \"00:50:56:00:00:01\", \"disk\": \"n.qcow2\", \"bridge\": \"br0\", "
		"\"media\": []}", "not JSON");
	big = calloc(1, KF_QEMU_DEF_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', KF_QEMU_DEF_MAX + 1);
	def_bad(big, "over the");
	free(big);
}

/* ---- the command line --------------------------------------------------------------------- */

static bool has_pair(char **argv, const char *opt, const char *val)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], opt) == 0 && strcmp(argv[i + 1], val) == 0)
			return true;
	return false;
}

static void test_qemu_argv_boots_disk_first_on_a_tap_daemonized(void **state)
{
	struct kf_qemu_def d;
	struct kf_qemu_net net = { .tap = "kf0123456789ab" };
	struct kf_err e;
	char **argv;
	size_t n = 0;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_qemu_def_parse(&d, def_text, strlen(def_text), &e), 0);
	argv = kf_qemu_argv(&d, "/usr/bin/qemu-system-x86_64", "tcg", "/lab/vms/k3s-master1",
			    &net, NULL);
	assert_non_null(argv);
	assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
	assert_true(has_pair(argv, "-machine", "pc,accel=tcg"));
	assert_true(has_pair(argv, "-m", "2048"));
	assert_true(has_pair(argv, "-smp", "2"));
	assert_true(has_pair(argv, "-display", "none"));
	assert_true(has_pair(argv, "-blockdev", "driver=file,filename=/lab/vms/k3s-master1/"
						"k3s-master1.qcow2,node-name=disk0-file"));
	assert_true(has_pair(argv, "-device", "virtio-blk-pci,drive=disk0,bootindex=1"));
	assert_true(has_pair(argv, "-device", "ide-cd,id=cdrom0,drive=cd0,bus=ide.0,unit=0,bootindex=2"));
	assert_true(has_pair(argv, "-device", "ide-cd,id=cdrom1,drive=cd1,bus=ide.0,unit=1,bootindex=3"));
	assert_true(has_pair(argv, "-netdev", "tap,id=net0,ifname=kf0123456789ab,script=no,"
					      "downscript=no"));
	assert_true(has_pair(argv, "-device", "virtio-net-pci,netdev=net0,mac=00:50:56:12:34:56"));
	assert_true(has_pair(argv, "-serial", "file:/lab/vms/k3s-master1/console.log"));
	assert_true(has_pair(argv, "-pidfile", "/lab/vms/k3s-master1/qemu.pid"));
	assert_true(has_pair(argv, "-chardev", "socket,id=qmp,path=qmp.sock,server=on,wait=off"));
	while (argv[n])
		n++;
	assert_string_equal(argv[n - 1], "-daemonize");
	kf_qemu_argv_free(argv);

	net.tap = NULL;
	net.helper = "/usr/lib/qemu/qemu-bridge-helper";
	argv = kf_qemu_argv(&d, "qemu", "kvm", "/lab/vms/a,b", &net, "before-upgrade");
	assert_true(has_pair(argv, "-netdev", "bridge,id=net0,br=k3sbr0,helper=/usr/lib/qemu/"
					      "qemu-bridge-helper"));
	assert_true(has_pair(argv, "-cpu", "host"));
	assert_true(has_pair(argv, "-loadvm", "before-upgrade"));
	/* a comma in a path is doubled inside an option list */
	assert_true(has_pair(argv, "-blockdev", "driver=file,filename=/lab/vms/a,,b/"
						"k3s-master1.qcow2,node-name=disk0-file"));
	kf_qemu_argv_free(argv);
	kf_qemu_def_free(&d);
}

static void test_qemu_tap_name_fits_ifnamsiz_and_differs_per_folder(void **state)
{
	char a[16], b[16];
	(void)state;

	kf_qemu_tap_name(a, "/lab/vms/k3s-master1");
	kf_qemu_tap_name(b, "/lab/vms/k3s-worker1");
	assert_int_equal(strlen(a), 14);
	assert_memory_equal(a, "kf", 2);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qmp_parse_classifies_the_four_kinds),
		cmocka_unit_test(test_qmp_parse_refuses_what_is_not_a_qmp_message),
		cmocka_unit_test(test_qmp_client_negotiates_skips_events_and_matches_ids),
		cmocka_unit_test(test_qmp_client_refuses_a_peer_that_does_not_greet),
		cmocka_unit_test(test_qmp_client_bounds_an_endless_message),
		cmocka_unit_test(test_qmp_client_refuses_garbage_answers),
		cmocka_unit_test(test_qmp_client_times_out_on_a_silent_peer),
		cmocka_unit_test(test_qmp_client_reports_a_closed_connection),
		cmocka_unit_test(test_qmp_open_reports_a_missing_socket),
		cmocka_unit_test(test_qemu_def_round_trips),
		cmocka_unit_test(test_qemu_def_refuses_hostile_or_wrong_files),
		cmocka_unit_test(test_qemu_argv_boots_disk_first_on_a_tap_daemonized),
		cmocka_unit_test(test_qemu_tap_name_fits_ifnamsiz_and_differs_per_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
