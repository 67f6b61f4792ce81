/* Registry authentication (see oci.c): credentials from a docker config.json, the token
 * cache, Bearer tokens fetched from the realm a 401 challenge names, basic auth. */
#include "k3sforge/oci.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k3sforge/buf.h"
#include "k3sforge/fs.h"
#include "k3sforge/http.h"
#include "k3sforge/log.h"
#include "k3sforge/platform.h"

#include "oci_internal.h"

/* base64 decode for docker config "auth" values. */
static int b64_decode(const char *in, char **out)
{
	size_t n = strlen(in);
	unsigned char *buf = malloc(n + 4);
	int len;

	if (!buf)
		return -1;
	len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (len < 0) {
		free(buf);
		return -1;
	}
	while (n > 0 && in[n - 1] == '=') {
		len--;
		n--;
	}
	buf[len] = '\0';
	*out = (char *)buf;
	return 0;
}

void kf_oci_load_docker_config_creds(struct kf_oci_registry *r, const char *path)
{
	char *data = NULL, *dflt = NULL, *decoded = NULL;
	size_t len;
	json_t *root = NULL, *auths, *ent, *auth;
	struct kf_err e;
	const char *host = r->name;
	const char *keys[4];

	if (!path) {
		const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
		if (dc)
			dflt = kf_path_join(dc, "config.json");
		else if (home)
			dflt = kf_path_join(home, ".docker/config.json");
		path = dflt;
	}
	if (!path || kf_fs_read(&data, &len, path, 1024 * 1024, &e) != 0)
		goto out;
	if (!(root = json_loadb(data, len, 0, NULL)) || !(auths = json_object_get(root, "auths")))
		goto out;
	keys[0] = host;
	keys[1] = strcmp(host, "docker.io") == 0 ? "https://index.docker.io/v1/" : host;
	keys[2] = strcmp(host, "docker.io") == 0 ? "index.docker.io" : host;
	keys[3] = NULL;
	for (int i = 0; keys[i]; i++) {
		char *colon;
		if (!(ent = json_object_get(auths, keys[i])))
			continue;
		if (!(auth = json_object_get(ent, "auth")) || !json_is_string(auth))
			continue;
		if (b64_decode(json_string_value(auth), &decoded) != 0)
			continue;
		if ((colon = strchr(decoded, ':'))) {
			*colon = '\0';
			r->user = strdup(decoded);
			r->password = strdup(colon + 1);
			if (r->password)
				kf_log_add_secret(r->password);
		}
		kf_freezero(decoded, strlen(decoded) + (colon ? strlen(colon + 1) + 1 : 0));
		decoded = NULL;
		break;
	}
out:
	kf_freezero(data, len);
	json_decref(root);
	free(dflt);
}

/* The Authorization header for a scope from the token cache or basic credentials (caller
 * frees; wiped). NULL when none. */
char *kf_oci_auth_header(struct kf_oci_registry *r, const char *scope)
{
	char *out = NULL;
	double now = kf_now_mono();

	pthread_mutex_lock(&r->mu);
	for (struct token *t = r->tokens; t; t = t->next) {
		if (strcmp(t->scope, scope ? scope : "") == 0 && t->expires > now) {
			size_t n = strlen(t->value) + 32;
			if ((out = malloc(n)))
				snprintf(out, n, "Authorization: Bearer %s", t->value);
			break;
		}
	}
	if (!out && r->use_basic && r->user && r->password) {
		size_t n = strlen(r->user) + strlen(r->password) + 2;
		size_t en = 4 * ((n + 2) / 3) + 1;
		char *plain = malloc(n), *enc = malloc(en);
		if (plain && enc) {
			snprintf(plain, n, "%s:%s", r->user, r->password);
			EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)strlen(plain));
			if ((out = malloc(en + 32)))
				snprintf(out, en + 32, "Authorization: Basic %s", enc);
			OPENSSL_cleanse(plain, n);
			OPENSSL_cleanse(enc, en);
		}
		free(plain);
		free(enc);
	}
	pthread_mutex_unlock(&r->mu);
	return out;
}

void kf_oci_free_secret(char *s)
{
	kf_freezero_str(s);
}

static int url_escape_append(struct kf_buf *b, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	int r;

	if (!e)
		return KF_ENOMEM;
	r = kf_buf_puts(b, e);
	curl_free(e);
	return r;
}

/* Answers a 401: fetches a Bearer token for the scope from the challenge's realm, or switches to
 * basic credentials. */
int kf_oci_authenticate(struct kf_oci_registry *r, const char *challenge, const char *scope,
			struct kf_err *err)
{
	char *tok = NULL, *basic = NULL;
	const char *realm, *service;
	struct kf_oci_challenge ch;
	struct kf_buf url = KF_BUF_INIT;
	struct resp rs;
	json_t *root = NULL, *v;
	struct req q = { 0 };
	CURLcode cc;
	long expires_in = 60;
	int rc = 0;

