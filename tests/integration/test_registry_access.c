/* Who may write to the lab registry, against the real distribution registry (Debian's
 * docker-registry) on loopback: the lab-facing address serves pulls to anyone with the CA and
 * refuses every push, upload, manifest PUT and delete; k3sforge writes through its push instance
 * on 127.0.0.1 (library and `mirror` CLI), and what it pushed is then pulled on the lab side;
 * doctor and status flag a registry started the old, open way. Requests from an anonymous client
 * are made with curl (what an attacker on the lab network would use). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k3sforge/bundle.h"
#include "k3sforge/digest.h"
#include "k3sforge/doctor.h"
#include "k3sforge/err.h"
#include "k3sforge/fs.h"
#include "k3sforge/hostcheck.h"
#include "k3sforge/mirror.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "k3sforge/regserver.h"
#include "k3sforge/status.h"
#include "mirror_fixture.h"
#include "registry_fixture.h"

#define DOCKER_MT "application/vnd.docker.distribution.manifest.v2+json"

struct t {
	struct regfix *f;
	char ca[1100];
	char lab[64];        /* "127.0.0.1:<port>": the lab-facing address */
	char push[64];       /* the push instance */
	char manifest_digest[KF_OCI_DIGEST_LEN];
	char layer_digest[KF_OCI_DIGEST_LEN];
	char *manifest;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct kf_regserver_report rep;
	struct kf_err err;

	if (!t || regfix_new(&t->f) != 0)
		return -1;
	snprintf(t->ca, sizeof(t->ca), "%s/ca.crt", t->f->pki_dir);
	snprintf(t->lab, sizeof(t->lab), "127.0.0.1:%d", t->f->port);
	kf_err_clear(&err);
	if (kf_regserver_ensure(t->f->cfg, t->f->out_dir, &rep, &err) != 0) {
		fprintf(stderr, "ensure: %s\n", err.msg);
		return -1;
	}
	snprintf(t->push, sizeof(t->push), "%s", rep.push_addr);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	mt_stop_all();
	regfix_free(t->f);
	free(t->manifest);
	free(t);
	return 0;
}

/* curl as an anonymous client with our CA: the HTTP status of METHOD url (body from a file
 * when not NULL, with a content type). */
static int anon(const struct t *t, const char *method, const char *url, const char *body_file,
		const char *ctype)
{
	char *out = NULL, data[1200], hdr[300];
	int code = -1;
	const char *argv[20];
	int n = 0;

	argv[n++] = "curl";
	argv[n++] = "-sS";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	argv[n++] = "--cacert";
	argv[n++] = t->ca;
	argv[n++] = "-o";
	argv[n++] = "/dev/null";
	argv[n++] = "-w";
	argv[n++] = "%{http_code}";
	argv[n++] = "-X";
	argv[n++] = method;
	if (body_file) {
		snprintf(data, sizeof(data), "@%s", body_file);
		argv[n++] = "--data-binary";
		argv[n++] = data;
	}
	if (ctype) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
		argv[n++] = "-H";
		argv[n++] = hdr;
	}
	argv[n++] = url;
	argv[n] = NULL;
	if (regfix_run(argv, &out) == 0 && out)
		code = atoi(out);
	free(out);
	return code;
}

/* GET url anonymously into a file; the HTTP status. */
static int anon_get(const struct t *t, const char *url, const char *accept, const char *file)
{
	char *out = NULL, hdr[300];
	int code = -1;
	snprintf(hdr, sizeof(hdr), "Accept: %s", accept ? accept : "*/*");
	const char *argv[] = { "curl", "-sS", "--noproxy", "*", "--cacert", t->ca, "-H", hdr,
			       "-o", file, "-w", "%{http_code}", url, NULL };
	if (regfix_run(argv, &out) == 0 && out)
		code = atoi(out);
	free(out);
	return code;
}

