/* The add-ons' own images: what the lab registry must serve for each configured add-on, whatever
 * mirrors them (prep, bundle export, backup) or checks them (status). */
#ifndef K3SFORGE_ADDONS_H
#define K3SFORGE_ADDONS_H

#include "k3sforge/config.h"

/* The images the configured add-ons need (Docker-style references), NULL-terminated, static. */
const char *const *kf_addon_images(const struct kf_config *cfg);

#endif
