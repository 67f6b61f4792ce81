# shellcheck shell=bash
# Guest tier harness, sourced by tests/guest/test_*.sh. Boots one QEMU guest (TCG) per node of a
# test lab from the cached Debian 12 image (lib/image.sh), each on a copy-on-write qcow2 overlay,
# with the node's installed-system NoCloud seed exactly as `k3sforge render --seed-dir` writes it
# (an ISO labelled cidata) and the payload exactly as `render --payload-dir` writes it (an ext4
# disk labelled kfpayload, which the TEST image mounts at /usr/local/seed, standing in for the
# installer's late-commands copy). The lab registry is the real one `k3sforge prep` starts on
# 127.0.0.1; each guest reaches it at its lab address 192.168.6.1:5000 through a QEMU guestfwd,
# and nothing else (restrict=on). Every guest, the registry and the scratch dir go on every exit.
#
#   gt_init                      scratch dir, its cleanup on exit, image (built once, cached)
#   gt_lab                       config (master + worker, ssh: 127.0.0.1:<port>), fake release,
#                                prep, images into the registry, seeds and payload
#   gt_boot NODE [qemu args...]  starts NODE's guest in the background
#   gt_ssh NODE CMD...           runs CMD as the operator, host key checked against
#                                k3sforge's own known_hosts (strict)
#   gt_wait_ssh NODE SECS        until SSH answers
#   gt_kf ARGS...                k3sforge with the lab's config and output dir

: "${K3SFORGE_BIN:?}" "${KF_SOURCE_DIR:?}"
# shellcheck source=tests/lib/harness.sh
. "$KF_SOURCE_DIR/tests/lib/harness.sh"
GT_LIB="$KF_SOURCE_DIR/tests/guest/lib"
GT_MEM=${GT_MEM:-768}
GT_NODES=(k3s-master1 k3s-worker1)
declare -A GT_IP=([k3s-master1]=192.168.6.10 [k3s-worker1]=192.168.6.11)
declare -A GT_SSH_PORT=() GT_PID=()

gt_log() { echo "[guest $(date -u +%H:%M:%S)] $*" >&2; }

gt_cleanup() {
	local n
	for n in "${!GT_PID[@]}"; do
		# the shared SSH connection first (its master process ends with it)
		[ -S "$GT_WORK/ssh-$n.ctl" ] && ssh -q -o ControlPath="$GT_WORK/ssh-$n.ctl" -O exit ubuntu@127.0.0.1 2>/dev/null
		h_stop_pid "${GT_PID[$n]}" 10
	done
	[ -n "${GT_WORK:-}" ] && [ -f "$GT_WORK/k3sforge.yaml" ] &&
		"$K3SFORGE_BIN" -c "$GT_WORK/k3sforge.yaml" -o "$GT_WORK/out" registry stop >/dev/null 2>&1
	if [ -n "${GT_WORK:-}" ] && [ -d "$GT_WORK" ]; then
		if [ "${GT_KEEP:-0}" = 1 ]; then
			gt_log "kept $GT_WORK"
		else
			rm -rf "$GT_WORK"
		fi
	fi
}

gt_init() {
	local t0=$SECONDS
	for t in qemu-system-x86_64 qemu-img socat xorriso mke2fs skopeo ssh; do
		command -v "$t" >/dev/null || { echo "guest tier: $t missing: run scripts/install-deps.sh" >&2; exit 1; }
	done
	GT_WORK=$(mktemp -d /tmp/kfguest.XXXXXX)
	h_on_exit gt_cleanup
	trap 'exit 130' INT TERM
	GT_IMAGE=$(bash "$GT_LIB/image.sh") || { echo "guest tier: image build failed" >&2; exit 1; }
	gt_log "image $GT_IMAGE ready after $((SECONDS - t0))s"
}

gt_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

gt_kf() { "$K3SFORGE_BIN" -c "$GT_WORK/k3sforge.yaml" -o "$GT_WORK/out" "$@"; }

