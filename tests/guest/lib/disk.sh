#!/usr/bin/env bash
# Guest tier: the cached test image (image.sh: root.img + vmlinuz + initrd.img for direct
# kernel boot) as a BIOS-bootable disk, the form a cloud image has, for image mode
# (guest.image) -- made ONCE and cached next to the image as disk-<key>.qcow2 (key: this
# script). No mount, no loop device: an MBR partition table (sfdisk), GRUB's boot.img in the
# MBR and a core.img (grub-mkimage, with its configuration built in: the kernel and initrd
# are the root file system's /vmlinuz and /initrd.img) in the gap before the partition, where
# boot.img's and diskboot.img's default sector numbers (1, then 2) find it -- what
# grub-bios-setup would write, without its device probing. The root file system is image.sh's,
# with /etc/fstab holding only the root, by LABEL=kfroot instead of the whole disk (debugfs).
#
# Usage: disk.sh      prints the disk's path, building it when missing (about 30 s).
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
lib=$(dirname "$self")
img=$(bash "$lib/image.sh")
key=$(sha256sum <"$self" | cut -c1-12)
out="$img/disk-$key.qcow2"

if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi
exec 8>"$img/.lock-disk-$key"
flock 8
if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi
for t in grub-mkimage sfdisk debugfs qemu-img; do
	command -v "$t" >/dev/null || { echo "disk.sh: $t missing (grub-pc-bin, fdisk, e2fsprogs, qemu-utils)" >&2; exit 1; }
done
grub=/usr/lib/grub/i386-pc
[ -f "$grub/boot.img" ] || { echo "disk.sh: $grub/boot.img missing: install grub-pc-bin" >&2; exit 1; }

work=$(mktemp -d "$img/.disk-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "disk.sh: making the bootable disk $out (once)" >&2

cp --sparse=always "$img/root.img" "$work/root.img"
chmod u+w "$work/root.img"
# the root by label; not image.sh's payload-disk mount (image mode brings the payload on a CD
# the user-data copies; waiting for a disk that never comes would hold cloud-init 90 s)
printf '%s\n' "LABEL=kfroot / ext4 rw,errors=remount-ro 0 1" >"$work/fstab"
debugfs -w -R "rm /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -w -R "write $work/fstab /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -R "cat /etc/fstab" "$work/root.img" 2>/dev/null | grep -q '^LABEL=kfroot /' ||
	{ echo "disk.sh: could not rewrite /etc/fstab in the root file system" >&2; exit 1; }

cat >"$work/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set root=(hd0,msdos1)
linux /vmlinuz root=LABEL=kfroot rw console=tty0 console=ttyS0,115200
initrd /initrd.img
boot
EOF
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' -c "$work/grub.cfg" \
	biosdisk part_msdos ext2 linux boot serial terminal
core=$(stat -c %s "$work/core.img")
[ "$core" -lt $((2047 * 512)) ] || { echo "disk.sh: core.img ($core bytes) does not fit before the partition" >&2; exit 1; }

root=$(stat -c %s "$work/root.img")
truncate -s $((root + 1024 * 1024)) "$work/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
dd if="$grub/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
qemu-img convert -q -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
chmod 0444 "$work/disk.qcow2"
mv "$work/disk.qcow2" "$out"
echo "$out"
