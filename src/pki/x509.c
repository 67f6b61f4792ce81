/* The cluster CA and the registry server certificate (OpenSSL 3, EC P-256, SHA-256): creating,
 * checking and re-issuing them, SAN normalisation, and the checks other modules reuse
 * (kf_pki_verify_server_cert, kf_pki_cert_days_left). */
#include "k3sforge/pki.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/strv.h"
#include "pki_internal.h"

#define PEM_FILE_MAX (256 * 1024)
#define BACKDATE_S (24L * 3600)    /* tolerate guests whose clock lags the host by up to a day */
#define SAN_MAX 64
#define FORCE_HINT "every node trusts it, so k3sforge never replaces it silently: restore the " \
	"file, or run again with --force to regenerate all trust material (nodes must then be " \
	"re-created)"

static int ossl_fail(struct kf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int san_normalise(char **out, const char *in, bool bare_ok);
static int sans_add(char ***v, size_t *n, const char *san);
static int sans_cmp(const void *a, const void *b);
static char *sans_join(char **v, size_t n);

/* --- SANs ----------------------------------------------------------------------------------- */

int kf_pki_wanted_sans(char ***out, size_t *n, const struct kf_config *cfg, struct kf_err *err)
{
	char **v = NULL, *s = NULL;
	size_t k = 0;
	int r = 0;
	char ipbuf[80];

	*out = NULL;
	*n = 0;
	if (!cfg->registry.host_ip)
		return kf_err_set(err, KF_ECONFIG, "registry.host_ip is not set");
	snprintf(ipbuf, sizeof(ipbuf), "IP:%s", cfg->registry.host_ip);
	if (san_normalise(&s, ipbuf, false) != 0) {
		r = kf_err_set(err, KF_ECONFIG, "registry.host_ip \"%s\" is not an IP address",
			       cfg->registry.host_ip);
		goto out;
	}
	if ((r = sans_add(&v, &k, s)) != 0 || (r = sans_add(&v, &k, "IP:127.0.0.1")) != 0 ||
	    (r = sans_add(&v, &k, "DNS:localhost")) != 0)
		goto nomem;
	free(s);
	s = NULL;
	if (cfg->registry.n_extra_sans > SAN_MAX) {
		r = kf_err_set(err, KF_ECONFIG, "registry.extra_sans has %zu entries; at most %d",
			       cfg->registry.n_extra_sans, SAN_MAX);
		goto out;
	}
	for (size_t i = 0; i < cfg->registry.n_extra_sans; i++) {
		if (san_normalise(&s, cfg->registry.extra_sans[i], true) != 0) {
			r = kf_err_set(err, KF_ECONFIG, "registry.extra_sans[%zu]: \"%s\" is neither "
				       "an IP address nor a DNS name (write \"DNS:name\" or "
				       "\"IP:address\")", i, cfg->registry.extra_sans[i]);
			goto out;
		}
		if ((r = sans_add(&v, &k, s)) != 0)
			goto nomem;
		free(s);
		s = NULL;
	}
	*out = v;
	*n = k;
	v = NULL;
	goto out;
nomem:
	r = kf_err_set(err, KF_ENOMEM, "out of memory");
out:
	free(s);
	kf_strv_free(v, k);
	return r;
}


static int cert_sans(char ***out, size_t *n, const X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char **v = NULL, tmp[INET6_ADDRSTRLEN + 8];
	size_t k = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *s = NULL;

		if (g->type == GEN_DNS) {
			const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
			int len = ASN1_STRING_length(g->d.dNSName);
			if (!(s = malloc((size_t)len + 5)))
				goto nomem;
			memcpy(s, "DNS:", 4);
			for (int j = 0; j < len; j++)
				s[4 + j] = (char)tolower(d[j] ? d[j] : '?');
			s[4 + len] = '\0';
		} else if (g->type == GEN_IPADD) {
			const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
			int len = ASN1_STRING_length(g->d.iPAddress);
			char a[INET6_ADDRSTRLEN];
			if ((len != 4 && len != 16) ||
			    !inet_ntop(len == 4 ? AF_INET : AF_INET6, d, a, sizeof(a)))
				snprintf(a, sizeof(a), "(malformed)");
			snprintf(tmp, sizeof(tmp), "IP:%s", a);
			if (!(s = strdup(tmp)))
				goto nomem;
		} else {
			snprintf(tmp, sizeof(tmp), "OTHER:%d", g->type);
			if (!(s = strdup(tmp)))
				goto nomem;
		}
		r = sans_add(&v, &k, s);
		free(s);
		if (r != 0)
			goto nomem;
	}
	if (k)
		qsort(v, k, sizeof(char *), sans_cmp);
	GENERAL_NAMES_free(gens);
	*out = v;
	*n = k;
	return 0;
nomem:
	GENERAL_NAMES_free(gens);
	kf_strv_free(v, k);
	return KF_ENOMEM;
}

