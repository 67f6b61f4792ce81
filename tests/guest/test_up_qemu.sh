#!/usr/bin/env bash
# Guest tier: `k3sforge up` end to end on real VMs that k3sforge itself creates and drives, with
# hypervisor: qemu (TCG) in image mode. In a network namespace this test makes: a bridge k3sbr0
# at 192.168.6.1/24 (the lab's VMnet1: the registry k3sforge runs listens there, the nodes at
# .10/.11 are reached straight over it, no port forwards), a source registry holding the fake
# release's images on 127.0.0.1, the fake k3s release (tests/guest/lib/release.py) in a folder.
# guest.image is the cached test image as a bootable disk (lib/disk.sh).
#
# One run, two guests, and every behaviour checked on it:
#   up from nothing, SIGKILLed while it waits on the nodes, then up again resumes (the VMs
#   running on, not recreated) and finishes: nodes Ready (stand-in k3s), kubeconfig's /version
#   probe at https://192.168.6.10:6443, status exit 0; snapshot create + revert (live); up again
#   is a no-op; destroy leaves no QEMU process and no VM folder.
# Folded in from test_cluster.sh, on these guests instead of two more (what overlaps): cloud-init
# done without errors, the hostname, the operator's key the only way in with the pinned host key
# (k3sforge's known_hosts, strict), the payload copied and checked, the role markers, the clock
# synced. Not repeated here: the clock started years behind (test_cluster.sh keeps it) and the
# wrong-host-key refusal.
set -uo pipefail

if [ "${KF_QL_NETNS:-}" != 1 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "test_up_qemu: needs root (network namespace, taps)" >&2; exit 1; }
	# everything below runs in a network namespace of its own: the bridge, the taps, the
	# registry on 192.168.6.1 never touch the host's network
	exec unshare --net -- env KF_QL_NETNS=1 bash "$0" "$@"
fi

# shellcheck source=tests/guest/lib/qemu_lab.sh
source "$KF_SOURCE_DIR/tests/guest/lib/qemu_lab.sh"
ql_setup || exit 1

# the shared harness (check, h_summary); its exit trap takes over qemu_lab's, which it runs
# shellcheck source=tests/lib/harness.sh
source "$KF_SOURCE_DIR/tests/lib/harness.sh"
h_on_exit ql_cleanup

# ---- up, killed while it waits, then up again --------------------------------------------------

T0=$SECONDS
# k3sforge itself in the background (not through a function: $! must be its pid)
"$K3SFORGE_BIN" -c "$CFG" -o "$OUT" up --artifacts-from "$REL" >"$WORK/up1.log" 2>&1 &
UP_PID=$!
# SIGKILL once the wait stage has begun (both VMs are on by then)
for _ in $(seq 1800); do
	grep -q "start: wait" "$WORK/up1.log" 2>/dev/null && break
	kill -0 "$UP_PID" 2>/dev/null || break
	sleep 0.5
done
sleep 5
PIDS_BEFORE=$(qemu_pids)
DISKS_BEFORE=$(stat -c '%n %i' "$OUT"/vms/*/*.qcow2 2>/dev/null)
kill -KILL "$UP_PID" 2>/dev/null
wait "$UP_PID" 2>/dev/null
UP1_RC=$?
UP_PID=
log "first up killed (rc $UP1_RC) after $((SECONDS - T0))s; QEMU pids: $PIDS_BEFORE"
kf up --artifacts-from "$REL" >"$WORK/up2.log" 2>&1
UP2_RC=$?
UP_SECONDS=$((SECONDS - T0))
log "second up exited $UP2_RC, $UP_SECONDS s after the first began"

test_first_up_was_killed_while_waiting() {
	[ "$UP1_RC" -eq 137 ] || { echo "first up exited $UP1_RC"; cat "$WORK/up1.log"; return 1; }
	grep -q "create-vms" "$WORK/up1.log" || { cat "$WORK/up1.log"; return 1; }
	[ -n "$PIDS_BEFORE" ] || { echo "no QEMU running when up was killed"; return 1; }
}

test_second_up_resumes_and_finishes() {
	cat "$WORK/up2.log"
	[ "$UP2_RC" -eq 0 ] || return 1
	# prep, build-iso and create-vms were done: not run again
	grep -q "skip: create-vms" "$WORK/up2.log" || return 1
}

test_vms_were_not_recreated_by_the_resume() {
	# finalize restarts each VM once (media out), so the QEMU pids change; the disks do not:
	# create-vms would have made new files
	local now
	now=$(stat -c '%n %i' "$OUT"/vms/*/*.qcow2 2>/dev/null)
	[ -n "$DISKS_BEFORE" ] && [ "$now" = "$DISKS_BEFORE" ] ||
		{ echo "disks before: $DISKS_BEFORE"; echo "disks after: $now"; return 1; }
}

