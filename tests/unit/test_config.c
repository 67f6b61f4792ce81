/* k3sforge.yaml loading: good files, every kind of bad value with its exact message and
 * position, hostile input, kf_config_check collecting every problem, and config show
 * round-tripping with secrets masked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/buf.h"
#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"

#define NODE(name, role, ip) "  - name: " name "\n    role: " role "\n    ip: " ip "\n"
/* The lab's three nodes: lines 2-4, 5-7, 8-10 after a "nodes:" line 1. */
#define LAB_NODES                                                                                  \
	"nodes:\n" NODE("k3s-master1", "master", "192.168.6.10")                                   \
		NODE("k3s-worker1", "worker", "192.168.6.11")                                      \
			NODE("k3s-worker2", "worker", "192.168.6.12")

static struct kf_config *load_ok(const char *yaml)
{
	struct kf_config *c = NULL;
	struct kf_err e;

	kf_err_clear(&e);
	if (kf_config_load_mem(&c, "t.yaml", yaml, strlen(yaml), &e) != 0)
		fail_msg("expected a valid configuration, got: %s", e.msg);
	assert_non_null(c);
	return c;
}

static void expect_bad_len(const char *yaml, size_t len, const char *msg)
{
	struct kf_config *c = NULL;
	struct kf_err e;
	int r;

	kf_err_clear(&e);
	r = kf_config_load_mem(&c, "t.yaml", yaml, len, &e);
	assert_int_equal(r, KF_ECONFIG);
	assert_null(c);
	assert_string_equal(e.msg, msg);
}

static void expect_bad(const char *yaml, const char *msg)
{
	expect_bad_len(yaml, strlen(yaml), msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Good files                                                                                */

static void test_config_loads_the_example_lab(void **state)
{
	struct kf_config *c = NULL;
	struct kf_err e;
	const struct kf_node *m;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_load(&c, KF_SOURCE_DIR "/examples/lab.yaml", &e), 0);
	assert_string_equal(c->cluster_name, "lab");
	assert_string_equal(c->k3s.version, "v1.33.4+k3s1");
	assert_string_equal(c->k3s.pause_image, "rancher/mirrored-pause:3.6");
	assert_string_equal(c->network.vmnet, "VMnet1");
	assert_string_equal(c->network.subnet, "192.168.6.0/24");
	assert_string_equal(c->registry.host_ip, "192.168.6.1");
	assert_int_equal(c->registry.port, 5000);
	assert_int_equal(c->n_nodes, 3);
	m = kf_config_master(c);
	assert_non_null(m);
	assert_string_equal(m->name, "k3s-master1");
	assert_string_equal(m->ip, "192.168.6.10");
	assert_int_equal(m->memory_mb, 4096);
	assert_string_equal(kf_config_node(c, "k3s-worker2")->ip, "192.168.6.12");
	assert_string_equal(c->guest.timezone, "Asia/Seoul");
	assert_true(c->addons.kubesphere);
	assert_string_equal(c->addons.kubesphere_version, "v4.1.3");
	assert_string_equal(c->images.list_file, KF_SOURCE_DIR "/examples/images.txt");
	/* the add-ons only: k3s's own images come from the release's k3s-images.txt */
	assert_int_equal(c->images.n_refs, 5);
	assert_string_equal(c->images.refs[0].source, "docker.io/kubesphere/ks-apiserver:v4.1.3");
	assert_string_equal(c->paths.ubuntu_iso,
			    KF_SOURCE_DIR "/examples/ubuntu-22.04.5-live-server-amd64.iso");
	assert_int_equal(c->timeouts.wait_s, 1200);
	kf_config_free(c);
}

/* The default pin is the release; the seeds' release candidate stays accepted. */
static void test_config_defaults_to_the_k3s_release_and_accepts_its_rc(void **state)
{
	struct kf_config *c = load_ok("# nothing set\n"), *rc;
	(void)state;
	assert_string_equal(c->k3s.version, "v1.33.4+k3s1");
	rc = load_ok("k3s:\n  version: v1.33.4-rc1+k3s1\n");
	assert_string_equal(rc->k3s.version, "v1.33.4-rc1+k3s1");
	kf_config_free(rc);
	kf_config_free(c);
}

/* No extra package by default (the ISO decides what can be installed offline); guest.debs is
 * a directory, none by default. */
static void test_config_guest_packages_default_to_none_and_debs_is_a_directory(void **state)
{
	struct kf_config *c = load_ok("# nothing set\n"), *d;
	(void)state;
	assert_int_equal(c->guest.n_packages, 0);
	assert_null(c->guest.debs);
	d = load_ok("guest:\n  debs: /srv/lab-debs\n");
	assert_string_equal(d->guest.debs, "/srv/lab-debs");
	kf_config_free(d);
	kf_config_free(c);
}

static void test_config_empty_file_gives_the_lab_defaults(void **state)
{
	struct kf_config *c = load_ok("# nothing set\n");
	(void)state;
	assert_string_equal(c->cluster_name, "lab");
	assert_int_equal(c->n_nodes, 3);
	assert_string_equal(c->nodes[1].name, "k3s-worker1");
	assert_string_equal(c->nodes[1].ip, "192.168.6.11");
	assert_string_equal(c->network.gateway, "192.168.6.1");
	assert_string_equal(c->registry.listen, "0.0.0.0:5000");
	assert_int_equal(c->images.n_refs, 0);
	kf_config_free(c);
}

static void test_config_minimal_file_fills_node_defaults(void **state)
{
	struct kf_config *c = load_ok("nodes:\n  - {name: m, role: master, ip: 192.168.6.10}\n");
	(void)state;
	assert_int_equal(c->n_nodes, 1);
	assert_int_equal(c->nodes[0].role, KF_ROLE_MASTER);
	assert_int_equal(c->nodes[0].cpus, 2);
	assert_int_equal(c->nodes[0].memory_mb, 4096);
	assert_int_equal(c->nodes[0].disk_gb, 40);
	assert_null(c->nodes[0].mac);
	assert_null(c->nodes[0].ssh_host);
	assert_int_equal(c->nodes[0].ssh_port, 22);
	assert_int_equal(c->nodes[0].line, 2);
	kf_config_free(c);
}

static void test_config_loads_thirty_nodes(void **state)
{
	struct kf_buf b;
	struct kf_config *c;
	(void)state;

	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "nodes:\n  - {name: master, role: master, ip: 192.168.6.10}\n");
	for (int i = 1; i < 30; i++)
		kf_buf_printf(&b, "  - {name: worker%d, ip: 192.168.6.%d, cpus: 4, memory: 8GiB}\n",
			      i, 10 + i);
	c = load_ok(kf_buf_str(&b));
	assert_int_equal(c->n_nodes, 30);
	assert_string_equal(c->nodes[29].name, "worker29");
	assert_string_equal(c->nodes[29].ip, "192.168.6.39");
	assert_int_equal(c->nodes[29].role, KF_ROLE_WORKER);
	assert_int_equal(c->nodes[29].memory_mb, 8192);
	assert_int_equal(c->nodes[29].line, 31);
	kf_config_free(c);
	kf_buf_free(&b);
}

static void test_config_ssh_overrides_where_nodes_are_reached(void **state)
{
	struct kf_config *c = load_ok("nodes:\n"
				      "  - {name: m, role: master, ip: 192.168.6.10, ssh: 127.0.0.1:2222}\n"
				      "  - {name: w, ip: 192.168.6.11, ssh: jump.example}\n"
				      "  - {name: x, ip: 192.168.6.12}\n");
	(void)state;
	assert_string_equal(c->nodes[0].ssh_host, "127.0.0.1");
	assert_int_equal(c->nodes[0].ssh_port, 2222);
	assert_string_equal(c->nodes[1].ssh_host, "jump.example");
	assert_int_equal(c->nodes[1].ssh_port, 22);
	assert_null(c->nodes[2].ssh_host);
	kf_config_free(c);
}

static void test_config_reads_durations_in_every_form(void **state)
{
	struct kf_config *c = load_ok("timeouts:\n  wait: 1h30m\n  ssh_connect: 15\n"
				      "  finalize: 20m\n  vmrun: 90s\n  download: 1h\n");
	(void)state;
	assert_int_equal(c->timeouts.wait_s, 5400);
	assert_int_equal(c->timeouts.ssh_connect_s, 15);
	assert_int_equal(c->timeouts.finalize_s, 1200);
	assert_int_equal(c->timeouts.vmrun_s, 90);
	assert_int_equal(c->timeouts.download_s, 3600);
	kf_config_free(c);
}

