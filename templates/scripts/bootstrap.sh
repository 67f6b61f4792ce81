#!/bin/bash
# k3sforge {{bootstrap.name}} of a {{node.role}} node: installs k3s from the seed payload
# and writes {{bootstrap.marker}} only when k3s really runs with its images. Idempotent: a
# finished node exits at once; an interrupted one starts over safely.
# K3SFORGE_ROOT (unset on real nodes) prefixes every path, for tests in a sandbox.
set -euo pipefail

ROOT="${K3SFORGE_ROOT:-}"
SEED="$ROOT{{seed_dir}}"
MARKER="$ROOT{{bootstrap.marker}}"
BIN="$ROOT/usr/local/bin/k3s"
IMAGES_DIR="$ROOT/var/lib/rancher/k3s/agent/images"
SOCK="$ROOT/run/k3s/containerd/containerd.sock"
AIRGAP={{airgap_file | sh}}
SERVICE={{k3s.service}}
SOCKET_WAIT_S=300
IMAGES_WAIT_S=300
CRITICAL=({{#each critical_images}}{{#if @index}} {{/if}}{{.}}{{/each}})
{{#unless node.is_master}}
MASTER={{master.ip | sh}}
MASTER_PORT=6443
MASTER_WAIT_S=1800
{{/unless}}

log() { echo "{{bootstrap.name}}: $*"; }
die() {
	echo "{{bootstrap.name}}: ERROR: $*" >&2
	exit 1
}

# verify NAME: the payload file's sha256 must match SHA256SUMS, before it is used at all
verify() {
	local name=$1 want="" got h n
	while read -r h n; do
		if [ "${n#\*}" = "$name" ]; then
			want=$h
			break
		fi
	done <"$SEED/SHA256SUMS"
	[ -n "$want" ] || die "$name is not listed in $SEED/SHA256SUMS"
	got=$(sha256sum "$SEED/$name" | cut -d ' ' -f 1)
	[ "$got" = "$want" ] || die "$SEED/$name is corrupt (sha256 $got, expected $want): rebuild the ISO (k3sforge build-iso) and reinstall this node"
	log "verified $name"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 2 s, fails after SECONDS
wait_until() {
	local limit=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 2
	done
	log "$what after $((SECONDS - deadline + limit))s"
}

socket_up() { [ -S "$SOCK" ]; }

missing_images() {
	local have img
	have=$("$BIN" ctr images ls -q 2>/dev/null) || return 0
	for img in "${WANT[@]}"; do
		grep -qxF "$img" <<<"$have" || echo "$img"
	done
}

images_present() { [ -z "$(missing_images)" ]; }

# ctr reads plain tar archives; a .tar.zst is decompressed on the way in
import_airgap() {
	case "$AIRGAP" in
	*.zst) zstd -dc "$IMAGES_DIR/$AIRGAP" | "$BIN" ctr images import - >/dev/null ;;
	*) "$BIN" ctr images import "$IMAGES_DIR/$AIRGAP" >/dev/null ;;
	esac
}
{{#unless node.is_master}}

# the inner bash expands $1 and $2 (the single quotes are meant)
# shellcheck disable=SC2016
master_open() { timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$MASTER" "$MASTER_PORT" 2>/dev/null; }
{{/unless}}

if [ -e "$MARKER" ]; then
	log "already bootstrapped ($MARKER exists)"
	exit 0
fi

# 1. the payload, checked before anything uses it
[ -f "$SEED/SHA256SUMS" ] || die "$SEED/SHA256SUMS missing: the installer did not copy the payload"
for f in k3s install.sh "$AIRGAP" k3s-images.txt{{#if kubesphere}} {{ks.chart | sh}}{{/if}}; do
	verify "$f"
done

# the images that must be present before this node counts as done (from k3s-images.txt)
WANT=()
for c in "${CRITICAL[@]}"; do
	img=$(grep -E "/[^/]*${c}[^/]*:" "$SEED/k3s-images.txt" | head -n 1 || true)
	[ -n "$img" ] || die "k3s-images.txt lists no $c image"
	WANT+=("$img")
done

# 2. binary and airgap images in place
install -D -m 0755 "$SEED/k3s" "$BIN"
mkdir -p "$IMAGES_DIR"
cp "$SEED/$AIRGAP" "$IMAGES_DIR/.$AIRGAP.tmp"
mv -f "$IMAGES_DIR/.$AIRGAP.tmp" "$IMAGES_DIR/$AIRGAP"
{{#if kubesphere}}

# 3. KubeSphere core as a HelmChart: the manifest from cloud-init plus the chart from the payload
MANIFESTS="$ROOT/var/lib/rancher/k3s/server/manifests"
mkdir -p "$MANIFESTS"
tmp="$ROOT/var/lib/rancher/k3s/server/.ks-core.yaml.tmp"
{
	cat "$ROOT/etc/k3sforge/ks-core-helmchart.yaml"
	printf '  chartContent: '
	base64 -w0 "$SEED/"{{ks.chart | sh}}
	echo
} >"$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$MANIFESTS/ks-core.yaml"
log "KubeSphere HelmChart written"
{{/if}}
{{#unless node.is_master}}

# 3. the server must answer before the agent can join
log "waiting for the master $MASTER:$MASTER_PORT"
wait_until "$MASTER_WAIT_S" "master $MASTER:$MASTER_PORT answers" master_open ||
	die "the master $MASTER:$MASTER_PORT did not answer within ${MASTER_WAIT_S}s"
{{/unless}}

# 4. install (no download: the binary is in place) and start k3s
INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_START=true INSTALL_K3S_EXEC={{k3s.exec}} \
	sh "$SEED/install.sh"
systemctl start --no-block "$SERVICE"

# 5. containerd must be up before any image work
wait_until "$SOCKET_WAIT_S" "containerd socket up" socket_up ||
	die "containerd socket $SOCK did not appear within ${SOCKET_WAIT_S}s ($SERVICE: $(systemctl is-active "$SERVICE" || true))"

# 6. k3s imports the airgap tarball itself at start; import explicitly when images are missing
if ! images_present; then
	log "importing $AIRGAP"
	import_airgap || log "explicit import failed; waiting for k3s's own import of $AIRGAP"
fi
wait_until "$IMAGES_WAIT_S" "critical images present" images_present ||
	die "critical images missing after ${IMAGES_WAIT_S}s: $(missing_images | tr '\n' ' ')"

# 7. only now: the role marker
date -u +%Y-%m-%dT%H:%M:%SZ >"$MARKER.tmp"
mv -f "$MARKER.tmp" "$MARKER"
log "done: $MARKER"
