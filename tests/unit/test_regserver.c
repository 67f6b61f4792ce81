/* Generation of the registry's config.yml, its command line, and registries.yaml — each read
 * back by an independent YAML parser (python3 yaml.safe_load). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"
#include "k3sforge/regserver.h"
#include "k3sforge/registries_yaml.h"
#include "k3sforge/strv.h"
#include "registry_fixture.h"

struct ut {
	char *dir;
	struct kf_config *cfg;
	struct kf_regserver_paths paths;
};

static int setup(void **state)
{
	struct ut *u = calloc(1, sizeof(*u));
	char tmpl[] = "/tmp/kf-regserver-unit-XXXXXX";

	if (!u || !mkdtemp(tmpl))
		return -1;
	u->dir = strdup(tmpl);
	if (kf_config_default(&u->cfg, NULL) != 0)
		return -1;
	if (kf_regserver_paths(&u->paths, u->cfg, u->dir, NULL) != 0)
		return -1;
	*state = u;
	return 0;
}

static int teardown(void **state)
{
	struct ut *u = *state;
	kf_fs_remove_tree(u->dir, NULL);
	kf_regserver_paths_free(&u->paths);
	kf_config_free(u->cfg);
	free(u->dir);
	free(u);
	return 0;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

static void set_mirrors(struct kf_config *cfg, const char *const *m, size_t n)
{
	for (size_t i = 0; i < cfg->registry.n_mirrors; i++)
		free(cfg->registry.mirrors[i]);
	free(cfg->registry.mirrors);
	cfg->registry.mirrors = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		cfg->registry.mirrors[i] = strdup(m[i]);
	cfg->registry.n_mirrors = n;
}

/* Writes text to <dir>/name and parses it back with python's yaml. */
static json_t *parse_back(struct ut *u, const char *name, const char *text)
{
	char *path = kf_path_join(u->dir, name);
	json_t *j;
	assert_int_equal(kf_fs_write_atomic(path, text, strlen(text), 0600, NULL), 0);
	j = regfix_yaml_file(path);
	free(path);
	assert_non_null(j);
	return j;
}

static const char *jpath(json_t *j, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(j, a);
	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	return json_string_value(v);
}

static void test_regserver_config_has_tls_storage_listen_and_no_delete(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	json_t *j;

	assert_int_equal(kf_regserver_render_config(&text, u->cfg, &u->paths, KF_REGSERVER_BINARY,
						    "00ff", NULL), 0);
	j = parse_back(u, "config.yml", text);
	assert_true(json_is_number(json_object_get(j, "version")) ||
		    json_is_string(json_object_get(j, "version")));
	assert_string_equal(jpath(j, "storage", "filesystem", "rootdirectory"), u->paths.data);
	assert_true(json_is_false(json_object_get(json_object_get(json_object_get(j, "storage"),
						  "delete"), "enabled")));
	assert_string_equal(jpath(j, "http", "addr", NULL), "0.0.0.0:5000");
	assert_string_equal(jpath(j, "http", "secret", NULL), "00ff");
	assert_string_equal(jpath(j, "http", "tls", "certificate"), u->paths.cert);
	assert_string_equal(jpath(j, "http", "tls", "key"), u->paths.key);
	assert_non_null(strstr(u->paths.data, "/registry/data"));
	assert_non_null(strstr(u->paths.cert, "/pki/registry.crt"));
	json_decref(j);
	free(text);
}

static json_t *jget(json_t *j, const char *const *keys)
{
	for (size_t i = 0; keys[i] && j; i++)
		j = json_object_get(j, keys[i]);
	return j;
}

static void test_regserver_serving_config_is_read_only_and_never_purges(void **state)
{
	struct ut *u = *state;
	const char *ro[] = { "storage", "maintenance", "readonly", "enabled", NULL };
	const char *purge[] = { "storage", "maintenance", "uploadpurging", "enabled", NULL };
	char *text = NULL;
	json_t *j;

	assert_int_equal(kf_regserver_render_config(&text, u->cfg, &u->paths, KF_REGSERVER_BINARY,
						    "00ff", NULL), 0);
	j = parse_back(u, "config.yml", text);
	assert_true(json_is_true(jget(j, ro)));
	assert_true(json_is_false(jget(j, purge)));
	json_decref(j);
	free(text);
}

