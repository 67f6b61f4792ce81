/* A TLS handshake check against a CA and a name, with a verdict that tells apart the failures a
 * registry user meets: nothing listening, a peer that resets or does not speak TLS, a certificate
 * from another CA, a certificate that does not name the address (the seeds' CN=localhost
 * certificate seen at 192.168.6.1), an expired certificate. */
#include "k3sforge/regserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "k3sforge/log.h"
#include "k3sforge/net.h"
#include "k3sforge/platform.h"

/* Verification errors seen during the handshake; the callback lets the handshake go on so the
 * served certificate can be inspected and every class of failure recorded. */
struct verify_seen {
	long first_ca;      /* chain / issuer errors */
	long first_name;    /* host / IP mismatch */
	long first_time;    /* expired / not yet valid */
	long first_other;
};

static bool is_ca_error(int e)
{
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_INVALID_CA:
		return true;
	default:
		return false;
	}
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct verify_seen *seen = ssl ? SSL_get_app_data(ssl) : NULL;
	int e = X509_STORE_CTX_get_error(xs);

	if (ok || !seen)
		return 1;
	if (is_ca_error(e)) {
		if (!seen->first_ca)
			seen->first_ca = e;
	} else if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH ||
		   e == X509_V_ERR_EMAIL_MISMATCH) {
		if (!seen->first_name)
			seen->first_name = e;
	} else if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID) {
		if (!seen->first_time)
			seen->first_time = e;
	} else if (!seen->first_other) {
		seen->first_other = e;
	}
	return 1;
}

const char *kf_tls_verdict_name(enum kf_tls_verdict v)
{
	switch (v) {
	case KF_TLS_OK: return "ok";
	case KF_TLS_REFUSED: return "refused";
	case KF_TLS_UNREACHABLE: return "unreachable";
	case KF_TLS_HANDSHAKE: return "handshake-failed";
	case KF_TLS_UNKNOWN_CA: return "unknown-ca";
	case KF_TLS_NAME_MISMATCH: return "name-mismatch";
	case KF_TLS_EXPIRED: return "expired";
	case KF_TLS_BAD_CERT: return "bad-certificate";
	}
	return "unknown";
}

void kf_tls_probe_free(struct kf_tls_probe *probe)
{
	if (!probe)
		return;
	free(probe->leaf_der);
	probe->leaf_der = NULL;
	probe->leaf_der_len = 0;
}

