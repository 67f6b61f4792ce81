/* `k3sforge -c lab.yaml prep` end to end, through the real binary: a fake k3s release served on
 * loopback (tests/lib/download_fileserver.py), install.sh pinned by digest, a real
 * docker-registry as the image source holding synthetic images for every line of the release's
 * k3s-images.txt, and the lab registry prep itself starts over TLS on 127.0.0.1. Checked with
 * the tools an operator would use: openssl, ssh-keygen, curl --cacert, python3's YAML reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "download_fixture.h"
#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/oci.h"
#include "k3sforge/platform.h"
#include "k3sforge/proc.h"
#include "mirror_fixture.h"
#include "registry_fixture.h"

#define VERSION "v1.33.4+k3s1"
#define VERSION_URL "v1.33.4%2Bk3s1"
#define N_RELEASE_IMAGES 7
#define MAX_OUTS 16

struct world {
	char *dir;
	struct kf_dlsrv fs;
	struct kf_fake_release rel;
	struct mt_server src;
	struct kf_oci_registry *src_r;
	char *images[N_RELEASE_IMAGES + 1];   /* k3s-images.txt, as written by the fake release */
	char pause_digest[KF_OCI_DIGEST_LEN];
	/* The first run's output dir, its config and its registry port (shared by the checks of
	 * what one prep leaves behind). */
	char *main_out, *main_cfg;
	int main_port;
	char *main_run;   /* its combined output */
	int main_rc;
	/* The unreachable-release run goes on in the background while the other tests run (its
	 * download retries back off for ~15 s). */
	pthread_t slow;
	bool slow_started;
	char *slow_cfg, *slow_out, *slow_run, slow_rel[128];
	int slow_rc;
	/* Every output dir used, so teardown stops each one's registry by its pid. */
	char *outs[MAX_OUTS];
	int n_outs;
	int seq;
};

static struct world W;

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *bin(void)
{
	return getenv("K3SFORGE_BIN") ? getenv("K3SFORGE_BIN") : KF_BINARY;
}

/* Runs argv; *out gets stdout followed by stderr (caller frees). Returns the exit code. */
static int run(const char *const *argv, char **out, int timeout_ms)
{
	struct kf_proc p = { 0 };
	struct kf_err err;
	int rc;

	p.argv = argv;
	p.timeout_ms = timeout_ms;
	p.out_max = 16 * 1024 * 1024;
	kf_err_clear(&err);
	if (kf_proc_run(&p, &err) != 0) {
		fprintf(stderr, "run %s: %s\n", argv[0], err.msg);
		kf_proc_free(&p);
		if (out)
			*out = strdup("");
		return -1;
	}
	rc = p.signaled || p.timed_out ? -1 : p.exit_code;
	if (out) {
		struct kf_buf b = KF_BUF_INIT;
		kf_buf_printf(&b, "%s%s", kf_buf_str(&p.out), kf_buf_str(&p.errout));
		*out = kf_buf_detach(&b);
		if (!*out)
			*out = strdup("");
	}
	kf_proc_free(&p);
	return rc;
}

/* `k3sforge -c cfg -o out <args...>`; *out gets its output (caller frees). */
static int kf(const char *cfg, const char *outdir, char **out, ...)
{
	const char *argv[32];
	int n = 0;
	va_list ap;

	argv[n++] = bin();
	argv[n++] = "--no-color";
	argv[n++] = "-c";
	argv[n++] = cfg;
	argv[n++] = "-o";
	argv[n++] = outdir;
	va_start(ap, out);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return run(argv, out, 180000);
}

static void remember_out(const char *out)
{
	if (W.n_outs < MAX_OUTS)
		W.outs[W.n_outs++] = strdup(out);
}

static long read_pid(const char *out)
{
	char path[1024], *s;
	long pid;

	snprintf(path, sizeof(path), "%s/registry/registry.pid", out);
	if (!(s = kf_test_read(path)))
		return 0;
	pid = strtol(s, NULL, 10);
	free(s);
	return pid;
}

static bool alive(long pid)
{
	return pid > 0 && kill((pid_t)pid, 0) == 0;
}

/* Stops the registry prep started for this output dir, both instances (the lab-facing one and
 * the loopback push one), by their pid files. */
static void stop_registry(const char *out)
{
	char path[1024], *s;
	long pid = read_pid(out);

	if (pid > 0)
		kf_proc_stop(pid, 5000);
	snprintf(path, sizeof(path), "%s/registry/push.pid", out);
	if ((s = kf_test_read(path)) != NULL) {
		pid = strtol(s, NULL, 10);
		free(s);
		if (pid > 0)
			kf_proc_stop(pid, 5000);
	}
}

struct cfgopt {
	int port;               /* lab registry port */
	const char *release;    /* base URL of the release; NULL = the file server's */
	const char *source;     /* images.source_registry; NULL = the test source registry */
	bool omit_pause;        /* leave mirrored-pause out of the image list */
	const char *extra_image;  /* one more image in the list */
	const char *pause;      /* k3s.pause_image; NULL = the release's own */
	bool no_images;         /* no image list at all */
};

