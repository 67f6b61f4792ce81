#!/usr/bin/env bash
# Guest tier: a master and a worker, each a QEMU guest (Debian 12, real cloud-init 22.4, real
# systemd, real containerd) fed the installed-system seed `k3sforge render --seed-dir` writes.
# The master starts with its clock six years behind (-rtc base=2020-01-01) so sync-time has to
# set it from the lab registry. `k3sforge wait` runs from the moment the guests start; then
# every recipe property is checked from inside the guests over SSH (host key pinned by
# k3sforge's own known_hosts), and `k3sforge kubeconfig` fetches the master's kubeconfig.
set -uo pipefail
# shellcheck source=tests/guest/lib/guest.sh
source "$KF_SOURCE_DIR/tests/guest/lib/guest.sh"

M=k3s-master1
W=k3s-worker1
gt_init
gt_lab || exit 1
seed_file() { python3 "$GT_LIB/seedfile.py" "$GT_WORK/seeds/$1/user-data" "$2"; }

gt_boot "$M" -rtc base=2020-01-01T00:00:00
gt_boot "$W"
t0=$SECONDS
gt_kf wait --no-vmrun --timeout 780 >"$GT_WORK/wait.log" 2>&1
WAIT_RC=$?
WAIT_DONE_AT=$(date -u +%s)
gt_log "k3sforge wait exited $WAIT_RC after $((SECONDS - t0))s"

test_wait_reports_every_node_complete() {
	cat "$GT_WORK/wait.log"
	[ "$WAIT_RC" -eq 0 ]
}

test_wait_completes_only_after_the_role_markers() {
	local n marker at
	for n in "$M" "$W"; do
		marker=/var/lib/k3s-bootstrap.done
		[ "$n" = "$W" ] && marker=/var/lib/k3s-agent-bootstrap.done
		at=$(gt_ssh "$n" sudo cat "$marker") || { echo "$n: no $marker"; return 1; }
		# the marker holds the guest's UTC time when it was written (guest clock synced to the
		# registry's Date, second resolution): not after wait returned
		[ "$(date -u -d "$at" +%s)" -le "$((WAIT_DONE_AT + 2))" ] ||
			{ echo "$n: marker $at written after wait returned ($(date -u -d "@$WAIT_DONE_AT"))"; return 1; }
	done
}

test_cloud_init_status_done_without_errors() {
	local n out
	for n in "$M" "$W"; do
		out=$(gt_ssh "$n" cloud-init status --long) || { echo "$n: $out"; return 1; }
		echo "$n: $out"
		grep -q '^status: done' <<<"$out" || return 1
		gt_ssh "$n" jq -e "'.v1.errors == []'" /run/cloud-init/result.json >/dev/null ||
			{ gt_ssh "$n" cat /run/cloud-init/result.json; return 1; }
	done
}

test_cloud_init_schema_system_is_clean() {
	local n out
	for n in "$M" "$W"; do
		out=$(gt_ssh "$n" sudo cloud-init schema --system 2>&1) || { echo "$n: $out"; return 1; }
		grep -q "Valid cloud-config" <<<"$out" || { echo "$n: $out"; return 1; }
	done
}

test_hostname_is_the_node_name() {
	local n
	for n in "$M" "$W"; do
		[ "$(gt_ssh "$n" hostname)" = "$n" ] || { echo "$n: hostname $(gt_ssh "$n" hostname)"; return 1; }
	done
}

