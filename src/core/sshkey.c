/* OpenSSH ed25519 keys with OpenSSL: generation, the "openssh-key-v1" private-key format
 * (openssh-portable PROTOCOL.key, cipher and KDF "none"), public key lines, known_hosts lines and
 * `ssh-keygen -l` fingerprints. Secret bytes only ever live in buffers sized up front and wiped
 * with OPENSSL_cleanse, never in a growing buffer that could leave copies behind. */
#include "k3sforge/sshkey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"

#define KEY_TYPE "ssh-ed25519"
#define KEY_TYPE_LEN 11
#define AUTH_MAGIC "openssh-key-v1"          /* written with its NUL: 15 bytes */
#define AUTH_MAGIC_LEN 15
#define PEM_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PEM_END "-----END OPENSSH PRIVATE KEY-----"
#define WRAP 70
#define BLOCK_NONE 8
#define COMMENT_MAX 1024

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int derive_public(const unsigned char seed[KF_ED25519_SEED_LEN],
			 unsigned char pk[KF_ED25519_PK_LEN]);
static size_t b64_len(size_t n);
static void b64_encode(char *out, const unsigned char *in, size_t n, bool pad);
static int b64_decode(unsigned char *out, size_t *outlen, const char *in, size_t n);

/* --- generation and freeing ------------------------------------------------------------------ */

int kf_sshkey_generate(struct kf_sshkey **out, const char *comment, struct kf_err *err)
{
	EVP_PKEY *pkey = NULL;
	struct kf_sshkey *k = NULL;
	size_t sl = KF_ED25519_SEED_LEN, pl = KF_ED25519_PK_LEN;
	int r = 0;

	*out = NULL;
	if (comment && strlen(comment) > COMMENT_MAX)
		return kf_err_set(err, KF_ELIMIT, "ssh key comment longer than %d bytes", COMMENT_MAX);
	k = calloc(1, sizeof(*k));
	if (!k || !(k->comment = strdup(comment ? comment : ""))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory generating an ssh key");
		goto out;
	}
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey || EVP_PKEY_get_raw_private_key(pkey, k->seed, &sl) != 1 ||
	    EVP_PKEY_get_raw_public_key(pkey, k->pk, &pl) != 1 || sl != KF_ED25519_SEED_LEN ||
	    pl != KF_ED25519_PK_LEN) {
		r = kf_err_set(err, KF_EFAIL, "OpenSSL could not generate an ed25519 key "
			       "(is the default provider available?)");
		goto out;
	}
	k->has_private = true;
	*out = k;
	k = NULL;
out:
	EVP_PKEY_free(pkey);
	kf_sshkey_free(k);
	return r;
}

void kf_sshkey_free(struct kf_sshkey *key)
{
	if (!key)
		return;
	OPENSSL_cleanse(key->seed, sizeof(key->seed));
	free(key->comment);
	free(key);
}

/* --- encoding ------------------------------------------------------------------------------- */

/* A writer over a buffer whose size was computed in advance. */
struct wbuf {
	unsigned char *p;
	size_t len, cap;
};

static void put_u32(struct wbuf *w, uint32_t v)
{
	if (w->len + 4 > w->cap)
		abort();
	w->p[w->len++] = (unsigned char)(v >> 24);
	w->p[w->len++] = (unsigned char)(v >> 16);
	w->p[w->len++] = (unsigned char)(v >> 8);
	w->p[w->len++] = (unsigned char)v;
}

static void put_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (w->len + n > w->cap)
		abort();
	if (n)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void put_string(struct wbuf *w, const void *d, size_t n)
{
	put_u32(w, (uint32_t)n);
	put_bytes(w, d, n);
}

void kf_sshkey_blob(const struct kf_sshkey *key, unsigned char blob[KF_SSHKEY_BLOB_LEN])
{
	struct wbuf w = { blob, 0, KF_SSHKEY_BLOB_LEN };

	put_string(&w, KEY_TYPE, KEY_TYPE_LEN);
	put_string(&w, key->pk, KF_ED25519_PK_LEN);
}

char *kf_sshkey_blob_b64(const struct kf_sshkey *key)
{
	unsigned char blob[KF_SSHKEY_BLOB_LEN];
	char *s = malloc(b64_len(sizeof(blob)) + 1);

	if (!s)
		return NULL;
	kf_sshkey_blob(key, blob);
	b64_encode(s, blob, sizeof(blob), true);
	return s;
}

