#!/usr/bin/env bash
# Shell completions, the man page and the version, as generated from the command table: every
# command of `k3sforge --help` and every option of `k3sforge help <command>` is offered by the
# bash script (run through bash's completion function, as a TAB press runs it), the stage names
# after `up --from`, subcommands, node names of the configuration; zsh and fish parse their
# scripts and fish completes the same; `man -l` renders the page built at build time without
# a warning, with every command; `k3sforge version` prints what `--version` prints.
set -uo pipefail
# shellcheck disable=SC2015

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN must point at the k3sforge binary}
BUILD=${KF_BUILD_DIR:?KF_BUILD_DIR must point at the build directory}
SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR must point at the source tree}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_completion
T=$H_SCRATCH
cd "$T" || exit 1

# The commands `k3sforge --help` lists (its "Commands:" block), and "help".
COMMANDS=$("$BIN" --help | awk '/^Commands:/ { c = 1; next } c && /^$/ { c = 0 } c && $1 != "help" { print $1 }')
STAGES="prep build-iso create-vms wait finalize kubeconfig"

# The long and short options `k3sforge help CMD` lists.
help_options() {
	"$BIN" help "$1" | awk '/^Options:/ { o = 1; next } o && /^$/ { o = 0 } o' |
		grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' | tr -d ' ,' | sort -u
}

# complete WORD...: runs the generated bash completion as bash runs it for a TAB after the
# words (the last word is the one being completed); the candidates, one a line, in $T/reply.
complete_bash() {
	PATH="$(dirname "$BIN"):$PATH" bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_k3sforge && printf "%s\n" "${COMPREPLY[@]}"' _ "$T/k3sforge.bash" k3sforge "$@" \
		>"$T/reply" 2>"$T/reply.err"
}
has() { grep -qxF -- "$1" "$T/reply" || { fail "'$1' not offered (got: $(tr '\n' ' ' <"$T/reply"))"; return 1; }; }

test_bash_script_parses_and_registers() {
	begin test_bash_script_parses_and_registers
	"$BIN" completion bash >"$T/k3sforge.bash" || { fail "completion bash failed"; return; }
	bash -n "$T/k3sforge.bash" || { fail "bash -n"; return; }
	[[ $(bash -c 'source "$1"; complete -p k3sforge' _ "$T/k3sforge.bash") == *"-F _k3sforge k3sforge"* ]] ||
		{ fail "no complete -F for k3sforge"; return; }
	pass
}

test_bash_offers_every_command_of_help() {
	begin test_bash_offers_every_command_of_help
	[[ $(wc -w <<<"$COMMANDS") -ge 18 ]] || { fail "--help lists too few commands: $COMMANDS"; return; }
	complete_bash "" || { fail "completion failed: $(cat "$T/reply.err")"; return; }
	for c in $COMMANDS help; do has "$c" || return; done
	grep -q '^__man$' "$T/reply" && { fail "the hidden __man is offered"; return; }
	complete_bash cr || return
	[[ $(cat "$T/reply") == create-vms ]] || { fail "cr -> $(cat "$T/reply")"; return; }
	pass
}

test_bash_offers_every_option_of_each_command_help() {
	begin test_bash_offers_every_option_of_each_command_help
	local c o n=0
	for c in $COMMANDS; do
		complete_bash "$c" - || { fail "$c -: $(cat "$T/reply.err")"; return; }
		for o in $(help_options "$c"); do
			has "$o" || { fail "(command $c)"; return; }
			n=$((n + 1))
		done
		# global options follow the command too
		has --config && has -o && has --json || { fail "(globals after $c)"; return; }
	done
	[[ $n -ge 60 ]] || { fail "only $n options checked"; return; }
	pass
}

