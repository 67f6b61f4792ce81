#!/usr/bin/env bash
# pass (tests/lib/harness.sh) always succeeds, so `check && pass || fail` is an if-then-else here.
# shellcheck disable=SC2015
# k3sforge create-vms / destroy / doctor --host against the vmrun test double (tests/fakes/vmrun),
# through the real CLI with the built-in lab configuration (no k3sforge.yaml in the work dir:
# the seeds' three nodes). No process outlives a command: the double exits after every call.
set -uo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN not set}
SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf-create-vms
work=$H_SCRATCH
export FAKE_VMRUN_STATE=$work/state FAKE_VMRUN_FAULTS=$work/faults.env
export PATH="$SRC/tests/fakes:$PATH"
# VMware's lock wait keeps its 120 s bound; the 5 s settle after a stop is shortened here.
export K3SFORGE_VMWARE_SETTLE_MS=100
cd "$work" || exit 1
out=$work/out
nodes=(k3s-master1 k3s-worker1 k3s-worker2)
: >"$FAKE_VMRUN_FAULTS"

kf() { "$BIN" --no-color -o "$out" "$@" >"$work/stdout" 2>"$work/stderr"; }
h_on_fail() { echo "--- stderr:"; cat "$work/stderr"; }
expect_fail_with() { # name, text...
	begin "$1"
	shift
	if kf create-vms --force; then fail "create-vms succeeded"; return; fi
	for t in "$@"; do
		grep -qF -- "$t" "$work/stderr" || { fail "no '$t' in the message"; return; }
	done
	pass
}
make_isos() {
	mkdir -p "$out/iso"
	head -c 65536 /dev/zero >"$out/iso/installer.iso"
	for n in "${nodes[@]}"; do head -c 4096 /dev/zero >"$out/iso/seed-$n.iso"; done
}
count() { grep -c -- "$1" "$FAKE_VMRUN_STATE/calls.log" 2>/dev/null || true; }

test_create_vms_needs_the_installer_iso() {
	if kf create-vms; then fail "succeeded without ISOs"; return; fi
	grep -q "installer.iso is missing: run \`k3sforge build-iso\` first" "$work/stderr" &&
		pass || fail "message does not name the ISO and build-iso"
}

test_create_vms_names_the_missing_seed() {
	make_isos
	rm "$out/iso/seed-k3s-worker2.iso"
	if kf create-vms; then fail "succeeded without a seed"; return; fi
	grep -q "seed-k3s-worker2.iso is missing" "$work/stderr" && pass ||
		fail "missing seed not named"
	make_isos
}

# Workstation takes power calls one at a time (vagrant never runs them in parallel): the
# double flags any start that overlaps another one.
test_create_vms_starts_vms_one_at_a_time() {
	printf 'POWER_ON_DELAY=0.5\nSERIAL_ONLY=flag\n' >"$FAKE_VMRUN_FAULTS"
	if ! kf create-vms; then fail "create-vms failed"; return; fi
	: >"$FAKE_VMRUN_FAULTS"
	if [ -s "$FAKE_VMRUN_STATE/violations.log" ]; then
		fail "$(cat "$FAKE_VMRUN_STATE/violations.log")"; return
	fi
	python3 - "$FAKE_VMRUN_STATE/calls.log" <<'PY' || { fail "starts overlapped"; return; }
import sys
spans, open_ = [], {}
for line in open(sys.argv[1]):
    parts = line.split()
    if parts[1] == "BEGIN" and len(parts) > 5 and parts[5] == "start":
        open_[parts[2]] = float(parts[0])
    elif parts[1] == "END" and parts[2] in open_:
        spans.append((open_.pop(parts[2]), float(parts[0])))
spans.sort()
assert len(spans) == 3, spans
assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
PY
	"$SRC/tests/fakes/vmrun" -T ws list >"$work/list"
	grep -q "Total running VMs: 3" "$work/list" && pass || fail "not 3 running"
}

