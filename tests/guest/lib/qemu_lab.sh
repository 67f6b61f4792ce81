# shellcheck shell=bash
# A lab for `k3sforge up` on QEMU, sourced by tests/guest/test_up_qemu.sh and bench/up.sh. The
# caller runs in a network namespace of its own (it re-executes itself under `unshare --net`
# with KF_QL_NETNS=1 before sourcing this), so the bridge k3sbr0 at 192.168.6.1/24 (the lab's VMnet1), the taps, the registry on
# 192.168.6.1 and the nodes at .10/.11 never touch the host's network. Sources on loopback: a
# docker-registry holding the fake release's images (images.source_registry) and the fake k3s
# release (tests/guest/lib/release.py) for `up --artifacts-from`. guest.image is the cached test
# image as a bootable disk (lib/disk.sh). Every process started here or by k3sforge (QEMU by
# its pid file, the registries) is stopped by PID on exit.
#
#   ql_setup                   bridge, disk, release, source registry, config (two nodes)
#   kf ARGS...                 k3sforge on the lab
#   ssh_node NODE CMD...       as the operator, host key checked against k3sforge's known_hosts
#   qemu_pids                  the live QEMU of each VM folder

: "${K3SFORGE_BIN:?}" "${KF_SOURCE_DIR:?}"
LIB="$KF_SOURCE_DIR/tests/guest/lib"
M=k3s-master1
W=k3s-worker1
QL_NAME=${QL_NAME:-up-qemu}
log() { echo "[$QL_NAME $(date -u +%H:%M:%S)] $*" >&2; }

[ "${KF_QL_NETNS:-}" = 1 ] || { echo "qemu_lab.sh: not in the lab's network namespace" >&2; exit 1; }

WORK=$(mktemp -d /tmp/kfupqemu.XXXXXX)
OUT="$WORK/out"
CFG="$WORK/k3sforge.yaml"
SRC_PID=
UP_PID=

ql_cleanup() {
	local f pid
	[ -n "$UP_PID" ] && kill -KILL "$UP_PID" 2>/dev/null
	for f in "$WORK"/out/vms/*/qemu.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		grep -qa -- "$f" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid"
	done
	[ -f "$CFG" ] && "$K3SFORGE_BIN" -c "$CFG" -o "$OUT" registry stop >/dev/null 2>&1
	# what prep started, should `registry stop` not have run (the pid files it keeps)
	for f in "$OUT/registry/registry.pid" "$OUT/registry/push.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		grep -qa docker-registry "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid"
	done
	[ -n "$SRC_PID" ] && kill "$SRC_PID" 2>/dev/null && wait "$SRC_PID" 2>/dev/null
	if [ "${KF_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap ql_cleanup EXIT
trap 'exit 130' INT TERM

kf() { "$K3SFORGE_BIN" -c "$CFG" -o "$OUT" "$@"; }

ssh_node() { # node cmd...
	local ip
	ip=$([ "$1" = "$M" ] && echo 192.168.6.10 || echo 192.168.6.11)
	shift
	ssh -n -q -i "$OUT/ssh/id_ed25519" -o UserKnownHostsFile="$OUT/ssh/known_hosts" \
		-o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
		-o HostKeyAlgorithms=ssh-ed25519 -o IdentitiesOnly=yes -o BatchMode=yes \
		-o ConnectTimeout=20 -o LogLevel=ERROR "ubuntu@$ip" "$@"
}

qemu_pids() {
	local f pid
	for f in "$OUT"/vms/*/qemu.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		grep -qa -- "$f" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
	done | sort | tr '\n' ' '
}

ql_setup() {
	local img
	ip link set lo up &&
		ip link add k3sbr0 type bridge &&
		ip addr add 192.168.6.1/24 dev k3sbr0 &&
		ip link set k3sbr0 up || { log "cannot make the bridge"; return 1; }
	DISK=$(bash "$LIB/disk.sh") || { log "no bootable test disk"; return 1; }
	REL="$WORK/release"
	python3 "$LIB/release.py" "$KF_SOURCE_DIR" "$REL" >/dev/null || { log "release.py failed"; return 1; }

	SRC_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$WORK/srcreg/data"
	cat >"$WORK/srcreg/config.yml" <<EOF
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/srcreg/data } }
http: { addr: 127.0.0.1:$SRC_PORT }
EOF
	docker-registry serve "$WORK/srcreg/config.yml" >"$WORK/srcreg/log" 2>&1 &
	SRC_PID=$!
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$SRC_PORT/v2/" 2>/dev/null && break
		sleep 0.1
	done
	while read -r img; do
		skopeo copy -q --dest-tls-verify=false "oci:$REL/oci:${img##*:}" \
			"docker://127.0.0.1:$SRC_PORT/${img#docker.io/}" || { log "push of $img failed"; return 1; }
	done <"$REL/k3s-images.txt"

	cat >"$CFG" <<YAML
cluster: { name: upqemu }
hypervisor: qemu
qemu: { binary: auto, accel: tcg, bridge: k3sbr0 }
k3s:
  version: v1.33.4+k3s1
  release_url: http://127.0.0.1:9/unused
  install_script_url: http://127.0.0.1:9/unused/install.sh
  pause_image: rancher/mirrored-pause:3.6
  # the fake release carries the images of coredns and traefik only (lib/release.py)
  disable: [local-storage, metrics-server, servicelb]
network: { subnet: 192.168.6.0/24 }
registry: { server: binary, mirrors: [docker.io] }
nodes:
  - { name: $M, role: master, ip: 192.168.6.10, cpus: 1, memory: 1024, disk: 10 }
  - { name: $W, role: worker, ip: 192.168.6.11, cpus: 1, memory: 1024, disk: 10 }
images: { source_registry: "http://127.0.0.1:$SRC_PORT" }
guest: { image: $DISK }
addons: { kubesphere: { enabled: false } }
timeouts: { wait: 14m, vmrun: 120s, finalize: 10m }
YAML
	log "lab: disk $DISK, source registry 127.0.0.1:$SRC_PORT"
}
