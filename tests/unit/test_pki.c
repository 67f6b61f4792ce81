/* PKI, SSH material and secrets made by kf_pki_ensure, checked with the real tools (openssl,
 * ssh-keygen) in a temporary output directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "k3sforge/config.h"
#include "k3sforge/digest.h"
#include "k3sforge/fs.h"
#include "k3sforge/log.h"
#include "k3sforge/pki.h"
#include "k3sforge/sshkey.h"
#include "k3sforge/strv.h"
#include "pki_testutil.h"

struct fx {
	char *dir;
	struct kf_config *cfg;
	struct kf_pki_report rep;
	struct kf_err err;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kf_err err = { 0 };

	assert_non_null(f);
	f->dir = pki_t_tmpdir("pki");
	assert_int_equal(kf_config_default(&f->cfg, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct kf_err err = { 0 };

	kf_fs_remove_tree(f->dir, &err);
	free(f->dir);
	kf_config_free(f->cfg);
	kf_pki_report_free(&f->rep);
	free(f);
	kf_log_shutdown();   /* forget this test's secrets: the logger holds a bounded number */
	return 0;
}

/* --- helpers -------------------------------------------------------------------------------- */

static void ensure_ok(struct fx *f, bool force)
{
	kf_pki_report_free(&f->rep);
	kf_err_clear(&f->err);
	if (kf_pki_ensure(f->cfg, f->dir, force, &f->rep, &f->err) != 0)
		fail_msg("kf_pki_ensure: %s", f->err.msg);
}

static char *file(struct fx *f, const char *rel)
{
	return pki_t_path(f->dir, rel);
}

static char *slurp(struct fx *f, const char *rel)
{
	char *p = file(f, rel), *d = pki_t_read(p, NULL);

	free(p);
	return d;
}

static enum kf_pki_action action_of(struct fx *f, const char *rel)
{
	const struct kf_pki_item *it = kf_pki_report_find(&f->rep, rel);

	if (!it)
		fail_msg("no report item for %s", rel);
	return it->action;
}

/* Runs a tool over a file of the output dir; returns stdout (exit status must be 0). */
static char *tool(const char *const *argv)
{
	int code;
	char *out = pki_t_run(argv, &code, 0);

	if (code != 0)
		fail_msg("%s %s exited with %d", argv[0], argv[1], code);
	return out;
}

static void set_extra_sans(struct kf_config *cfg, const char *const *v, size_t n)
{
	for (size_t i = 0; i < cfg->registry.n_extra_sans; i++)
		free(cfg->registry.extra_sans[i]);
	free(cfg->registry.extra_sans);
	cfg->registry.extra_sans = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		cfg->registry.extra_sans[i] = strdup(v[i]);
	cfg->registry.n_extra_sans = n;
}

static const char *all_files[] = {
	KF_OUT_CA_CRT, KF_OUT_CA_KEY, KF_OUT_SERVER_CRT, KF_OUT_SERVER_KEY,
	KF_OUT_SSH_KEY, KF_OUT_SSH_PUBKEY,
	"ssh/host/k3s-master1_ed25519", "ssh/host/k3s-master1_ed25519.pub",
	"ssh/host/k3s-worker1_ed25519", "ssh/host/k3s-worker1_ed25519.pub",
	"ssh/host/k3s-worker2_ed25519", "ssh/host/k3s-worker2_ed25519.pub",
	KF_OUT_KNOWN_HOSTS, KF_OUT_TOKEN, KF_OUT_ADMIN_PASSWORD,
};
#define N_FILES (sizeof(all_files) / sizeof(all_files[0]))

static mode_t mode_of(struct fx *f, const char *rel)
{
	struct stat st;
	char *p = file(f, rel);

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return st.st_mode & 07777;
}

/* "IP Address:1.2.3.4, DNS:x" from `openssl x509 -noout -ext subjectAltName`. */
static char *openssl_sans(struct fx *f)
{
	char *crt = file(f, KF_OUT_SERVER_CRT);
	const char *argv[] = { "openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", crt,
			       NULL };
	char *out = tool(argv), *nl = strchr(out, '\n'), *s;

	assert_non_null(nl);
	assert_non_null(strstr(out, "X509v3 Subject Alternative Name"));
	s = nl + 1;
	while (*s == ' ')
		s++;
	s = strdup(s);
	s[strcspn(s, "\n")] = '\0';
	free(out);
	free(crt);
	return s;
}

/* --- TLS ------------------------------------------------------------------------------------ */

static void test_pki_creates_ca_and_server_certificate(void **state)
{
	struct fx *f = *state;

	ensure_ok(f, false);
	assert_int_equal(action_of(f, KF_OUT_CA_CRT), KF_PKI_CREATED);
	assert_int_equal(action_of(f, KF_OUT_CA_KEY), KF_PKI_CREATED);
	assert_int_equal(action_of(f, KF_OUT_SERVER_CRT), KF_PKI_CREATED);
	assert_int_equal(action_of(f, KF_OUT_SERVER_KEY), KF_PKI_CREATED);
	for (size_t i = 0; i < N_FILES; i++) {
		char *p = file(f, all_files[i]);
		if (!kf_fs_exists(p))
			fail_msg("%s was not written", all_files[i]);
		free(p);
	}
}

static void test_pki_ca_is_a_critical_ca_with_cert_sign_usage(void **state)
{
	struct fx *f = *state;
	char *ca;
	char *out;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	{
		const char *argv[] = { "openssl", "x509", "-noout", "-text", "-in", ca, NULL };
		out = tool(argv);
	}
	assert_non_null(strstr(out, "Subject: O = k3sforge, CN = k3sforge lab CA"));
	assert_non_null(strstr(out, "X509v3 Basic Constraints: critical\n                CA:TRUE"));
	assert_non_null(strstr(out, "X509v3 Key Usage: critical\n                Certificate Sign, "
				    "CRL Sign"));
	assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
	assert_non_null(strstr(out, "ASN1 OID: prime256v1"));
	free(out);
	free(ca);
}