static void test_config_reads_sizes_in_every_form(void **state)
{
	struct kf_config *c = load_ok("nodes:\n"
				      "  - {name: a, role: master, ip: 192.168.6.10, memory: 4096, disk: 40}\n"
				      "  - {name: b, ip: 192.168.6.11, memory: 6144MiB, disk: 50GiB}\n"
				      "  - {name: c, ip: 192.168.6.12, memory: 8GiB, disk: 1TiB}\n"
				      "  - {name: d, ip: 192.168.6.13, memory: 2G, disk: 60G}\n"
				      "  - {name: e, ip: 192.168.6.14, memory: 3072M, disk: 2T}\n");
	(void)state;
	assert_int_equal(c->nodes[0].memory_mb, 4096);
	assert_int_equal(c->nodes[0].disk_gb, 40);
	assert_int_equal(c->nodes[1].memory_mb, 6144);
	assert_int_equal(c->nodes[1].disk_gb, 50);
	assert_int_equal(c->nodes[2].memory_mb, 8192);
	assert_int_equal(c->nodes[2].disk_gb, 1024);
	assert_int_equal(c->nodes[3].memory_mb, 2048);
	assert_int_equal(c->nodes[3].disk_gb, 60);
	assert_int_equal(c->nodes[4].memory_mb, 3072);
	assert_int_equal(c->nodes[4].disk_gb, 2048);
	kf_config_free(c);
}

static void test_config_subnet_moves_the_defaults_inside_it(void **state)
{
	struct kf_config *c = load_ok("network:\n  subnet: 10.20.0.0/16\n");
	(void)state;
	assert_string_equal(c->network.gateway, "10.20.0.1");
	assert_string_equal(c->network.dns[0], "10.20.0.1");
	assert_string_equal(c->registry.host_ip, "10.20.0.1");
	assert_string_equal(c->nodes[0].ip, "10.20.0.10");
	assert_string_equal(c->nodes[2].ip, "10.20.0.12");
	assert_int_equal(c->network.prefix, 16);
	assert_int_equal(c->network.subnet_addr, (10u << 24) | (20u << 16));
	kf_config_free(c);
}

static void test_config_reads_the_image_list_file_and_inline_images(void **state)
{
	struct kf_config *c = NULL;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	if (kf_config_load(&c, KF_TESTS_DIR "/data/config/list-good.yaml", &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(c->images.n_refs, 6);
	assert_string_equal(c->images.refs[0].source, "rancher/mirrored-pause:3.6");
	assert_null(c->images.refs[0].target);
	assert_string_equal(c->images.refs[1].source, "docker.io/library/busybox:1.36");
	assert_string_equal(c->images.refs[1].target, "library/busybox:1.36");
	assert_string_equal(c->images.refs[2].source, "docker.io/rancher/klipper-lb:v0.4.13");
	assert_int_equal(c->images.refs[2].line, 3);
	assert_string_equal(c->images.refs[2].file, KF_TESTS_DIR "/data/config/list-good.txt");
	assert_string_equal(c->images.refs[3].target, "jetstack/cert-manager-controller:v1.15.3");
	assert_string_equal(c->images.refs[4].source,
			    "registry.k8s.io/pause@sha256:"
			    "7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097");
	assert_string_equal(c->images.refs[5].source, "localhost:5000/team/app_x:1.0-rc.1");
	kf_config_free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Bad files: exact message and position                                                    */

static void test_config_reports_yaml_syntax_error_with_position(void **state)
{
	(void)state;
	expect_bad("network:\n  dns: [1.1.1.1, 8.8.8.8\nnodes: []\n",
		   "t.yaml:3:6: YAML syntax error: did not find expected ',' or ']' (while parsing "
		   "a flow sequence that starts at line 2)");
}

static void test_config_hints_at_tab_indentation(void **state)
{
	(void)state;
	expect_bad("cluster:\n\tname: lab\n",
		   "t.yaml:2:1: YAML syntax error: found character that cannot start any token "
		   "(while scanning for the next token that starts at line 2); indent with spaces, "
		   "not tabs");
}

static void test_config_rejects_unknown_top_level_key_with_suggestion(void **state)
{
	(void)state;
	expect_bad("clustr:\n  name: lab\n",
		   "t.yaml:1:1: unknown key 'clustr' in the top level (did you mean 'cluster'?)");
}

static void test_config_rejects_unknown_key_listing_the_known_ones(void **state)
{
	(void)state;
	expect_bad("network:\n  bandwidth: 1G\n",
		   "t.yaml:2:3: unknown key 'bandwidth' in network (known keys: vmnet, subnet, "
		   "gateway, dns)");
}

static void test_config_rejects_misspelt_node_key(void **state)
{
	(void)state;
	expect_bad("nodes:\n  - name: m\n    role: master\n    ip: 192.168.6.10\n    memroy: 4096\n",
		   "t.yaml:5:5: unknown key 'memroy' in nodes[0] (did you mean 'memory'?)");
}

static void test_config_rejects_list_where_mapping_expected(void **state)
{
	(void)state;
	expect_bad("network: [VMnet1]\n",
		   "t.yaml:1:10: network must be a mapping (key: value lines), not a list");
}

static void test_config_rejects_string_where_number_expected(void **state)
{
	(void)state;
	expect_bad("registry:\n  port: five-thousand\n",
		   "t.yaml:2:9: registry.port must be a whole number, not 'five-thousand'");
}

static void test_config_rejects_mapping_where_value_expected(void **state)
{
	(void)state;
	expect_bad("k3s:\n  version: {major: 1}\n",
		   "t.yaml:2:12: k3s.version must be a single value, not a mapping");
}

static void test_config_rejects_single_value_where_list_expected(void **state)
{
	(void)state;
	expect_bad("network:\n  dns: 192.168.6.1\n",
		   "t.yaml:2:8: network.dns must be a list ([a, b] or '- a' lines), not a single "
		   "value");
}

static void test_config_rejects_bad_ip(void **state)
{
	(void)state;
	expect_bad("network:\n  gateway: 192.168.6.300\n",
		   "t.yaml:2:12: network.gateway '192.168.6.300' is not an IPv4 address like "
		   "192.168.6.1");
}

static void test_config_rejects_bad_cidr(void **state)
{
	(void)state;
	expect_bad("network:\n  subnet: 192.168.6.0\n",
		   "t.yaml:2:11: network.subnet '192.168.6.0' is not a CIDR like 192.168.6.0/24");
}

static void test_config_rejects_subnet_with_host_bits(void **state)
{
	(void)state;
	expect_bad("network:\n  subnet: 192.168.6.7/24\n",
		   "t.yaml:2:11: network.subnet 192.168.6.7/24 has host bits set (did you mean "
		   "192.168.6.0/24?)");
}

static void test_config_rejects_subnet_prefix_out_of_range(void **state)
{
	(void)state;
	expect_bad("network:\n  subnet: 192.168.6.0/31\n",
		   "t.yaml:2:11: network.subnet 192.168.6.0/31: prefix length /31 is out of range "
		   "/8../29");
}

static void test_config_rejects_node_ip_outside_subnet(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("k3s-master1", "master", "192.168.6.10")
			   NODE("k3s-worker1", "worker", "192.168.6.11")
				   NODE("k3s-worker2", "worker", "192.168.7.12"),
		   "t.yaml:10:9: nodes[2].ip 192.168.7.12 is outside network.subnet 192.168.6.0/24");
}

static void test_config_rejects_node_on_network_address(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.0"),
		   "t.yaml:4:9: nodes[0].ip 192.168.6.0 is the network address of 192.168.6.0/24; "
		   "use a host address");
}

static void test_config_rejects_node_on_broadcast_address(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.255"),
		   "t.yaml:4:9: nodes[0].ip 192.168.6.255 is the broadcast address of "
		   "192.168.6.0/24; use a host address");
}

static void test_config_rejects_node_ip_equal_to_gateway(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.1"),
		   "t.yaml:4:9: nodes[0].ip 192.168.6.1 is the gateway (network.gateway); pick "
		   "another address");
}

static void test_config_rejects_node_ip_equal_to_registry(void **state)
{
	(void)state;
	expect_bad("registry:\n  host_ip: 192.168.6.2\n" "nodes:\n" NODE("m", "master", "192.168.6.2"),
		   "t.yaml:6:9: nodes[0].ip 192.168.6.2 is the registry's address "
		   "(registry.host_ip); pick another address");
}

static void test_config_rejects_duplicate_node_name(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("k3s-master1", "master", "192.168.6.10")
			   NODE("k3s-master1", "worker", "192.168.6.11"),
		   "t.yaml:5:11: nodes[1].name 'k3s-master1' is already used by nodes[0] at line 2");
}

static void test_config_rejects_duplicate_node_ip(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("a", "master", "192.168.6.10") NODE("b", "worker", "192.168.6.10"),
		   "t.yaml:7:9: nodes[1].ip 192.168.6.10 is already used by nodes[0] 'a' at line 2");
}

static void test_config_rejects_duplicate_node_mac(void **state)
{
	(void)state;
	expect_bad("nodes:\n"
		   "  - {name: a, role: master, ip: 192.168.6.10, mac: \"00:50:56:00:00:10\"}\n"
		   "  - {name: b, ip: 192.168.6.11, mac: \"00:50:56:00:00:10\"}\n",
		   "t.yaml:3:38: nodes[1].mac 00:50:56:00:00:10 is already used by nodes[0] 'a' at "
		   "line 2");
}

