/* The backup archive reader (backup_internal.h): the plain or decrypting stream, what may
 * follow the end of the tar stream, and one ustar header at a time. Shared by the restore
 * (backup_restore.c) and the fuzz target (tests/fuzz/fuzz_backup.c). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_internal.h"
#include "k3sforge/backup.h"
#include "k3sforge/buf.h"
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

int kf_backup_reader_open(struct kf_backup_reader *rs, const char *path, const char *passphrase,
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
	if (!S_ISREG(sb.st_mode))
		return kf_err_set(err, KF_EPARSE, "%s is not a regular file", path);
	rs->plain_len = (uint64_t)sb.st_size;
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
	rs->ct_left = rs->plain_len = (uint64_t)sb.st_size - HDR_LEN - TAG_LEN;
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

void kf_backup_reader_close(struct kf_backup_reader *rs)
{
	if (rs->f)
		fclose(rs->f);
	EVP_CIPHER_CTX_free(rs->c);
	kf_freezero(rs->ct, CHUNK);
	memset(rs, 0, sizeof(*rs));
}

/* Reads exactly n plaintext bytes; KF_EPARSE (truncated) when the archive ends first. */
int kf_backup_reader_read(struct kf_backup_reader *rs, void *buf, size_t n, struct kf_err *err)
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
int kf_backup_reader_finish(struct kf_backup_reader *rs, unsigned char *buf,
			    struct kf_err *err)
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
			if ((r = kf_backup_reader_read(rs, buf, take, err)) != 0)
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
void kf_backup_reader_check_tag(struct kf_backup_reader *rs, unsigned char *buf,
				struct kf_err *err)
{
	struct kf_err e;

	kf_err_clear(&e);
	while (rs->ct_left > 0) {
		size_t take = rs->ct_left > CHUNK ? CHUNK : (size_t)rs->ct_left;
		if (kf_backup_reader_read(rs, buf, take, &e) != 0)
			return;
	}
	if (kf_backup_reader_finish(rs, buf, &e) == KF_EAUTH)
		kf_err_set(err, KF_EAUTH, "%s", e.msg);
}


/* Reads one header: 1 = a member (name, size, type '0' or '5'), 0 = end of archive, <0 error.
 * Links, devices, FIFOs and extended headers are refused here: a backup holds regular files
 * (and, re-tarred, the directories above them). */
int kf_backup_next_header(struct kf_backup_reader *rs, char name[101], uint64_t *size, char *type,
			  struct kf_err *err)
{
	unsigned char h[KF_TAR_BLOCK];
	const char *what;
	int r;

	if ((r = kf_backup_reader_read(rs, h, sizeof(h), err)) != 0)
		return r;
	if (kf_tar_zero_block(h)) {
		if ((r = kf_backup_reader_read(rs, h, sizeof(h), err)) != 0)
			return r;
		if (!kf_tar_zero_block(h))
			return kf_err_set(err, KF_EPARSE, "%s: damaged end of archive", rs->path);
		return 0;
	}
	if (!kf_tar_checksum_ok(h))
		return kf_err_set(err, KF_EPARSE, "%s: damaged archive (header checksum)", rs->path);
	memcpy(name, h, 100);
	name[100] = '\0';
	*type = h[156] == '\0' ? '0' : (char)h[156];
	switch (*type) {
	case '0': case '5': what = NULL; break;
	case '1': what = "a hard link"; break;
	case '2': what = "a symbolic link"; break;
	case '3': case '4': what = "a device"; break;
	case '6': what = "a FIFO"; break;
	case 'L': case 'K': what = "a GNU long name"; break;
	case 'x': case 'g': what = "a pax extended header"; break;
	default: what = "an unknown entry type"; break;
	}
	if (what)
		return kf_err_set(err, KF_EPARSE,
				  "%s: '%s' is %s: a backup holds only regular files; refused", rs->path,
				  name, what);
	if (memcmp(h + 257, "ustar", 5) != 0 || h[345])
		return kf_err_set(err, KF_EPARSE, "%s: unexpected archive entry '%s'", rs->path,
				  name);
	if (!kf_tar_number(h + 124, 12, size))
		return kf_err_set(err, KF_EPARSE, "%s: damaged archive (size of %s)", rs->path, name);
	return 1;
}
