#!/usr/bin/env bash
# The k3sforge command line, run as a user runs it: help, version, usage errors with suggestions
# and exit codes, --json event streams, the output-dir lock, the log file, a missing -c file.
set -uo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN must point at the k3sforge binary}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_cli
T=$H_SCRATCH
HOLDER_PID=   # flock, holding a lock for a test
SLEEPER_PID=  # its child, which wrote its pid into the lock file
stop_holder() {
	if [[ -n $SLEEPER_PID ]]; then kill "$SLEEPER_PID" 2>/dev/null; fi
	if [[ -n $HOLDER_PID ]]; then kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; fi
	SLEEPER_PID=
	HOLDER_PID=
}
h_on_exit stop_holder
cd "$T" || exit 1

# run ARGS...: runs the binary, sets OUT, ERR and RC.
run() {
	"$BIN" "$@" >"$T/stdout" 2>"$T/stderr"
	RC=$?
	OUT=$(cat "$T/stdout")
	ERR=$(cat "$T/stderr")
}

expect_rc() { [[ $RC == "$1" ]] || { fail "exit $RC, expected $1 (stderr: $ERR)"; return 1; }; }
expect_in() { [[ $1 == *"$2"* ]] || { fail "missing '$2' in: $1"; return 1; }; }
one_line() { [[ $(printf '%s\n' "$1" | wc -l) == 1 ]] || { fail "not one line: $1"; return 1; }; }

# Every stdout line is a JSON object; the last is a result event with the given exit status.
json_stream_ok() {
	python3 - "$T/stdout" "$1" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "no output"
events = [json.loads(l) for l in lines]
for e in events:
    assert isinstance(e, dict) and "type" in e and "time" in e, e
last = events[-1]
assert last["type"] == "result", last
assert last["exit"] == int(sys.argv[2]), last
assert last["ok"] == (int(sys.argv[2]) == 0), last
EOF
}

test_help_lists_commands_and_exits_0() {
	begin test_help_lists_commands_and_exits_0
	run --help
	expect_rc 0 || return
	for c in up config help; do
		grep -Eq "^  $c +[a-z]" <<<"$OUT" || { fail "command $c not listed"; return; }
	done
	expect_in "$OUT" "Global options:" || return
	expect_in "$OUT" "--json" || return
	expect_in "$OUT" "Exit codes:" || return
	pass
}

test_version_prints_version() {
	begin test_version_prints_version
	run --version
	expect_rc 0 || return
	[[ $OUT =~ ^k3sforge\ [0-9]+\.[0-9]+\.[0-9]+ ]] || { fail "version output: $OUT"; return; }
	pass
}

test_help_up_shows_usage_options_and_example() {
	begin test_help_up_shows_usage_options_and_example
	local a b
	run help up
	expect_rc 0 || return
	a=$OUT
	run up --help
	expect_rc 0 || return
	b=$OUT
	[[ $a == "$b" ]] || { fail "help up and up --help differ"; return; }
	for s in "Usage: k3sforge" "Options:" "--from STAGE" "--force" "-h, --help" "Example:" \
		"k3sforge -c lab.yaml up"; do
		expect_in "$a" "$s" || return
	done
	pass
}

test_help_option_rows_are_aligned() {
	begin test_help_option_rows_are_aligned
	run help up
	# the help text of every option row starts in the same column, -h/--help included
	local cols
	cols=$(sed -n '/^Options:/,/^$/p' <<<"$OUT" | grep -E '^  ' |
		awk '{ match($0, /^  +[^ ].*[^ ]  +/); print RLENGTH }' | sort -u | wc -l)
	[[ $cols == 1 ]] || { fail "option help starts in $cols different columns"; return; }
	pass
}

test_unknown_command_is_one_line_with_suggestion_exit_2() {
	begin test_unknown_command_is_one_line_with_suggestion_exit_2
	run upp
	expect_rc 2 || return
	one_line "$ERR" || return
	expect_in "$ERR" "unknown command 'upp' (did you mean 'up'?)" || return
	[[ -z $OUT ]] || { fail "stdout not empty: $OUT"; return; }
	pass
}

test_help_for_unknown_command_exits_2() {
	begin test_help_for_unknown_command_exits_2
	run help confg
	expect_rc 2 || return
	one_line "$ERR" || return
	expect_in "$ERR" "did you mean 'config'?" || return
	pass
}

test_unknown_global_option_suggests_and_exits_2() {
	begin test_unknown_global_option_suggests_and_exits_2
	run --verbos up
	expect_rc 2 || return
	one_line "$ERR" || return
	expect_in "$ERR" "unknown option --verbos (did you mean --verbose?)" || return
	pass
}