static void test_config_rejects_duplicate_ssh_endpoint(void **state)
{
	(void)state;
	expect_bad("nodes:\n"
		   "  - {name: a, role: master, ip: 192.168.6.10, ssh: \"127.0.0.1:2222\"}\n"
		   "  - {name: b, ip: 192.168.6.11, ssh: \"127.0.0.1:2222\"}\n",
		   "t.yaml:3:38: nodes[1].ssh 127.0.0.1:2222 is already where nodes[0] 'a' (line 2) "
		   "is reached");
}

static void test_config_rejects_nodes_without_master(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("a", "worker", "192.168.6.10") NODE("b", "worker", "192.168.6.11"),
		   "t.yaml:2:3: nodes: no master; mark one node with role: master");
}

static void test_config_rejects_second_master(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("a", "master", "192.168.6.10") NODE("b", "master", "192.168.6.11"),
		   "t.yaml:6:11: nodes[1] is a second master (nodes[0] 'a' at line 2 is one): only "
		   "one master is supported");
}

static void test_config_rejects_unknown_role_with_suggestion(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("a", "mastr", "192.168.6.10"),
		   "t.yaml:3:11: nodes[0].role 'mastr' is not a node role (did you mean 'master'?); "
		   "use master or worker");
}

static void test_config_rejects_invalid_node_name(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("K3s_Master", "master", "192.168.6.10"),
		   "t.yaml:2:11: nodes[0].name 'K3s_Master' is not a valid host name: use 1 to 63 of "
		   "a-z, 0-9 and '-', not starting or ending with '-'");
}

static void test_config_rejects_invalid_cluster_name(void **state)
{
	(void)state;
	expect_bad("cluster: { name: my-lab- }\n",
		   "t.yaml:1:18: cluster.name 'my-lab-' is not a valid name: use 1 to 40 of a-z, 0-9 "
		   "and '-', not starting or ending with '-'");
}

static void test_config_rejects_node_without_ip(void **state)
{
	(void)state;
	expect_bad("nodes:\n  - name: m\n    role: master\n",
		   "t.yaml:2:5: nodes[0] has no ip; every node needs name: and ip:");
}

static void test_config_rejects_cpus_out_of_range(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    cpus: 65\n",
		   "t.yaml:5:11: nodes[0].cpus 65 is out of range 1..64");
}

static void test_config_rejects_memory_out_of_range(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    memory: 512MiB\n",
		   "t.yaml:5:13: nodes[0].memory 512 MiB is out of range 1024..262144 MiB");
}

/* VMware's memsize must be a multiple of 4 MiB (GNS3 refuses others, vmware_gns3_vm.py:68-70). */
static void test_config_rejects_memory_not_multiple_of_4(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    memory: 4097\n",
		   "t.yaml:5:13: nodes[0].memory 4097 MiB is not a multiple of 4 MiB, which VMware "
		   "requires for memsize: use 4096 or 4100");
}

static void test_config_rejects_memory_with_unknown_unit(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    memory: 4GB\n",
		   "t.yaml:5:13: nodes[0].memory '4GB' is not a size: use MiB (4096), or 4096MiB, "
		   "4GiB");
}

static void test_config_rejects_disk_out_of_range(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    disk: 5GiB\n",
		   "t.yaml:5:11: nodes[0].disk 5 GiB is out of range 10..4096 GiB");
}

static void test_config_rejects_gateway_outside_subnet(void **state)
{
	(void)state;
	expect_bad("network:\n  subnet: 192.168.6.0/24\n  gateway: 192.168.7.1\n",
		   "t.yaml:3:12: network.gateway 192.168.7.1 is outside network.subnet "
		   "192.168.6.0/24");
}

static void test_config_rejects_registry_outside_subnet(void **state)
{
	(void)state;
	expect_bad("registry:\n  host_ip: 10.0.0.1\n",
		   "t.yaml:2:12: registry.host_ip 10.0.0.1 is outside network.subnet 192.168.6.0/24");
}

static void test_config_accepts_plain_http_source_registry_on_loopback(void **state)
{
	struct kf_config *c;
	(void)state;

	c = load_ok("images:\n  source_registry: http://127.0.0.1:5001\n");
	assert_string_equal(c->images.source_registry, "http://127.0.0.1:5001");
	kf_config_free(c);
	c = load_ok("images:\n  source_registry: http://localhost:5001\n");
	assert_string_equal(c->images.source_registry, "http://localhost:5001");
	kf_config_free(c);
}

static void test_config_rejects_plain_http_source_registry_off_loopback(void **state)
{
	(void)state;
	expect_bad("images:\n  source_registry: http://mirror.example.com:5000\n",
		   "t.yaml:2:20: images.source_registry 'http://mirror.example.com:5000': plain http "
		   "is allowed only for a loopback registry (http://127.0.0.1:5001); give host[:port] "
		   "for TLS");
}

static void test_config_rejects_bad_duration(void **state)
{
	(void)state;
	expect_bad("timeouts:\n  wait: 20 minutes\n",
		   "t.yaml:2:9: timeouts.wait '20 minutes' is not a duration (use 90s, 20m, 1h, 1h30m "
		   "or seconds)");
}

static void test_config_rejects_duration_out_of_range(void **state)
{
	(void)state;
	expect_bad("timeouts:\n  ssh_connect: 1h\n",
		   "t.yaml:2:16: timeouts.ssh_connect 1h is out of range 1s..10m");
}

static void test_config_rejects_malformed_mac(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    mac: 00:50:56:zz:00:10\n",
		   "t.yaml:5:10: nodes[0].mac '00:50:56:zz:00:10' is not a MAC address like "
		   "00:50:56:00:00:10");
}

static void test_config_rejects_mac_outside_vmware_static_range(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    mac: 00:50:56:40:00:10\n",
		   "t.yaml:5:10: nodes[0].mac 00:50:56:40:00:10 is outside VMware's static range "
		   "00:50:56:00:00:00-00:50:56:3f:ff:ff (VMware refuses other static addresses)");
}

static void test_config_rejects_bad_timezone(void **state)
{
	(void)state;
	expect_bad("guest:\n  timezone: Seoul\n",
		   "t.yaml:2:13: guest.timezone 'Seoul' is not an Area/Location time zone like "
		   "Asia/Seoul or UTC");
}

static void test_config_rejects_missing_image_list_file(void **state)
{
	(void)state;
	expect_bad("images:\n  list: /nonexistent/k3sforge-test/images.txt\n",
		   "t.yaml:2:9: images.list: /nonexistent/k3sforge-test/images.txt not found "
		   "(relative paths are taken from the config file's directory); create it or fix "
		   "the path");
}

static void test_config_rejects_duplicate_key(void **state)
{
	(void)state;
	expect_bad("cluster:\n  name: lab\n  name: lab2\n",
		   "t.yaml:3:3: duplicate key 'name' (first at line 2); keep one");
}

static void test_config_rejects_bad_k3s_version(void **state)
{
	(void)state;
	expect_bad("k3s:\n  version: 1.33.4\n",
		   "t.yaml:2:12: k3s.version '1.33.4' is not a k3s release like v1.33.4+k3s1 or "
		   "v1.33.4-rc1+k3s1");
}

static void test_config_rejects_unknown_disabled_component(void **state)
{
	(void)state;
	expect_bad("k3s:\n  disable: [servicelb, trafik]\n",
		   "t.yaml:2:24: k3s.disable[1] 'trafik' is not a packaged k3s component (did you "
		   "mean 'traefik'?); use coredns, servicelb, traefik, local-storage or "
		   "metrics-server");
}

static void test_config_host_checks_default_enforce_and_warn_on_request(void **state)
{
	struct kf_config *a = load_ok("cluster: { name: a }\n");
	struct kf_config *b = load_ok("vmware: { host_checks: warn }\n");
	(void)state;

	assert_false(a->vmware.host_checks_warn);
	assert_true(b->vmware.host_checks_warn);
	kf_config_free(a);
	kf_config_free(b);
	expect_bad("vmware: { host_checks: ignore }\n",
		   "t.yaml:1:24: vmware.host_checks 'ignore' is not a host check mode; use enforce "
		   "or warn");
}

static void test_config_hypervisor_defaults_to_vmware_and_takes_qemu(void **state)
{
	struct kf_config *a = load_ok("cluster: { name: a }\n");
	struct kf_config *b = load_ok("hypervisor: qemu\n");
	(void)state;

	assert_int_equal(a->hypervisor, KF_HV_VMWARE);
	assert_string_equal(a->qemu.binary, "auto");
	assert_string_equal(a->qemu.accel, "auto");
	assert_string_equal(a->qemu.bridge, "k3sbr0");
	assert_string_equal(a->qemu.bridge_helper, "auto");
	assert_null(a->guest.image);
	assert_int_equal(b->hypervisor, KF_HV_QEMU);
	kf_config_free(a);
	kf_config_free(b);
}

static void test_config_rejects_unknown_hypervisor(void **state)
{
	(void)state;
	expect_bad("hypervisor: kvm\n",
		   "t.yaml:1:13: hypervisor 'kvm' is not a hypervisor; use vmware or qemu");
	expect_bad("hypervisor: [qemu]\n",
		   "t.yaml:1:13: hypervisor must be vmware or qemu, not a list");
}