/* Writes <dir>/lab.yaml for a fresh output dir <dir>/out; returns both (caller frees). */
static void make_lab(const struct cfgopt *o, char **cfg_path, char **out_dir)
{
	struct kf_buf y = KF_BUF_INIT;
	char *d, rel[128];

	snprintf(rel, sizeof(rel), "%s/rel", W.fs.base);
	assert_true(asprintf(&d, "%s/run%d", W.dir, ++W.seq) > 0);
	assert_int_equal(kf_fs_mkdirs(d, 0755, NULL), 0);
	kf_buf_printf(&y,
		      "cluster: {name: e2e}\n"
		      "k3s:\n"
		      "  version: \"%s\"\n"
		      "  release_url: %s\n"
		      "  install_script_url: %s/rel/%s/install.sh\n"
		      "  install_script_sha256: %s\n"
		      "%s%s%s"
		      "network: {subnet: 127.0.0.0/24, gateway: 127.0.0.1, dns: [127.0.0.1]}\n"
		      "nodes:\n"
		      "  - {name: k3s-master1, role: master, ip: 127.0.0.10}\n"
		      "  - {name: k3s-worker1, role: worker, ip: 127.0.0.11}\n"
		      "  - {name: k3s-worker2, role: worker, ip: 127.0.0.12}\n"
		      "registry:\n"
		      "  host_ip: 127.0.0.1\n"
		      "  port: %d\n"
		      "  listen: 127.0.0.1:%d\n"
		      "  server: binary\n"
		      "  extra_sans: [\"DNS:registry.lab\"]\n"
		      "images:\n"
		      "  source_registry: %s\n"
		      "  inline:\n",
		      VERSION, o->release ? o->release : rel, W.fs.base, VERSION_URL, W.rel.install,
		      o->pause ? "  pause_image: \"" : "", o->pause ? o->pause : "",
		      o->pause ? "\"\n" : "", o->port, o->port, o->source ? o->source : W.src.url);
	for (int i = 0; W.images[i] && !o->no_images; i++) {
		if (o->omit_pause && strstr(W.images[i], "mirrored-pause"))
			continue;
		kf_buf_printf(&y, "    - \"%s\"\n", W.images[i]);
	}
	if (o->extra_image)
		kf_buf_printf(&y, "    - \"%s\"\n", o->extra_image);
	kf_buf_puts(&y, "addons:\n  kubesphere: {enabled: false}\n");
	assert_true(asprintf(cfg_path, "%s/lab.yaml", d) > 0);
	assert_true(asprintf(out_dir, "%s/out", d) > 0);
	assert_int_equal(kf_fs_write_atomic(*cfg_path, y.data, y.len, 0644, NULL), 0);
	remember_out(*out_dir);
	kf_buf_free(&y);
	free(d);
}

static bool contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

#define assert_contains(hay, needle)                                                          \
	do {                                                                                   \
		if (!contains((hay), (needle)))                                               \
			fail_msg("expected \"%s\" in:\n%s", (needle), (hay) ? (hay) : "(null)");    \
	} while (0)

static void sha_of(const char *path, char hex[KF_SHA256_HEX_LEN + 1])
{
	struct kf_err err;

	kf_err_clear(&err);
	if (kf_sha256_file(path, hex, &err) != 0)
		fail_msg("sha256 %s: %s", path, err.msg);
}

/* ---- the world: file server, fake release, source registry with the release's images ---- */

static int push_release_images(void)
{
	struct mt_blob shared;
	int rc = 0;

	mt_blob_random(&shared, 64 * 1024, 7);
	for (int i = 0; W.images[i] && !rc; i++) {
		struct kf_oci_ref ref;
		struct kf_err err;
		struct mt_blob cfg, own;
		struct mt_blob layers[2];
		char *m = NULL, digest[KF_OCI_DIGEST_LEN], text[256];

		kf_err_clear(&err);
		if (kf_oci_ref_parse(&ref, W.images[i], &err) != 0)
			return -1;
		snprintf(text, sizeof(text),
			 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"image\":\"%s\"}", W.images[i]);
		mt_blob_text(&cfg, text);
		mt_blob_random(&own, 4096 + (size_t)i * 512, 100u + (unsigned)i);
		layers[0] = shared;
		layers[1] = own;
		rc = mt_push_image(W.src_r, ref.repo, ref.tag,
				   i % 2 ? KF_OCI_MT_OCI_MANIFEST : KF_OCI_MT_DOCKER_MANIFEST, &cfg,
				   layers, 2, &m, digest);
		if (!rc && strstr(ref.repo, "mirrored-pause"))
			memcpy(W.pause_digest, digest, sizeof(digest));
		free(m);
		mt_blob_free(&cfg);
		mt_blob_free(&own);
		kf_oci_ref_free(&ref);
	}
	mt_blob_free(&shared);
	return rc;
}

static void *slow_run(void *arg)
{
	(void)arg;
	W.slow_rc = kf(W.slow_cfg, W.slow_out, &W.slow_run, "prep", NULL);
	return NULL;
}

static int group_setup(void **state)
{
	char path[1024], *txt = NULL, *save = NULL;
	struct kf_err err;
	int n = 0;

	(void)state;
	memset(&W, 0, sizeof(W));
	kf_err_clear(&err);
	if (!(W.dir = kf_test_tmpdir("prep-e2e")))
		return -1;
	snprintf(path, sizeof(path), "%s/fs", W.dir);
	if (kf_fs_mkdirs(path, 0755, NULL) != 0 || kf_dlsrv_start(&W.fs, path, false) != 0)
		return -1;
	if (kf_fake_release_make(&W.rel, W.fs.www, "rel", VERSION, NULL, NULL) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/k3s-images.txt", W.rel.dir);
	if (!(txt = kf_test_read(path)))
		return -1;
	for (char *l = strtok_r(txt, "\n", &save); l && n < N_RELEASE_IMAGES;
	     l = strtok_r(NULL, "\n", &save))
		if (*l)
			W.images[n++] = strdup(l);
	free(txt);
	if (n != N_RELEASE_IMAGES)
		return -1;
	snprintf(path, sizeof(path), "%s/src", W.dir);
	if (kf_fs_mkdirs(path, 0755, NULL) != 0 || mt_registry_start(&W.src, path, NULL, NULL) != 0)
		return -1;
	if (kf_oci_registry_new(&W.src_r, W.src.url, &(struct kf_oci_registry_opts){ .push = true },
				&err) != 0 ||
	    push_release_images() != 0)
		return -1;

	/* Nothing listens at this release URL. */
	snprintf(W.slow_rel, sizeof(W.slow_rel), "http://127.0.0.1:%d/rel", mt_free_port());
	make_lab(&(struct cfgopt){ .port = mt_free_port(), .release = W.slow_rel }, &W.slow_cfg,
		 &W.slow_out);
	if (pthread_create(&W.slow, NULL, slow_run, NULL) != 0)
		return -1;
	W.slow_started = true;

	/* The first run, whose results most tests inspect. */
	W.main_port = mt_free_port();
	make_lab(&(struct cfgopt){ .port = W.main_port }, &W.main_cfg, &W.main_out);
	W.main_rc = kf(W.main_cfg, W.main_out, &W.main_run, "prep", NULL);
	if (W.main_rc != 0)
		fprintf(stderr, "first prep failed (%d):\n%s\n", W.main_rc, W.main_run);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (W.slow_started)
		pthread_join(W.slow, NULL);
	free(W.slow_cfg);
	free(W.slow_out);
	free(W.slow_run);
	for (int i = 0; i < W.n_outs; i++) {
		stop_registry(W.outs[i]);
		free(W.outs[i]);
	}
	kf_oci_registry_free(W.src_r);
	mt_server_stop(&W.src);
	mt_stop_all();
	kf_dlsrv_stop(&W.fs);
	kf_fake_release_free(&W.rel);
	for (int i = 0; W.images[i]; i++)
		free(W.images[i]);
	if (W.dir && !getenv("KF_KEEP"))
		kf_fs_remove_tree(W.dir, NULL);
	free(W.dir);
	free(W.main_out);
	free(W.main_cfg);
	free(W.main_run);
	return 0;
}

static void need_main(void)
{
	if (W.main_rc != 0)
		fail_msg("the first prep failed (%d):\n%s", W.main_rc, W.main_run);
}

static char *main_path(const char *rel)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", W.main_out, rel) > 0);
	return p;
}

