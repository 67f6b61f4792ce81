# shellcheck shell=bash
# The shell tests' harness (sourced): counting and reporting checks, a scratch directory removed
# on exit, cleanup commands run on every exit path, and stopping processes by PID.
#
#   . "$KF_SOURCE_DIR/tests/lib/harness.sh"      (or relative to the script)
#   h_scratch kf_test_cli; T=$H_SCRATCH          a fresh /tmp dir, removed on exit
#   h_on_exit stop_server                        run on exit (last registered, first run)
#   begin NAME; ...; pass | fail MSG              one test (without begin: the calling function)
#   ok NAME | not_ok NAME [MSG]                  a one-line check, counted
#   check FUNCTION                               runs FUNCTION in a subshell: ok, or its output
#   h_stop_pid PID [GRACE_S] / h_stop_pidfile F  TERM, then KILL after the grace (default 2 s)
#   h_summary                                    "N/M passed"; its status is the script's result
#
# A script may define h_on_fail (called after each "not ok" line) to print what helps, e.g. the
# stderr of the command that failed. Output is TAP-like: "ok - NAME", "not ok - NAME: MSG".

# shellcheck source=tests/lib/pids.sh
. "$(dirname "${BASH_SOURCE[0]}")/pids.sh"

H_TESTS=0
H_FAILURES=0
H_CURRENT=
H_CURRENT_IN=
H_COUNTED=
H_FAILED_IN=
H_EXIT_CMDS=()
H_SCRATCH=

h_run_exit_cmds() {
	local i
	for ((i = ${#H_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${H_EXIT_CMDS[i]}" || true
	done
	if [[ -n $H_SCRATCH && -d $H_SCRATCH ]]; then rm -rf "$H_SCRATCH"; fi
}
trap h_run_exit_cmds EXIT

# h_on_exit CMD: run CMD (a command line) when the script exits, whatever the path.
h_on_exit() { H_EXIT_CMDS+=("$1"); }

# h_scratch PREFIX: H_SCRATCH becomes a new directory /tmp/PREFIX.XXXXXX, removed on exit.
h_scratch() {
	H_SCRATCH=$(mktemp -d "/tmp/$1.XXXXXX") || { echo "cannot make a scratch dir" >&2; exit 1; }
}

# The test a pass/fail belongs to: the one begun in the same function, else the calling function
# (a test function that reports without begin).
h_name() {
	if [[ -n $H_CURRENT && $H_CURRENT_IN == "${FUNCNAME[2]}" ]]; then
		echo "$H_CURRENT"
	else
		echo "${FUNCNAME[2]}"
	fi
}

h_count() {
	if [[ $H_COUNTED != "$1" ]]; then
		H_TESTS=$((H_TESTS + 1))
		H_COUNTED=$1
	fi
}

begin() {
	H_CURRENT=$1
	H_CURRENT_IN=${FUNCNAME[1]}
	h_count "$1"
}

pass() {
	local name
	name=$(h_name)
	h_count "$name"
	echo "ok - $name"
}

fail() {
	local name
	name=$(h_name)
	h_count "$name"
	echo "not ok - $name: $*"
	if [[ $H_FAILED_IN != "$name" ]]; then
		H_FAILURES=$((H_FAILURES + 1))
		H_FAILED_IN=$name
	fi
	if declare -F h_on_fail >/dev/null; then h_on_fail; fi
}

ok() { begin "$1"; pass; }

not_ok() {
	local name=$1
	shift
	begin "$name"
	fail "${*:-failed}"
}

# check FUNCTION: runs it in a subshell; its output is shown, indented, only when it fails.
check() {
	local out
	begin "$1"
	if out=$("$1" 2>&1); then
		pass
	else
		fail "exit $?"
		printf '%s\n' "$out" | sed 's/^/     /'
	fi
}

# h_summary: the count, and success only when nothing failed (make it the script's last line).
h_summary() {
	echo "$((H_TESTS - H_FAILURES))/$H_TESTS passed"
	[[ $H_FAILURES == 0 ]]
}
