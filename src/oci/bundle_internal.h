/* Internal to src/oci: what the bundle's writer (bundle_export.c) and reader (bundle.c) share.
 * Not a public interface. */
#ifndef KF_OCI_BUNDLE_INTERNAL_H
#define KF_OCI_BUNDLE_INTERNAL_H

#include <stdbool.h>

#include "k3sforge/tar.h"

#define BLOCK KF_TAR_BLOCK
#define BUNDLE_JSON "k3sforge-bundle.json"

/* A name allowed for an extra file (files/<name>): 1 to KF_BUNDLE_FILE_NAME_MAX bytes of
 * [A-Za-z0-9._+-], not "." or "..". The writer refuses what the reader would refuse. */
bool kf_bundle_file_name_ok(const char *n);

#endif
