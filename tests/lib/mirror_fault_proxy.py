#!/usr/bin/env python3
"""A small HTTP proxy for the mirror tests and bench: forwards every request to one upstream
registry on loopback and injects faults into blob GETs.

  mirror_fault_proxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--port-file F]
      [--corrupt DIGEST]      flip one byte in the middle of every GET of that blob
      [--fail-503 N]          answer the first N blob GETs with 503 + Retry-After: 1
      [--drop DIGEST]         close the connection halfway through the first GET of that blob
      [--delay-ms MS]         add MS before forwarding each request and before each answer
      [--rate-conn BPS]       cap each connection's body rate (bytes/s)
      [--rate-total BPS]      cap all connections together (bytes/s)
      [--bearer TOKEN]        demand `Authorization: Bearer TOKEN`, serving a token realm at /token
      [--token-user U:P]      the token realm demands these basic credentials
      [--basic U:P]           demand basic credentials on every request
      [--max-put BYTES]       answer blob-upload PUTs with a larger body with 413
      [--huge-manifest]       answer manifest GETs with a 5 MiB document
      [--log FILE]            one line per request: METHOD PATH STATUS
Only loopback addresses are accepted for --listen and --upstream.
"""
import argparse
import http.client
import http.server
import socketserver
import sys
import threading
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade"}


