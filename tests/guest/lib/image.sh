#!/usr/bin/env bash
# Guest tier: builds the Debian 12 test guest image ONCE with mmdebstrap from Debian's archive
# and caches it outside the work tree, keyed by a hash of this script (package list and
# customisation included). The image is a TEST image, not the product: it carries the packages
# the recipe would install from the Ubuntu ISO, plus a mount of the payload disk (label
# kfpayload) at /usr/local/seed, standing in for the installer's late-commands copy.
#
# Usage: image.sh            prints the cache dir (vmlinuz, initrd.img, root.img), building it
#                            when missing (about 2.5 min). Env: KF_GUEST_CACHE (default
#                            /var/cache/k3sforge-guest). Needs root (mmdebstrap, device nodes).
# Old cache dirs (other keys) are left alone; remove /var/cache/k3sforge-guest to reclaim space.
set -euo pipefail

KF_GUEST_PACKAGES=(
	# boot and base
	linux-image-amd64 systemd-sysv udev kmod initramfs-tools netbase
	# the network as on Ubuntu: cloud-init renders netplan v2 through netplan.io (no ifupdown, so
	# cloud-init does not pick its ENI renderer, which ignores `match: name: "e*"`)
	netplan.io systemd-resolved
	# what the recipe uses (the Ubuntu server ISO has these)
	cloud-init openssh-server iproute2 sudo curl ca-certificates zstd jq procps
	util-linux util-linux-extra coreutils tzdata e2fsprogs locales
	# the seeds' ops tools available in Debian (config's guest.packages)
	htop ethtool net-tools vim-tiny tcpdump iotop sysstat bash-completion
	# the k3s stand-in: real containerd and ctr, a TLS /version responder
	containerd python3 openssl
)

# Periodic housekeeping that only competes for the emulated CPU while the recipe runs (an
# installed Ubuntu has the same timers; they have nothing to do with what the tier proves).
KF_GUEST_MASKED=(
	e2scrub_reap.service e2scrub_all.timer dpkg-db-backup.timer apt-daily.timer
	apt-daily-upgrade.timer sysstat-collect.timer sysstat-summary.timer fstrim.timer
	man-db.timer
)

self=$(readlink -f "${BASH_SOURCE[0]}")
# root (CI, scripts/install-deps.sh) caches in /var/cache; mmdebstrap needs root here anyway
cache_root=${KF_GUEST_CACHE:-/var/cache/k3sforge-guest}
key=$( { cat "$self"; printf '%s\n' "${KF_GUEST_PACKAGES[@]}"; } | sha256sum | cut -c1-16)
dir="$cache_root/$key"

if [ -f "$dir/complete" ]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-$key"
flock 9
if [ -f "$dir/complete" ]; then
	echo "$dir"
	exit 0
fi

for t in mmdebstrap mke2fs; do
	command -v "$t" >/dev/null || { echo "image.sh: $t missing: run scripts/install-deps.sh" >&2; exit 1; }
done

work="$cache_root/.build-$key.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

include=$(IFS=,; echo "${KF_GUEST_PACKAGES[*]}")
echo "image.sh: building the Debian 12 guest image into $dir (mmdebstrap, once)" >&2
mmdebstrap --variant=apt --include="$include" \
	--customize-hook='echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$1/etc/fstab"' \
	--customize-hook='echo "LABEL=kfpayload /usr/local/seed ext4 ro,nofail,x-systemd.before=cloud-init.service 0 2" >> "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/usr/local/seed"' \
	--customize-hook='printf "datasource_list: [NoCloud, None]\n" > "$1/etc/cloud/cloud.cfg.d/90-kf-guest-test.cfg"' \
	--customize-hook='chroot "$1" systemctl disable containerd.service' \
	--customize-hook='chroot "$1" systemctl enable serial-getty@ttyS0.service' \
	--customize-hook='rm -f "$1"/etc/ssh/ssh_host_*; : > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"' \
	--customize-hook='rm -f "$1/etc/hostname"' \
	--customize-hook='echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"; chroot "$1" locale-gen' \
	--customize-hook='echo "LANG=en_US.UTF-8" > "$1/etc/default/locale"' \
	--customize-hook='chroot "$1" systemctl mask '"${KF_GUEST_MASKED[*]}" \
	--customize-hook='cp -L "$1/vmlinuz" "$1/initrd.img" "'"$work"'/"' \
	bookworm "$work/rootfs.tar" >&2

mkdir "$work/root"
tar -C "$work/root" --numeric-owner -xpf "$work/rootfs.tar"
rm -f "$work/rootfs.tar"
mke2fs -q -t ext4 -L kfroot -d "$work/root" "$work/root.img" 3G >&2
rm -rf "$work/root"
mkdir -p "$dir"
mv "$work/vmlinuz" "$work/initrd.img" "$work/root.img" "$dir/"
chmod 0444 "$dir/root.img"
touch "$dir/complete"
echo "$dir"
