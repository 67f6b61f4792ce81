#!/usr/bin/env bash
# Guest tier: the failure paths, on one QEMU guest (the master) whose seed payload carries a
# corrupt airgap tarball (bytes changed after SHA256SUMS was written), whose clock starts six
# years behind, and whose lab registry is down (192.168.6.1:5000 leads to a closed port):
# sync-time falls back to the build timestamp, the bootstrap unit fails loudly without a role
# marker, and `k3sforge wait`, started with the guest, stops as soon as the unit has failed
# (not at its deadline) with the node's diagnosis.
set -uo pipefail
# shellcheck source=tests/guest/lib/guest.sh
source "$KF_SOURCE_DIR/tests/guest/lib/guest.sh"

M=k3s-master1
AIRGAP=k3s-airgap-images-amd64.tar.zst
WAIT_TIMEOUT=780
gt_init
gt_lab || exit 1
cp -a "$GT_WORK/payload" "$GT_WORK/payload-bad"
# flip bytes in the middle of the tarball; SHA256SUMS keeps the good digest
python3 - "$GT_WORK/payload-bad/$AIRGAP" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in range(len(b) // 2, len(b) // 2 + 16):
    b[i] ^= 0xFF
open(p, "wb").write(bytes(b))
PY
mke2fs -q -t ext4 -L kfpayload -d "$GT_WORK/payload-bad" "$GT_WORK/payload-bad.img" 64M || exit 1
BUILD_TS=$(sed -n 's/^ *BUILD_TS=\([0-9]*\)$/\1/p' "$GT_WORK/seeds/$M/user-data" | head -n 1)
# a one-node lab: the worker is not booted here
sed -i '/name: k3s-worker1/d' "$GT_WORK/k3sforge.yaml"

gt_boot "$M" --registry-down --payload "$GT_WORK/payload-bad.img" -rtc base=2020-01-01T00:00:00
t0=$SECONDS
gt_kf wait --no-vmrun --timeout "$WAIT_TIMEOUT" >"$GT_WORK/wait.log" 2>&1
WAIT_RC=$?
WAIT_S=$((SECONDS - t0))
gt_log "k3sforge wait exited $WAIT_RC after ${WAIT_S}s"
gt_wait_ssh "$M" 60 || exit 1

test_sync_time_falls_back_to_the_build_timestamp() {
	local j guest moved
	j=$(gt_ssh "$M" sudo journalctl -u sync-time -q --no-pager -o cat)
	echo "$j"
	[ -n "$BUILD_TS" ] || { echo "no BUILD_TS in the rendered user-data"; return 1; }
	moved=$(sed -n 's/.*before the build timestamp: moved to //p' <<<"$j")
	[ -n "$moved" ] && [ "$(date -u -d "$moved" +%s)" = "$BUILD_TS" ] ||
		{ echo "moved to '$moved', build timestamp $(date -u -d "@$BUILD_TS")"; return 1; }
	grep -q "did not answer over TLS" <<<"$j" || return 1
	guest=$(gt_ssh "$M" date -u +%s)
	[ "$guest" -ge "$BUILD_TS" ] || { echo "guest clock $guest before the build timestamp $BUILD_TS"; return 1; }
}

test_corrupt_airgap_tarball_fails_the_bootstrap_unit_loudly() {
	local j
	gt_ssh "$M" systemctl is-failed --quiet k3s-bootstrap.service ||
		{ echo "unit is $(gt_ssh "$M" systemctl is-active k3s-bootstrap.service)"; return 1; }
	j=$(gt_ssh "$M" sudo journalctl -u k3s-bootstrap -q --no-pager -o cat)
	echo "$j"
	grep -q "ERROR: /usr/local/seed/$AIRGAP is corrupt (sha256" <<<"$j"
}

test_no_role_marker_and_no_k3s_after_the_failure() {
	gt_ssh "$M" test ! -e /var/lib/k3s-bootstrap.done || { echo "marker written"; return 1; }
	gt_ssh "$M" test ! -e /usr/local/bin/k3s || { echo "k3s installed from a corrupt payload"; return 1; }
	gt_ssh "$M" test ! -e /var/lib/rancher/k3s/agent/images/$AIRGAP || { echo "tarball installed"; return 1; }
}

test_wait_stops_when_the_unit_fails_with_the_diagnosis() {
	local out
	out=$(cat "$GT_WORK/wait.log")
	echo "$out"
	# exit status 1 (a failure), not 5 (timed out): wait did not sit out its deadline
	[ "$WAIT_RC" -eq 1 ] || { echo "wait exited $WAIT_RC"; return 1; }
	[ "$WAIT_S" -lt "$WAIT_TIMEOUT" ] || return 1
	grep -q "1 of 1 node failed to bootstrap: $M (its k3s-bootstrap unit failed" <<<"$out" ||
		{ echo "no failure naming $M"; return 1; }
	grep -q "$AIRGAP is corrupt" <<<"$out" || { echo "no journal tail"; return 1; }
	grep -qi "status: " <<<"$out" || { echo "no cloud-init status"; return 1; }
}

for t in test_sync_time_falls_back_to_the_build_timestamp \
	test_corrupt_airgap_tarball_fails_the_bootstrap_unit_loudly \
	test_no_role_marker_and_no_k3s_after_the_failure \
	test_wait_stops_when_the_unit_fails_with_the_diagnosis; do
	check "$t"
done
gt_log "total $((SECONDS - t0))s since boot"
gt_finish
