/* Backup archives of a lab's identity and their verified restore (include/k3sforge/backup.h,
 * docs/backup.md). The archive is a ustar stream whose first member is the manifest; encrypted
 * archives wrap that stream in AES-256-GCM under a scrypt-derived key, the header as AAD. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/tar.h"

#define HDR_LEN 40          /* magic 8, kdf 1, log2n 1, r 1, p 1, salt 16, nonce 12 */
#define TAG_LEN 16
#define CHUNK 65536
#define MANIFEST_MAX (1u << 20)
#define MEMBERS_MAX 10000
#define NAME_MAX_LEN 99
#define KDF_SCRYPT 1
#define SCRYPT_LOG2N 15
#define SCRYPT_R 8
#define SCRYPT_P 1

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
	static const char *const files[] = { "state.json", "kubeconfig", "registries.yaml" };
	static const char *const trees[] = { "pki", "ssh", "secrets" };
	char *p = NULL;
	int r = 0;

	if (!(p = kf_path_join(out_dir, "pki/ca.crt")))
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

/* Archive names: out/<rel path>, config/<name>, images/<name>; [A-Za-z0-9._+-] components,
 * none "." or "..", shorter than 100 bytes (one ustar name field). */
static bool member_name_ok(const char *n)
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

static int derive_key(unsigned char key[32], const char *pass, const unsigned char *salt,
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
		if (!member_name_ok(items->v[i].name)) {
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
		if ((r = derive_key(key, passphrase, hdr + 12, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P,
				    err)) != 0)
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
	if (buf)
		OPENSSL_cleanse(buf, CHUNK);
	free(buf);
	if (w.ct)
		OPENSSL_cleanse(w.ct, CHUNK + 32);
	free(w.ct);
	for (size_t i = 0; hex && i < items->n; i++)
		free(hex[i]);
	free(hex);
	free(sizes);
	free(modes);
	free(man_text);
	json_decref(man);
	return r;
}

bool kf_backup_is_encrypted(const char *path)
{
	char m[8];
	FILE *f = fopen(path, "rb");
	bool enc;

	if (!f)
		return false;
	enc = fread(m, 1, 8, f) == 8 && memcmp(m, KF_BACKUP_MAGIC, 8) == 0;
	fclose(f);
	return enc;
}

/* ---------------------------------------------------------------- input stream */

struct rstream {
	FILE *f;
	const char *path;
	EVP_CIPHER_CTX *c;
	uint64_t ct_left;       /* encrypted: ciphertext bytes not yet read */
	unsigned char *ct;
};

static int rs_open(struct rstream *rs, const char *path, const char *passphrase,
		   struct kf_err *err)
{
	unsigned char hdr[HDR_LEN], key[32];
	struct stat sb;
	int r = 0;

	memset(rs, 0, sizeof(*rs));
	rs->path = path;
	if (!(rs->f = fopen(path, "rb")))
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s", path,
				  strerror(errno));
	if (fstat(fileno(rs->f), &sb) != 0)
		return kf_err_set(err, KF_EIO, "%s: %s", path, strerror(errno));
	if (!(fread(hdr, 1, 8, rs->f) == 8 && memcmp(hdr, KF_BACKUP_MAGIC, 8) == 0)) {
		rewind(rs->f);
		return 0;
	}
	if (!passphrase)
		return kf_err_set(err, KF_EAUTH,
				  "%s is encrypted: pass --passphrase-file FILE or --passphrase-env VAR",
				  path);
	if ((uint64_t)sb.st_size < HDR_LEN + TAG_LEN ||
	    fread(hdr + 8, 1, HDR_LEN - 8, rs->f) != HDR_LEN - 8)
		return kf_err_set(err, KF_EPARSE, "%s: truncated (shorter than its header)", path);
	if (hdr[8] != KDF_SCRYPT || hdr[9] < 10 || hdr[9] > 20 || hdr[10] == 0 || hdr[10] > 16 ||
	    hdr[11] == 0 || hdr[11] > 4)
		return kf_err_set(err, KF_EPARSE, "%s: unknown key derivation parameters", path);
	memset(key, 0, sizeof(key));
	if ((r = derive_key(key, passphrase, hdr + 12, hdr[9], hdr[10], hdr[11], err)) != 0)
		goto out;
	rs->ct_left = (uint64_t)sb.st_size - HDR_LEN - TAG_LEN;
	if (!(rs->ct = malloc(CHUNK)) || !(rs->c = EVP_CIPHER_CTX_new())) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	{
		int outl = 0;
		if (EVP_DecryptInit_ex(rs->c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		    EVP_CIPHER_CTX_ctrl(rs->c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
		    EVP_DecryptInit_ex(rs->c, NULL, NULL, key, hdr + 28) != 1 ||
		    EVP_DecryptUpdate(rs->c, NULL, &outl, hdr, HDR_LEN) != 1)
			r = kf_err_set(err, KF_EFAIL, "cannot set up AES-256-GCM");
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

static void rs_close(struct rstream *rs)
{
	if (rs->f)
		fclose(rs->f);
	EVP_CIPHER_CTX_free(rs->c);
	if (rs->ct)
		OPENSSL_cleanse(rs->ct, CHUNK);
	free(rs->ct);
	memset(rs, 0, sizeof(*rs));
}

/* Reads exactly n plaintext bytes; KF_EPARSE (truncated) when the archive ends first. */
static int rs_read(struct rstream *rs, void *buf, size_t n, struct kf_err *err)
{
	unsigned char *p = buf;

	while (n > 0) {
		size_t take = n > CHUNK ? CHUNK : n;
		if (rs->c) {
			int outl = 0;
			if (rs->ct_left < take)
				return kf_err_set(err, KF_EPARSE, "%s: truncated archive", rs->path);
			if (fread(rs->ct, 1, take, rs->f) != take)
				return kf_err_set(err, KF_EPARSE, "%s: truncated archive", rs->path);
			rs->ct_left -= take;
			if (EVP_DecryptUpdate(rs->c, p, &outl, rs->ct, (int)take) != 1 ||
			    (size_t)outl != take)
				return kf_err_set(err, KF_EFAIL, "%s: decryption failed", rs->path);
		} else if (fread(p, 1, take, rs->f) != take) {
			return kf_err_set(err, KF_EPARSE, "%s: truncated archive", rs->path);
		}
		p += take;
		n -= take;
	}
	return 0;
}

/* After the end of the tar stream: nothing may follow, and the GCM tag must verify. */
static int rs_finish(struct rstream *rs, struct kf_err *err)
{
	if (rs->c) {
		unsigned char tag[TAG_LEN], fin[32];
		int outl = 0;
		if (rs->ct_left != 0)
			return kf_err_set(err, KF_EPARSE, "%s: data after the end of the archive",
					  rs->path);
		if (fread(tag, 1, TAG_LEN, rs->f) != TAG_LEN)
			return kf_err_set(err, KF_EPARSE, "%s: truncated archive (no tag)", rs->path);
		if (EVP_CIPHER_CTX_ctrl(rs->c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
		    EVP_DecryptFinal_ex(rs->c, fin, &outl) != 1)
			return kf_err_set(err, KF_EAUTH,
					  "%s: authentication failed: wrong passphrase, or the "
					  "archive was damaged or tampered with; nothing was restored",
					  rs->path);
		return 0;
	}
	if (fgetc(rs->f) != EOF)
		return kf_err_set(err, KF_EPARSE, "%s: data after the end of the archive", rs->path);
	return 0;
}

/* After a failed parse of an encrypted archive: reads the rest and checks the GCM tag; when it
 * does not verify, the real reason is a wrong passphrase or tampering, and err says so. */
static void rs_check_tag(struct rstream *rs, unsigned char *buf, struct kf_err *err)
{
	struct kf_err e;

	kf_err_clear(&e);
	while (rs->ct_left > 0) {
		size_t take = rs->ct_left > CHUNK ? CHUNK : (size_t)rs->ct_left;
		if (rs_read(rs, buf, take, &e) != 0)
			return;
	}
	if (rs_finish(rs, &e) == KF_EAUTH)
		kf_err_set(err, KF_EAUTH, "%s", e.msg);
}

/* ---------------------------------------------------------------- restore */

struct member {
	const char *name;     /* borrowed from the manifest */
	const char *sha256;
	uint64_t size;
	unsigned mode;
	bool seen;
	char *dest;           /* destination path */
	char *staged;         /* temp file next to dest (pass 2) */
	bool unchanged;       /* dest already holds these bytes */
};

struct restore {
	const struct kf_restore_opts *o;
	json_t *manifest;
	struct member *m;
	size_t n;
};

/* Reads one header: 1 = a member (name, size), 0 = end of archive, <0 error. */
static int next_header(struct rstream *rs, char name[101], uint64_t *size, struct kf_err *err)
{
	unsigned char h[KF_TAR_BLOCK];
	bool zero = true;
	int r;

	if ((r = rs_read(rs, h, sizeof(h), err)) != 0)
		return r;
	for (int i = 0; i < 512 && zero; i++)
		zero = h[i] == 0;
	if (zero) {
		if ((r = rs_read(rs, h, sizeof(h), err)) != 0)
			return r;
		for (int i = 0; i < 512; i++)
			if (h[i])
				return kf_err_set(err, KF_EPARSE, "%s: damaged end of archive",
						  rs->path);
		return 0;
	}
	if (!kf_tar_checksum_ok(h))
		return kf_err_set(err, KF_EPARSE, "%s: damaged archive (header checksum)", rs->path);
	if (memcmp(h + 257, "ustar", 5) != 0 || (h[156] != '0' && h[156] != '\0') || h[345])
		return kf_err_set(err, KF_EPARSE, "%s: unexpected archive entry", rs->path);
	memcpy(name, h, 100);
	name[100] = '\0';
	if (!kf_tar_number(h + 124, 12, size))
		return kf_err_set(err, KF_EPARSE, "%s: damaged archive (size of %s)", rs->path, name);
	return 1;
}

static char *dest_for(const struct kf_restore_opts *o, const char *name)
{
	if (strncmp(name, "out/", 4) == 0)
		return kf_path_join(o->out_dir, name + 4);
	if (strncmp(name, "config/", 7) == 0)
		return kf_path_join(o->config_dir ? o->config_dir : o->out_dir, name + 7);
	return kf_path_join(o->images_dir ? o->images_dir : o->out_dir, name + 7);
}

static int load_manifest(struct restore *rx, const char *text, const char *path,
			 struct kf_err *err)
{
	json_error_t je;
	json_t *members, *it;
	size_t i;

	rx->manifest = json_loads(text, 0, &je);
	if (!rx->manifest || !json_is_object(rx->manifest) ||
	    strcmp(json_string_value(json_object_get(rx->manifest, "format")) ?: "",
		   "k3sforge-backup") != 0 ||
	    json_integer_value(json_object_get(rx->manifest, "version")) != 1)
		return kf_err_set(err, KF_EPARSE, "%s: not a k3sforge backup (version 1) manifest",
				  path);
	members = json_object_get(rx->manifest, "members");
	if (!json_is_array(members) || json_array_size(members) > MEMBERS_MAX)
		return kf_err_set(err, KF_EPARSE, "%s: manifest without a member list", path);
	rx->n = json_array_size(members);
	if (!(rx->m = calloc(rx->n + 1, sizeof(*rx->m))))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	json_array_foreach(members, i, it) {
		struct member *m = &rx->m[i];
		json_int_t size = json_integer_value(json_object_get(it, "size"));
		json_int_t mode = json_integer_value(json_object_get(it, "mode"));
		m->name = json_string_value(json_object_get(it, "name"));
		m->sha256 = json_string_value(json_object_get(it, "sha256"));
		if (!m->name || !member_name_ok(m->name) || !m->sha256 ||
		    !kf_sha256_valid_hex(m->sha256) || size < 0 || mode < 0 || mode > 07777)
			return kf_err_set(err, KF_EPARSE, "%s: manifest entry %zu is malformed", path,
					  i);
		for (size_t k = 0; k < i; k++)
			if (strcmp(rx->m[k].name, m->name) == 0)
				return kf_err_set(err, KF_EPARSE, "%s: %s listed twice", path,
						  m->name);
		m->size = (uint64_t)size;
		m->mode = (unsigned)mode & 0755;
		if (!(m->dest = dest_for(rx->o, m->name)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
	}
	return 0;
}

/* One pass over the archive. extract false: check the manifest and every digest. extract
 * true: also write each changed member to its staged temp file. */
static int walk(struct restore *rx, const char *path, bool extract, struct kf_err *err)
{
	struct rstream rs;
	unsigned char *buf = malloc(CHUNK);
	char name[101];
	uint64_t size = 0;
	bool first = true;
	int r, fd = -1;

	if (!buf)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = rs_open(&rs, path, rx->o->passphrase, err)) != 0)
		goto out;
	while ((r = next_header(&rs, name, &size, err)) == 1) {
		struct kf_sha256 *h;
		char hex[KF_SHA256_HEX_LEN + 1];
		struct member *m = NULL;
		uint64_t done = 0;

		if (first) {
			char *text;
			first = false;
			if (strcmp(name, KF_BACKUP_MANIFEST) != 0 || size > MANIFEST_MAX) {
				r = kf_err_set(err, KF_EPARSE,
					       "%s: not a k3sforge backup (no manifest first)", path);
				goto out;
			}
			if (!(text = calloc(1, (size_t)size + 1))) {
				r = kf_err_set(err, KF_ENOMEM, "out of memory");
				goto out;
			}
			r = rs_read(&rs, text, (size_t)size, err);
			if (!r && !rx->manifest)
				r = load_manifest(rx, text, path, err);
			free(text);
			if (!r && size % 512)
				r = rs_read(&rs, buf, 512 - size % 512, err);
			if (r)
				goto out;
			continue;
		}
		for (size_t i = 0; i < rx->n && !m; i++)
			if (strcmp(rx->m[i].name, name) == 0)
				m = &rx->m[i];
		if (!m) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' is not in the manifest", path, name);
			goto out;
		}
		if (m->seen && !extract) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' appears twice", path, name);
			goto out;
		}
		if (size != m->size) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' has %llu bytes, the manifest says %llu",
				       path, name, (unsigned long long)size,
				       (unsigned long long)m->size);
			goto out;
		}
		m->seen = true;
		if (extract && !m->unchanged) {
			if ((fd = open(m->staged, O_WRONLY | O_TRUNC)) < 0) {
				r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
				goto out;
			}
		}
		if (!(h = kf_sha256_new())) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		while (done < size) {
			size_t take = size - done > CHUNK ? CHUNK : (size_t)(size - done);
			if ((r = rs_read(&rs, buf, take, err)) != 0)
				break;
			kf_sha256_update(h, buf, take);
			if (fd >= 0 && write(fd, buf, take) != (ssize_t)take) {
				r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
				break;
			}
			done += take;
		}
		kf_sha256_final_hex(h, hex);
		if (fd >= 0) {
			if (!r && fsync(fd) != 0)
				r = kf_err_set(err, KF_EIO, "%s: %s", m->staged, strerror(errno));
			close(fd);
			fd = -1;
		}
		if (r)
			goto out;
		if (strcmp(hex, m->sha256) != 0) {
			r = kf_err_set(err, KF_EDIGEST,
				       "%s: '%s' does not match its digest in the manifest (damaged or "
				       "tampered with); nothing was restored",
				       path, name);
			goto out;
		}
		if (size % 512 && (r = rs_read(&rs, buf, 512 - size % 512, err)) != 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (first) {
		r = kf_err_set(err, KF_EPARSE, "%s: empty archive", path);
		goto out;
	}
	for (size_t i = 0; i < rx->n; i++)
		if (!rx->m[i].seen) {
			r = kf_err_set(err, KF_EDIGEST, "%s: '%s' is missing (truncated archive?)",
				       path, rx->m[i].name);
			goto out;
		}
	r = rs_finish(&rs, err);
out:
	if (fd >= 0)
		close(fd);
	/* Garbage from a wrong key fails the tar parse first: the tag says which it was. */
	if (r && r != KF_EAUTH && rs.c)
		rs_check_tag(&rs, buf, err);
	rs_close(&rs);
	OPENSSL_cleanse(buf, CHUNK);
	free(buf);
	return r;
}

/* Which destinations already hold the member (unchanged), and which hold something else. */
static int check_conflicts(struct restore *rx, struct kf_err *err)
{
	struct kf_buf list;
	size_t conflicts = 0;
	int r = 0;

	kf_buf_init(&list, 4096);
	for (size_t i = 0; i < rx->n; i++) {
		char hex[KF_SHA256_HEX_LEN + 1];
		struct kf_err e;
		if (!kf_fs_exists(rx->m[i].dest))
			continue;
		if (kf_sha256_file(rx->m[i].dest, hex, &e) == 0 && strcmp(hex, rx->m[i].sha256) == 0) {
			rx->m[i].unchanged = true;
			continue;
		}
		if (!rx->o->force) {
			if (conflicts < 5)
				kf_buf_printf(&list, "%s%s", conflicts ? ", " : "", rx->m[i].dest);
			conflicts++;
		}
	}
	if (conflicts)
		r = kf_err_set(err, KF_EEXIST,
			       "%zu existing file%s differ from the backup (%s%s): another lab's "
			       "identity would be replaced; restore into an empty -o DIR, or pass "
			       "--force to overwrite; nothing was restored",
			       conflicts, conflicts == 1 ? "" : "s", kf_buf_str(&list),
			       conflicts > 5 ? ", ..." : "");
	kf_buf_free(&list);
	return r;
}

static int stage_files(struct restore *rx, struct kf_err *err)
{
	for (size_t i = 0; i < rx->n; i++) {
		struct member *m = &rx->m[i];
		char *dir, *slash;
		int fd;
		if (m->unchanged)
			continue;
		if (!(dir = strdup(m->dest)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			if (*dir && kf_fs_mkdirs(dir, 0700, err) != 0) {
				free(dir);
				return err->code;
			}
		}
		free(dir);
		if (!(m->staged = malloc(strlen(m->dest) + 24)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		sprintf(m->staged, "%s.tmp.restore.XXXXXX", m->dest);
		if ((fd = mkstemp(m->staged)) < 0) {
			int e = errno;
			free(m->staged);
			m->staged = NULL;
			return kf_err_set(err, KF_EIO, "cannot create a file next to %s: %s", m->dest,
					  strerror(e));
		}
		fchmod(fd, m->mode ? m->mode : 0600);
		close(fd);
	}
	return 0;
}

int kf_restore(const char *path, const struct kf_restore_opts *opts,
	       struct kf_restore_stats *stats, struct kf_err *err)
{
	struct restore rx = { .o = opts };
	int r;

	memset(stats, 0, sizeof(*stats));
	/* Pass 1: everything verified before anything is touched. */
	if ((r = walk(&rx, path, false, err)) != 0)
		goto out;
	if ((r = check_conflicts(&rx, err)) != 0)
		goto out;
	/* Pass 2: staged next to each destination, verified again while written, then renamed. */
	if ((r = stage_files(&rx, err)) != 0)
		goto out;
	for (size_t i = 0; i < rx.n; i++)
		rx.m[i].seen = false;
	if ((r = walk(&rx, path, true, err)) != 0)
		goto out;
	for (size_t i = 0; i < rx.n; i++) {
		struct member *m = &rx.m[i];
		if (strncmp(m->name, "config/", 7) == 0 && !stats->config_path)
			stats->config_path = strdup(m->dest);
		if (strncmp(m->name, "images/", 7) == 0 && !stats->images_path)
			stats->images_path = strdup(m->dest);
		if (m->unchanged) {
			stats->unchanged++;
			continue;
		}
		if (rename(m->staged, m->dest) != 0) {
			r = kf_err_set(err, KF_EIO, "cannot rename %s to %s: %s", m->staged, m->dest,
				       strerror(errno));
			goto out;
		}
		free(m->staged);
		m->staged = NULL;
		stats->files++;
	}
out:
	for (size_t i = 0; i < rx.n; i++) {
		if (rx.m[i].staged) {
			unlink(rx.m[i].staged);
			free(rx.m[i].staged);
		}
		free(rx.m[i].dest);
	}
	free(rx.m);
	json_decref(rx.manifest);
	if (r)
		kf_restore_stats_free(stats);
	return r;
}

void kf_restore_stats_free(struct kf_restore_stats *st)
{
	if (!st)
		return;
	free(st->config_path);
	free(st->images_path);
	st->config_path = st->images_path = NULL;
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
	if (!pass)
		return;
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
}