/* Same set? Both are de-duplicated; `have` is sorted. */
static bool sans_equal(char **have, size_t nh, const char *const *want, size_t nw)
{
	if (nh != nw)
		return false;
	for (size_t i = 0; i < nw; i++)
		if (!bsearch(&want[i], have, nh, sizeof(char *), sans_cmp))
			return false;
	return true;
}

/* The SANs wanted but absent (*missing) and present but unwanted (*extra), ", "-separated. */
static int sans_diff(char **extra, char **missing, char **have, size_t nh,
		     const char *const *want, size_t nw)
{
	struct kf_buf e, m;
	int r = 0;

	kf_buf_init(&e, 64 * 1024);
	kf_buf_init(&m, 64 * 1024);
	for (size_t i = 0; i < nw && r == 0; i++)
		if (!bsearch(&want[i], have, nh, sizeof(char *), sans_cmp))
			r = kf_buf_printf(&m, "%s%s", m.len ? ", " : "", want[i]);
	for (size_t i = 0; i < nh && r == 0; i++) {
		bool wanted = false;
		for (size_t j = 0; j < nw && !wanted; j++)
			wanted = strcmp(have[i], want[j]) == 0;
		if (!wanted)
			r = kf_buf_printf(&e, "%s%s", e.len ? ", " : "", have[i]);
	}
	*extra = r == 0 ? kf_buf_detach(&e) : NULL;
	*missing = r == 0 ? kf_buf_detach(&m) : NULL;
	kf_buf_free(&e);
	kf_buf_free(&m);
	if (r == 0 && (!*extra || !*missing)) {
		free(*extra);
		free(*missing);
		*extra = *missing = NULL;
		r = KF_ENOMEM;
	}
	return r;
}

/* --- reading and writing PEM files ---------------------------------------------------------- */

static int read_cert(X509 **out, const char *path, struct kf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(&data, &len, path, PEM_FILE_MAX, err)) != 0)
		return r;
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio)
		*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!*out)
		r = ossl_fail(err, "%s: not a PEM certificate", path);
	BIO_free(bio);
	free(data);
	return r;
}

static int read_key(EVP_PKEY **out, const char *path, struct kf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	if ((r = kf_fs_read(&data, &len, path, PEM_FILE_MAX, err)) != 0)
		return r;
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio)
		*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (!*out)
		r = ossl_fail(err, "%s: not an unencrypted PEM private key", path);
	BIO_free(bio);
	kf_freezero(data, len);
	return r;
}

/* Writes a PEM private key through secure memory (wiped on free), mode 0600. */
static int write_key(const char *path, EVP_PKEY *key, struct kf_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	int r;

	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_get_mem_ptr(bio, &mem) != 1 || !mem) {
		BIO_free(bio);
		return ossl_fail(err, "%s: cannot encode the private key", path);
	}
	r = kf_fs_write_atomic(path, mem->data, mem->length, 0600, err);
	BIO_free(bio);
	return r;
}

static int write_cert(const char *path, X509 *x, struct kf_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	int r;

	if (!bio || PEM_write_bio_X509(bio, x) != 1 || BIO_get_mem_ptr(bio, &mem) != 1 || !mem) {
		BIO_free(bio);
		return ossl_fail(err, "%s: cannot encode the certificate", path);
	}
	r = kf_fs_write_atomic(path, mem->data, mem->length, 0644, err);
	BIO_free(bio);
	return r;
}

