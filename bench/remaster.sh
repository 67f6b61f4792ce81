#!/usr/bin/env bash
# Benchmark: remastering a ~2 GB installer ISO, k3sforge build-iso (libisoburn's xorriso API,
# in process) against the xorriso command line doing the same edit (the same GRUB files,
# md5sum.txt and payload, -boot_image any replay), one run each, warm page cache.
# Usage: bench/remaster.sh [SIZE_MB]   (K3SFORGE_BIN = the binary; default build-bench/k3sforge,
# built here without sanitizers). Prints both times and the ratio (target <= 1.1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size_mb=${1:-2048}
export KF_SOURCE_DIR=$here
bin=${K3SFORGE_BIN:-$here/build-bench/k3sforge}
if [ ! -x "$bin" ]; then
	cmake -S "$here" -B "$here/build-bench" -DCMAKE_BUILD_TYPE=Release -DKF_TESTS=OFF >/dev/null
	cmake --build "$here/build-bench" -j2 >/dev/null
fi
# shellcheck source=tests/lib/recipe_fixture.sh
source "$here/tests/lib/recipe_fixture.sh"
# shellcheck source=tests/lib/iso_fixture.sh
source "$here/tests/lib/iso_fixture.sh"

work=$(mktemp -d /tmp/kfbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "fixture: ${size_mb} MB Ubuntu-shaped ISO in $work"
mkdir -p isowork/tree/casper
head -c "$((size_mb * 1024 * 1024))" /dev/urandom >isowork/tree/casper/filesystem.squashfs
ubuntu_like_iso "$work/ubuntu.iso" "$work/isowork"
rm -f isowork/tree/casper/filesystem.squashfs
recipe_fixture out k3s-master1 k3s-worker1 k3s-worker2
cat ubuntu.iso >/dev/null # warm cache for both runs

now() { date +%s.%N; }

t0=$(now)
"$bin" -q -o out build-iso --force --ubuntu-iso "$work/ubuntu.iso"
t1=$(now)
kf=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

# the same edit with the CLI: k3sforge's own edited files and payload
w=out/iso/.work
args=(-indev ubuntu.iso -outdev cli.iso
	-map "$w/grub.cfg.new" /boot/grub/grub.cfg
	-map "$w/loopback.cfg.new" /boot/grub/loopback.cfg
	-map "$w/md5sum.txt.new" /md5sum.txt)
for f in k3s install.sh k3s-airgap-images-amd64.tar.zst k3s-images.txt ks-core-1.1.4.tgz; do
	args+=(-map "out/artifacts/$f" "/k3sforge/$f")
done
args+=(-map out/pki/ca.crt /k3sforge/ca.crt -map "$w/SHA256SUMS" /k3sforge/SHA256SUMS
	-map "$w/build-timestamp" /k3sforge/build-timestamp -boot_image any replay -commit)
t0=$(now)
xorriso "${args[@]}" >/dev/null 2>&1
t1=$(now)
cli=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

stat -c '  %s bytes  %n' ubuntu.iso out/iso/installer.iso cli.iso
printf 'k3sforge build-iso --force (render + 3 seeds + sha256 of the payload + remaster): %.2f s\n' "$kf"
printf 'xorriso CLI, the same remaster:                                                    %.2f s\n' "$cli"
awk -v a="$kf" -v b="$cli" 'BEGIN { printf "ratio k3sforge / xorriso: %.2f\n", a / b }'
