#!/usr/bin/env python3
"""A stand-in Kubernetes API endpoint for tests: HTTPS on a loopback address, client
certificates REQUIRED and verified against a CA, GET /version answers like kube-apiserver."""
import argparse, http.server, json, ssl

ap = argparse.ArgumentParser()
ap.add_argument("--ip", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--client-ca", required=True)
ap.add_argument("--version", default="v1.33.4+k3s1")
a = ap.parse_args()

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?", 1)[0] != "/version":  # kubectl adds ?timeout=32s
            self.send_response(404); self.end_headers(); return
        body = json.dumps({"major": "1", "minor": "33", "gitVersion": a.version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
ctx.load_verify_locations(a.client_ca)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer((a.ip, a.port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