test_vm_folders_are_complete_and_marked() {
	for n in "${nodes[@]}"; do
		for f in "$n.vmx" "$n.vmdk" .k3sforge-owned; do
			[ -f "$out/vms/$n/$f" ] || { fail "$out/vms/$n/$f missing"; return; }
		done
		grep -q "^cluster=lab$" "$out/vms/$n/.k3sforge-owned" || { fail "mark"; return; }
	done
	pass
}

test_vmx_files_have_expected_keys() {
	local macs=""
	for n in "${nodes[@]}"; do
		local vmx="$out/vms/$n/$n.vmx"
		for kv in '.encoding = "UTF-8"' 'guestOS = "ubuntu-64"' 'virtualHW.version = "21"' \
			"displayName = \"$n\"" 'firmware = "bios"' 'bios.bootOrder = "hdd,cdrom"' \
			'numvcpus = "2"' 'memsize = "4096"' "scsi0:0.fileName = \"$n.vmdk\"" \
			"ide0:0.fileName = \"$out/iso/installer.iso\"" \
			"ide0:1.fileName = \"$out/iso/seed-$n.iso\"" \
			'ethernet0.connectionType = "custom"' 'ethernet0.vnet = "/dev/vmnet1"' \
			'ethernet0.virtualDev = "vmxnet3"' 'ethernet0.addressType = "static"' \
			'tools.syncTime = "TRUE"' 'msg.autoAnswer = "TRUE"'; do
			grep -qxF -- "$kv" "$vmx" || { fail "$n: no line '$kv'"; return; }
		done
		local mac
		mac=$(sed -n 's/^ethernet0.address = "\(.*\)"$/\1/p' "$vmx")
		[[ $mac =~ ^00:50:56:[0-3][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$ ]] ||
			{ fail "$n: MAC '$mac' outside the static range"; return; }
		macs+="$mac"$'\n'
	done
	[ "$(printf '%s' "$macs" | sort -u | wc -l)" -eq 3 ] && pass ||
		fail "MACs not unique"
}

test_disks_pass_qemu_img_check() {
	for n in "${nodes[@]}"; do
		local d="$out/vms/$n/$n.vmdk"
		qemu-img check "$d" >/dev/null || { fail "$n: qemu-img check"; return; }
		qemu-img info --output=json "$d" | python3 -c '
import json,sys; j=json.load(sys.stdin)
assert j["format"]=="vmdk" and j["virtual-size"]==40*1024**3, j' ||
			{ fail "$n: qemu-img info"; return; }
	done
	pass
}

test_state_records_each_node() {
	python3 - "$out/state.json" <<'PY' && pass || fail "state.json lacks the nodes"
import json, sys
st = json.load(open(sys.argv[1]))
assert st["stages"]["create-vms"]["status"] == "done"
nodes = st["data"]["create-vms"]["nodes"]
assert sorted(nodes) == ["k3s-master1", "k3s-worker1", "k3s-worker2"], nodes
cv = st["data"]["create-vms"]
assert cv["hypervisor"] == "vmware" and cv["program"].endswith("vmrun") and cv["version"], cv
for n, rec in nodes.items():
    assert rec["vm"].endswith("/%s/%s.vmx" % (n, n)) and rec["mac"].startswith("00:50:56:")
    assert rec["folder"].endswith("/%s" % n)
    assert rec["started_at"].endswith("Z")
PY
}

test_rerun_changes_nothing() {
	local before after calls_before
	before=$(cd "$out/vms" && find . -type f -exec stat -c '%n %Y %s' {} + | sort; sha256sum ./*/*.vmx)
	calls_before=$(count BEGIN)
	if ! kf create-vms; then fail "rerun failed"; return; fi
	after=$(cd "$out/vms" && find . -type f -exec stat -c '%n %Y %s' {} + | sort; sha256sum ./*/*.vmx)
	[ "$before" = "$after" ] || { fail "files changed"; return; }
	[ "$(count BEGIN)" = "$calls_before" ] || { fail "vmrun was called"; return; }
	grep -q "skip: create-vms" "$work/stderr" && pass || fail "no skip line"
}

test_fault_file_locked() {
	echo "LOCKED=k3s-worker1" >"$FAKE_VMRUN_FAULTS"
	expect_fail_with "${FUNCNAME[0]}" "already in use" "[file-locked]" "k3s-worker1"
	: >"$FAKE_VMRUN_FAULTS"
}

test_fault_start_fails() {
	echo "START_FAIL=k3s-worker2" >"$FAKE_VMRUN_FAULTS"
	expect_fail_with "${FUNCNAME[0]}" "Unknown error" "[unknown]" "vmware.log" "1 of 3 VMs did not start"
	: >"$FAKE_VMRUN_FAULTS"
}

test_fault_permission_denied() {
	echo "PERMISSION=all" >"$FAKE_VMRUN_FAULTS"
	expect_fail_with "${FUNCNAME[0]}" "Insufficient permissions" "[permission-denied]"
	: >"$FAKE_VMRUN_FAULTS"
}

test_fault_vmrun_missing() {
	local saved=$PATH
	PATH=/usr/bin:/bin
	expect_fail_with "${FUNCNAME[0]}" "vmrun not found" "host checks failed" "no VM was touched"
	PATH=$saved
}

test_recovers_after_faults() {
	if kf create-vms --force; then pass; else fail "clean run failed"; fi
}

test_destroy_needs_yes_off_terminal() {
	if "$BIN" --no-color -o "$out" destroy </dev/null >"$work/stdout" 2>"$work/stderr"; then
		fail "destroy ran without --yes"; return
	fi
	grep -q -- "--yes" "$work/stderr" && [ -d "$out/vms/k3s-master1" ] && pass ||
		fail "no --yes hint, or something was deleted"
}

test_destroy_removes_only_the_labs_vms() {
	mkdir -p "$out/vms/other-stuff" && echo keep >"$out/vms/other-stuff/notes.txt"
	if ! kf destroy --yes </dev/null; then fail "destroy failed"; return; fi
	for n in "${nodes[@]}"; do
		[ ! -e "$out/vms/$n" ] || { fail "$n still there"; return; }
	done
	[ -f "$out/vms/other-stuff/notes.txt" ] || { fail "foreign folder deleted"; return; }
	"$SRC/tests/fakes/vmrun" -T ws list >"$work/list"
	grep -q "Total running VMs: 0" "$work/list" && pass || fail "VMs still running"
}

# vmware-vmx holds the disk's lock for a while after the VM is off (packer#1267): destroy waits
# for it (the double drops it after LINGER_LOCKS seconds and reports a folder deleted before).
test_destroy_waits_for_vmware_locks() {
	printf 'LINGER_LOCKS=1\n' >"$FAKE_VMRUN_FAULTS"
	rm -f "$FAKE_VMRUN_STATE/violations.log"
	if ! kf create-vms --force --yes; then fail "create-vms failed"; return; fi
	ls -d "$out/vms/k3s-master1/k3s-master1.vmdk.lck" >/dev/null 2>&1 ||
		{ fail "the double took no lock"; return; }
	if ! kf destroy --yes </dev/null; then fail "destroy failed"; return; fi
	: >"$FAKE_VMRUN_FAULTS"
	sleep 1.5 # the double's lingering vmware-vmx reports when its time is up
	if [ -s "$FAKE_VMRUN_STATE/violations.log" ]; then
		fail "$(cat "$FAKE_VMRUN_STATE/violations.log")"; return
	fi
	grep -q "waiting for VMware to release" "$work/stderr" && [ ! -e "$out/vms/k3s-master1" ] &&
		pass || fail "no wait logged, or the folder is still there"
}

# Locks that outlast the bound: destroy stops with the held files named and deletes nothing.
test_destroy_names_locks_that_stay() {
	printf 'LINGER_LOCKS=4\n' >"$FAKE_VMRUN_FAULTS"
	if ! kf create-vms --yes; then fail "create-vms failed"; return; fi
	export K3SFORGE_VMWARE_LOCK_WAIT_S=1
	if kf destroy --yes </dev/null; then
		fail "destroy went on"; : >"$FAKE_VMRUN_FAULTS"; return
	fi
	unset K3SFORGE_VMWARE_LOCK_WAIT_S
	local ok=1
	grep -q "still holds k3s-master1.vmdk.lck/M" "$work/stderr" || ok=0
	[ -f "$out/vms/k3s-master1/k3s-master1.vmx" ] || ok=0
	sleep 4.5 # let the locks go, then clean up
	rm -f "$FAKE_VMRUN_STATE/violations.log"
	kf destroy --yes </dev/null || ok=0
	[ "$ok" = 1 ] && pass || fail "held files not named, or deleted"
}

test_foreign_folder_is_never_touched() {
	mkdir -p "$out/vms/k3s-worker2" && echo mine >"$out/vms/k3s-worker2/notes.txt"
	if kf create-vms; then fail "created over a foreign folder"; return; fi
	grep -q "not a VM folder k3sforge made" "$work/stderr" || { fail "message"; return; }
	if kf create-vms --force; then fail "--force replaced a non-VM folder"; return; fi
	grep -q "even with --force" "$work/stderr" || { fail "--force message"; return; }
	[ -f "$out/vms/k3s-worker2/notes.txt" ] && [ ! -e "$out/vms/k3s-master1" ] && pass ||
		fail "something was touched"
	rm -rf "$out/vms/k3s-worker2"
}

test_foreign_vm_folder_needs_force() {
	mkdir -p "$out/vms/k3s-worker2" && echo 'displayName = "hand-made"' >"$out/vms/k3s-worker2/k3s-worker2.vmx"
	if kf create-vms; then fail "replaced without --force"; return; fi
	grep -q "pass --force to replace it" "$work/stderr" || { fail "message"; return; }
	if ! kf create-vms --force; then fail "--force failed"; return; fi
	[ -f "$out/vms/k3s-worker2/.k3sforge-owned" ] && grep -q 'displayName = "k3s-worker2"' \
		"$out/vms/k3s-worker2/k3s-worker2.vmx" && pass || fail "not replaced"
}

test_wsl_refuses_vm_dir_off_windows_drives() {
	# Under WSL vmrun.exe is a Windows program: VM files must live on /mnt/<drive>.
	mkdir -p "$work/winbin" && ln -sf "$SRC/tests/fakes/vmrun" "$work/winbin/vmrun.exe"
	local saved=$PATH rc=0
	PATH="$work/winbin:/usr/bin:/bin"
	K3SFORGE_WSL=1 "$BIN" --no-color -o "$out" create-vms --force >"$work/stdout" 2>"$work/stderr" || rc=$?
	PATH=$saved
	[ "$rc" -ne 0 ] || { fail "succeeded"; return; }
	grep -q "inside the WSL file system" "$work/stderr" && grep -q "/mnt/c" "$work/stderr" &&
		pass || fail "no WSL path advice"
}

test_doctor_host_json_lists_findings() {
	local rc=0
	"$BIN" --no-color -o "$out" doctor --host --json >"$work/stdout" 2>"$work/stderr" || rc=$?
	python3 - "$work/stdout" <<'PY' || { fail "bad findings JSON"; return; }
import json, sys
# doctor --json is the event stream: one host_check event per finding (docs/events.md)
f = [e for e in map(json.loads, open(sys.argv[1])) if e["type"] == "host_check"]
checks = {x["check"]: x for x in f}
assert checks["vmrun"]["status"] == "ok" and "1.17.0" in checks["vmrun"]["summary"], checks["vmrun"]
for x in f:
    assert x["status"] in ("ok", "info", "warn", "fail")
    assert x["status"] != "fail" or x["fix"], x
assert {"vmrun", "vmnet", "memory", "disk", "wsl"} <= set(checks), checks
PY
	# This test host has no VMware networking: the vmnet check fails and doctor says so.
	if [ -e /etc/vmware/networking ]; then pass; return; fi
	[ "$rc" -ne 0 ] && pass || fail "exit 0 with a failed check"
}

test_doctor_under_wsl_reports_what_it_cannot_read() {
	local rc=0
	K3SFORGE_WSL=1 "$BIN" --no-color -o "$out" doctor --host --json >"$work/stdout" \
		2>"$work/stderr" || rc=$?
	python3 - "$work/stdout" <<'PY' && pass || fail "findings"
import json, sys
checks = {x["check"]: x for x in map(json.loads, open(sys.argv[1])) if x["type"] == "host_check"}
assert checks["memory"]["status"] == "info" and "not checked" in checks["memory"]["summary"]
assert checks["wsl"]["status"] in ("info", "warn"), checks["wsl"]
# NAT mode (no .wslconfig, no wslinfo) without netsh.exe: the port proxy is said to be unchecked.
assert checks["portproxy"]["status"] == "warn" and "not checked" in checks["portproxy"]["summary"], checks["portproxy"]
# Without Windows' reg.exe the vmnet cannot be read: said so, never reported as fine.
assert checks["vmnet"]["status"] in ("warn", "fail", "info") and checks["vmnet"]["fix"]
PY
}

test_host_checks_warn_only_lets_an_overcommitted_host_go_on() {
	local d="$work/overcommit" n
	local cfg="$d/lab.yaml"
	mkdir -p "$d/out/iso"
	# One node wanting more memory than any test host has: the memory check fails.
	printf 'nodes:\n  - { name: big-master, role: master, ip: 192.168.6.10, memory: 262144, disk: 10 }\nvmware: { vmrun: %s/tests/fakes/vmrun }\n' "$SRC" >"$cfg"
	head -c 65536 /dev/zero >"$d/out/iso/installer.iso"
	head -c 4096 /dev/zero >"$d/out/iso/seed-big-master.iso"
	if "$BIN" --no-color -c "$cfg" -o "$d/out" create-vms >"$work/stdout" 2>"$work/stderr"; then
		fail "create-vms went on without K3SFORGE_HOST_CHECKS=warn"; return
	fi
	grep -q "host checks failed" "$work/stderr" || { fail "no host check failure"; return; }
	K3SFORGE_HOST_CHECKS=warn "$BIN" --no-color -c "$cfg" -o "$d/out" create-vms >"$work/stdout" 2>"$work/stderr" ||
		{ fail "create-vms failed with K3SFORGE_HOST_CHECKS=warn"; return; }
	grep -q "K3SFORGE_HOST_CHECKS=warn: going on despite" "$work/stderr" ||
		{ fail "no warning that checks failed"; return; }
	n=$("$SRC/tests/fakes/vmrun" -T ws list | grep -c "big-master.vmx")
	"$SRC/tests/fakes/vmrun" -T ws stop "$d/out/vms/big-master/big-master.vmx" hard >/dev/null
	[ "$n" -eq 1 ] || { fail "big-master not running"; return; }
	# the same from the configuration (vmware.host_checks: warn), in a fresh output dir
	mkdir -p "$d/out2/iso"
	cp "$d/out/iso/"*.iso "$d/out2/iso/"
	sed -i "s|^vmware: { vmrun: \(.*\) }$|vmware: { vmrun: \1, host_checks: warn }|" "$cfg"
	grep -q "host_checks: warn" "$cfg" || { fail "config not edited"; return; }
	"$BIN" --no-color -c "$cfg" -o "$d/out2" create-vms >"$work/stdout" 2>"$work/stderr" ||
		{ fail "create-vms failed with vmware.host_checks: warn"; return; }
	grep -q "vmware.host_checks: warn: going on despite" "$work/stderr" ||
		{ fail "no warning naming the config key"; return; }
	"$SRC/tests/fakes/vmrun" -T ws stop "$d/out2/vms/big-master/big-master.vmx" hard >/dev/null
	pass
}

# Image mode on VMware: each node's disk is the cloud image (here a small qcow2 with a marker
# written at a known offset), grown to nodes[].disk and written as a monolithicSparse VMDK;
# the payload CD takes the installer's slot; no installer ISO is needed.
test_image_mode_makes_vmdks_from_the_image() {
	local d="$work/image" cfg="$work/image/lab.yaml" v
	mkdir -p "$d/out/iso"
	qemu-img create -q -f qcow2 "$d/cloud.qcow2" 1G
	printf 'k3sforge-image-marker' >"$d/marker"
	# the marker at 1 MiB, through a raw copy (qemu-img has no in-place write of a file)
	qemu-img convert -O raw "$d/cloud.qcow2" "$d/cloud.raw"
	dd if="$d/marker" of="$d/cloud.raw" bs=1M seek=1 conv=notrunc status=none
	qemu-img convert -O qcow2 "$d/cloud.raw" "$d/cloud.qcow2"
	printf 'nodes:\n  - { name: img-master, role: master, ip: 192.168.6.10, memory: 1024, disk: 10 }\nvmware: { vmrun: %s/tests/fakes/vmrun }\nguest: { image: cloud.qcow2 }\n' "$SRC" >"$cfg"
	head -c 65536 /dev/zero >"$d/out/iso/payload.iso"
	head -c 4096 /dev/zero >"$d/out/iso/seed-img-master.iso"
	K3SFORGE_HOST_CHECKS=warn "$BIN" --no-color -c "$cfg" -o "$d/out" create-vms >"$work/stdout" 2>"$work/stderr" ||
		{ fail "${FUNCNAME[0]}" "create-vms failed"; return; }
	v="$d/out/vms/img-master/img-master.vmdk"
	qemu-img check "$v" >/dev/null || { fail "${FUNCNAME[0]}" "qemu-img check"; return; }
	qemu-img info --output=json "$v" | python3 -c '
import json,sys; j=json.load(sys.stdin)
assert j["format"]=="vmdk" and j["virtual-size"]==10*1024**3, j
assert j["format-specific"]["data"]["create-type"]=="monolithicSparse", j' ||
		{ fail "${FUNCNAME[0]}" "not a 10 GiB monolithicSparse VMDK"; return; }
	qemu-img convert -O raw "$v" "$d/node.raw"
	[ "$(dd if="$d/node.raw" bs=1M skip=1 count=1 status=none | head -c 21)" = "k3sforge-image-marker" ] ||
		{ fail "${FUNCNAME[0]}" "the image's data is not on the node's disk"; return; }
	grep -q '^ide0:0.fileName = ".*payload.iso"' "$d/out/vms/img-master/img-master.vmx" ||
		{ fail "${FUNCNAME[0]}" "payload CD not attached"; return; }
	grep -q 'ddb.adapterType = "lsilogic"' <(head -c 4096 "$v" | strings) ||
		{ fail "${FUNCNAME[0]}" "adapter type"; return; }
	"$SRC/tests/fakes/vmrun" -T ws stop "$d/out/vms/img-master/img-master.vmx" hard >/dev/null
	rm -f "$d/node.raw" "$d/cloud.raw"
	pass "${FUNCNAME[0]}"
}

test_create_vms_needs_the_installer_iso
test_create_vms_names_the_missing_seed
test_create_vms_starts_vms_one_at_a_time
test_vm_folders_are_complete_and_marked
test_vmx_files_have_expected_keys
test_disks_pass_qemu_img_check
test_state_records_each_node
test_rerun_changes_nothing
test_fault_file_locked
test_fault_start_fails
test_fault_permission_denied
test_fault_vmrun_missing
test_recovers_after_faults
test_destroy_needs_yes_off_terminal
test_destroy_removes_only_the_labs_vms
test_destroy_waits_for_vmware_locks
test_destroy_names_locks_that_stay
test_foreign_folder_is_never_touched
test_foreign_vm_folder_needs_force
test_wsl_refuses_vm_dir_off_windows_drives
test_doctor_host_json_lists_findings
test_doctor_under_wsl_reports_what_it_cannot_read
test_host_checks_warn_only_lets_an_overcommitted_host_go_on
test_image_mode_makes_vmdks_from_the_image

h_summary
