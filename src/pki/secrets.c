/* The generated secrets: the k3s cluster token (32 CSPRNG bytes as hex) and, when none is
 * configured, the KubeSphere admin password. Both are registered with the logger so they never
 * appear in a log line. */
#include "k3sforge/pki.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "pki_internal.h"

#define SECRET_FILE_MAX 4096
#define PASSWORD_TRIES 64

static const char pw_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

bool kf_pki_password_ok(const char *pw)
{
	bool up = false, lo = false, dig = false;
	size_t n = 0;

	for (const char *p = pw; p && *p; p++, n++) {
		unsigned char c = (unsigned char)*p;
		up |= isupper(c) != 0;
		lo |= islower(c) != 0;
		dig |= isdigit(c) != 0;
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return n >= 8 && up && lo && dig;
}

/* Reads a one-line secret file, trailing whitespace removed. */
static int read_secret(char **out, const char *path, struct kf_err *err)
{
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(out, &len, path, SECRET_FILE_MAX, err)) != 0)
		return r;
	while (len > 0 && isspace((unsigned char)(*out)[len - 1]))
		(*out)[--len] = '\0';
	return 0;
}

/* An empty addons.admin_password counts as not set (the password is generated). */
static bool password_configured(const struct kf_config *cfg)
{
	return cfg->addons.admin_password && cfg->addons.admin_password[0];
}

static void free_secret(char *s)
{
	kf_freezero_str(s);
}

static bool token_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return false;
	return n == 2 * KF_PKI_TOKEN_BYTES;
}

/* out holds 2 * KF_PKI_TOKEN_BYTES + 2 bytes. */
static int new_token(char *out, struct kf_err *err)
{
	unsigned char raw[KF_PKI_TOKEN_BYTES];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return kf_err_set(err, KF_EFAIL, "the OpenSSL random generator failed");
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * KF_PKI_TOKEN_BYTES] = '\n';
	out[2 * KF_PKI_TOKEN_BYTES + 1] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* A password of KF_PKI_PASSWORD_LEN characters from [A-Za-z0-9], drawn without modulo bias and
 * redrawn until it has all three classes; out holds KF_PKI_PASSWORD_LEN + 2 bytes. */
static int new_password(char *out, struct kf_err *err)
{
	unsigned char raw[64];
	const size_t na = sizeof(pw_alphabet) - 1;
	const unsigned limit = 256 - 256 % na;
	int r = kf_err_set(err, KF_EFAIL, "could not draw an admin password");

	for (int t = 0; t < PASSWORD_TRIES; t++) {
		size_t n = 0;
		while (n < KF_PKI_PASSWORD_LEN) {
			if (RAND_bytes(raw, sizeof(raw)) != 1) {
				r = kf_err_set(err, KF_EFAIL, "the OpenSSL random generator failed");
				goto out;
			}
			for (size_t i = 0; i < sizeof(raw) && n < KF_PKI_PASSWORD_LEN; i++)
				if (raw[i] < limit)
					out[n++] = pw_alphabet[raw[i] % na];
		}
		out[n] = '\0';
		if (kf_pki_password_ok(out)) {
			out[n] = '\n';
			out[n + 1] = '\0';
			kf_err_clear(err);
			r = 0;
			goto out;
		}
	}
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}

/* Keeps a valid existing secret file or writes a new one. `valid` judges the existing value;
 * `gen` makes a new one (with trailing newline); `fix` says what to do about an invalid one. */
static int ensure_secret(const char *out_dir, const char *rel, bool force,
			 bool (*valid)(const char *), int (*gen)(char *, struct kf_err *),
			 size_t gen_size, const char *what, const char *fix,
			 struct kf_pki_report *rep, struct kf_err *err)
{
	char *path = NULL, *cur = NULL, *fresh = NULL;
	bool exists;
	int r = 0;

	if (!(path = kf_pki_path(out_dir, rel, err)))
		return KF_ENOMEM;
	exists = kf_fs_exists(path);
	if (exists && !force) {
		if ((r = read_secret(&cur, path, err)) != 0)
			goto out;
		if (!valid(cur)) {
			r = kf_err_set(err, KF_ECONFIG, "%s: not a valid %s; %s", path, what, fix);
			goto out;
		}
		kf_log_add_secret(cur);
		if ((r = kf_pki_fix_mode(path, rel, 0600, rep, err)) == 0)
			r = kf_pki_report_add(rep, rel, KF_PKI_KEPT, NULL, err);
		goto out;
	}
	if (!(fresh = calloc(1, gen_size))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = gen(fresh, err)) != 0)
		goto out;
	if ((r = kf_fs_write_atomic(path, fresh, strlen(fresh), 0600, err)) != 0)
		goto out;
	fresh[strcspn(fresh, "\n")] = '\0';
	kf_log_add_secret(fresh);
	r = kf_pki_report_add(rep, rel, exists ? KF_PKI_REGENERATED : KF_PKI_CREATED,
			      exists ? "--force" : NULL, err);