test_unknown_command_option_suggests_and_exits_2() {
	begin test_unknown_command_option_suggests_and_exits_2
	run -o "$T/out-opt" up --frce
	expect_rc 2 || return
	one_line "$ERR" || return
	expect_in "$ERR" "unknown option --frce (did you mean --force?)" || return
	pass
}

test_no_command_is_a_usage_error() {
	begin test_no_command_is_a_usage_error
	run
	expect_rc 2 || return
	expect_in "$ERR" "no command given" || return
	pass
}

test_json_run_is_all_json_and_ends_with_result() {
	begin test_json_run_is_all_json_and_ends_with_result
	run --json -o "$T/out-json" up --dry-run
	expect_rc 0 || return
	json_stream_ok 0 || { fail "bad JSON stream: $OUT"; return; }
	[[ -z $ERR ]] || { fail "stderr not empty in JSON mode: $ERR"; return; }
	pass
}

test_json_usage_error_ends_with_result() {
	begin test_json_usage_error_ends_with_result
	run --json upp
	expect_rc 2 || return
	json_stream_ok 2 || { fail "bad JSON stream: $OUT"; return; }
	expect_in "$OUT" '"code":"usage"' || return
	pass
}

test_json_global_option_error_ends_with_result() {
	begin test_json_global_option_error_ends_with_result
	run --json --verbos up
	expect_rc 2 || return
	json_stream_ok 2 || { fail "bad JSON stream: $OUT"; return; }
	expect_in "$OUT" "did you mean --verbose?" || return
	pass
}

test_json_config_error_ends_with_result_exit_3() {
	begin test_json_config_error_ends_with_result_exit_3
	run --json -c "$T/missing.yaml" -o "$T/out-jc" up --dry-run
	expect_rc 3 || return
	json_stream_ok 3 || { fail "bad JSON stream: $OUT"; return; }
	expect_in "$OUT" '"code":"config"' || return
	pass
}

test_json_error_with_invalid_utf8_keeps_its_message() {
	begin test_json_error_with_invalid_utf8_keeps_its_message
	# a path that is not UTF-8 (Latin-1 bytes on a Linux file system) in the error message
	run --json -c "$T/caf"$'\xe9'".yaml" -o "$T/out-utf" up --dry-run
	expect_rc 3 || return
	json_stream_ok 3 || { fail "bad JSON stream: $OUT"; return; }
	python3 - "$T/stdout" <<'EOF2' || { fail "the result's error is missing or lost the path: $OUT"; return; }
import json, sys
last = json.loads(open(sys.argv[1], encoding="utf-8").read().splitlines()[-1])
assert "caf\ufffd.yaml: no such configuration file" in last["error"], last
EOF2
	pass
}

test_locked_output_dir_exits_4() {
	begin test_locked_output_dir_exits_4
	mkdir -p "$T/out-lock"
	# Another process holds <out>/.lock for as long as our run takes.
	flock "$T/out-lock/.lock" "$BIN" -o "$T/out-lock" up --dry-run >"$T/stdout" 2>"$T/stderr"
	RC=$?
	ERR=$(cat "$T/stderr")
	expect_rc 4 || return
	expect_in "$ERR" "out-lock is locked by another process" || return
	# and once it is free, the same run works
	run -o "$T/out-lock" up --dry-run
	expect_rc 0 || return
	pass
}

# An -o that is a file, or that cannot be made, is named as the output directory with what to do
# (it said only "Permission denied").
test_unusable_output_dir_is_named_with_what_to_do() {
	begin test_unusable_output_dir_is_named_with_what_to_do
	printf 'x\n' >"$T/notadir"
	run -o "$T/notadir" up --dry-run
	expect_rc 1 || return
	one_line "$ERR" || return
	expect_in "$ERR" "the output directory $T/notadir (-o) is not a directory; name a directory with -o DIR" || return
	local ro
	if [[ $(id -u) == 0 ]]; then
		ro=/sys/kf-test-cli-out   # root may write anywhere else; sysfs refuses a mkdir
	else
		mkdir -p "$T/ro" && chmod 0555 "$T/ro"
		ro=$T/ro/out
	fi
	run -o "$ro" up --dry-run
	expect_rc 1 || return
	one_line "$ERR" || return
	expect_in "$ERR" "cannot use the output directory $ro (-o, where the lab's files go): cannot create directory $ro: " || return
	expect_in "$ERR" "make it writable for this user, or name another with -o DIR" || return
	[[ -d $T/ro ]] && chmod 0755 "$T/ro"
	pass
}

