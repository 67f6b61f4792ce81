/* Backup archives of a lab's identity: collecting the files and writing the archive
 * (include/k3sforge/backup.h, docs/backup.md). The archive is a ustar stream whose first member
 * is the manifest; encrypted archives wrap that stream in AES-256-GCM under a scrypt-derived key,
 * the header as AAD. The restore is backup_restore.c. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup_internal.h"
#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/tar.h"

/* ---------------------------------------------------------------- items */

int kf_backup_items_add(struct kf_backup_items *items, const char *name, const char *path)
{
	struct kf_backup_item *nv = realloc(items->v, (items->n + 1) * sizeof(*nv));

	if (!nv)
		return KF_ENOMEM;
	items->v = nv;
	nv[items->n].name = strdup(name);
	nv[items->n].path = strdup(path);
	if (!nv[items->n].name || !nv[items->n].path) {
		free(nv[items->n].name);
		free(nv[items->n].path);
		return KF_ENOMEM;
	}
	items->n++;
	return 0;
}

void kf_backup_items_free(struct kf_backup_items *items)
{
	for (size_t i = 0; items && i < items->n; i++) {
		free(items->v[i].name);
		free(items->v[i].path);
	}
	if (items) {
		free(items->v);
		items->v = NULL;
		items->n = 0;
	}
}

/* Adds every regular file under dir (recursively) as prefix/<rel>, in name order. Temporary
 * files of atomic writes (*.tmp.*) are skipped. */
static int add_tree(struct kf_backup_items *items, const char *dir, const char *prefix, int depth,
		    struct kf_err *err)
{
	struct dirent **ents = NULL;
	int n, r = 0;

	if (depth > 8)
		return kf_err_set(err, KF_ELIMIT, "%s: directories nested too deep", dir);
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : kf_err_set(err, KF_EIO, "%s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		char *p = NULL, name[512];
		struct stat sb;
		if (r || strcmp(e, ".") == 0 || strcmp(e, "..") == 0 || strstr(e, ".tmp."))
			goto next;
		snprintf(name, sizeof(name), "%s/%s", prefix, e);
		if (!(p = kf_path_join(dir, e))) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto next;
		}
		if (lstat(p, &sb) != 0)
			goto next;
		if (S_ISDIR(sb.st_mode))
			r = add_tree(items, p, name, depth + 1, err);
		else if (S_ISREG(sb.st_mode) && items->n >= MEMBERS_MAX)
			r = kf_err_set(err, KF_ELIMIT, "more than %d files to back up", MEMBERS_MAX);
		else if (S_ISREG(sb.st_mode) && kf_backup_items_add(items, name, p) != 0)
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
	next:
		free(p);
		free(ents[i]);
	}
	free(ents);
	return r;
}

int kf_backup_collect(struct kf_backup_items *items, const char *out_dir, const char *config_path,
		      struct kf_err *err)
{
	static const char *const files[] = { KF_OUT_STATE, KF_OUT_KUBECONFIG, KF_OUT_REGISTRIES_YAML };
	static const char *const trees[] = { KF_OUT_PKI_DIR, KF_OUT_SSH_DIR, KF_OUT_SECRETS_DIR };
	char *p = NULL;
	int r = 0;

