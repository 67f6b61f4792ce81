/* The guest recipe: reads prep's outputs (docs/layout.md), builds the template data of one node
 * and renders templates/ into the installer's autoinstall user-data, the installed system's
 * user-data, meta-data and network-config. */
#include "k3sforge/render.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"

#define SMALL_MAX ((size_t)1024 * 1024)

/* What the recipe's own scripts run that is not in every system: curl (sync-time.sh reads the
 * registry's Date), zstd (bootstrap.sh imports the .tar.zst airgap images). Asked of the
 * installer like guest.packages, and checked against the ISO like them (src/iso/pool.c). The
 * seeds' ops tools (jq, htop, ...) are no longer forced: jq is in universe, which the ISO's
 * pool (main, restricted) does not carry, so an offline install would fail on it. */
static const char *const recipe_packages[] = { "curl", "zstd" };
#define DEBS_DIR "debs"       /* guest.debs' files under the payload: /k3sforge/debs/ */
#define DEBS_MAX 256
static const char *const critical_images[] = { "pause", "coredns", "traefik", "klipper-helm" };
static const char *const kernel_modules[] = { "overlay", "br_netfilter" };
static const char *const sysctls[][2] = {
	{ "net.bridge.bridge-nf-call-iptables", "1" },
	{ "net.bridge.bridge-nf-call-ip6tables", "1" },
	{ "net.ipv4.ip_forward", "1" },
};

static void free_secret(char *s)
{
	if (!s)
		return;
	kf_freezero_str(s);
}

static void rstrip(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static void note_mtime(struct kf_recipe_inputs *in, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (long long)st.st_mtime > in->build_timestamp)
		in->build_timestamp = (long long)st.st_mtime;
}

static int missing(struct kf_err *err, const char *path)
{
	return kf_err_set(err, KF_ENOTFOUND,
			  "%s is missing: run `k3sforge prep` first (it makes pki/, ssh/, secrets/, "
			  "artifacts/ and registries.yaml in the output directory)",
			  path);
}

/* Reads out_dir/rel (bounded) into *dst; a missing file says to run prep. */
static int read_input(struct kf_recipe_inputs *in, const char *rel, char **dst, bool strip,
		      struct kf_err *err)
{
	char *path = kf_path_join(in->out_dir, rel);
	int r;

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_fs_read(dst, NULL, path, SMALL_MAX, err);
	if (r == KF_ENOTFOUND)
		r = missing(err, path);
	if (!r && strip)
		rstrip(*dst);
	if (!r && !**dst)
		r = kf_err_set(err, KF_EPARSE, "%s is empty: run `k3sforge prep` again", path);
	if (!r)
		note_mtime(in, path);
	free(path);
	return r;
}

/* Adds the file at path (taken over) as payload `name`. */
static int add_payload_path(struct kf_recipe_inputs *in, const char *name, char *path,
			    struct kf_err *err)
{
	struct kf_payload_file *p;