class Bucket:
    """Token bucket shared by threads."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n):
        if not self.rate:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate * 0.25, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= n or self.tokens >= self.rate * 0.2:
                    self.tokens -= n
                    return
                need = (n - self.tokens) / self.rate
            time.sleep(min(need, 0.05))


def loopback(hostport):
    host = hostport.rsplit(":", 1)[0]
    return host.startswith("127.") or host in ("localhost", "[::1]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--corrupt")
    ap.add_argument("--fail-503", type=int, default=0)
    ap.add_argument("--drop")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--rate-conn", type=float, default=0)
    ap.add_argument("--rate-total", type=float, default=0)
    ap.add_argument("--bearer")
    ap.add_argument("--token-user")
    ap.add_argument("--basic")
    ap.add_argument("--huge-manifest", action="store_true")
    ap.add_argument("--max-put", type=int, default=0)
    ap.add_argument("--log")
    a = ap.parse_args()
    if not loopback(a.listen) or not loopback(a.upstream):
        sys.exit("mirror_fault_proxy: loopback addresses only")
    uhost, uport = a.upstream.rsplit(":", 1)
    lhost, lport = a.listen.rsplit(":", 1)
    state = {"fail": a.fail_503, "dropped": False}
    lock = threading.Lock()
    total = Bucket(a.rate_total)
    logf = open(a.log, "a", buffering=1) if a.log else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def deny(self, challenge):
            self.send_response(401)
            self.send_header("WWW-Authenticate", challenge)
            self.send_header("Content-Type", "application/json")
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            if logf:
                logf.write("%s %s 401 challenge\n" % (self.command, self.path))

        def auth_ok(self):
            import base64
            got = self.headers.get("Authorization", "")
            if self.path.startswith("/token"):
                if a.token_user and got != "Basic " + base64.b64encode(
                        a.token_user.encode()).decode():
                    self.deny('Basic realm="token"')
                    return False
                body = ('{"token":"%s","expires_in":300}' % a.bearer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if logf:
                    logf.write("token %s\n" % self.path)
                return False
            if a.bearer and got != "Bearer " + a.bearer:
                parts = self.path.split("/")
                scope = ""
                if len(parts) > 3 and parts[1] == "v2":
                    for i, p in enumerate(parts):
                        if p in ("blobs", "manifests", "tags") and i > 2:
                            scope = ',scope="repository:%s:pull"' % "/".join(parts[2:i])
                            break
                self.deny('Bearer realm="http://%s/token",service="kf-test"%s'
                          % (self.headers.get("Host"), scope))
                return False
            if a.basic and got != "Basic " + base64.b64encode(a.basic.encode()).decode():
                self.deny('Basic realm="kf-test"')
                return False
            return True

        def relay(self):
            if (a.bearer or a.basic) and not self.auth_ok():
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                return
            if (a.max_put and self.command == "PUT" and "/blobs/uploads/" in self.path
                    and int(self.headers.get("Content-Length") or 0) > a.max_put):
                left = int(self.headers.get("Content-Length"))
                while left > 0:
                    got = self.rfile.read(min(65536, left))
                    if not got:
                        break
                    left -= len(got)
                body = b'{"errors":[{"code":"SIZE_INVALID","message":"request body too large"}]}'
                self.send_response(413)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if logf:
                    logf.write("%s %s 413 injected\n" % (self.command, self.path))
                return
            if a.huge_manifest and self.command == "GET" and "/manifests/" in self.path:
                body = b"{" + b" " * (5 << 20) + b"}"
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if a.delay_ms:
                time.sleep(a.delay_ms / 1000.0)
            is_blob_get = self.command == "GET" and "/blobs/sha256:" in self.path
            digest = self.path.rsplit("/", 1)[-1].split("?")[0] if is_blob_get else ""
            if is_blob_get:
                with lock:
                    fail = state["fail"] > 0
                    if fail:
                        state["fail"] -= 1
                if fail:
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    if logf:
                        logf.write("%s %s 503 injected\n" % (self.command, self.path))
                    return
            length = int(self.headers.get("Content-Length") or 0)
            body = None
            conn = http.client.HTTPConnection(uhost, int(uport), timeout=120)
            # keep repeated headers (skopeo sends one Accept line per media type)
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP]
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                body = b"".join(chunks)
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
            elif length:
                body = self.rfile.read(length)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            if a.delay_ms:
                time.sleep(a.delay_ms / 1000.0)
            self.send_response(resp.status)
            clen = None
            for k, v in resp.getheaders():
                if k.lower() in HOP:
                    continue
                if k.lower() == "content-length":
                    clen = int(v)
                self.send_header(k, v)
            if clen is None and self.command != "HEAD" and resp.status not in (204, 304):
                data = resp.read()
                clen = len(data)
                self.send_header("Content-Length", str(clen))
                self.end_headers()
                self.wfile.write(data)
                conn.close()
                return
            self.end_headers()
            if logf:
                logf.write("%s %s %d\n" % (self.command, self.path, resp.status))
            if self.command == "HEAD" or not clen:
                resp.read()
                conn.close()
                return
            drop_here = False
            if is_blob_get and a.drop == digest and resp.status in (200, 206):
                with lock:
                    if not state["dropped"]:
                        state["dropped"] = True
                        drop_here = True
            conn_bucket = Bucket(a.rate_conn)
            sent = 0
            mid = clen // 2
            while sent < clen:
                chunk = resp.read(min(65536, clen - sent))
                if not chunk:
                    break
                if is_blob_get and a.corrupt == digest and sent <= mid < sent + len(chunk):
                    b = bytearray(chunk)
                    b[mid - sent] ^= 0xFF
                    chunk = bytes(b)
                if drop_here and sent + len(chunk) > mid:
                    self.wfile.write(chunk[: mid - sent])
                    self.wfile.flush()
                    self.close_connection = True
                    conn.close()
                    if logf:
                        logf.write("dropped %s at %d\n" % (self.path, mid))
                    self.connection.shutdown(2)
                    return
                conn_bucket.take(len(chunk))
                total.take(len(chunk))
                self.wfile.write(chunk)
                sent += len(chunk)
            conn.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = relay

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256   # a real server's backlog, not socketserver's 5

        def handle_error(self, request, client_address):
            # a client that goes away mid-answer (killed mirror, resumed download) is expected
            if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                return
            super().handle_error(request, client_address)

    srv = Server((lhost, int(lport)), Handler)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