static void test_regserver_push_config_is_writable_on_loopback_same_storage(void **state)
{
	struct ut *u = *state;
	const char *ro[] = { "storage", "maintenance", "readonly", "enabled", NULL };
	const char *del[] = { "storage", "delete", "enabled", NULL };
	char *text = NULL;
	json_t *j;

	assert_int_equal(kf_regserver_render_push_config(&text, u->cfg, &u->paths,
							 KF_REGSERVER_BINARY, 40123, "00ff", NULL),
			 0);
	j = parse_back(u, "push-config.yml", text);
	assert_string_equal(jpath(j, "http", "addr", NULL), "127.0.0.1:40123");
	assert_string_equal(jpath(j, "storage", "filesystem", "rootdirectory"), u->paths.data);
	assert_string_equal(jpath(j, "http", "tls", "certificate"), u->paths.cert);
	assert_true(json_is_false(jget(j, ro)));
	assert_true(json_is_false(jget(j, del)));
	json_decref(j);
	free(text);
}

static void test_regserver_push_argv_docker_publishes_on_loopback_only(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog = { KF_REGSERVER_DOCKER, (char *)"/usr/bin/docker" };
	char **argv = NULL, want[2048];
	bool port = false, config = false;

	assert_int_equal(kf_regserver_push_argv(&argv, &u->paths, &prog, 40123, NULL), 0);
	snprintf(want, sizeof(want), "%s:/etc/docker/registry/config.yml:ro",
		 u->paths.push_config);
	for (int i = 0; argv[i]; i++) {
		if (strcmp(argv[i], "127.0.0.1:40123:5000") == 0)
			port = true;
		if (strcmp(argv[i], want) == 0)
			config = true;
	}
	assert_true(port);
	assert_true(config);
	kf_argv_free(argv);
}

static void test_regserver_lab_address_is_recognised(void **state)
{
	struct ut *u = *state;

	assert_true(kf_regserver_is_lab_address(u->cfg, "192.168.6.1:5000"));
	assert_true(kf_regserver_is_lab_address(u->cfg, "127.0.0.1:5000"));
	assert_true(kf_regserver_is_lab_address(u->cfg, "localhost:5000"));
	assert_false(kf_regserver_is_lab_address(u->cfg, "192.168.6.1:5001"));
	assert_false(kf_regserver_is_lab_address(u->cfg, "registry.example.com:5000"));
	assert_false(kf_regserver_is_lab_address(u->cfg, "docker.io"));
}

static void test_regserver_config_version_is_0_1(void **state)
{
	struct ut *u = *state;
	char *text = NULL;

	assert_int_equal(kf_regserver_render_config(&text, u->cfg, &u->paths, KF_REGSERVER_BINARY,
						    "00ff", NULL), 0);
	assert_non_null(strstr(text, "version: 0.1\n"));
	free(text);
}

static void test_regserver_config_uses_listen_and_storage_dir_settings(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_paths p;
	char *text = NULL, *data = kf_path_join(u->dir, "elsewhere");
	json_t *j;

	set_str(&u->cfg->registry.listen, "192.168.6.1:5443");
	set_str(&u->cfg->registry.storage_dir, data);
	assert_int_equal(kf_regserver_paths(&p, u->cfg, u->dir, NULL), 0);
	assert_int_equal(kf_regserver_render_config(&text, u->cfg, &p, KF_REGSERVER_BINARY, "ab",
						    NULL), 0);
	j = parse_back(u, "config.yml", text);
	assert_string_equal(jpath(j, "http", "addr", NULL), "192.168.6.1:5443");
	assert_string_equal(jpath(j, "storage", "filesystem", "rootdirectory"), data);
	json_decref(j);
	free(text);
	free(data);
	kf_regserver_paths_free(&p);
}

static void test_regserver_config_docker_mode_uses_container_paths(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	json_t *j;

	assert_int_equal(kf_regserver_render_config(&text, u->cfg, &u->paths, KF_REGSERVER_DOCKER,
						    "ab", NULL), 0);
	j = parse_back(u, "config.yml", text);
	assert_string_equal(jpath(j, "storage", "filesystem", "rootdirectory"),
			    "/var/lib/registry");
	assert_string_equal(jpath(j, "http", "tls", "certificate"), "/certs/registry.crt");
	assert_string_equal(jpath(j, "http", "addr", NULL), "0.0.0.0:5000");
	json_decref(j);
	free(text);
}