	if (!kf_fs_exists(path)) {
		int r = missing(err, path);
		free(path);
		return r;
	}
	note_mtime(in, path);
	p = realloc(in->payload, (in->n_payload + 1) * sizeof(*p));
	if (!p) {
		free(path);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	in->payload = p;
	p[in->n_payload].name = strdup(name);
	p[in->n_payload].path = path;
	if (!p[in->n_payload].name) {
		free(path);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	in->n_payload++;
	return 0;
}

static int add_payload(struct kf_recipe_inputs *in, const char *name, const char *rel,
		       struct kf_err *err)
{
	char *path = kf_path_join(in->out_dir, rel);

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	return add_payload_path(in, name, path, err);
}

/* guest.debs: every <package>_<version>_<arch>.deb of the directory (amd64 or all) goes to the
 * payload as debs/<file>; late-commands install them into the target with dpkg. */
static bool deb_name_ok(const char *f)
{
	size_t n = strlen(f);
	const char *us1 = strchr(f, '_'), *us2 = strrchr(f, '_');

	if (n < 9 || strcmp(f + n - 4, ".deb") != 0 || !us1 || us1 == us2 || us1 == f)
		return false;
	if (strcmp(us2, "_amd64.deb") != 0 && strcmp(us2, "_all.deb") != 0)
		return false;
	for (const char *p = f; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("+-._~", *p)))
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_debs(struct kf_recipe_inputs *in, const char *dir, struct kf_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[DEBS_MAX];
	size_t n = 0;
	int r = 0;

	if (!d)
		return kf_err_set(err, KF_ENOTFOUND, "guest.debs %s: cannot open the directory (%s)",
				  dir, strerror(errno));
	while (!r && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct stat st;
		char *full;
		bool regular;
		if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, ".deb") != 0)
			continue;
		full = kf_path_join(dir, e->d_name);
		regular = full && stat(full, &st) == 0 && S_ISREG(st.st_mode);
		free(full);
		if (!regular)
			r = kf_err_set(err, KF_ECONFIG, "guest.debs %s/%s is not a regular file",
				       dir, e->d_name);
		else if (!deb_name_ok(e->d_name))
			r = kf_err_set(err, KF_ECONFIG,
				       "guest.debs %s/%s: not a <package>_<version>_<amd64|all>.deb "
				       "file name: the guests are amd64; rename or remove it",
				       dir, e->d_name);
		else if (n == DEBS_MAX)
			r = kf_err_set(err, KF_ELIMIT, "guest.debs %s holds more than %d .deb files",
				       dir, DEBS_MAX);
		else if (!(names[n++] = strdup(e->d_name)))
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	closedir(d);
	if (!r && n == 0)
		r = kf_err_set(err, KF_ENOTFOUND,
			       "guest.debs %s holds no .deb file: add the packages' .deb files, or "
			       "remove guest.debs", dir);
	if (!r)
		qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (!r) {
			char rel[600], *path = kf_path_join(dir, names[i]);
			snprintf(rel, sizeof(rel), DEBS_DIR "/%s", names[i]);
			r = path ? add_payload_path(in, rel, path, err)
				 : kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		free(names[i]);
	}
	return r;
}

/* The ks-core chart in artifacts/: exactly one ks-core-*.tgz. */
static int find_chart(struct kf_recipe_inputs *in, struct kf_err *err)
{
	char *dir = kf_path_join(in->out_dir, KF_ARTIFACTS_SUBDIR);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int r = 0;

	if (!dir)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (!d) {
		r = missing(err, dir);
		free(dir);
		return r;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (strncmp(e->d_name, "ks-core-", 8) || n < 12 || strcmp(e->d_name + n - 4, ".tgz"))
			continue;
		if (in->chart_name) {
			r = kf_err_set(err, KF_ECONFIG,
				       "%s holds two KubeSphere charts (%s, %s): remove the stale one",
				       dir, in->chart_name, e->d_name);
			break;
		}
		in->chart_name = strdup(e->d_name);
		if (!in->chart_name) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			break;
		}
	}
	closedir(d);
	if (!r && !in->chart_name) {
		char *want = kf_path_join(dir, "ks-core-<version>.tgz");
		r = missing(err, want ? want : dir);
		free(want);
	}
	free(dir);
	return r;
}

