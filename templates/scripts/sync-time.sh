#!/bin/bash
# k3sforge sync-time: sets the clock from the lab registry's HTTP Date header over TLS, trusting
# only the lab CA. A clock before the build timestamp (when the recipe was made) is moved
# there first, so the registry certificate can be valid at all; with the registry unreachable
# that build timestamp is the fallback. Then the hardware clock is written.
set -uo pipefail

CA="${K3SFORGE_ROOT:-}/usr/local/share/ca-certificates/k3sforge-ca.crt"
URL={{registry.url | sh}}/v2/
BUILD_TS={{build_timestamp}}
TRIES=10

log() { echo "sync-time: $*"; }

registry_date() {
	curl -sI --noproxy '*' --max-time 10 --cacert "$CA" "$URL" | tr -d '\r' |
		sed -n 's/^[Dd][Aa][Tt][Ee]:[[:space:]]*//p' | head -n 1
}

# The Date header is whole seconds, stamped as the answer left the registry: its clock was then
# d + 0.5 s on average, shortly before the answer was read (t1). Carried forward to the moment
# the clock is set, so a slow guest (TCG emulation, a busy host: seconds between the answer
# and `date -s`) does not land seconds behind the registry.
sync_from_registry() {
	local d i at t1
	for ((i = 1; i <= TRIES; i++)); do
		d=$(registry_date)
		t1=$(date +%s.%N)
		if [ -n "$d" ] && at=$(date -u -d "$d" +%s 2>/dev/null) &&
			date -u -s "@$(awk -v at="$at" -v t1="$t1" -v now="$(date +%s.%N)" \
				'BEGIN { printf "%.3f", at + 0.5 + (now - t1) }')" >/dev/null; then
			log "clock set from $URL: $d"
			return 0
		fi
		sleep 3
	done
	return 1
}

now=$(date +%s)
if [ "$now" -lt "$BUILD_TS" ]; then
	date -u -s "@$BUILD_TS" >/dev/null || { log "cannot set the clock" >&2; exit 1; }
	log "clock was $(date -u -d "@$now"), before the build timestamp: moved to $(date -u -d "@$BUILD_TS")"
fi
if ! sync_from_registry; then
	log "registry $URL did not answer over TLS; keeping $(date -u) (not before the build timestamp)"
fi
hwclock -w || log "hwclock -w failed; the system clock is set, the hardware clock is not" >&2
exit 0
