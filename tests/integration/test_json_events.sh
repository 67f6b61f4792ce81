#!/usr/bin/env bash
# The --json contract, checked against docs/events.md: every command that runs without a lab
# (version, config check good and bad, config show, the plan of up, doctor --host, registry
# status, wait against closed loopback ports, usage errors) is run with --json, and any event
# type or field the doc's table does not list, or a required field that is missing, fails.
# Also: `doctor --json` and `--json doctor` give the same shape, --json-ascii is pure ASCII and
# reads back as the same text, `-o json` is a usage error naming --json, data goes to stdout
# and logs to stderr, and wait draws one live node line on a terminal (a pty of 40 columns).
set -uo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN must point at the k3sforge binary}
SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}
DOC=$SRC/docs/events.md
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_events
T=$H_SCRATCH
cd "$T" || exit 1

run() {
	"$BIN" "$@" >"$T/stdout" 2>"$T/stderr"
	RC=$?
	OUT=$(cat "$T/stdout")
	ERR=$(cat "$T/stderr")
}

# Checks $T/stdout against the table of docs/events.md; prints what is wrong, exits 1 if so.
# Also appends the types seen to $T/seen.
check_events() {
	python3 - "$DOC" "$T/stdout" "$1" "$T/seen" <<'EOF'
import json, re, sys
doc, out, want_exit, seen_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
types = {}
in_types = False
for line in open(doc, encoding="utf-8"):
    if line.startswith("## "):
        in_types = line.strip() == "## Types"
        continue
    if not in_types or not line.startswith("| `"):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    name = re.fullmatch(r"`([a-z_]+)`", cells[0])
    assert name, "bad type cell: " + cells[0]
    fields = re.findall(r"`([a-z_]+)(\??)`", cells[1])
    assert fields or cells[1] == "", "no fields parsed: " + line
    types[name.group(1)] = {f: opt == "?" for f, opt in fields}
assert len(types) >= 20, "docs/events.md: only %d types parsed" % len(types)
common = {"type", "v", "time"}
problems = []
lines = open(out, encoding="utf-8").read().splitlines()
if not lines:
    problems.append("no output")
seen = []
for l in lines:
    try:
        e = json.loads(l)
    except ValueError:
        problems.append("not JSON: " + l[:120])
        continue
    t = e.get("type")
    seen.append(str(t))
    if e.get("v") != 1:
        problems.append("no v:1 in " + l[:120])
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(e.get("time"))):
        problems.append("bad time in " + l[:120])
    if t not in types:
        problems.append("type %r is not in docs/events.md" % t)
        continue
    for k in e:
        if k not in common and k not in types[t]:
            problems.append("%s: field %r is not in docs/events.md" % (t, k))
    for k, optional in types[t].items():
        if not optional and k not in e:
            problems.append("%s: required field %r missing" % (t, k))
    # numbers formatted sanely: no float with more than 10 significant digits
    for m in re.finditer(r'":(-?\d+\.\d+)', l):
        if len(m.group(1).replace("-", "").replace(".", "").lstrip("0")) > 10:
            problems.append("%s: number %s printed with too many digits" % (t, m.group(1)))
if lines:
    try:
        last = json.loads(lines[-1])
        if last.get("type") != "result" or last.get("exit") != want_exit:
            problems.append("last line is not a result with exit %d: %s" % (want_exit, lines[-1][:200]))
    except ValueError:
        pass
open(seen_path, "a").write("\n".join(seen) + "\n")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}