int kf_recipe_inputs_load(struct kf_recipe_inputs **out, const struct kf_config *cfg,
			  const char *out_dir, struct kf_err *err)
{
	struct kf_recipe_inputs *in = calloc(1, sizeof(*in));
	int r;

	*out = NULL;
	if (!in || !(in->out_dir = strdup(out_dir))) {
		free(in);
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if ((r = read_input(in, KF_OUT_CA_CRT, &in->ca_cert, false, err)) != 0 ||
	    (r = read_input(in, KF_OUT_SSH_PUBKEY, &in->operator_key, true, err)) != 0 ||
	    (r = read_input(in, KF_OUT_TOKEN, &in->token, true, err)) != 0 ||
	    (r = read_input(in, KF_OUT_REGISTRIES_YAML, &in->registries_yaml, false, err)) != 0 ||
	    (r = read_input(in, KF_OUT_K3S_IMAGES_TXT, &in->images_txt, false, err)) != 0)
		goto out;
	if (strchr(in->operator_key, '\n')) {
		r = kf_err_set(err, KF_EPARSE, "%s/ssh/id_ed25519.pub has more than one line", out_dir);
		goto out;
	}
	if ((r = add_payload(in, KF_ARTIFACT_K3S_NAME, KF_OUT_K3S_BINARY, err)) != 0 ||
	    (r = add_payload(in, KF_ARTIFACT_INSTALL_NAME, KF_OUT_INSTALL_SH, err)) != 0 ||
	    (r = add_payload(in, KF_ARTIFACT_AIRGAP_NAME, KF_OUT_AIRGAP, err)) != 0 ||
	    (r = add_payload(in, KF_ARTIFACT_IMAGES_NAME, KF_OUT_K3S_IMAGES_TXT, err)) != 0 ||
	    (r = add_payload(in, "ca.crt", KF_OUT_CA_CRT, err)) != 0)
		goto out;
	if (cfg->addons.kubesphere) {
		char rel[300];
		if (cfg->addons.admin_password && *cfg->addons.admin_password) {
			in->admin_password = strdup(cfg->addons.admin_password);
			if (!in->admin_password) {
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
		} else if ((r = read_input(in, KF_OUT_ADMIN_PASSWORD, &in->admin_password, true,
					   err)) != 0) {
			goto out;
		}
		if ((r = find_chart(in, err)) != 0)
			goto out;
		snprintf(rel, sizeof(rel), KF_ARTIFACTS_SUBDIR "/%s", in->chart_name);
		if ((r = add_payload(in, in->chart_name, rel, err)) != 0)
			goto out;
	}
	if (cfg->guest.debs && (r = add_debs(in, cfg->guest.debs, err)) != 0)
		goto out;
out:
	if (r) {
		kf_recipe_inputs_free(in);
		return r;
	}
	*out = in;
	return 0;
}

void kf_recipe_inputs_free(struct kf_recipe_inputs *in)
{
	if (!in)
		return;
	free(in->out_dir);
	free(in->ca_cert);
	free(in->operator_key);
	free_secret(in->token);
	free_secret(in->admin_password);
	free(in->registries_yaml);
	free(in->images_txt);
	free(in->chart_name);
	for (size_t i = 0; i < in->n_payload; i++) {
		free(in->payload[i].name);
		free(in->payload[i].path);
	}
	free(in->payload);
	free(in);
}

int kf_recipe_payload_sums(char **out, const struct kf_recipe_inputs *in, struct kf_err *err)
{
	struct kf_buf b;
	int r = 0;

	*out = NULL;
	kf_buf_init(&b, SMALL_MAX);
	for (size_t i = 0; i < in->n_payload && !r; i++) {
		char hex[KF_SHA256_HEX_LEN + 1];
		if ((r = kf_sha256_file(in->payload[i].path, hex, err)) == 0 &&
		    kf_buf_printf(&b, "%s  %s\n", hex, in->payload[i].name))
			r = kf_err_set(err, KF_ELIMIT, "SHA256SUMS too large");
	}
	if (!r && !(*out = kf_buf_detach(&b)))
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
	kf_buf_free(&b);
	return r;
}

int kf_recipe_write_payload(const struct kf_recipe_inputs *in, const char *dir,
			    struct kf_err *err)
{
	char *sums = NULL, *path = NULL, ts[32];
	int r;

	if ((r = kf_fs_mkdirs(dir, 0755, err)) != 0)
		return r;
	for (size_t i = 0; i < in->n_payload && !r; i++) {
		bool exec = strcmp(in->payload[i].name, "k3s") == 0 ||
			    strcmp(in->payload[i].name, KF_ARTIFACT_INSTALL_NAME) == 0;
		path = kf_path_join(dir, in->payload[i].name);
		if (path && strchr(in->payload[i].name, '/')) {
			/* debs/<file>: its directory first */
			char *sub = kf_path_join(dir, DEBS_DIR);
			r = sub ? kf_fs_mkdirs(sub, 0755, err)
				: kf_err_set(err, KF_ENOMEM, "out of memory");
			free(sub);
		}
		if (!r)
			r = path ? kf_fs_copy(in->payload[i].path, path, exec ? 0755 : 0644, err)
				 : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(path);
		path = NULL;
	}
	if (r || (r = kf_recipe_payload_sums(&sums, in, err)) != 0)
		goto out;
	if (!(path = kf_path_join(dir, "SHA256SUMS"))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = kf_fs_write_atomic(path, sums, strlen(sums), 0644, err)) != 0)
		goto out;
	free(path);
	snprintf(ts, sizeof(ts), "%lld\n", in->build_timestamp);
	if (!(path = kf_path_join(dir, "build-timestamp"))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	r = kf_fs_write_atomic(path, ts, strlen(ts), 0644, err);
out:
	free(path);
	free(sums);
	return r;
}

/* ---- template data ------------------------------------------------------------------- */

/* A JSON string of a value as it is: jansson's json_string() refuses invalid UTF-8 (the value
 * would silently go missing, and `{{#if}}` read it as unset); the template filters judge every
 * byte of it instead and name the template line. NULL stays NULL. */
static json_t *text(const char *s)
{
	return s ? json_stringn_nocheck(s, strlen(s)) : NULL;
}

/* text() of a formatted string, whatever its length. */
static json_t *textf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *textf(const char *fmt, ...)
{
	struct kf_buf b;
	json_t *j = NULL;
	va_list ap;
	int r;

	kf_buf_init(&b, 0);
	va_start(ap, fmt);
	r = kf_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (!r)
		j = text(kf_buf_str(&b));
	kf_buf_free(&b);
	return j;
}

static json_t *str_array(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, text(v[i]));
	return a;
}

static json_t *const_array(const char *const *v, size_t n)
{
	return str_array((char *const *)v, n);
}

/* Does the guest.debs directory hold a <pkg>_<version>_<arch>.deb? */
static bool in_debs(const char *dir, const char *pkg)
{
	DIR *d = dir ? opendir(dir) : NULL;
	size_t n = strlen(pkg);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		found = len > n + 5 && strncmp(e->d_name, pkg, n) == 0 && e->d_name[n] == '_' &&
			strcmp(e->d_name + len - 4, ".deb") == 0;
	}
	closedir(d);
	return found;
}