static void test_config_rejects_unknown_qemu_accel(void **state)
{
	(void)state;
	expect_bad("qemu: { accel: hvf }\n",
		   "t.yaml:1:16: qemu.accel 'hvf' is not a QEMU accelerator (did you mean 'kvm'?); "
		   "use auto, kvm or tcg");
}

static void test_config_rejects_qemu_bridge_that_is_no_interface_name(void **state)
{
	(void)state;
	expect_bad("qemu: { bridge: k3s-lab-bridge-0 }\n",
		   "t.yaml:1:17: qemu.bridge 'k3s-lab-bridge-0' is not a network interface name "
		   "(1 to 15 characters, no '/', ':' or spaces)");
	expect_bad("qemu: { bridge: \"br 0\" }\n",
		   "t.yaml:1:17: qemu.bridge 'br 0' is not a network interface name "
		   "(1 to 15 characters, no '/', ':' or spaces)");
}

static void test_config_rejects_unknown_qemu_key(void **state)
{
	(void)state;
	expect_bad("qemu: { machine: q35 }\n",
		   "t.yaml:1:9: unknown key 'machine' in qemu (known keys: binary, accel, bridge, "
		   "bridge_helper)");
}

static void test_config_resolves_qemu_paths_and_guest_image_next_to_the_file(void **state)
{
	struct kf_config *c = load_ok("qemu: { binary: bin/qemu, bridge_helper: auto }\n"
				      "guest: { image: img/jammy.img }\n");
	(void)state;

	assert_true(c->qemu.binary[0] == '/');
	assert_non_null(strstr(c->qemu.binary, "/bin/qemu"));
	assert_string_equal(c->qemu.bridge_helper, "auto");
	assert_true(c->guest.image[0] == '/');
	assert_non_null(strstr(c->guest.image, "/img/jammy.img"));
	kf_config_free(c);
}

static void test_config_refuses_guest_packages_in_image_mode(void **state)
{
	(void)state;
	expect_bad("guest:\n  image: jammy.img\n  packages: [htop]\n",
		   "t.yaml:3:13: guest.packages cannot be installed in image mode (guest.image at "
		   "line 2): the cloud image boots without an installer and the lab has no package "
		   "source; remove guest.packages, or remove guest.image to install from the Ubuntu "
		   "ISO");
	expect_bad("guest:\n  image: jammy.img\n  debs: debs\n",
		   "t.yaml:3:9: guest.debs are installed by the installer, which image mode "
		   "(guest.image at line 2) does not run; remove guest.debs, or remove guest.image "
		   "to install from the Ubuntu ISO");
}

static void test_config_accepts_empty_packages_in_image_mode(void **state)
{
	struct kf_config *c = load_ok("guest: { image: jammy.img, packages: [] }\n");
	(void)state;
	assert_non_null(c->guest.image);
	kf_config_free(c);
}

static void test_config_rejects_images_from_registries_not_mirrored(void **state)
{
	(void)state;
	/* the nodes pull by the image's own name; only registry.mirrors reach the lab registry */
	expect_bad("registry: { mirrors: [docker.io] }\nimages:\n  inline:\n    - quay.io/a/b:1\n",
		   "t.yaml:4:7: images.inline[0]: quay.io/a/b:1 comes from quay.io, which is not in "
		   "registry.mirrors: the nodes could never pull it; add quay.io to registry.mirrors");
	expect_bad("registry: { mirrors: [quay.io] }\nk3s: { pause_image: rancher/mirrored-pause:3.6 }\n",
		   "t.yaml:2:21: k3s.pause_image rancher/mirrored-pause:3.6 comes from docker.io, which "
		   "is not in registry.mirrors: no pod could start; add docker.io to registry.mirrors");
}

static void test_config_accepts_unmirrored_source_with_a_lab_target(void **state)
{
	struct kf_config *c = load_ok("registry: { mirrors: [docker.io] }\nimages:\n  inline:\n"
				      "    - \"quay.io/a/b:1 library/b:1\"\n");
	(void)state;
	assert_int_equal(c->images.n_refs, 1);
	kf_config_free(c);
}

static void test_config_rejects_hw_version_out_of_range(void **state)
{
	(void)state;
	expect_bad("vmware: { hw_version: 14 }\n",
		   "t.yaml:1:23: vmware.hw_version 14 is out of range 19..22");
}

static void test_config_rejects_unknown_firmware(void **state)
{
	(void)state;
	expect_bad("vmware: { firmware: uefi }\n",
		   "t.yaml:1:21: vmware.firmware 'uefi' is not a firmware type (did you mean 'efi'?); "
		   "use bios or efi");
}

static void test_config_rejects_non_boolean_enabled(void **state)
{
	(void)state;
	expect_bad("addons:\n  kubesphere:\n    enabled: maybe\n",
		   "t.yaml:3:14: addons.kubesphere.enabled must be true or false, not 'maybe'");
}

static void test_config_rejects_bad_inline_image_reference(void **state)
{
	(void)state;
	expect_bad("images:\n  inline:\n    - docker.io/Library/busybox:1.36\n",
		   "t.yaml:3:17: images.inline[0] 'docker.io/Library/busybox:1.36' is not an image "
		   "reference: repository names must be lowercase");
}

static void test_config_rejects_bad_image_tag(void **state)
{
	(void)state;
	expect_bad("images:\n  inline: [\"busybox:-1.36\"]\n",
		   "t.yaml:2:21: images.inline[0] 'busybox:-1.36' is not an image reference: tag may "
		   "hold only letters, digits, '_', '.' and '-' (not first)");
}

static void test_config_reports_bad_line_of_image_list_file(void **state)
{
	struct kf_config *c = NULL;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_load(&c, KF_TESTS_DIR "/data/config/list-bad.yaml", &e),
			 KF_ECONFIG);
	assert_null(c);
	assert_string_equal(e.msg, KF_TESTS_DIR "/data/config/list-bad.txt:3:19: "
						"'docker.io/library/BusyBox:1.36' is not an image "
						"reference: repository names must be lowercase");
}

static void test_config_rejects_bad_ssh_port(void **state)
{
	(void)state;
	expect_bad("nodes:\n" NODE("m", "master", "192.168.6.10") "    ssh: 127.0.0.1:70000\n",
		   "t.yaml:5:10: nodes[0].ssh '127.0.0.1:70000' is not host or host:port like "
		   "127.0.0.1:2222");
}

static void test_config_rejects_nodes_that_are_not_a_list(void **state)
{
	(void)state;
	expect_bad("nodes:\n  master: 192.168.6.10\n",
		   "t.yaml:2:3: nodes must be a list of nodes ('- name: ...' entries), not a mapping");
}

static void test_config_rejects_empty_nodes(void **state)
{
	(void)state;
	expect_bad("nodes: []\n",
		   "t.yaml:1:8: nodes is empty: list one master and any number of workers");
}

static void test_config_rejects_bad_password_without_echoing_it(void **state)
{
	(void)state;
	static const char msg[] =
		"t.yaml:3:21: addons.kubesphere.admin_password contains a control or line-separator "
		"character (U+0001) — remove it";
	expect_bad("addons:\n  kubesphere:\n    admin_password: \"Secret\\x01pw9\"\n", msg);
}

static void test_config_rejects_weak_password_prep_would_refuse(void **state)
{
	static const char msg[] =
		"t.yaml:3:21: addons.kubesphere.admin_password must be 8 to 128 printable characters "
		"with an upper-case letter, a lower-case letter and a digit (or leave it out: prep "
		"generates one)";
	(void)state;
	/* too short (and too short for the logger to mask), no digit, no capital */
	expect_bad("addons:\n  kubesphere:\n    admin_password: \"Ab1\"\n", msg);
	expect_bad("addons:\n  kubesphere:\n    admin_password: \"Abcdefghij\"\n", msg);
	expect_bad("addons:\n  kubesphere:\n    admin_password: \"abcdefgh12\"\n", msg);
}

static void test_config_rejects_non_mapping_file(void **state)
{
	(void)state;
	expect_bad("- cluster\n- nodes\n",
		   "t.yaml:1:1: the file must be a mapping of sections (cluster:, network:, nodes:, "
		   "...), not a list");
}

static void test_config_rejects_second_document(void **state)
{
	(void)state;
	expect_bad("cluster: {name: a}\n---\ncluster: {name: b}\n",
		   "t.yaml:2:1: a second YAML document ('---'); a configuration is one document");
}

static void test_config_rejects_invalid_utf8(void **state)
{
	(void)state;
	expect_bad("cluster:\n  name: \xff\xfe\n",
		   "t.yaml:2:9: not valid UTF-8 text (invalid leading UTF-8 octet); save the file as "
		   "UTF-8");
}

