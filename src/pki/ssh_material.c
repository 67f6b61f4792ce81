/* The SSH material prep makes: the operator key, one pinned host key per node (handed to
 * cloud-init so the host key is known before first boot) and known_hosts derived from them. */
#include "k3sforge/pki.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/sshkey.h"
#include "pki_internal.h"

#define HOST_KEY_SUFFIX KF_SSH_HOST_KEY_SUFFIX
#define NODE_NAME_MAX 63
#define KNOWN_HOSTS_MAX (1024 * 1024)

static int check_node_name(const char *name, struct kf_err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NODE_NAME_MAX || name[0] == '.' || strchr(name, '/') ||
	    strchr(name, '\\'))
		return kf_err_set(err, KF_ECONFIG, "node name \"%s\" cannot name a key file (use "
				  "[a-z0-9-], at most %d characters)", name ? name : "", NODE_NAME_MAX);
	return 0;
}

char *kf_pki_host_key_path(const char *out_dir, const char *node)
{
	char rel[sizeof(KF_OUT_SSH_HOST_DIR) + NODE_NAME_MAX + sizeof(HOST_KEY_SUFFIX) + 2];

	if (!node || strlen(node) > NODE_NAME_MAX)
		return NULL;
	snprintf(rel, sizeof(rel), "%s/%s%s", KF_OUT_SSH_HOST_DIR, node, HOST_KEY_SUFFIX);
	return kf_path_join(out_dir, rel);
}

/* Keeps a key pair that exists and parses (rewriting only a missing or stale .pub), or makes a
 * new one. *out gets the key. */
static int ensure_keypair(struct kf_sshkey **out, const char *out_dir, const char *rel,
			  const char *comment, bool force, struct kf_pki_report *rep,
			  struct kf_err *err)
{
	char *path = NULL, *pub = NULL, relpub[256];
	struct kf_sshkey *key = NULL, *pk = NULL;
	bool priv_exists, pub_exists;
	enum kf_pki_action act;
	const char *why = NULL;
	int r = 0;

	*out = NULL;
	snprintf(relpub, sizeof(relpub), "%s.pub", rel);
	if (!(path = kf_pki_path(out_dir, rel, err)) || !(pub = kf_pki_path(out_dir, relpub, err))) {
		r = KF_ENOMEM;
		goto out;
	}
	priv_exists = kf_fs_exists(path);
	pub_exists = kf_fs_exists(pub);
	if (priv_exists && !force) {
		if ((r = kf_sshkey_load_private(&key, path, err)) != 0) {
			char reason[KF_ERR_MSG_MAX];
			snprintf(reason, sizeof(reason), "%s", err->msg);
			kf_err_set(err, r, "%s; delete the file to generate a new key, or run with "
				   "--force (machines that trust the old key must then be re-created)",
				   reason);
			goto out;
		}
		if ((r = kf_pki_fix_mode(path, rel, 0600, rep, err)) != 0 ||
		    (r = kf_pki_report_add(rep, rel, KF_PKI_KEPT, NULL, err)) != 0)
			goto out;
		if (!pub_exists)
			why = "was missing";
		else if (kf_sshkey_load_public(&pk, pub, err) != 0)
			why = "did not parse";
		else if (!kf_sshkey_same_public(pk, key))
			why = "did not match the private key";
		kf_err_clear(err);
		if (why) {
			char *line = NULL;
			if ((r = kf_sshkey_public_line(&line, key, err)) == 0)
				r = kf_fs_write_atomic(pub, line, strlen(line), 0644, err);
			free(line);
			if (r == 0)
				r = kf_pki_report_add(rep, relpub, KF_PKI_UPDATED, why, err);
		} else {
			r = kf_pki_report_add(rep, relpub, KF_PKI_KEPT, NULL, err);
		}
		if (r != 0)
			goto out;
	} else {
		act = priv_exists ? KF_PKI_REGENERATED : KF_PKI_CREATED;
		if ((r = kf_sshkey_generate(&key, comment, err)) != 0 ||
		    (r = kf_sshkey_write(key, path, err)) != 0)
			goto out;
		if ((r = kf_pki_report_add(rep, rel, act, priv_exists ? "--force" : NULL, err)) != 0 ||
		    (r = kf_pki_report_add(rep, relpub, act, priv_exists ? "--force" : NULL, err)) != 0)
			goto out;
	}
	*out = key;
	key = NULL;
out:
	kf_sshkey_free(key);
	kf_sshkey_free(pk);
	free(path);
	free(pub);
	return r;
}

