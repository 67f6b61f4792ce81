#!/usr/bin/env python3
"""Pushes tiny synthetic images into a plain-HTTP registry on loopback (tests only).

Usage: e2e_push_images.py 127.0.0.1:PORT REPO:TAG...
Each image is an OCI manifest with a JSON config and one real gzip'd tar layer holding a file
that names the image, so every image (and every layer digest) differs. Only loopback registries
are accepted: the tests never send traffic anywhere else.
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.parse
import urllib.request


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.headers


def push_blob(base, repo, data):
    d = digest(data)
    _, h = request("POST", "%s/v2/%s/blobs/uploads/" % (base, repo))
    loc = urllib.parse.urljoin(base, h["Location"])
    sep = "&" if "?" in loc else "?"
    request("PUT", "%s%sdigest=%s" % (loc, sep, d), data,
            {"Content-Type": "application/octet-stream"})
    return d


def layer_for(ref):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        body = ("synthetic image %s\n" % ref).encode()
        info = tarfile.TarInfo("etc/k3sforge-test-image")
        info.size = len(body)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def push(registry, ref):
    repo, tag = ref.rsplit(":", 1)
    base = "http://" + registry
    layer = layer_for(ref)
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers",
                                 "diff_ids": [digest(gzip.decompress(layer))]},
                      "config": {"Cmd": ["/bin/true"]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(base, repo, cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(base, repo, layer), "size": len(layer)}],
    }).encode()
    request("PUT", "%s/v2/%s/manifests/%s" % (base, repo, tag), manifest,
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    host = argv[0].rsplit(":", 1)[0]
    if not host.startswith("127.") and host != "localhost":
        sys.exit("e2e_push_images: %s is not a loopback registry" % argv[0])
    for ref in argv[1:]:
        push(argv[0], ref)


if __name__ == "__main__":
    main(sys.argv[1:])
