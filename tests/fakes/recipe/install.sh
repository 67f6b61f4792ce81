#!/bin/sh
# Test double of k3s's install.sh for the bootstrap sandbox tests: checks what the real one
# checks with INSTALL_K3S_SKIP_DOWNLOAD (the binary already in place) and logs its call.
set -eu
root="${K3SFORGE_ROOT:?K3SFORGE_ROOT must be set for the test double}"
echo "install.sh SKIP_DOWNLOAD=${INSTALL_K3S_SKIP_DOWNLOAD:-} SKIP_START=${INSTALL_K3S_SKIP_START:-} EXEC=${INSTALL_K3S_EXEC:-}" >>"$root/fake.log"
[ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ] || { echo "install.sh: would download" >&2; exit 1; }
[ -x "$root/usr/local/bin/k3s" ] || { echo "Executable k3s binary not found at $root/usr/local/bin/k3s" >&2; exit 1; }
