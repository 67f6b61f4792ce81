/* SHA-256 over memory, streams and files, and stage input fingerprints. */
#include "k3sforge/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct kf_sha256 {
	EVP_MD_CTX *ctx;
};

struct kf_sha256 *kf_sha256_new(void)
{
	struct kf_sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void kf_sha256_update(struct kf_sha256 *h, const void *data, size_t len)
{
	if (h && len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void kf_sha256_final_hex(struct kf_sha256 *h, char hex[KF_SHA256_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned int n = 0;
	static const char digits[] = "0123456789abcdef";

	hex[0] = '\0';
	if (!h)
		return;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	kf_sha256_free(h);
}

void kf_sha256_free(struct kf_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void kf_sha256_hex(const void *data, size_t len, char hex[KF_SHA256_HEX_LEN + 1])
{
	struct kf_sha256 *h = kf_sha256_new();

	kf_sha256_update(h, data, len);
	kf_sha256_final_hex(h, hex);
}

int kf_sha256_file(const char *path, char hex[KF_SHA256_HEX_LEN + 1], struct kf_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct kf_sha256 *h;
	unsigned char *buf;
	ssize_t n;

	if (fd < 0)
		return kf_err_set(err, errno == ENOENT ? KF_ENOTFOUND : KF_EIO, "%s: %s", path,
				  strerror(errno));
	h = kf_sha256_new();
	buf = malloc(1 << 20);
	if (!h || !buf) {
		close(fd);
		free(buf);
		kf_sha256_free(h);
		return kf_err_set(err, KF_ENOMEM, "out of memory hashing %s", path);
	}
	while ((n = read(fd, buf, 1 << 20)) > 0)
		kf_sha256_update(h, buf, (size_t)n);
	if (n < 0) {
		int e = errno;
		close(fd);
		free(buf);
		kf_sha256_free(h);
		return kf_err_set(err, KF_EIO, "%s: read: %s", path, strerror(e));
	}
	close(fd);
	free(buf);
	kf_sha256_final_hex(h, hex);
	return 0;
}

int kf_sha256_valid_hex(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return i == 64;
}

bool kf_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	for (int i = 7; i < KF_DIGEST_STR_LEN; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return d[KF_DIGEST_STR_LEN] == '\0';
}

const char *kf_digest_hex(const char *d)
{
	return kf_digest_valid(d) ? d + 7 : NULL;
}

int kf_digest_check(const char *d, const char *what, struct kf_err *err)
{
	if (kf_digest_valid(d))
		return 0;
	return kf_err_set(err, KF_EPARSE,
			  "%s: '%.80s' is not a digest (sha256: followed by 64 lowercase hex "
			  "digits; other algorithms are not supported)", what, d ? d : "");
}

struct kf_fp {
	struct kf_sha256 *h;
};

struct kf_fp *kf_fp_new(void)
{
	struct kf_fp *fp = calloc(1, sizeof(*fp));

	if (!fp)
		return NULL;
	fp->h = kf_sha256_new();
	if (!fp->h) {
		free(fp);
		return NULL;
	}
	return fp;
}

/* Each value is framed "key\0len\0value\0" so that ("ab","c") and ("a","bc") differ. */
static void fp_put(struct kf_fp *fp, const char *key, const char *value, size_t len)
{
	char n[32];
	int k = snprintf(n, sizeof(n), "%zu", len);

	kf_sha256_update(fp->h, key, strlen(key) + 1);
	kf_sha256_update(fp->h, n, (size_t)k + 1);
	kf_sha256_update(fp->h, value, len);
	kf_sha256_update(fp->h, "", 1);
}

void kf_fp_str(struct kf_fp *fp, const char *key, const char *value)
{
	if (!fp)
		return;
	if (!value)
		fp_put(fp, key, "\x01(null)", 7);
	else
		fp_put(fp, key, value, strlen(value));
}

void kf_fp_int(struct kf_fp *fp, const char *key, long long value)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", value);
	kf_fp_str(fp, key, n);
}

void kf_fp_file(struct kf_fp *fp, const char *key, const char *path)
{
	struct stat st;
	char buf[256];

	if (!fp)
		return;
	if (!path || stat(path, &st) != 0) {
		kf_fp_str(fp, key, "\x01missing");
		return;
	}
	if (st.st_size < 4 * 1024 * 1024) {
		char hex[KF_SHA256_HEX_LEN + 1];
		if (kf_sha256_file(path, hex, NULL) == 0) {
			kf_fp_str(fp, key, hex);
			return;
		}
	}
	snprintf(buf, sizeof(buf), "%s|%lld|%lld.%09ld", path, (long long)st.st_size,
		 (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	kf_fp_str(fp, key, buf);
}

void kf_fp_final(struct kf_fp *fp, char hex[KF_SHA256_HEX_LEN + 1])
{
	kf_sha256_final_hex(fp->h, hex);
	fp->h = NULL;
	free(fp);
}

void kf_fp_free(struct kf_fp *fp)
{
	if (!fp)
		return;
	kf_sha256_free(fp->h);
	free(fp);
}

void kf_ssh_fingerprint_blob(const void *blob, size_t len, char out[KF_SSH_FP_LEN])
{
	unsigned char md[32], b64[48];
	unsigned int mdlen = 0;
	int n;

	memcpy(out, "SHA256:", 7);
	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		strcpy(out + 7, "?");
		return;
	}
	/* 32 bytes are 44 base64 characters with one '=' of padding, which OpenSSH leaves off */
	n = EVP_EncodeBlock(b64, md, (int)sizeof(md));
	while (n > 0 && b64[n - 1] == '=')
		n--;
	memcpy(out + 7, b64, (size_t)n);
	out[7 + n] = '\0';
}
