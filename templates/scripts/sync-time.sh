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

sync_from_registry() {
	local d i
	for ((i = 1; i <= TRIES; i++)); do
		d=$(registry_date)
		if [ -n "$d" ] && date -u -s "$d" >/dev/null; then
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
