/* PLACEHOLDER while the loader is written on its branch; replaced before landing. */
#include <stdlib.h>
#include "k3sforge/config.h"

int kf_config_load(struct kf_config **out, const char *path, struct kf_err *err)
{
	*out = NULL;
	return kf_err_set(err, KF_EUNSUPPORTED, "%s: loader pending", path);
}

int kf_config_load_mem(struct kf_config **out, const char *name, const char *data, size_t len,
		       struct kf_err *err)
{
	(void)data;
	(void)len;
	*out = NULL;
	return kf_err_set(err, KF_EUNSUPPORTED, "%s: loader pending", name);
}

int kf_config_check(const char *path, char ***messages, size_t *n, struct kf_err *err)
{
	*messages = NULL;
	*n = 0;
	return kf_err_set(err, KF_EUNSUPPORTED, "%s: loader pending", path);
}

char *kf_config_show(const struct kf_config *cfg)
{
	(void)cfg;
	return NULL;
}