/* ---- what one prep leaves behind -------------------------------------------------------- */

static void test_prep_leaves_every_artifact_verified(void **state)
{
	const struct {
		const char *name;
		const char *want;
	} files[] = {
		{ "k3s", W.rel.k3s },
		{ "k3s-airgap-images-amd64.tar.zst", W.rel.airgap },
		{ "k3s-images.txt", W.rel.images },
		{ "install.sh", W.rel.install },
	};
	char hex[KF_SHA256_HEX_LEN + 1], *p;
	struct stat st;

	(void)state;
	need_main();
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[256];
		snprintf(rel, sizeof(rel), "artifacts/%s", files[i].name);
		p = main_path(rel);
		sha_of(p, hex);
		assert_string_equal(hex, files[i].want);
		free(p);
	}
	p = main_path("artifacts/k3s");
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	free(p);
	p = main_path("artifacts/verified.json");
	assert_int_equal(access(p, R_OK), 0);
	free(p);
}

static void test_prep_leaves_a_ca_and_a_registry_cert_with_the_required_sans(void **state)
{
	char *ca = main_path("pki/ca.crt"), *crt = main_path("pki/registry.crt");
	char *key = main_path("pki/registry.key"), *out = NULL;
	const char *x509[] = { "openssl", "x509", "-in", crt, "-noout", "-ext", "subjectAltName",
			       "-subject", NULL };
	const char *verify[] = { "openssl", "verify", "-CAfile", ca, crt, NULL };
	struct stat st;

	(void)state;
	need_main();
	assert_int_equal(run(x509, &out, 30000), 0);
	/* IP:<registry ip> (here 127.0.0.1, which is also the loopback SAN: listed once),
	 * DNS:localhost and the extra SAN from the config, and nothing else. */
	assert_contains(out, "X509v3 Subject Alternative Name:");
	assert_contains(out, "IP Address:127.0.0.1");
	assert_contains(out, "DNS:localhost");
	assert_contains(out, "DNS:registry.lab");
	assert_contains(out, "CN = 127.0.0.1");
	{
		const char *sans = strstr(out, "Name:") + 5;
		int commas = 0;
		for (const char *c = sans; *c && strncmp(c, "subject", 7) != 0; c++)
			commas += *c == ',';
		assert_int_equal(commas, 2);
	}
	free(out);
	assert_int_equal(run(verify, &out, 30000), 0);
	assert_contains(out, ": OK");
	free(out);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(ca);
	free(crt);
	free(key);
}

static void test_prep_leaves_ssh_keys_that_ssh_keygen_accepts(void **state)
{
	const char *keys[] = { "ssh/id_ed25519", "ssh/id_ed25519.pub",
			       "ssh/host/k3s-master1_ed25519", "ssh/host/k3s-master1_ed25519.pub",
			       "ssh/host/k3s-worker1_ed25519", "ssh/host/k3s-worker1_ed25519.pub",
			       "ssh/host/k3s-worker2_ed25519", "ssh/host/k3s-worker2_ed25519.pub" };

	(void)state;
	need_main();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *p = main_path(keys[i]), *out = NULL;
		const char *argv[] = { "ssh-keygen", "-l", "-f", p, NULL };
		if (run(argv, &out, 30000) != 0)
			fail_msg("ssh-keygen -l -f %s: %s", p, out);
		assert_contains(out, "(ED25519)");
		free(out);
		free(p);
	}
}

static void test_prep_pins_every_node_host_key_in_known_hosts(void **state)
{
	const char *nodes[][2] = { { "127.0.0.10", "k3s-master1" },
				   { "127.0.0.11", "k3s-worker1" },
				   { "127.0.0.12", "k3s-worker2" } };
	char *kh = main_path("ssh/known_hosts");

	(void)state;
	need_main();
	for (int i = 0; i < 3; i++) {
		char rel[128], *pub, *fp = NULL, *found = NULL;
		snprintf(rel, sizeof(rel), "ssh/host/%s_ed25519.pub", nodes[i][1]);
		pub = main_path(rel);
		const char *lookup[] = { "ssh-keygen", "-l", "-F", nodes[i][0], "-f", kh, NULL };
		const char *keyfp[] = { "ssh-keygen", "-l", "-f", pub, NULL };
		assert_int_equal(run(lookup, &found, 30000), 0);
		assert_int_equal(run(keyfp, &fp, 30000), 0);
		/* "256 SHA256:... comment (ED25519)": the fingerprint is the second field */
		char *sp = strchr(fp, ' '), *end = sp ? strchr(sp + 1, ' ') : NULL;
		assert_non_null(end);
		*end = '\0';
		assert_contains(found, sp + 1);
		free(found);
		free(fp);
		free(pub);
	}
	free(kh);
}

