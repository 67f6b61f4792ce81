# shellcheck shell=bash
# Sourced by the ISO tests: images in the shape of Ubuntu 22.04's live-server ISO, made here.
# ubuntu_like_iso OUT.iso WORK: GRUB for BIOS (El Torito eltorito.img + grub2 MBR) and UEFI (an
# appended GPT partition holding efi.img, booted through El Torito too), exactly the layout
# `xorriso -report_el_torito as_mkisofs` shows for ubuntu-22.04.5-live-server-amd64.iso, plus
# /casper/vmlinuz, /casper/initrd, /.disk/info, md5sum.txt and Ubuntu's grub.cfg. The GRUB
# images come from grub-mkrescue (grub-pc-bin, grub-efi-amd64-bin, mtools).
# What its offline installer can install (src/iso/pool.c reads it): a pool/ of .deb files named
# pool/<component>/<x>/<source>/<package>_<version>_<arch>.deb (main and restricted, as the
# installer's `deb file:///cdrom jammy main restricted`) and the casper manifests of the layers
# (ubuntu-server-minimal, ubuntu-server-minimal.ubuntu-server: the installed system;
# *.installer.manifest: the live installer only). The package set is the fixture's, not a copy
# of the real 22.04.5 lists: pool/ sysstat, ethtool, grub-efi-amd64-signed; installed: bash,
# curl, zstd, vim, htop, tcpdump, bash-completion; installer only: casper, subiquity-tools.
# A third argument replaces /.disk/info (e.g. an older 22.04 point release).
ubuntu_like_iso() {
	local out=$1 work=$2 info=${3:-'Ubuntu-Server 22.04.5 LTS "Jammy Jellyfish" - Release amd64 (20240911)'} tree
	tree="$work/tree"
	mkdir -p "$tree/casper" "$tree/.disk" "$tree/boot/grub"
	head -c 300000 /dev/urandom >"$tree/casper/vmlinuz"
	head -c 500000 /dev/urandom >"$tree/casper/initrd"
	echo "$info" >"$tree/.disk/info"
	mkdir -p "$tree/pool/main/s/sysstat" "$tree/pool/main/e/ethtool" "$tree/pool/restricted/g/grub2-signed"
	head -c 2000 /dev/urandom >"$tree/pool/main/s/sysstat/sysstat_12.5.2-2ubuntu0.2_amd64.deb"
	head -c 2000 /dev/urandom >"$tree/pool/main/e/ethtool/ethtool_5.16-1ubuntu0.1_amd64.deb"
	head -c 2000 /dev/urandom >"$tree/pool/restricted/g/grub2-signed/grub-efi-amd64-signed_1.187.6+2.06-2ubuntu14.4_amd64.deb"
	# the base layer: "name<TAB>version" (as livecd-rootfs writes them), one with ":arch"
	printf 'bash\t5.1-6ubuntu1.1\ncurl\t7.81.0-1ubuntu1.16\nzstd:amd64\t1.4.8+dfsg-3build1\n' \
		>"$tree/casper/ubuntu-server-minimal.manifest"
	printf 'vim\t2:8.2.3995-1ubuntu2.17\nhtop\t3.0.5-7build2\ntcpdump\t4.99.1-3ubuntu0.2\nbash-completion\t1:2.11-5ubuntu1\n' \
		>"$tree/casper/ubuntu-server-minimal.ubuntu-server.manifest"
	printf 'casper\t1.470.3\nsubiquity-tools\t0\n' \
		>"$tree/casper/ubuntu-server-minimal.ubuntu-server.installer.manifest"
	cat >"$tree/boot/grub/grub.cfg" <<'CFG'
set timeout=30

loadfont unicode

serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
echo "grub platform: $grub_platform"

set menu_color_normal=white/black
set menu_color_highlight=black/light-gray

menuentry "Try or Install Ubuntu Server" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  ---
	initrd	/casper/initrd
}
menuentry "Ubuntu Server with the HWE kernel" {
	set gfxpayload=keep
	linux	/casper/hwe-vmlinuz  ---
	initrd	/casper/hwe-initrd
}
CFG
	cat >"$tree/boot/grub/loopback.cfg" <<'CFG'
menuentry "Try or Install Ubuntu Server" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  iso-scan/filename=${iso_path} ---
	initrd	/casper/initrd
}
CFG
	(cd "$tree" && md5sum ./casper/vmlinuz ./casper/initrd ./boot/grub/grub.cfg ./boot/grub/loopback.cfg ./.disk/info >md5sum.txt)
	# GRUB's boot images, built by grub-mkrescue, then the tree laid out like Ubuntu's
	grub-mkrescue -o "$work/mkrescue.iso" "$tree" >/dev/null 2>&1
	xorriso -osirrox on -indev "$work/mkrescue.iso" \
		-extract /boot/grub/i386-pc "$tree/boot/grub/i386-pc" \
		-extract /boot/grub/x86_64-efi "$tree/boot/grub/x86_64-efi" \
		-extract /efi.img "$work/efi.img" >/dev/null 2>&1
	chmod -R u+w "$tree"
	xorriso -as mkisofs -r -V 'Ubuntu-Server 22.04.5 LTS amd64' -o "$out" \
		--grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img -partition_offset 16 --mbr-force-bootable \
		-append_partition 2 28732ac11ff8d211ba4b00a0c93ec93b "$work/efi.img" -appended_part_as_gpt \
		-iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7 \
		-c /boot.catalog -b /boot/grub/i386-pc/eltorito.img -no-emul-boot -boot-load-size 4 \
		-boot-info-table --grub2-boot-info \
		-eltorito-alt-boot -e '--interval:appended_partition_2:::' -no-emul-boot \
		"$tree" >/dev/null 2>&1
	rm -f "$work/mkrescue.iso"
}

# plain_iso OUT.iso WORK: a valid ISO that is not Ubuntu's (no /casper, no /.disk/info)
plain_iso() {
	mkdir -p "$2/plain/boot/grub"
	echo 'menuentry "x" { linux /vmlinuz --- }' >"$2/plain/boot/grub/grub.cfg"
	xorriso -as mkisofs -r -V PLAIN -o "$1" "$2/plain" >/dev/null 2>&1
}

# el_torito_setup ISO: the boot setup as mkisofs options, without the numbers that depend on
# the image's size and the image's file name
el_torito_setup() {
	xorriso -indev "$1" -report_el_torito as_mkisofs 2>/dev/null |
		sed -E "s/'[^']*\\.iso'/'IMAGE'/; s/[0-9]+d-[0-9]+d/Nd-Nd/; s/_start_[0-9]+s_/_start_Ns_/"
}
