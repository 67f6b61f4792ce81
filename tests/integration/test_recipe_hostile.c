/* Hostile values against the whole guest recipe (issue #15 item 1): every string-valued config
 * key that reaches a template (and the prep outputs that do: token, operator key, chart name)
 * gets each string of a table of nasty text, with validation bypassed (the values are set in the
 * config struct directly, as config check would refuse most of them). For each, the master's
 * and a worker's files are rendered as build-iso renders them (registries.yaml from the config
 * as prep writes it, then kf_recipe_render_node) and recipe_hostile_check.py parses every YAML
 * file with PyYAML's safe_load (YAML 1.1: U+0085/U+2028/U+2029 are line breaks to it) and the
 * YAML nested in them, and checks that (1) each parses, (2) its shape (keys, list lengths) is
 * the one a benign value gives, (3) the value comes back byte-identical in every scalar and
 * shell word the templates put it in, and (4) nothing else changed. A render may fail only for
 * invalid UTF-8 (no YAML form), with an error that says so. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k3sforge/config.h"
#include "k3sforge/fs.h"
#include "k3sforge/proc.h"
#include "k3sforge/registries_yaml.h"
#include "k3sforge/render.h"

#define CHECK KF_TESTS_DIR "/lib/recipe_hostile_check.py"

static char g_dir[64];  /* the fixture: <g_dir>/out is the output directory, <g_dir>/cases */
static char g_out[128];
static char g_long[3100];

/* The nasty strings (NUL-free: C strings cannot hold one, and config values cannot either). */
static const char *const nasty[] = {
	/* the reproduced injection, with each YAML 1.1 line break */
	"Aa1xxxxx\xe2\x80\xa8" "bootcmd: [[sh, -c, 'id > /tmp/pwned']]\xe2\x80\xa8" "z: #",
	"Aa1xxxxx\xe2\x80\xa9" "bootcmd: [[sh, -c, 'id > /tmp/pwned']]\xe2\x80\xa9" "z: #",
	"Aa1xxxxx\xc2\x85" "bootcmd: [[sh, -c, 'id > /tmp/pwned']]\xc2\x85" "z: #",
	"Aa1xxxxx\rbootcmd: [[sh, -c, 'id > /tmp/pwned']]\rz: #",
	"Aa1xxxxx\r\nbootcmd: [x]\r\nz: #",
	"Aa1xxxxx\nbootcmd: [x]\nz: #",
	"a\tb",
	"\x01\x02\x1b[31m\x7f",
	"C1 \xc2\x80\xc2\x9f",
	"\"", "'", "\\", "a: b", "#x", "a #b", "- x", "{}", "[]", "{a: 1}", "&anchor x", "*alias",
	"!!python/object/apply:os.system ['id']", "%YAML 1.1", "@x", "`id`", "${x}", "$(id)",
	"'; id; echo '", "\\u2028 and \\n",
	"  leading and trailing  ", "~", "null", "yes", "no", "on", "off", "0o17", "1e3", "0x1F",
	"1:20", "2001-12-14", "---\n...", "caf\xc3\xa9 \xed\x95\x9c\xea\xb8\x80 \xf0\x9f\x98\x80",
	"\xef\xbf\xbe",
	"\xed\xa0\x80 lone surrogate", "\xff\xfe invalid",
	g_long,
};
#define N_NASTY (sizeof(nasty) / sizeof(nasty[0]))

/* Where a value goes. */
enum slot { S_CFG, S_TOKEN, S_OPKEY, S_CHART };

struct key {
	const char *name;     /* as recipe_hostile_check.py knows it */
	const char *benign;
	enum slot slot;
};