int kf_sshkey_private_text(char **out, size_t *len, const struct kf_sshkey *key,
			   struct kf_err *err)
{
	size_t clen = strlen(key->comment);
	size_t priv_raw = 4 + 4 + (4 + KEY_TYPE_LEN) + (4 + KF_ED25519_PK_LEN) +
			  (4 + 2 * KF_ED25519_PK_LEN) + (4 + clen);
	size_t priv_len = (priv_raw + BLOCK_NONE - 1) / BLOCK_NONE * BLOCK_NONE;
	size_t blob_len = AUTH_MAGIC_LEN + (4 + 4) + (4 + 4) + 4 + 4 + (4 + KF_SSHKEY_BLOB_LEN) +
			  (4 + priv_len);
	size_t b64n = b64_len(blob_len);
	size_t text_cap = strlen(PEM_BEGIN) + 1 + b64n + b64n / WRAP + 1 + strlen(PEM_END) + 2;
	unsigned char *blob = NULL;
	char *b64 = NULL, *text = NULL;
	unsigned char pub[KF_SSHKEY_BLOB_LEN];
	uint32_t check;
	struct wbuf w;
	size_t t = 0;
	int r = 0;

	*out = NULL;
	*len = 0;
	if (!key->has_private)
		return kf_err_set(err, KF_EFAIL, "ssh key has no private half to write");
	blob = malloc(blob_len);
	b64 = malloc(b64n + 1);
	text = malloc(text_cap);
	if (!blob || !b64 || !text) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory encoding an ssh key");
		goto out;
	}
	if (RAND_bytes((unsigned char *)&check, sizeof(check)) != 1) {
		r = kf_err_set(err, KF_EFAIL, "OpenSSL random generator failed");
		goto out;
	}
	kf_sshkey_blob(key, pub);
	w = (struct wbuf){ blob, 0, blob_len };
	put_bytes(&w, AUTH_MAGIC, AUTH_MAGIC_LEN);
	put_string(&w, "none", 4);                  /* cipher */
	put_string(&w, "none", 4);                  /* kdf */
	put_string(&w, "", 0);                      /* kdf options */
	put_u32(&w, 1);                             /* number of keys */
	put_string(&w, pub, sizeof(pub));
	put_u32(&w, (uint32_t)priv_len);
	put_u32(&w, check);
	put_u32(&w, check);
	put_string(&w, KEY_TYPE, KEY_TYPE_LEN);
	put_string(&w, key->pk, KF_ED25519_PK_LEN);
	put_u32(&w, 2 * KF_ED25519_PK_LEN);         /* sk = seed || pk */
	put_bytes(&w, key->seed, KF_ED25519_SEED_LEN);
	put_bytes(&w, key->pk, KF_ED25519_PK_LEN);
	put_string(&w, key->comment, clen);
	for (unsigned char pad = 1; w.len < blob_len; pad++)
		put_bytes(&w, &pad, 1);

	b64_encode(b64, blob, blob_len, true);
	memcpy(text + t, PEM_BEGIN "\n", strlen(PEM_BEGIN) + 1);
	t += strlen(PEM_BEGIN) + 1;
	for (size_t i = 0; i < b64n; i += WRAP) {
		size_t n = b64n - i < WRAP ? b64n - i : WRAP;
		memcpy(text + t, b64 + i, n);
		t += n;
		text[t++] = '\n';
	}
	memcpy(text + t, PEM_END "\n", strlen(PEM_END) + 2);   /* with the NUL */
	t += strlen(PEM_END) + 1;
	*out = text;
	*len = t;
	text = NULL;
out:
	if (blob)
		OPENSSL_cleanse(blob, blob_len);
	if (b64)
		OPENSSL_cleanse(b64, b64n + 1);
	free(blob);
	free(b64);
	free(text);
	OPENSSL_cleanse(&check, sizeof(check));
	return r;
}

int kf_sshkey_public_line(char **out, const struct kf_sshkey *key, struct kf_err *err)
{
	char *b64 = kf_sshkey_blob_b64(key);
	size_t n;

	*out = NULL;
	if (!b64)
		return kf_err_set(err, KF_ENOMEM, "out of memory encoding an ssh public key");
	n = KEY_TYPE_LEN + 1 + strlen(b64) + 1 + strlen(key->comment) + 2;
	*out = malloc(n);
	if (!*out) {
		free(b64);
		return kf_err_set(err, KF_ENOMEM, "out of memory encoding an ssh public key");
	}
	snprintf(*out, n, "%s %s%s%s\n", KEY_TYPE, b64, key->comment[0] ? " " : "", key->comment);
	free(b64);
	return 0;
}