/* Says which host keys belong to nodes no longer configured; they are left in place. */
static void note_removed_nodes(const struct kf_config *cfg, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t sl = strlen(HOST_KEY_SUFFIX);

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char node[NODE_NAME_MAX + 1];

		if (n <= sl || n - sl > NODE_NAME_MAX || strcmp(e->d_name + n - sl, HOST_KEY_SUFFIX))
			continue;
		memcpy(node, e->d_name, n - sl);
		node[n - sl] = '\0';
		if (!kf_config_node(cfg, node))
			kf_info("%s/%s: node %s is no longer in the configuration; its host key is left "
				"in place", KF_OUT_SSH_HOST_DIR, e->d_name, node);
	}
	closedir(d);
}

/* Adds the known_hosts lines of one node: its IP, and [host]:port (or host) when `ssh:` says
 * SSH is reached elsewhere. */
static int node_lines(struct kf_buf *b, const struct kf_node *nd, const struct kf_sshkey *key)
{
	const char *host = nd->ssh_host && nd->ssh_host[0] ? nd->ssh_host : nd->ip;
	int port = nd->ssh_port > 0 ? nd->ssh_port : 22;
	int r;

	if ((r = kf_sshkey_known_hosts_line(b, nd->ip, 22, key)) != 0)
		return r;
	if (strcmp(host, nd->ip) == 0 && port == 22)
		return 0;
	return kf_sshkey_known_hosts_line(b, host, port, key);
}

/* The known_hosts text for cfg with one host key per node, in node order. */
static int known_hosts_text(struct kf_buf *b, const struct kf_config *cfg,
			    struct kf_sshkey **keys, struct kf_err *err)
{
	kf_buf_init(b, KNOWN_HOSTS_MAX);
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (node_lines(b, &cfg->nodes[i], keys[i]) != 0) {
			kf_buf_free(b);
			return kf_err_set(err, KF_ELIMIT, "%s: more than %d bytes for %zu nodes",
					  KF_OUT_KNOWN_HOSTS, KNOWN_HOSTS_MAX, cfg->n_nodes);
		}
	return 0;
}

/* Does the file hold exactly b? *exists tells whether it was there at all. */
static bool same_content(const char *path, const struct kf_buf *b, bool *exists)
{
	struct kf_err e = { 0 };
	char *old = NULL;
	size_t oldlen = 0;
	bool same;

	*exists = kf_fs_read(&old, &oldlen, path, KNOWN_HOSTS_MAX, &e) == 0;
	same = *exists && oldlen == b->len && memcmp(old, kf_buf_str(b), b->len) == 0;
	free(old);
	return same;
}

static int write_known_hosts(const struct kf_config *cfg, const char *out_dir,
			     struct kf_sshkey **keys, struct kf_pki_report *rep, struct kf_err *err)
{
	struct kf_buf b;
	char *path = NULL;
	bool exists;
	int r;

