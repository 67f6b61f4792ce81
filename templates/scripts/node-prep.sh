#!/bin/bash
# k3sforge node preparation of a {{node.role}} node, run once by cloud-init (runcmd).
# Each step checks that it took effect and only then writes its marker under /var/lib; a
# failed step stops here, loudly, so no later marker can claim otherwise.
set -euo pipefail

STATE="${K3SFORGE_ROOT:-}{{markers.dir}}"

mark() {
	date -u +%Y-%m-%dT%H:%M:%SZ >"$STATE/$1.tmp"
	mv -f "$STATE/$1.tmp" "$STATE/$1"
}
fail() {
	echo "k3sforge-node-prep: ERROR: $*" >&2
	exit 1
}

# hostname
want_host={{node.name | sh}}
[ "$(hostname)" = "$want_host" ] || hostnamectl set-hostname "$want_host"
[ "$(hostname)" = "$want_host" ] || fail "hostname is $(hostname), expected $want_host"
mark {{markers.hostname}}

# timezone (cloud-init's timezone module set it; make sure)
want_tz={{timezone | sh}}
cur_tz=$(timedatectl show -p Timezone --value 2>/dev/null || cat /etc/timezone)
[ "$cur_tz" = "$want_tz" ] || timedatectl set-timezone "$want_tz"
cur_tz=$(timedatectl show -p Timezone --value 2>/dev/null || cat /etc/timezone)
[ "$cur_tz" = "$want_tz" ] || fail "timezone is $cur_tz, expected $want_tz"
mark {{markers.timezone}}

# swap off, now and after reboots
swapoff -a
sed -ri '/^[^#].*[[:space:]]swap[[:space:]]/s/^/# k3sforge: swap off # /' /etc/fstab
[ -z "$(swapon --noheadings --show)" ] || fail "swap is still active: $(swapon --noheadings --show)"
mark {{markers.swap}}

# kernel modules (also loaded at every boot by /etc/modules-load.d/k3s.conf)
{{#each modules}}
modprobe {{.}} || fail "cannot load kernel module {{.}}"
{{/each}}
grep -qw overlay /proc/filesystems || fail "overlay filesystem not available"
[ -d /proc/sys/net/bridge ] || fail "br_netfilter is not active (/proc/sys/net/bridge missing)"
mark {{markers.modules}}

# sysctls for Kubernetes (/etc/sysctl.d/90-kubernetes.conf)
sysctl --system >/dev/null
{{#each sysctls}}
[ "$(sysctl -n {{key}})" = "{{value}}" ] || fail "sysctl {{key}} is $(sysctl -n {{key}}), expected {{value}}"
{{/each}}
mark {{markers.sysctl}}

# the lab CA in the system trust store
update-ca-certificates >/dev/null
[ -e /etc/ssl/certs/k3sforge-ca.pem ] || fail "k3sforge-ca.crt did not reach /etc/ssl/certs"
mark {{markers.ca_certs}}

# sshd picks up the drop-in (key only, no root)
systemctl try-reload-or-restart ssh.service

# time sync first, then the k3s bootstrap (which waits for it); one enable, one reload of the
# unit files (each reload costs seconds on a slow guest)
systemctl enable sync-time.service {{bootstrap.name}}.service
systemctl is-enabled --quiet sync-time.service || fail "sync-time.service is not enabled"
mark {{markers.sync_time}}
systemctl is-enabled --quiet {{bootstrap.name}}.service || fail "{{bootstrap.name}}.service is not enabled"
mark {{markers.cloud_init}}
# not waited for here: the bootstrap writes its own marker when k3s really runs
systemctl start --no-block {{bootstrap.name}}.service