static void test_pki_server_cert_has_exactly_the_wanted_sans(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "DNS:registry.lab", "10.0.0.5", "Mirror.Example", "IP:127.0.0.1" };
	char *sans;

	set_extra_sans(f->cfg, extra, 4);
	ensure_ok(f, false);
	sans = openssl_sans(f);
	assert_string_equal(sans, "IP Address:192.168.6.1, IP Address:127.0.0.1, DNS:localhost, "
				  "DNS:registry.lab, IP Address:10.0.0.5, DNS:mirror.example");
	free(sans);
}

static void test_pki_server_cert_is_for_the_registry_ip_and_server_auth(void **state)
{
	struct fx *f = *state;
	char *crt;
	char *out;

	ensure_ok(f, false);
	crt = file(f, KF_OUT_SERVER_CRT);
	{
		const char *argv[] = { "openssl", "x509", "-noout", "-text", "-in", crt, NULL };
		out = tool(argv);
	}
	assert_non_null(strstr(out, "Subject: O = k3sforge, CN = 192.168.6.1"));
	assert_non_null(strstr(out, "Issuer: O = k3sforge, CN = k3sforge lab CA"));
	assert_non_null(strstr(out, "TLS Web Server Authentication"));
	assert_non_null(strstr(out, "Digital Signature, Key Encipherment"));
	assert_non_null(strstr(out, "X509v3 Authority Key Identifier"));
	assert_non_null(strstr(out, "CA:FALSE"));
	free(out);
	free(crt);
}

static void test_pki_server_cert_verifies_against_the_ca(void **state)
{
	struct fx *f = *state;
	char *ca, *crt, *out;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	crt = file(f, KF_OUT_SERVER_CRT);
	{
		const char *argv[] = { "openssl", "verify", "-purpose", "sslserver", "-CAfile", ca,
				       crt, NULL };
		out = tool(argv);
	}
	assert_non_null(strstr(out, ": OK"));
	free(out);
	free(ca);
	free(crt);
}

static void test_pki_server_key_matches_its_certificate(void **state)
{
	struct fx *f = *state;
	char *crt, *key, *a, *b, *ca;
	char **sans = NULL;
	size_t n = 0;

	ensure_ok(f, false);
	crt = file(f, KF_OUT_SERVER_CRT);
	key = file(f, KF_OUT_SERVER_KEY);
	ca = file(f, KF_OUT_CA_CRT);
	{
		const char *argv[] = { "openssl", "x509", "-noout", "-pubkey", "-in", crt, NULL };
		a = tool(argv);
	}
	{
		const char *argv[] = { "openssl", "pkey", "-pubout", "-in", key, NULL };
		b = tool(argv);
	}
	assert_string_equal(a, b);
	assert_int_equal(kf_pki_wanted_sans(&sans, &n, f->cfg, &f->err), 0);
	assert_int_equal(kf_pki_verify_server_cert(ca, crt, key, (const char *const *)sans, n,
						   &f->err), 0);
	kf_strv_free(sans, n);
	free(a);
	free(b);
	free(crt);
	free(key);
	free(ca);
}

static void test_pki_verify_rejects_a_key_from_elsewhere(void **state)
{
	struct fx *f = *state;
	char *crt, *ca, *cakey;

	ensure_ok(f, false);
	crt = file(f, KF_OUT_SERVER_CRT);
	ca = file(f, KF_OUT_CA_CRT);
	cakey = file(f, KF_OUT_CA_KEY);
	assert_int_equal(kf_pki_verify_server_cert(ca, crt, cakey, NULL, 0, &f->err), KF_ETLS);
	assert_non_null(strstr(f->err.msg, "key does not match"));
	free(crt);
	free(ca);
	free(cakey);
}

static void test_pki_rerun_keeps_every_file_byte_identical(void **state)
{
	struct fx *f = *state;
	char *before[N_FILES];

	ensure_ok(f, false);
	for (size_t i = 0; i < N_FILES; i++)
		assert_non_null(before[i] = slurp(f, all_files[i]));
	ensure_ok(f, false);
	assert_int_equal(kf_pki_report_changes(&f->rep), 0);
	for (size_t i = 0; i < N_FILES; i++) {
		char *now = slurp(f, all_files[i]);
		assert_non_null(now);
		if (strcmp(now, before[i]) != 0)
			fail_msg("%s changed on a rerun", all_files[i]);
		free(now);
		free(before[i]);
	}
}

static void test_pki_changed_extra_sans_reissue_only_the_server_cert(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "DNS:registry.lab" };
	char *ca1, *key1, *crt1, *ca2, *key2, *crt2, *sans;
	const struct kf_pki_item *it;

	ensure_ok(f, false);
	ca1 = slurp(f, KF_OUT_CA_CRT);
	key1 = slurp(f, KF_OUT_SERVER_KEY);
	crt1 = slurp(f, KF_OUT_SERVER_CRT);
	set_extra_sans(f->cfg, extra, 1);
	ensure_ok(f, false);
	it = kf_pki_report_find(&f->rep, KF_OUT_SERVER_CRT);
	assert_non_null(it);
	assert_int_equal(it->action, KF_PKI_REISSUED);
	assert_string_equal(it->reason, "SANs differ: missing DNS:registry.lab");
	assert_int_equal(kf_pki_report_changes(&f->rep), 1);
	ca2 = slurp(f, KF_OUT_CA_CRT);
	key2 = slurp(f, KF_OUT_SERVER_KEY);
	crt2 = slurp(f, KF_OUT_SERVER_CRT);
	assert_string_equal(ca1, ca2);
	assert_string_equal(key1, key2);
	assert_string_not_equal(crt1, crt2);
	sans = openssl_sans(f);
	assert_string_equal(sans, "IP Address:192.168.6.1, IP Address:127.0.0.1, DNS:localhost, "
				  "DNS:registry.lab");
	free(sans);
	free(ca1);
	free(key1);
	free(crt1);
	free(ca2);
	free(key2);
	free(crt2);
}