static void test_prep_writes_registries_yaml_pointing_at_the_lab_registry(void **state)
{
	char *p = main_path("registries.yaml"), endpoint[128], hostport[64];
	json_t *y, *m, *e;
	const char *mirrors[] = { "docker.io", "registry.k8s.io", "quay.io", "ghcr.io" };

	(void)state;
	need_main();
	snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d", W.main_port);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", W.main_port);
	assert_non_null(y = regfix_yaml_file(p));
	for (int i = 0; i < 4; i++) {
		m = json_object_get(json_object_get(y, "mirrors"), mirrors[i]);
		e = json_array_get(json_object_get(m, "endpoint"), 0);
		assert_non_null(e);
		assert_string_equal(json_string_value(e), endpoint);
	}
	e = json_object_get(json_object_get(json_object_get(json_object_get(y, "configs"),
							    hostport), "tls"), "ca_file");
	assert_non_null(json_string_value(e));
	json_decref(y);
	free(p);
}

static void test_prep_leaves_a_tls_registry_curl_trusts_with_the_ca(void **state)
{
	char url[128], *ca = main_path("pki/ca.crt"), *out = NULL;
	const char *curl[] = { "curl", "-sS", "-f", "--cacert", ca, "-D", "-", url, NULL };

	(void)state;
	need_main();
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/v2/", W.main_port);
	if (run(curl, &out, 30000) != 0)
		fail_msg("curl --cacert %s %s: %s", ca, url, out);
	assert_contains(out, "200");
	assert_true(contains(out, "Docker-Distribution-Api-Version") ||
		    contains(out, "docker-distribution-api-version"));
	free(out);
	free(ca);
}

static void test_prep_mirrors_every_image_of_the_release(void **state)
{
	char spec[64], *ca = main_path("pki/ca.crt");
	struct kf_oci_registry *lab = NULL;
	struct kf_err err;

	(void)state;
	need_main();
	kf_err_clear(&err);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", W.main_port);
	assert_int_equal(kf_oci_registry_new(&lab, spec, &(struct kf_oci_registry_opts){
							   .ca_file = ca }, &err), 0);
	for (int i = 0; W.images[i]; i++) {
		struct kf_oci_ref ref;
		char d[KF_OCI_DIGEST_LEN], sd[KF_OCI_DIGEST_LEN];
		assert_int_equal(kf_oci_ref_parse(&ref, W.images[i], &err), 0);
		if (kf_oci_manifest_head(lab, ref.repo, ref.tag, d, &err) != 0)
			fail_msg("%s not in the lab registry: %s", W.images[i], err.msg);
		assert_int_equal(kf_oci_manifest_head(W.src_r, ref.repo, ref.tag, sd, &err), 0);
		assert_string_equal(d, sd);
		kf_oci_ref_free(&ref);
	}
	assert_contains(W.main_run, "images: 7 copied, 0 already present, 0 failed");
	kf_oci_registry_free(lab);
	free(ca);
}

static void test_registry_ls_lists_every_mirrored_repository_with_its_tags(void **state)
{
	char *out = NULL;

	(void)state;
	need_main();
	assert_int_equal(kf(W.main_cfg, W.main_out, &out, "registry", "ls", NULL), 0);
	assert_contains(out, "REPOSITORY");
	for (int i = 0; W.images[i]; i++) {
		/* "docker.io/rancher/x:tag" → a line "rancher/x   tag" */
		const char *repo = W.images[i] + strlen("docker.io/");
		const char *colon = strrchr(repo, ':');
		char line[256];
		snprintf(line, sizeof(line), "%.*s", (int)(colon - repo), repo);
		assert_contains(out, line);
		const char *at = strstr(out, line);
		const char *eol = strchr(at, '\n');
		assert_non_null(eol);
		assert_true(strstr(at, colon + 1) && strstr(at, colon + 1) < eol);
	}
	assert_contains(out, "7 repositories, 7 tags in 127.0.0.1:");
	free(out);
}

/* More tags than one page (ls asks for 100 per page): ls follows the Link header. */
static void test_registry_ls_json_follows_pagination(void **state)
{
	char spec[64], *ca = main_path("pki/ca.crt"), *out = NULL, *ev;
	struct kf_oci_registry *lab = NULL;
	struct kf_oci_manifest m = { 0 };
	struct kf_err err;
	json_t *j, *repos, *it;
	size_t i;
	bool found = false;

	(void)state;
	need_main();
	kf_err_clear(&err);
	{
		/* tags go in through the push instance (the lab-facing one is read-only) */
		char *pa = main_path("registry/push.addr"), *text = NULL;
		assert_int_equal(kf_fs_read(&text, NULL, pa, 64, NULL), 0);
		text[strcspn(text, "\n")] = '\0';
		snprintf(spec, sizeof(spec), "%s", text);
		free(text);
		free(pa);
	}
	assert_int_equal(kf_oci_registry_new(&lab, spec, &(struct kf_oci_registry_opts){
							   .ca_file = ca, .push = true }, &err), 0);
	assert_int_equal(kf_oci_manifest_get(lab, "rancher/klipper-lb", "v0.4.13", &m, &err), 0);
	for (int t = 0; t < 104; t++) {
		char tag[32];
		snprintf(tag, sizeof(tag), "page-%03d", t);
		assert_int_equal(kf_oci_manifest_put(lab, "rancher/klipper-lb", tag, m.data, m.len,
						     m.media_type, &err), 0);
	}
	kf_oci_manifest_free(&m);
	assert_int_equal(kf(W.main_cfg, W.main_out, &out, "--json", "registry", "ls", NULL), 0);
	assert_non_null(ev = strstr(out, "\"registry_ls\""));
	while (ev > out && ev[-1] != '\n')
		ev--;
	assert_non_null(j = json_loads(ev, JSON_DISABLE_EOF_CHECK, NULL));
	repos = json_object_get(j, "repositories");
	assert_non_null(repos);
	json_array_foreach(repos, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "name")), "rancher/klipper-lb") ==
		    0) {
			assert_int_equal(json_array_size(json_object_get(it, "tags")), 105);
			found = true;
		}
	}
	assert_true(found);
	assert_int_equal(json_integer_value(json_object_get(j, "repository_count")), 7);
	assert_int_equal(json_integer_value(json_object_get(j, "tag_count")), 7 + 104);
	json_decref(j);
	kf_oci_registry_free(lab);
	free(out);
	free(ca);
}

