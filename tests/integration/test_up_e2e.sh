#!/usr/bin/env bash
# pass() always succeeds, so `check && pass || fail` is an if-then-else here.
# shellcheck disable=SC2015
# `k3sforge up` end to end against simulated guests, through the real CLI and a real config file.
#
# The harness (tests/lib/e2e_lab.sh, read its header for the details):
#   - a lab on loopback: network 127.S.T.0/24 (picked at random so parallel runs do not collide),
#     nodes k3s-master1/worker1/worker2 at .10/.11/.12, each reached over SSH at its own address
#     and a free port, the lab registry at .1 (started by prep: real docker-registry over TLS);
#   - a loopback file server with a FAKE k3s release (random binary and airgap tarball,
#     k3s-images.txt, sha256sum-amd64.txt, install.sh pinned by sha256), and a plain-HTTP source
#     registry holding tiny synthetic images (images.source_registry: http://127.0.0.1:PORT);
#   - an ISO in Ubuntu 22.04's shape (tests/lib/iso_fixture.sh) for build-iso;
#   - vmware.vmrun = tests/fakes/vmrun (the allowed vmrun double). Its power-on hook runs
#     tests/lib/e2e_guest.sh start: a real sshd on the node's address with the node's pinned
#     host key from <out>/ssh/host/, the operator key authorized, tests/fakes/guest-shell as
#     ForceCommand (the node's own /var/lib and /etc/rancher in a private mount namespace), a
#     background writer laying the markers down DELAY seconds after power-on, and on the master
#     a TLS stand-in API on <master>:6443 (tests/lib/tls_version_server.py) that demands the
#     client certificate of the master's k3s.yaml. Power-off stops them by PID, so finalize's
#     stop/edit/start cycle is real. In the guest, `k3s` is the allowed double
#     (tests/fakes/k3s: node list and kube-system pods as JSON);
#   - KubeSphere on: the ks-core chart served by the file server (pinned sha256), its images in
#     the source registry, its pods listed by the k3s stand-in, a stand-in console on :30880;
#   - $KUBECONFIG: a file with another context, which the merge must keep.
# The cases run in order on one lab (each later case starts from the finished lab of the first):
#   happy path; no-op rerun (its time is printed, not asserted); `up --from wait`; finalize with
#   a VM left powered off after its ISOs were detached; a node that
#   never completes; a guest with another host key; SIGKILL during wait, then `up` resumes; a
#   rebuilt cluster whose kubeconfig entry conflicts (the message names the command), then `up`.
# Every process started is stopped by PID at exit (e2e_lab_teardown), whatever happened.
set -uo pipefail

SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}
: "${K3SFORGE_BIN:?K3SFORGE_BIN not set}"
# shellcheck source=tests/lib/e2e_lab.sh
source "$SRC/tests/lib/e2e_lab.sh"

# shellcheck source=tests/lib/harness.sh
. "$SRC/tests/lib/harness.sh"
h_scratch kf-e2e
work=$H_SCRATCH
cleanup() {
	[ -f "$work/pids/k3sforge.pid" ] && e2e_stop_pidfile "$work/pids/k3sforge.pid"
	e2e_lab_teardown
}
h_on_exit cleanup
log="$work/run.log"
# The test's own power calls (scaffolding, not k3sforge) may restart a VM whose locks linger.
vmrun_by_hand() { FAKE_VMRUN_BY_HAND=1 "$SRC/tests/fakes/vmrun" "$@"; }
VMRUN=vmrun_by_hand