const char **kf_recipe_packages(const struct kf_config *cfg, size_t *n)
{
	size_t nr = sizeof(recipe_packages) / sizeof(recipe_packages[0]);
	const char **v = calloc(nr + cfg->guest.n_packages + 1, sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < nr + cfg->guest.n_packages; i++) {
		const char *p = i < nr ? recipe_packages[i] : cfg->guest.packages[i - nr];
		bool dup = false;
		for (size_t k = 0; k < *n && !dup; k++)
			dup = strcmp(v[k], p) == 0;
		/* a package whose .deb guest.debs brings is installed by late-commands instead */
		if (!dup && !in_debs(cfg->guest.debs, p))
			v[(*n)++] = p;
	}
	return v;
}

/* The recipe's packages plus the configured ones, each once, in order. */
static json_t *package_list(const struct kf_config *cfg)
{
	size_t n;
	const char **v = kf_recipe_packages(cfg, &n);
	json_t *a = v ? str_array((char *const *)v, n) : NULL;

	free(v);
	return a;
}

/* Strips one trailing newline run into a single value line (public keys). */
static int read_host_key(const struct kf_recipe_inputs *in, const char *node, const char *suffix,
			 char **dst, struct kf_err *err)
{
	char *rel = NULL, *path;
	int r;

	/* whatever the name's length: a cut name could name another file */
	if (asprintf(&rel, KF_OUT_SSH_HOST_DIR "/%s" KF_SSH_HOST_KEY_SUFFIX "%s", node, suffix) < 0)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	path = kf_path_join(in->out_dir, rel);
	free(rel);
	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	r = kf_fs_read(dst, NULL, path, SMALL_MAX, err);
	if (r == KF_ENOTFOUND)
		r = missing(err, path);
	if (!r && !strstr(*dst, suffix[0] ? "ssh-ed25519 " : "OPENSSH PRIVATE KEY"))
		r = kf_err_set(err, KF_EPARSE, "%s is not an OpenSSH ed25519 %s key", path,
			       suffix[0] ? "public" : "private");
	if (!r && suffix[0])
		rstrip(*dst);
	free(path);
	return r;
}

static json_t *node_data(const struct kf_node *n)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "name", text(n->name));
	json_object_set_new(o, "ip", text(n->ip));
	json_object_set_new(o, "role", json_string(kf_role_name(n->role)));
	json_object_set_new(o, "is_master", json_boolean(n->role == KF_ROLE_MASTER));
	if (n->mac)
		json_object_set_new(o, "mac", text(n->mac));
	return o;
}