/* Pushes lab/app:v1 through the given registry address as k3sforge does (0 or the error). */
static int push_image(struct t *t, const char *addr, const char *repo, const char *tag,
		      unsigned seed, struct kf_err *err)
{
	struct kf_oci_registry_opts o = { 0 };
	struct kf_oci_registry *r = NULL;
	struct mt_blob cfgb, layer;
	int rc;

	o.ca_file = t->ca;
	o.push = true;
	o.max_retries = 1;
	if ((rc = kf_oci_registry_new(&r, addr, &o, err)) != 0)
		return rc;
	mt_blob_text(&cfgb, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	mt_blob_random(&layer, 4096, seed);
	free(t->manifest);
	t->manifest = NULL;
	rc = mt_push_image(r, repo, tag, DOCKER_MT, &cfgb, &layer, 1, &t->manifest,
			   t->manifest_digest);
	snprintf(t->layer_digest, sizeof(t->layer_digest), "%s", layer.digest);
	if (rc && !err->msg[0])
		kf_err_set(err, KF_EFAIL, "push to %s failed", addr);
	mt_blob_free(&cfgb);
	mt_blob_free(&layer);
	kf_oci_registry_free(r);
	return rc;
}

static void push_ok(struct t *t)
{
	struct kf_err err;

	kf_err_clear(&err);
	if (push_image(t, t->push, "lab/app", "v1", 11, &err) != 0)
		fail_msg("push through %s: %s", t->push, err.msg);
}

static void test_push_instance_listens_on_loopback_only_on_its_own_port(void **state)
{
	struct t *t = *state;
	char *addr_file = kf_path_join(t->f->out_dir, "registry/push.addr"), *text = NULL;
	char *cfg = kf_path_join(t->f->out_dir, "registry/push-config.yml");
	json_t *j;
	struct stat st;

	assert_int_equal(strncmp(t->push, "127.0.0.1:", 10), 0);
	assert_string_not_equal(t->push, t->lab);
	assert_int_equal(kf_fs_read(&text, NULL, addr_file, 64, NULL), 0);
	assert_int_equal(strncmp(text, t->push, strlen(t->push)), 0);
	assert_int_equal(stat(cfg, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(j = regfix_yaml_file(cfg));
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "http"), "addr")),
			    t->push);
	json_decref(j);
	free(text);
	free(addr_file);
	free(cfg);
}

static void test_lab_side_refuses_anonymous_blob_upload(void **state)
{
	struct t *t = *state;
	char url[300];
	bool accepts = true;
	struct kf_err err;

	snprintf(url, sizeof(url), "https://%s/v2/lab/app/blobs/uploads/", t->lab);
	assert_int_equal(anon(t, "POST", url, NULL, NULL), 405);
	/* a monolithic upload names its digest in the query: refused the same way */
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/blobs/uploads/?digest=sha256:"
		 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", t->lab);
	assert_int_equal(anon(t, "POST", url, "/dev/null", "application/octet-stream"), 405);
	kf_err_clear(&err);
	assert_int_equal(kf_regserver_push_probe("127.0.0.1", t->f->port, t->ca, "lab/app", 5000,
						 &accepts, &err), 0);
	assert_false(accepts);
}

static void test_lab_side_refuses_manifest_put_over_a_pulled_tag(void **state)
{
	struct t *t = *state;
	char url[300], file[1200], got[1200];
	char *text = NULL;

	push_ok(t);
	snprintf(file, sizeof(file), "%s/manifest.json", t->f->out_dir);
	assert_int_equal(kf_fs_write_atomic(file, t->manifest, strlen(t->manifest), 0644, NULL), 0);
	/* the attack of the issue: replace a tag the nodes pull */
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/v1", t->lab);
	assert_int_equal(anon(t, "PUT", url, file, DOCKER_MT), 405);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/evil", t->lab);
	assert_int_equal(anon(t, "PUT", url, file, DOCKER_MT), 405);
	snprintf(got, sizeof(got), "%s/got.json", t->f->out_dir);
	assert_int_equal(anon_get(t, url, DOCKER_MT, got), 404);
	/* v1 still names what k3sforge pushed */
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/v1", t->lab);
	assert_int_equal(anon_get(t, url, DOCKER_MT, got), 200);
	assert_int_equal(kf_fs_read(&text, NULL, got, 1 << 20, NULL), 0);
	assert_string_equal(text, t->manifest);
	free(text);
}

static void test_lab_side_refuses_delete_and_push_side_has_deletes_off(void **state)
{
	struct t *t = *state;
	char url[400], got[1200];

	push_ok(t);
	snprintf(got, sizeof(got), "%s/got.json", t->f->out_dir);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/%s", t->lab,
		 t->manifest_digest);
	assert_int_equal(anon(t, "DELETE", url, NULL, NULL), 405);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/blobs/%s", t->lab, t->layer_digest);
	assert_int_equal(anon(t, "DELETE", url, NULL, NULL), 405);
	/* no k3sforge operation deletes, so not even the loopback instance allows it */
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/%s", t->push,
		 t->manifest_digest);
	assert_int_equal(anon(t, "DELETE", url, NULL, NULL), 405);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/%s", t->lab,
		 t->manifest_digest);
	assert_int_equal(anon_get(t, url, DOCKER_MT, got), 200);
}

