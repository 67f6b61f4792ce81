#!/usr/bin/env bash
# A source registry whose manifest names a config "digest" made of "../" (sha256: and 64 bytes,
# but not hex): mirror must refuse the manifest before that text reaches a blob URL, where curl
# would resolve the dots into another endpoint. The registry here is a few lines of Python on
# 127.0.0.1 that logs every request path.
set -uo pipefail
BIN=${K3SFORGE_BIN:?K3SFORGE_BIN must point at the k3sforge binary}
T=$(mktemp -d /tmp/kf_test_hostile.XXXXXX)
SERVER_PID=
cleanup() {
	if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
	rm -rf "$T"
}
trap cleanup EXIT

python3 - "$T/port" "$T/requests" <<'PY' &
import http.server, json, sys
port_file, log = sys.argv[1], sys.argv[2]
evil = "sha256:" + "../" * 21 + "a"
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": evil, "size": 2},
                  "layers": []}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def answer(self, body):
        with open(log, "a") as f:
            f.write(self.command + " " + self.path + "\n")
        if self.path == "/v2/":
            code, data, ct = 200, b"{}", "application/json"
        elif self.path == "/v2/evil/img/manifests/1":
            code, data, ct = 200, man, "application/vnd.oci.image.manifest.v1+json"
        else:
            code, data, ct = 404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
    def do_GET(self):
        self.answer(True)
    def do_HEAD(self):
        self.answer(False)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_port))
import os; os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
SERVER_PID=$!
for _ in $(seq 100); do [[ -f $T/port ]] && break; sleep 0.1; done
PORT=$(cat "$T/port") || { echo "not ok - server did not start"; exit 1; }

"$BIN" -o "$T/out" mirror --from "http://127.0.0.1:$PORT" --to "http://127.0.0.1:$PORT" \
	evil/img:1 >"$T/stdout" 2>"$T/stderr"
RC=$?
fail=0
if [[ $RC == 0 ]]; then echo "not ok - mirror succeeded"; fail=1; fi
if ! grep -q "config: 'sha256:\.\./" "$T/stderr" || ! grep -q "is not a digest" "$T/stderr"; then
	echo "not ok - the config digest was not named as malformed:"; cat "$T/stderr"; fail=1
fi
if grep -v -E '^(GET|HEAD) /v2/(|evil/img/manifests/(1|sha256:[0-9a-f]{64}))$' "$T/requests"; then
	echo "not ok - requests beyond /v2/ and the manifest (above)"; fail=1
fi
[[ $fail == 0 ]] && echo "ok - a manifest with a dotted config digest is refused before any blob request"
exit $fail