test_operator_key_is_the_only_way_in() {
	local n keys want other out
	want=$(cut -d ' ' -f 1,2 "$GT_WORK/out/ssh/id_ed25519.pub")
	ssh-keygen -q -t ed25519 -N '' -f "$GT_WORK/other_key"
	for n in "$M" "$W"; do
		keys=$(gt_ssh "$n" cat .ssh/authorized_keys | cut -d ' ' -f 1,2)
		[ "$keys" = "$want" ] || { echo "$n: authorized_keys: $keys"; return 1; }
		# the server offers public keys only, and another key is refused
		out=$(ssh -n -p "${GT_SSH_PORT[$n]}" -o UserKnownHostsFile="$GT_WORK/out/ssh/known_hosts" \
			-o StrictHostKeyChecking=yes -o PreferredAuthentications=none -o BatchMode=yes \
			ubuntu@127.0.0.1 true 2>&1) && { echo "$n: no-auth login worked"; return 1; }
		grep -q 'Permission denied (publickey)' <<<"$out" || { echo "$n: $out"; return 1; }
		other=$(ssh -n -p "${GT_SSH_PORT[$n]}" -i "$GT_WORK/other_key" -o IdentitiesOnly=yes \
			-o UserKnownHostsFile="$GT_WORK/out/ssh/known_hosts" -o StrictHostKeyChecking=yes \
			-o BatchMode=yes ubuntu@127.0.0.1 true 2>&1) && { echo "$n: another key got in"; return 1; }
		grep -q 'Permission denied' <<<"$other" || { echo "$n: $other"; return 1; }
		out=$(ssh -n -p "${GT_SSH_PORT[$n]}" -i "$GT_WORK/out/ssh/id_ed25519" -o IdentitiesOnly=yes \
			-o UserKnownHostsFile="$GT_WORK/out/ssh/known_hosts" -o StrictHostKeyChecking=yes \
			-o BatchMode=yes root@127.0.0.1 id 2>&1)
		grep -q 'uid=0' <<<"$out" && { echo "$n: root login with the operator key: $out"; return 1; }
	done
	return 0
}

test_passwords_locked() {
	local n st
	for n in "$M" "$W"; do
		st=$(gt_ssh "$n" sudo passwd -S ubuntu | cut -d ' ' -f 2)
		[ "$st" = L ] || { echo "$n: ubuntu password status $st"; return 1; }
		st=$(gt_ssh "$n" sudo passwd -S root | cut -d ' ' -f 2)
		[ "$st" != P ] || { echo "$n: root has a usable password"; return 1; }
	done
}

test_sshd_effective_config_no_passwords_no_root() {
	local n t
	for n in "$M" "$W"; do
		t=$(gt_ssh "$n" sudo sshd -T) || return 1
		grep -qx 'passwordauthentication no' <<<"$t" || { echo "$n: $(grep passwordauth <<<"$t")"; return 1; }
		grep -qx 'permitrootlogin no' <<<"$t" || { echo "$n: $(grep permitroot <<<"$t")"; return 1; }
		grep -qx 'kbdinteractiveauthentication no' <<<"$t" || { echo "$n: kbd-interactive on"; return 1; }
	done
}

test_host_key_is_the_pinned_one() {
	local n got want others
	for n in "$M" "$W"; do
		want=$(cut -d ' ' -f 1,2 "$GT_WORK/out/ssh/host/${n}_ed25519.pub")
		got=$(gt_ssh "$n" sudo cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d ' ' -f 1,2)
		[ "$got" = "$want" ] || { echo "$n: host key $got, pinned $want"; return 1; }
		others=$(gt_ssh "$n" "ls /etc/ssh/ssh_host_*_key 2>/dev/null | grep -v ed25519")
		[ -z "$others" ] || { echo "$n: other host keys: $others"; return 1; }
		# and what sshd presents is it (ssh-keyscan against k3sforge's known_hosts entry)
		got=$(ssh-keyscan -p "${GT_SSH_PORT[$n]}" -t ed25519 127.0.0.1 2>/dev/null | cut -d ' ' -f 2,3)
		grep -qF "[127.0.0.1]:${GT_SSH_PORT[$n]} $got" "$GT_WORK/out/ssh/known_hosts" ||
			{ echo "$n: presented $got, not in known_hosts"; return 1; }
	done
}

