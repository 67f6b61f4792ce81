/* Reading the cluster's health from kubectl's JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/cluster.h"

static const char *nodes_json =
	"{\"items\":["
	"{\"metadata\":{\"name\":\"k3s-master1\"},\"status\":{\"conditions\":["
	"{\"type\":\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	"{\"metadata\":{\"name\":\"k3s-worker1\"},\"status\":{\"conditions\":["
	"{\"type\":\"Ready\",\"status\":\"True\"}]}},"
	"{\"metadata\":{\"name\":\"k3s-worker2\"},\"status\":{\"conditions\":["
	"{\"type\":\"Ready\",\"status\":\"False\"}]}}]}";

static char *pod(const char *name, const char *phase, int ready)
{
	char *s = malloc(512);
	snprintf(s, 512,
		 "{\"metadata\":{\"name\":\"%s\"},\"status\":{\"phase\":\"%s\",\"containerStatuses\":"
		 "[{\"ready\":%s}]}}",
		 name, phase, ready ? "true" : "false");
	return s;
}

static char *pods(const char *const *names, const char *const *phases, const int *ready, int n)
{
	struct kf_buf b;
	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "{\"items\":[");
	for (int i = 0; i < n; i++) {
		char *p = pod(names[i], phases[i], ready[i]);
		kf_buf_printf(&b, "%s%s", i ? "," : "", p);
		free(p);
	}
	kf_buf_puts(&b, "]}");
	return kf_buf_detach(&b);
}

static struct kf_config *cfg(void)
{
	struct kf_config *c = NULL;
	assert_int_equal(kf_config_default(&c, NULL), 0);
	return c;
}

static void test_cluster_nodes_names_the_one_not_ready(void **state)
{
	struct kf_config *c = cfg();
	struct kf_check ck;
	(void)state;
	assert_int_equal(kf_cluster_parse_nodes(c, nodes_json, &ck, NULL), 0);
	assert_false(ck.ok);
	assert_string_equal(ck.detail, "k3s-worker2 not Ready");
	kf_config_free(c);
}

static void test_cluster_nodes_names_a_node_that_never_joined(void **state)
{
	struct kf_config *c = cfg();
	struct kf_check ck;
	const char *two = "{\"items\":[{\"metadata\":{\"name\":\"k3s-master1\"},\"status\":{"
			  "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}]}";
	(void)state;
	assert_int_equal(kf_cluster_parse_nodes(c, two, &ck, NULL), 0);
	assert_false(ck.ok);
	assert_string_equal(ck.detail, "k3s-worker1 not registered, k3s-worker2 not registered");
	kf_config_free(c);
}

static void test_cluster_system_pods_all_running(void **state)
{
	struct kf_config *c = cfg();
	const char *names[] = { "coredns-6799fbcd5-abcde", "traefik-7d5f6474df-x1", "svclb-traefik-1",
				"local-path-provisioner-6c86858495-z", "metrics-server-54fd9b65b-q",
				"helm-install-traefik-crd-xx" };
	const char *phases[] = { "Running", "Running", "Running", "Running", "Running", "Succeeded" };
	int ready[] = { 1, 1, 1, 1, 1, 0 };
	char *j = pods(names, phases, ready, 6);
	struct kf_check ck;
	(void)state;
	assert_int_equal(kf_cluster_parse_system_pods(c, j, &ck, NULL), 0);
	assert_true(ck.ok);
	free(j);
	kf_config_free(c);
}

static void test_cluster_system_pods_not_ready_and_missing_are_named(void **state)
{
	struct kf_config *c = cfg();
	const char *names[] = { "coredns-6799fbcd5-abcde", "traefik-7d5f6474df-x1" };
	const char *phases[] = { "Running", "Pending" };
	int ready[] = { 0, 0 };
	char *j = pods(names, phases, ready, 2);
	struct kf_check ck;
	(void)state;
	assert_int_equal(kf_cluster_parse_system_pods(c, j, &ck, NULL), 0);
	assert_false(ck.ok);
	assert_string_equal(ck.detail, "coredns not running (Running, not ready), traefik not running "
				       "(Pending), local-storage not running (no pod), metrics-server "
				       "not running (no pod), svclb not running (no pod)");
	free(j);
	kf_config_free(c);
}

static void test_cluster_system_pods_say_why_a_pod_waits(void **state)
{
	struct kf_config *c = cfg();
	/* the seeds' failure: the sandbox (pause) image cannot be pulled in the air gap */
	const char *j =
		"{\"items\":[{\"metadata\":{\"name\":\"coredns-6799fbcd5-abcde\"},\"status\":{"
		"\"phase\":\"Pending\",\"containerStatuses\":[{\"ready\":false,\"state\":{\"waiting\":"
		"{\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off pulling image "
		"\\\"rancher/mirrored-coredns-coredns:1.12.1\\\"\"}}}]}}]}";
	struct kf_check ck;
	(void)state;
	c->k3s.disable = calloc(4, sizeof(char *));
	c->k3s.disable[0] = strdup("traefik");
	c->k3s.disable[1] = strdup("local-storage");
	c->k3s.disable[2] = strdup("metrics-server");
	c->k3s.n_disable = 3;
	assert_int_equal(kf_cluster_parse_system_pods(c, j, &ck, NULL), 0);
	assert_false(ck.ok);
	assert_string_equal(ck.detail, "coredns not running (Pending: ImagePullBackOff: Back-off "
				       "pulling image \"rancher/mirrored-coredns-coredns:1.12.1\")");
	kf_config_free(c);
}

