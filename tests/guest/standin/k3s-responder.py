# the stand-in's API responder (TLS, client certificates from the server CA or the token)
import argparse, json, os, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--cert"); ap.add_argument("--key"); ap.add_argument("--ca")
ap.add_argument("--token"); ap.add_argument("--self"); ap.add_argument("--self-ip")
ap.add_argument("--nodes"); ap.add_argument("--print-nodes")
a = ap.parse_args()

def node_list(path):
    try:
        with open(path) as f:
            nodes = json.load(f)
    except (OSError, ValueError):
        nodes = {}
    items = []
    for name, n in sorted(nodes.items()):
        labels = {"kubernetes.io/hostname": name}
        if n.get("master"):
            labels["node-role.kubernetes.io/control-plane"] = "true"
            labels["node-role.kubernetes.io/master"] = "true"
        items.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": name, "labels": labels},
                      "status": {"addresses": [{"type": "InternalIP", "address": n["ip"]}],
                                 "conditions": [{"type": "Ready", "status": "True",
                                                 "reason": "KubeletReady"}]}})
    return {"apiVersion": "v1", "kind": "List", "items": items}

if a.print_nodes:
    print(json.dumps(node_list(a.print_nodes), indent=2))
    sys.exit(0)

lock = threading.Lock()
def save(name, ip, master=False):
    with lock:
        try:
            with open(a.nodes) as f:
                nodes = json.load(f)
        except (OSError, ValueError):
            nodes = {}
        nodes[name] = {"ip": ip, "master": master}
        with open(a.nodes + ".tmp", "w") as f:
            json.dump(nodes, f)
        os.replace(a.nodes + ".tmp", a.nodes)
save(a.self, a.self_ip, True)

class H(BaseHTTPRequestHandler):
    def authed(self):
        if self.connection.getpeercert():
            return True
        return self.headers.get("Authorization", "") == "Bearer " + a.token
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if not self.authed():
            return self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
        if self.path == "/version":
            return self.reply(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.4+k3s-standin",
                                    "platform": "linux/amd64"})
        if self.path.startswith("/api/v1/nodes"):
            return self.reply(200, node_list(a.nodes))
        self.reply(404, {"kind": "Status", "code": 404})
    def do_POST(self):
        if self.path != "/k3s-standin/register" or not self.authed():
            return self.reply(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
        n = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        save(str(n["name"]), str(n["ip"]))
        self.reply(200, {"registered": n["name"]})
    def log_message(self, fmt, *args):
        sys.stderr.write("k3s-responder: " + (fmt % args) + "\n")

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)
ctx.load_verify_locations(a.ca)
ctx.verify_mode = ssl.CERT_OPTIONAL
srv = ThreadingHTTPServer(("0.0.0.0", 6443), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("k3s stand-in: API responder on :6443", flush=True)
srv.serve_forever()