test_another_host_key_is_refused_before_authentication() {
	local n=$W alt="$GT_WORK/alt-out" before after out
	# k3sforge's own output dir, but its known_hosts pins another key for this node
	cp -a "$GT_WORK/out" "$alt"
	ssh-keygen -q -t ed25519 -N '' -f "$GT_WORK/alt_host"
	python3 - "$alt/ssh/known_hosts" "${GT_SSH_PORT[$n]}" "$(cut -d ' ' -f 1,2 "$GT_WORK/alt_host.pub")" <<'PY'
import sys
path, port, key = sys.argv[1:]
lines = open(path).read().splitlines()
out = [l if not l.startswith("[127.0.0.1]:%s " % port) else "[127.0.0.1]:%s %s" % (port, key)
       for l in lines]
open(path, "w").write("\n".join(out) + "\n")
PY
	sshlog() { gt_ssh "$n" sudo journalctl -u ssh -q --no-pager -o cat; }
	gt_ssh "$n" true || return 1
	before=$(sshlog)
	out=$("$K3SFORGE_BIN" -c "$GT_WORK/k3sforge.yaml" -o "$alt" wait --no-vmrun --force --timeout 20 2>&1) &&
		{ echo "wait succeeded against a wrong host key: $out"; return 1; }
	echo "$out" | grep -i "$n" | head -n 5
	grep -qi "host key" <<<"$out" || { echo "no host key message: $out"; return 1; }
	sleep 2
	after=$(sshlog)
	# the guest saw connections that ended before authentication, and no key was tried (our
	# own commands share one SSH connection, so they add nothing here)
	[ "$(grep -c 'preauth' <<<"$after")" -gt "$(grep -c 'preauth' <<<"$before")" ] ||
		{ echo "no pre-authentication disconnect in the guest's sshd log"; return 1; }
	[ "$(grep -c 'publickey' <<<"$after")" -eq "$(grep -c 'publickey' <<<"$before")" ] ||
		{ echo "a public key was offered:"; diff <(echo "$before") <(echo "$after"); return 1; }
}

test_timezone_is_configured() {
	local n tz
	for n in "$M" "$W"; do
		tz=$(gt_ssh "$n" timedatectl show -p Timezone --value)
		[ "$tz" = Asia/Seoul ] || { echo "$n: timezone $tz"; return 1; }
	done
}

test_swap_is_off() {
	local n s
	for n in "$M" "$W"; do
		s=$(gt_ssh "$n" swapon --noheadings --show)
		[ -z "$s" ] || { echo "$n: swap: $s"; return 1; }
	done
}

test_overlay_and_br_netfilter_loaded() {
	local n
	for n in "$M" "$W"; do
		gt_ssh "$n" test -d /sys/module/overlay -a -d /sys/module/br_netfilter ||
			{ echo "$n: $(gt_ssh "$n" lsmod)"; return 1; }
		gt_ssh "$n" grep -qw overlay /proc/filesystems || return 1
	done
}

test_sysctls_applied() {
	local n k v got
	for n in "$M" "$W"; do
		while IFS='= ' read -r k v; do
			[ -n "$k" ] || continue
			got=$(gt_ssh "$n" sudo sysctl -n "$k")
			[ "$got" = "$v" ] || { echo "$n: $k = $got, expected $v"; return 1; }
			echo "$n: $k = $got"
		done < <(seed_file "$n" /etc/sysctl.d/90-kubernetes.conf)
	done
}

