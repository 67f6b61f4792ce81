/* libFuzzer target for the k3sforge.yaml loader: any input must load or be refused with a
 * message, never crash, hang or leak; and whatever loads must print (config show) to YAML that
 * loads again and prints the same. Built and run by tests/fuzz/run.sh, not by CMake. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k3sforge/config.h"
#include "k3sforge/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kf_config *c = NULL, *c2 = NULL;
	struct kf_err e;
	char *shown, *shown2;

	kf_err_clear(&e);
	if (kf_config_load_mem(&c, "fuzz.yaml", (const char *)data, size, &e) != 0) {
		/* Refused: the reason must be a non-empty "file:line:col: message". */
		if (c || strncmp(e.msg, "fuzz.yaml:", 10) != 0 || e.code == 0)
			abort();
		return 0;
	}
	shown = kf_config_show(c);
	if (!shown)
		abort();
	if (c->addons.admin_password) {
		/* Masked; and "***" reads back as "not set", so compare without it. */
		if (!strstr(shown, "    admin_password: \"***\"\n"))
			abort();
		free(c->addons.admin_password);
		c->addons.admin_password = NULL;
		free(shown);
		if (!(shown = kf_config_show(c)))
			abort();
	}
	if (kf_config_load_mem(&c2, "fuzz.yaml", shown, strlen(shown), &e) != 0)
		abort(); /* show printed something load refuses */
	shown2 = kf_config_show(c2);
	if (!shown2 || strcmp(shown, shown2) != 0)
		abort(); /* not a fixed point: a value changed on the way through */
	free(shown2);
	free(shown);
	kf_config_free(c2);
	kf_config_free(c);
	return 0;
}
