#!/usr/bin/env python3
"""A hostile OCI registry / file server for tests (Python 3 stdlib only, loopback only).

The last component of the repository name (/v2/<ns>/<mode>/...) picks how the server misbehaves;
files outside /v2/ use the first path segment the same way (/<mode>/file). Every mode serves one small image
(manifest "latest" -> config blob + one layer) where it does not lie.

  ok              behaves
  absent          404 for every manifest and blob (a mirror target that has nothing yet)
  wrong-digest    blobs: bytes that do not hash to the digest asked for
  short-length    blobs / files: half the bytes, a Content-Length of all of them, then close
  long-length     blobs / files: more bytes than Content-Length announces
  endless         manifests / files: a body that never ends (fast)
  endless-error   blobs: 503 with an error body that never ends
  drip            manifests / blobs / files: DRIP_BYTES every second, forever (a Range request
                  gets a 206 that drips the same way)
  redirect-loop   blobs / files: 302 to itself
  downgrade       blobs / files: 307 to http://127.1:<plain port>/plain/... (plain http on a
                  loopback address not written as such; the plain listener serves the bytes)
  huge-auth       every /v2/ request but /v2/: 401 with a 60 KB WWW-Authenticate
  auth-norealm    401 Bearer without realm
  auth-unknown    401 "Bearerish realm=..." (an unknown scheme with a known prefix)
  auth-httprealm  401 Bearer realm="http://127.1:<port>/token" (plain http, not loopback as
                  written)
  auth-dupe       401 Bearer with realm given twice (https first, http second)

GET /token answers a token. --port-file gets "<port> <plain port>". TLS when --cert/--key.
"""
import argparse
import hashlib
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRIP_BYTES = 5

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
LAYER = bytes((i * 7 + 3) & 0xFF for i in range(64 * 1024))


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


BLOBS = {sha(CONFIG): CONFIG, sha(LAYER): LAYER}
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": sha(CONFIG), "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha(LAYER), "size": len(LAYER)}],
}).encode()
MT = "application/vnd.oci.image.manifest.v1+json"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def scheme(self):
        return "https" if self.server.tls else "http"

    def send_plain(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drip(self, ctype):
        total = 10 * 1024 * 1024
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].rstrip("-").isdigit():
            start = int(rng[6:].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, total - 1, total))
            total -= start
        else:
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            while True:
                self.wfile.write(b"x" * DRIP_BYTES)
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            return

    def endless(self, ctype, status=200):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"[" * 65536
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            return

    def lying_length(self, data, short):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) if short else len(data) // 2))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(data[:len(data) // 2] if short else data)
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def challenge(self, mode):
        port = self.server.server_address[1]
        realm = "%s://127.0.0.1:%d/token" % (self.scheme(), port)
        if mode == "huge-auth":
            return 'Bearer realm="%s",service="x",scope="%s"' % (realm, "a" * 60000)
        if mode == "auth-norealm":
            return 'Bearer service="hostile",scope="repository:x:pull"'
        if mode == "auth-unknown":
            return 'Bearerish realm="%s",service="hostile"' % realm
        if mode == "auth-httprealm":
            return 'Bearer realm="http://127.1:%d/token",service="hostile"' % port
        if mode == "auth-dupe":
            return 'Bearer realm="%s",realm="http://127.1:%d/token"' % (realm, port)
        return None

    def serve(self):
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            return self.send_plain(200, b"{}")
        if path == "/token":
            return self.send_plain(200, json.dumps({"token": "hostile-token"}).encode())
        parts = path.strip("/").split("/")
        if parts[0] == "plain":      # the target of a downgrade (plain listener)
            data = BLOBS.get(parts[-1], LAYER)
            return self.send_plain(200, data, "application/octet-stream")
        if parts[0] == "v2":
            parts = parts[1:]
            if len(parts) < 3:
                return self.send_plain(404)
            mode = parts[-3]
        else:
            mode = parts[0]
        ch = self.challenge(mode)
        if ch and not self.headers.get("Authorization"):
            return self.send_plain(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                   headers=[("WWW-Authenticate", ch)])
        kind = parts[-2] if len(parts) >= 3 else "file"
        ref = parts[-1]
        if mode == "absent":
            return self.send_plain(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        if kind == "manifests":
            if mode == "drip":
                return self.drip(MT)
            if mode == "endless":
                return self.endless(MT)
            return self.send_plain(200, MANIFEST, MT, [("Docker-Content-Digest", sha(MANIFEST))])
        data = BLOBS.get(ref, LAYER) if kind == "blobs" else LAYER
        if mode == "wrong-digest":
            data = bytes(len(data))
        if mode == "short-length":
            return self.lying_length(data, True)
        if mode == "long-length":
            return self.lying_length(data, False)
        if mode == "drip":
            return self.drip("application/octet-stream")
        if mode == "endless":
            return self.endless("application/octet-stream")
        if mode == "endless-error":
            return self.endless("text/plain", 503)
        if mode == "redirect-loop":
            return self.send_plain(302, b"", headers=[("Location", self.path)])
        if mode == "downgrade":
            loc = "http://127.1:%d/plain/%s" % (self.server.plain_port, ref)
            return self.send_plain(307, b"", headers=[("Location", loc)])
        return self.send_plain(200, data, "application/octet-stream")

    def do_GET(self):
        try:
            self.serve()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    do_HEAD = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()

    plain = ThreadingHTTPServer(("127.0.0.1", 0), H)
    plain.tls = False
    plain.plain_port = plain.server_address[1]
    plain.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.tls = bool(a.cert)
    srv.plain_port = plain.server_address[1]
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d %d\n" % (srv.server_address[1], plain.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
