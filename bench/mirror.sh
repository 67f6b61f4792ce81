#!/usr/bin/env bash
# Mirror benchmark (not a test): k3sforge mirror vs sequential `skopeo copy --all` vs a raw
# `curl GET | curl PUT` pipeline of every blob 4 at a time (no manifests, no verification: the
# limit), each into a fresh loopback docker-registry, alternating, ROUNDS times; then the no-op
# rerun of k3sforge and skopeo. Prints wall time, CPU time (user+sys of the copier only),
# peak RSS, and ratios.
#
#   bench/mirror.sh [BIN]     env: SCALE_MB (default 400), ROUNDS (2), JOBS (8),
#                                  BIG_ONLY=1 for one image with one SCALE_MB layer (memory),
#                                  RAW_P (4) curl pipelines at once,
#                                  FAR=1 to go through the fault proxy with 50 ms each way,
#                                  20 MB/s per connection, 100 MB/s in all
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$HERE/.." && pwd)
BIN=${1:-${K3SFORGE_BIN:-$SRC_DIR/build/k3sforge}}
SCALE_MB=${SCALE_MB:-400}
ROUNDS=${ROUNDS:-2}
JOBS=${JOBS:-8}
RAW_P=${RAW_P:-4}
FAR=${FAR:-0}
WORK=$(mktemp -d /tmp/kf-bench-mirror-XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() {
	for _ in $(seq 200); do
		curl -s -o /dev/null "http://$1/v2/" && return 0
		sleep 0.05
	done
	echo "no answer from $1" >&2
	return 1
}

# start_registry NAME -> sets REG_ADDR, REG_PID
start_registry() {
	local dir=$WORK/$1 port
	port=$(free_port)
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	REG_PID=$!
	PIDS+=("$REG_PID")
	REG_ADDR=127.0.0.1:$port
	wait_up "$REG_ADDR"
}

stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# fresh target registry in DST_ADDR/DST_PID
fresh_target() {
	if [ -n "${DST_PID:-}" ]; then stop_pid "$DST_PID"; rm -rf "$WORK/dst"; fi
	start_registry dst
	DST_ADDR=$REG_ADDR
	DST_PID=$REG_PID
}

# measure NAME CMD... : runs under /usr/bin/time -v, appends "NAME wall cpu rss" to results
measure() {
	local name=$1
	shift
	/usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>&1 || {
		echo "$name failed:" >&2
		tail -5 "$WORK/$name.out" >&2
		return 1
	}
	python3 - "$WORK/time.txt" "$name" >>"$WORK/results" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def g(k):
    return re.search(re.escape(k) + r":\s*(.+)", t).group(1).strip()
w = g("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(w)))
cpu = float(g("User time (seconds)")) + float(g("System time (seconds)"))
rss = int(g("Maximum resident set size (kbytes)")) / 1024
print("%s %.2f %.2f %.1f" % (sys.argv[2], wall, cpu, rss))
EOF
	tail -1 "$WORK/results"
}

raw_pipeline() {
	# every unique blob: POST for a Location, then GET | PUT, 4 at a time
	export SRC_ADDR DST_ADDR
	# shellcheck disable=SC2016  # expanded by the inner bash, per blob
	xargs -P"$RAW_P" -L1 bash -c '
		repo=$0 digest=$1
		loc=$(curl -sS -X POST -D - -o /dev/null "http://$DST_ADDR/v2/$repo/blobs/uploads/" |
			tr -d "\r" | sed -n "s/^[Ll]ocation: //p")
		case $loc in http*) ;; *) loc=http://$DST_ADDR$loc ;; esac
		case $loc in *\?*) sep="&" ;; *) sep="?" ;; esac
		curl -sS "http://$SRC_ADDR/v2/$repo/blobs/$digest" |
			curl -sS -f -o /dev/null -X PUT -H "Content-Type: application/octet-stream" \
				-T - "$loc${sep}digest=$digest"
	' <"$WORK/blobs.txt"
}

skopeo_all() {
	while read -r img; do
		skopeo copy --all --quiet --src-tls-verify=false --dest-tls-verify=false \
			"docker://$SRC_ADDR/$img" "docker://$DST_ADDR/$img"
	done <"$WORK/images.txt"
}

start_registry src
SRC_ADDR=$REG_ADDR
echo "building the synthetic image set (~$SCALE_MB MiB) in $SRC_ADDR"
python3 "$HERE/mirror_images.py" "$SRC_ADDR" "$SCALE_MB" "$WORK/images.txt" "$WORK/blobs.txt"
if [ "$FAR" = 1 ]; then
	port=$(free_port)
	python3 "$SRC_DIR/tests/lib/mirror_fault_proxy.py" --listen "127.0.0.1:$port" \
		--upstream "$SRC_ADDR" --delay-ms 50 --rate-conn 20000000 --rate-total 100000000 &
	PIDS+=("$!")
	SRC_ADDR=127.0.0.1:$port
	wait_up "$SRC_ADDR"
	echo "far-away mode: through the proxy at $SRC_ADDR"
fi
export SRC_ADDR
: >"$WORK/results"
echo "k3sforge: $BIN  jobs: $JOBS  rounds: $ROUNDS"
for r in $(seq "$ROUNDS"); do
	fresh_target
	measure k3sforge "$BIN" -q -o "$WORK/out" mirror --all-platforms --jobs "$JOBS" \
		--from "http://$SRC_ADDR" --to "http://$DST_ADDR" --images "$WORK/images.txt"
	if [ "$r" = "$ROUNDS" ]; then
		measure k3sforge-noop "$BIN" -q -o "$WORK/out" mirror --all-platforms --jobs "$JOBS" \
			--from "http://$SRC_ADDR" --to "http://$DST_ADDR" --images "$WORK/images.txt"
	fi
	fresh_target
	measure skopeo bash -c "$(declare -f skopeo_all); WORK=$WORK SRC_ADDR=$SRC_ADDR DST_ADDR=$DST_ADDR skopeo_all"
	if [ "$r" = "$ROUNDS" ]; then
		measure skopeo-noop bash -c "$(declare -f skopeo_all); WORK=$WORK SRC_ADDR=$SRC_ADDR DST_ADDR=$DST_ADDR skopeo_all"
	fi
	fresh_target
	measure raw-curl bash -c "$(declare -f raw_pipeline); RAW_P=$RAW_P WORK=$WORK SRC_ADDR=$SRC_ADDR DST_ADDR=$DST_ADDR raw_pipeline"
done

python3 - "$WORK/results" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    n, w, c, r = line.split()
    rows.setdefault(n, []).append((float(w), float(c), float(r)))
print("\n%-14s %10s %10s %10s   (median of runs)" % ("tool", "wall s", "cpu s", "peak MiB"))
med = {}
for n, v in rows.items():
    med[n] = tuple(statistics.median(x[i] for x in v) for i in range(3))
    print("%-14s %10.2f %10.2f %10.1f" % ((n,) + med[n]))
if "k3sforge" in med and "raw-curl" in med:
    print("k3sforge wall / raw curl      = %.2f" % (med["k3sforge"][0] / med["raw-curl"][0]))
if "k3sforge" in med and "skopeo" in med:
    print("k3sforge wall / skopeo        = %.2f" % (med["k3sforge"][0] / med["skopeo"][0]))
    print("k3sforge cpu  / skopeo cpu    = %.2f" % (med["k3sforge"][1] / med["skopeo"][1]))
EOF
