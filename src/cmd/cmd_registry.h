/* `k3sforge registry`'s verbs that show things (cmd_registry_show.c), for its dispatcher
 * (cmd_registry.c). Internal to src/cmd. */
#ifndef K3SFORGE_CMD_REGISTRY_H
#define K3SFORGE_CMD_REGISTRY_H

#include "k3sforge/cmd.h"

/* Bounds for `ls`: repositories in the catalog, tags per repository. */
#define LS_MAX_REPOS 100000
#define LS_MAX_TAGS 100000

/* --registry and --ca (ls only). */
extern const char *kf_registry_opt_registry, *kf_registry_opt_ca;

/* registry status: the registry's state, as text or one registry_status event. */
int kf_cmd_registry_status(struct kf_ctx *ctx, int argc, char **argv);
/* registry ls [REPOSITORY...]: repositories and their tags, as a table or one event. */
int kf_cmd_registry_ls(struct kf_ctx *ctx, int argc, char **argv);

#endif