static void test_prep_second_run_does_nothing(void **state)
{
	char *out = NULL, *statef = main_path("state.json"), *before, *after;
	long pid;

	(void)state;
	need_main();
	pid = read_pid(W.main_out);
	assert_true(alive(pid));
	before = kf_test_read(statef);
	assert_int_equal(kf_dlsrv_clear_log(&W.fs), 0);
	assert_int_equal(kf(W.main_cfg, W.main_out, &out, "prep", NULL), 0);
	assert_contains(out, "prep");
	assert_contains(out, "inputs unchanged");
	/* nothing fetched, nothing mirrored, the same registry process */
	assert_int_equal(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1), 0);
	assert_false(contains(out, "copied"));
	assert_int_equal(read_pid(W.main_out), pid);
	after = kf_test_read(statef);
	assert_non_null(before);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(statef);
	free(out);
}

/* A crash can leave a file zero-filled with its size and mtime: `render` then says
 * "k3s-images.txt is empty: run `k3sforge prep` again", so prep must not call its inputs
 * unchanged; it fetches the file again. */
static void test_prep_notices_a_k3s_file_damaged_in_place(void **state)
{
	char *out = NULL, *path = main_path("artifacts/k3s-images.txt"), *zeros;
	char before[KF_SHA256_HEX_LEN + 1], after[KF_SHA256_HEX_LEN + 1];
	struct stat st;
	struct timespec times[2];
	FILE *fp;

	(void)state;
	need_main();
	sha_of(path, before);
	assert_int_equal(stat(path, &st), 0);
	zeros = calloc(1, (size_t)st.st_size);
	assert_non_null(zeros);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(fwrite(zeros, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
	assert_int_equal(fclose(fp), 0);
	free(zeros);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);

	assert_int_equal(kf_dlsrv_clear_log(&W.fs), 0);
	if (kf(W.main_cfg, W.main_out, &out, "prep", NULL) != 0)
		fail_msg("prep after the damage failed:\n%s", out);
	assert_false(contains(out, "inputs unchanged"));
	assert_contains(out, "k3s-images.txt is damaged");
	assert_true(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1) >= 1);
	sha_of(path, after);
	assert_string_equal(after, before);
	free(out);
	/* and the next run is up to date again */
	assert_int_equal(kf(W.main_cfg, W.main_out, &out, "prep", NULL), 0);
	assert_contains(out, "inputs unchanged");
	free(out);
	free(path);
}

static void test_prep_restarts_the_registry_after_it_died(void **state)
{
	char *out = NULL, url[128], *ca = main_path("pki/ca.crt"), *c = NULL;
	const char *curl[] = { "curl", "-sS", "-f", "--cacert", ca, url, NULL };
	long pid, pid2;

	(void)state;
	need_main();
	pid = read_pid(W.main_out);
	assert_true(alive(pid));
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	for (int i = 0; i < 100 && alive(pid); i++)
		kf_sleep_ms(20);
	assert_int_equal(kf_dlsrv_clear_log(&W.fs), 0);
	assert_int_equal(kf(W.main_cfg, W.main_out, &out, "prep", NULL), 0);
	assert_contains(out, "running it");
	pid2 = read_pid(W.main_out);
	assert_true(alive(pid2));
	assert_int_not_equal(pid2, pid);
	/* the rerun only restarted it: artifacts verified, images already there */
	assert_int_equal(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1), 0);
	assert_contains(out, "all 7 images already in the lab registry");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/v2/", W.main_port);
	assert_int_equal(run(curl, &c, 30000), 0);
	free(c);
	free(ca);
	free(out);
}

/* `up` finds prep stale because its registry is gone, reruns it (restarting the registry) and
 * goes on to build-iso, which stops here for want of an Ubuntu ISO. (An installer ISO from an
 * earlier build is in place, so up's preflight leaves the Ubuntu ISO to build-iso.) */
static void test_up_reruns_prep_when_the_registry_died(void **state)
{
	char *out = NULL, iso_dir[600], iso[700];
	long pid, pid2;

	(void)state;
	need_main();
	snprintf(iso_dir, sizeof(iso_dir), "%s/iso", W.main_out);
	snprintf(iso, sizeof(iso), "%s/installer.iso", iso_dir);
	assert_int_equal(kf_fs_mkdirs(iso_dir, 0755, NULL), 0);
	assert_int_equal(kf_fs_write_atomic(iso, "placeholder", 11, 0644, NULL), 0);
	pid = read_pid(W.main_out);
	assert_true(alive(pid));
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	for (int i = 0; i < 100 && alive(pid); i++)
		kf_sleep_ms(20);
	/* no vmrun here: up's host checks before the first stage warn instead of stopping */
	setenv("K3SFORGE_HOST_CHECKS", "warn", 1);
	assert_int_not_equal(kf(W.main_cfg, W.main_out, &out, "up", NULL), 0);
	unsetenv("K3SFORGE_HOST_CHECKS");
	assert_contains(out, "the registry is not running");
	assert_contains(out, "done: prep");
	assert_contains(out, "build-iso");
	assert_contains(out, "paths.ubuntu_iso is not set");
	pid2 = read_pid(W.main_out);
	assert_true(alive(pid2));
	assert_int_not_equal(pid2, pid);
	assert_int_equal(unlink(iso), 0);
	free(out);
}