static void test_pki_refuses_a_corrupt_ca_without_force(void **state)
{
	struct fx *f = *state;
	char *ca = NULL, *after;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	pki_t_write(ca, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ETLS);
	assert_non_null(strstr(f->err.msg, "--force"));
	assert_non_null(strstr(f->err.msg, "ca.crt"));
	after = slurp(f, KF_OUT_CA_CRT);
	assert_non_null(strstr(after, "bm90IGEgY2VydA=="));
	free(after);
	free(ca);
}

static void test_pki_force_replaces_a_corrupt_ca(void **state)
{
	struct fx *f = *state;
	char *ca, *crt, *out;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	crt = file(f, KF_OUT_SERVER_CRT);
	pki_t_write(ca, "garbage\n");
	ensure_ok(f, true);
	assert_int_equal(action_of(f, KF_OUT_CA_CRT), KF_PKI_REGENERATED);
	assert_int_equal(action_of(f, KF_OUT_SERVER_CRT), KF_PKI_REGENERATED);
	{
		const char *argv[] = { "openssl", "verify", "-CAfile", ca, crt, NULL };
		out = tool(argv);
	}
	assert_non_null(strstr(out, ": OK"));
	free(out);
	free(ca);
	free(crt);
}

static void test_pki_refuses_a_ca_whose_key_does_not_match(void **state)
{
	struct fx *f = *state;
	char *cakey, *out;
	int code;

	ensure_ok(f, false);
	cakey = file(f, KF_OUT_CA_KEY);
	{
		const char *argv[] = { "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
				       "ec_paramgen_curve:P-256", "-out", cakey, NULL };
		out = pki_t_run(argv, &code, 1);
		assert_int_equal(code, 0);
		free(out);
	}
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ETLS);
	assert_non_null(strstr(f->err.msg, "ca.key does not belong to ca.crt"));
	assert_non_null(strstr(f->err.msg, "--force"));
	free(cakey);
}

static void test_pki_refuses_a_ca_certificate_without_its_key(void **state)
{
	struct fx *f = *state;
	char *cakey;

	ensure_ok(f, false);
	cakey = file(f, KF_OUT_CA_KEY);
	assert_int_equal(unlink(cakey), 0);
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ETLS);
	assert_non_null(strstr(f->err.msg, "is missing"));
	assert_non_null(strstr(f->err.msg, "--force"));
	assert_false(kf_fs_exists(cakey));
	free(cakey);
}

static void test_pki_reissues_a_server_cert_from_another_ca(void **state)
{
	struct fx *f = *state;
	char *other = pki_t_tmpdir("pki-other"), *src, *dst, *srck, *dstk;
	const struct kf_pki_item *it;
	struct kf_err err = { 0 };

	ensure_ok(f, false);
	assert_int_equal(kf_pki_ensure(f->cfg, other, false, NULL, &err), 0);
	src = pki_t_path(other, KF_OUT_SERVER_CRT);
	srck = pki_t_path(other, KF_OUT_SERVER_KEY);
	dst = file(f, KF_OUT_SERVER_CRT);
	dstk = file(f, KF_OUT_SERVER_KEY);
	assert_int_equal(kf_fs_copy(src, dst, 0644, &err), 0);
	assert_int_equal(kf_fs_copy(srck, dstk, 0600, &err), 0);
	ensure_ok(f, false);
	it = kf_pki_report_find(&f->rep, KF_OUT_SERVER_CRT);
	assert_int_equal(it->action, KF_PKI_REISSUED);
	assert_non_null(strstr(it->reason, "not signed by the current CA"));
	kf_fs_remove_tree(other, &err);
	free(other);
	free(src);
	free(dst);
	free(srck);
	free(dstk);
}

static void test_pki_reissues_a_server_cert_whose_key_does_not_match(void **state)
{
	struct fx *f = *state;
	char *key, *out;
	const struct kf_pki_item *it;
	int code;

	ensure_ok(f, false);
	key = file(f, KF_OUT_SERVER_KEY);
	{
		const char *argv[] = { "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
				       "ec_paramgen_curve:P-256", "-out", key, NULL };
		out = pki_t_run(argv, &code, 1);
		assert_int_equal(code, 0);
		free(out);
	}
	ensure_ok(f, false);
	it = kf_pki_report_find(&f->rep, KF_OUT_SERVER_CRT);
	assert_int_equal(it->action, KF_PKI_REISSUED);
	assert_non_null(strstr(it->reason, "key does not match"));
	{
		char *ca = file(f, KF_OUT_CA_CRT), *crt = file(f, KF_OUT_SERVER_CRT);
		assert_int_equal(kf_pki_verify_server_cert(ca, crt, key, NULL, 0, &f->err), 0);
		free(ca);
		free(crt);
	}
	free(key);
}

static void test_pki_reissues_a_server_cert_expiring_within_30_days(void **state)
{
	struct fx *f = *state;
	char *ca, *cakey, *key, *crt, *csr, *ext, *out;
	const struct kf_pki_item *it;
	long days = 0;
	int code;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	cakey = file(f, KF_OUT_CA_KEY);
	key = file(f, KF_OUT_SERVER_KEY);
	crt = file(f, KF_OUT_SERVER_CRT);
	csr = file(f, "pki/test.csr");
	ext = file(f, "pki/test.ext");
	pki_t_write(ext, "subjectAltName=IP:192.168.6.1,IP:127.0.0.1,DNS:localhost\n"
			 "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n");
	{
		const char *argv[] = { "openssl", "req", "-new", "-key", key, "-subj",
				       "/CN=192.168.6.1", "-out", csr, NULL };
		out = pki_t_run(argv, &code, 1);
		assert_int_equal(code, 0);
		free(out);
	}
	{
		const char *argv[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
				       cakey, "-CAcreateserial", "-days", "10", "-extfile", ext,
				       "-out", crt, NULL };
		out = pki_t_run(argv, &code, 1);
		if (code != 0)
			fail_msg("openssl x509 -req: %s", out);
		free(out);
	}
	assert_int_equal(kf_pki_cert_days_left(&days, crt, &f->err), 0);
	assert_true(days >= 9 && days <= 10);
	ensure_ok(f, false);
	it = kf_pki_report_find(&f->rep, KF_OUT_SERVER_CRT);
	assert_int_equal(it->action, KF_PKI_REISSUED);
	assert_non_null(strstr(it->reason, "expires in"));
	assert_int_equal(kf_pki_cert_days_left(&days, crt, &f->err), 0);
	assert_true(days >= KF_PKI_SERVER_DAYS - 1 && days <= KF_PKI_SERVER_DAYS);
	free(ca);
	free(cakey);
	free(key);
	free(crt);
	free(csr);
	free(ext);
}