test_registry_answers_over_tls_from_inside_the_guest() {
	local n out
	for n in "$M" "$W"; do
		gt_ssh "$n" test -e /etc/ssl/certs/k3sforge-ca.pem || { echo "$n: CA not in the trust store"; return 1; }
		# no -k, no --cacert: the system trust store, the lab address in the certificate
		out=$(gt_ssh "$n" curl -sS --noproxy "'*'" --max-time 20 https://192.168.6.1:5000/v2/_catalog) ||
			{ echo "$n: $out"; return 1; }
		echo "$n: $out"
		# the real registry prep runs on the host: it holds the images pushed there
		grep -q 'rancher/mirrored-pause' <<<"$out" || return 1
	done
}

test_registries_yaml_and_k3s_config_as_rendered() {
	local n f
	for n in "$M" "$W"; do
		for f in /etc/rancher/k3s/registries.yaml /etc/rancher/k3s/config.yaml; do
			diff <(seed_file "$n" "$f") <(gt_ssh "$n" sudo cat "$f") || { echo "$n: $f differs"; return 1; }
			[ "$(gt_ssh "$n" stat -c %a "$f")" = 600 ] || { echo "$n: $f not 0600"; return 1; }
		done
	done
}

test_node_prep_markers_written() {
	local n m
	for n in "$M" "$W"; do
		for m in hostname-set timezone-set swap-disabled kernel-modules-loaded sysctl-applied \
			ca-certificates-updated sync-time-enabled cloud-init-complete; do
			gt_ssh "$n" test -f "/var/lib/$m" || { echo "$n: no /var/lib/$m"; return 1; }
		done
	done
}

test_sync_time_set_the_clock_from_the_registry() {
	local now guest j
	j=$(gt_ssh "$M" sudo journalctl -u sync-time -q --no-pager -o cat)
	echo "$j"
	grep -q 'before the build timestamp: moved to' <<<"$j" || return 1
	grep -q "clock set from https://192.168.6.1:5000/v2/" <<<"$j" || return 1
	guest=$(gt_ssh "$M" date -u +%s)
	now=$(date -u +%s)
	echo "guest $guest host $now"
	[ $((guest - now)) -le 10 ] && [ $((now - guest)) -le 10 ]
}

test_k3s_units_ordered_after_sync_time() {
	local n unit svc after
	for n in "$M" "$W"; do
		unit=k3s-bootstrap; svc=k3s
		[ "$n" = "$W" ] && { unit=k3s-agent-bootstrap; svc=k3s-agent; }
		for u in "$unit" "$svc"; do
			after=$(gt_ssh "$n" systemctl show -p After --value "$u.service")
			grep -qw sync-time.service <<<"$after" || { echo "$n: $u After=$after"; return 1; }
		done
		gt_ssh "$n" systemctl show -p Before --value sync-time.service | grep -qw "$svc.service" ||
			{ echo "$n: sync-time not Before $svc"; return 1; }
		# and it did run first
		local s k
		s=$(gt_ssh "$n" systemctl show -p ActiveEnterTimestampMonotonic --value sync-time.service)
		k=$(gt_ssh "$n" systemctl show -p ExecMainStartTimestampMonotonic --value "$svc.service")
		[ "$s" -gt 0 ] && [ "$s" -le "$k" ] || { echo "$n: sync-time done at $s, $svc started at $k"; return 1; }
	done
}

bootstrap_journal() { # NODE: the bootstrap unit's messages, in order
	local unit=k3s-bootstrap
	[ "$1" = "$W" ] && unit=k3s-agent-bootstrap
	gt_ssh "$1" sudo journalctl -u "$unit" -q --no-pager -o cat
}

line_of() { grep -n -m1 -F "$2" <<<"$1" | cut -d: -f1; }

test_images_imported_only_after_the_containerd_socket() {
	local n j sock imp imgs
	for n in "$M" "$W"; do
		j=$(bootstrap_journal "$n")
		sock=$(line_of "$j" "containerd socket up")
		imp=$(line_of "$j" "critical images present")
		[ -n "$sock" ] && [ -n "$imp" ] && [ "$sock" -lt "$imp" ] || { echo "$n: $j"; return 1; }
		imgs=$(gt_ssh "$n" sudo /usr/local/bin/k3s ctr images ls -q)
		diff <(sort "$GT_WORK/release/k3s-images.txt") <(sort <<<"$imgs") || { echo "$n: images differ"; return 1; }
	done
}

test_role_marker_comes_last() {
	local n j last
	for n in "$M" "$W"; do
		j=$(bootstrap_journal "$n")
		last=$(grep -v '^Started\|^Starting\|^Finished' <<<"$j" | tail -n 1)
		grep -q "done: /var/lib/k3s-.*bootstrap.done" <<<"$last" || { echo "$n: last line: $last"; echo "$j"; return 1; }
		gt_ssh "$n" systemctl is-active --quiet "$( [ "$n" = "$W" ] && echo k3s-agent || echo k3s)" ||
			{ echo "$n: k3s not active"; return 1; }
	done
}

test_worker_waits_for_the_master_and_joins() {
	local j w a nodes
	j=$(bootstrap_journal "$W")
	w=$(line_of "$j" "waiting for the master 192.168.6.10:6443")
	a=$(line_of "$j" "master 192.168.6.10:6443 answers")
	[ -n "$w" ] && [ -n "$a" ] && [ "$w" -lt "$a" ] || { echo "$j"; return 1; }
	nodes=$(gt_ssh "$M" sudo /usr/local/bin/k3s kubectl get nodes -o json)
	jq -e '[.items[] | select(.status.conditions[] | .type == "Ready" and .status == "True")
		| .metadata.name] | sort == ["k3s-master1", "k3s-worker1"]' <<<"$nodes" >/dev/null ||
		{ echo "$nodes"; return 1; }
}

