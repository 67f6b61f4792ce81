#!/usr/bin/env bash
# Orchestration benchmark (not a test): `k3sforge up` against simulated guests whose readiness
# takes d_i seconds (node i's completion marker appears d_i after its power-on), for 3 and for
# 30 nodes, on the e2e lab of tests/lib/e2e_lab.sh (real sshd per node on its own loopback
# address, real TLS registry, the vmrun double). Waiting node after node would take Σd_i;
# k3sforge should take about max(d_i).
#
# Reported per size:
#   up wall          the whole `up` from nothing (prep .. kubeconfig), process start to exit
#   up - max(d)      what everything but the guests' own readiness cost
#   wait overhead    end of the wait stage minus the moment the last node became ready
#                    (max over i of power-on_i + d_i): noticing it, and, since up detaches each
#                    node's ISOs inside the wait, that node's stop / lock wait / start / SSH again
#   no-op rerun      `up` again after success (every stage skipped)
#   power calls      vmrun start/stop calls of the first `up`: the lane runs them one at a time
#
#   linger           seconds the double keeps a stopped VM's lock files (its LINGER_LOCKS)
#
#   bench/orchestrate.sh [BIN]     env: SIZES ("3 30"), DMIN (2), DSPREAD (4): d_i spread evenly
#                                  over [DMIN, DMIN+DSPREAD]; BENCH_LOGS=DIR keeps each run's
#                                  up log and the vmrun double's calls.log there; LINGERS ("0 2"):
#                                  each size is run once per linger. 0: k3sforge's own overhead
#                                  (every vmrun call still goes through the serialized lane and
#                                  the lock wait still polls and settles); 2: the e2e lab's
#                                  figure, chosen so its test catches a missing lock wait (commit
#                                  0c14623), not a measured Workstation time (none is in the
#                                  record); the difference is what a linger costs (LINGER=x
#                                  alone still works: LINGERS=x)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export KF_SOURCE_DIR=${KF_SOURCE_DIR:-$(cd "$HERE/.." && pwd)}
export K3SFORGE_BIN=${1:-${K3SFORGE_BIN:-$KF_SOURCE_DIR/build/k3sforge}}
SIZES=${SIZES:-"3 30"}
LINGERS=${LINGERS:-${LINGER:-"0 2"}}
DMIN=${DMIN:-2}
DSPREAD=${DSPREAD:-4}
ROOT=$(mktemp -d /tmp/kf-bench-orch-XXXXXX)
# 30 nodes of 1 GiB / 10 GiB (the config minimum) exceed a small host's memory and disk: the
# simulated guests use neither, so failed host checks are warnings here.
export K3SFORGE_HOST_CHECKS=warn
# Orchestration only: KubeSphere off (E2E_KUBESPHERE=1 to include its chart and images).
export E2E_KUBESPHERE=${E2E_KUBESPHERE:-0}
# shellcheck source=tests/lib/e2e_lab.sh
source "$KF_SOURCE_DIR/tests/lib/e2e_lab.sh"

cleanup() {
	e2e_lab_teardown
	rm -rf "$ROOT"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.2f\", $1}"; }

# One ISO in Ubuntu's shape for every size.
# shellcheck source=tests/lib/iso_fixture.sh
source "$KF_SOURCE_DIR/tests/lib/iso_fixture.sh"
mkdir -p "$ROOT/isowork"
ubuntu_like_iso "$ROOT/ubuntu.iso" "$ROOT/isowork"
export E2E_ISO="$ROOT/ubuntu.iso"

results=()
for n in $SIZES; do
for lg in $LINGERS; do
	delays=() sum=0 max=0
	for ((i = 0; i < n; i++)); do
		if [ "$n" -gt 1 ]; then d=$(calc "$DMIN + $DSPREAD * $i / ($n - 1)"); else d=$DMIN; fi
		delays+=("$d")
		sum=$(calc "$sum + $d")
		max=$(awk "BEGIN{print ($d > $max) ? $d : $max}")
	done
	echo "== $n nodes, locks linger $lg s: d_i from $DMIN to $max s (Σd = $sum s)" >&2
	e2e_lab_setup "$ROOT/lab$n-$lg" "$n" "${delays[@]}"
	sed -i "s/^LINGER_LOCKS=.*/LINGER_LOCKS=$lg/" "$FAKE_VMRUN_FAULTS"
	load0=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(now)
	if ! e2e_kf up >"$ROOT/up$n.log" 2>&1; then
		tail -30 "$ROOT/up$n.log" >&2
		echo "up failed for $n nodes" >&2
		exit 1
	fi
	t1=$(now)
	wall=$(calc "$t1 - $t0")
	# When did each node become ready? Its first power-on (the hook's log) + d_i.
	ready=0
	for ((i = 0; i < n; i++)); do
		node=$(e2e_node_name "$i")
		on=$(awk '/powered on/{print $1; exit}' "$E2E_WORK/guests/$node/power.log")
		r=$(calc "$on + ${delays[$i]}")
		ready=$(awk "BEGIN{printf \"%.3f\", ($r > $ready) ? $r : $ready}")
	done
	read -r wait_s wait_end < <(python3 - "$E2E_OUT/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"]
print("%.2f %.3f" % (s["wait"]["duration"], s["wait"]["end_ts"]))
PY
)
	wait_over=$(calc "$wait_end - $ready")
	# the vmrun lane's work: power calls, one at a time (docs/vmware.md)
	power=$(grep -cE "BEGIN [0-9]+ -T ws (start|stop) " "$FAKE_VMRUN_STATE/calls.log" || true)
	t2=$(now)
	e2e_kf up >"$ROOT/rerun$n.log" 2>&1
	t3=$(now)
	rerun=$(calc "$t3 - $t2")
	grep -E "INFO    (prep|build-iso|create-vms|wait|finalize|kubeconfig|total) " "$ROOT/up$n.log" >&2 || true
	# the host is shared: the 1-minute load average before and after, next to the numbers
	load1=$(cut -d' ' -f1 /proc/loadavg)
	results+=("$(printf '%5d  %6s  %8s  %8s  %10s  %10s  %13s  %11s  %9s  %11s  %s' "$n" "$lg" "$max" \
		"$sum" "$wall" "$(calc "$wall - $max")" "$wait_s" "$wait_over" "$rerun" "$power" \
		"$load0-$load1")")
	if [ -n "${BENCH_LOGS:-}" ]; then
		mkdir -p "$BENCH_LOGS"
		cp "$ROOT/up$n.log" "$BENCH_LOGS/up$n-$lg.log"
		cp "$ROOT/rerun$n.log" "$BENCH_LOGS/rerun$n-$lg.log"
		cp "$FAKE_VMRUN_STATE/calls.log" "$BENCH_LOGS/calls$n-$lg.log" 2>/dev/null || true
	fi
	e2e_lab_teardown
	unset E2E_WORK
done
done

echo
echo "k3sforge up against simulated guests ($(nproc) CPUs, $(date -u +%FT%TZ))"
printf '%5s  %6s  %8s  %8s  %10s  %10s  %13s  %11s  %9s  %11s  %s\n' nodes linger "max(d)" "Σd" \
	"up wall" "up-max(d)" "wait stage" "wait overh." "no-op" "power calls" "load"
for r in "${results[@]}"; do echo "$r"; done
echo "(seconds; wait overh. = end of wait - max_i(power-on_i + d_i), the last node's restart included;"
echo " linger: how long a stopped VM's lock files stay, the slowest node's restart waits it out once)"