/* Writes a self-signed CA:TRUE certificate that expired ten days ago, and its key. */
static void write_expired_ca(const char *crt_path, const char *key_path)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	FILE *fc, *fk;

	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -20L * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), -10L * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				   (const unsigned char *)"old CA", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	fc = fopen(crt_path, "w");
	fk = fopen(key_path, "w");
	assert_non_null(fc);
	assert_non_null(fk);
	PEM_write_X509(fc, x);
	PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL);
	fclose(fc);
	fclose(fk);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_pki_refuses_an_expired_ca_without_force(void **state)
{
	struct fx *f = *state;
	char *crt = file(f, KF_OUT_CA_CRT), *key = file(f, KF_OUT_CA_KEY), *dir = file(f, "pki");

	assert_int_equal(kf_fs_mkdirs(dir, 0755, &f->err), 0);
	write_expired_ca(crt, key);
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ETLS);
	assert_non_null(strstr(f->err.msg, "ca.crt has expired"));
	assert_non_null(strstr(f->err.msg, "--force"));
	ensure_ok(f, true);
	assert_int_equal(action_of(f, KF_OUT_CA_CRT), KF_PKI_REGENERATED);
	free(crt);
	free(key);
	free(dir);
}

static void test_pki_check_passes_after_ensure(void **state)
{
	struct fx *f = *state;

	ensure_ok(f, false);
	if (kf_pki_check(f->cfg, f->dir, &f->err) != 0)
		fail_msg("kf_pki_check: %s", f->err.msg);
}

static void test_pki_check_reports_missing_material(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kf_pki_check(f->cfg, f->dir, &f->err), KF_ESTATE);
	assert_non_null(strstr(f->err.msg, "ca.crt is missing"));
}

static void test_pki_check_reports_changed_sans_without_writing(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "DNS:new.lab" };
	char *before, *after;

	ensure_ok(f, false);
	before = slurp(f, KF_OUT_SERVER_CRT);
	set_extra_sans(f->cfg, extra, 1);
	assert_int_equal(kf_pki_check(f->cfg, f->dir, &f->err), KF_ESTATE);
	assert_non_null(strstr(f->err.msg, "SANs differ"));
	after = slurp(f, KF_OUT_SERVER_CRT);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_pki_check_reports_a_stale_known_hosts(void **state)
{
	struct fx *f = *state;

	ensure_ok(f, false);
	f->cfg->nodes[2].ssh_port = 2200;
	assert_int_equal(kf_pki_check(f->cfg, f->dir, &f->err), KF_ESTATE);
	assert_non_null(strstr(f->err.msg, "known_hosts does not match"));
}

static void test_pki_ca_lasts_ten_years(void **state)
{
	struct fx *f = *state;
	char *ca;
	long days = 0;

	ensure_ok(f, false);
	ca = file(f, KF_OUT_CA_CRT);
	assert_int_equal(kf_pki_cert_days_left(&days, ca, &f->err), 0);
	assert_true(days >= KF_PKI_CA_DAYS - 1 && days <= KF_PKI_CA_DAYS);
	free(ca);
}

static void test_pki_rejects_an_invalid_extra_san(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "DNS:ok.lab", "bad name!" };

	set_extra_sans(f->cfg, extra, 2);
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ECONFIG);
	assert_non_null(strstr(f->err.msg, "registry.extra_sans[1]"));
	assert_non_null(strstr(f->err.msg, "bad name!"));
}

static void test_pki_wanted_sans_detect_ip_and_name_and_drop_duplicates(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "localhost", "IP:0:0:0:0:0:0:0:1", "192.168.6.1", "Host-A" };
	char **v = NULL;
	size_t n = 0;

	set_extra_sans(f->cfg, extra, 4);
	assert_int_equal(kf_pki_wanted_sans(&v, &n, f->cfg, &f->err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0], "IP:192.168.6.1");
	assert_string_equal(v[1], "IP:127.0.0.1");
	assert_string_equal(v[2], "DNS:localhost");
	assert_string_equal(v[3], "IP:::1");
	assert_string_equal(v[4], "DNS:host-a");
	kf_strv_free(v, n);
}

/* --- SSH ------------------------------------------------------------------------------------ */

static const char *key_files[] = {
	KF_OUT_SSH_KEY, "ssh/host/k3s-master1_ed25519", "ssh/host/k3s-worker1_ed25519",
	"ssh/host/k3s-worker2_ed25519",
};

/* The "SHA256:..." field of `ssh-keygen -l -f path`. */
static char *keygen_fp(const char *path)
{
	const char *argv[] = { "ssh-keygen", "-l", "-f", path, NULL };
	char *out = tool(argv), *fp = strstr(out, "SHA256:"), *r;

	assert_non_null(fp);
	r = strndup(fp, strcspn(fp, " \n"));
	assert_true(strncmp(out, "256 ", 4) == 0);
	assert_non_null(strstr(out, "(ED25519)"));
	free(out);
	return r;
}

static void test_ssh_keygen_accepts_every_key_with_our_fingerprint(void **state)
{
	struct fx *f = *state;

	ensure_ok(f, false);
	for (size_t i = 0; i < sizeof(key_files) / sizeof(key_files[0]); i++) {
		char *priv = file(f, key_files[i]), pub[600], *fpp, *fpu, mine[KF_SSH_FP_LEN];
		struct kf_sshkey *k = NULL;

		snprintf(pub, sizeof(pub), "%s.pub", priv);
		assert_int_equal(kf_sshkey_load_private(&k, priv, &f->err), 0);
		kf_sshkey_fingerprint(k, mine);
		fpp = keygen_fp(priv);
		fpu = keygen_fp(pub);
		assert_string_equal(fpp, mine);
		assert_string_equal(fpu, mine);
		kf_sshkey_free(k);
		free(fpp);
		free(fpu);
		free(priv);
	}
}