/* --- making certificates -------------------------------------------------------------------- */

static EVP_PKEY *new_ec_key(struct kf_err *err)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (!k)
		ossl_fail(err, "OpenSSL could not generate an EC P-256 key");
	return k;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct kf_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	if (!ok)
		return ossl_fail(err, "cannot add certificate extension %s = %s", OBJ_nid2sn(nid),
				 value);
	return 0;
}

/* An unsigned v3 certificate for `key` named CN (O=k3sforge), issued by `issuer` (itself when
 * NULL), valid from a day ago for `days`, with a random 16-byte serial; the caller adds
 * extensions and signs. */
static int new_cert(X509 **out, EVP_PKEY *key, const char *cn, X509 *issuer, long days,
		    struct kf_err *err)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char sn[16];
	BIGNUM *bn = NULL;
	int r = 0;

	*out = NULL;
	if (!x || !name || RAND_bytes(sn, sizeof(sn)) != 1) {
		r = ossl_fail(err, "OpenSSL failure creating a certificate");
		goto out;
	}
	sn[0] &= 0x7f;   /* positive */
	sn[0] |= 0x01;   /* never a leading zero byte: always 16 bytes long */
	if (!(bn = BN_bin2bn(sn, sizeof(sn), NULL)) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_S) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"k3sforge",
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(x, key) != 1) {
		r = ossl_fail(err, "OpenSSL failure creating a certificate for \"%s\"", cn);
		goto out;
	}
	*out = x;
	x = NULL;
out:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

static int sign_cert(X509 *x, EVP_PKEY *ikey, const char *what, struct kf_err *err)
{
	if (X509_sign(x, ikey, EVP_sha256()) <= 0)
		return ossl_fail(err, "cannot sign the %s certificate", what);
	return 0;
}

static int make_ca(X509 **out, EVP_PKEY *key, const char *cluster, struct kf_err *err)
{
	X509 *x = NULL;
	X509V3_CTX ctx;
	char cn[128];
	int r;

	*out = NULL;
	snprintf(cn, sizeof(cn), "k3sforge %s CA", cluster ? cluster : "lab");
	if ((r = new_cert(&x, key, cn, NULL, KF_PKI_CA_DAYS, err)) != 0)
		return r;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err)) != 0 ||
	    (r = sign_cert(x, key, "CA", err)) != 0) {
		X509_free(x);
		return r;
	}
	*out = x;
	return 0;
}

static int make_server(X509 **out, EVP_PKEY *key, const char *cn, char **sans, size_t n,
		       X509 *ca, EVP_PKEY *cakey, struct kf_err *err)
{
	X509 *x = NULL;
	X509V3_CTX ctx;
	char *san = NULL;
	int r;

	*out = NULL;
	if (!(san = sans_join(sans, n)))
		return kf_err_set(err, KF_ENOMEM, "out of memory");
	if ((r = new_cert(&x, key, cn, ca, KF_PKI_SERVER_DAYS, err)) != 0)
		goto out;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment",
			 err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err)) != 0 ||
	    (r = add_ext(x, &ctx, NID_subject_alt_name, san, err)) != 0 ||
	    (r = sign_cert(x, cakey, "registry server", err)) != 0)
		goto out;
	*out = x;
	x = NULL;
out:
	X509_free(x);
	free(san);
	return r;
}

/* --- checking ------------------------------------------------------------------------------- */

static bool key_matches(X509 *x, EVP_PKEY *key)
{
	return EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1;
}

/* Problems with a loaded CA, in words, or "" when it is usable. */
static void ca_problem(char *why, size_t n, X509 *ca, EVP_PKEY *key)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);

	why[0] = '\0';
	if (!key_matches(ca, key))
		snprintf(why, n, "ca.key does not belong to ca.crt");
	else if (X509_check_ca(ca) < 1)
		snprintf(why, n, "ca.crt is not a CA certificate");
	else if (!pub || X509_verify(ca, pub) != 1)
		snprintf(why, n, "ca.crt is not self-signed");
	else if (X509_cmp_current_time(X509_get0_notAfter(ca)) <= 0)
		snprintf(why, n, "ca.crt has expired");
	else if (X509_cmp_current_time(X509_get0_notBefore(ca)) >= 0)
		snprintf(why, n, "ca.crt is not valid yet (is the clock right?)");
	ERR_clear_error();
}