static void test_image_pushed_through_loopback_is_pulled_on_the_lab_side(void **state)
{
	struct t *t = *state;
	char url[400], file[1200], hex[KF_SHA256_HEX_LEN + 1];
	char *data = NULL;
	size_t len = 0;

	push_ok(t);
	snprintf(file, sizeof(file), "%s/pulled", t->f->out_dir);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/manifests/v1", t->lab);
	assert_int_equal(anon_get(t, url, DOCKER_MT, file), 200);
	assert_int_equal(kf_fs_read(&data, &len, file, 1 << 20, NULL), 0);
	kf_sha256_hex(data, len, hex);
	assert_string_equal(hex, t->manifest_digest + 7);
	free(data);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/blobs/%s", t->lab, t->layer_digest);
	assert_int_equal(anon_get(t, url, NULL, file), 200);
	assert_int_equal(kf_fs_read(&data, &len, file, 1 << 20, NULL), 0);
	assert_int_equal(len, 4096);
	kf_sha256_hex(data, len, hex);
	assert_string_equal(hex, t->layer_digest + 7);
	free(data);
}

static void test_k3sforge_client_cannot_push_to_the_lab_side(void **state)
{
	struct t *t = *state;
	struct kf_err err;

	kf_err_clear(&err);
	assert_int_not_equal(push_image(t, t->lab, "lab/other", "v1", 12, &err), 0);
}