gt_lab() {
	local n out rel img
	GT_REGPORT=$(gt_free_port)
	GT_APIPORT=$(gt_free_port)
	for n in "${GT_NODES[@]}"; do GT_SSH_PORT[$n]=$(gt_free_port); done
	rel="$GT_WORK/release"
	python3 "$GT_LIB/release.py" "$KF_SOURCE_DIR" "$rel" || return 1
	cat >"$GT_WORK/k3sforge.yaml" <<YAML
cluster: { name: guesttier }
k3s:
  version: v1.33.4+k3s1
  release_url: http://127.0.0.1:9/unused
  install_script_url: http://127.0.0.1:9/unused/install.sh
  pause_image: rancher/mirrored-pause:3.6
network:
  subnet: 192.168.6.0/24
  gateway: 192.168.6.2        # the QEMU user network's host address (guestfwd needs .1 free)
  dns: [192.168.6.3]
registry:
  host_ip: 192.168.6.1        # the guests reach it here through guestfwd
  port: 5000
  server: binary
  listen: 127.0.0.1:$GT_REGPORT
  mirrors: [docker.io]
nodes:
  - { name: k3s-master1, role: master, ip: 192.168.6.10, ssh: "127.0.0.1:${GT_SSH_PORT[k3s-master1]}" }
  - { name: k3s-worker1, role: worker, ip: 192.168.6.11, ssh: "127.0.0.1:${GT_SSH_PORT[k3s-worker1]}" }
guest:
  timezone: Asia/Seoul
addons:
  kubesphere: { enabled: false }
YAML
	out="$GT_WORK/out"
	# prep: trust material, the release (from the fake release folder), registries.yaml, the
	# registry. Its last step mirrors the release's images (k3s-images.txt) from upstream, which
	# is not reachable here, so it fails there: they are pushed from the release's OCI layout
	# instead, then prep again finds them all present and copies nothing.
	if gt_kf prep --artifacts-from "$rel" >"$GT_WORK/prep1.log" 2>&1; then
		echo "prep succeeded without the release's images" >&2; return 1
	fi
	grep -q "prep 5/5: images" "$GT_WORK/prep1.log" || { cat "$GT_WORK/prep1.log" >&2; return 1; }
	mkdir -p "$GT_WORK/certs.d"
	cp "$out/pki/ca.crt" "$GT_WORK/certs.d/ca.crt"
	# The serving registry is read-only; writes go through the loopback push instance prep
	# started (its address in <out>/registry/push.addr), as k3sforge's own do.
	local push
	push=$(cat "$out/registry/push.addr") || { echo "no push instance after prep" >&2; return 1; }
	while read -r img; do
		skopeo copy -q --dest-cert-dir "$GT_WORK/certs.d" "oci:$rel/oci:${img##*:}" \
			"docker://$push/${img#docker.io/}" ||
			{ echo "skopeo push of $img failed" >&2; return 1; }
	done <"$rel/k3s-images.txt"
	gt_kf prep --artifacts-from "$rel" >"$GT_WORK/prep2.log" 2>&1 || { cat "$GT_WORK/prep2.log" >&2; return 1; }
	gt_kf render --seed-dir "$GT_WORK/seeds" --payload-dir "$GT_WORK/payload" >"$GT_WORK/render.log" 2>&1 ||
		{ cat "$GT_WORK/render.log" >&2; return 1; }
	img="$GT_WORK/payload.img"
	mke2fs -q -t ext4 -L kfpayload -d "$GT_WORK/payload" "$img" 64M || return 1
	gt_log "lab ready: registry 127.0.0.1:$GT_REGPORT, ssh ports ${GT_SSH_PORT[*]}"
}

# gt_mac NODE: the MAC the rendered network-config matches on
gt_mac() {
	sed -n 's/^ *macaddress: *"\{0,1\}\([0-9a-fA-F:]*\)"\{0,1\}.*/\1/p' "$GT_WORK/seeds/$1/network-config" | head -n 1
}