static json_t *base_data(const struct kf_config *cfg, const struct kf_recipe_inputs *in,
			 const struct kf_node *node, const struct kf_node *master,
			 const char *host_priv, const char *host_pub)
{
	bool is_master = node->role == KF_ROLE_MASTER;
	json_t *d = json_object(), *k3s, *net, *reg, *sys = json_array(), *boot;

	if (!d || !sys)
		goto fail;
	for (size_t i = 0; i < sizeof(sysctls) / sizeof(sysctls[0]); i++)
		json_array_append_new(sys, json_pack("{s:s, s:s}", "key", sysctls[i][0], "value",
						     sysctls[i][1]));
	json_object_set_new(d, "node", node_data(node));
	json_object_set_new(d, "master", node_data(master));
	/* composed here, so a template quotes each as one scalar instead of gluing text to a
	 * value: the node's address/prefix (netplan) and a worker's server URL (k3s) */
	json_object_set_new(json_object_get(d, "node"), "address",
			    textf("%s/%d", node->ip, cfg->network.prefix));
	json_object_set_new(d, "cluster_name", text(cfg->cluster_name));
	json_object_set_new(d, "user", text(cfg->guest.user));
	json_object_set_new(d, "timezone", text(cfg->guest.timezone));
	json_object_set_new(d, "locale", text(cfg->guest.locale));
	json_object_set_new(d, "keyboard", text(cfg->guest.keyboard));
	json_object_set_new(d, "packages", package_list(cfg));
	{
		bool debs = false;
		for (size_t i = 0; i < in->n_payload && !debs; i++)
			debs = strncmp(in->payload[i].name, DEBS_DIR "/", sizeof(DEBS_DIR)) == 0;
		json_object_set_new(d, "debs", json_boolean(debs));
		json_object_set_new(d, "debs_dir", json_string(DEBS_DIR));
	}
	json_object_set_new(d, "operator_key", text(in->operator_key));
	json_object_set_new(d, "host_key", json_object());
	json_object_set_new(json_object_get(d, "host_key"), "private", text(host_priv));
	json_object_set_new(json_object_get(d, "host_key"), "public", text(host_pub));
	json_object_set_new(d, "ca_cert", text(in->ca_cert));
	json_object_set_new(d, "registries_yaml", text(in->registries_yaml));
	reg = json_pack("{s:i}", "port", cfg->registry.port);
	if (reg) {
		char *hp = kf_registry_hostport(cfg);

		json_object_set_new(reg, "host", text(cfg->registry.host_ip));
		json_object_set_new(reg, "address", text(hp));
		json_object_set_new(reg, "url", hp ? textf("https://%s", hp) : NULL);
		free(hp);
	}
	json_object_set_new(d, "registry", reg);
	net = json_pack("{s:i}", "prefix", cfg->network.prefix);
	if (net) {
		json_object_set_new(net, "gateway", text(cfg->network.gateway));
		json_object_set_new(net, "dns", str_array(cfg->network.dns, cfg->network.n_dns));
	}
	json_object_set_new(d, "network", net);
	k3s = json_pack("{s:s, s:s}", "service", kf_role_k3s_unit(node->role), "exec",
			is_master ? "server" : "agent");
	if (k3s) {
		json_object_set_new(k3s, "token", text(in->token));
		json_object_set_new(k3s, "server_url", textf("https://%s:6443", master->ip));
		json_object_set_new(k3s, "disable", str_array(cfg->k3s.disable, cfg->k3s.n_disable));
		if (cfg->k3s.pause_image && *cfg->k3s.pause_image)
			json_object_set_new(k3s, "pause_image", text(cfg->k3s.pause_image));
		json_object_set_new(k3s, "version", text(cfg->k3s.version));
	}
	json_object_set_new(d, "k3s", k3s);
	boot = json_pack("{s:s, s:s}", "name", kf_role_unit(node->role), "marker",
			 kf_role_marker(node->role));
	json_object_set_new(d, "bootstrap", boot);
	/* the progress markers node-prep and the installer write, named where wait and doctor
	 * read them (labpaths.h) */
	json_object_set_new(d, "markers",
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "dir",
				      KF_MARKER_DIR, "iso_copy", KF_MARKER_ISO_COPY, "cloud_init",
				      KF_MARKER_CLOUD_INIT, "hostname", KF_MARKER_HOSTNAME, "timezone",
				      KF_MARKER_TIMEZONE, "swap", KF_MARKER_SWAP, "modules",
				      KF_MARKER_MODULES, "sysctl", KF_MARKER_SYSCTL, "ca_certs",
				      KF_MARKER_CA_CERTS, "sync_time", KF_MARKER_SYNC_TIME));
	/* KubeSphere is installed by the master only */
	json_object_set_new(d, "kubesphere", json_boolean(cfg->addons.kubesphere && is_master));
	if (cfg->addons.kubesphere && is_master) {
		json_t *ks = json_object();
		json_object_set_new(d, "ks", ks);
		json_object_set_new(ks, "chart", text(in->chart_name));
		json_object_set_new(ks, "admin_password", text(in->admin_password));
		json_object_set_new(ks, "version", text(cfg->addons.kubesphere_version));
	}
	json_object_set_new(d, "build_timestamp", json_integer(in->build_timestamp));
	json_object_set_new(d, "seed_dir", json_string(KF_SEED_DIR));
	json_object_set_new(d, "payload_dir", json_string(KF_PAYLOAD_ISO_DIR));
	/* image mode: no installer copies the payload; the installed system takes it from the
	 * payload CD itself (templates/user-data.yaml) */
	if (cfg->guest.image)
		json_object_set_new(d, "payload_cd", json_pack("{s:s}", "label", KF_PAYLOAD_LABEL));
	json_object_set_new(d, "airgap_file", json_string(KF_ARTIFACT_AIRGAP_NAME));
	json_object_set_new(d, "storage_layout", json_string("direct"));
	json_object_set_new(d, "sysctls", sys);
	json_object_set_new(d, "modules", const_array(kernel_modules, 2));
	json_object_set_new(d, "critical_images", const_array(critical_images, 4));
	json_object_set_new(d, "units", json_object());
	json_object_set_new(d, "scripts", json_object());
	return d;