static void test_config_error_counts_the_other_problems(void **state)
{
	(void)state;
	expect_bad("cluster: { name: A }\nvmware: { hw_version: 1 }\n",
		   "t.yaml:1:18: cluster.name 'A' is not a valid name: use 1 to 40 of a-z, 0-9 and "
		   "'-', not starting or ending with '-' (and 1 more: see k3sforge config check)");
}

static void test_config_points_at_gateway_when_a_default_node_takes_it(void **state)
{
	(void)state;
	expect_bad("network:\n  gateway: 192.168.6.10\n",
		   "t.yaml:2:12: nodes[0].ip 192.168.6.10 is the gateway (network.gateway); pick "
		   "another address");
}

static void test_config_rejects_node_that_is_not_a_mapping(void **state)
{
	(void)state;
	expect_bad("nodes:\n  - k3s-master1\n",
		   "t.yaml:2:5: nodes[0] must be a mapping with name:, role:, ip: ..., not a single "
		   "value");
}

static void test_config_rejects_image_list_that_is_not_a_regular_file(void **state)
{
	(void)state;
	expect_bad("images: { list: /dev/null }\n",
		   "t.yaml:1:17: images.list: /dev/null is not a regular file");
}

static void test_config_rejects_short_sha256(void **state)
{
	(void)state;
	expect_bad("k3s:\n  install_script_sha256: abc123\n",
		   "t.yaml:2:26: k3s.install_script_sha256 must be 64 hex digits (a sha256 digest), "
		   "not 'abc123'");
}

static void test_config_rejects_bad_subject_alternative_name(void **state)
{
	(void)state;
	expect_bad("registry:\n  extra_sans: [\"IP:10.0.0\"]\n",
		   "t.yaml:2:16: registry.extra_sans[0] 'IP:10.0.0' is not a subject alternative "
		   "name: use DNS:name, IP:address, or a bare address or name");
}

static void test_config_rejects_non_http_url(void **state)
{
	(void)state;
	expect_bad("k3s:\n  release_url: ftp://mirror/k3s\n",
		   "t.yaml:2:16: k3s.release_url 'ftp://mirror/k3s' is not an http:// or https:// "
		   "URL");
}

/* prep mirrors the pinned pause image along with k3s-images.txt: the list holds the add-ons. */
static void test_config_accepts_pause_image_missing_from_the_list(void **state)
{
	struct kf_config *c = load_ok("k3s:\n  pause_image: rancher/mirrored-pause:3.10\n"
				      "images:\n  inline: [docker.io/kubesphere/ks-console:v4.1.3]\n");
	(void)state;
	assert_string_equal(c->k3s.pause_image, "rancher/mirrored-pause:3.10");
	kf_config_free(c);
}

static void test_config_accepts_pause_image_under_its_full_name(void **state)
{
	struct kf_config *c = load_ok("k3s:\n  pause_image: rancher/mirrored-pause:3.6\n"
				      "images:\n  inline: [docker.io/rancher/mirrored-pause:3.6]\n");
	(void)state;
	assert_string_equal(c->k3s.pause_image, "rancher/mirrored-pause:3.6");
	kf_config_free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile input                                                                             */

static void test_config_refuses_alias_bomb(void **state)
{
	struct kf_buf b;
	(void)state;

	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (char c = 'b'; c <= 'j'; c++) {
		kf_buf_printf(&b, "%c: &%c [", c, c);
		for (int i = 0; i < 9; i++)
			kf_buf_printf(&b, "%s*%c", i ? "," : "", c - 1);
		kf_buf_puts(&b, "]\n");
	}
	expect_bad(kf_buf_str(&b),
		   "t.yaml:2:8: aliases (*a) are not supported; write the value out in full");
	kf_buf_free(&b);
}

static void test_config_refuses_deep_nesting(void **state)
{
	char *s = malloc(10001);
	(void)state;

	memset(s, '[', 10000);
	s[10000] = '\0';
	expect_bad(s, "t.yaml:1:33: nesting deeper than 32 levels; this is not a k3sforge "
		      "configuration");
	free(s);
}

static void test_config_refuses_file_over_one_mib(void **state)
{
	size_t n = 2 * 1024 * 1024;
	char *s = malloc(n);
	(void)state;

	for (size_t i = 0; i < n; i++)
		s[i] = i % 64 == 63 ? '\n' : '#';
	expect_bad_len(s, n, "t.yaml:1:1: the file is 2097152 bytes; a configuration may be at most "
			     "1 MiB (1048576 bytes)");
	free(s);
}

static void test_config_refuses_huge_scalar(void **state)
{
	size_t n = 100 * 1024;
	char *s = malloc(n + 32);
	(void)state;

	memcpy(s, "cluster:\n  name: ", 17);
	memset(s + 17, 'x', n);
	strcpy(s + 17 + n, "\n");
	expect_bad(s, "t.yaml:2:9: a value longer than 65536 bytes; no setting needs that much");
	free(s);
}

static void test_config_refuses_too_many_nodes(void **state)
{
	struct kf_buf b;
	(void)state;

	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "nodes:\n");
	for (int i = 0; i < 300; i++)
		kf_buf_printf(&b, "  - {name: n%d, ip: 10.0.%d.%d}\n", i, i / 200, i % 200 + 1);
	expect_bad(kf_buf_str(&b), "t.yaml:2:3: nodes has 300 entries; at most 256 are supported");
	kf_buf_free(&b);
}

static void test_config_refuses_too_many_images(void **state)
{
	struct kf_buf b;
	(void)state;

	kf_buf_init(&b, 0);
	kf_buf_puts(&b, "images:\n  inline:\n");
	for (int i = 0; i < 10001; i++)
		kf_buf_printf(&b, "    - app/i%d:1\n", i);
	expect_bad(kf_buf_str(&b), "t.yaml:10003:7: images.inline[10000]: more than 10000 images; "
				   "that is the limit");
	kf_buf_free(&b);
}

/* ---------------------------------------------------------------------------------------- */
/* Control and line-separator characters, in every string key                               */

/* Every key whose value is text, each with its value at '@' (inside double quotes, where YAML
 * escapes make any character), in a file that is otherwise valid. */
static const struct text_key {
	const char *path;
	const char *yaml;
} text_keys[] = {
	{ "cluster.name", "cluster:\n  name: \"@\"\n" },
	{ "k3s.version", "k3s:\n  version: \"@\"\n" },
	{ "k3s.release_url", "k3s:\n  release_url: \"@\"\n" },
	{ "k3s.install_script_url", "k3s:\n  install_script_url: \"@\"\n" },
	{ "k3s.install_script_sha256", "k3s:\n  install_script_sha256: \"@\"\n" },
	{ "k3s.disable[0]", "k3s:\n  disable:\n    - \"@\"\n" },
	{ "k3s.pause_image", "k3s:\n  pause_image: \"@\"\n" },
	{ "network.vmnet", "network:\n  vmnet: \"@\"\n" },
	{ "network.subnet", "network:\n  subnet: \"@\"\n" },
	{ "network.gateway", "network:\n  gateway: \"@\"\n" },
	{ "network.dns[0]", "network:\n  dns: [\"@\"]\n" },
	{ "registry.host_ip", "registry:\n  host_ip: \"@\"\n" },
	{ "registry.port", "registry:\n  port: \"@\"\n" },
	{ "registry.storage_dir", "registry:\n  storage_dir: \"@\"\n" },
	{ "registry.server", "registry:\n  server: \"@\"\n" },
	{ "registry.binary", "registry:\n  binary: \"@\"\n" },
	{ "registry.listen", "registry:\n  listen: \"@\"\n" },
	{ "registry.extra_sans[0]", "registry:\n  extra_sans:\n    - \"@\"\n" },
	{ "registry.mirrors[0]", "registry:\n  mirrors:\n    - \"@\"\n" },
	{ "nodes[0].name", "nodes:\n  - name: \"@\"\n    role: master\n    ip: 192.168.6.10\n" },
	{ "nodes[0].role", "nodes:\n  - name: m\n    role: \"@\"\n    ip: 192.168.6.10\n" },
	{ "nodes[0].ip", "nodes:\n  - name: m\n    role: master\n    ip: \"@\"\n" },
	{ "nodes[0].mac", "nodes:\n  - name: m\n    role: master\n    ip: 192.168.6.10\n"
			  "    mac: \"@\"\n" },
	{ "nodes[0].ssh", "nodes:\n  - name: m\n    role: master\n    ip: 192.168.6.10\n"
			  "    ssh: \"@\"\n" },
	{ "nodes[0].memory", "nodes:\n  - name: m\n    role: master\n    ip: 192.168.6.10\n"
			     "    memory: \"@\"\n" },
	{ "images.source_registry", "images:\n  source_registry: \"@\"\n" },
	{ "images.list", "images:\n  list: \"@\"\n" },
	{ "images.inline[0]", "images:\n  inline:\n    - \"@\"\n" },
	{ "paths.ubuntu_iso", "paths:\n  ubuntu_iso: \"@\"\n" },
	{ "paths.vm_dir", "paths:\n  vm_dir: \"@\"\n" },
	{ "vmware.vmrun", "vmware:\n  vmrun: \"@\"\n" },
	{ "vmware.firmware", "vmware:\n  firmware: \"@\"\n" },
	{ "vmware.host_checks", "vmware:\n  host_checks: \"@\"\n" },
	{ "hypervisor", "hypervisor: \"@\"\n" },
	{ "qemu.accel", "qemu:\n  accel: \"@\"\n" },
	{ "qemu.bridge", "qemu:\n  bridge: \"@\"\n" },
	{ "guest.user", "guest:\n  user: \"@\"\n" },
	{ "guest.timezone", "guest:\n  timezone: \"@\"\n" },
	{ "guest.locale", "guest:\n  locale: \"@\"\n" },
	{ "guest.keyboard", "guest:\n  keyboard: \"@\"\n" },
	{ "guest.packages[0]", "guest:\n  packages: [\"@\"]\n" },
	{ "addons.kubesphere.enabled", "addons:\n  kubesphere:\n    enabled: \"@\"\n" },
	{ "addons.kubesphere.version", "addons:\n  kubesphere:\n    version: \"@\"\n" },
	{ "addons.kubesphere.chart", "addons:\n  kubesphere:\n    chart: \"@\"\n" },
	{ "addons.kubesphere.chart_sha256", "addons:\n  kubesphere:\n    chart_sha256: \"@\"\n" },
	{ "addons.kubesphere.admin_password",
	  "addons:\n  kubesphere:\n    admin_password: \"@\"\n" },
	{ "timeouts.wait", "timeouts:\n  wait: \"@\"\n" },
};