test_kubeconfig_fetches_the_masters_kubeconfig() {
	local out ca_guest ca_out
	out=$(gt_kf kubeconfig --no-merge 2>&1)
	echo "$out"
	# fetched over SSH (pinned host key) and rewritten for the lab address
	[ -f "$GT_WORK/out/kubeconfig" ] || return 1
	grep -q 'server: https://192.168.6.10:6443' "$GT_WORK/out/kubeconfig" || return 1
	grep -q 'k3sforge-guesttier' "$GT_WORK/out/kubeconfig" || return 1
	ca_guest=$(gt_ssh "$M" sudo cat /etc/rancher/k3s/k3s.yaml | sed -n 's/.*certificate-authority-data: //p')
	ca_out=$(sed -n 's/.*certificate-authority-data: //p' "$GT_WORK/out/kubeconfig")
	[ -n "$ca_guest" ] && [ "$ca_guest" = "$ca_out" ] || { echo "CA differs"; return 1; }
}

test_kubeconfig_credentials_work_against_the_master() {
	local v
	# the host cannot route to 192.168.6.10 (QEMU user networking); the same API through the
	# master's 6443 port forward, with the kubeconfig's CA and client certificate
	[ -f "$GT_WORK/out/kubeconfig" ] || gt_kf kubeconfig --no-merge >/dev/null 2>&1
	v=$(kubectl --kubeconfig "$GT_WORK/out/kubeconfig" --server "https://127.0.0.1:$GT_APIPORT" \
		get --raw /version 2>&1) || { echo "$v"; return 1; }
	echo "$v"
	jq -e '.gitVersion' <<<"$v" >/dev/null
}

for t in test_wait_reports_every_node_complete test_wait_completes_only_after_the_role_markers \
	test_cloud_init_status_done_without_errors test_cloud_init_schema_system_is_clean \
	test_hostname_is_the_node_name test_operator_key_is_the_only_way_in test_passwords_locked \
	test_sshd_effective_config_no_passwords_no_root test_host_key_is_the_pinned_one \
	test_timezone_is_configured test_swap_is_off test_overlay_and_br_netfilter_loaded \
	test_sysctls_applied test_registry_answers_over_tls_from_inside_the_guest \
	test_registries_yaml_and_k3s_config_as_rendered test_node_prep_markers_written \
	test_sync_time_set_the_clock_from_the_registry test_k3s_units_ordered_after_sync_time \
	test_images_imported_only_after_the_containerd_socket test_role_marker_comes_last \
	test_worker_waits_for_the_master_and_joins test_kubeconfig_fetches_the_masters_kubeconfig \
	test_kubeconfig_credentials_work_against_the_master \
	test_another_host_key_is_refused_before_authentication; do
	check "$t"
done
gt_log "total $((SECONDS - t0))s since boot"
gt_finish