/* Why the server certificate no longer fits, or "" when it does. */
static int server_problem(char *why, size_t n, X509 *ca, X509 *cert, EVP_PKEY *key,
			  const char *const *sans, size_t n_sans)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	char **have = NULL, *hs = NULL, *ws = NULL;
	size_t nh = 0;
	long days = 0;
	int pd = 0, ps = 0, r = 0;

	why[0] = '\0';
	if (!store || !sctx || X509_STORE_add_cert(store, ca) != 1 ||
	    X509_STORE_CTX_init(sctx, store, cert, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_SERVER) != 1) {
		r = KF_ENOMEM;
		goto out;
	}
	if (X509_verify_cert(sctx) != 1) {
		int e = X509_STORE_CTX_get_error(sctx);
		if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
		    e == X509_V_ERR_CERT_SIGNATURE_FAILURE ||
		    e == X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE ||
		    e == X509_V_ERR_AKID_SKID_MISMATCH ||
		    e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			snprintf(why, n, "not signed by the current CA (%s)",
				 X509_verify_cert_error_string(e));
		else if (e == X509_V_ERR_CERT_HAS_EXPIRED)
			snprintf(why, n, "expired");
		else
			snprintf(why, n, "does not verify against the CA: %s",
				 X509_verify_cert_error_string(e));
		goto out;
	}
	if (key && !key_matches(cert, key)) {
		snprintf(why, n, "its key does not match the private key file");
		goto out;
	}
	if (sans) {
		if (cert_sans(&have, &nh, cert) != 0) {
			r = KF_ENOMEM;
			goto out;
		}
		if (!sans_equal(have, nh, sans, n_sans)) {
			if (sans_diff(&hs, &ws, have, nh, sans, n_sans) != 0) {
				r = KF_ENOMEM;
				goto out;
			}
			snprintf(why, n, "SANs differ:%s%s%s%s", ws[0] ? " missing " : "", ws,
				 hs[0] ? (ws[0] ? "; unexpected " : " unexpected ") : "", hs);
			goto out;
		}
	}
	if (ASN1_TIME_diff(&pd, &ps, NULL, X509_get0_notAfter(cert)) == 1) {
		days = ps < 0 ? pd - 1 : pd;
		if (days < KF_PKI_RENEW_DAYS)
			snprintf(why, n, "expires in %ld days", days);
	}
out:
	ERR_clear_error();
	free(hs);
	free(ws);
	kf_strv_free(have, nh);
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	return r;
}

int kf_pki_cert_sans(char ***out, size_t *n, const char *cert_path, struct kf_err *err)
{
	X509 *x = NULL;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = read_cert(&x, cert_path, err)) != 0)
		return r;
	if (cert_sans(out, n, x) != 0)
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
	X509_free(x);
	return r;
}

int kf_pki_verify_server_cert(const char *ca_path, const char *cert_path, const char *key_path,
			      const char *const *sans, size_t n_sans, struct kf_err *err)
{
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	char why[KF_ERR_MSG_MAX / 2];
	int r;

	if ((r = read_cert(&ca, ca_path, err)) != 0 || (r = read_cert(&cert, cert_path, err)) != 0)
		goto out;
	if (key_path && (r = read_key(&key, key_path, err)) != 0)
		goto out;
	if ((r = server_problem(why, sizeof(why), ca, cert, key, sans, n_sans)) != 0) {
		r = kf_err_set(err, r, "out of memory checking %s", cert_path);
		goto out;
	}
	/* "expires in N days" is a reason to renew, not a failure of the certificate. */
	if (why[0] && strncmp(why, "expires in ", 11) != 0)
		r = kf_err_set(err, KF_ETLS, "%s: %s", cert_path, why);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return r;
}