static const struct key keys[] = {
	{ "nodes[0].name", "k3s-master1", S_CFG },
	{ "nodes[1].name", "k3s-worker1", S_CFG },
	{ "nodes[0].ip", "192.168.6.10", S_CFG },
	{ "nodes[1].ip", "192.168.6.11", S_CFG },
	{ "nodes[1].mac", "00:50:56:3f:00:11", S_CFG },
	{ "guest.user", "ubuntu", S_CFG },
	{ "guest.timezone", "Asia/Seoul", S_CFG },
	{ "guest.locale", "en_US.UTF-8", S_CFG },
	{ "guest.keyboard", "us", S_CFG },
	{ "guest.packages[0]", "chrony", S_CFG },
	{ "network.gateway", "192.168.6.1", S_CFG },
	{ "network.dns[0]", "192.168.6.1", S_CFG },
	{ "registry.host_ip", "192.168.6.1", S_CFG },
	{ "registry.mirrors[0]", "docker.io", S_CFG },
	{ "k3s.disable[0]", "traefik", S_CFG },
	{ "k3s.pause_image", "rancher/mirrored-pause:3.6", S_CFG },
	{ "k3s.version", "v1.33.4+k3s1", S_CFG },
	{ "addons.kubesphere.admin_password", "Adm1n-benign-pw", S_CFG },
	{ "addons.kubesphere.version", "v4.1.3", S_CFG },
	{ "cluster.name", "lab", S_CFG },
	{ "input.k3s-token", "0123456789abcdef0123456789abcdef", S_TOKEN },
	{ "input.operator-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenignKey operator@k3sforge",
	  S_OPKEY },
	{ "input.chart-name", "ks-core-1.1.4.tgz", S_CHART },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	assert_non_null(*dst);
}

/* A one-item list [v]. */
static void set_list(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = calloc(1, sizeof(char *));
	assert_non_null(*v);
	(*v)[0] = strdup(s);
	*n = 1;
}

static void set_cfg(struct kf_config *c, const char *key, const char *v)
{
	if (strcmp(key, "nodes[0].name") == 0) set_str(&c->nodes[0].name, v);
	else if (strcmp(key, "nodes[1].name") == 0) set_str(&c->nodes[1].name, v);
	else if (strcmp(key, "nodes[0].ip") == 0) set_str(&c->nodes[0].ip, v);
	else if (strcmp(key, "nodes[1].ip") == 0) set_str(&c->nodes[1].ip, v);
	else if (strcmp(key, "nodes[1].mac") == 0) set_str(&c->nodes[1].mac, v);
	else if (strcmp(key, "guest.user") == 0) set_str(&c->guest.user, v);
	else if (strcmp(key, "guest.timezone") == 0) set_str(&c->guest.timezone, v);
	else if (strcmp(key, "guest.locale") == 0) set_str(&c->guest.locale, v);
	else if (strcmp(key, "guest.keyboard") == 0) set_str(&c->guest.keyboard, v);
	else if (strcmp(key, "guest.packages[0]") == 0)
		set_list(&c->guest.packages, &c->guest.n_packages, v);
	else if (strcmp(key, "network.gateway") == 0) set_str(&c->network.gateway, v);
	else if (strcmp(key, "network.dns[0]") == 0) set_list(&c->network.dns, &c->network.n_dns, v);
	else if (strcmp(key, "registry.host_ip") == 0) set_str(&c->registry.host_ip, v);
	else if (strcmp(key, "registry.mirrors[0]") == 0)
		set_list(&c->registry.mirrors, &c->registry.n_mirrors, v);
	else if (strcmp(key, "k3s.disable[0]") == 0) set_list(&c->k3s.disable, &c->k3s.n_disable, v);
	else if (strcmp(key, "k3s.pause_image") == 0) set_str(&c->k3s.pause_image, v);
	else if (strcmp(key, "k3s.version") == 0) set_str(&c->k3s.version, v);
	else if (strcmp(key, "addons.kubesphere.admin_password") == 0)
		set_str(&c->addons.admin_password, v);
	else if (strcmp(key, "addons.kubesphere.version") == 0)
		set_str(&c->addons.kubesphere_version, v);
	else if (strcmp(key, "cluster.name") == 0) set_str(&c->cluster_name, v);
	else fail_msg("unknown key %s", key);
}

/* The lab with every key at its benign value, so only the key under test differs. */
static struct kf_config *benign_lab(void)
{
	struct kf_config *c;
	struct kf_err err;

	assert_int_equal(kf_config_default(&c, &err), 0);
	for (size_t k = 0; k < N_KEYS; k++)
		if (keys[k].slot == S_CFG)
			set_cfg(c, keys[k].name, keys[k].benign);
	return c;
}