static void test_ssh_keygen_derives_the_pub_files_key_from_each_private_key(void **state)
{
	struct fx *f = *state;

	ensure_ok(f, false);
	for (size_t i = 0; i < sizeof(key_files) / sizeof(key_files[0]); i++) {
		char *priv = file(f, key_files[i]), pubrel[256], *pub, *derived;
		const char *argv[] = { "ssh-keygen", "-y", "-f", priv, NULL };

		snprintf(pubrel, sizeof(pubrel), "%s.pub", key_files[i]);
		pub = slurp(f, pubrel);
		derived = tool(argv);
		/* compare "ssh-ed25519 <b64>" (the first two fields) */
		assert_true(strncmp(derived, "ssh-ed25519 ", 12) == 0);
		{
			size_t n = 12 + strcspn(derived + 12, " \n");
			assert_true(strncmp(derived, pub, n) == 0);
			assert_true(pub[n] == ' ');
		}
		free(derived);
		free(pub);
		free(priv);
	}
}

static void test_ssh_operator_key_comment_names_the_cluster(void **state)
{
	struct fx *f = *state;
	char *pub;

	ensure_ok(f, false);
	pub = slurp(f, KF_OUT_SSH_PUBKEY);
	assert_non_null(strstr(pub, " k3sforge@lab\n"));
	free(pub);
}

static void test_sshkey_private_file_has_the_openssh_layout(void **state)
{
	struct fx *f = *state;
	char *text, *line, *save = NULL;
	size_t lines = 0;

	ensure_ok(f, false);
	text = slurp(f, KF_OUT_SSH_KEY);
	assert_true(strncmp(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) == 0);
	assert_non_null(strstr(text, "\n-----END OPENSSH PRIVATE KEY-----\n"));
	/* "openssh-key-v1\0" + string "none" begins every unencrypted key in base64 */
	assert_true(strncmp(text + 36, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", 42) == 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != '-') {
			assert_true(strlen(line) <= 70);
			lines++;
		}
	}
	assert_true(lines >= 3);
	free(text);
}

static void test_sshkey_reads_a_key_made_by_ssh_keygen(void **state)
{
	struct fx *f = *state;
	char *path = file(f, "made_by_keygen"), mine[KF_SSH_FP_LEN], *theirs, *out, *line = NULL;
	const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "someone@host",
			       "-f", path, NULL };
	struct kf_sshkey *k = NULL;
	int code;

	out = pki_t_run(argv, &code, 1);
	assert_int_equal(code, 0);
	free(out);
	assert_int_equal(kf_sshkey_load_private(&k, path, &f->err), 0);
	assert_string_equal(k->comment, "someone@host");
	kf_sshkey_fingerprint(k, mine);
	theirs = keygen_fp(path);
	assert_string_equal(mine, theirs);
	/* and our public line equals theirs */
	assert_int_equal(kf_sshkey_public_line(&line, k, &f->err), 0);
	{
		char pubp[600], *pub;
		snprintf(pubp, sizeof(pubp), "%s.pub", path);
		pub = pki_t_read(pubp, NULL);
		assert_string_equal(line, pub);
		free(pub);
	}
	free(line);
	free(theirs);
	kf_sshkey_free(k);
	free(path);
}

static void test_sshkey_refuses_a_passphrase_protected_key(void **state)
{
	struct fx *f = *state;
	char *path = file(f, "encrypted"), *out;
	const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "hunter22", "-f", path,
			       NULL };
	struct kf_sshkey *k = NULL;
	int code;

	out = pki_t_run(argv, &code, 1);
	assert_int_equal(code, 0);
	free(out);
	assert_int_equal(kf_sshkey_load_private(&k, path, &f->err), KF_EUNSUPPORTED);
	assert_non_null(strstr(f->err.msg, "passphrase"));
	assert_null(k);
	free(path);
}

static void test_sshkey_detects_a_secret_that_does_not_match_its_public_key(void **state)
{
	struct fx *f = *state;
	struct kf_sshkey *k = NULL, *back = NULL;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(kf_sshkey_generate(&k, "x", &f->err), 0);
	k->seed[0] ^= 1;
	assert_int_equal(kf_sshkey_private_text(&text, &len, k, &f->err), 0);
	assert_int_equal(kf_sshkey_parse_private(&back, text, len, "t", &f->err), KF_EPARSE);
	assert_non_null(strstr(f->err.msg, "does not belong"));
	OPENSSL_cleanse(text, len);
	free(text);
	kf_sshkey_free(k);
}

static void test_sshkey_roundtrips_through_private_text(void **state)
{
	struct fx *f = *state;
	struct kf_sshkey *k = NULL, *back = NULL;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(kf_sshkey_generate(&k, "a comment with spaces", &f->err), 0);
	assert_int_equal(kf_sshkey_private_text(&text, &len, k, &f->err), 0);
	assert_int_equal(strlen(text), len);
	assert_int_equal(kf_sshkey_parse_private(&back, text, len, "t", &f->err), 0);
	assert_memory_equal(back->seed, k->seed, KF_ED25519_SEED_LEN);
	assert_memory_equal(back->pk, k->pk, KF_ED25519_PK_LEN);
	assert_string_equal(back->comment, "a comment with spaces");
	OPENSSL_cleanse(text, len);
	free(text);
	kf_sshkey_free(k);
	kf_sshkey_free(back);
}