/* Each bad character as a YAML escape, inside otherwise acceptable text (a password that passes
 * every other rule), and its code point as the message names it. */
static const struct bad_char {
	const char *escape;
	unsigned cp;
} bad_chars[] = {
	{ "\\L", 0x2028 }, { "\\P", 0x2029 }, { "\\N", 0x85 },   { "\\x80", 0x80 },
	{ "\\x9f", 0x9f }, { "\\r", 0x0d },   { "\\n", 0x0a },   { "\\t", 0x09 },
	{ "\\x01", 0x01 }, { "\\e", 0x1b },   { "\\x7f", 0x7f }, { "\\0", 0x00 },
};

static void test_config_check_refuses_control_and_line_separators_in_every_text_key(void **state)
{
	char dir[] = "/tmp/kfcfg.XXXXXX", path[64];
	size_t checked = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k3sforge.yaml", dir);
	for (size_t k = 0; k < sizeof(text_keys) / sizeof(text_keys[0]); k++) {
		const char *at = strchr(text_keys[k].yaml, '@');
		int line = 1, col;
		const char *ls = text_keys[k].yaml;
		for (const char *c = text_keys[k].yaml; c < at; c++)
			if (*c == '\n') {
				line++;
				ls = c + 1;
			}
		col = (int)(at - ls); /* the opening quote, 1-based */
		for (size_t b = 0; b < sizeof(bad_chars) / sizeof(bad_chars[0]); b++) {
			char yaml[512], want[256], **msgs = NULL;
			size_t n = 0;
			bool found = false;
			struct kf_err e;
			snprintf(yaml, sizeof(yaml), "%.*sAa1-x%sy-1aA%s", (int)(at - text_keys[k].yaml),
				 text_keys[k].yaml, bad_chars[b].escape, at + 1);
			assert_int_equal(kf_fs_write_atomic(path, yaml, strlen(yaml), 0600, &e), 0);
			snprintf(want, sizeof(want),
				 "%s:%d:%d: %s contains a control or line-separator character (U+%04X) "
				 "— remove it",
				 path, line, col, text_keys[k].path, bad_chars[b].cp);
			kf_err_clear(&e);
			if (kf_config_check(path, &msgs, &n, &e) <= 0)
				fail_msg("%s with %s: accepted", text_keys[k].path, bad_chars[b].escape);
			for (size_t i = 0; i < n; i++) {
				found = found || strcmp(msgs[i], want) == 0;
				/* the value itself is never echoed */
				assert_null(strstr(msgs[i], "Aa1-x"));
				free(msgs[i]);
			}
			free(msgs);
			if (!found)
				fail_msg("%s with %s: no problem '%s'", text_keys[k].path,
					 bad_chars[b].escape, want);
			checked++;
		}
	}
	assert_int_equal(checked, sizeof(text_keys) / sizeof(text_keys[0]) *
					  (sizeof(bad_chars) / sizeof(bad_chars[0])));
	kf_fs_remove_tree(dir, NULL);
}

/* The reproduction: a password that passed every rule, with U+2028 around a bootcmd. */
static void test_config_refuses_the_line_separator_password_injection(void **state)
{
	(void)state;
	expect_bad("addons:\n  kubesphere:\n    admin_password: \"Aa1xxxxx\\Lbootcmd: [[sh, -c, "
		   "'id > /tmp/pwned']]\\Lz: #\"\n",
		   "t.yaml:3:21: addons.kubesphere.admin_password contains a control or "
		   "line-separator character (U+2028) — remove it");
}

/* Printable text outside ASCII is not a control character. */
static void test_config_accepts_printable_non_ascii_in_a_password(void **state)
{
	struct kf_config *c;

	(void)state;
	c = load_ok("addons:\n  kubesphere:\n    admin_password: \"Pässwörd-9 한글\"\n");
	assert_string_equal(c->addons.admin_password, "Pässwörd-9 한글");
	kf_config_free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* kf_config_check                                                                           */

static void test_config_check_collects_every_problem(void **state)
{
	char **msgs = NULL;
	size_t n = 0;
	struct kf_err e;
	const char *path = KF_TESTS_DIR "/data/config/three-problems.yaml";
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_check(path, &msgs, &n, &e), 3);
	assert_int_equal(n, 3);
	assert_non_null(strstr(msgs[0], "three-problems.yaml:2:9: cluster.name 'Lab'"));
	assert_non_null(strstr(msgs[1], "three-problems.yaml:4:12: network.gateway '192.168.6.300'"));
	assert_non_null(strstr(msgs[2], "three-problems.yaml:6:9: timeouts.wait 'forever'"));
	for (size_t i = 0; i < n; i++)
		free(msgs[i]);
	free(msgs);
}

static void test_config_check_passes_the_example(void **state)
{
	char **msgs = NULL;
	size_t n = 99;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_check(KF_SOURCE_DIR "/examples/lab.yaml", &msgs, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_null(msgs);
}

static void test_config_check_reports_missing_file_as_io_error(void **state)
{
	char **msgs = NULL;
	size_t n = 0;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_check("/nonexistent/k3sforge.yaml", &msgs, &n, &e),
			 KF_ENOTFOUND);
	assert_int_equal(n, 0);
	assert_non_null(strstr(e.msg, "/nonexistent/k3sforge.yaml: no such configuration file"));
}

static void test_config_check_reports_missing_list_file_relative_to_config(void **state)
{
	char **msgs = NULL;
	size_t n = 0;
	struct kf_err e;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_check(KF_TESTS_DIR "/data/config/list-missing.yaml", &msgs, &n,
					 &e), 1);
	assert_string_equal(msgs[0], KF_TESTS_DIR "/data/config/list-missing.yaml:2:9: images.list: "
					 KF_TESTS_DIR "/data/config/no-such-images.txt not found "
					 "(relative paths are taken from the config file's "
					 "directory); create it or fix the path");
	free(msgs[0]);
	free(msgs);
}

/* ---------------------------------------------------------------------------------------- */
/* config show                                                                               */