# Every command's help text is wrapped like a terminal's (mirror's and bundle's were one line of
# 500-700 characters): no line of the description longer than 100 characters.
test_help_descriptions_are_wrapped() {
	begin test_help_descriptions_are_wrapped
	local c long
	for c in $("$BIN" --help 2>&1 | awk '/^Commands:/{on=1; next} /^$/{on=0} on && /^  [a-z]/{print $1}'); do
		run help "$c"
		expect_rc 0 || return
		long=$(awk 'NR>3 && /^Options:/{exit} NR>3 && length($0) > 100' <<<"$OUT")
		[[ -z $long ]] || { fail "help $c has unwrapped lines: $long"; return; }
	done
	[[ -n $c ]] || { fail "no commands found in --help"; return; }
	pass
}

# Sub-verbs get the same did-you-mean as commands, exit 2.
test_unknown_sub_verb_suggests_the_closest_exit_2() {
	begin test_unknown_sub_verb_suggests_the_closest_exit_2
	run bundle exprot lab.tar
	expect_rc 2 || return
	one_line "$ERR" || return
	expect_in "$ERR" "bundle: unknown verb 'exprot' (did you mean 'export'?)" || return
	run snapshot creat before-upgrade
	expect_rc 2 || return
	expect_in "$ERR" "snapshot: unknown verb 'creat' (did you mean 'create'?)" || return
	run bundle frobnicate lab.tar
	expect_rc 2 || return
	expect_in "$ERR" "bundle: unknown verb 'frobnicate' (export or import)" || return
	pass
}

test_second_concurrent_run_exits_4_naming_the_first() {
	begin test_second_concurrent_run_exits_4_naming_the_first
	mkdir -p "$T/out-two"
	# The first "run" is a process holding the lock the way k3sforge does (flock + its pid).
	# shellcheck disable=SC2016 # $$ and $1 are for the inner bash
	flock "$T/out-two/.lock" bash -c 'echo $$ > "$1"; exec sleep 30' _ "$T/out-two/.lock" &
	HOLDER_PID=$!
	for _ in $(seq 100); do [[ -s $T/out-two/.lock ]] && break; sleep 0.05; done
	SLEEPER_PID=$(cat "$T/out-two/.lock")
	local holder=$SLEEPER_PID
	run -o "$T/out-two" up --dry-run
	stop_holder
	expect_rc 4 || return
	expect_in "$ERR" "in use by another k3sforge run (pid $holder)" || return
	pass
}

test_log_file_lines_all_start_with_timestamp() {
	begin test_log_file_lines_all_start_with_timestamp
	run -v -o "$T/out-log" up --dry-run
	expect_rc 0 || return
	local log="$T/out-log/k3sforge.log"
	[[ -s $log ]] || { fail "no $log"; return; }
	local bad
	bad=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} (DEBUG|INFO |OK   |WARN |ERROR|EVENT) ' "$log")
	[[ $bad == 0 ]] || { fail "$bad lines without timestamp: $(cat "$log")"; return; }
	grep -q 'EVENT result {"ok":true,"exit":0}' "$log" || { fail "no result in log"; return; }
	pass
}

test_missing_explicit_config_is_a_config_error_exit_3() {
	begin test_missing_explicit_config_is_a_config_error_exit_3
	run -c "$T/missing.yaml" -o "$T/out-cfg" up --dry-run
	expect_rc 3 || return
	one_line "$ERR" || return
	expect_in "$ERR" "$T/missing.yaml: no such configuration file" || return
	run -c "$T/missing.yaml" config check
	expect_rc 3 || return
	expect_in "$ERR" "$T/missing.yaml: no such configuration file" || return
	pass
}

test_up_rejects_arguments_and_unknown_stage() {
	begin test_up_rejects_arguments_and_unknown_stage
	run -o "$T/out-args" up extra
	expect_rc 2 || return
	expect_in "$ERR" "up takes no arguments" || return
	run -o "$T/out-args" up --from nosuchstage
	expect_rc 2 || return
	expect_in "$ERR" "no stage 'nosuchstage'" || return
	pass
}