static void test_sshkey_mismatch_error_names_node_and_both_fingerprints(void **state)
{
	struct fx *f = *state;
	struct kf_sshkey *want = NULL, *got = NULL;
	unsigned char blob[KF_SSHKEY_BLOB_LEN];
	char fw[KF_SSH_FP_LEN], fg[KF_SSH_FP_LEN], expect[256];

	assert_int_equal(kf_sshkey_generate(&want, "", &f->err), 0);
	assert_int_equal(kf_sshkey_generate(&got, "", &f->err), 0);
	kf_sshkey_blob(got, blob);
	kf_sshkey_fingerprint(want, fw);
	kf_sshkey_fingerprint(got, fg);
	assert_int_equal(kf_sshkey_mismatch_error(&f->err, "k3s-master1", "192.168.6.10", want, blob,
						  sizeof(blob)), KF_EHOSTKEY);
	snprintf(expect, sizeof(expect), "host key mismatch for k3s-master1 (192.168.6.10): "
		 "expected %s, got %s", fw, fg);
	assert_true(strncmp(f->err.msg, expect, strlen(expect)) == 0);
	kf_sshkey_free(want);
	kf_sshkey_free(got);
}

static void test_sshkey_rejects_every_truncation_of_a_private_key(void **state)
{
	struct fx *f = *state;
	struct kf_sshkey *k = NULL, *back = NULL;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(kf_sshkey_generate(&k, "trunc", &f->err), 0);
	assert_int_equal(kf_sshkey_private_text(&text, &len, k, &f->err), 0);
	for (size_t n = 0; n + 1 < len; n++) {
		if (kf_sshkey_parse_private(&back, text, n, "t", &f->err) == 0)
			fail_msg("a key cut to %zu of %zu bytes parsed", n, len);
		assert_null(back);
	}
	OPENSSL_cleanse(text, len);
	free(text);
	kf_sshkey_free(k);
}

static void test_sshkey_rejects_an_overlong_public_key_line(void **state)
{
	struct fx *f = *state;
	char line[2048];
	struct kf_sshkey *k = NULL;

	strcpy(line, "ssh-ed25519 ");
	memset(line + 12, 'A', 1500);
	line[1512] = '\0';
	assert_int_equal(kf_sshkey_parse_public(&k, line, strlen(line), "t", &f->err), KF_EPARSE);
	assert_null(k);
}

static void test_sshkey_fingerprint_has_no_base64_padding(void **state)
{
	struct fx *f = *state;
	struct kf_sshkey *k = NULL;
	char fp[KF_SSH_FP_LEN];

	assert_int_equal(kf_sshkey_generate(&k, "", &f->err), 0);
	kf_sshkey_fingerprint(k, fp);
	assert_int_equal(strlen(fp), 50);
	assert_true(strncmp(fp, "SHA256:", 7) == 0);
	assert_null(strchr(fp, '='));
	kf_sshkey_free(k);
}

/* The "ssh-ed25519 <b64>" of a host's .pub. */
static char *host_pub(struct fx *f, const char *node)
{
	char rel[256], *pub;

	snprintf(rel, sizeof(rel), "ssh/host/%s_ed25519.pub", node);
	pub = slurp(f, rel);
	assert_non_null(pub);
	pub[12 + strcspn(pub + 12, " \n")] = '\0';
	return pub;
}

static void test_known_hosts_pins_each_node_ip(void **state)
{
	struct fx *f = *state;
	char *kh, want[1024];

	ensure_ok(f, false);
	kh = slurp(f, KF_OUT_KNOWN_HOSTS);
	want[0] = '\0';
	for (size_t i = 0; i < f->cfg->n_nodes; i++) {
		char *p = host_pub(f, f->cfg->nodes[i].name);
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s %s\n",
			 f->cfg->nodes[i].ip, p);
		free(p);
	}
	assert_string_equal(kh, want);
	free(kh);
}

static void test_known_hosts_adds_host_and_port_for_ssh_overrides(void **state)
{
	struct fx *f = *state;
	char *kh, *m, *w, line[512], *path, *out;
	int code;

	f->cfg->nodes[0].ssh_host = strdup("127.0.0.5");
	f->cfg->nodes[0].ssh_port = 2222;
	f->cfg->nodes[1].ssh_host = strdup("jump.lab");
	f->cfg->nodes[1].ssh_port = 22;
	ensure_ok(f, false);
	kh = slurp(f, KF_OUT_KNOWN_HOSTS);
	m = host_pub(f, "k3s-master1");
	w = host_pub(f, "k3s-worker1");
	snprintf(line, sizeof(line), "192.168.6.10 %s\n[127.0.0.5]:2222 %s\n", m, m);
	assert_non_null(strstr(kh, line));
	snprintf(line, sizeof(line), "192.168.6.11 %s\njump.lab %s\n", w, w);
	assert_non_null(strstr(kh, line));
	path = file(f, KF_OUT_KNOWN_HOSTS);
	{
		const char *argv[] = { "ssh-keygen", "-F", "[127.0.0.5]:2222", "-f", path, NULL };
		out = pki_t_run(argv, &code, 0);
		assert_int_equal(code, 0);
		assert_non_null(strstr(out, m));
		free(out);
	}
	free(path);
	free(kh);
	free(m);
	free(w);
}

static void test_ssh_rerun_keeps_keys_and_adds_a_key_for_a_new_node(void **state)
{
	struct fx *f = *state;
	struct kf_node *nn;
	char *op1, *op2, *kh, *p;

	ensure_ok(f, false);
	op1 = slurp(f, KF_OUT_SSH_KEY);
	nn = realloc(f->cfg->nodes, 4 * sizeof(*nn));
	assert_non_null(nn);
	f->cfg->nodes = nn;
	memset(&nn[3], 0, sizeof(nn[3]));
	nn[3].name = strdup("k3s-worker3");
	nn[3].ip = strdup("192.168.6.13");
	nn[3].role = KF_ROLE_WORKER;
	nn[3].ssh_port = 22;
	f->cfg->n_nodes = 4;
	ensure_ok(f, false);
	assert_int_equal(action_of(f, "ssh/host/k3s-worker3_ed25519"), KF_PKI_CREATED);
	assert_int_equal(action_of(f, "ssh/host/k3s-master1_ed25519"), KF_PKI_KEPT);
	assert_int_equal(action_of(f, KF_OUT_SSH_KEY), KF_PKI_KEPT);
	assert_int_equal(action_of(f, KF_OUT_KNOWN_HOSTS), KF_PKI_UPDATED);
	op2 = slurp(f, KF_OUT_SSH_KEY);
	assert_string_equal(op1, op2);
	kh = slurp(f, KF_OUT_KNOWN_HOSTS);
	p = host_pub(f, "k3s-worker3");
	assert_non_null(strstr(kh, p));
	assert_non_null(strstr(kh, "192.168.6.13 ssh-ed25519 "));
	free(p);
	free(kh);
	free(op1);
	free(op2);
}