int kf_pki_cert_days_left(long *days, const char *cert_path, struct kf_err *err)
{
	X509 *x = NULL;
	int pd = 0, ps = 0, r;

	*days = 0;
	if ((r = read_cert(&x, cert_path, err)) != 0)
		return r;
	if (ASN1_TIME_diff(&pd, &ps, NULL, X509_get0_notAfter(x)) != 1)
		r = ossl_fail(err, "%s: cannot read the expiry date", cert_path);
	else
		*days = ps < 0 ? (long)pd - 1 : pd;
	X509_free(x);
	return r;
}

/* --- ensuring ------------------------------------------------------------------------------- */

struct tls_paths {
	char *dir, *ca_crt, *ca_key, *srv_crt, *srv_key;
};

static void tls_paths_free(struct tls_paths *p)
{
	free(p->dir);
	free(p->ca_crt);
	free(p->ca_key);
	free(p->srv_crt);
	free(p->srv_key);
}

/* Loads the existing CA and checks it; any problem is an error pointing at --force. */
static int load_ca(X509 **ca, EVP_PKEY **key, const struct tls_paths *p, struct kf_err *err)
{
	char why[KF_ERR_MSG_MAX];
	int r;

	if ((r = read_cert(ca, p->ca_crt, err)) != 0 || (r = read_key(key, p->ca_key, err)) != 0) {
		snprintf(why, sizeof(why), "%s", err->msg);
		return kf_err_set(err, KF_ETLS, "%s; the CA cannot be used: " FORCE_HINT, why);
	}
	ca_problem(why, sizeof(why), *ca, *key);
	if (why[0])
		return kf_err_set(err, KF_ETLS, "%s: %s; " FORCE_HINT, p->ca_crt, why);
	return 0;
}

int kf_pki_ensure_tls(const struct kf_config *cfg, const char *out_dir, bool force,
		      struct kf_pki_report *rep, struct kf_err *err)
{
	struct tls_paths p = { 0 };
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *cakey = NULL, *key = NULL;
	char **sans = NULL, why[KF_ERR_MSG_MAX] = "";
	size_t n_sans = 0;
	bool ca_new = false, key_new = false, crt_exists, key_exists;
	enum kf_pki_action act;
	const char *why_ca;
	int r;

	if ((r = kf_pki_wanted_sans(&sans, &n_sans, cfg, err)) != 0)
		goto out;
	if (!(p.dir = kf_pki_path(out_dir, KF_OUT_PKI_DIR, err)) ||
	    !(p.ca_crt = kf_pki_path(out_dir, KF_OUT_CA_CRT, err)) ||
	    !(p.ca_key = kf_pki_path(out_dir, KF_OUT_CA_KEY, err)) ||
	    !(p.srv_crt = kf_pki_path(out_dir, KF_OUT_SERVER_CRT, err)) ||
	    !(p.srv_key = kf_pki_path(out_dir, KF_OUT_SERVER_KEY, err))) {
		r = KF_ENOMEM;
		goto out;
	}
	if ((r = kf_fs_mkdirs(p.dir, 0755, err)) != 0)
		goto out;

	/* The CA. */
	crt_exists = kf_fs_exists(p.ca_crt);
	key_exists = kf_fs_exists(p.ca_key);
	if (!force && crt_exists != key_exists) {
		r = kf_err_set(err, KF_ETLS, "%s exists but %s is missing; " FORCE_HINT,
			       crt_exists ? p.ca_crt : p.ca_key, crt_exists ? p.ca_key : p.ca_crt);
		goto out;
	}
	if (!force && crt_exists) {
		if ((r = load_ca(&ca, &cakey, &p, err)) != 0)
			goto out;
		if ((r = kf_pki_fix_mode(p.ca_key, KF_OUT_CA_KEY, 0600, rep, err)) != 0)
			goto out;
		if ((r = kf_pki_report_add(rep, KF_OUT_CA_CRT, KF_PKI_KEPT, NULL, err)) != 0 ||
		    (r = kf_pki_report_add(rep, KF_OUT_CA_KEY, KF_PKI_KEPT, NULL, err)) != 0)
			goto out;
	} else {
		act = crt_exists || key_exists ? KF_PKI_REGENERATED : KF_PKI_CREATED;
		if (!(cakey = new_ec_key(err))) {
			r = KF_ETLS;
			goto out;
		}
		if ((r = make_ca(&ca, cakey, cfg->cluster_name, err)) != 0 ||
		    (r = write_key(p.ca_key, cakey, err)) != 0 ||
		    (r = write_cert(p.ca_crt, ca, err)) != 0)
			goto out;
		ca_new = true;
		why_ca = act == KF_PKI_CREATED ? NULL : "--force";
		if ((r = kf_pki_report_add(rep, KF_OUT_CA_CRT, act, why_ca, err)) != 0 ||
		    (r = kf_pki_report_add(rep, KF_OUT_CA_KEY, act, why_ca, err)) != 0)
			goto out;
	}

