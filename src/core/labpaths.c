/* The lab's contracts that are functions rather than strings (labpaths.h). */
#include "k3sforge/labpaths.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *kf_role_marker(enum kf_role role)
{
	return role == KF_ROLE_MASTER ? KF_MARKER_MASTER : KF_MARKER_WORKER;
}

const char *kf_role_unit(enum kf_role role)
{
	return role == KF_ROLE_MASTER ? KF_UNIT_BOOTSTRAP_MASTER : KF_UNIT_BOOTSTRAP_WORKER;
}

const char *kf_role_k3s_unit(enum kf_role role)
{
	return role == KF_ROLE_MASTER ? KF_UNIT_K3S_MASTER : KF_UNIT_K3S_WORKER;
}

char *kf_registry_hostport(const struct kf_config *cfg)
{
	const char *ip = cfg->registry.host_ip ? cfg->registry.host_ip : "";
	bool v6 = strchr(ip, ':') != NULL;
	char *s;

	if (asprintf(&s, "%s%s%s:%d", v6 ? "[" : "", ip, v6 ? "]" : "", cfg->registry.port) < 0)
		return NULL;
	return s;
}