static void test_ssh_leaves_the_key_of_a_removed_node_in_place(void **state)
{
	struct fx *f = *state;
	char *kh, *path;

	ensure_ok(f, false);
	f->cfg->n_nodes = 2;   /* k3s-worker2 leaves; the count is restored for kf_config_free */
	kf_pki_report_free(&f->rep);
	f->err.code = kf_pki_ensure(f->cfg, f->dir, false, &f->rep, &f->err);
	f->cfg->n_nodes = 3;
	assert_int_equal(f->err.code, 0);
	path = file(f, "ssh/host/k3s-worker2_ed25519");
	assert_true(kf_fs_exists(path));
	kh = slurp(f, KF_OUT_KNOWN_HOSTS);
	assert_null(strstr(kh, "192.168.6.12"));
	assert_int_equal(action_of(f, KF_OUT_KNOWN_HOSTS), KF_PKI_UPDATED);
	free(kh);
	free(path);
}

static void test_ssh_rewrites_a_missing_public_key_file(void **state)
{
	struct fx *f = *state;
	char *pub1, *pub2, *path;

	ensure_ok(f, false);
	pub1 = slurp(f, KF_OUT_SSH_PUBKEY);
	path = file(f, KF_OUT_SSH_PUBKEY);
	assert_int_equal(unlink(path), 0);
	ensure_ok(f, false);
	assert_int_equal(action_of(f, KF_OUT_SSH_PUBKEY), KF_PKI_UPDATED);
	pub2 = slurp(f, KF_OUT_SSH_PUBKEY);
	assert_string_equal(pub1, pub2);
	free(pub1);
	free(pub2);
	free(path);
}

static void test_ssh_refuses_an_unparseable_private_key_without_force(void **state)
{
	struct fx *f = *state;
	char *path;

	ensure_ok(f, false);
	path = file(f, "ssh/host/k3s-worker1_ed25519");
	pki_t_write(path, "not a key\n");
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_EPARSE);
	assert_non_null(strstr(f->err.msg, "k3s-worker1_ed25519"));
	assert_non_null(strstr(f->err.msg, "--force"));
	free(path);
}

/* --- secrets and modes ------------------------------------------------------------------------ */

static void test_token_is_64_hex_and_stable_across_reruns(void **state)
{
	struct fx *f = *state;
	char *t1, *t2;

	ensure_ok(f, false);
	assert_int_equal(kf_pki_read_token(&t1, f->dir, &f->err), 0);
	assert_int_equal(strlen(t1), 64);
	for (size_t i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)t1[i]));
	ensure_ok(f, false);
	assert_int_equal(action_of(f, KF_OUT_TOKEN), KF_PKI_KEPT);
	assert_int_equal(kf_pki_read_token(&t2, f->dir, &f->err), 0);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
}

static void test_token_is_masked_in_log_output(void **state)
{
	struct fx *f = *state;
	char *t, *line, *masked;

	ensure_ok(f, false);
	assert_int_equal(kf_pki_read_token(&t, f->dir, &f->err), 0);
	line = malloc(strlen(t) + 16);
	sprintf(line, "token=%s end", t);
	masked = kf_log_mask(line);
	assert_string_equal(masked, "token=*** end");
	free(masked);
	free(line);
	free(t);
}

static void test_token_that_is_not_hex_is_refused_without_force(void **state)
{
	struct fx *f = *state;
	char *path;

	ensure_ok(f, false);
	path = file(f, KF_OUT_TOKEN);
	pki_t_write(path, "short\n");
	assert_int_equal(kf_pki_ensure(f->cfg, f->dir, false, NULL, &f->err), KF_ECONFIG);
	assert_non_null(strstr(f->err.msg, "--force"));
	free(path);
}

static void test_admin_password_is_generated_to_kubesphere_rules(void **state)
{
	struct fx *f = *state;
	char *pw = NULL;

	ensure_ok(f, false);
	assert_int_equal(kf_pki_admin_password(&pw, f->cfg, f->dir, &f->err), 0);
	assert_int_equal(strlen(pw), KF_PKI_PASSWORD_LEN);
	assert_true(kf_pki_password_ok(pw));
	free(pw);
}

static void test_admin_password_file_is_not_written_when_configured(void **state)
{
	struct fx *f = *state;
	char *path, *pw = NULL;

	f->cfg->addons.admin_password = strdup("Configured1pw");
	ensure_ok(f, false);
	path = file(f, KF_OUT_ADMIN_PASSWORD);
	assert_false(kf_fs_exists(path));
	assert_int_equal(kf_pki_admin_password(&pw, f->cfg, f->dir, &f->err), 0);
	assert_string_equal(pw, "Configured1pw");
	free(pw);
	free(path);
}

static void test_admin_password_is_not_generated_without_kubesphere(void **state)
{
	struct fx *f = *state;
	char *path;

	f->cfg->addons.kubesphere = false;
	ensure_ok(f, false);
	path = file(f, KF_OUT_ADMIN_PASSWORD);
	assert_false(kf_fs_exists(path));
	assert_null(kf_pki_report_find(&f->rep, KF_OUT_ADMIN_PASSWORD));
	if (kf_pki_check(f->cfg, f->dir, &f->err) != 0)
		fail_msg("kf_pki_check: %s", f->err.msg);
	free(path);
}

static void test_password_rules_need_upper_lower_and_digit(void **state)
{
	(void)state;
	assert_true(kf_pki_password_ok("Abcdefg1"));
	assert_false(kf_pki_password_ok("abcdefg1"));
	assert_false(kf_pki_password_ok("ABCDEFG1"));
	assert_false(kf_pki_password_ok("Abcdefgh"));
	assert_false(kf_pki_password_ok("Abcde1"));
}