test_kubeconfig_probe_at_the_master_address() {
	grep -q "API server at https://192.168.6.10:6443 answers" "$WORK/up2.log" ||
		{ grep -i kubeconfig "$WORK/up2.log"; return 1; }
	[ -f "$OUT/kubeconfig" ] || return 1
	grep -q "server: https://192.168.6.10:6443" "$OUT/kubeconfig"
}

# `status` with room for TCG on a shared 2-core host: each SSH step may take 20 s (default 3),
# and an emulated guest's clock may drift a few seconds from the host's in minutes (default
# 2 s; test_guest_clock_follows_the_registry checks the clock itself, within 30 s).
STATUS_OPTS=(--timeout 20000 --max-skew 10)

test_status_is_healthy() {
	kf status "${STATUS_OPTS[@]}" >"$WORK/status.log" 2>&1 || { cat "$WORK/status.log"; return 1; }
	# both nodes: powered on, SSH, marker, k3s active, Ready (the stand-in's node list)
	[ "$(awk '$1 ~ /^k3s-/ && $3 == "on" && $5 == "yes" && $6 == "yes" && $8 == "yes"' \
		"$WORK/status.log" | wc -l)" -eq 2 ] || { cat "$WORK/status.log"; return 1; }
}

test_finalize_took_the_cds_out() {
	local n
	for n in "$M" "$W"; do
		grep -q '"media": \[\]' "$OUT/vms/$n/$n.qemu.json" || { cat "$OUT/vms/$n/$n.qemu.json"; return 1; }
		# and the guest sees no CD drive with a medium
		ssh_node "$n" "! blkid -L cidata && ! blkid -L KFPAYLOAD" ||
			{ echo "$n still sees a CD"; return 1; }
	done
}

# folded from test_cluster.sh
test_cloud_init_done_without_errors() {
	local n out
	for n in "$M" "$W"; do
		out=$(ssh_node "$n" cloud-init status --long) || { echo "$n: $out"; return 1; }
		grep -q '^status: done' <<<"$out" || { echo "$n: $out"; return 1; }
		ssh_node "$n" jq -e "'.v1.errors == []'" /run/cloud-init/result.json >/dev/null ||
			{ ssh_node "$n" cat /run/cloud-init/result.json; return 1; }
	done
}

test_hostnames_role_markers_and_payload() {
	local n
	for n in "$M" "$W"; do
		[ "$(ssh_node "$n" hostname)" = "$n" ] || { echo "$n: hostname $(ssh_node "$n" hostname)"; return 1; }
		ssh_node "$n" test -f /var/lib/iso-copy-complete || { echo "$n: payload not copied"; return 1; }
		ssh_node "$n" "cd /usr/local/seed && sha256sum --check --quiet SHA256SUMS" ||
			{ echo "$n: payload does not match SHA256SUMS"; return 1; }
	done
	ssh_node "$M" test -f /var/lib/k3s-bootstrap.done || return 1
	ssh_node "$W" test -f /var/lib/k3s-agent-bootstrap.done || return 1
}