	kf_oci_resp_init(&rs, TOKEN_MAX);
	if ((rc = kf_oci_challenge_parse(challenge, &ch)) != 0) {
		rc = kf_err_set(err, rc == KF_ENOMEM ? KF_ENOMEM : KF_EAUTH,
				"registry %s: %s WWW-Authenticate challenge '%.60s'", r->name,
				rc == KF_ELIMIT ? "an oversized" : "a malformed", challenge);
		goto out;
	}
	realm = ch.realm;
	service = ch.service;
	if (ch.scheme == KF_OCI_AUTH_BASIC) {
		if (!r->user || !r->password) {
			rc = kf_err_set(err, KF_EAUTH,
					"registry %s asks for a user name and password; set "
					"K3SFORGE_REGISTRY_USER/K3SFORGE_REGISTRY_PASSWORD or log in "
					"with docker login", r->name);
			goto out;
		}
		pthread_mutex_lock(&r->mu);
		r->use_basic = true;
		pthread_mutex_unlock(&r->mu);
		goto out;
	}
	if (ch.scheme != KF_OCI_AUTH_BEARER) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: unsupported authentication scheme '%s'",
				r->name, ch.scheme_name);
		goto out;
	}
	if (!realm) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: Bearer challenge without realm", r->name);
		goto out;
	}
	if (strncasecmp(realm, "https://", 8) != 0 &&
	    !(strncasecmp(realm, "http://", 7) == 0 && kf_http_url_is_loopback(realm))) {
		rc = kf_err_set(err, KF_EAUTH, "registry %s: token realm %s is not https", r->name,
				realm);
		goto out;
	}
	kf_buf_init(&url, 8192);
	rc = kf_buf_puts(&url, realm);
	if (!rc && service) {
		rc = kf_buf_puts(&url, strchr(realm, '?') ? "&service=" : "?service=");
		if (!rc)
			rc = url_escape_append(&url, service);
	}
	if (!rc && scope) {
		/* one scope= per space-separated scope */
		char *copy = strdup(scope), *save = NULL, *s;
		for (s = copy ? strtok_r(copy, " ", &save) : NULL; s && !rc;
		     s = strtok_r(NULL, " ", &save)) {
			rc = kf_buf_puts(&url, (strchr(kf_buf_str(&url), '?')) ? "&scope=" : "?scope=");
			if (!rc)
				rc = url_escape_append(&url, s);
		}
		free(copy);
	}
	if (rc) {
		rc = kf_err_set(err, KF_ELIMIT, "registry %s: token URL too long", r->name);
		goto out;
	}
	q.method = "GET";
	q.url = kf_buf_str(&url);
	q.body_max = TOKEN_MAX;
	if (r->user && r->password) {
		size_t n = strlen(r->user) + strlen(r->password) + 2, en = 4 * ((n + 2) / 3) + 1;
		char *plain = malloc(n), *enc = malloc(en);
		if (plain && enc) {
			snprintf(plain, n, "%s:%s", r->user, r->password);
			EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)strlen(plain));
			if ((basic = malloc(en + 32)))
				snprintf(basic, en + 32, "Authorization: Basic %s", enc);
			OPENSSL_cleanse(plain, n);
			OPENSSL_cleanse(enc, en);
		}
		free(plain);
		free(enc);
	}
	if ((rc = kf_oci_perform(r, &q, basic, &rs, &cc)) != 0 || cc != CURLE_OK) {
		char why[160];
		if (!rc && cc == CURLE_ABORTED_BY_CALLBACK && rs.watch.stop != KF_HTTP_RUNNING)
			rc = kf_err_set(err, rs.watch.stop == KF_HTTP_INTERRUPTED ? KF_EINTR
										  : KF_ETIMEOUT,
					"token request to %s: %s", realm,
					kf_http_watch_reason(&rs.watch, why, sizeof(why)));
		else if (!rc && cc == CURLE_WRITE_ERROR && rs.hdr_over)
			rc = kf_err_set(err, KF_ELIMIT, "token request to %s: the %s is too long",
					realm, rs.hdr_over);
		else
			rc = kf_err_set(err, KF_ENET, "token request to %s failed: %s", realm,
					rs.curl_err[0] ? rs.curl_err : curl_easy_strerror(cc));
		goto out;
	}
	if (rs.status != 200) {
		rc = kf_err_set(err, rs.status == 401 || rs.status == 403 ? KF_EAUTH : KF_EHTTP,
				"token request to %s: HTTP %ld (check the registry credentials)", realm,
				rs.status);
		goto out;
	}
	if (!(root = json_loadb(kf_buf_str(&rs.body), rs.body.len, 0, NULL))) {
		rc = kf_err_set(err, KF_EPARSE, "token answer from %s is not JSON", realm);
		goto out;
	}
	v = json_object_get(root, "token");
	if (!json_is_string(v))
		v = json_object_get(root, "access_token");
	if (!json_is_string(v) || !json_string_length(v)) {
		rc = kf_err_set(err, KF_EAUTH, "token answer from %s has no token", realm);
		goto out;
	}
	tok = strdup(json_string_value(v));
	if (json_is_integer(json_object_get(root, "expires_in")))
		expires_in = (long)json_integer_value(json_object_get(root, "expires_in"));
	if (expires_in < 10)
		expires_in = 10;
	if (!tok) {
		rc = kf_err_set(err, KF_ENOMEM, "out of memory");
		goto out;
	}
	kf_log_add_secret(tok);
	{
		struct token *t = calloc(1, sizeof(*t));
		if (!t || !(t->scope = strdup(scope ? scope : ""))) {
			free(t);
			rc = kf_err_set(err, KF_ENOMEM, "out of memory");
			goto out;
		}
		t->value = tok;
		tok = NULL;
		t->expires = kf_now_mono() + (double)expires_in - 5;
		pthread_mutex_lock(&r->mu);
		t->next = r->tokens;
		r->tokens = t;
		pthread_mutex_unlock(&r->mu);
	}
out:
	if (root) {
		/* the JSON held the token */
		json_decref(root);
	}
	if (rs.body.data)
		OPENSSL_cleanse(rs.body.data, rs.body.len);
	kf_oci_resp_free(&rs);
	kf_buf_free(&url);
	kf_oci_free_secret(tok);
	kf_oci_free_secret(basic);
	kf_oci_challenge_free(&ch);
	return rc;
}