# gt_boot NODE [--registry-down] [--payload FILE] [qemu args...]
#   --registry-down: 192.168.6.1:5000 leads to a closed port on the host (the registry service
#   is down: every connection is closed at once), instead of to the lab registry
gt_boot() {
	local n=$1 ip d mac netdev payload="$GT_WORK/payload.img" regport=$GT_REGPORT
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--registry-down) regport=$(gt_free_port); shift ;;
		--payload) payload=$2; shift 2 ;;
		*) break ;;
		esac
	done
	ip=${GT_IP[$n]}
	d="$GT_WORK/vm/$n"
	mkdir -p "$d"
	qemu-img create -q -f qcow2 -b "$GT_IMAGE/root.img" -F raw "$d/root.qcow2" || return 1
	xorriso -as mkisofs -quiet -V cidata -J -r -o "$d/seed.iso" "$GT_WORK/seeds/$n" 2>/dev/null || return 1
	netdev="user,id=n0,restrict=on,net=192.168.6.0/24,host=192.168.6.2,hostfwd=tcp:127.0.0.1:${GT_SSH_PORT[$n]}-$ip:22"
	netdev+=",guestfwd=tcp:192.168.6.1:5000-cmd:socat - TCP:127.0.0.1:$regport"
	if [ "$n" = k3s-master1 ]; then
		netdev+=",hostfwd=tcp:127.0.0.1:$GT_APIPORT-$ip:6443"
	else
		netdev+=",guestfwd=tcp:${GT_IP[k3s-master1]}:6443-cmd:socat - TCP:127.0.0.1:$GT_APIPORT"
	fi
	mac=$(gt_mac "$n")
	qemu-system-x86_64 -name "kfguest-$n" -accel tcg -m "$GT_MEM" -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$GT_IMAGE/vmlinuz" -initrd "$GT_IMAGE/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0,115200 panic=-1" \
		-drive "file=$d/root.qcow2,if=virtio,format=qcow2" \
		-drive "file=$payload,if=virtio,format=raw,readonly=on" \
		-drive "file=$d/seed.iso,if=virtio,format=raw,readonly=on" \
		-netdev "$netdev" -device "virtio-net-pci,netdev=n0${mac:+,mac=$mac}" \
		-serial "file:$d/console.log" "$@" </dev/null >"$d/qemu.log" 2>&1 &
	GT_PID[$n]=$!
	gt_log "booted $n (pid ${GT_PID[$n]}, ssh 127.0.0.1:${GT_SSH_PORT[$n]}, mac ${mac:-none})"
}

gt_ssh() {
	local n=$1
	shift
	ssh -n -q -i "$GT_WORK/out/ssh/id_ed25519" -p "${GT_SSH_PORT[$n]}" \
		-o UserKnownHostsFile="$GT_WORK/out/ssh/known_hosts" -o StrictHostKeyChecking=yes \
		-o GlobalKnownHostsFile=/dev/null -o HostKeyAlgorithms=ssh-ed25519 \
		-o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR \
		-o ControlMaster=auto -o ControlPath="$GT_WORK/ssh-$n.ctl" -o ControlPersist=900 \
		ubuntu@127.0.0.1 "$@"
}

# gt_wait_ssh NODE SECS
gt_wait_ssh() {
	local n=$1 deadline=$((SECONDS + $2))
	until gt_ssh "$n" true 2>/dev/null; do
		if ! kill -0 "${GT_PID[$n]}" 2>/dev/null; then
			gt_log "$n: qemu exited"; tail -n 30 "$GT_WORK/vm/$n/console.log" >&2; return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			gt_log "$n: no SSH after $2 s"; tail -n 40 "$GT_WORK/vm/$n/console.log" >&2; return 1
		fi
		sleep 5
	done
	gt_log "$n: SSH answers"
}

# gt_wait_file NODE PATH SECS: until PATH exists in the guest
gt_wait_file() {
	local n=$1 p=$2 deadline=$((SECONDS + $3))
	until gt_ssh "$n" test -e "$p" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 5
	done
}

# check NAME (tests/lib/harness.sh) runs the function NAME in a subshell and reports it; one
# behaviour per function. gt_finish: the count, and the tier's result.
gt_finish() { h_summary; }