/* A node named `name` needs host keys under ssh/host/: copies of the fixture node's. */
static void host_keys_for(const char *name, const char *like)
{
	static const char *const sfx[] = { "_ed25519", "_ed25519.pub" };

	for (int i = 0; i < 2; i++) {
		char *src = NULL, *dst = NULL, *dir;
		struct kf_err err;
		assert_true(asprintf(&src, "%s/ssh/host/%s%s", g_out, like, sfx[i]) > 0);
		assert_true(asprintf(&dst, "%s/ssh/host/%s%s", g_out, name, sfx[i]) > 0);
		dir = strdup(dst);
		*strrchr(dir, '/') = '\0';
		if (kf_fs_mkdirs(dir, 0700, &err) != 0 || kf_fs_copy(src, dst, 0600, &err) != 0)
			fail_msg("host key for a hostile node name: %s", err.msg);
		free(src);
		free(dst);
		free(dir);
	}
}

/* Plain stdio, no fsync: two thousand renders are written and read back at once. */
static void put(const char *dir, const char *name, const char *text)
{
	char *path = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "wb");
	if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0)
		fail_msg("cannot write %s", path);
	free(path);
}

/* Renders the master and k3s-worker1 (by index: a name may be the hostile value) into
 * case_dir/<0|1>/ as build-iso writes render/<node>/, and registries.yaml beside them; a
 * failure goes to case_dir/error. */
static void render_case(const struct kf_config *cfg, const struct key *k, const char *v,
			const char *case_dir)
{
	struct kf_recipe_inputs *in = NULL;
	char *regs = NULL;
	struct kf_err err;
	int r;

	kf_err_clear(&err);
	assert_int_equal(kf_fs_mkdirs(case_dir, 0700, &err), 0);
	if ((r = kf_registries_yaml_render(&regs, cfg, &err)) == 0)
		put(case_dir, "registries.yaml", regs);
	if (!r && (r = kf_recipe_inputs_load(&in, cfg, g_out, &err)) != 0)
		fail_msg("inputs: %s", err.msg);
	if (!r) {
		free(in->registries_yaml);
		in->registries_yaml = strdup(regs);
		if (k->slot == S_TOKEN)
			set_str(&in->token, v);
		else if (k->slot == S_OPKEY)
			set_str(&in->operator_key, v);
		else if (k->slot == S_CHART)
			set_str(&in->chart_name, v);
	}
	for (int i = 0; i < 2 && !r; i++) {
		struct kf_node_recipe *rc = NULL;
		char sub[300];
		snprintf(sub, sizeof(sub), "%s/%d", case_dir, i);
		if ((r = kf_recipe_render_node(&rc, cfg, in, cfg->nodes[i].name,
					       KF_SOURCE_DIR "/templates", &err)) == 0) {
			/* the four files of render/<node>/ (kf_recipe_write_all, minus the fsyncs) */
			assert_int_equal(mkdir(sub, 0700), 0);
			put(sub, "autoinstall-user-data", rc->autoinstall);
			put(sub, "user-data", rc->user_data);
			put(sub, "meta-data", rc->meta_data);
			put(sub, "network-config", rc->network_config);
		}
		kf_node_recipe_free(rc);
	}
	if (r)
		put(case_dir, "error", err.msg[0] ? err.msg : "(no message)");
	kf_recipe_inputs_free(in);
	free(regs);
}

static void render_key(const struct key *k, size_t ki, const char *cases)
{
	for (size_t i = 0; i <= N_NASTY; i++) {
		const char *v = i == N_NASTY ? k->benign : nasty[i];
		struct kf_config *cfg = benign_lab();
		char dir[256];
		if (k->slot == S_CFG)
			set_cfg(cfg, k->name, v);
		if (strcmp(k->name, "nodes[0].name") == 0)
			host_keys_for(v, "k3s-master1");
		else if (strcmp(k->name, "nodes[1].name") == 0)
			host_keys_for(v, "k3s-worker1");
		if (i == N_NASTY)
			snprintf(dir, sizeof(dir), "%s/%zu/benign", cases, ki);
		else
			snprintf(dir, sizeof(dir), "%s/%zu/%zu", cases, ki, i);
		render_case(cfg, k, v, dir);
		kf_config_free(cfg);
	}
}