h_on_fail() {
	echo "--- output:"
	tail -n 40 "$log" 2>/dev/null
}
run() { e2e_kf "$@" >"$log" 2>&1; }
has() { grep -qF -- "$1" "$log"; }
stage_status() { # stage -> its status in state.json
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stages"][sys.argv[2]]["status"])' \
		"$E2E_OUT/state.json" "$1" 2>/dev/null
}
summary_is() { # stage result: the stage summary line of the last run
	grep -qE "^.* INFO    $1 +[0-9.]+s +[0-9.]+%  $2\$" "$log"
}
marker_of() { if [ "$1" = k3s-master1 ]; then echo k3s-bootstrap.done; else echo k3s-agent-bootstrap.done; fi; }
vmx_of() { echo "$E2E_OUT/vms/$1/$1.vmx"; }
calls() { grep -c " BEGIN " "$FAKE_VMRUN_STATE/calls.log" 2>/dev/null || echo 0; }
listening() { # ip port: wait until it accepts
	for _ in $(seq 100); do
		python3 -c 'import socket,sys; socket.create_connection((sys.argv[1],int(sys.argv[2])),1)' \
			"$1" "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# shellcheck source=/dev/null
guest_var() { (source "$E2E_WORK/guests/$1/guest.env" && eval "echo \$$2"); }

e2e_lab_setup "$work" 3 1 1.5 2 || { echo "FAIL setup: the lab could not be built"; exit 1; }
echo "lab: network $E2E_NET.0/24, config $E2E_CFG"

# prep's registry and images go on beside build-iso (up only); their failure still stops up
# before any VM is touched, as prep's: an image the source does not have is named, state.json
# says prep failed, and the next up (the image list fixed) resumes at prep and keeps the VMs.
test_up_stops_at_prep_when_its_images_fail_beside_build_iso() {
	local power_before st
	cp "$E2E_CFG" "$work/lab.yaml.good"
	sed -i 's|^  inline:$|  inline:\n    - docker.io/library/not-at-the-source:1.0|' "$E2E_CFG"
	power_before=$(grep -cE " BEGIN [0-9]+ -T ws (start|stop) " "$FAKE_VMRUN_STATE/calls.log")
	run up && { cp "$work/lab.yaml.good" "$E2E_CFG"; fail "up went on without an image"; return; }
	cp "$work/lab.yaml.good" "$E2E_CFG"
	has "not-at-the-source" || { fail "the missing image is not named"; return; }
	has "stage prep" || { fail "not reported as prep's failure"; return; }
	has "it resumes at prep" || { fail "the resume point is not prep"; return; }
	[ "$(stage_status prep)" = failed ] || { fail "state.json: prep is $(stage_status prep)"; return; }
	[ "$(grep -cE " BEGIN [0-9]+ -T ws (start|stop) " "$FAKE_VMRUN_STATE/calls.log")" -eq "$power_before" ] ||
		{ fail "a VM was started or stopped after prep failed"; return; }
	run up || { fail "up after the fix exited $?"; return; }
	has "at prep: its last run ended 'failed'" || { fail "did not resume at prep"; return; }
	summary_is create-vms "skipped \\(up to date\\)" || { fail "the VMs were made again"; return; }
	for st in prep build-iso create-vms wait finalize kubeconfig; do
		[ "$(stage_status "$st")" = "done" ] || { fail "state.json: $st not done"; return; }
	done
	pass
}

test_up_builds_the_lab_end_to_end() {
	local ctxs server st n ready line
	run up || { fail "up exited $?"; return; }
	has "stage summary:" || { fail "no stage summary"; return; }
	for st in prep build-iso create-vms wait finalize kubeconfig; do
		summary_is "$st" ok || { fail "summary: $st not ok"; return; }
		[ "$(stage_status "$st")" = "done" ] || { fail "state.json: $st not done"; return; }
	done
	# The host checks and the hypervisor's precheck ran once, in the preflight: create-vms
	# does not repeat them (each reads the Workstation version: a program start, on WSL an
	# interop call).
	[ "$(grep -c 'INFO  VMware Workstation 17' "$log")" -eq 1 ] ||
		{ fail "the precheck ran $(grep -c 'INFO  VMware Workstation 17' "$log") times"; return; }
	# finalize takes the wait's word that every node runs after its restart: no vmrun call
	# after the last node's start (it used to ask `list` once more).
	awk '/ BEGIN [0-9]+ -T ws start /{s=NR} / BEGIN [0-9]+ -T ws list/{l=NR} END{exit !(l < s)}' \
		"$FAKE_VMRUN_STATE/calls.log" || { fail "vmrun list asked after the last start"; return; }
	# Every node was powered off and on again once, the ISOs are gone from the VMX, and that
	# happened during the wait, each node as soon as it was ready (not after the slowest):
	# its detach line comes before the wait's closing line, and finalize found nothing to do.
	ready=$(grep -n "nodes ready in" "$log" | head -1 | cut -d: -f1)
	[ -n "$ready" ] || { fail "no closing line of the wait"; return; }
	for n in "${E2E_NODES[@]}"; do
		[ "$(grep -c 'powered off' "$E2E_WORK/guests/$n/power.log")" -eq 1 ] &&
			[ "$(grep -c 'powered on' "$E2E_WORK/guests/$n/power.log")" -eq 2 ] ||
			{ fail "$n was not stopped and started once"; return; }
		line=$(grep -n "$n: ISOs detached, VM started again" "$log" | head -1 | cut -d: -f1)
		[ -n "$line" ] && [ "$line" -lt "$ready" ] ||
			{ fail "$n: not detached during the wait (line ${line:-none}, wait done at $ready)"; return; }
		has "$n: ISOs already detached" || { fail "$n: finalize did not find it detached"; return; }
		grep -qiE '\.iso"' "$(vmx_of "$n")" && { fail "$n: an ISO is still attached"; return; }
		[ "$(grep -ciE '^ide0:[01]\.startConnected = "FALSE"' "$(vmx_of "$n")")" -eq 2 ] ||
			{ fail "$n: the CD-ROMs still connect at power-on"; return; }
	done
	# Nothing Workstation would have refused or lost: no overlapping power calls, no VMX
	# edited while vmware-vmx still held the VM's files, no NIC on the wrong vnet form.
	sleep 2.2 # the double's lingering locks report when their 2 s are up
	[ ! -s "$FAKE_VMRUN_STATE/violations.log" ] ||
		{ fail "vmrun double: $(cat "$FAKE_VMRUN_STATE/violations.log")"; return; }
	# KubeSphere: its chart verified, its images mirrored, its pods and console waited for.
	has "images of k3s $E2E_VERSION and the add-ons are in the lab registry" ||
		{ fail "the add-on images were not checked"; return; }
	[ -f "$E2E_OUT/artifacts/ks-core-1.1.4.tgz" ] || { fail "no ks-core chart in artifacts/"; return; }
	has "KubeSphere console: http://$E2E_NET.10:30880" || { fail "console not confirmed"; return; }
	[ "$(stat -c %a "$E2E_OUT/kubeconfig")" = 600 ] || { fail "<out>/kubeconfig is not 0600"; return; }
	# The merged user kubeconfig, read back by kubectl: both contexts, the lab's server.
	ctxs=$(kubectl config view -o jsonpath='{.contexts[*].name}') ||
		{ fail "kubectl config view failed"; return; }
	[[ " $ctxs " == *" other "* && " $ctxs " == *" k3sforge-e2e "* ]] ||
		{ fail "contexts after the merge: '$ctxs'"; return; }
	[ "$(kubectl config view -o jsonpath='{.current-context}')" = other ] ||
		{ fail "the current context changed"; return; }
	server=$(kubectl config view -o jsonpath='{.clusters[?(@.name=="k3sforge-e2e")].cluster.server}')
	[ "$server" = "https://$E2E_NET.10:6443" ] || { fail "lab server is '$server'"; return; }
	# and kubectl itself reaches the API stand-in with the merged CA and client certificate.
	kubectl --context k3sforge-e2e version -o json >"$work/version.json" 2>&1 &&
		grep -q '"gitVersion": "v1.33.4+k3s1"' "$work/version.json" ||
		{ fail "kubectl --context k3sforge-e2e version: $(cat "$work/version.json")"; return; }
	pass
}

test_up_rerun_after_success_skips_every_stage() {
	local before t0 t1 st
	before=$(calls)
	t0=$(date +%s.%N)
	run up || { fail "rerun exited $?"; return; }
	t1=$(date +%s.%N)
	echo "INFO no-op rerun of up took $(awk "BEGIN{printf \"%.3f\", $t1 - $t0}") s (wall, process start to exit)"
	has "everything is up to date: nothing to do" || { fail "no 'nothing to do'"; return; }
	for st in prep build-iso create-vms wait finalize kubeconfig; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	[ "$(calls)" -eq "$before" ] || { fail "the rerun called vmrun $(($(calls) - before)) times"; return; }
	pass
}

test_up_from_wait_reruns_wait_and_what_follows() {
	local st vmx running
	# A run killed between a node's VMX edit and its power-on leaves it off, ISOs detached:
	# the wait starts it again before waiting on it.
	vmx=$(vmx_of k3s-worker1)
	"$VMRUN" -T ws stop "$vmx" hard >/dev/null || { fail "vmrun stop"; return; }
	run up --from wait || { fail "up --from wait exited $?"; return; }
	has "k3s-worker1: was powered off; started again" || { fail "worker1 not started again"; return; }
	running=$("$VMRUN" -T ws list) || { fail "vmrun list"; return; }
	grep -qF "$vmx" <<<"$running" || { fail "k3s-worker1 is not running"; return; }
	for st in prep build-iso create-vms; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	for st in wait finalize kubeconfig; do
		summary_is "$st" ok || { fail "$st did not run ok"; return; }
	done
	# The ISOs were detached by the first run: no VM is restarted for nothing.
	for n in "${E2E_NODES[@]}"; do
		has "$n: ISOs already detached" || { fail "$n: not seen as already detached"; return; }
	done
	pass
}

test_finalize_powers_on_a_detached_vm_left_powered_off() {
	local vmx running
	# As a run killed between finalize's VMX edit and its power-on leaves it.
	vmx=$(vmx_of k3s-worker1)
	"$VMRUN" -T ws stop "$vmx" hard >/dev/null || { fail "vmrun stop"; return; }
	run finalize --force || { fail "finalize exited $?"; return; }
	has "k3s-worker1: ISOs already detached" || { fail "not seen as detached"; return; }
	has "k3s-worker1: was powered off; started again" || { fail "not started again"; return; }
	# the whole list read before matching: with pipefail, `grep -q` leaving early made the
	# double die of a broken pipe and the pipeline fail although the VM was listed
	running=$("$VMRUN" -T ws list) || { fail "vmrun list"; return; }
	grep -qF "$vmx" <<<"$running" || { fail "k3s-worker1 is not running"; return; }
	has "cluster healthy" || { fail "cluster health not checked"; return; }
	pass
}

test_wait_names_the_node_that_never_completes_with_its_diagnosis() {
	local m
	m="$E2E_WORK/guests/k3s-worker2/root/var/lib/$(marker_of k3s-worker2)"
	rm -f "$m"
	echo "k3s-worker2 k3s-agent-bootstrap[77]: k3s agent: waiting for the server (simulated hang)" \
		>"$E2E_WORK/guests/k3s-worker2/root/journal.txt"
	run wait --force --timeout 4 && { fail "wait succeeded without worker2's marker"; touch "$m"; return; }
	touch "$m"
	has "k3s-worker2: stopped at ssh-authenticated after" || { fail "worker2's phase not named"; return; }
	has "/var/lib/k3s-agent-bootstrap.done is not there yet" || { fail "no reason"; return; }
	has "k3s-worker2: markers seen: iso-copy-complete cloud-init-complete" ||
		{ fail "no progress markers"; return; }
	has "k3s-worker2 diagnosis:" && has "simulated hang" && has "status: done" ||
		{ fail "no journal / cloud-init diagnosis"; return; }
	has "1 of 3 nodes did not finish" || { fail "not exactly one node failed"; return; }
	has "k3s-master1: stopped" || has "k3s-worker1: stopped" && { fail "a healthy node was reported"; return; }
	python3 - "$E2E_OUT/state.json" <<'PY' || { fail "state.json does not record the outcome per node"; return; }
import json, sys
n = json.load(open(sys.argv[1]))["data"]["wait"]["nodes"]
assert n["k3s-master1"]["done"] and n["k3s-worker1"]["done"], n
w = n["k3s-worker2"]
assert not w["done"] and w["phase"] == "ssh-authenticated" and "not there yet" in w["reason"], w
PY
	pass
}

test_wait_refuses_a_guest_presenting_another_host_key() {
	local vmx ip port want got g="$E2E_WORK/guests/k3s-worker2"
	vmx=$(vmx_of k3s-worker2) ip=$(guest_var k3s-worker2 IP) port=$(guest_var k3s-worker2 SSH_PORT)
	ssh-keygen -q -t ed25519 -N "" -C impostor -f "$work/impostor" || { fail "keygen"; return; }
	"$VMRUN" -T ws stop "$vmx" hard >/dev/null
	rm -f "$g/sshd.log"
	e2e_set_guest k3s-worker2 HOSTKEY "$work/impostor"
	"$VMRUN" -T ws start "$vmx" nogui >/dev/null
	listening "$ip" "$port" || { fail "the impostor's sshd did not start"; return; }
	run wait --force --timeout 4
	local rc=$?
	e2e_set_guest k3s-worker2 HOSTKEY ""
	"$VMRUN" -T ws stop "$vmx" hard >/dev/null
	cp "$g/sshd.log" "$work/impostor-sshd.log" 2>/dev/null
	"$VMRUN" -T ws start "$vmx" nogui >/dev/null
	listening "$ip" "$port"
	[ "$rc" -ne 0 ] || { fail "wait accepted the impostor"; return; }
	want=$(ssh-keygen -lf "$E2E_OUT/ssh/host/k3s-worker2_ed25519.pub" | cut -d' ' -f2)
	got=$(ssh-keygen -lf "$work/impostor.pub" | cut -d' ' -f2)
	has "host key mismatch for k3s-worker2" || { fail "no host key mismatch named"; return; }
	has "$want" && has "$got" || { fail "both fingerprints ($want, $got) not named"; return; }
	has "$ip" || { fail "the address is not named"; return; }
	# The impostor saw connections but never an authentication attempt: nothing was sent.
	grep -q "Connection from" "$work/impostor-sshd.log" || { fail "sshd log has no connection"; return; }
	grep -qiE "publickey|userauth|Accepted|Postponed" "$work/impostor-sshd.log" &&
		{ fail "the impostor saw an authentication attempt"; return; }
	pass
}

test_up_resumes_at_a_stage_killed_half_way() {
	local n pid ok=0 st
	# The guests are still bootstrapping: no completion marker anywhere.
	for n in "${E2E_NODES[@]}"; do rm -f "$E2E_WORK/guests/$n/root/var/lib/$(marker_of "$n")"; done
	# The binary itself in the background (not a shell function: its pid must be k3sforge's).
	"$E2E_BIN" --no-color -c "$E2E_CFG" -o "$E2E_OUT" up --from wait >"$work/killed.log" 2>&1 &
	pid=$!
	echo "$pid" >"$work/pids/k3sforge.pid"
	# Half-way: wait is running and every node is already authenticated.
	for _ in $(seq 300); do
		if [ "$(stage_status wait)" = running ] &&
			[ "$(grep -c ': ssh-authenticated' "$work/killed.log")" -ge 3 ]; then ok=1; break; fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$work/pids/k3sforge.pid"
	[ "$ok" = 1 ] || { fail "wait never got half-way: $(tail -5 "$work/killed.log")"; return; }
	[ "$(stage_status wait)" = running ] || { fail "state.json: wait is '$(stage_status wait)'"; return; }
	run up --dry-run || { fail "up --dry-run exited $?"; return; }
	has "wait         run (its last run ended 'running')" || { fail "the plan does not resume at wait"; return; }
	# Meanwhile the guests finished.
	for n in "${E2E_NODES[@]}"; do touch "$E2E_WORK/guests/$n/root/var/lib/$(marker_of "$n")"; done
	run up || { fail "the resumed up exited $?"; return; }
	has "resuming at wait" || { fail "did not say it resumes at wait"; return; }
	for st in prep build-iso create-vms; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	summary_is wait ok || { fail "wait did not run ok"; return; }
	[ "$(stage_status wait)" = "done" ] || { fail "state.json: wait not done"; return; }
	# the same VMs, finalized and fetched from before: nothing for them to do again
	for st in finalize kubeconfig; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	pass
}

test_up_after_a_host_reboot_restarts_the_registry_and_keeps_the_vms() {
	local n before after st
	# a reboot: the registry process is gone; the VMs (and their cluster) are not
	e2e_kf registry stop >/dev/null 2>&1 || { fail "registry stop"; return; }
	before=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	run up || { fail "up exited $?: $(tail -5 "$log")"; return; }
	has "starting at prep" || has "resuming at prep" || { fail "did not start at prep"; return; }
	summary_is prep ok || { fail "prep did not run"; return; }
	for st in build-iso create-vms wait finalize kubeconfig; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped: $(grep -E " $st " "$log" | tail -2)"; return; }
	done
	after=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	[ "$before" = "$after" ] || { fail "VMs were powered off/on ($before -> $after power events)"; return; }
	for n in "${E2E_NODES[@]}"; do
		[ -f "$(vmx_of "$n")" ] || { fail "$n's VMX is gone"; return; }
	done
	pass
}

test_up_asks_before_replacing_the_vms() {
	local seed="$E2E_OUT/iso/seed-k3s-worker1.iso" before after
	# a changed seed makes create-vms stale: re-creating would wipe the running cluster
	cp "$seed" "$work/seed.bak"
	printf 'X' | dd of="$seed" bs=1 seek=100 conv=notrunc status=none
	before=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	run up && { cp "$work/seed.bak" "$seed"; fail "up replaced the VMs without --yes"; return; }
	after=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	cp "$work/seed.bak" "$seed"
	has "would stop, delete and reinstall 3 VMs made earlier" && has "Pass --yes" ||
		{ fail "no consent message: $(tail -3 "$log")"; return; }
	[ "$before" = "$after" ] || { fail "VMs were touched ($before -> $after power events)"; return; }
	# the seed as it was: nothing to do again
	run up || { fail "up after restoring the seed exited $?"; return; }
	has "everything is up to date" || { fail "not up to date again"; return; }
	pass
}

# --force reruns every stage but is no consent to wipe the VMs: off a terminal it is refused
# like a plain `up` (it used to imply --yes). Last: it reruns prep and build-iso.
test_up_force_still_asks_before_replacing_the_vms() {
	local before after
	before=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	run up --force && { fail "up --force replaced the VMs without --yes"; return; }
	after=$(cat "$E2E_WORK"/guests/*/power.log | wc -l)
	has "would stop, delete and reinstall 3 VMs made earlier" && has "Pass --yes" ||
		{ fail "no consent message: $(tail -3 "$log")"; return; }
	[ "$before" = "$after" ] || { fail "VMs were touched ($before -> $after power events)"; return; }
	pass
}

test_new_vms_are_waited_for_finalized_and_fetched_again() {
	local st
	run create-vms --force || { fail "create-vms --force exited $?: $(tail -5 "$log")"; return; }
	run up || { fail "up exited $?: $(tail -5 "$log")"; return; }
	has "create-vms ran again since its last run" || { fail "no reason naming create-vms"; return; }
	for st in prep build-iso create-vms; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	for st in wait finalize kubeconfig; do
		summary_is "$st" ok || { fail "$st did not run after new VMs"; return; }
	done
	pass
}

test_rebuilt_cluster_kubeconfig_conflict_names_the_command_then_up_goes_on() {
	local vmx st
	# The cluster was rebuilt: k3s made a new CA and admin certificate.
	rm -rf "$E2E_WORK/api"
	e2e_api_pki "$E2E_NET.10" "$E2E_WORK/guests/k3s-master1/root" || { fail "new PKI"; return; }
	vmx=$(vmx_of k3s-master1)
	"$VMRUN" -T ws stop "$vmx" hard >/dev/null && "$VMRUN" -T ws start "$vmx" nogui >/dev/null
	listening "$E2E_NET.10" 6443 || { fail "the API stand-in did not come back"; return; }
	run up --from kubeconfig && { fail "up replaced a different entry silently"; return; }
	has "different cluster entry named 'k3sforge-e2e'" && has "run \`k3sforge kubeconfig --overwrite\`" ||
		{ fail "the conflict does not name the command to run"; return; }
	run kubeconfig --overwrite || { fail "kubeconfig --overwrite exited $?"; return; }
	kubectl --context k3sforge-e2e version -o json >"$work/version.json" 2>&1 ||
		{ fail "kubectl cannot use the new entry: $(cat "$work/version.json")"; return; }
	run up || { fail "up after the overwrite exited $?"; return; }
	for st in prep build-iso create-vms wait finalize kubeconfig; do
		summary_is "$st" "skipped \\(up to date\\)" || { fail "$st was not skipped"; return; }
	done
	pass
}

test_up_builds_the_lab_end_to_end
test_up_rerun_after_success_skips_every_stage
test_up_from_wait_reruns_wait_and_what_follows
test_finalize_powers_on_a_detached_vm_left_powered_off
test_wait_names_the_node_that_never_completes_with_its_diagnosis
test_wait_refuses_a_guest_presenting_another_host_key
test_up_resumes_at_a_stage_killed_half_way
test_rebuilt_cluster_kubeconfig_conflict_names_the_command_then_up_goes_on
test_up_after_a_host_reboot_restarts_the_registry_and_keeps_the_vms
test_up_asks_before_replacing_the_vms
test_new_vms_are_waited_for_finalized_and_fetched_again
test_up_force_still_asks_before_replacing_the_vms
test_up_stops_at_prep_when_its_images_fail_beside_build_iso

h_summary