test_bash_completes_values_subcommands_and_nodes() {
	begin test_bash_completes_values_subcommands_and_nodes
	complete_bash up --from "" || return
	[[ $(tr '\n' ' ' <"$T/reply") == "$STAGES " ]] || { fail "up --from: $(cat "$T/reply")"; return; }
	complete_bash up --from cr || return
	[[ $(cat "$T/reply") == create-vms ]] || { fail "up --from cr: $(cat "$T/reply")"; return; }
	complete_bash registry "" || return
	[[ $(tr '\n' ' ' <"$T/reply") == "start stop status ls " ]] || { fail "registry: $(cat "$T/reply")"; return; }
	# a value option's argument is not taken for the subcommand
	complete_bash -c lab.yaml registry --ca x "" || return
	has ls || return
	complete_bash config "" || return
	has check && has show || return
	complete_bash snapshot "" || return
	has create && has revert || return
	complete_bash completion "" || return
	[[ $(tr '\n' ' ' <"$T/reply") == "bash zsh fish powershell " ]] || { fail "completion: $(cat "$T/reply")"; return; }
	complete_bash help bu || return
	has bundle || return
	mkdir -p "$T/files/outdir" && touch "$T/files/lab.yaml"
	complete_bash -c "$T/files/la" || return
	has "$T/files/lab.yaml" || return
	complete_bash -o "$T/files/" || return
	has "$T/files/outdir" || return
	grep -q lab.yaml "$T/reply" && { fail "-o offers a file"; return; }
	# node names from -c's configuration
	complete_bash -c "$SRC/examples/lab.yaml" render --node "" || return
	[[ $(tr '\n' ' ' <"$T/reply") == "k3s-master1 k3s-worker1 k3s-worker2 " ]] ||
		{ fail "render --node: $(cat "$T/reply") $(cat "$T/reply.err")"; return; }
	pass
}

test_zsh_and_fish_scripts_parse_and_fish_completes() {
	begin test_zsh_and_fish_scripts_parse_and_fish_completes
	command -v zsh >/dev/null && command -v fish >/dev/null ||
		{ fail "zsh and fish are test dependencies (scripts/install-deps.sh --test)"; return; }
	"$BIN" completion zsh >"$T/_k3sforge" && zsh -n "$T/_k3sforge" || { fail "zsh -n"; return; }
	"$BIN" completion fish >"$T/k3sforge.fish" && fish -n "$T/k3sforge.fish" || { fail "fish -n"; return; }
	for c in $COMMANDS; do
		grep -q "^		'$c:" "$T/_k3sforge" || { fail "zsh: no command $c"; return; }
	done
	# every _arguments spec is one quoted word: an unquoted * or ( would be a glob when completing
	if grep -nE "^[[:space:]]+[*(]" "$T/_k3sforge"; then fail "zsh: unquoted spec"; return; fi
	zsh -f -c "autoload -U compinit; compinit -u -D; source $T/_k3sforge; print -r -- \$_comps[k3sforge]" \
		>"$T/zsh.out" 2>&1 || { fail "zsh: sourcing failed: $(cat "$T/zsh.out")"; return; }
	[[ $(cat "$T/zsh.out") == _k3sforge ]] || { fail "zsh: not registered: $(cat "$T/zsh.out")"; return; }
	PATH="$(dirname "$BIN"):$PATH" fish -c "source $T/k3sforge.fish; complete -C 'k3sforge '" |
		cut -f1 >"$T/reply"
	for c in $COMMANDS help; do has "$c" || { fail "(fish)"; return; }; done
	PATH="$(dirname "$BIN"):$PATH" fish -c "source $T/k3sforge.fish; complete -C 'k3sforge up --from '" |
		cut -f1 | sort >"$T/reply"
	[[ $(tr '\n' ' ' <"$T/reply") == "$(tr ' ' '\n' <<<"$STAGES" | sort | tr '\n' ' ')" ]] ||
		{ fail "fish up --from: $(cat "$T/reply")"; return; }
	PATH="$(dirname "$BIN"):$PATH" fish -c "source $T/k3sforge.fish; complete -C 'k3sforge mirror --'" |
		cut -f1 >"$T/reply"
	for o in $(help_options mirror | grep '^--'); do has "$o" || { fail "(fish mirror)"; return; }; done
	"$BIN" completion powershell >"$T/k3sforge.ps1" || { fail "completion powershell"; return; }
	for c in $COMMANDS; do grep -q "^		'$c' = " "$T/k3sforge.ps1" || { fail "powershell: no $c"; return; }; done
	pass
}

