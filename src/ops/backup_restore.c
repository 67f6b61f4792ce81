/* The verified restore of a backup archive (include/k3sforge/backup.h, docs/backup.md); the
 * writer is backup_write.c. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_internal.h"
#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/tar.h"

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
	if ((r = kf_backup_derive_key(key, passphrase, hdr + 12, hdr[9], hdr[10], hdr[11],
					 err)) != 0)
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

/* After the end of the tar stream: only zero padding may follow (GNU tar pads a re-tarred
 * backup to its 10240-byte record; kf_tar_pad), and the GCM tag must verify. buf: CHUNK bytes. */
static int rs_finish(struct rstream *rs, unsigned char *buf, struct kf_err *err)
{
	struct kf_tar_pad pad = { 0 };
	int r;

	if (rs->c) {
		unsigned char tag[TAG_LEN], fin[32];
		int outl = 0;
		if (rs->ct_left > KF_TAR_PAD_MAX)
			return kf_err_set(err, KF_EPARSE, "%s: data after the end of the archive",
					  rs->path);
		while (rs->ct_left > 0) {
			size_t take = rs->ct_left > CHUNK ? CHUNK : (size_t)rs->ct_left;
			if ((r = rs_read(rs, buf, take, err)) != 0)
				return r;
			kf_tar_pad_feed(&pad, buf, take);
		}
		if (fread(tag, 1, TAG_LEN, rs->f) != TAG_LEN)
			return kf_err_set(err, KF_EPARSE, "%s: truncated archive (no tag)", rs->path);
		if (EVP_CIPHER_CTX_ctrl(rs->c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
		    EVP_DecryptFinal_ex(rs->c, fin, &outl) != 1)
			return kf_err_set(err, KF_EAUTH,
					  "%s: authentication failed: wrong passphrase, or the "
					  "archive was damaged or tampered with; nothing was restored",
					  rs->path);
	} else {
		size_t got;
		while (!pad.data && pad.len <= KF_TAR_PAD_MAX &&
		       (got = fread(buf, 1, CHUNK, rs->f)) > 0)
			kf_tar_pad_feed(&pad, buf, got);
		if (ferror(rs->f))
			return kf_err_set(err, KF_EIO, "%s: %s", rs->path, strerror(errno));
	}
	if (!kf_tar_pad_ok(&pad))
		return kf_err_set(err, KF_EPARSE,
				  "%s: data after the end of the archive (only zero blocks, up to "
				  "1 MiB, may follow it)",
				  rs->path);
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
	if (rs_finish(rs, buf, &e) == KF_EAUTH)
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
		if (!m->name || !kf_backup_name_ok(m->name) || !m->sha256 ||
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
	r = rs_finish(&rs, buf, err);
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