fail:
	json_decref(d);
	json_decref(sys);
	return NULL;
}

/* Overwrites every string in a JSON tree (secrets) before it is freed. */
static void wipe_strings(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (!v)
		return;
	if (json_is_string(v)) {
		OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, x)
			wipe_strings(x);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			wipe_strings(x);
	}
}

/* Renders tpl_dir/rel and stores the result under d[key] or d[group][key]. */
static int render_into(json_t *d, const char *group, const char *key, const char *tpl_dir,
		       const char *rel, struct kf_err *err)
{
	char *text = NULL;
	json_t *dst = group ? json_object_get(d, group) : d;
	int r;

	if ((r = kf_tpl_render_file(&text, tpl_dir, rel, d, err)) != 0)
		return r;
	r = json_object_set_new(dst, key, json_stringn_nocheck(text, strlen(text)))
		    ? kf_err_set(err, KF_ENOMEM,
									  "out of memory")
							     : 0;
	free(text);
	return r;
}

/* The rendered user-data without its `#cloud-config` line, for nesting in autoinstall. */
static const char *body_of_cloud_config(const char *s)
{
	if (strncmp(s, "#cloud-config", 13) == 0) {
		const char *nl = strchr(s, '\n');
		return nl ? nl + 1 : "";
	}
	return s;
}

