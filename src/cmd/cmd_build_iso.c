/* placeholder replaced below */
#include "k3sforge/cmd.h"
const struct kf_cmd kf_cmd_build_iso = { .name = "build-iso", .summary = "x", .usage = "x" };