/* The lab as a configuration file for the CLI (nodes on loopback addresses nobody contacts). */
static char *write_lab_yaml(struct t *t)
{
	char *path = kf_path_join(t->f->out_dir, "lab.yaml"), text[1024];

	snprintf(text, sizeof(text),
		 "cluster: {name: lab}\n"
		 "network: {subnet: 127.0.0.0/24, gateway: 127.0.0.1}\n"
		 "registry: {host_ip: 127.0.0.1, port: %d, listen: \"127.0.0.1:%d\", "
		 "server: binary}\n"
		 "addons: {kubesphere: {enabled: false}}\n"
		 "nodes:\n"
		 "  - {name: k3s-master1, role: master, ip: 127.0.0.10}\n"
		 "  - {name: k3s-worker1, role: worker, ip: 127.0.0.11}\n",
		 t->f->port, t->f->port);
	assert_int_equal(kf_fs_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	return path;
}

static void test_mirror_cli_writes_through_loopback_and_the_lab_side_serves_it(void **state)
{
	struct t *t = *state;
	struct mt_server src = { 0 };
	struct kf_oci_registry *sr = NULL;
	struct kf_oci_registry_opts so = { .push = true };
	struct mt_blob cfgb, layer;
	char *yaml = write_lab_yaml(t), *manifest = NULL, *srcdir = mt_tmpdir("regaccess-src");
	char digest[KF_OCI_DIGEST_LEN], url[400], file[1200], *out = NULL;
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	struct kf_err err;

	/* a plain-http source registry on loopback with one image */
	assert_int_equal(mt_registry_start(&src, srcdir, NULL, NULL), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_oci_registry_new(&sr, src.url, &so, &err), 0);
	mt_blob_text(&cfgb, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	mt_blob_random(&layer, 3000, 21);
	assert_int_equal(mt_push_image(sr, "library/tool", "1.0", DOCKER_MT, &cfgb, &layer, 1,
				       &manifest, digest), 0);
	/* `mirror` without --to, and with --to naming the lab address: both go in through the
	 * push instance (the lab side would answer 405) */
	const char *argv[] = { bin, "-c", yaml, "-o", t->f->out_dir, "mirror", "--from", src.url,
			       "library/tool:1.0", NULL };
	assert_int_equal(regfix_run(argv, &out), 0);
	free(out);
	out = NULL;
	free(manifest);
	manifest = NULL;
	assert_int_equal(mt_push_image(sr, "library/tool2", "1.0", DOCKER_MT, &cfgb, &layer, 1,
				       &manifest, digest), 0);
	const char *argv2[] = { bin, "-c", yaml, "-o", t->f->out_dir, "mirror", "--from", src.url,
				"--to", t->lab, "library/tool2:1.0", NULL };
	assert_int_equal(regfix_run(argv2, &out), 0);
	free(out);
	snprintf(file, sizeof(file), "%s/pulled", t->f->out_dir);
	snprintf(url, sizeof(url), "https://%s/v2/library/tool/manifests/1.0", t->lab);
	assert_int_equal(anon_get(t, url, DOCKER_MT, file), 200);
	snprintf(url, sizeof(url), "https://%s/v2/library/tool/blobs/%s", t->lab, layer.digest);
	assert_int_equal(anon_get(t, url, NULL, file), 200);
	snprintf(url, sizeof(url), "https://%s/v2/library/tool2/manifests/1.0", t->lab);
	assert_int_equal(anon_get(t, url, DOCKER_MT, file), 200);
	mt_blob_free(&cfgb);
	mt_blob_free(&layer);
	free(manifest);
	kf_oci_registry_free(sr);
	mt_server_stop(&src);
	kf_fs_remove_tree(srcdir, NULL);
	free(srcdir);
	free(yaml);
}

static void test_bundle_import_cli_loads_through_loopback(void **state)
{
	struct t *t = *state;
	struct mt_server src = { 0 };
	struct kf_oci_registry *sr = NULL;
	struct kf_oci_registry_opts so = { .push = true };
	struct kf_mirror_opts mo = { 0 };
	struct kf_mirror_image img[] = { { "library/bundled:2.0", NULL } };
	struct mt_blob cfgb, layer;
	char *yaml = write_lab_yaml(t), *manifest = NULL, *srcdir = mt_tmpdir("regaccess-bsrc");
	char digest[KF_OCI_DIGEST_LEN], url[400], file[1200], bundle[1200], *out = NULL;
	const char *bin = getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
	struct kf_err err;

	assert_int_equal(mt_registry_start(&src, srcdir, NULL, NULL), 0);
	kf_err_clear(&err);
	assert_int_equal(kf_oci_registry_new(&sr, src.url, &so, &err), 0);
	mt_blob_text(&cfgb, "{\"architecture\":\"amd64\",\"os\":\"linux\"}");
	mt_blob_random(&layer, 2500, 31);
	assert_int_equal(mt_push_image(sr, "library/bundled", "2.0", DOCKER_MT, &cfgb, &layer, 1,
				       &manifest, digest), 0);
	snprintf(bundle, sizeof(bundle), "%s/images.tar", t->f->out_dir);
	mo.from = src.url;
	if (kf_bundle_export(&mo, img, 1, NULL, 0, bundle, NULL, &err) != 0)
		fail_msg("export: %s", err.msg);
	/* `bundle import --to <lab address>`: through the push instance (the lab side would
	 * answer 405) */
	const char *argv2[] = { bin, "-c", yaml, "-o", t->f->out_dir, "bundle", "import", bundle,
				"--to", t->lab, NULL };
	assert_int_equal(regfix_run(argv2, &out), 0);
	free(out);
	out = NULL;
	/* and without --to: the lab registry, the same way */
	const char *argv[] = { bin, "-c", yaml, "-o", t->f->out_dir, "bundle", "import", bundle,
			       NULL };
	assert_int_equal(regfix_run(argv, &out), 0);
	snprintf(file, sizeof(file), "%s/pulled", t->f->out_dir);
	snprintf(url, sizeof(url), "https://%s/v2/library/bundled/manifests/2.0", t->lab);
	assert_int_equal(anon_get(t, url, DOCKER_MT, file), 200);
	snprintf(url, sizeof(url), "https://%s/v2/library/bundled/blobs/%s", t->lab, layer.digest);
	assert_int_equal(anon_get(t, url, NULL, file), 200);
	free(out);
	mt_blob_free(&cfgb);
	mt_blob_free(&layer);
	free(manifest);
	kf_oci_registry_free(sr);
	mt_server_stop(&src);
	kf_fs_remove_tree(srcdir, NULL);
	free(srcdir);
	free(yaml);
}

/* Restarts the lab side the way k3sforge before this change did: one instance on the lab
 * address, writable, deletes on. Returns its pid. */
static long start_old_open_registry(struct t *t)
{
	char *old = kf_path_join(t->f->out_dir, "registry/old-config.yml"), text[8192];
	char data[1100], cert[1100], key[1100];
	struct kf_err err;
	long pid;

	kf_err_clear(&err);
	assert_int_equal(kf_regserver_stop(t->f->cfg, t->f->out_dir, NULL, &err), 0);
	snprintf(data, sizeof(data), "%s/registry/data", t->f->out_dir);
	snprintf(cert, sizeof(cert), "%s/registry.crt", t->f->pki_dir);
	snprintf(key, sizeof(key), "%s/registry.key", t->f->pki_dir);
	snprintf(text, sizeof(text),
		 "version: 0.1\nlog: {level: error}\n"
		 "storage: {filesystem: {rootdirectory: \"%s\"}, delete: {enabled: true}}\n"
		 "http: {addr: \"%s\", secret: oldsecret, tls: {certificate: \"%s\", key: \"%s\"}}\n",
		 data, t->lab, cert, key);
	assert_int_equal(kf_fs_write_atomic(old, text, strlen(text), 0600, NULL), 0);
	const char *argv[] = { "docker-registry", "serve", old, NULL };
	pid = regfix_spawn(argv);
	assert_true(pid > 0);
	assert_true(regfix_wait_listen("127.0.0.1", t->f->port, 15000));
	for (int i = 0; i < 100; i++) {
		struct kf_err e;
		kf_err_clear(&e);
		if (kf_regserver_health("127.0.0.1", t->f->port, t->ca, 2000, &e) == 0)
			break;
		kf_sleep_ms(100);
	}
	free(old);
	return pid;
}

/* Entries in a directory (-1 when it does not exist). */
static int dir_entries(const char *path)
{
	char *out = NULL;
	int n = -1;
	const char *argv[] = { "sh", "-c", "test -d \"$1\" && ls -A \"$1\" | wc -l", "sh", path,
			       NULL };
	if (regfix_run(argv, &out) == 0 && out)
		n = atoi(out);
	free(out);
	return n;
}

static void test_probe_of_an_open_registry_leaves_nothing_behind(void **state)
{
	struct t *t = *state;
	char addr[300], repos[1200], probe_dir[1300], url[300], got[1200];
	bool accepts = false;
	struct kf_err err;
	long pid;

	pid = start_old_open_registry(t);
	kf_err_clear(&err);
	assert_int_equal(push_image(t, t->lab, "lab/app", "v1", 13, &err), 0);
	snprintf(repos, sizeof(repos), "%s/registry/data/docker/registry/v2/repositories",
		 t->f->out_dir);
	assert_int_equal(dir_entries(repos), 1);
	assert_int_equal(kf_regserver_lab_accepts_pushes(t->f->cfg, t->f->out_dir, &accepts, addr,
							 sizeof(addr), &err), 0);
	assert_true(accepts);
	assert_string_equal(addr, t->lab);
	/* nothing of the probe stays: not on disk, not in the catalog */
	snprintf(probe_dir, sizeof(probe_dir), "%s/%s", repos, KF_REGSERVER_PROBE_REPO);
	assert_int_equal(dir_entries(probe_dir), -1);
	assert_int_equal(dir_entries(repos), 1);
	snprintf(url, sizeof(url), "https://%s/v2/_catalog", t->lab);
	snprintf(got, sizeof(got), "%s/catalog.json", t->f->out_dir);
	assert_int_equal(anon_get(t, url, NULL, got), 200);
	{
		json_t *j = json_load_file(got, 0, NULL);
		assert_non_null(j);
		assert_int_equal(json_array_size(json_object_get(j, "repositories")), 1);
		json_decref(j);
	}
	regfix_kill(pid);
}

static void test_status_flags_a_registry_started_the_old_open_way(void **state)
{
	struct t *t = *state;
	struct kf_status_opts o = { .out_dir = t->f->out_dir, .ssh_timeout_ms = 500 };
	struct kf_status *st = NULL;
	struct kf_err err;
	size_t n_nodes = t->f->cfg->n_nodes;
	bool found = false;
	long pid;

	/* no nodes: nothing but the host-side checks, nothing outside loopback */
	t->f->cfg->n_nodes = 0;
	t->f->cfg->addons.kubesphere = false;
	kf_err_clear(&err);
	assert_int_equal(kf_status_collect(&st, t->f->cfg, &o, &err), 0);
	assert_int_equal(st->registry.accepts_pushes, KF_TRI_NO);
	for (size_t i = 0; i < st->n_problems; i++)
		assert_null(strstr(st->problems[i], KF_REGSERVER_OPEN_FINDING));
	kf_status_free(st);
	st = NULL;

	pid = start_old_open_registry(t);
	assert_int_equal(kf_status_collect(&st, t->f->cfg, &o, &err), 0);
	assert_int_equal(st->registry.accepts_pushes, KF_TRI_YES);
	for (size_t i = 0; i < st->n_problems; i++)
		if (strstr(st->problems[i], KF_REGSERVER_OPEN_FINDING) &&
		    strstr(st->problems[i], "registry start"))
			found = true;
	assert_true(found);
	kf_status_free(st);
	t->f->cfg->n_nodes = n_nodes;
	regfix_kill(pid);
}

static void test_doctor_flags_a_registry_started_the_old_open_way(void **state)
{
	struct t *t = *state;
	struct kf_doctor_opts o = { .out_dir = t->f->out_dir, .timeout_ms = 500 };
	struct kf_findings f = { 0 };
	size_t n_nodes = t->f->cfg->n_nodes;
	enum kf_check_status seen = KF_CHECK_INFO;
	bool found = false;
	long pid;

	t->f->cfg->n_nodes = 0;
	assert_int_equal(kf_doctor_nodes(&f, NULL, t->f->cfg, &o), 0);
	for (size_t i = 0; i < f.n; i++)
		if (strcmp(f.items[i].id, "registry-open") == 0)
			seen = f.items[i].status;
	assert_int_equal(seen, KF_CHECK_OK);
	kf_findings_free(&f);
	memset(&f, 0, sizeof(f));

	pid = start_old_open_registry(t);
	assert_int_equal(kf_doctor_nodes(&f, NULL, t->f->cfg, &o), 0);
	for (size_t i = 0; i < f.n; i++)
		if (strcmp(f.items[i].id, "registry-open") == 0) {
			assert_int_equal(f.items[i].status, KF_CHECK_FAIL);
			assert_non_null(strstr(f.items[i].summary, KF_REGSERVER_OPEN_FINDING));
			assert_non_null(strstr(f.items[i].fix, "registry start"));
			found = true;
		}
	assert_true(found);
	kf_findings_free(&f);
	t->f->cfg->n_nodes = n_nodes;
	regfix_kill(pid);
}

static void test_stage_check_refuses_the_old_open_registry_and_ensure_fixes_it(void **state)
{
	struct t *t = *state;
	struct kf_regserver_report rep;
	char url[300];
	struct kf_err err;
	bool accepts = true;
	char *old = kf_path_join(t->f->out_dir, "registry/old-config.yml");
	char *cur = kf_path_join(t->f->out_dir, "registry/config.yml");
	long pid;

	/* the old registry ran with our own config.yml path (as an upgrade finds it) */
	pid = start_old_open_registry(t);
	regfix_kill(pid);
	assert_int_equal(rename(old, cur), 0);
	const char *argv[] = { "docker-registry", "serve", cur, NULL };
	pid = regfix_spawn(argv);
	assert_true(regfix_wait_listen("127.0.0.1", t->f->port, 15000));
	kf_sleep_ms(300);
	kf_err_clear(&err);
	assert_int_not_equal(kf_regserver_check(t->f->cfg, t->f->out_dir, &err), 0);
	/* ensure (what prep and `registry start` run) replaces it with the read-only pair */
	kf_err_clear(&err);
	if (kf_regserver_ensure(t->f->cfg, t->f->out_dir, &rep, &err) != 0)
		fail_msg("ensure: %s", err.msg);
	assert_true(rep.restarted);
	assert_false(kf_regserver_pid_is_ours(pid, cur));
	assert_int_equal(kf_regserver_check(t->f->cfg, t->f->out_dir, &err), 0);
	snprintf(url, sizeof(url), "https://%s/v2/lab/app/blobs/uploads/", t->lab);
	assert_int_equal(anon(t, "POST", url, NULL, NULL), 405);
	assert_int_equal(kf_regserver_push_probe("127.0.0.1", t->f->port, t->ca, "lab/app", 5000,
						 &accepts, &err), 0);
	assert_false(accepts);
	regfix_kill(pid);
	free(old);
	free(cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_push_instance_listens_on_loopback_only_on_its_own_port),
		T(test_lab_side_refuses_anonymous_blob_upload),
		T(test_lab_side_refuses_manifest_put_over_a_pulled_tag),
		T(test_lab_side_refuses_delete_and_push_side_has_deletes_off),
		T(test_image_pushed_through_loopback_is_pulled_on_the_lab_side),
		T(test_k3sforge_client_cannot_push_to_the_lab_side),
		T(test_mirror_cli_writes_through_loopback_and_the_lab_side_serves_it),
		T(test_bundle_import_cli_loads_through_loopback),
		T(test_probe_of_an_open_registry_leaves_nothing_behind),
		T(test_status_flags_a_registry_started_the_old_open_way),
		T(test_doctor_flags_a_registry_started_the_old_open_way),
		T(test_stage_check_refuses_the_old_open_registry_and_ensure_fixes_it),
#undef T
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
