#!/usr/bin/env bash
# Boots the remastered installer (made by `k3sforge build-iso` from the Ubuntu-shaped fixture)
# under QEMU with software emulation, once with BIOS (SeaBIOS: El Torito + grub2 MBR) and once
# with UEFI (OVMF: the appended EFI partition), and reads GRUB's menu on the serial console:
# the k3sforge autoinstall entry is there and is the default. Needs qemu-system-x86_64 and
# OVMF (Debian: qemu-system-x86, ovmf); without them it says so and passes nothing off as run.
set -uo pipefail
: "${K3SFORGE_BIN:?}" "${KF_SOURCE_DIR:?}"
# shellcheck source=tests/lib/recipe_fixture.sh
source "$KF_SOURCE_DIR/tests/lib/recipe_fixture.sh"
# shellcheck source=tests/lib/iso_fixture.sh
source "$KF_SOURCE_DIR/tests/lib/iso_fixture.sh"

OVMF=/usr/share/ovmf/OVMF.fd
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f "$OVMF" ]; then
	echo "SKIPPED: qemu-system-x86_64 or $OVMF missing (apt-get install qemu-system-x86 ovmf)"
	exit 0
fi

work=$(mktemp -d /tmp/kfboot.XXXXXX)
qemu_pid=""
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
ubuntu_like_iso "$work/ubuntu.iso" "$work/isowork"
recipe_fixture out k3s-master1 k3s-worker1 k3s-worker2
"$K3SFORGE_BIN" -q -o out build-iso --ubuntu-iso "$work/ubuntu.iso" >/dev/null 2>&1 ||
	{ echo "build-iso failed"; exit 1; }

failed=0
# boot NAME [qemu args...]: GRUB's serial output until the default entry is announced (bounded)
boot() {
	local log="$work/$1.serial" i
	shift
	: >"$log"
	qemu-system-x86_64 -accel tcg -m 256 -display none -no-reboot -net none \
		-cdrom out/iso/installer.iso -boot d -serial "file:$log" "$@" &
	qemu_pid=$!
	for ((i = 0; i < 180; i++)); do
		grep -aq "will be executed automatically" "$log" && break
		sleep 1
	done
	kill "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=""
	tr -d '\033' <"$log" | tr '\r' '\n' >"$log.txt"
}

check_menu() { # check_menu NAME PLATFORM
	local txt="$work/$1.serial.txt"
	if grep -aq "grub platform: $2" "$txt" &&
		grep -aq '\*k3sforge: unattended install (autoinstall)' "$txt" &&
		grep -aq 'Try or Install Ubuntu Server' "$txt"; then
		echo "ok   test_iso_boot_${1}_shows_autoinstall_as_default"
	else
		echo "FAIL test_iso_boot_${1}_shows_autoinstall_as_default"
		head -c 3000 "$txt"
		failed=$((failed + 1))
	fi
}

boot bios
check_menu bios pc
boot uefi -bios "$OVMF"
check_menu uefi efi
[ "$failed" -eq 0 ]