test_completion_refuses_an_unknown_shell() {
	begin test_completion_refuses_an_unknown_shell
	local rc
	"$BIN" completion bsh >"$T/out" 2>"$T/err"
	rc=$?
	[[ $rc == 2 ]] || { fail "exit $rc"; return; }
	grep -q "did you mean 'bash'" "$T/err" || { fail "$(cat "$T/err")"; return; }
	[[ ! -s $T/out ]] || { fail "printed a script"; return; }
	"$BIN" completion >/dev/null 2>&1
	[[ $? == 2 ]] || { fail "no shell: not a usage error"; return; }
	pass
}

test_man_page_built_renders_every_command() {
	begin test_man_page_built_renders_every_command
	local page=$BUILD/generated/k3sforge.1
	[[ -s $page ]] || { fail "$page not built"; return; }
	"$BIN" __man | cmp -s - "$page" || { fail "$page is not what the binary generates (stale)"; return; }
	MANWIDTH=80 man -l "$page" >"$T/man.txt" 2>"$T/man.err" || { fail "man -l failed"; return; }
	[[ ! -s $T/man.err ]] || { fail "troff warnings: $(cat "$T/man.err")"; return; }
	for s in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" COMMANDS "EXIT STATUS"; do
		grep -qx "$s" "$T/man.txt" || { fail "no section $s"; return; }
	done
	for c in $COMMANDS help; do
		grep -qx "   $c" "$T/man.txt" || { fail "no subsection for $c"; return; }
	done
	grep -q -- '--from STAGE' "$T/man.txt" || { fail "up's options missing"; return; }
	grep -q -- '-c lab.yaml up' "$T/man.txt" || { fail "minus signs garbled"; return; }
	"$BIN" --help | grep -q __man && { fail "__man shown in --help"; return; }
	pass
}

test_version_command_matches_version_flag() {
	begin test_version_command_matches_version_flag
	local a b
	a=$("$BIN" --version) && b=$("$BIN" version) || { fail "exit status"; return; }
	[[ $a == "$b" ]] || { fail "'$a' != '$b'"; return; }
	[[ $a =~ ^k3sforge\ 0\.2\.0\ \(([0-9a-f]{7,}|unknown)\)$ ]] || { fail "format: $a"; return; }
	if git -C "$SRC" rev-parse --short HEAD >/dev/null 2>&1; then
		[[ $a == *"($(git -C "$SRC" rev-parse --short HEAD))" ]] ||
			{ fail "'$a' is not HEAD $(git -C "$SRC" rev-parse --short HEAD)"; return; }
	fi
	a=$("$BIN" --json --version) && b=$("$BIN" --json version) || { fail "json exit status"; return; }
	python3 - "$a" "$b" <<'EOF' || { fail "json events differ or lack version/commit"; return; }
import json, sys
evs = [[json.loads(l) for l in s.splitlines()] for s in sys.argv[1:]]
for e in evs:
    assert [x["type"] for x in e] == ["version", "result"], e
    assert e[0]["version"] == "0.2.0" and e[0]["commit"], e
    for x in e:
        x.pop("time", None)
assert evs[0] == evs[1], evs
EOF
	"$BIN" version extra >/dev/null 2>&1
	[[ $? == 2 ]] || { fail "version extra: not a usage error"; return; }
	pass
}

test_bash_script_parses_and_registers
test_bash_offers_every_command_of_help
test_bash_offers_every_option_of_each_command_help
test_bash_completes_values_subcommands_and_nodes
test_zsh_and_fish_scripts_parse_and_fish_completes
test_completion_refuses_an_unknown_shell
test_man_page_built_renders_every_command
test_version_command_matches_version_flag

h_summary