int kf_recipe_render_node(struct kf_node_recipe **out, const struct kf_config *cfg,
			  const struct kf_recipe_inputs *in, const char *node_name,
			  const char *tpl_dir, struct kf_err *err)
{
	const struct kf_node *node = kf_config_node(cfg, node_name), *master = kf_config_master(cfg);
	struct kf_node_recipe *rc = NULL;
	char *priv = NULL, *pub = NULL;
	json_t *d = NULL;
	struct kf_sha256 *h;
	char hex[KF_SHA256_HEX_LEN + 1], iid[64];
	int r;

	*out = NULL;
	if (!tpl_dir)
		tpl_dir = kf_render_template_dir();
	if (!node)
		return kf_err_set(err, KF_ENOTFOUND, "no node named '%s' in the configuration",
				  node_name);
	if (!master)
		return kf_err_set(err, KF_ECONFIG, "the configuration has no master node");
	if ((r = read_host_key(in, node->name, "", &priv, err)) != 0 ||
	    (r = read_host_key(in, node->name, ".pub", &pub, err)) != 0)
		goto out;
	d = base_data(cfg, in, node, master, priv, pub);
	rc = calloc(1, sizeof(*rc));
	if (!d || !rc || !(rc->node = strdup(node->name))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = render_into(d, NULL, "netplan", tpl_dir, "netplan.yaml", err)) != 0 ||
	    (r = render_into(d, NULL, "k3s_config", tpl_dir, "k3s/config.yaml", err)) != 0 ||
	    (r = render_into(d, "scripts", "node_prep", tpl_dir, "scripts/node-prep.sh", err)) != 0 ||
	    (r = render_into(d, "scripts", "sync_time", tpl_dir, "scripts/sync-time.sh", err)) != 0 ||
	    (r = render_into(d, "scripts", "bootstrap", tpl_dir, "scripts/bootstrap.sh", err)) != 0 ||
	    (r = render_into(d, "units", "sync_time", tpl_dir, "systemd/sync-time.service", err)) != 0 ||
	    (r = render_into(d, "units", "bootstrap", tpl_dir, "systemd/bootstrap.service", err)) != 0 ||
	    (r = render_into(d, "units", "k3s_dropin", tpl_dir, "systemd/k3s-after-sync-time.conf",
			     err)) != 0)
		goto out;
	if (json_is_true(json_object_get(d, "kubesphere")) &&
	    (r = render_into(d, NULL, "ks_helmchart", tpl_dir, "k3s/ks-core-helmchart.yaml", err)) != 0)
		goto out;
	if ((r = kf_tpl_render_file(&rc->user_data, tpl_dir, "user-data.yaml", d, err)) != 0)
		goto out;
	json_object_set_new(d, "user_data", json_string(body_of_cloud_config(rc->user_data)));
	if ((r = kf_tpl_render_file(&rc->autoinstall, tpl_dir, "autoinstall.yaml", d, err)) != 0 ||
	    (r = kf_tpl_render_file(&rc->network_config, tpl_dir, "network-config.yaml", d, err)) != 0)
		goto out;
	h = kf_sha256_new();
	if (!h) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	kf_sha256_update(h, rc->autoinstall, strlen(rc->autoinstall));
	kf_sha256_update(h, "\0", 1);
	kf_sha256_update(h, rc->network_config, strlen(rc->network_config));
	kf_sha256_final_hex(h, hex);
	snprintf(iid, sizeof(iid), "k3sforge-%.20s", hex);
	json_object_set_new(d, "instance_id", json_string(iid));
	rc->instance_id = strdup(iid);
	if (!rc->instance_id) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	r = kf_tpl_render_file(&rc->meta_data, tpl_dir, "meta-data.yaml", d, err);
out:
	wipe_strings(d); /* the data holds the token, the host key and the admin password */
	json_decref(d);
	free_secret(priv);
	free(pub);
	if (r) {
		kf_node_recipe_free(rc);
		return r;
	}
	*out = rc;
	return 0;
}

static int write_file(const char *dir, const char *name, const char *text, struct kf_err *err)
{
	char *path = kf_path_join(dir, name);
	int r;

	if (!path)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	/* rendered again from the configuration on every build-iso run, and the seed ISO made
	 * from it is made durable before it is recorded: no fsync here (four per node) */
	r = kf_fs_write_replace(path, text, strlen(text), 0600, err);
	free(path);
	return r;
}

int kf_recipe_write_seed(const struct kf_node_recipe *rc, const char *dir, struct kf_err *err)
{
	int r;

	if ((r = kf_fs_mkdirs(dir, 0700, err)) != 0)
		return r;
	if ((r = write_file(dir, "user-data", rc->user_data, err)) != 0 ||
	    (r = write_file(dir, "meta-data", rc->meta_data, err)) != 0 ||
	    (r = write_file(dir, "network-config", rc->network_config, err)) != 0)
		return r;
	return 0;
}

int kf_recipe_write_all(const struct kf_node_recipe *rc, const char *dir, struct kf_err *err)
{
	int r;

	if ((r = kf_recipe_write_seed(rc, dir, err)) != 0)
		return r;
	return write_file(dir, "autoinstall-user-data", rc->autoinstall, err);
}

void kf_node_recipe_free(struct kf_node_recipe *rc)
{
	if (!rc)
		return;
	free(rc->node);
	free_secret(rc->autoinstall);
	free_secret(rc->user_data);
	free(rc->meta_data);
	free(rc->network_config);
	free(rc->instance_id);
	free(rc);
}