	if (!(p = kf_path_join(out_dir, KF_OUT_CA_CRT)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if (!kf_fs_exists(p)) {
		r = kf_err_set(err, KF_ENOTFOUND,
			       "%s does not exist: %s holds no lab to back up (run `k3sforge prep` "
			       "first, or pass the right -o DIR)",
			       p, out_dir);
		goto out;
	}
	if (config_path && kf_fs_exists(config_path)) {
		const char *base = strrchr(config_path, '/');
		char name[512];
		snprintf(name, sizeof(name), "config/%s", base ? base + 1 : config_path);
		if (kf_backup_items_add(items, name, config_path) != 0)
			goto nomem;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char name[64];
		free(p);
		if (!(p = kf_path_join(out_dir, files[i])))
			goto nomem;
		snprintf(name, sizeof(name), "out/%s", files[i]);
		if (kf_fs_exists(p) && kf_backup_items_add(items, name, p) != 0)
			goto nomem;
	}
	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
		char name[64];
		free(p);
		if (!(p = kf_path_join(out_dir, trees[i])))
			goto nomem;
		snprintf(name, sizeof(name), "out/%s", trees[i]);
		if ((r = add_tree(items, p, name, 0, err)) != 0)
			goto out;
	}
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	free(p);
	return r;
}

/* ---------------------------------------------------------------- names */

/* See backup_internal.h. */
bool kf_backup_name_ok(const char *n)
{
	const char *rest;
	bool single;
	size_t len = strlen(n);

	if (strncmp(n, "out/", 4) == 0)
		rest = n + 4, single = false;
	else if (strncmp(n, "config/", 7) == 0)
		rest = n + 7, single = true;
	else if (strncmp(n, "images/", 7) == 0)
		rest = n + 7, single = true;
	else
		return false;
	if (len > NAME_MAX_LEN || !*rest)
		return false;
	for (const char *c = rest; *c;) {
		const char *end = strchr(c, '/');
		size_t clen = end ? (size_t)(end - c) : strlen(c);
		if (clen == 0 || (clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (end && single)
			return false;
		for (size_t i = 0; i < clen; i++) {
			char ch = c[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' || ch == '+'))
				return false;
		}
		c += clen + (end ? 1 : 0);
	}
	return true;
}

/* ---------------------------------------------------------------- output stream */

struct wstream {
	FILE *f;
	EVP_CIPHER_CTX *c;   /* NULL: plain */
	unsigned char *ct;
};

static int ws_write(struct wstream *w, const void *data, size_t n, struct kf_err *err)
{
	const unsigned char *p = data;

	while (n > 0) {
		size_t take = n > CHUNK ? CHUNK : n;
		int outl = 0;
		if (w->c) {
			if (EVP_EncryptUpdate(w->c, w->ct, &outl, p, (int)take) != 1)
				return kf_err_set(err, KF_EFAIL, "encryption failed");
			if (fwrite(w->ct, 1, (size_t)outl, w->f) != (size_t)outl)
				return kf_err_set(err, KF_EIO, "write failed: %s", strerror(errno));
		} else if (fwrite(p, 1, take, w->f) != take) {
			return kf_err_set(err, KF_EIO, "write failed: %s", strerror(errno));
		}
		p += take;
		n -= take;
	}
	return 0;
}

static int tar_header(struct wstream *w, const char *name, uint64_t size, unsigned mode,
		      struct kf_err *err)
{
	unsigned char h[KF_TAR_BLOCK];

	kf_tar_header(h, name, size, mode, time(NULL));
	return ws_write(w, h, sizeof(h), err);
}

static int tar_pad(struct wstream *w, uint64_t size, struct kf_err *err)
{
	static const char zero[512];
	size_t pad = (size_t)((512 - size % 512) % 512);

	return pad ? ws_write(w, zero, pad, err) : 0;
}

/* Streams one file into the archive, checking it still has the digest of the manifest. */
static int write_member(struct wstream *w, const struct kf_backup_item *it, uint64_t size,
			unsigned mode, const char *want_hex, unsigned char *buf, struct kf_err *err)
{
	struct kf_sha256 *h = kf_sha256_new();
	char hex[KF_SHA256_HEX_LEN + 1];
	uint64_t done = 0;
	FILE *f = NULL;
	int r;

	if (!h)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = tar_header(w, it->name, size, mode, err)) != 0)
		goto out;
	if (!(f = fopen(it->path, "rb"))) {
		r = kf_err_set(err, KF_EIO, "%s: %s", it->path, strerror(errno));
		goto out;
	}
	while (done < size) {
		size_t want = size - done > CHUNK ? CHUNK : (size_t)(size - done);
		size_t got = fread(buf, 1, want, f);
		if (got != want) {
			r = kf_err_set(err, KF_EIO, "%s changed while being backed up (shorter)",
				       it->path);
			goto out;
		}
		kf_sha256_update(h, buf, got);
		if ((r = ws_write(w, buf, got, err)) != 0)
			goto out;
		done += got;
	}
	kf_sha256_final_hex(h, hex);
	h = NULL;
	if (strcmp(hex, want_hex) != 0) {
		r = kf_err_set(err, KF_EDIGEST, "%s changed while being backed up: run backup again",
			       it->path);
		goto out;
	}
	r = tar_pad(w, size, err);
out:
	OPENSSL_cleanse(buf, CHUNK);
	if (f)
		fclose(f);
	kf_sha256_free(h);
	return r;
}

int kf_backup_derive_key(unsigned char key[32], const char *pass, const unsigned char *salt,
			 int log2n, int rr, int p, struct kf_err *err)
{
	if (EVP_PBE_scrypt(pass, strlen(pass), salt, 16, (uint64_t)1 << log2n, (uint64_t)rr,
			   (uint64_t)p, (uint64_t)256 << 20, key, 32) != 1)
		return kf_err_set(err, KF_EFAIL, "scrypt key derivation failed");
	return 0;
}

int kf_backup_write(const char *path, const struct kf_backup_items *items, const char *cluster,
		    const char *passphrase, struct kf_err *err)
{
	struct wstream w = { 0 };
	json_t *man = NULL, *members;
	char *man_text = NULL, *tmp = NULL, **hex = NULL;
	unsigned char *buf = NULL, hdr[HDR_LEN], key[32];
	uint64_t *sizes = NULL;
	unsigned *modes = NULL;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, r = 0;

	memset(key, 0, sizeof(key));
	if (items->n > MEMBERS_MAX)
		return kf_err_set(err, KF_ELIMIT, "more than %d files to back up", MEMBERS_MAX);
	hex = calloc(items->n + 1, sizeof(*hex));
	sizes = calloc(items->n + 1, sizeof(*sizes));
	modes = calloc(items->n + 1, sizeof(*modes));
	buf = malloc(CHUNK);
	w.ct = malloc(CHUNK + 32);
	man = json_object();
	members = json_array();
	if (!hex || !sizes || !modes || !buf || !w.ct || !man || !members) {
		json_decref(members);
		goto nomem;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(man, "format", json_string("k3sforge-backup"));
	json_object_set_new(man, "version", json_integer(1));
	json_object_set_new(man, "cluster", json_string(cluster ? cluster : ""));
	json_object_set_new(man, "created", json_string(stamp));
	json_object_set_new(man, "members", members);
	for (size_t i = 0; i < items->n; i++) {
		struct stat sb;
		if (!kf_backup_name_ok(items->v[i].name)) {
			r = kf_err_set(err, KF_EUNSUPPORTED,
				       "'%s' cannot be stored in a backup (name too long or with "
				       "characters outside [A-Za-z0-9._+-])",
				       items->v[i].name);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(items->v[k].name, items->v[i].name) == 0) {
				r = kf_err_set(err, KF_EEXIST, "'%s' is in the backup twice",
					       items->v[i].name);
				goto out;
			}
		if (stat(items->v[i].path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			r = kf_err_set(err, KF_EIO, "%s: %s", items->v[i].path,
				       errno ? strerror(errno) : "not a regular file");
			goto out;
		}
		if (!(hex[i] = malloc(KF_SHA256_HEX_LEN + 1)))
			goto nomem;
		if ((r = kf_sha256_file(items->v[i].path, hex[i], err)) != 0)
			goto out;
		sizes[i] = (uint64_t)sb.st_size;
		modes[i] = (unsigned)(sb.st_mode & 0755);
		if (json_array_append_new(members,
					  json_pack("{s:s,s:I,s:s,s:i}", "name", items->v[i].name,
						    "size", (json_int_t)sizes[i], "sha256", hex[i],
						    "mode", (int)modes[i])) != 0)
			goto nomem;
	}
	if (!(man_text = json_dumps(man, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		goto nomem;
	if ((r = kf_fs_temp_open(path, 0600, &fd, &tmp, err)) != 0)
		goto out;
	if (!(w.f = fdopen(fd, "wb"))) {
		close(fd);
		r = kf_err_set(err, KF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (passphrase) {
		memset(hdr, 0, sizeof(hdr));
		memcpy(hdr, KF_BACKUP_MAGIC, 8);
		hdr[8] = KDF_SCRYPT;
		hdr[9] = SCRYPT_LOG2N;
		hdr[10] = SCRYPT_R;
		hdr[11] = SCRYPT_P;
		if (RAND_bytes(hdr + 12, 28) != 1) {
			r = kf_err_set(err, KF_EFAIL, "no random bytes for the salt and nonce");
			goto out;
		}
		if ((r = kf_backup_derive_key(key, passphrase, hdr + 12, SCRYPT_LOG2N, SCRYPT_R,
						 SCRYPT_P, err)) != 0)
			goto out;
		if (!(w.c = EVP_CIPHER_CTX_new()))
			goto nomem;
		if (EVP_EncryptInit_ex(w.c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		    EVP_CIPHER_CTX_ctrl(w.c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
		    EVP_EncryptInit_ex(w.c, NULL, NULL, key, hdr + 28) != 1) {
			r = kf_err_set(err, KF_EFAIL, "cannot set up AES-256-GCM");
			goto out;
		}
		{
			int outl = 0;
			if (EVP_EncryptUpdate(w.c, NULL, &outl, hdr, HDR_LEN) != 1) {
				r = kf_err_set(err, KF_EFAIL, "encryption failed");
				goto out;
			}
		}
		if (fwrite(hdr, 1, HDR_LEN, w.f) != HDR_LEN) {
			r = kf_err_set(err, KF_EIO, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if ((r = tar_header(&w, KF_BACKUP_MANIFEST, strlen(man_text), 0644, err)) != 0 ||
	    (r = ws_write(&w, man_text, strlen(man_text), err)) != 0 ||
	    (r = tar_pad(&w, strlen(man_text), err)) != 0)
		goto out;
	for (size_t i = 0; i < items->n; i++)
		if ((r = write_member(&w, &items->v[i], sizes[i], modes[i], hex[i], buf, err)) != 0)
			goto out;
	memset(buf, 0, 1024);
	if ((r = ws_write(&w, buf, 1024, err)) != 0)
		goto out;
	if (w.c) {
		unsigned char tag[TAG_LEN];
		int outl = 0;
		if (EVP_EncryptFinal_ex(w.c, w.ct, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(w.c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
			r = kf_err_set(err, KF_EFAIL, "encryption failed");
			goto out;
		}
		if ((outl > 0 && fwrite(w.ct, 1, (size_t)outl, w.f) != (size_t)outl) ||
		    fwrite(tag, 1, TAG_LEN, w.f) != TAG_LEN) {
			r = kf_err_set(err, KF_EIO, "%s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) {
		r = kf_err_set(err, KF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fclose(w.f);
	w.f = NULL;
	if (rename(tmp, path) != 0) {
		r = kf_err_set(err, KF_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (w.f)
		fclose(w.f);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	EVP_CIPHER_CTX_free(w.c);
	kf_freezero(buf, CHUNK);
	kf_freezero(w.ct, CHUNK + 32);
	for (size_t i = 0; hex && i < items->n; i++)
		free(hex[i]);
	free(hex);
	free(sizes);
	free(modes);
	free(man_text);
	json_decref(man);
	return r;
}

int kf_backup_passphrase(char **out, const char *file, const char *env, struct kf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (file) {
		if ((r = kf_fs_read(&text, &len, file, 1024, err)) != 0)
			return kf_err_wrap(err, "passphrase file");
		text[strcspn(text, "\r\n")] = '\0';
	} else {
		const char *v = env ? getenv(env) : NULL;
		if (!v)
			return kf_err_set(err, KF_EUSAGE, "environment variable %s is not set",
					  env ? env : "(none)");
		if (strlen(v) > 1024)
			return kf_err_set(err, KF_ELIMIT, "passphrase in %s is longer than 1024 bytes",
					  env);
		if (!(text = strdup(v)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	if (strlen(text) < 8) {
		kf_backup_passphrase_free(text);
		return kf_err_set(err, KF_EUSAGE, "the passphrase%s%s is shorter than 8 characters",
				  file ? " in " : "", file ? file : "");
	}
	kf_log_add_secret(text);
	*out = text;
	return 0;
}

void kf_backup_passphrase_free(char *pass)
{
	kf_freezero_str(pass);
}