static void assert_str_eq_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_strv_eq(char **a, size_t na, char **b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

/* Every field but path (where it was read from) and the masked password. */
static void assert_cfg_equal(const struct kf_config *a, const struct kf_config *b)
{
	assert_string_equal(a->cluster_name, b->cluster_name);
	assert_str_eq_null(a->k3s.version, b->k3s.version);
	assert_str_eq_null(a->k3s.release_url, b->k3s.release_url);
	assert_str_eq_null(a->k3s.install_script_url, b->k3s.install_script_url);
	assert_str_eq_null(a->k3s.install_script_sha256, b->k3s.install_script_sha256);
	assert_strv_eq(a->k3s.disable, a->k3s.n_disable, b->k3s.disable, b->k3s.n_disable);
	assert_str_eq_null(a->k3s.pause_image, b->k3s.pause_image);
	assert_str_eq_null(a->network.vmnet, b->network.vmnet);
	assert_str_eq_null(a->network.subnet, b->network.subnet);
	assert_int_equal(a->network.subnet_addr, b->network.subnet_addr);
	assert_int_equal(a->network.prefix, b->network.prefix);
	assert_str_eq_null(a->network.gateway, b->network.gateway);
	assert_strv_eq(a->network.dns, a->network.n_dns, b->network.dns, b->network.n_dns);
	assert_str_eq_null(a->registry.host_ip, b->registry.host_ip);
	assert_int_equal(a->registry.port, b->registry.port);
	assert_str_eq_null(a->registry.storage_dir, b->registry.storage_dir);
	assert_str_eq_null(a->registry.server, b->registry.server);
	assert_str_eq_null(a->registry.binary, b->registry.binary);
	assert_str_eq_null(a->registry.listen, b->registry.listen);
	assert_strv_eq(a->registry.extra_sans, a->registry.n_extra_sans, b->registry.extra_sans,
		       b->registry.n_extra_sans);
	assert_strv_eq(a->registry.mirrors, a->registry.n_mirrors, b->registry.mirrors,
		       b->registry.n_mirrors);
	assert_int_equal(a->n_nodes, b->n_nodes);
	for (size_t i = 0; i < a->n_nodes; i++) {
		assert_string_equal(a->nodes[i].name, b->nodes[i].name);
		assert_int_equal(a->nodes[i].role, b->nodes[i].role);
		assert_string_equal(a->nodes[i].ip, b->nodes[i].ip);
		assert_int_equal(a->nodes[i].cpus, b->nodes[i].cpus);
		assert_int_equal(a->nodes[i].memory_mb, b->nodes[i].memory_mb);
		assert_int_equal(a->nodes[i].disk_gb, b->nodes[i].disk_gb);
		assert_str_eq_null(a->nodes[i].mac, b->nodes[i].mac);
		assert_str_eq_null(a->nodes[i].ssh_host, b->nodes[i].ssh_host);
		assert_int_equal(a->nodes[i].ssh_port, b->nodes[i].ssh_port);
	}
	assert_str_eq_null(a->images.list_file, b->images.list_file);
	assert_int_equal(a->images.n_refs, b->images.n_refs);
	for (size_t i = 0; i < a->images.n_refs; i++) {
		assert_string_equal(a->images.refs[i].source, b->images.refs[i].source);
		assert_str_eq_null(a->images.refs[i].target, b->images.refs[i].target);
	}
	assert_str_eq_null(a->images.source_registry, b->images.source_registry);
	assert_str_eq_null(a->paths.ubuntu_iso, b->paths.ubuntu_iso);
	assert_str_eq_null(a->paths.vm_dir, b->paths.vm_dir);
	assert_str_eq_null(a->vmware.vmrun, b->vmware.vmrun);
	assert_str_eq_null(a->vmware.firmware, b->vmware.firmware);
	assert_int_equal(a->vmware.hw_version, b->vmware.hw_version);
	assert_int_equal(a->vmware.host_checks_warn, b->vmware.host_checks_warn);
	assert_int_equal(a->hypervisor, b->hypervisor);
	assert_str_eq_null(a->qemu.binary, b->qemu.binary);
	assert_str_eq_null(a->qemu.accel, b->qemu.accel);
	assert_str_eq_null(a->qemu.bridge, b->qemu.bridge);
	assert_str_eq_null(a->qemu.bridge_helper, b->qemu.bridge_helper);
	assert_str_eq_null(a->guest.image, b->guest.image);
	assert_str_eq_null(a->guest.user, b->guest.user);
	assert_str_eq_null(a->guest.timezone, b->guest.timezone);
	assert_strv_eq(a->guest.packages, a->guest.n_packages, b->guest.packages,
		       b->guest.n_packages);
	assert_str_eq_null(a->guest.locale, b->guest.locale);
	assert_str_eq_null(a->guest.keyboard, b->guest.keyboard);
	assert_str_eq_null(a->guest.debs, b->guest.debs);
	assert_int_equal(a->addons.kubesphere, b->addons.kubesphere);
	assert_str_eq_null(a->addons.kubesphere_version, b->addons.kubesphere_version);
	assert_str_eq_null(a->addons.kubesphere_chart, b->addons.kubesphere_chart);
	assert_str_eq_null(a->addons.kubesphere_chart_sha256, b->addons.kubesphere_chart_sha256);
	assert_int_equal(a->timeouts.wait_s, b->timeouts.wait_s);
	assert_int_equal(a->timeouts.ssh_connect_s, b->timeouts.ssh_connect_s);
	assert_int_equal(a->timeouts.finalize_s, b->timeouts.finalize_s);
	assert_int_equal(a->timeouts.vmrun_s, b->timeouts.vmrun_s);
	assert_int_equal(a->timeouts.download_s, b->timeouts.download_s);
}

static const char *full_yaml =
	"cluster: {name: edge-2}\n"
	"hypervisor: qemu\n"
	"qemu: {binary: /opt/q/qemu-system-x86_64, accel: tcg, bridge: labbr1, bridge_helper: /usr/libexec/qemu-bridge-helper}\n"
	"k3s:\n"
	"  version: v1.33.4+k3s1\n"
	"  install_script_sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	"  disable: [traefik, metrics-server]\n"
	"  pause_image: rancher/mirrored-pause:3.6\n"
	"network: {vmnet: VMnet2, subnet: 10.9.0.0/22, gateway: 10.9.0.254, dns: [10.9.0.254, 1.1.1.1]}\n"
	"registry:\n"
	"  host_ip: 10.9.1.1\n"
	"  port: 5443\n"
	"  storage_dir: /srv/registry\n"
	"  server: binary\n"
	"  binary: /usr/bin/docker-registry\n"
	"  listen: 10.9.1.1:5443\n"
	"  extra_sans: [\"DNS:registry.lab\", \"IP:10.0.0.5\", registry.local]\n"
	"  mirrors: [docker.io, quay.io]\n"
	"nodes:\n"
	"  - {name: cp, role: master, ip: 10.9.0.10, cpus: 4, memory: 8GiB, disk: 80, mac: \"00:50:56:01:02:03\"}\n"
	"  - {name: w1, ip: 10.9.0.11, ssh: \"127.0.0.1:2201\"}\n"
	"  - {name: w2, ip: 10.9.2.7, ssh: jump.example}\n"
	"images:\n"
	"  inline: [\"rancher/mirrored-pause:3.6\", \"docker.io/library/busybox:1.36 library/busybox:1.36\"]\n"
	"  source_registry: mirror.example.com:5000\n"
	"paths: {ubuntu_iso: /isos/u.iso, vm_dir: /vms}\n"
	"vmware: {vmrun: /usr/bin/vmrun, firmware: efi, hw_version: 20, host_checks: warn}\n"
	"guest: {user: ops, timezone: America/Argentina/Buenos_Aires, locale: ko_KR.UTF-8, keyboard: kr, packages: [jq, \"g++\"], debs: /srv/debs}\n"
	"addons:\n"
	"  kubesphere: {enabled: false, version: v4.1.3, chart: /charts/ks-core-1.1.4.tgz, "
	"chart_sha256: abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789, "
	"admin_password: \"Sup3r: s#cret\"}\n"
	"timeouts: {wait: 1h30m, ssh_connect: 7, finalize: 45m, vmrun: 100s, download: 2m}\n";

static void test_config_show_round_trips_every_field(void **state)
{
	struct kf_config *a = load_ok(full_yaml), *b;
	char *text = kf_config_show(a);
	(void)state;

	assert_non_null(text);
	b = load_ok(text);
	assert_cfg_equal(a, b);
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

static void test_config_show_round_trips_the_example(void **state)
{
	struct kf_config *a = NULL, *b;
	struct kf_err e;
	char *text;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_load(&a, KF_SOURCE_DIR "/examples/lab.yaml", &e), 0);
	text = kf_config_show(a);
	assert_non_null(text);
	b = load_ok(text);
	assert_cfg_equal(a, b);
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

static void test_config_show_round_trips_the_defaults(void **state)
{
	struct kf_config *a = NULL, *b;
	struct kf_err e;
	char *text;
	(void)state;

	kf_err_clear(&e);
	assert_int_equal(kf_config_default(&a, &e), 0);
	text = kf_config_show(a);
	assert_non_null(text);
	b = load_ok(text);
	free(a->registry.listen);
	a->registry.listen = strdup("0.0.0.0:5000"); /* what NULL means */
	assert_cfg_equal(a, b);
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

static void test_config_show_round_trips_a_file_with_every_key(void **state)
{
	struct kf_config *a = NULL, *b;
	struct kf_err e;
	char *text;
	(void)state;

	kf_err_clear(&e);
	if (kf_config_load(&a, KF_TESTS_DIR "/data/config/full.yaml", &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(a->registry.storage_dir, KF_TESTS_DIR "/data/config/data/registry");
	assert_string_equal(a->paths.ubuntu_iso, KF_TESTS_DIR "/data/config/isos/u.iso");
	assert_string_equal(a->addons.kubesphere_chart,
			    KF_TESTS_DIR "/data/config/charts/ks-core-1.1.4.tgz");
	assert_int_equal(a->images.n_refs, 2 + 4);
	text = kf_config_show(a);
	assert_non_null(text);
	b = load_ok(text);
	assert_cfg_equal(a, b);
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

static void test_config_show_round_trips_image_mode(void **state)
{
	struct kf_config *a = load_ok("hypervisor: qemu\nguest: { image: /img/jammy.img }\n"), *b;
	char *text = kf_config_show(a);
	(void)state;

	assert_non_null(text);
	assert_non_null(strstr(text, "hypervisor: qemu\n"));
	b = load_ok(text);
	assert_cfg_equal(a, b);
	assert_string_equal(b->guest.image, "/img/jammy.img");
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

static void test_config_show_masks_admin_password(void **state)
{
	struct kf_config *a = load_ok(full_yaml), *b;
	char *text = kf_config_show(a);
	(void)state;

	assert_string_equal(a->addons.admin_password, "Sup3r: s#cret");
	assert_non_null(strstr(text, "    admin_password: \"***\"\n"));
	assert_null(strstr(text, "Sup3r"));
	/* The masked value reads back as "not set" (prep generates one), never as "***". */
	b = load_ok(text);
	assert_null(b->addons.admin_password);
	kf_config_free(b);
	kf_config_free(a);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_loads_the_example_lab),
		cmocka_unit_test(test_config_defaults_to_the_k3s_release_and_accepts_its_rc),
		cmocka_unit_test(test_config_guest_packages_default_to_none_and_debs_is_a_directory),
		cmocka_unit_test(test_config_empty_file_gives_the_lab_defaults),
		cmocka_unit_test(test_config_minimal_file_fills_node_defaults),
		cmocka_unit_test(test_config_loads_thirty_nodes),
		cmocka_unit_test(test_config_ssh_overrides_where_nodes_are_reached),
		cmocka_unit_test(test_config_reads_durations_in_every_form),
		cmocka_unit_test(test_config_reads_sizes_in_every_form),
		cmocka_unit_test(test_config_subnet_moves_the_defaults_inside_it),
		cmocka_unit_test(test_config_reads_the_image_list_file_and_inline_images),
		cmocka_unit_test(test_config_reports_yaml_syntax_error_with_position),
		cmocka_unit_test(test_config_hints_at_tab_indentation),
		cmocka_unit_test(test_config_rejects_unknown_top_level_key_with_suggestion),
		cmocka_unit_test(test_config_rejects_unknown_key_listing_the_known_ones),
		cmocka_unit_test(test_config_rejects_misspelt_node_key),
		cmocka_unit_test(test_config_rejects_list_where_mapping_expected),
		cmocka_unit_test(test_config_rejects_string_where_number_expected),
		cmocka_unit_test(test_config_rejects_mapping_where_value_expected),
		cmocka_unit_test(test_config_rejects_single_value_where_list_expected),
		cmocka_unit_test(test_config_rejects_bad_ip),
		cmocka_unit_test(test_config_rejects_bad_cidr),
		cmocka_unit_test(test_config_rejects_subnet_with_host_bits),
		cmocka_unit_test(test_config_rejects_subnet_prefix_out_of_range),
		cmocka_unit_test(test_config_rejects_node_ip_outside_subnet),
		cmocka_unit_test(test_config_rejects_node_on_network_address),
		cmocka_unit_test(test_config_rejects_node_on_broadcast_address),
		cmocka_unit_test(test_config_rejects_node_ip_equal_to_gateway),
		cmocka_unit_test(test_config_rejects_node_ip_equal_to_registry),
		cmocka_unit_test(test_config_rejects_duplicate_node_name),
		cmocka_unit_test(test_config_rejects_duplicate_node_ip),
		cmocka_unit_test(test_config_rejects_duplicate_node_mac),
		cmocka_unit_test(test_config_rejects_duplicate_ssh_endpoint),
		cmocka_unit_test(test_config_rejects_nodes_without_master),
		cmocka_unit_test(test_config_rejects_second_master),
		cmocka_unit_test(test_config_rejects_unknown_role_with_suggestion),
		cmocka_unit_test(test_config_rejects_invalid_node_name),
		cmocka_unit_test(test_config_rejects_invalid_cluster_name),
		cmocka_unit_test(test_config_rejects_node_without_ip),
		cmocka_unit_test(test_config_rejects_cpus_out_of_range),
		cmocka_unit_test(test_config_rejects_memory_out_of_range),
		cmocka_unit_test(test_config_rejects_memory_not_multiple_of_4),
		cmocka_unit_test(test_config_rejects_memory_with_unknown_unit),
		cmocka_unit_test(test_config_rejects_disk_out_of_range),
		cmocka_unit_test(test_config_rejects_gateway_outside_subnet),
		cmocka_unit_test(test_config_rejects_registry_outside_subnet),
		cmocka_unit_test(test_config_accepts_plain_http_source_registry_on_loopback),
		cmocka_unit_test(test_config_rejects_plain_http_source_registry_off_loopback),
		cmocka_unit_test(test_config_rejects_bad_duration),
		cmocka_unit_test(test_config_rejects_duration_out_of_range),
		cmocka_unit_test(test_config_rejects_malformed_mac),
		cmocka_unit_test(test_config_rejects_mac_outside_vmware_static_range),
		cmocka_unit_test(test_config_rejects_bad_timezone),
		cmocka_unit_test(test_config_rejects_missing_image_list_file),
		cmocka_unit_test(test_config_rejects_duplicate_key),
		cmocka_unit_test(test_config_rejects_bad_k3s_version),
		cmocka_unit_test(test_config_rejects_unknown_disabled_component),
		cmocka_unit_test(test_config_host_checks_default_enforce_and_warn_on_request),
		cmocka_unit_test(test_config_hypervisor_defaults_to_vmware_and_takes_qemu),
		cmocka_unit_test(test_config_rejects_unknown_hypervisor),
		cmocka_unit_test(test_config_rejects_unknown_qemu_accel),
		cmocka_unit_test(test_config_rejects_qemu_bridge_that_is_no_interface_name),
		cmocka_unit_test(test_config_rejects_unknown_qemu_key),
		cmocka_unit_test(test_config_resolves_qemu_paths_and_guest_image_next_to_the_file),
		cmocka_unit_test(test_config_refuses_guest_packages_in_image_mode),
		cmocka_unit_test(test_config_accepts_empty_packages_in_image_mode),
		cmocka_unit_test(test_config_show_round_trips_image_mode),
		cmocka_unit_test(test_config_rejects_images_from_registries_not_mirrored),
		cmocka_unit_test(test_config_accepts_unmirrored_source_with_a_lab_target),
		cmocka_unit_test(test_config_rejects_hw_version_out_of_range),
		cmocka_unit_test(test_config_rejects_unknown_firmware),
		cmocka_unit_test(test_config_rejects_non_boolean_enabled),
		cmocka_unit_test(test_config_rejects_bad_inline_image_reference),
		cmocka_unit_test(test_config_rejects_bad_image_tag),
		cmocka_unit_test(test_config_reports_bad_line_of_image_list_file),
		cmocka_unit_test(test_config_rejects_bad_ssh_port),
		cmocka_unit_test(test_config_rejects_nodes_that_are_not_a_list),
		cmocka_unit_test(test_config_rejects_empty_nodes),
		cmocka_unit_test(test_config_rejects_bad_password_without_echoing_it),
		cmocka_unit_test(test_config_rejects_weak_password_prep_would_refuse),
		cmocka_unit_test(test_config_rejects_non_mapping_file),
		cmocka_unit_test(test_config_rejects_second_document),
		cmocka_unit_test(test_config_rejects_invalid_utf8),
		cmocka_unit_test(test_config_check_refuses_control_and_line_separators_in_every_text_key),
		cmocka_unit_test(test_config_refuses_the_line_separator_password_injection),
		cmocka_unit_test(test_config_accepts_printable_non_ascii_in_a_password),
		cmocka_unit_test(test_config_error_counts_the_other_problems),
		cmocka_unit_test(test_config_points_at_gateway_when_a_default_node_takes_it),
		cmocka_unit_test(test_config_rejects_node_that_is_not_a_mapping),
		cmocka_unit_test(test_config_rejects_image_list_that_is_not_a_regular_file),
		cmocka_unit_test(test_config_rejects_short_sha256),
		cmocka_unit_test(test_config_rejects_bad_subject_alternative_name),
		cmocka_unit_test(test_config_rejects_non_http_url),
		cmocka_unit_test(test_config_accepts_pause_image_missing_from_the_list),
		cmocka_unit_test(test_config_accepts_pause_image_under_its_full_name),
		cmocka_unit_test(test_config_refuses_alias_bomb),
		cmocka_unit_test(test_config_refuses_deep_nesting),
		cmocka_unit_test(test_config_refuses_file_over_one_mib),
		cmocka_unit_test(test_config_refuses_huge_scalar),
		cmocka_unit_test(test_config_refuses_too_many_nodes),
		cmocka_unit_test(test_config_refuses_too_many_images),
		cmocka_unit_test(test_config_check_collects_every_problem),
		cmocka_unit_test(test_config_check_passes_the_example),
		cmocka_unit_test(test_config_check_reports_missing_file_as_io_error),
		cmocka_unit_test(test_config_check_reports_missing_list_file_relative_to_config),
		cmocka_unit_test(test_config_show_round_trips_every_field),
		cmocka_unit_test(test_config_show_round_trips_the_example),
		cmocka_unit_test(test_config_show_round_trips_the_defaults),
		cmocka_unit_test(test_config_show_round_trips_a_file_with_every_key),
		cmocka_unit_test(test_config_show_masks_admin_password),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
