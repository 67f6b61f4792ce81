/* `doctor --bundle`: one .tar.gz for a bug report, every text scrubbed of secrets
 * (include/k3sforge/doctor.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "k3sforge/buf.h"
#include "k3sforge/doctor.h"
#include "k3sforge/fs.h"
#include "k3sforge/labpaths.h"
#include "k3sforge/log.h"
#include "k3sforge/pki.h"
#include "k3sforge/tar.h"

#define FILE_MAX (8u << 20)

static const char *const secret_words[] = { "token", "password", "passwd", "secret",
					    "passphrase" };

/* A line naming a secret keeps its key, loses its value. */
static void scrub_line(struct kf_buf *b, const char *line, size_t len)
{
	for (size_t w = 0; w < sizeof(secret_words) / sizeof(secret_words[0]); w++) {
		size_t wl = strlen(secret_words[w]);
		for (size_t i = 0; i + wl <= len; i++) {
			if (strncasecmp(line + i, secret_words[w], wl) != 0)
				continue;
			for (size_t k = i + wl; k < len; k++) {
				if (line[k] == ':' || line[k] == '=') {
					kf_buf_append(b, line, k + 1);
					kf_buf_puts(b, " ***");
					return;
				}
			}
		}
	}
	kf_buf_append(b, line, len);
}

char *kf_doctor_scrub(const char *text)
{
	char *masked = kf_log_mask(text ? text : "");
	struct kf_buf b;
	bool in_key = false;

	if (!masked)
		return NULL;
	kf_buf_init(&b, 0);
	for (const char *p = masked; *p;) {
		size_t len = strcspn(p, "\n");
		bool begin = len > 10 && strncmp(p, "-----BEGIN", 10) == 0 &&
			     memmem(p, len, "PRIVATE KEY", 11) != NULL;
		bool end = len > 8 && strncmp(p, "-----END", 8) == 0;
		if (begin) {
			in_key = true;
			kf_buf_puts(&b, "[private key removed]");
		} else if (in_key) {
			if (end)
				in_key = false;
			p += len + (p[len] ? 1 : 0);
			continue;
		} else {
			scrub_line(&b, p, len);
		}
		if (p[len])
			kf_buf_putc(&b, '\n');
		p += len + (p[len] ? 1 : 0);
	}
	free(masked);
	if (!b.data)
		return strdup("");
	return kf_buf_detach(&b);
}

static int gz_all(gzFile gz, const void *data, size_t len, struct kf_err *err)
{
	const char *p = data;

	while (len > 0) {
		unsigned take = len > (1u << 30) ? (1u << 30) : (unsigned)len;
		int w = gzwrite(gz, p, take);
		if (w <= 0)
			return kf_err_set(err, KF_EIO, "gzip write failed");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int add_text(gzFile gz, const char *name, const char *text, struct kf_err *err)
{
	char *clean = kf_doctor_scrub(text);
	unsigned char h[KF_TAR_BLOCK];
	static const char zero[512];
	size_t len;
	int r;

	if (!clean)
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	len = strlen(clean);
	kf_tar_header(h, name, len, 0644, time(NULL));
	if ((r = gz_all(gz, h, sizeof(h), err)) == 0 && (r = gz_all(gz, clean, len, err)) == 0 &&
	    len % 512)
		r = gz_all(gz, zero, 512 - len % 512, err);
	free(clean);
	return r;
}

/* Adds a file of the output dir (missing: skipped; too large: its last FILE_MAX bytes). */
static int add_file(gzFile gz, const char *name, const char *path, struct kf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	struct kf_err e;
	int r;

	if (!path || !kf_fs_exists(path))
		return 0;
	if (kf_fs_read(&data, &len, path, FILE_MAX, &e) != 0) {
		FILE *f = fopen(path, "rb");
		if (!f)
			return 0;
		data = calloc(1, FILE_MAX + 1);
		if (!data) {
			fclose(f);
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		}
		fseek(f, -(long)FILE_MAX, SEEK_END);
		len = fread(data, 1, FILE_MAX, f);
		data[len] = '\0';
		fclose(f);
	}
	r = add_text(gz, name, data, err);
	free(data);
	return r;
}

int kf_doctor_bundle_write(const char *path, const struct kf_captures *caps,
			   const struct kf_config *cfg, const char *out_dir,
			   const char *config_path, struct kf_err *err)
{
	static const char *const files[] = { KF_OUT_LOG, KF_OUT_STATE, KF_OUT_REGISTRIES_YAML,
					     KF_OUT_REGISTRY_LOG, KF_OUT_PUSH_LOG };
	char *tmp = NULL, *token = NULL, *admin = NULL;
	gzFile gz = NULL;
	struct kf_err e;
	int fd = -1, r = 0;

	/* What must never appear is registered for masking first. */
	if (kf_pki_read_token(&token, out_dir, &e) == 0)
		kf_log_add_secret(token);
	if (kf_pki_admin_password(&admin, cfg, out_dir, &e) == 0 && admin && *admin)
		kf_log_add_secret(admin);
	if ((r = kf_fs_temp_open(path, 0600, &fd, &tmp, err)) != 0)
		goto out;
	if (!(gz = gzdopen(dup(fd), "wb9"))) {
		r = kf_err_set(err, KF_EIO, "%s: cannot start gzip", tmp);
		goto out;
	}
	for (size_t i = 0; caps && i < caps->n && !r; i++)
		r = add_text(gz, caps->v[i].name, caps->v[i].text, err);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !r; i++) {
		char *p = kf_path_join(out_dir, files[i]), name[128];
		snprintf(name, sizeof(name), "out/%s", files[i]);
		r = p ? add_file(gz, name, p, err) : kf_err_set(err, KF_ENOMEM, "out of memory");
		free(p);
	}
	if (!r && config_path) {
		const char *base = strrchr(config_path, '/');
		char name[128];
		snprintf(name, sizeof(name), "config/%s", base ? base + 1 : config_path);
		r = add_file(gz, name, config_path, err);
	}
	if (r)
		goto out;
	{
		static const char zero[1024];
		if ((r = gz_all(gz, zero, sizeof(zero), err)) != 0)
			goto out;
	}
	if (gzclose(gz) != Z_OK) {
		gz = NULL;
		r = kf_err_set(err, KF_EIO, "%s: gzip failed", tmp);
		goto out;
	}
	gz = NULL;
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		r = kf_err_set(err, KF_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		r = kf_err_set(err, KF_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (gz)
		gzclose(gz);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	kf_freezero_str(token);
	kf_freezero_str(admin);
	return r;
}