static void test_regserver_write_config_keeps_secret_and_file_when_unchanged(void **state)
{
	struct ut *u = *state;
	bool changed = false;
	struct stat st1, st2;
	char *t1 = NULL, *t2 = NULL;
	json_t *j;

	assert_int_equal(kf_regserver_write_config(u->cfg, &u->paths, KF_REGSERVER_BINARY, &changed,
						   NULL), 0);
	assert_true(changed);
	assert_int_equal(stat(u->paths.config, &st1), 0);
	assert_int_equal(st1.st_mode & 0777, 0600);
	assert_int_equal(kf_fs_read(&t1, NULL, u->paths.config, 65536, NULL), 0);
	assert_int_equal(kf_regserver_write_config(u->cfg, &u->paths, KF_REGSERVER_BINARY, &changed,
						   NULL), 0);
	assert_false(changed);
	assert_int_equal(stat(u->paths.config, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(kf_fs_read(&t2, NULL, u->paths.config, 65536, NULL), 0);
	assert_string_equal(t1, t2);
	j = regfix_yaml_file(u->paths.config);
	assert_non_null(j);
	assert_int_equal(strlen(jpath(j, "http", "secret", NULL)), 64);
	json_decref(j);
	free(t1);
	free(t2);
}

static void test_regserver_write_config_keeps_secret_across_a_port_change(void **state)
{
	struct ut *u = *state;
	bool changed = false;
	json_t *j1, *j2;

	assert_int_equal(kf_regserver_write_config(u->cfg, &u->paths, KF_REGSERVER_BINARY, &changed,
						   NULL), 0);
	j1 = regfix_yaml_file(u->paths.config);
	u->cfg->registry.port = 5001;
	assert_int_equal(kf_regserver_write_config(u->cfg, &u->paths, KF_REGSERVER_BINARY, &changed,
						   NULL), 0);
	assert_true(changed);
	j2 = regfix_yaml_file(u->paths.config);
	assert_string_equal(jpath(j2, "http", "addr", NULL), "0.0.0.0:5001");
	assert_string_equal(jpath(j1, "http", "secret", NULL), jpath(j2, "http", "secret", NULL));
	json_decref(j1);
	json_decref(j2);
}

static void test_regserver_argv_binary_serves_config(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog = { KF_REGSERVER_BINARY, (char *)"/usr/bin/docker-registry" };
	char **argv = NULL;

	assert_int_equal(kf_regserver_argv(&argv, u->cfg, &u->paths, &prog, NULL), 0);
	assert_string_equal(argv[0], "/usr/bin/docker-registry");
	assert_string_equal(argv[1], "serve");
	assert_string_equal(argv[2], u->paths.config);
	assert_null(argv[3]);
	kf_argv_free(argv);
}

static void test_regserver_argv_docker_maps_port_and_mounts(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog = { KF_REGSERVER_DOCKER, (char *)"/usr/bin/docker" };
	char **argv = NULL, want[2048];
	bool port = false, config = false, image = false, key = false;

	set_str(&u->cfg->registry.listen, "192.168.6.1:5000");
	assert_int_equal(kf_regserver_argv(&argv, u->cfg, &u->paths, &prog, NULL), 0);
	assert_string_equal(argv[1], "run");
	for (int i = 0; argv[i]; i++) {
		if (strcmp(argv[i], "192.168.6.1:5000:5000") == 0)
			port = true;
		snprintf(want, sizeof(want), "%s:/etc/docker/registry/config.yml:ro",
			 u->paths.config);
		if (strcmp(argv[i], want) == 0)
			config = true;
		snprintf(want, sizeof(want), "%s:/certs/registry.key:ro", u->paths.key);
		if (strcmp(argv[i], want) == 0)
			key = true;
		if (strcmp(argv[i], "registry:2") == 0 && !argv[i + 1])
			image = true;
		/* never the whole pki dir: it holds the CA key */
		assert_null(strstr(argv[i], "ca.key"));
	}
	assert_true(port);
	assert_true(config);
	assert_true(key);
	assert_true(image);
	kf_argv_free(argv);
}

static void test_regserver_listen_wildcard_is_probed_on_loopback(void **state)
{
	struct ut *u = *state;
	char listen[64], probe[64];
	int port = 0;

	assert_int_equal(kf_regserver_listen(u->cfg, listen, sizeof(listen), probe, sizeof(probe),
					     &port, NULL), 0);
	assert_string_equal(listen, "0.0.0.0:5000");
	assert_string_equal(probe, "127.0.0.1");
	assert_int_equal(port, 5000);
	set_str(&u->cfg->registry.listen, "127.0.0.3:6000");
	assert_int_equal(kf_regserver_listen(u->cfg, listen, sizeof(listen), probe, sizeof(probe),
					     &port, NULL), 0);
	assert_string_equal(probe, "127.0.0.3");
	assert_int_equal(port, 6000);
}

static void test_regserver_listen_rejects_malformed_address(void **state)
{
	struct ut *u = *state;
	char listen[64], probe[64];
	int port = 0;
	struct kf_err err;

	set_str(&u->cfg->registry.listen, "0.0.0.0:99999");
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_listen(u->cfg, listen, sizeof(listen), probe, sizeof(probe),
					     &port, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "registry.listen"));
}

static void test_regserver_find_program_reports_missing_configured_binary(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog;
	struct kf_err err;

	set_str(&u->cfg->registry.binary, "/nonexistent/registry");
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_find_program(&prog, u->cfg, &err), KF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/registry"));
	assert_non_null(strstr(err.msg, "apt-get install docker-registry"));
	kf_regserver_program_free(&prog);
}

static void test_regserver_find_program_rejects_unknown_server_kind(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog;
	struct kf_err err;

	set_str(&u->cfg->registry.server, "podman");
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_find_program(&prog, u->cfg, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "auto, binary or docker"));
}