/* The cases' index for the checker: key names and each value as hex (any bytes). */
static void write_index(const char *cases)
{
	json_t *o = json_object(), *ks = json_array(), *vs = json_array();
	char *text;

	for (size_t k = 0; k < N_KEYS; k++)
		json_array_append_new(ks, json_pack("{s:s, s:s}", "name", keys[k].name, "benign",
						    keys[k].benign));
	for (size_t i = 0; i < N_NASTY; i++) {
		char *hex = malloc(2 * strlen(nasty[i]) + 1);
		for (size_t j = 0; nasty[i][j]; j++)
			sprintf(hex + 2 * j, "%02x", (unsigned char)nasty[i][j]);
		hex[2 * strlen(nasty[i])] = '\0';
		json_array_append_new(vs, json_string(hex));
		free(hex);
	}
	json_object_set_new(o, "keys", ks);
	json_object_set_new(o, "values", vs);
	text = json_dumps(o, JSON_INDENT(1));
	put(cases, "index.json", text);
	free(text);
	json_decref(o);
}

static void test_recipe_hostile_values_cannot_change_the_structure_of_any_file(void **state)
{
	char cases[128];
	const char *argv[] = { "python3", CHECK, cases, NULL };
	struct kf_proc p;
	struct kf_err err;
	bool ok;

	(void)state;
	snprintf(cases, sizeof(cases), "%s/cases", g_dir);
	assert_int_equal(kf_fs_mkdirs(cases, 0700, &err), 0);
	for (size_t k = 0; k < N_KEYS; k++)
		render_key(&keys[k], k, cases);
	write_index(cases);
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.timeout_ms = 540000;
	p.out_max = 4 * 1024 * 1024;
	if (kf_proc_run(&p, &err) != 0)
		fail_msg("%s: %s", CHECK, err.msg);
	printf("%s%s", kf_buf_str(&p.out), kf_buf_str(&p.errout));
	ok = p.exit_code == 0 && !p.signaled && !p.timed_out;
	kf_proc_free(&p);
	if (!ok)
		fail_msg("hostile values got through (see above)");
}

static int group_setup(void **state)
{
	const char *argv[] = { "bash", "-c",
			       "set -e; source \"$1\"; recipe_fixture \"$2\" k3s-master1 k3s-worker1 "
			       "k3s-worker2",
			       "_", KF_TESTS_DIR "/lib/recipe_fixture.sh", g_out, NULL };
	const char *env[] = { "KF_SOURCE_DIR=" KF_SOURCE_DIR, NULL };
	struct kf_proc p;
	struct kf_err err;
	int r;

	(void)state;
	/* a value longer than any line a parser might special-case, with every kind of text */
	for (size_t i = 0; i + 31 < sizeof(g_long); i += 31)
		memcpy(g_long + i, "a: b #c/- [x]\xe2\x80\xa8{y}'\"\\ %@`$(id) ", 31);
	g_long[sizeof(g_long) - 1] = '\0';
	snprintf(g_dir, sizeof(g_dir), "/tmp/kfh.XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	snprintf(g_out, sizeof(g_out), "%s/out", g_dir);
	memset(&p, 0, sizeof(p));
	p.argv = argv;
	p.env = env;
	p.timeout_ms = 120000;
	kf_err_clear(&err);
	r = kf_proc_run(&p, &err);
	if (r != 0 || p.exit_code != 0) {
		fprintf(stderr, "fixture failed: %s %s%s\n", err.msg, kf_buf_str(&p.out),
			kf_buf_str(&p.errout));
		r = -1;
	}
	kf_proc_free(&p);
	return r;
}

static int group_teardown(void **state)
{
	(void)state;
	if (getenv("KF_KEEP_HOSTILE_CASES")) { /* to rerun recipe_hostile_check.py by hand */
		fprintf(stderr, "cases kept in %s/cases\n", g_dir);
		return 0;
	}
	kf_fs_remove_tree(g_dir, NULL);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recipe_hostile_values_cannot_change_the_structure_of_any_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