static void test_keys_and_secrets_are_mode_0600(void **state)
{
	struct fx *f = *state;
	const char *secret[] = { KF_OUT_CA_KEY, KF_OUT_SERVER_KEY, KF_OUT_SSH_KEY,
				 "ssh/host/k3s-master1_ed25519", "ssh/host/k3s-worker2_ed25519",
				 KF_OUT_TOKEN, KF_OUT_ADMIN_PASSWORD };

	ensure_ok(f, false);
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (mode_of(f, secret[i]) != 0600)
			fail_msg("%s has mode %04o", secret[i], (unsigned)mode_of(f, secret[i]));
	assert_int_equal(mode_of(f, KF_OUT_SSH_PUBKEY), 0644);
	assert_int_equal(mode_of(f, KF_OUT_CA_CRT), 0644);
}

static void test_rerun_fixes_a_private_key_left_world_readable(void **state)
{
	struct fx *f = *state;
	char *path;

	ensure_ok(f, false);
	path = file(f, KF_OUT_SSH_KEY);
	assert_int_equal(chmod(path, 0644), 0);
	ensure_ok(f, false);
	assert_int_equal(mode_of(f, KF_OUT_SSH_KEY), 0600);
	assert_non_null(kf_pki_report_find(&f->rep, KF_OUT_SSH_KEY));
	assert_int_equal(kf_pki_report_changes(&f->rep), 1);
	free(path);
}

static void test_fingerprint_follows_the_relevant_config(void **state)
{
	struct fx *f = *state;
	const char *extra[] = { "DNS:x.lab" };
	char a[KF_SHA256_HEX_LEN + 1], b[KF_SHA256_HEX_LEN + 1], c[KF_SHA256_HEX_LEN + 1];
	struct kf_fp *fp;

	fp = kf_fp_new();
	kf_pki_fingerprint(fp, f->cfg);
	kf_fp_final(fp, a);
	fp = kf_fp_new();
	kf_pki_fingerprint(fp, f->cfg);
	kf_fp_final(fp, b);
	assert_string_equal(a, b);
	set_extra_sans(f->cfg, extra, 1);
	fp = kf_fp_new();
	kf_pki_fingerprint(fp, f->cfg);
	kf_fp_final(fp, c);
	assert_string_not_equal(a, c);
}

static int group_setup(void **state)
{
	struct kf_log_opts o = { .level = KF_LOG_WARN, .color = KF_COLOR_NEVER };

	(void)state;
	kf_log_init(&o);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kf_log_shutdown();
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pki_creates_ca_and_server_certificate),
		T(test_pki_ca_is_a_critical_ca_with_cert_sign_usage),
		T(test_pki_server_cert_has_exactly_the_wanted_sans),
		T(test_pki_server_cert_is_for_the_registry_ip_and_server_auth),
		T(test_pki_server_cert_verifies_against_the_ca),
		T(test_pki_server_key_matches_its_certificate),
		T(test_pki_verify_rejects_a_key_from_elsewhere),
		T(test_pki_rerun_keeps_every_file_byte_identical),
		T(test_pki_changed_extra_sans_reissue_only_the_server_cert),
		T(test_pki_refuses_a_corrupt_ca_without_force),
		T(test_pki_force_replaces_a_corrupt_ca),
		T(test_pki_refuses_a_ca_whose_key_does_not_match),
		T(test_pki_refuses_a_ca_certificate_without_its_key),
		T(test_pki_reissues_a_server_cert_from_another_ca),
		T(test_pki_reissues_a_server_cert_whose_key_does_not_match),
		T(test_pki_reissues_a_server_cert_expiring_within_30_days),
		T(test_pki_refuses_an_expired_ca_without_force),
		T(test_pki_check_passes_after_ensure),
		T(test_pki_check_reports_missing_material),
		T(test_pki_check_reports_changed_sans_without_writing),
		T(test_pki_check_reports_a_stale_known_hosts),
		T(test_pki_ca_lasts_ten_years),
		T(test_pki_rejects_an_invalid_extra_san),
		T(test_pki_wanted_sans_detect_ip_and_name_and_drop_duplicates),
		T(test_ssh_keygen_accepts_every_key_with_our_fingerprint),
		T(test_ssh_keygen_derives_the_pub_files_key_from_each_private_key),
		T(test_ssh_operator_key_comment_names_the_cluster),
		T(test_sshkey_private_file_has_the_openssh_layout),
		T(test_sshkey_reads_a_key_made_by_ssh_keygen),
		T(test_sshkey_refuses_a_passphrase_protected_key),
		T(test_sshkey_detects_a_secret_that_does_not_match_its_public_key),
		T(test_sshkey_roundtrips_through_private_text),
		T(test_sshkey_mismatch_error_names_node_and_both_fingerprints),
		T(test_sshkey_rejects_every_truncation_of_a_private_key),
		T(test_sshkey_rejects_an_overlong_public_key_line),
		T(test_sshkey_fingerprint_has_no_base64_padding),
		T(test_known_hosts_pins_each_node_ip),
		T(test_known_hosts_adds_host_and_port_for_ssh_overrides),
		T(test_ssh_rerun_keeps_keys_and_adds_a_key_for_a_new_node),
		T(test_ssh_leaves_the_key_of_a_removed_node_in_place),
		T(test_ssh_rewrites_a_missing_public_key_file),
		T(test_ssh_refuses_an_unparseable_private_key_without_force),
		T(test_token_is_64_hex_and_stable_across_reruns),
		T(test_token_is_masked_in_log_output),
		T(test_token_that_is_not_hex_is_refused_without_force),
		T(test_admin_password_is_generated_to_kubesphere_rules),
		T(test_admin_password_file_is_not_written_when_configured),
		T(test_admin_password_is_not_generated_without_kubesphere),
		T(test_password_rules_need_upper_lower_and_digit),
		T(test_keys_and_secrets_are_mode_0600),
		T(test_rerun_fixes_a_private_key_left_world_readable),
		T(test_fingerprint_follows_the_relevant_config),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