int kf_sshkey_write(const struct kf_sshkey *key, const char *path, struct kf_err *err)
{
	char *text = NULL, *line = NULL, *pubpath = NULL;
	size_t len = 0;
	int r;

	if ((r = kf_sshkey_private_text(&text, &len, key, err)) != 0)
		goto out;
	if ((r = kf_sshkey_public_line(&line, key, err)) != 0)
		goto out;
	if (!(pubpath = malloc(strlen(path) + 5))) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	strcpy(pubpath, path);
	strcat(pubpath, ".pub");
	if ((r = kf_fs_write_atomic(path, text, len, 0600, err)) != 0)
		goto out;
	r = kf_fs_write_atomic(pubpath, line, strlen(line), 0644, err);
out:
	kf_freezero(text, len);
	free(line);
	free(pubpath);
	return r;
}

/* --- parsing -------------------------------------------------------------------------------- */

struct rbuf {
	const unsigned char *p;
	size_t len, off;
};

static int get_u32(struct rbuf *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return -1;
	*v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	     (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return 0;
}

static int get_string(struct rbuf *r, const unsigned char **d, size_t *n)
{
	uint32_t l;

	if (get_u32(r, &l) != 0 || r->len - r->off < l)
		return -1;
	*d = r->p + r->off;
	*n = l;
	r->off += l;
	return 0;
}

static bool string_is(const unsigned char *d, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(d, s, n) == 0;
}

/* Parses string("ssh-ed25519")||string(pk) into pk; other types give a clear reason. */
static int parse_pub_blob(const unsigned char *blob, size_t len, unsigned char pk[32],
			  const char *name, struct kf_err *err)
{
	struct rbuf r = { blob, len, 0 };
	const unsigned char *t, *k;
	size_t tn, kn;

	if (get_string(&r, &t, &tn) != 0)
		return kf_err_set(err, KF_EPARSE, "%s: truncated public key", name);
	if (!string_is(t, tn, KEY_TYPE))
		return kf_err_set(err, KF_EUNSUPPORTED, "%s: key type \"%.*s\" is not supported; "
				  "k3sforge uses ssh-ed25519 keys", name, (int)(tn > 40 ? 40 : tn), t);
	if (get_string(&r, &k, &kn) != 0 || kn != KF_ED25519_PK_LEN || r.off != r.len)
		return kf_err_set(err, KF_EPARSE, "%s: malformed ssh-ed25519 public key", name);
	memcpy(pk, k, KF_ED25519_PK_LEN);
	return 0;
}

int kf_sshkey_parse_private(struct kf_sshkey **out, const char *text, size_t len, const char *name,
			    struct kf_err *err)
{
	const char *b, *e;
	unsigned char *blob = NULL;
	size_t blen = 0, n, n2;
	struct rbuf r, pr;
	const unsigned char *d, *d2, *priv;
	uint32_t nkeys, c1, c2;
	unsigned char pk[KF_ED25519_PK_LEN], derived[KF_ED25519_PK_LEN];
	struct kf_sshkey *k = NULL;
	int rc = 0;

	*out = NULL;
	b = memmem(text, len, PEM_BEGIN, strlen(PEM_BEGIN));
	e = b ? memmem(b, len - (size_t)(b - text), PEM_END, strlen(PEM_END)) : NULL;
	if (!b || !e) {
		if (memmem(text, len, "-----BEGIN ", 11))
			return kf_err_set(err, KF_EUNSUPPORTED, "%s: not an OpenSSH-format private key "
					  "(PEM/PKCS#8 keys are not used by k3sforge; delete it to "
					  "generate a new one or run with --force)", name);
		return kf_err_set(err, KF_EPARSE, "%s: not an OpenSSH private key (no \"%s\" block)",
				  name, PEM_BEGIN);
	}
	b += strlen(PEM_BEGIN);
	if (!(blob = malloc((size_t)(e - b) / 4 * 3 + 3))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory reading %s", name);
		goto out;
	}
	if (b64_decode(blob, &blen, b, (size_t)(e - b)) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: invalid base64 in the private key", name);
		goto out;
	}
	r = (struct rbuf){ blob, blen, 0 };
	if (blen < AUTH_MAGIC_LEN || memcmp(blob, AUTH_MAGIC, AUTH_MAGIC_LEN) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: missing \"openssh-key-v1\" magic", name);
		goto out;
	}
	r.off = AUTH_MAGIC_LEN;
	if (get_string(&r, &d, &n) != 0 || get_string(&r, &d2, &n2) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: truncated key header", name);
		goto out;
	}
	if (!string_is(d, n, "none") || !string_is(d2, n2, "none")) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "%s: the key is passphrase-protected; k3sforge "
				"needs an unencrypted key (remove the passphrase with ssh-keygen -p, "
				"or delete the key to generate a new one)", name);
		goto out;
	}
	if (get_string(&r, &d, &n) != 0 || n != 0 || get_u32(&r, &nkeys) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: malformed key header", name);
		goto out;
	}
	if (nkeys != 1) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "%s: holds %u keys; expected exactly one", name,
				nkeys);
		goto out;
	}
	if (get_string(&r, &d, &n) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: truncated public key", name);
		goto out;
	}
	if ((rc = parse_pub_blob(d, n, pk, name, err)) != 0)
		goto out;
	if (get_string(&r, &priv, &n) != 0 || r.off != r.len) {
		rc = kf_err_set(err, KF_EPARSE, "%s: truncated or trailing data after the private "
				"section", name);
		goto out;
	}
	if (n % BLOCK_NONE != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: private section is not a multiple of %d bytes",
				name, BLOCK_NONE);
		goto out;
	}
	pr = (struct rbuf){ priv, n, 0 };
	if (get_u32(&pr, &c1) != 0 || get_u32(&pr, &c2) != 0 || c1 != c2) {
		rc = kf_err_set(err, KF_EPARSE, "%s: check integers differ (corrupt key)", name);
		goto out;
	}
	if (get_string(&pr, &d, &n) != 0 || !string_is(d, n, KEY_TYPE)) {
		rc = kf_err_set(err, KF_EUNSUPPORTED, "%s: private key is not ssh-ed25519", name);
		goto out;
	}
	if (get_string(&pr, &d, &n) != 0 || n != KF_ED25519_PK_LEN ||
	    memcmp(d, pk, KF_ED25519_PK_LEN) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: public key in the private section differs from "
				"the header", name);
		goto out;
	}
	if (get_string(&pr, &d, &n) != 0 || n != 2 * KF_ED25519_PK_LEN ||
	    memcmp(d + KF_ED25519_SEED_LEN, pk, KF_ED25519_PK_LEN) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: malformed ed25519 secret key", name);
		goto out;
	}
	if (!(k = calloc(1, sizeof(*k)))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory reading %s", name);
		goto out;
	}
	memcpy(k->seed, d, KF_ED25519_SEED_LEN);
	memcpy(k->pk, pk, KF_ED25519_PK_LEN);
	k->has_private = true;
	if (get_string(&pr, &d, &n) != 0 || n > COMMENT_MAX || memchr(d, '\0', n) ||
	    memchr(d, '\n', n)) {
		rc = kf_err_set(err, KF_EPARSE, "%s: malformed key comment", name);
		goto out;
	}
	if (!(k->comment = strndup((const char *)d, n))) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory reading %s", name);
		goto out;
	}
	for (unsigned char i = 1; pr.off < pr.len; i++) {
		if (pr.p[pr.off++] != i || i >= BLOCK_NONE) {
			rc = kf_err_set(err, KF_EPARSE, "%s: bad padding in the private section", name);
			goto out;
		}
	}
	if (derive_public(k->seed, derived) != 0 ||
	    CRYPTO_memcmp(derived, k->pk, KF_ED25519_PK_LEN) != 0) {
		rc = kf_err_set(err, KF_EPARSE, "%s: the secret key does not belong to its public key "
				"(corrupt key file)", name);
		goto out;
	}
	*out = k;
	k = NULL;
