# shellcheck shell=bash
# Stopping processes by PID (sourced; no side effects): the shell tests' harness and the e2e lab
# use these, so every process a test started is stopped by its PID, never by name.
#
#   h_alive PID                      running (a zombie not yet reaped counts as gone)
#   h_stop_pid PID [GRACE_S]         SIGTERM, then SIGKILL after GRACE_S (2) if still there
#   h_stop_pidfile FILE [GRACE_S]    h_stop_pid of the PID in FILE, FILE removed

# A process that exited but was not reaped yet (PID 1 may be slow to) counts as gone.
h_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# h_stop_pid PID [GRACE_S]: SIGTERM, then SIGKILL if it is still there after GRACE_S (2).
h_stop_pid() {
	local pid=$1 grace=${2:-2} i
	[[ -n $pid ]] && h_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 20; i++)); do
		h_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# h_stop_pidfile FILE [GRACE_S]: h_stop_pid of the PID in FILE, and FILE removed.
h_stop_pidfile() {
	local pid
	[[ -f $1 ]] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	h_stop_pid "$pid" "${2:-2}"
}

