#!/usr/bin/env bash
# `k3sforge config check|show` from the command line: the example passes, a broken file gets
# file:line:col: message and exit status 3, show prints YAML (read back by PyYAML) with the
# password as ***.
set -euo pipefail

BIN=${K3SFORGE_BIN:?K3SFORGE_BIN not set}
SRC=${KF_SOURCE_DIR:?KF_SOURCE_DIR not set}
# shellcheck source=tests/lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_scratch kf_test_config_cli
TMP=$H_SCRATCH

# 1. The example passes.
if "$BIN" --no-color -c "$SRC/examples/lab.yaml" config check >"$TMP/out" 2>"$TMP/err"; then
	if grep -q "examples/lab.yaml: configuration is valid" "$TMP/err"; then
		ok "config check passes examples/lab.yaml"
	else
		not_ok "config check passes examples/lab.yaml (no 'valid' line)"; cat "$TMP/err"
	fi
else
	not_ok "config check passes examples/lab.yaml (exit $?)"; cat "$TMP/err"
fi

# 2. A broken file: every problem as file:line:col: message, exit status 3.
cat >"$TMP/broken.yaml" <<'YAML'
cluster:
  name: lab
network:
  gateway: 192.168.6.300
nodes:
  - name: k3s-master1
    role: master
    ip: 192.168.6.10
  - name: k3s-worker1
    ip: 192.168.7.11
YAML
set +e
"$BIN" --no-color -c "$TMP/broken.yaml" config check >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
if [ "$rc" -eq 3 ]; then ok "config check exits 3 on a broken file"; else
	not_ok "config check exits 3 on a broken file (got $rc)"; fi
if grep -qF "$TMP/broken.yaml:4:12: network.gateway '192.168.6.300' is not an IPv4 address like 192.168.6.1" "$TMP/err" &&
	grep -qF "$TMP/broken.yaml:10:9: nodes[1].ip 192.168.7.11 is outside network.subnet 192.168.6.0/24" "$TMP/err"; then
	ok "config check prints every problem as file:line:col: message"
else
	not_ok "config check prints every problem as file:line:col: message"; cat "$TMP/err"
fi

# 3. A YAML syntax error is a config error too.
printf 'nodes:\n  - name: [a\n' >"$TMP/syntax.yaml"
set +e
"$BIN" --no-color -c "$TMP/syntax.yaml" config check >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
if [ "$rc" -eq 3 ] && grep -qE "$TMP/syntax.yaml:[0-9]+:[0-9]+: YAML syntax error: " "$TMP/err"; then
	ok "config check reports a YAML syntax error with its position"
else
	not_ok "config check reports a YAML syntax error with its position (exit $rc)"; cat "$TMP/err"
fi

# 4. config show: YAML with every default and the password masked.
cp "$SRC/examples/images.txt" "$TMP/images.txt"
sed 's/^    # admin_password: .*/    admin_password: "Kf-Test-Secret-42"/' "$SRC/examples/lab.yaml" >"$TMP/lab.yaml"
grep -q 'admin_password: "Kf-Test-Secret-42"' "$TMP/lab.yaml"
if "$BIN" --no-color -c "$TMP/lab.yaml" config show >"$TMP/show.yaml" 2>"$TMP/err"; then
	ok "config show exits 0"
else
	not_ok "config show exits 0"; cat "$TMP/err"
fi
if grep -qF '    admin_password: "***"' "$TMP/show.yaml" && ! grep -q "Kf-Test-Secret-42" "$TMP/show.yaml" "$TMP/err"; then
	ok "config show masks the admin password"
else
	not_ok "config show masks the admin password"; cat "$TMP/show.yaml"
fi
if python3 - "$TMP/show.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["addons"]["kubesphere"]["admin_password"] == "***", doc["addons"]
assert doc["network"]["subnet"] == "192.168.6.0/24"
assert [n["name"] for n in doc["nodes"]] == ["k3s-master1", "k3s-worker1", "k3s-worker2"]
assert doc["nodes"][0]["ip"] == "192.168.6.10" and doc["nodes"][0]["role"] == "master"
assert doc["registry"]["port"] == 5000 and doc["registry"]["listen"] == "0.0.0.0:5000"
assert doc["guest"]["timezone"] == "Asia/Seoul"
assert doc["timeouts"]["wait"] == "20m"
PY
then ok "config show output is YAML another parser reads with the same values"; else
	not_ok "config show output is YAML another parser reads with the same values"; fi

# 4b. A missing file named with -c: the message names it as the -c file, not "give one with -c".
set +e
"$BIN" --no-color -c "$TMP/nope/lab.yaml" config check >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
if [ "$rc" -eq 3 ] && grep -qF "$TMP/nope/lab.yaml: no such configuration file (the file -c names does not exist" "$TMP/err" &&
	! grep -qF "give one with -c" "$TMP/err"; then
	ok "config check on a missing -c file names the path as the -c file"
else
	not_ok "config check on a missing -c file names the path as the -c file (exit $rc)"; cat "$TMP/err"
fi
# Without -c and without ./k3sforge.yaml it still says how to give one.
set +e
(cd "$TMP" && "$BIN" --no-color config check >"$TMP/out" 2>"$TMP/err")
rc=$?
set -e
if [ "$rc" -eq 3 ] && grep -qF "give one with -c FILE" "$TMP/err"; then
	ok "config check without -c and without ./k3sforge.yaml says to give one with -c"
else
	not_ok "config check without -c and without ./k3sforge.yaml says to give one with -c (exit $rc)"; cat "$TMP/err"
fi

# 5. What show prints, check accepts.
cp "$TMP/show.yaml" "$TMP/again.yaml"
if "$BIN" --no-color -c "$TMP/again.yaml" config check >"$TMP/out" 2>"$TMP/err"; then
	ok "config check accepts what config show printed"
else
	not_ok "config check accepts what config show printed"; cat "$TMP/err"
fi

h_summary
