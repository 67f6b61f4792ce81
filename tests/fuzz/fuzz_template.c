/* libFuzzer target: the template engine (templates are files users edit) against a fixed
 * data set with strings, numbers, lists and nested objects. Build and run:
 * tests/fuzz/template.sh [seconds]. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/render.h"

static json_t *data(void)
{
	static json_t *d;

	if (!d)
		d = json_loads("{\"a\":\"x\",\"n\":3,\"t\":true,\"e\":\"\",\"l\":[\"p\",\"q\",{\"k\":\"v\"}],"
			       "\"o\":{\"b\":{\"c\":\"line1\\nline2\\n\"}},\"z\":[]}",
			       0, NULL);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	char *text = malloc(len + 1), *out = NULL;
	struct kf_err err;

	if (!text)
		return 0;
	memcpy(text, buf, len);
	text[len] = '\0';
	if (kf_tpl_render(&out, "fuzz", text, data(), &err) == 0 && !out)
		abort(); /* success must give a result */
	free(out);
	free(text);
	return 0;
}