test_global_options_may_follow_the_command() {
	begin test_global_options_may_follow_the_command
	# as DESIGN.md and people write it: k3sforge up -c lab.yaml
	run up --dry-run -c "$T/missing.yaml" -o "$T/out-after"
	expect_rc 3 || return
	expect_in "$ERR" "$T/missing.yaml: no such configuration file" || return
	run up --json --dry-run --out="$T/out-after"
	expect_rc 0 || return
	json_stream_ok 0 || { fail "--json after the command was not applied: $OUT"; return; }
	[[ -d $T/out-after ]] || { fail "--out= after the command was not applied"; return; }
	# after `--` nothing is an option any more
	run -o "$T/out-after" up -- -c x
	expect_rc 2 || return
	expect_in "$ERR" "up takes no arguments" || return
	# a value is still required
	run up -c
	expect_rc 2 || return
	expect_in "$ERR" "option -c needs a value (FILE)" || return
	pass
}

test_command_own_json_is_not_taken_as_global() {
	begin test_command_own_json_is_not_taken_as_global
	# doctor's own --json is kept by doctor (and means what the global --json means: the
	# event stream, one shape whichever is typed; tests/integration/test_json_events.sh)
	run -o "$T/out-doc" doctor --host --json
	json_stream_ok "$RC" || { fail "doctor --json is not the event stream: $OUT"; return; }
	[[ $OUT == *'"type":"host_check"'* ]] || { fail "no host_check events: $OUT"; return; }
	[[ -z $ERR ]] || { fail "stderr not empty: $ERR"; return; }
	pass
}

test_up_checks_the_ubuntu_iso_before_prep() {
	begin test_up_checks_the_ubuntu_iso_before_prep
	mkdir -p "$T/pre"
	printf 'paths: { ubuntu_iso: no-such.iso }\n' >"$T/pre/lab.yaml"
	run -c "$T/pre/lab.yaml" -o "$T/pre/out" up
	expect_rc 1 || return
	# listed with every other failed check of the run (no vmrun here either), then one closing
	# line
	expect_in "$ERR" "ubuntu-iso paths.ubuntu_iso $T/pre/no-such.iso: no such file: download ubuntu-22.04.5-live-server-amd64.iso" || return
	expect_in "$ERR" "failed before anything was downloaded or changed" || return
	# nothing of prep happened: no downloads, no stage record
	[[ ! -e $T/pre/out/artifacts && ! -e $T/pre/out/pki ]] || { fail "prep ran before the check"; return; }
	[[ ! -e $T/pre/out/state.json ]] || ! grep -q '"prep"' "$T/pre/out/state.json" ||
		{ fail "prep recorded"; return; }
	# a file that is not an ISO at all
	head -c 65536 /dev/urandom >"$T/pre/no-such.iso"
	run -c "$T/pre/lab.yaml" -o "$T/pre/out" up
	expect_rc 1 || return
	expect_in "$ERR" "no-such.iso is not an Ubuntu live-server ISO" || return
	pass
}

test_terminal_lines_start_with_timestamp_and_level() {
	begin test_terminal_lines_start_with_timestamp_and_level
test_up_checks_the_ubuntu_iso_before_prep
	run -o "$T/out-term" up --dry-run
	expect_rc 0 || return
	local bad
	bad=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} (DEBUG|INFO |OK   |WARN |ERROR) ' <<<"$ERR")
	[[ $bad == 0 ]] || { fail "lines without timestamp: $ERR"; return; }
	[[ $ERR != *$'\033'* ]] || { fail "colour on a non-terminal"; return; }
	pass
}

test_help_lists_commands_and_exits_0
test_version_prints_version
test_help_up_shows_usage_options_and_example
test_help_option_rows_are_aligned
test_unknown_command_is_one_line_with_suggestion_exit_2
test_help_for_unknown_command_exits_2
test_unknown_global_option_suggests_and_exits_2
test_unknown_command_option_suggests_and_exits_2
test_no_command_is_a_usage_error
test_json_run_is_all_json_and_ends_with_result
test_json_usage_error_ends_with_result
test_json_global_option_error_ends_with_result
test_json_config_error_ends_with_result_exit_3
test_json_error_with_invalid_utf8_keeps_its_message
test_locked_output_dir_exits_4
test_second_concurrent_run_exits_4_naming_the_first
test_log_file_lines_all_start_with_timestamp
test_missing_explicit_config_is_a_config_error_exit_3
test_up_rejects_arguments_and_unknown_stage
test_terminal_lines_start_with_timestamp_and_level
test_global_options_may_follow_the_command
test_command_own_json_is_not_taken_as_global
test_unusable_output_dir_is_named_with_what_to_do
test_unknown_sub_verb_suggests_the_closest_exit_2
test_help_descriptions_are_wrapped

h_summary