/* Without an installer ISO yet, `up` checks the Ubuntu ISO before prep spends any time (with
 * every other check of the run: vmrun is missing here too). */
static void test_up_checks_the_ubuntu_iso_before_prep_runs(void **state)
{
	char *out = NULL;
	int before;

	(void)state;
	need_main();
	before = kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1);
	assert_int_not_equal(kf(W.main_cfg, W.main_out, &out, "up", "--force", NULL), 0);
	assert_contains(out, "failed before anything was downloaded or changed");
	assert_contains(out, "ubuntu-iso paths.ubuntu_iso is not set");
	assert_false(contains(out, "start: prep"));
	assert_int_equal(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1), before);
	free(out);
}

/* ---- fresh runs ------------------------------------------------------------------------- */

static void test_prep_from_a_folder_downloads_nothing(void **state)
{
	char *cfg, *outd, *out = NULL, hex[KF_SHA256_HEX_LEN + 1], *k3s;

	(void)state;
	make_lab(&(struct cfgopt){ .port = mt_free_port() }, &cfg, &outd);
	assert_int_equal(kf_dlsrv_clear_log(&W.fs), 0);
	if (kf(cfg, outd, &out, "prep", "--artifacts-from", W.rel.dir, NULL) != 0)
		fail_msg("prep --artifacts-from failed:\n%s", out);
	assert_int_equal(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1), 0);
	assert_true(asprintf(&k3s, "%s/artifacts/k3s", outd) > 0);
	sha_of(k3s, hex);
	assert_string_equal(hex, W.rel.k3s);
	stop_registry(outd);
	free(k3s);
	free(out);
	free(cfg);
	free(outd);
}

/* The release is the authority on its own images: one that only k3s-images.txt names is mirrored
 * all the same (the list holds the add-ons). */
static void test_prep_mirrors_a_release_image_only_k3s_images_txt_names(void **state)
{
	char *cfg, *outd, *out = NULL, *ca, spec[64], d[KF_OCI_DIGEST_LEN];
	struct kf_oci_registry *lab = NULL;
	struct kf_err err;
	int port = mt_free_port();

	(void)state;
	kf_err_clear(&err);
	make_lab(&(struct cfgopt){ .port = port, .omit_pause = true }, &cfg, &outd);
	if (kf(cfg, outd, &out, "prep", "--artifacts-from", W.rel.dir, NULL) != 0)
		fail_msg("prep with the pause image only in k3s-images.txt failed:\n%s", out);
	assert_contains(out, "images: 1 of k3s-images.txt not in the image list, 6 from the image "
			     "list");
	assert_contains(out, "images: 7 copied, 0 already present, 0 failed");
	assert_true(asprintf(&ca, "%s/pki/ca.crt", outd) > 0);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	assert_int_equal(kf_oci_registry_new(&lab, spec, &(struct kf_oci_registry_opts){
							   .ca_file = ca }, &err), 0);
	if (kf_oci_manifest_head(lab, "rancher/mirrored-pause", "3.6", d, &err) != 0)
		fail_msg("the pause image is not in the lab registry: %s", err.msg);
	assert_string_equal(d, W.pause_digest);
	kf_oci_registry_free(lab);
	stop_registry(outd);
	free(ca);
	free(out);
	free(cfg);
	free(outd);
}

/* With no image list at all, every release image comes from k3s-images.txt and a pinned pause
 * image that is not the release's own from the configuration; one the source lacks is named. */
static void test_prep_mirrors_the_release_and_the_pinned_pause_image_without_a_list(void **state)
{
	char *cfg, *outd, *out = NULL, *ca, spec[64], d[KF_OCI_DIGEST_LEN];
	char pause_digest[KF_OCI_DIGEST_LEN], *m = NULL;
	struct kf_oci_registry *lab = NULL;
	struct mt_blob c, layer;
	struct kf_err err;
	int port = mt_free_port();

	(void)state;
	kf_err_clear(&err);
	make_lab(&(struct cfgopt){ .port = mt_free_port(), .no_images = true,
				   .pause = "registry.k8s.io/pause:3.9" },
		 &cfg, &outd);
	/* Not at the source yet: the mirror step names it, and the run fails. */
	assert_int_not_equal(kf(cfg, outd, &out, "prep", "--artifacts-from", W.rel.dir, NULL), 0);
	assert_contains(out, "images: 7 of k3s-images.txt, the pinned pause image, 0 from the image "
			     "list");
	assert_contains(out, "images: 7 copied, 0 already present, 1 failed");
	assert_contains(out, "could not be mirrored into the lab registry: registry.k8s.io/pause:3.9");
	stop_registry(outd);
	free(out);
	free(cfg);
	free(outd);

	/* At the source: a fresh lab gets it without listing it anywhere. */
	mt_blob_text(&c, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"image\":\"pause\"}");
	mt_blob_random(&layer, 2048, 99);
	assert_int_equal(mt_push_image(W.src_r, "pause", "3.9", KF_OCI_MT_OCI_MANIFEST, &c, &layer, 1,
				       &m, pause_digest), 0);
	free(m);
	mt_blob_free(&c);
	mt_blob_free(&layer);
	make_lab(&(struct cfgopt){ .port = port, .no_images = true,
				   .pause = "registry.k8s.io/pause:3.9" },
		 &cfg, &outd);
	if (kf(cfg, outd, &out, "prep", "--artifacts-from", W.rel.dir, NULL) != 0)
		fail_msg("prep with a pinned pause image and no list failed:\n%s", out);
	assert_contains(out, "images: 8 copied, 0 already present, 0 failed");
	assert_true(asprintf(&ca, "%s/pki/ca.crt", outd) > 0);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	assert_int_equal(kf_oci_registry_new(&lab, spec, &(struct kf_oci_registry_opts){
							   .ca_file = ca }, &err), 0);
	assert_int_equal(kf_oci_manifest_head(lab, "pause", "3.9", d, &err), 0);
	assert_string_equal(d, pause_digest);
	kf_oci_registry_free(lab);
	stop_registry(outd);
	free(ca);
	free(out);
	free(cfg);
	free(outd);
}

