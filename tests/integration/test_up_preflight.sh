#!/usr/bin/env bash
# `up` checks every stage it will run before the first byte is downloaded: with no vmrun, no
# Ubuntu ISO and an --artifacts-from folder that does not exist, one run lists all three with
# their fixes, exits 1, and leaves the output directory without any stage's work (no pki/, no
# artifacts/, no prep record in state.json). With host checks set to warn it goes on (and then
# stops in prep on the missing folder, the first real failure).
set -uo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN not set}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_up_preflight
TMP=$H_SCRATCH

cat >"$TMP/lab.yaml" <<YAML
paths:
  ubuntu_iso: $TMP/no-such-ubuntu.iso
vmware:
  vmrun: $TMP/no-such-dir/vmrun
YAML
out="$TMP/out"

"$BIN" --no-color -c "$TMP/lab.yaml" -o "$out" up --artifacts-from "$TMP/no-such-release" \
	>"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
if [ "$rc" -eq 1 ]; then ok "up stops with exit 1"; else not_ok "up exit $rc"; cat "$TMP/stderr"; fi

# all three failures, each with what to do, in one run
for want in "no-such-ubuntu.iso" "vmrun" "--artifacts-from $TMP/no-such-release is not a folder"; do
	if grep -qF -- "$want" "$TMP/stderr"; then ok "names: $want"; else not_ok "not named: $want"; fi
done
if grep -q "failed before anything was downloaded or changed" "$TMP/stderr"; then
	ok "says nothing was downloaded"
else
	not_ok "closing line"; cat "$TMP/stderr"
fi

# nothing of any stage was made
for d in pki ssh artifacts iso vms; do
	if [ -e "$out/$d" ]; then not_ok "$d/ was made before the checks passed"; else ok "no $d/"; fi
done
if [ -f "$out/state.json" ] && grep -q '"prep"' "$out/state.json"; then
	not_ok "state.json records prep"
else
	ok "no prep record"
fi

# --json: each failure is a host_check event with scope "up"
"$BIN" --json -c "$TMP/lab.yaml" -o "$out" up --artifacts-from "$TMP/no-such-release" \
	>"$TMP/events" 2>/dev/null
n=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "host_check" and e.get("scope") == "up" and e.get("status") == "fail":
        n += 1
print(n)' "$TMP/events")
if [ "${n:-0}" -ge 3 ]; then ok "$n failed host_check events with scope up"; else
	not_ok "host_check events: ${n:-0}"; cat "$TMP/events"; fi

# warn mode: the checks are listed as warnings and the run goes on into prep
K3SFORGE_HOST_CHECKS=warn "$BIN" --no-color -c "$TMP/lab.yaml" -o "$out" up \
	--artifacts-from "$TMP/no-such-release" >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "going on despite" "$TMP/stderr" && grep -q "stage prep" "$TMP/stderr"; then
	ok "host_checks warn goes on (and prep then fails on the missing folder)"
else
	not_ok "warn mode: exit $rc"; cat "$TMP/stderr"
fi

h_summary