# json_run EXIT ARGS...: runs with the given args (which include --json), checks the stream.
json_run() {
	local want=$1
	shift
	run "$@"
	[[ $RC == "$want" ]] || { fail "$* exited $RC, expected $want: $(tail -c 400 "$T/stdout")"; return 1; }
	[[ -z $ERR ]] || { fail "$*: stderr not empty in JSON mode: $ERR"; return 1; }
	local why
	why=$(check_events "$want") || { fail "$*: $why"; return 1; }
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cat >"$T/bad.yaml" <<'YAML'
nodes: 3
cluster: { name: "실험실" }
YAML
P1=$(free_port)
P2=$(free_port)
cat >"$T/local.yaml" <<YAML
nodes:
  - { name: k3s-master1, role: master, ip: 192.168.6.10, ssh: "127.0.0.1:$P1" }
  - { name: k3s-worker1, role: worker, ip: 192.168.6.11, ssh: "127.0.0.1:$P2" }
timeouts: { ssh_connect: 1s }
YAML

test_every_event_of_commands_without_a_lab_is_documented() {
	begin test_every_event_of_commands_without_a_lab_is_documented
	: >"$T/seen"
	json_run 0 --json --version || return
	json_run 0 --json -c "$SRC/examples/lab.yaml" config check || return
	json_run 3 --json -c "$T/bad.yaml" config check || return
	json_run 3 --json -c "$T/bad.yaml" -o "$T/o-bad" up --dry-run || return
	json_run 0 --json -c "$SRC/examples/lab.yaml" config show || return
	json_run 0 --json -c "$SRC/examples/lab.yaml" -o "$T/o-plan" up --dry-run || return
	json_run 0 --json -c "$SRC/examples/lab.yaml" -o "$T/o-reg" registry status || return
	run --json -c "$SRC/examples/lab.yaml" -o "$T/o-doc" doctor --host
	[[ $RC == 0 || $RC == 1 ]] || { fail "doctor --host exited $RC"; return; }
	check_events "$RC" >"$T/why" || { fail "doctor: $(cat "$T/why")"; return; }
	json_run 5 --json -c "$T/local.yaml" -o "$T/o-wait" wait --no-vmrun --timeout 2 || return
	json_run 2 --json upp || return
	json_run 2 --json up --frce || return
	json_run 2 --json -o json status || return
	# the types these runs must have produced
	for t in version config_problem plan config registry_status host_check doctor stage_start \
		stage_end summary log result; do
		grep -qx "$t" "$T/seen" || { fail "no $t event seen"; return; }
	done
	pass
}

test_config_problems_are_typed_events_with_their_position() {
	begin test_config_problems_are_typed_events_with_their_position
	run --json -c "$T/bad.yaml" config check
	python3 - "$T/stdout" <<'EOF' || { fail "config_problem events: $OUT"; return; }
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
probs = [e for e in ev if e["type"] == "config_problem"]
assert len(probs) == 2, probs
assert probs[0]["line"] == 1 and probs[0]["col"] == 8 and probs[0]["file"].endswith("bad.yaml"), probs[0]
assert probs[1]["line"] == 2 and "실험실" in probs[1]["problem"], probs[1]
assert probs[0]["msg"].startswith(probs[0]["file"] + ":1:8: "), probs[0]
EOF
	# a command whose configuration does not load reports every problem the same way
	run --json -c "$T/bad.yaml" -o "$T/o-bad" up --dry-run
	[[ $(grep -c '"type":"config_problem"' <<<"$OUT") == 2 ]] || { fail "up: $OUT"; return; }
	pass
}

test_doctor_json_and_global_json_give_the_same_shape() {
	begin test_doctor_json_and_global_json_give_the_same_shape
	local a b
	run -c "$SRC/examples/lab.yaml" -o "$T/o-d1" doctor --host --json
	a=$(python3 -c 'import json,sys; print(" ".join(sorted(e["type"]+":"+",".join(sorted(e)) for e in map(json.loads, sys.stdin))))' <"$T/stdout") ||
		{ fail "doctor --json is not an event stream: $OUT"; return; }
	[[ -z $ERR ]] || { fail "doctor --json wrote to stderr: $ERR"; return; }
	run --json -c "$SRC/examples/lab.yaml" -o "$T/o-d2" doctor --host
	b=$(python3 -c 'import json,sys; print(" ".join(sorted(e["type"]+":"+",".join(sorted(e)) for e in map(json.loads, sys.stdin))))' <"$T/stdout")
	[[ $a == "$b" ]] || { fail "shapes differ: [$a] vs [$b]"; return; }
	[[ $a == *"host_check:"* ]] || { fail "no host_check events: $a"; return; }
	pass
}

test_json_ascii_is_pure_ascii_and_reads_back_the_same() {
	begin test_json_ascii_is_pure_ascii_and_reads_back_the_same
	local plain
	run --json -c "$T/bad.yaml" config check
	plain=$(python3 -c 'import json,sys; print([ {k: v for k, v in json.loads(l).items() if k != "time"} for l in sys.stdin])' <"$T/stdout")
	[[ $OUT == *"실험실"* ]] || { fail "plain --json escaped the text: $OUT"; return; }
	run --json-ascii -c "$T/bad.yaml" config check
	[[ $RC == 3 ]] || { fail "exit $RC"; return; }
	LC_ALL=C grep -q '[^ -~]' "$T/stdout" && { fail "non-ASCII bytes in --json-ascii output"; return; }
	[[ $OUT == *'\uC2E4\uD5D8\uC2E4'* ]] || { fail "no \\u escapes: $OUT"; return; }
	[[ $(python3 -c 'import json,sys; print([ {k: v for k, v in json.loads(l).items() if k != "time"} for l in sys.stdin])' <"$T/stdout") == "$plain" ]] ||
		{ fail "--json-ascii reads back differently"; return; }
	pass
}

test_o_with_an_output_format_is_a_usage_error_naming_json() {
	begin test_o_with_an_output_format_is_a_usage_error_naming_json
	local f
	for f in json yaml wide; do
		run -o "$f" status
		[[ $RC == 2 ]] || { fail "-o $f: exit $RC"; return; }
		[[ $ERR == *"-o is the output directory"*"--json"* ]] || { fail "-o $f: $ERR"; return; }
		[[ ! -e $T/$f ]] || { fail "-o $f made a directory"; return; }
	done
	# an existing directory of that name is taken as one
	mkdir "$T/json"
	run -c "$SRC/examples/lab.yaml" -o json up --dry-run
	[[ $RC == 0 ]] || { fail "-o json with ./json present: exit $RC: $ERR"; return; }
	pass
}

test_result_data_on_stdout_logs_on_stderr() {
	begin test_result_data_on_stdout_logs_on_stderr
	run -c "$SRC/examples/lab.yaml" -o "$T/o-s" up --dry-run
	[[ $OUT == "plan for $T/o-s:"* && $OUT == *"prep         run ("* ]] || { fail "plan not on stdout: $OUT"; return; }
	[[ $ERR != *"prep         run"* ]] || { fail "plan on stderr: $ERR"; return; }
	run -c "$SRC/examples/lab.yaml" -o "$T/o-s" doctor --host
	grep -Eq '^(ok|info|warn|fail) +memory ' <<<"$OUT" || { fail "findings not on stdout: $OUT"; return; }
	[[ $ERR != *"memory "*"MiB"* ]] || { fail "findings on stderr: $ERR"; return; }
	run -c "$SRC/examples/lab.yaml" config show
	[[ $OUT == *"nodes:"* && -z $ERR ]] || { fail "config show: $ERR"; return; }
	pass
}

test_wait_draws_one_live_node_line_on_a_narrow_terminal() {
	begin test_wait_draws_one_live_node_line_on_a_narrow_terminal
	python3 - "$BIN" "$T/local.yaml" "$T/o-pty" >"$T/pty.out" <<'EOF' || { fail "$(cat "$T/pty.out")"; return; }
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    os.environ["NO_COLOR"] = "1"
    os.execv(sys.argv[1], [sys.argv[1], "-c", sys.argv[2], "-o", sys.argv[3], "wait",
                           "--no-vmrun", "--timeout", "3", "--force"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
out = b""
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
text = out.decode("utf-8", "replace")
draws = [p.split("\r")[0].split("\n")[0] for p in text.split("\r\x1b[K")[1:]]
lines = [d for d in draws if d.startswith("k3s-master1:")]
assert lines, "no node line: %r" % text
assert lines[0].startswith("k3s-master1: waiting  k3s-worker1: wa"), lines[0]
# cut to 39 columns: no wrapped line smears the screen
assert all(len(l) <= 39 for l in lines), [l for l in lines if len(l) > 39]
assert "still starting" not in text, text
EOF
	pass
}

test_every_event_of_commands_without_a_lab_is_documented
test_config_problems_are_typed_events_with_their_position
test_doctor_json_and_global_json_give_the_same_shape
test_json_ascii_is_pure_ascii_and_reads_back_the_same
test_o_with_an_output_format_is_a_usage_error_naming_json
test_result_data_on_stdout_logs_on_stderr
test_wait_draws_one_live_node_line_on_a_narrow_terminal

h_summary