out:
	kf_freezero(blob, blen);
	kf_sshkey_free(k);
	OPENSSL_cleanse(&c1, sizeof(c1));
	OPENSSL_cleanse(&c2, sizeof(c2));
	return rc;
}

int kf_sshkey_parse_public(struct kf_sshkey **out, const char *text, size_t len, const char *name,
			   struct kf_err *err)
{
	const char *p = text, *end = text + len, *f, *nl;
	unsigned char blob[264];   /* holds the decoding of up to 344 base64 characters */
	size_t blen = 0;
	struct kf_sshkey *k = NULL;
	int rc;

	*out = NULL;
	nl = memchr(text, '\n', len);
	if (nl) {
		for (const char *q = nl; q < end; q++)
			if (*q != '\n' && *q != '\r' && *q != ' ' && *q != '\t')
				return kf_err_set(err, KF_EPARSE, "%s: more than one line in a public "
						  "key file", name);
		end = nl;
	}
	while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	f = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if ((size_t)(p - f) != KEY_TYPE_LEN || memcmp(f, KEY_TYPE, KEY_TYPE_LEN) != 0)
		return kf_err_set(err, KF_EUNSUPPORTED, "%s: not an ssh-ed25519 public key line",
				  name);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	f = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if ((size_t)(p - f) > 344 || b64_decode(blob, &blen, f, (size_t)(p - f)))
		return kf_err_set(err, KF_EPARSE, "%s: invalid base64 in the public key", name);
	if (!(k = calloc(1, sizeof(*k))))
		return kf_err_set(err, KF_ENOMEM, "out of memory reading %s", name);
	if ((rc = parse_pub_blob(blob, blen, k->pk, name, err)) != 0) {
		kf_sshkey_free(k);
		return rc;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) > COMMENT_MAX || !(k->comment = strndup(p, (size_t)(end - p)))) {
		kf_sshkey_free(k);
		return kf_err_set(err, KF_EPARSE, "%s: key comment too long", name);
	}
	*out = k;
	return 0;
}

