#!/usr/bin/env bash
# pass (tests/lib/harness.sh) always succeeds, so `check && pass || fail` is an if-then-else here.
# shellcheck disable=SC2015
# k3sforge snapshot against the vmrun test double (tests/fakes/vmrun) with the built-in lab
# (three nodes): all or none, per-node reports, revert/delete only when every node has it.
set -uo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN not set}
SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf-snapshot
work=$H_SCRATCH
export FAKE_VMRUN_STATE=$work/state FAKE_VMRUN_FAULTS=$work/faults.env
export PATH="$SRC/tests/fakes:$PATH"
cd "$work" || exit 1
out=$work/out
nodes=(k3s-master1 k3s-worker1 k3s-worker2)
mkdir -p "$FAKE_VMRUN_STATE"
: >"$FAKE_VMRUN_FAULTS"
for n in "${nodes[@]}"; do mkdir -p "$out/vms/$n"; echo 'config.version = "8"' >"$out/vms/$n/$n.vmx"; done

kf() { "$BIN" --no-color -o "$out" "$@" >"$work/stdout" 2>"$work/stderr"; }
h_on_fail() { echo "--- stdout:"; cat "$work/stdout"; echo "--- stderr:"; cat "$work/stderr"; }
snaps_of() { "$SRC/tests/fakes/vmrun" -T ws listSnapshots "$out/vms/$1/$1.vmx" | tail -n +2; }

test_snapshot_create_takes_one_on_every_node() {
	if ! kf snapshot create base; then fail "create failed"; return; fi
	for n in "${nodes[@]}"; do
		[ "$(snaps_of "$n")" = base ] || { fail "$n has '$(snaps_of "$n")'"; return; }
	done
	pass
}

test_snapshot_create_is_all_or_none_when_one_node_fails() {
	echo "SNAPSHOT_FAIL=k3s-worker2" >"$FAKE_VMRUN_FAULTS"
	if kf snapshot create upgrade; then : >"$FAKE_VMRUN_FAULTS"; fail "succeeded"; return; fi
	: >"$FAKE_VMRUN_FAULTS"
	for n in "${nodes[@]}"; do
		if snaps_of "$n" | grep -qx upgrade; then fail "$n kept 'upgrade'"; return; fi
	done
	grep -q "k3s-worker2: create failed: .*Insufficient disk space" "$work/stderr" &&
		grep -q "k3s-master1: snapshot 'upgrade' deleted again" "$work/stderr" &&
		grep -q "failed on k3s-worker2; the snapshots made on the other nodes were deleted again" "$work/stderr" &&
		pass || fail "per-node report missing"
}

test_snapshot_create_refuses_a_name_a_node_already_has() {
	"$SRC/tests/fakes/vmrun" -T ws snapshot "$out/vms/k3s-worker1/k3s-worker1.vmx" stray >/dev/null
	if kf snapshot create stray; then fail "succeeded"; return; fi
	if snaps_of k3s-master1 | grep -qx stray; then fail "master got 'stray'"; return; fi
	grep -q "already exists on k3s-worker1: nothing was changed" "$work/stderr" &&
		pass || fail "message"
}

test_snapshot_list_shows_common_names_and_extras() {
	if ! kf snapshot list; then fail "list failed"; return; fi
	grep -q "snapshots on every node (1):" "$work/stdout" && grep -qx "  base" "$work/stdout" &&
		grep -q "only on k3s-worker1: stray" "$work/stdout" &&
		pass || fail "list output"
}

test_snapshot_list_json_has_common_and_extra() {
	if ! "$BIN" --json -o "$out" snapshot list >"$work/stdout" 2>"$work/stderr"; then fail "failed"; return; fi
	python3 - "$work/stdout" <<'PY' && pass || fail "json"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [e for e in evs if e.get("event") == "snapshots" or e.get("type") == "snapshots"][0]
assert ev["common"] == ["base"], ev
assert ev["extra"]["k3s-worker1"] == ["stray"], ev
PY
}

test_snapshot_revert_refuses_a_name_missing_on_a_node() {
	if kf snapshot revert stray; then fail "succeeded"; return; fi
	grep -q "snapshot 'stray' is missing on k3s-master1, k3s-worker2: nothing was changed" "$work/stderr" &&
		pass || fail "message"
}

reverts() { grep -c " BEGIN .* revertToSnapshot .* base$" "$FAKE_VMRUN_STATE/calls.log"; }