static void test_regserver_find_program_docker_without_docker_in_path(void **state)
{
	struct ut *u = *state;
	struct kf_regserver_program prog;
	struct kf_err err;
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	set_str(&u->cfg->registry.server, "docker");
	setenv("PATH", u->dir, 1);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_find_program(&prog, u->cfg, &err), KF_ENOTFOUND);
	if (old)
		setenv("PATH", old, 1);
	free(old);
	assert_non_null(strstr(err.msg, "docker is not in PATH"));
	assert_non_null(strstr(err.msg, "registry.server: binary"));
}

static void test_registries_yaml_mirrors_every_registry_to_our_endpoint(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	json_t *j, *mirrors, *v;
	const char *key;
	const char *names[] = { "docker.io", "registry.k8s.io", "quay.io", "ghcr.io" };

	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, NULL), 0);
	j = parse_back(u, "registries.yaml", text);
	mirrors = json_object_get(j, "mirrors");
	assert_int_equal(json_object_size(mirrors), 4);
	for (int i = 0; i < 4; i++) {
		json_t *ep = json_object_get(json_object_get(mirrors, names[i]), "endpoint");
		assert_int_equal(json_array_size(ep), 1);
		assert_string_equal(json_string_value(json_array_get(ep, 0)),
				    "https://192.168.6.1:5000");
	}
	json_object_foreach(mirrors, key, v)
		assert_int_equal(json_object_size(v), 1);
	json_decref(j);
	free(text);
}

static void test_registries_yaml_configs_keyed_by_endpoint_hostport(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	json_t *j, *configs;

	set_str(&u->cfg->registry.host_ip, "10.1.2.3");
	u->cfg->registry.port = 5443;
	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, NULL), 0);
	j = parse_back(u, "registries.yaml", text);
	configs = json_object_get(j, "configs");
	assert_int_equal(json_object_size(configs), 1);
	assert_string_equal(jpath(configs, "10.1.2.3:5443", "tls", "ca_file"), KF_GUEST_CA_PATH);
	assert_int_equal(json_object_size(json_object_get(json_object_get(configs,
		"10.1.2.3:5443"), "tls")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
		json_object_get(json_object_get(j, "mirrors"), "quay.io"), "endpoint"), 0)),
		"https://10.1.2.3:5443");
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
	free(text);
}

static void test_registries_yaml_quotes_wildcard_mirror(void **state)
{
	struct ut *u = *state;
	const char *m[] = { "*", "docker.io" };
	char *text = NULL;
	json_t *j;

	set_mirrors(u->cfg, m, 2);
	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, NULL), 0);
	j = parse_back(u, "registries.yaml", text);
	assert_non_null(json_object_get(json_object_get(j, "mirrors"), "*"));
	assert_non_null(json_object_get(json_object_get(j, "mirrors"), "docker.io"));
	json_decref(j);
	free(text);
}

