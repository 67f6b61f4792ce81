#!/usr/bin/env bash
# `k3sforge up` from nothing to every node Ready on real VMs (not a test): hypervisor: qemu,
# image mode (the guest tier's Debian 12 test image as guest.image), two nodes (a master and a
# worker, 1 vCPU and 1 GiB each), KubeSphere off, in a network namespace of its own (the lab of
# tests/guest/lib/qemu_lab.sh). Prints the wall time of `up` and each stage's share (the stage
# summary `up` logs), then `status`, and destroys the lab.
#
#   sudo bench/up.sh [BIN]     env: ACCEL (tcg; kvm where KVM works), KF_KEEP=1 keeps the dir
#
# Needs root (the namespace, taps), the guest tier's tools (scripts/install-deps.sh) and the
# cached test image (tests/guest/lib/image.sh builds it once).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export KF_SOURCE_DIR=${KF_SOURCE_DIR:-$(cd "$HERE/.." && pwd)}
export K3SFORGE_BIN=${1:-${K3SFORGE_BIN:-$KF_SOURCE_DIR/build/k3sforge}}
if [ "${KF_QL_NETNS:-}" != 1 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/up.sh: needs root (network namespace, taps)" >&2; exit 1; }
	exec unshare --net -- env KF_QL_NETNS=1 bash "$0" "$@"
fi
QL_NAME=bench-up
# shellcheck source=tests/guest/lib/qemu_lab.sh
source "$KF_SOURCE_DIR/tests/guest/lib/qemu_lab.sh"
ql_setup || exit 1
if [ -n "${ACCEL:-}" ]; then
	sed -i "s/accel: tcg/accel: $ACCEL/" "$CFG"
fi

load() { cut -d ' ' -f 1 /proc/loadavg; }
echo "k3sforge $("$K3SFORGE_BIN" --version 2>&1 | head -n 1), $(nproc) cores, accel ${ACCEL:-tcg}, load before: $(load)"
t0=$(date +%s.%N)
kf up --artifacts-from "$REL" >"$WORK/up.log" 2>&1
rc=$?
t1=$(date +%s.%N)
echo "up exit $rc, wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s, load after: $(load)"
sed -n '/stage summary:/,/total/p' "$WORK/up.log" | sed 's/^.*INFO  //'
[ "$rc" -eq 0 ] || { tail -n 30 "$WORK/up.log"; exit 1; }
kf status 2>&1 | sed -n '1,4p'
kf destroy --yes >/dev/null 2>&1