# Off a terminal revert needs --yes; nothing is reverted without it.
test_snapshot_revert_off_a_terminal_needs_yes() {
	: >"$FAKE_VMRUN_STATE/calls.log"
	if kf snapshot revert base; then fail "reverted without --yes"; return; fi
	[ "$(reverts)" = 0 ] || { fail "reverted: $(cat "$FAKE_VMRUN_STATE/calls.log")"; return; }
	grep -q "snapshot revert would return all 3 nodes to 'base', losing everything they did since; pass --yes to go on; nothing was touched" "$work/stderr" &&
		pass || fail "message"
}

# On a terminal (script(1) gives it one) it asks [y/N]: 'n' leaves the nodes, 'y' reverts.
test_snapshot_revert_asks_on_a_terminal() {
	: >"$FAKE_VMRUN_STATE/calls.log"
	if printf 'n\n' | script -qec "'$BIN' --no-color -o '$out' snapshot revert base" /dev/null >"$work/stdout" 2>"$work/stderr"; then
		fail "'n' reverted"; return
	fi
	grep -q "Go on? \[y/N\]" "$work/stdout" && grep -q "not confirmed: the nodes were left as they are" "$work/stdout" ||
		{ fail "no question or refusal"; return; }
	[ "$(reverts)" = 0 ] || { fail "reverted after 'n'"; return; }
	if ! printf 'y\n' | script -qec "'$BIN' --no-color -o '$out' snapshot revert base" /dev/null >"$work/stdout" 2>"$work/stderr"; then
		fail "'y' did not revert"; return
	fi
	[ "$(reverts)" = 3 ] && pass || fail "not 3 reverts after 'y'"
}

test_snapshot_revert_reverts_every_node() {
	: >"$FAKE_VMRUN_STATE/calls.log"
	if ! kf snapshot revert base --yes; then fail "revert failed"; return; fi
	[ "$(grep -c " BEGIN .* revertToSnapshot .* base$" "$FAKE_VMRUN_STATE/calls.log")" = 3 ] &&
		pass || fail "not 3 reverts: $(cat "$FAKE_VMRUN_STATE/calls.log")"
}

test_snapshot_delete_removes_it_everywhere() {
	if ! kf snapshot delete base; then fail "delete failed"; return; fi
	for n in "${nodes[@]}"; do
		if snaps_of "$n" | grep -qx base; then fail "$n kept base"; return; fi
	done
	pass
}

# Snapshots of every node are taken one vmrun call at a time (the double flags overlaps).
test_snapshot_calls_never_overlap() {
	printf 'SERIAL_ONLY=flag\nCALL_DELAY=0.3\n' >"$FAKE_VMRUN_FAULTS"
	rm -f "$FAKE_VMRUN_STATE/violations.log"
	if ! kf snapshot create serial; then : >"$FAKE_VMRUN_FAULTS"; fail "create failed"; return; fi
	kf snapshot delete serial || { : >"$FAKE_VMRUN_FAULTS"; fail "delete failed"; return; }
	: >"$FAKE_VMRUN_FAULTS"
	[ ! -s "$FAKE_VMRUN_STATE/violations.log" ] && pass ||
		fail "$(cat "$FAKE_VMRUN_STATE/violations.log")"
}

test_snapshot_suggests_the_verb_meant() {
	if kf snapshot creat base2; then fail "accepted"; return; fi
	grep -q "snapshot: unknown verb 'creat' (did you mean 'create'?)" "$work/stderr" &&
		pass || fail "no suggestion"
}

test_snapshot_rejects_a_bad_name() {
	if kf snapshot create 'a b'; then fail "accepted"; return; fi
	grep -q "only letters, digits" "$work/stderr" && pass || fail "message"
}

test_snapshot_create_takes_one_on_every_node
test_snapshot_create_is_all_or_none_when_one_node_fails
test_snapshot_create_refuses_a_name_a_node_already_has
test_snapshot_list_shows_common_names_and_extras
test_snapshot_list_json_has_common_and_extra
test_snapshot_revert_refuses_a_name_missing_on_a_node
test_snapshot_revert_off_a_terminal_needs_yes
test_snapshot_revert_asks_on_a_terminal
test_snapshot_revert_reverts_every_node
test_snapshot_delete_removes_it_everywhere
test_snapshot_rejects_a_bad_name
test_snapshot_calls_never_overlap
test_snapshot_suggests_the_verb_meant
h_summary