out:
	kf_freezero(fresh, gen_size);
	free_secret(cur);
	free(path);
	return r;
}

int kf_pki_ensure_secrets(const struct kf_config *cfg, const char *out_dir, bool force,
			  struct kf_pki_report *rep, struct kf_err *err)
{
	char *dir = NULL;
	int r;

	if (!(dir = kf_pki_path(out_dir, KF_OUT_SECRETS_DIR, err)))
		return KF_ENOMEM;
	r = kf_fs_mkdirs(dir, 0700, err);
	free(dir);
	if (r != 0)
		return r;
	if ((r = ensure_secret(out_dir, KF_OUT_TOKEN, force, token_ok, new_token,
			       2 * KF_PKI_TOKEN_BYTES + 2, "k3s token (64 hex characters)",
			       "every node joined with this token: restore the file, or run with "
			       "--force to generate a new one (the cluster must then be re-created)",
			       rep, err)) != 0)
		return r;
	if (password_configured(cfg)) {
		kf_log_add_secret(cfg->addons.admin_password);
		return 0;
	}
	if (!cfg->addons.kubesphere)
		return 0;
	return ensure_secret(out_dir, KF_OUT_ADMIN_PASSWORD, force, kf_pki_password_ok,
			     new_password, KF_PKI_PASSWORD_LEN + 2,
			     "KubeSphere admin password (8+ printable characters with an upper-case "
			     "letter, a lower-case letter and a digit)",
			     "fix it, set addons.admin_password in the configuration, or delete the "
			     "file to generate a new one", rep, err);
}

int kf_pki_read_token(char **out, const char *out_dir, struct kf_err *err)
{
	char *path = kf_pki_path(out_dir, KF_OUT_TOKEN, err);
	int r;

	*out = NULL;
	if (!path)
		return KF_ENOMEM;
	if ((r = read_secret(out, path, err)) != 0) {
		if (r == KF_ENOTFOUND)
			kf_err_set(err, r, "%s is missing; run `k3sforge prep` first", path);
		goto out;
	}
	if (!token_ok(*out)) {
		free_secret(*out);
		*out = NULL;
		r = kf_err_set(err, KF_ECONFIG, "%s: not 64 hex characters (restore it or run prep "
			       "with --force)", path);
	}
out:
	free(path);
	return r;
}

int kf_pki_admin_password(char **out, const struct kf_config *cfg, const char *out_dir,
			  struct kf_err *err)
{
	char *path;
	int r;

	*out = NULL;
	if (password_configured(cfg)) {
		if (!(*out = strdup(cfg->addons.admin_password)))
			return kf_err_set(err, KF_ENOMEM, "out of memory");
		return 0;
	}
	if (!(path = kf_pki_path(out_dir, KF_OUT_ADMIN_PASSWORD, err)))
		return KF_ENOMEM;
	if ((r = read_secret(out, path, err)) == KF_ENOTFOUND)
		kf_err_set(err, r, "%s is missing; run `k3sforge prep` first", path);
	free(path);
	return r;
}

int kf_pki_check_secrets(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	char *v = NULL, *path;
	int r;

	if ((r = kf_pki_read_token(&v, out_dir, err)) != 0)
		return r == KF_ENOTFOUND ? KF_ESTATE : r;
	free_secret(v);
	v = NULL;
	if (password_configured(cfg) || !cfg->addons.kubesphere)
		return 0;
	if (!(path = kf_pki_path(out_dir, KF_OUT_ADMIN_PASSWORD, err)))
		return KF_ENOMEM;
	if ((r = read_secret(&v, path, err)) == KF_ENOTFOUND)
		r = kf_err_set(err, KF_ESTATE, "%s is missing", path);
	else if (r == 0 && !kf_pki_password_ok(v))
		r = kf_err_set(err, KF_ECONFIG, "%s does not meet KubeSphere's password rules", path);
	free_secret(v);
	free(path);
	return r;
}