	/* The server certificate: keep it when it still fits. */
	crt_exists = kf_fs_exists(p.srv_crt);
	key_exists = kf_fs_exists(p.srv_key);
	if (key_exists && !force && read_key(&key, p.srv_key, err) != 0) {
		kf_warn("%s; a new registry key will be generated", err->msg);
		kf_err_clear(err);
	}
	if (force && crt_exists)
		snprintf(why, sizeof(why), "--force");
	else if (ca_new && crt_exists)
		snprintf(why, sizeof(why), "the CA is new");
	else if (crt_exists && !key)
		snprintf(why, sizeof(why), "%s is missing or unreadable", KF_OUT_SERVER_KEY);
	else if (crt_exists) {
		if (read_cert(&cert, p.srv_crt, err) != 0) {
			snprintf(why, sizeof(why), "%s", err->msg);
			kf_err_clear(err);
		} else if (server_problem(why, sizeof(why), ca, cert, key,
					  (const char *const *)sans, n_sans) != 0) {
			r = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (crt_exists && !why[0]) {
		if ((r = kf_pki_fix_mode(p.srv_key, KF_OUT_SERVER_KEY, 0600, rep, err)) != 0)
			goto out;
		if ((r = kf_pki_report_add(rep, KF_OUT_SERVER_CRT, KF_PKI_KEPT, NULL, err)) == 0)
			r = kf_pki_report_add(rep, KF_OUT_SERVER_KEY, KF_PKI_KEPT, NULL, err);
		goto out;
	}
	X509_free(cert);
	cert = NULL;
	if (key && !EVP_PKEY_is_a(key, "EC") && !EVP_PKEY_is_a(key, "RSA")) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	if (!key) {
		if (!(key = new_ec_key(err))) {
			r = KF_ETLS;
			goto out;
		}
		key_new = true;
	}
	if ((r = make_server(&cert, key, cfg->registry.host_ip, sans, n_sans, ca, cakey, err)) != 0)
		goto out;
	if (key_new && (r = write_key(p.srv_key, key, err)) != 0)
		goto out;
	if ((r = write_cert(p.srv_crt, cert, err)) != 0)
		goto out;
	act = !crt_exists ? KF_PKI_CREATED : force ? KF_PKI_REGENERATED : KF_PKI_REISSUED;
	if ((r = kf_pki_report_add(rep, KF_OUT_SERVER_CRT, act, why[0] ? why : NULL, err)) != 0)
		goto out;
	if (key_new)
		r = kf_pki_report_add(rep, KF_OUT_SERVER_KEY, key_exists ? act : KF_PKI_CREATED,
				      key_exists && why[0] ? why : NULL, err);
	else
		r = kf_pki_report_add(rep, KF_OUT_SERVER_KEY, KF_PKI_KEPT, NULL, err);
out:
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	X509_free(cert);
	X509_free(ca);
	kf_strv_free(sans, n_sans);
	tls_paths_free(&p);
	return r;
}

int kf_pki_check_tls(const struct kf_config *cfg, const char *out_dir, struct kf_err *err)
{
	struct tls_paths p = { 0 };
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *cakey = NULL, *key = NULL;
	char **sans = NULL, why[KF_ERR_MSG_MAX] = "";
	size_t n_sans = 0;
	int r;

	if ((r = kf_pki_wanted_sans(&sans, &n_sans, cfg, err)) != 0)
		goto out;
	if (!(p.ca_crt = kf_pki_path(out_dir, KF_OUT_CA_CRT, err)) ||
	    !(p.ca_key = kf_pki_path(out_dir, KF_OUT_CA_KEY, err)) ||
	    !(p.srv_crt = kf_pki_path(out_dir, KF_OUT_SERVER_CRT, err)) ||
	    !(p.srv_key = kf_pki_path(out_dir, KF_OUT_SERVER_KEY, err))) {
		r = KF_ENOMEM;
		goto out;
	}
	if (!kf_fs_exists(p.ca_crt) && !kf_fs_exists(p.ca_key)) {
		r = kf_err_set(err, KF_ESTATE, "%s is missing", p.ca_crt);
		goto out;
	}
	if ((r = load_ca(&ca, &cakey, &p, err)) != 0)
		goto out;
	if ((r = read_cert(&cert, p.srv_crt, err)) != 0 || (r = read_key(&key, p.srv_key, err)) != 0)
		goto out;
	if (server_problem(why, sizeof(why), ca, cert, key, (const char *const *)sans, n_sans)) {
		r = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	if (why[0])
		r = kf_err_set(err, KF_ESTATE, "%s: %s", p.srv_crt, why);
out:
	if (r == KF_ENOTFOUND)
		r = KF_ESTATE;
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	X509_free(cert);
	X509_free(ca);
	kf_strv_free(sans, n_sans);
	tls_paths_free(&p);
	return r;
}

/* --- helpers -------------------------------------------------------------------------------- */

/* Sets KF_ETLS with the message and the most recent OpenSSL error in parentheses; clears the
 * OpenSSL error queue. */
static int ossl_fail(struct kf_err *err, const char *fmt, ...)
{
	char msg[KF_ERR_MSG_MAX / 2], detail[256];
	unsigned long e = ERR_peek_last_error();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "no OpenSSL detail");
	ERR_clear_error();
	return kf_err_set(err, KF_ETLS, "%s (%s)", msg, detail);
}

static bool valid_dns(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || (c == '*' && i == 0 && s[1] == '.')))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* "IP:addr" → "IP:<canonical>", "DNS:Name" → "DNS:name", bare values when allowed. */
static int san_normalise(char **out, const char *in, bool bare_ok)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN], *s;
	const char *v = in;
	int kind = 0;    /* 0 bare, 1 IP, 2 DNS */

	*out = NULL;
	if (strncasecmp(in, "IP:", 3) == 0) {
		kind = 1;
		v = in + 3;
	} else if (strncasecmp(in, "DNS:", 4) == 0) {
		kind = 2;
		v = in + 4;
	} else if (!bare_ok) {
		return -1;
	}
	while (*v == ' ')
		v++;
	if (kind != 2) {
		int af = inet_pton(AF_INET, v, a) == 1 ? AF_INET
			 : inet_pton(AF_INET6, v, a) == 1 ? AF_INET6 : 0;
		if (af) {
			inet_ntop(af, a, txt, sizeof(txt));
			if (!(s = malloc(strlen(txt) + 4)))
				return -1;
			sprintf(s, "IP:%s", txt);
			*out = s;
			return 0;
		}
		if (kind == 1)
			return -1;
	}
	if (!valid_dns(v) || !(s = malloc(strlen(v) + 5)))
		return -1;
	sprintf(s, "DNS:%s", v);
	for (char *q = s + 4; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	*out = s;
	return 0;
}

/* Appends a copy unless already present. */
static int sans_add(char ***v, size_t *n, const char *san)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], san) == 0)
			return 0;
	return kf_strv_append(v, n, san, strlen(san));
}

static int sans_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "IP:a,IP:b,DNS:c" (the OpenSSL config syntax; valid SANs hold no commas). */
static char *sans_join(char **v, size_t n)
{
	struct kf_buf b;

	kf_buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < n; i++)
		if (kf_buf_printf(&b, "%s%s", i ? "," : "", v[i]) != 0) {
			kf_buf_free(&b);
			return NULL;
		}
	return kf_buf_detach(&b);
}