static void test_prep_names_an_image_the_source_registry_lacks(void **state)
{
	char *cfg, *outd, *out = NULL, url[256];
	const char *del[] = { "curl", "-sS", "-f", "-X", "DELETE", url, NULL };
	int rc;

	(void)state;
	/* Take the pause image out of the source, run a fresh prep, put it back. */
	snprintf(url, sizeof(url), "http://%s/v2/rancher/mirrored-pause/manifests/%s", W.src.addr,
		 W.pause_digest);
	assert_int_equal(run(del, NULL, 30000), 0);
	make_lab(&(struct cfgopt){ .port = mt_free_port() }, &cfg, &outd);
	rc = kf(cfg, outd, &out, "prep", "--artifacts-from", W.rel.dir, NULL);
	assert_int_equal(push_release_images(), 0);
	assert_int_not_equal(rc, 0);
	assert_contains(out, "could not be mirrored into the lab registry: "
			     "docker.io/rancher/mirrored-pause:3.6");
	assert_contains(out, "MANIFEST_UNKNOWN");
	assert_contains(out, W.src.url);
	assert_contains(out, "run `k3sforge prep` again");
	stop_registry(outd);
	free(out);
	free(cfg);
	free(outd);
}

/* ---- the air-gap bundle ------------------------------------------------------------------ */

/* `bundle export` from the first run's configuration (made once). */
static const char *bundle(void)
{
	static char path[1024];
	char *out = NULL;

	need_main();
	if (path[0])
		return path;
	snprintf(path, sizeof(path), "%s/lab-bundle.tar", W.dir);
	if (kf(W.main_cfg, W.main_out, &out, "bundle", "export", path, NULL) != 0) {
		path[0] = '\0';
		fail_msg("bundle export failed:\n%s", out);
	}
	free(out);
	return path;
}

static void test_bundle_export_carries_the_images_and_the_k3s_files(void **state)
{
	const char *b = bundle();
	char *list = NULL;
	const char *tar[] = { "tar", "-tf", b, NULL };

	(void)state;
	assert_int_equal(run(tar, &list, 30000), 0);
	assert_contains(list, "files/k3s\n");
	assert_contains(list, "files/k3s-airgap-images-amd64.tar.zst\n");
	assert_contains(list, "files/k3s-images.txt\n");
	assert_contains(list, "files/sha256sum-amd64.txt\n");
	assert_contains(list, "files/install.sh\n");
	assert_contains(list, "index.json\n");
	free(list);
}

static void test_bundle_export_adds_a_release_image_the_list_lacks(void **state)
{
	char *cfg, *outd, *out = NULL, *b, *index = NULL;
	const char *tar[] = { "tar", "-xOf", NULL, "index.json", NULL };

	(void)state;
	make_lab(&(struct cfgopt){ .port = mt_free_port(), .omit_pause = true }, &cfg, &outd);
	assert_true(asprintf(&b, "%s/short.tar", W.dir) > 0);
	if (kf(cfg, outd, &out, "bundle", "export", b, NULL) != 0)
		fail_msg("bundle export with the pause image only in k3s-images.txt failed:\n%s", out);
	tar[2] = b;
	assert_int_equal(run(tar, &index, 30000), 0);
	assert_contains(index, "rancher/mirrored-pause:3.6");
	free(index);
	free(b);
	free(out);
	free(cfg);
	free(outd);
}

/* The offline machine: no release server, no source registry; only the bundle. */
static void offline_lab(char **cfg, char **outd)
{
	char nowhere[128], src[128];
	int port = mt_free_port();

	snprintf(nowhere, sizeof(nowhere), "http://127.0.0.1:%d/rel", port);
	snprintf(src, sizeof(src), "http://127.0.0.1:%d", port);
	make_lab(&(struct cfgopt){ .port = mt_free_port(), .release = nowhere, .source = src }, cfg,
		 outd);
}

static void test_prep_from_bundle_works_offline(void **state)
{
	const char *b = bundle();
	char *cfg, *outd, *out = NULL, *k3s, hex[KF_SHA256_HEX_LEN + 1], spec[64], *ca;
	struct kf_oci_registry *lab = NULL;
	struct kf_err err;
	int port;

	(void)state;
	offline_lab(&cfg, &outd);
	assert_int_equal(kf_dlsrv_clear_log(&W.fs), 0);
	if (kf(cfg, outd, &out, "prep", "--from-bundle", b, NULL) != 0)
		fail_msg("prep --from-bundle failed:\n%s", out);
	assert_int_equal(kf_dlsrv_count(&W.fs, NULL, 0, NULL, -1), 0);
	assert_true(asprintf(&k3s, "%s/artifacts/k3s", outd) > 0);
	sha_of(k3s, hex);
	assert_string_equal(hex, W.rel.k3s);
	/* every image of the release, by the digest the source had */
	kf_err_clear(&err);
	assert_true(asprintf(&ca, "%s/pki/ca.crt", outd) > 0);
	{
		/* the port is in the config: read it back from registries.yaml's endpoint */
		char *ry, *p;
		assert_true(asprintf(&p, "%s/registries.yaml", outd) > 0);
		assert_non_null(ry = kf_test_read(p));
		assert_non_null(strstr(ry, "https://127.0.0.1:"));
		port = atoi(strstr(ry, "https://127.0.0.1:") + strlen("https://127.0.0.1:"));
		free(ry);
		free(p);
	}
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	assert_int_equal(kf_oci_registry_new(&lab, spec, &(struct kf_oci_registry_opts){
							   .ca_file = ca }, &err), 0);
	for (int i = 0; W.images[i]; i++) {
		struct kf_oci_ref ref;
		char d[KF_OCI_DIGEST_LEN], sd[KF_OCI_DIGEST_LEN];
		assert_int_equal(kf_oci_ref_parse(&ref, W.images[i], &err), 0);
		assert_int_equal(kf_oci_manifest_head(lab, ref.repo, ref.tag, d, &err), 0);
		assert_int_equal(kf_oci_manifest_head(W.src_r, ref.repo, ref.tag, sd, &err), 0);
		assert_string_equal(d, sd);
		kf_oci_ref_free(&ref);
	}
	kf_oci_registry_free(lab);
	/* and a plain rerun afterwards (what `up` does) finds it all up to date, offline */
	free(out);
	assert_int_equal(kf(cfg, outd, &out, "prep", NULL), 0);
	assert_contains(out, "inputs unchanged");
	stop_registry(outd);
	free(ca);
	free(k3s);
	free(out);
	free(cfg);
	free(outd);
}