static void test_registries_yaml_rejects_duplicate_mirror(void **state)
{
	struct ut *u = *state;
	const char *m[] = { "docker.io", "quay.io", "docker.io" };
	char *text = NULL;
	struct kf_err err;

	set_mirrors(u->cfg, m, 3);
	kf_err_clear(&err);
	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, &err), KF_ECONFIG);
	assert_null(text);
	assert_non_null(strstr(err.msg, "docker.io twice"));
}

static void test_registries_yaml_unchanged_content_leaves_file_untouched(void **state)
{
	struct ut *u = *state;
	char *path = kf_path_join(u->dir, "registries.yaml");
	struct stat st1, st2;
	bool changed = false;

	assert_int_equal(kf_registries_yaml_write(u->cfg, u->dir, &changed, NULL), 0);
	assert_true(changed);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(kf_registries_yaml_write(u->cfg, u->dir, &changed, NULL), 0);
	assert_false(changed);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	u->cfg->registry.port = 5001;
	assert_int_equal(kf_registries_yaml_write(u->cfg, u->dir, &changed, NULL), 0);
	assert_true(changed);
	free(path);
}

static void test_registries_yaml_round_trips_exactly(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	json_t *got, *want;
	json_error_t je;

	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, NULL), 0);
	got = parse_back(u, "registries.yaml", text);
	want = json_loads(
		"{\"mirrors\":{"
		"\"docker.io\":{\"endpoint\":[\"https://192.168.6.1:5000\"]},"
		"\"registry.k8s.io\":{\"endpoint\":[\"https://192.168.6.1:5000\"]},"
		"\"quay.io\":{\"endpoint\":[\"https://192.168.6.1:5000\"]},"
		"\"ghcr.io\":{\"endpoint\":[\"https://192.168.6.1:5000\"]}},"
		"\"configs\":{\"192.168.6.1:5000\":{\"tls\":{\"ca_file\":"
		"\"/usr/local/share/ca-certificates/k3sforge-ca.crt\"}}}}",
		0, &je);
	assert_non_null(want);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	free(text);
}

static void test_registries_yaml_rejects_missing_registry_ip(void **state)
{
	struct ut *u = *state;
	char *text = NULL;
	struct kf_err err;

	set_str(&u->cfg->registry.host_ip, NULL);
	kf_err_clear(&err);
	assert_int_equal(kf_registries_yaml_render(&text, u->cfg, &err), KF_ECONFIG);
	assert_non_null(strstr(err.msg, "registry.host_ip"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_regserver_config_has_tls_storage_listen_and_no_delete),
		T(test_regserver_serving_config_is_read_only_and_never_purges),
		T(test_regserver_push_config_is_writable_on_loopback_same_storage),
		T(test_regserver_push_argv_docker_publishes_on_loopback_only),
		T(test_regserver_lab_address_is_recognised),
		T(test_regserver_config_version_is_0_1),
		T(test_regserver_config_uses_listen_and_storage_dir_settings),
		T(test_regserver_config_docker_mode_uses_container_paths),
		T(test_regserver_write_config_keeps_secret_and_file_when_unchanged),
		T(test_regserver_write_config_keeps_secret_across_a_port_change),
		T(test_regserver_argv_binary_serves_config),
		T(test_regserver_argv_docker_maps_port_and_mounts),
		T(test_regserver_listen_wildcard_is_probed_on_loopback),
		T(test_regserver_listen_rejects_malformed_address),
		T(test_regserver_find_program_reports_missing_configured_binary),
		T(test_regserver_find_program_rejects_unknown_server_kind),
		T(test_regserver_find_program_docker_without_docker_in_path),
		T(test_registries_yaml_mirrors_every_registry_to_our_endpoint),
		T(test_registries_yaml_configs_keyed_by_endpoint_hostport),
		T(test_registries_yaml_quotes_wildcard_mirror),
		T(test_registries_yaml_rejects_duplicate_mirror),
		T(test_registries_yaml_unchanged_content_leaves_file_untouched),
		T(test_registries_yaml_round_trips_exactly),
		T(test_registries_yaml_rejects_missing_registry_ip),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