	if ((r = known_hosts_text(&b, cfg, keys, err)) != 0)
		return r;
	if (!(path = kf_pki_path(out_dir, KF_OUT_KNOWN_HOSTS, err))) {
		r = KF_ENOMEM;
		goto out;
	}
	if (same_content(path, &b, &exists)) {
		r = kf_pki_report_add(rep, KF_OUT_KNOWN_HOSTS, KF_PKI_KEPT, NULL, err);
		goto out;
	}
	if ((r = kf_fs_write_atomic(path, kf_buf_str(&b), b.len, 0644, err)) != 0)
		goto out;
	r = kf_pki_report_add(rep, KF_OUT_KNOWN_HOSTS, exists ? KF_PKI_UPDATED : KF_PKI_CREATED,
			      exists ? "nodes or host keys changed" : NULL, err);
out:
	free(path);
	kf_buf_free(&b);
	return r;
}

int kf_pki_ensure_ssh(const struct kf_config *cfg, const char *out_dir, bool force,
		      struct kf_pki_report *rep, struct kf_err *err)
{
	struct kf_sshkey *op = NULL, **hosts = NULL;
	char *hostdir = NULL, comment[160], rel[256];
	int r;

	if (!(hostdir = kf_pki_path(out_dir, KF_OUT_SSH_HOST_DIR, err)))
		return KF_ENOMEM;
	if ((r = kf_fs_mkdirs(hostdir, 0700, err)) != 0)
		goto out;
	snprintf(comment, sizeof(comment), "k3sforge@%s", cfg->cluster_name ? cfg->cluster_name
									     : "lab");
	if ((r = ensure_keypair(&op, out_dir, KF_OUT_SSH_KEY, comment, force, rep, err)) != 0)
		goto out;
	if (!(hosts = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof(*hosts)))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const char *name = cfg->nodes[i].name;
		if ((r = check_node_name(name, err)) != 0)
			goto out;
		snprintf(rel, sizeof(rel), "%s/%s%s", KF_OUT_SSH_HOST_DIR, name, HOST_KEY_SUFFIX);
		snprintf(comment, sizeof(comment), "root@%s", name);
		if ((r = ensure_keypair(&hosts[i], out_dir, rel, comment, force, rep, err)) != 0)
			goto out;
	}
	note_removed_nodes(cfg, hostdir);
	r = write_known_hosts(cfg, out_dir, hosts, rep, err);
out:
	for (size_t i = 0; hosts && i < cfg->n_nodes; i++)
		kf_sshkey_free(hosts[i]);
	free(hosts);
	kf_sshkey_free(op);
	free(hostdir);
	return r;
}

int kf_pki_check_ssh(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	struct kf_sshkey *op = NULL, **hosts = NULL;
	struct kf_buf b = KF_BUF_INIT;
	char *path = NULL;
	bool exists;
	int r;

	if (!(path = kf_pki_path(out_dir, KF_OUT_SSH_KEY, err)))
		return KF_ENOMEM;
	if ((r = kf_sshkey_load_private(&op, path, err)) != 0)
		goto out;
	if (!(hosts = calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof(*hosts)))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		free(path);
		if ((r = check_node_name(cfg->nodes[i].name, err)) != 0)
			goto out;
		if (!(path = kf_pki_host_key_path(out_dir, cfg->nodes[i].name))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		if ((r = kf_sshkey_load_private(&hosts[i], path, err)) != 0)
			goto out;
	}
	if ((r = known_hosts_text(&b, cfg, hosts, err)) != 0)
		goto out;
	free(path);
	if (!(path = kf_pki_path(out_dir, KF_OUT_KNOWN_HOSTS, err))) {
		r = KF_ENOMEM;
		goto out;
	}
	if (!same_content(path, &b, &exists))
		r = kf_err_set(err, KF_ESTATE, "%s %s", path, exists ? "does not match the nodes and "
			       "their host keys" : "is missing");
out:
	if (r == KF_ENOTFOUND)
		r = KF_ESTATE;
	for (size_t i = 0; hosts && i < cfg->n_nodes; i++)
		kf_sshkey_free(hosts[i]);
	free(hosts);
	kf_sshkey_free(op);
	kf_buf_free(&b);
	free(path);
	return r;
}
