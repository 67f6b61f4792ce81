/* The images each add-on needs (addons.h). */
#include "k3sforge/addons.h"

#include <string.h>

/* KubeSphere v4.1.3's ks-core chart with its default values (tech-notes §6). */
static const char *const kubesphere_v413[] = {
	"docker.io/kubesphere/ks-apiserver:v4.1.3",
	"docker.io/kubesphere/ks-console:v4.1.3",
	"docker.io/kubesphere/ks-controller-manager:v4.1.3",
	"docker.io/kubesphere/kubectl:v1.27.16",
	"docker.io/kubesphere/ks-extensions-museum:v1.1.3",
	NULL,
};
static const char *const none[] = { NULL };

const char *const *kf_addon_images(const struct kf_config *cfg)
{
	if (!cfg->addons.kubesphere)
		return none;
	if (cfg->addons.kubesphere_version && strcmp(cfg->addons.kubesphere_version, "v4.1.3") == 0)
		return kubesphere_v413;
	return none;
}