/* Copies the bundle, damaged by `damage`, and checks prep refuses it having made nothing. */
static void refused(void (*damage)(const char *path), const char *expect)
{
	const char *b = bundle();
	char *cfg, *outd, *out = NULL, *copy, *p;
	struct kf_err err;

	offline_lab(&cfg, &outd);
	assert_true(asprintf(&copy, "%s/damaged.tar", W.dir) > 0);
	kf_err_clear(&err);
	assert_int_equal(kf_fs_copy(b, copy, 0644, &err), 0);
	damage(copy);
	assert_int_not_equal(kf(cfg, outd, &out, "prep", "--from-bundle", copy, NULL), 0);
	assert_contains(out, expect);
	assert_contains(out, "nothing was loaded");
	/* nothing made: no trust material, no registry, no artifacts */
	assert_true(asprintf(&p, "%s/pki/ca.crt", outd) > 0);
	assert_int_not_equal(access(p, F_OK), 0);
	free(p);
	assert_int_equal(read_pid(outd), 0);
	assert_true(asprintf(&p, "%s/artifacts", outd) > 0);
	assert_int_not_equal(access(p, F_OK), 0);
	free(p);
	free(copy);
	free(out);
	free(cfg);
	free(outd);
}

static void flip_a_byte_in_the_middle(const char *path)
{
	FILE *f = fopen(path, "r+b");
	long size;
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	/* the middle of the archive is inside the airgap tarball or a layer: data, not a header */
	assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
	fputc(c ^ 0x5a, f);
	assert_int_equal(fclose(f), 0);
}

static void cut_in_half(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
}

static void test_prep_refuses_a_tampered_bundle_before_loading_anything(void **state)
{
	(void)state;
	refused(flip_a_byte_in_the_middle, "sha256");
}

static void test_prep_refuses_a_truncated_bundle_before_loading_anything(void **state)
{
	(void)state;
	refused(cut_in_half, "bundle");
}

static void test_prep_with_an_unreachable_release_url_says_what_to_check(void **state)
{
	(void)state;
	assert_true(W.slow_started);
	assert_int_equal(pthread_join(W.slow, NULL), 0);
	W.slow_started = false;
	assert_int_not_equal(W.slow_rc, 0);
	assert_contains(W.slow_run, "cannot reach the host of");
	assert_contains(W.slow_run, W.slow_rel);
	assert_contains(W.slow_run, "check the network and the URL");
	/* nothing half-done looks complete: no artifact under its final name */
	{
		char *k3s;
		assert_true(asprintf(&k3s, "%s/artifacts/sha256sum-amd64.txt", W.slow_out) > 0);
		assert_int_not_equal(access(k3s, F_OK), 0);
		free(k3s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prep_leaves_every_artifact_verified),
		cmocka_unit_test(test_prep_leaves_a_ca_and_a_registry_cert_with_the_required_sans),
		cmocka_unit_test(test_prep_leaves_ssh_keys_that_ssh_keygen_accepts),
		cmocka_unit_test(test_prep_pins_every_node_host_key_in_known_hosts),
		cmocka_unit_test(test_prep_writes_registries_yaml_pointing_at_the_lab_registry),
		cmocka_unit_test(test_prep_leaves_a_tls_registry_curl_trusts_with_the_ca),
		cmocka_unit_test(test_prep_mirrors_every_image_of_the_release),
		cmocka_unit_test(test_registry_ls_lists_every_mirrored_repository_with_its_tags),
		cmocka_unit_test(test_registry_ls_json_follows_pagination),
		cmocka_unit_test(test_prep_second_run_does_nothing),
		cmocka_unit_test(test_prep_notices_a_k3s_file_damaged_in_place),
		cmocka_unit_test(test_prep_restarts_the_registry_after_it_died),
		cmocka_unit_test(test_up_reruns_prep_when_the_registry_died),
		cmocka_unit_test(test_up_checks_the_ubuntu_iso_before_prep_runs),
		cmocka_unit_test(test_prep_from_a_folder_downloads_nothing),
		cmocka_unit_test(test_prep_mirrors_a_release_image_only_k3s_images_txt_names),
		cmocka_unit_test(test_prep_mirrors_the_release_and_the_pinned_pause_image_without_a_list),
		cmocka_unit_test(test_prep_names_an_image_the_source_registry_lacks),
		cmocka_unit_test(test_bundle_export_carries_the_images_and_the_k3s_files),
		cmocka_unit_test(test_bundle_export_adds_a_release_image_the_list_lacks),
		cmocka_unit_test(test_prep_from_bundle_works_offline),
		cmocka_unit_test(test_prep_refuses_a_tampered_bundle_before_loading_anything),
		cmocka_unit_test(test_prep_refuses_a_truncated_bundle_before_loading_anything),
		cmocka_unit_test(test_prep_with_an_unreachable_release_url_says_what_to_check),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
