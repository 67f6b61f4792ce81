#!/usr/bin/env bash
# A simulated guest's power, for the vmrun test double's hooks (tests/fakes/vmrun:
# FAKE_VMRUN_ON_START / FAKE_VMRUN_ON_STOP run `hook <vmx> <node>`); set up by tests/lib/e2e_lab.sh.
#
#   e2e_guest.sh start <vmx> <node>   the guest "boots": vmrun now reports its IP; a real sshd
#                                     listens on the node's own loopback address with the node's
#                                     pinned host key (or $HOSTKEY from guest.env, to impersonate),
#                                     the operator key authorized, tests/fakes/guest-shell as
#                                     ForceCommand (the node's own /var/lib and /etc/rancher);
#                                     a background writer lays the markers down on the schedule
#                                     of guest.env (DELAY seconds; "never" = the bootstrap hangs);
#                                     on the master, the API stand-in answers on <ip>:6443 and
#                                     (with KubeSphere) a stand-in console on <ip>:30880.
#   e2e_guest.sh stop <vmx> <node>    the guest "powers off": all of that stopped by PID.
#
# Per node, $E2E_WORK/guests/<node>/ holds guest.env (IP, SSH_PORT, ROLE, DELAY, HOSTKEY),
# root/ (the node's file system view), and the pid files and sshd log this script writes.
# The guest's user is resolved by sshd through nss_wrapper (a uid-0 account named like
# guest.user, in $E2E_WORK/passwd), so no account is added to the host.
set -euo pipefail
mode=$1 node=$3
: "${E2E_WORK:?E2E_WORK not set}" "${E2E_OUT:?E2E_OUT not set}" "${FAKE_VMRUN_STATE:?}"
tests=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
g="$E2E_WORK/guests/$node"
[ -f "$g/guest.env" ] || { echo "e2e_guest: no simulated guest '$node' in $E2E_WORK" >&2; exit 1; }
# shellcheck source=/dev/null
source "$g/guest.env"
: "${IP:?}" "${SSH_PORT:?}" "${ROLE:?}" "${DELAY:=0}" "${HOSTKEY:=}"

# shellcheck source=tests/lib/pids.sh
. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
stop_pid() { h_stop_pidfile "$1" 2; }

if [ "$mode" = stop ]; then
	stop_pid "$g/sshd.pid"
	stop_pid "$g/writer.pid"
	stop_pid "$g/api.pid"
	stop_pid "$g/console.pid"
	echo "$(date +%s.%N) $node powered off" >>"$g/power.log"
	exit 0
fi
[ "$mode" = start ] || { echo "e2e_guest: start or stop, not '$mode'" >&2; exit 2; }

# What VMware Tools report once the guest is up: its configured address.
echo "$IP" >"$FAKE_VMRUN_STATE/$node.ip"

key=${HOSTKEY:-$E2E_OUT/ssh/host/${node}_ed25519}
cat >"$g/sshd_config" <<EOF
ListenAddress $IP:$SSH_PORT
PidFile none
HostKey $key
AuthorizedKeysFile $E2E_OUT/ssh/id_ed25519.pub
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel VERBOSE
Subsystem sftp internal-sftp
MaxStartups 200
ForceCommand $tests/fakes/guest-shell $g/root
EOF
mkdir -p /run/sshd
stop_pid "$g/sshd.pid"
setsid env LD_PRELOAD="${E2E_NSS_WRAPPER:?}" NSS_WRAPPER_PASSWD="$E2E_WORK/passwd" \
	NSS_WRAPPER_GROUP="$E2E_WORK/group" \
	/usr/sbin/sshd -D -f "$g/sshd_config" -E "$g/sshd.log" </dev/null >/dev/null 2>&1 &
echo $! >"$g/sshd.pid"

# The bootstrap: progress markers halfway, the role's completion marker after DELAY seconds.
if [ "$ROLE" = master ]; then marker=k3s-bootstrap.done; else marker=k3s-agent-bootstrap.done; fi
lib="$g/root/var/lib"
if [ ! -e "$lib/$marker" ] && [ "$DELAY" != never ]; then
	stop_pid "$g/writer.pid"
	# shellcheck disable=SC2016 # the writer's own script, its arguments are $0..$2
	setsid bash -c 'half=$(awk "BEGIN{print $1/2}"); sleep "$half"
		touch "$0/iso-copy-complete" "$0/cloud-init-complete"; sleep "$half"; touch "$0/$2"' \
		"$lib" "$DELAY" "$marker" </dev/null >/dev/null 2>&1 &
	echo $! >"$g/writer.pid"
fi

if [ "$ROLE" = master ]; then
	stop_pid "$g/api.pid"
	setsid python3 "$tests/lib/tls_version_server.py" --ip "$IP" --port 6443 \
		--cert "$E2E_WORK/api/server.crt" --key "$E2E_WORK/api/server.key" \
		--client-ca "$E2E_WORK/api/ca.crt" </dev/null >>"$g/api.log" 2>&1 &
	echo $! >"$g/api.pid"
	if [ -d "$E2E_WORK/console" ]; then
		stop_pid "$g/console.pid"
		# ks-console as it answers without a session: / is a 302 to /login (tests/fakes/e2e/console)
		setsid python3 "$tests/fakes/e2e/console" --ip "$IP" --port 30880 \
			</dev/null >>"$g/console.log" 2>&1 &
		echo $! >"$g/console.pid"
	fi
fi
echo "$(date +%s.%N) $node powered on" >>"$g/power.log"