int kf_sshkey_load_private(struct kf_sshkey **out, const char *path, struct kf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(&text, &len, path, KF_SSHKEY_FILE_MAX, err)) != 0)
		return r;
	r = kf_sshkey_parse_private(out, text, len, path, err);
	kf_freezero(text, len);
	return r;
}

int kf_sshkey_load_public(struct kf_sshkey **out, const char *path, struct kf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(&text, &len, path, KF_SSHKEY_FILE_MAX, err)) != 0)
		return r;
	r = kf_sshkey_parse_public(out, text, len, path, err);
	free(text);
	return r;
}

/* --- comparing, fingerprints, known_hosts ----------------------------------------------------- */

bool kf_sshkey_same_public(const struct kf_sshkey *a, const struct kf_sshkey *b)
{
	return memcmp(a->pk, b->pk, KF_ED25519_PK_LEN) == 0;
}

void kf_sshkey_fingerprint(const struct kf_sshkey *key, char out[KF_SSH_FP_LEN])
{
	unsigned char blob[KF_SSHKEY_BLOB_LEN];

	kf_sshkey_blob(key, blob);
	kf_ssh_fingerprint_blob(blob, sizeof(blob), out);
}

int kf_sshkey_mismatch_error(struct kf_err *err, const char *node, const char *host,
			     const struct kf_sshkey *expected, const void *got_blob, size_t got_len)
{
	char want[KF_SSH_FP_LEN], got[KF_SSH_FP_LEN];

	kf_sshkey_fingerprint(expected, want);
	kf_ssh_fingerprint_blob(got_blob, got_len, got);
	return kf_err_set(err, KF_EHOSTKEY, "host key mismatch for %s (%s): expected %s, got %s; "
			  "another machine answers at this address, or the VM was not installed "
			  "from this output directory's seed (check for an IP conflict, then "
			  "re-create the VM)", node, host, want, got);
}

int kf_sshkey_known_hosts_line(struct kf_buf *b, const char *host, int port,
			       const struct kf_sshkey *key)
{
	char *b64 = kf_sshkey_blob_b64(key);
	int r;

	if (!b64)
		return KF_ENOMEM;
	if (port == 0 || port == 22)
		r = kf_buf_printf(b, "%s %s %s\n", host, KEY_TYPE, b64);
	else
		r = kf_buf_printf(b, "[%s]:%d %s %s\n", host, port, KEY_TYPE, b64);
	free(b64);
	return r;
}

/* --- helpers -------------------------------------------------------------------------------- */

static int derive_public(const unsigned char seed[KF_ED25519_SEED_LEN],
			 unsigned char pk[KF_ED25519_PK_LEN])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed,
							 KF_ED25519_SEED_LEN);
	size_t pl = KF_ED25519_PK_LEN;
	int r = -1;

	if (pkey && EVP_PKEY_get_raw_public_key(pkey, pk, &pl) == 1 && pl == KF_ED25519_PK_LEN)
		r = 0;
	EVP_PKEY_free(pkey);
	return r;
}

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Standard base64; without padding the '=' signs are left off (fingerprints). */
static void b64_encode(char *out, const unsigned char *in, size_t n, bool pad)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = b64chars[v >> 6 & 63];
		out[o++] = b64chars[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64chars[v >> 6 & 63];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

/* Decodes base64, skipping whitespace; padding is required to be canonical when present.
 * out must hold n / 4 * 3 + 3 bytes. */
static int b64_decode(unsigned char *out, size_t *outlen, const char *in, size_t n)
{
	uint32_t acc = 0;
	int bits = 0, pads = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pads++;
			continue;
		}
		if (pads)
			return -1;
		if ((v = b64_value(c)) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pads > 2 || bits >= 6 || acc != 0)
		return -1;
	*outlen = o;
	return 0;
}
