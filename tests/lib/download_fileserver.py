#!/usr/bin/env python3
"""Loopback HTTP/HTTPS file server for the download tests.

Serves files under --root with HTTP Range support (206 / 416), writes one JSON line per request
to --access-log, and applies faults read (per request) from the JSON control file --faults:

    {"/v1/k3s": {"cut_after": 1000, "times": 1},       close the connection after N body bytes
     "/v1/x":   {"status": 503, "times": 1, "retry_after": 1},   answer an error status
     "/v1/y":   {"ignore_range": true},                 always answer 200 with the whole file
     "/v1/z":   {"stall_after": 100}}                   send N bytes, then go silent

"times" bounds how often a fault fires (absent = always). Paths /redir/<n>/<rest> redirect
(302) n times before serving /<rest>. Requests in absolute form (GET http://host/path, as sent
to a forward proxy) are served from the same root and logged with "proxied": true, so the
server doubles as an HTTP proxy; CONNECT tunnels (HTTPS through the proxy) go to loopback only. Binds 127.0.0.1 on a free port and writes it to --port-file.
"""
import argparse
import json
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
FIRED = {}


def load_faults(path):
    if not path:
        return {}, None
    try:
        st = os.stat(path)
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f), st.st_mtime_ns
    except (OSError, ValueError):
        return {}, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kf-test-fileserver/1"

    def log_message(self, fmt, *args):  # quiet stderr; the access log is the record
        pass

    def record(self, status, sent, proxied):
        entry = {
            "method": self.command,
            "path": self.req_path,
            "range": self.headers.get("Range"),
            "status": status,
            "bytes": sent,
            "proxied": proxied,
        }
        with LOCK:
            with open(self.server.access_log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def fault_for(self, path):
        faults, gen = load_faults(self.server.faults_file)
        spec = faults.get(path)
        if not spec:
            return None
        times = spec.get("times")
        key = (path, gen, json.dumps(spec, sort_keys=True))
        with LOCK:
            n = FIRED.get(key, 0)
            if times is not None and n >= times:
                return None
            FIRED[key] = n + 1
        return spec

    def send_simple(self, status, body=b"", headers=None, proxied=False):
        # Logged before answering, so a client that got the answer always finds the entry.
        self.record(status, len(body), proxied)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self):
        """HTTPS through a proxy: a tunnel, only ever to loopback."""
        self.req_path = self.path
        host, _, port = self.path.rpartition(":")
        if host not in ("127.0.0.1", "localhost") or not port.isdigit():
            self.send_simple(403, b"loopback only\n", None, True)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        except OSError:
            self.send_simple(502, b"cannot connect\n", None, True)
            return
        self.record(200, 0, True)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        conns = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(conns, [], [], 30)
                if not ready:
                    break
                for c in ready:
                    data = c.recv(65536)
                    if not data:
                        return
                    (upstream if c is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        proxied = False
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            proxied = True
            raw = urllib.parse.urlsplit(raw).path or "/"
        path = urllib.parse.unquote(raw.split("?", 1)[0])
        self.req_path = path

        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "redir" and parts[2].isdigit():
            n = int(parts[2])
            rest = "/".join(parts[3:])
            target = "/redir/%d/%s" % (n - 1, rest) if n > 1 else "/" + rest
            self.send_simple(302, b"moved\n", {"Location": urllib.parse.quote(target)},
                             proxied)
            return

        spec = self.fault_for(path)
        if spec and "status" in spec:
            hdrs = {}
            if "retry_after" in spec:
                hdrs["Retry-After"] = str(spec["retry_after"])
            self.send_simple(int(spec["status"]), b"fault\n", hdrs, proxied)
            return

        full = os.path.realpath(os.path.join(self.server.root, path.lstrip("/")))
        if not full.startswith(self.server.root + os.sep) or not os.path.isfile(full):
            self.send_simple(404, b"not found\n", None, proxied)
            return
        size = os.path.getsize(full)
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng and not (spec and spec.get("ignore_range")) and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            try:
                start = int(a)
                end = int(b) if b else size - 1
            except ValueError:
                start, end = 0, size - 1
            if start >= size:
                self.send_simple(416, b"", {"Content-Range": "bytes */%d" % size}, proxied)
                return
            end = min(end, size - 1)
            status = 206
        length = end - start + 1 if size else 0
        cut = spec.get("cut_after") if spec else None
        stall = spec.get("stall_after") if spec else None
        limit = cut if cut is not None else stall
        self.record(status, length if limit is None else min(length, limit), proxied)
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        sent = 0
        if self.command == "HEAD":
            return
        try:
            with open(full, "rb") as f:
                f.seek(start)
                left = length
                while left > 0:
                    chunk = f.read(min(65536, left))
                    if not chunk:
                        break
                    if limit is not None and sent + len(chunk) > limit:
                        chunk = chunk[: max(0, limit - sent)]
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        sent += len(chunk)
                        if cut is not None:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        time.sleep(float(spec.get("stall_seconds", 120)))
                        self.close_connection = True
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--access-log", required=True)
    ap.add_argument("--faults")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.root = os.path.realpath(args.root)
    httpd.access_log = args.access_log
    httpd.faults_file = args.faults
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