static void test_cluster_system_pods_honour_the_disable_list(void **state)
{
	struct kf_config *c = cfg();
	const char *names[] = { "coredns-1", "local-path-provisioner-2", "metrics-server-3" };
	const char *phases[] = { "Running", "Running", "Running" };
	int ready[] = { 1, 1, 1 };
	char *j = pods(names, phases, ready, 3);
	struct kf_check ck;
	(void)state;
	/* traefik off: neither traefik nor its svclb pods are expected. */
	c->k3s.disable = calloc(1, sizeof(char *));
	c->k3s.disable[0] = strdup("traefik");
	c->k3s.n_disable = 1;
	assert_int_equal(kf_cluster_parse_system_pods(c, j, &ck, NULL), 0);
	assert_true(ck.ok);
	free(j);
	kf_config_free(c);
}

static void test_cluster_kubesphere_pods(void **state)
{
	const char *names[] = { "ks-apiserver-5f8c-1", "ks-console-7d9-2", "ks-controller-manager-3" };
	const char *phases[] = { "Running", "Running", "Running" };
	int ready[] = { 1, 0, 1 };
	char *j = pods(names, phases, ready, 3);
	struct kf_check ck;
	(void)state;
	assert_int_equal(kf_cluster_parse_kubesphere_pods(j, &ck, NULL), 0);
	assert_false(ck.ok);
	assert_string_equal(ck.detail, "ks-console not running (Running, not ready)");
	free(j);
}

static void test_cluster_rejects_what_is_not_kubectl_json(void **state)
{
	struct kf_config *c = cfg();
	struct kf_check ck;
	struct kf_err err;
	(void)state;
	assert_int_equal(kf_cluster_parse_nodes(c, "error: the server doesn't have a resource", &ck,
						&err),
			 KF_EPARSE);
	assert_non_null(strstr(err.msg, "get nodes"));
	kf_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_nodes_names_the_one_not_ready),
		cmocka_unit_test(test_cluster_nodes_names_a_node_that_never_joined),
		cmocka_unit_test(test_cluster_system_pods_all_running),
		cmocka_unit_test(test_cluster_system_pods_not_ready_and_missing_are_named),
		cmocka_unit_test(test_cluster_system_pods_say_why_a_pod_waits),
		cmocka_unit_test(test_cluster_system_pods_honour_the_disable_list),
		cmocka_unit_test(test_cluster_kubesphere_pods),
		cmocka_unit_test(test_cluster_rejects_what_is_not_kubectl_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