/* "IP:127.0.0.1, DNS:localhost" of a certificate. */
static void describe_sans(X509 *x, char *out, size_t n)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t off = 0;

	out[0] = '\0';
	if (!gens) {
		snprintf(out, n, "none");
		return;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && off + 1 < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char item[80] = "";
		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->d.dNSName;
			snprintf(item, sizeof(item), "DNS:%.*s", ASN1_STRING_length(s) > 64 ? 64 :
				 ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *s = g->d.iPAddress;
			char ip[INET6_ADDRSTRLEN] = "?";
			if (ASN1_STRING_length(s) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			else if (ASN1_STRING_length(s) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			snprintf(item, sizeof(item), "IP:%s", ip);
		} else {
			snprintf(item, sizeof(item), "other");
		}
		off += (size_t)snprintf(out + off, n - off, "%s%s", i ? ", " : "", item);
	}
	GENERAL_NAMES_free(gens);
	if (off >= n)
		out[n - 1] = '\0';
}

/* TCP connect with a deadline. Returns the fd, or -1 with *verdict and errno-derived text. */
static int tcp_connect(const char *host, int port, int timeout_ms, enum kf_tls_verdict *verdict,
		       char *why, size_t wn)
{
	struct kf_connect_result res;
	int fd = kf_tcp_connect(host, port, kf_now_mono() + timeout_ms / 1000.0, &res);

	*verdict = KF_TLS_UNREACHABLE;
	switch (res.fail) {
	case KF_CONNECT_OK:
		break;
	case KF_CONNECT_RESOLVE:
		snprintf(why, wn, "cannot resolve %s: %s", host, gai_strerror(res.gai));
		return -1;
	case KF_CONNECT_TIMEOUT:
	case KF_CONNECT_INTERRUPTED:
		snprintf(why, wn, "no answer (timed out)");
		return -1;
	case KF_CONNECT_ERRNO:
		if (res.sys == ECONNREFUSED)
			*verdict = KF_TLS_REFUSED;
		snprintf(why, wn, "%s", strerror(res.sys ? res.sys : EHOSTUNREACH));
		return -1;
	}
	/* Blocking from here, with socket timeouts bounding the handshake. */
	{
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The message for a verdict that is not OK. */
static int verdict_error(struct kf_err *err, const struct kf_tls_probe *pr, const char *host,
			 int port, const char *ca_file, const char *name, const char *why)
{
	switch (pr->verdict) {
	case KF_TLS_OK:
		return 0;
	case KF_TLS_REFUSED:
		return kf_err_set(err, KF_ENET,
				  "%s:%d: connection refused: nothing listens there; start the "
				  "registry (k3sforge registry start) or check registry.port",
				  host, port);
	case KF_TLS_UNREACHABLE:
		return kf_err_set(err, strstr(why, "timed out") ? KF_ETIMEOUT : KF_ENET,
				  "%s:%d: %s; check that the address is up and no firewall drops the "
				  "port", host, port, why);
	case KF_TLS_HANDSHAKE:
		return kf_err_set(err, KF_ETLS,
				  "%s:%d: TLS handshake failed (%s): the program on that port does "
				  "not serve TLS with a usable certificate; is it the k3sforge "
				  "registry? (k3sforge registry status)",
				  host, port, why);
	case KF_TLS_UNKNOWN_CA:
		return kf_err_set(err, KF_ETLS,
				  "%s:%d: the served certificate (%s) is not signed by the CA %s "
				  "(%s): the registry serves another CA's certificate; rerun "
				  "`k3sforge prep` to re-issue it and restart the registry",
				  host, port, pr->subject, ca_file,
				  X509_verify_cert_error_string(pr->verify_error));
	case KF_TLS_NAME_MISMATCH:
		return kf_err_set(err, KF_ETLS,
				  "%s:%d: the served certificate does not name %s (its SANs: %s): "
				  "clients connecting to %s would fail the certificate check; rerun "
				  "`k3sforge prep` to re-issue it with %s in its SANs",
				  host, port, name, pr->sans, name, name);
	case KF_TLS_EXPIRED:
		return kf_err_set(err, KF_ETLS,
				  "%s:%d: the served certificate (%s) %s; rerun `k3sforge prep` to "
				  "re-issue it",
				  host, port, pr->subject,
				  pr->verify_error == X509_V_ERR_CERT_NOT_YET_VALID ?
				  "is not valid yet (check the clock)" : "has expired");
	case KF_TLS_BAD_CERT:
		return kf_err_set(err, KF_ETLS,
				  "%s:%d: the served certificate (%s) failed verification: %s; rerun "
				  "`k3sforge prep` to re-issue it",
				  host, port, pr->subject,
				  X509_verify_cert_error_string(pr->verify_error));
	}
	return kf_err_set(err, KF_ETLS, "%s:%d: TLS check failed", host, port);
}

int kf_regserver_tls_check(struct kf_tls_probe *probe, const char *host, int port,
			   const char *ca_file, const char *name, int timeout_ms, struct kf_err *err)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *leaf = NULL;
	struct verify_seen seen;
	char why[256] = "";
	int fd = -1, r = 0, rc;

	memset(probe, 0, sizeof(*probe));
	memset(&seen, 0, sizeof(seen));
	if (!host || !ca_file || port <= 0 || port > 65535)
		return kf_err_set(err, KF_EUSAGE, "TLS check: host, port and CA file are required");
	if (!name)
		name = host;
	if (timeout_ms <= 0)
		timeout_ms = 5000;

	fd = tcp_connect(host, port, timeout_ms, &probe->verdict, why, sizeof(why));
	if (fd < 0) {
		r = verdict_error(err, probe, host, port, ca_file, name, why);
		goto out;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		r = kf_err_set(err, KF_ENOMEM, "TLS: cannot create a context");
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		ERR_clear_error();
		r = kf_err_set(err, KF_ETLS, "%s: cannot read the CA certificate; run `k3sforge prep` "
			       "first", ca_file);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	ssl = SSL_new(ctx);
	if (!ssl) {
		r = kf_err_set(err, KF_ENOMEM, "TLS: cannot create a session");
		goto out;
	}
	SSL_set_app_data(ssl, &seen);
	if (is_ip_literal(name)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	} else {
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set1_host(ssl, name);
	}
	SSL_set_fd(ssl, fd);
	errno = 0;
	rc = SSL_connect(ssl);
	if (rc != 1) {
		int se = SSL_get_error(ssl, rc);
		unsigned long e = ERR_peek_last_error();
		if (se == SSL_ERROR_SYSCALL && errno)
			snprintf(why, sizeof(why), "%s", errno == EAGAIN || errno == EWOULDBLOCK ?
				 "no TLS answer within the timeout" : strerror(errno));
		else if (se == SSL_ERROR_SYSCALL)
			snprintf(why, sizeof(why), "the peer closed the connection");
		else if (e)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "SSL error %d", se);
		ERR_clear_error();
		probe->verdict = KF_TLS_HANDSHAKE;
		r = verdict_error(err, probe, host, port, ca_file, name, why);
		goto out;
	}
	leaf = SSL_get1_peer_certificate(ssl);
	if (leaf) {
		unsigned char *der = NULL;
		int len = i2d_X509(leaf, &der);
		if (len > 0) {
			probe->leaf_der = malloc((size_t)len);
			if (probe->leaf_der) {
				memcpy(probe->leaf_der, der, (size_t)len);
				probe->leaf_der_len = (size_t)len;
			}
		}
		OPENSSL_free(der);
		X509_NAME_oneline(X509_get_subject_name(leaf), probe->subject,
				  (int)sizeof(probe->subject));
		describe_sans(leaf, probe->sans, sizeof(probe->sans));
	}
	/* Most fundamental first: an untrusted chain makes the name moot. */
	if (!leaf) {
		probe->verdict = KF_TLS_BAD_CERT;
		probe->verify_error = X509_V_ERR_UNSPECIFIED;
	} else if (seen.first_ca) {
		probe->verdict = KF_TLS_UNKNOWN_CA;
		probe->verify_error = seen.first_ca;
	} else if (seen.first_time) {
		probe->verdict = KF_TLS_EXPIRED;
		probe->verify_error = seen.first_time;
	} else if (seen.first_name) {
		probe->verdict = KF_TLS_NAME_MISMATCH;
		probe->verify_error = seen.first_name;
	} else if (seen.first_other || SSL_get_verify_result(ssl) != X509_V_OK) {
		probe->verdict = KF_TLS_BAD_CERT;
		probe->verify_error = seen.first_other ? seen.first_other :
			SSL_get_verify_result(ssl);
	} else {
		probe->verdict = KF_TLS_OK;
	}
	r = verdict_error(err, probe, host, port, ca_file, name, why);
	SSL_shutdown(ssl);
out:
	if (r)
		kf_debug("TLS check %s:%d as %s: %s", host, port, name,
			 kf_tls_verdict_name(probe->verdict));
	X509_free(leaf);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (fd >= 0)
		close(fd);
	return r;
}

bool kf_tls_probe_matches_file(const struct kf_tls_probe *probe, const char *cert_file)
{
	FILE *f;
	X509 *x;
	unsigned char *der = NULL;
	int len;
	bool same;

	if (!probe->leaf_der || !cert_file)
		return false;
	f = fopen(cert_file, "rb");
	if (!f)
		return false;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		return false;
	}
	len = i2d_X509(x, &der);
	same = len > 0 && (size_t)len == probe->leaf_der_len &&
	       memcmp(der, probe->leaf_der, (size_t)len) == 0;
	OPENSSL_free(der);
	X509_free(x);
	return same;
}

bool kf_regserver_addr_is_local(const char *addr)
{
	struct ifaddrs *ifs = NULL, *i;
	unsigned char want[16];
	int fam;
	bool found = false;

	if (!addr)
		return false;
	if (inet_pton(AF_INET, addr, want) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, addr, want) == 1)
		fam = AF_INET6;
	else
		return false;
	/* All of 127.0.0.0/8 answers locally on Linux, whether or not lo lists it. */
	if (fam == AF_INET && want[0] == 127)
		return true;
	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != fam)
			continue;
		if (fam == AF_INET)
			found = memcmp(&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, want,
				       4) == 0;
		else
			found = memcmp(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
				       want, 16) == 0;
	}
	freeifaddrs(ifs);
	return found;
}