test_only_the_operator_key_logs_in() {
	local n keys want
	want=$(cut -d ' ' -f 1,2 "$OUT/ssh/id_ed25519.pub") || return 1
	[ -n "$want" ] || return 1
	for n in "$M" "$W"; do
		keys=$(ssh_node "$n" cat .ssh/authorized_keys | cut -d ' ' -f 1,2)
		[ "$keys" = "$want" ] || { echo "$n: authorized_keys: $keys"; return 1; }
	done
}

test_guest_clock_follows_the_registry() {
	local g h
	g=$(ssh_node "$M" date -u +%s) h=$(date -u +%s)
	[ $((g > h ? g - h : h - g)) -le 30 ] || { echo "guest $g host $h"; return 1; }
	ssh_node "$M" test -f /var/lib/sync-time-enabled
}

check test_first_up_was_killed_while_waiting
check test_second_up_resumes_and_finishes
check test_vms_were_not_recreated_by_the_resume
check test_kubeconfig_probe_at_the_master_address
check test_status_is_healthy
check test_finalize_took_the_cds_out
check test_cloud_init_done_without_errors
check test_hostnames_role_markers_and_payload
check test_only_the_operator_key_logs_in
check test_guest_clock_follows_the_registry

# ---- snapshots, up again, destroy ------------------------------------------------------------

test_snapshot_create_and_revert() {
	kf snapshot create before-change || return 1
	kf snapshot list | grep -q before-change || { kf snapshot list; return 1; }
	# a change after the snapshot, undone by the revert
	ssh_node "$M" sudo touch /var/lib/after-snapshot || return 1
	kf snapshot revert before-change --yes >"$WORK/revert.log" 2>&1 || { cat "$WORK/revert.log"; return 1; }
	# no guest tools: k3sforge set each clock again over SSH (live snapshots take the clock back)
	[ "$(grep -c "clock set again" "$WORK/revert.log")" -eq 2 ] || { cat "$WORK/revert.log"; return 1; }
	# live snapshots: the VMs run on from the saved state
	[ -n "$(qemu_pids)" ] || { echo "VMs off after revert"; return 1; }
	for _ in $(seq 30); do ssh_node "$M" true 2>/dev/null && break; sleep 2; done
	ssh_node "$M" test ! -e /var/lib/after-snapshot || { echo "the revert kept a later file"; return 1; }
	kf status "${STATUS_OPTS[@]}" >"$WORK/status2.log" 2>&1 || { cat "$WORK/status2.log"; return 1; }
}

test_up_again_is_a_no_op() {
	local before after
	before=$(qemu_pids)
	kf up --artifacts-from "$REL" >"$WORK/up3.log" 2>&1 || { cat "$WORK/up3.log"; return 1; }
	after=$(qemu_pids)
	[ "$before" = "$after" ] || { echo "QEMU pids changed: $before -> $after"; return 1; }
	! grep -Eq "powered on|starting [0-9]+ VMs|remaster|payload.iso written" "$WORK/up3.log" ||
		{ cat "$WORK/up3.log"; return 1; }
}

test_destroy_leaves_no_qemu_and_no_folder() {
	local pids p
	pids=$(qemu_pids)
	kf destroy --yes >"$WORK/destroy.log" 2>&1 || { cat "$WORK/destroy.log"; return 1; }
	for p in $pids; do
		[ -r "/proc/$p/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" &&
			{ echo "QEMU $p still runs"; return 1; }
	done
	[ -z "$(ls -A "$OUT/vms" 2>/dev/null)" ] || { ls -la "$OUT/vms"; return 1; }
}

check test_snapshot_create_and_revert
check test_up_again_is_a_no_op
check test_destroy_leaves_no_qemu_and_no_folder

log "whole run: $((SECONDS - T0)) s"
h_summary
