/* libFuzzer target: the WWW-Authenticate challenge parser (the header comes from any registry
 * the operator names, or from whoever sits between). Build and run: tests/fuzz/www_auth.sh
 * [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/oci.h"

static void check_value(const char *v, size_t max)
{
	if (!v)
		return;
	if (strlen(v) > max)
		abort();   /* a value cannot be longer than the header */
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();   /* control characters are refused, never passed on */
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct kf_oci_challenge ch;
	char *text = malloc(len + 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, buf, len);
	text[len] = '\0';
	rc = kf_oci_challenge_parse(text, &ch);
	if (rc == 0) {
		size_t n = strlen(text);
		check_value(ch.realm, n);
		check_value(ch.service, n);
		check_value(ch.scope, n);
		if (ch.scheme == KF_OCI_AUTH_BEARER && strcasecmp(ch.scheme_name, "Bearer") != 0)
			abort();
	} else if (ch.realm || ch.service || ch.scope) {
		abort();   /* a failed parse leaves nothing behind */
	}
	kf_oci_challenge_free(&ch);
	free(text);
	return 0;
}
