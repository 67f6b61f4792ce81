#!/usr/bin/env python3
"""Builds a synthetic image set in a loopback registry for bench/mirror.sh.

  mirror_images.py REGISTRY(host:port) SCALE_MB LIST_OUT BLOBS_OUT

26 images: 22 single-platform (Docker schema 2 and OCI, mixed), 4 multi-arch OCI indexes
(amd64 + arm64 + an attestation manifest); a few base layers shared by many images; layer sizes
from a few KB to tens of MB, scaled so the unique blobs add up to about SCALE_MB.
Writes the image list (`repo:tag` per line) and the unique blobs (`repo digest size` per line).
"""
import hashlib
import http.client
import json
import os
import random
import sys

reg, scale_mb, list_out, blobs_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
host, port = reg.split(":")
if not host.startswith("127."):
    sys.exit("loopback registries only")
conn = http.client.HTTPConnection(host, int(port), timeout=300)
rng = random.Random(42)
pushed = {}
blob_lines = []


def push_blob(repo, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    if (repo, d) in pushed:
        return d, len(data)
    conn.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"")
    r = conn.getresponse()
    r.read()
    loc = r.getheader("Location")
    sep = "&" if "?" in loc else "?"
    path = loc.split("://", 1)[-1]
    path = path[path.index("/"):]
    conn.request("PUT", path + sep + "digest=" + d, body=data,
                 headers={"Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("blob push failed: %d" % r.status)
    if not any(d == x for (_, x) in pushed):
        blob_lines.append("%s %s %d" % (repo, d, len(data)))
    pushed[(repo, d)] = True
    return d, len(data)


def push_manifest(repo, ref, obj, mt, body=None):
    if body is None:
        body = json.dumps(obj, indent=3).encode()
    conn.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=body,
                 headers={"Content-Type": mt})
    r = conn.getresponse()
    if r.status != 201:
        sys.exit("manifest push failed: %d %s %s" % (r.status, repo, r.read()[:300]))
    r.read()
    return "sha256:" + hashlib.sha256(body).hexdigest(), len(body)


def layer(size, seed):
    step = 64 << 20
    return b"".join(random.Random(seed * 1000 + i).randbytes(min(step, size - off))
                    for i, off in enumerate(range(0, size, step)))


DOCKER = ("application/vnd.docker.distribution.manifest.v2+json",
          "application/vnd.docker.container.image.v1+json",
          "application/vnd.docker.image.rootfs.diff.tar.gzip")
OCI = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json",
       "application/vnd.oci.image.layer.v1.tar+gzip")

if os.environ.get("BIG_ONLY"):
    # one image with a single layer of SCALE_MB: the memory test
    d, n = push_blob("bench/big", layer(scale_mb * 1024 * 1024, 4242))
    cd, cn = push_blob("bench/big", b'{"architecture":"amd64","os":"linux"}')
    push_manifest("bench/big", "v1", {"schemaVersion": 2, "mediaType": OCI[0],
                  "config": {"mediaType": OCI[1], "digest": cd, "size": cn},
                  "layers": [{"mediaType": OCI[2], "digest": d, "size": n}]}, OCI[0])
    open(list_out, "w").write("bench/big:v1\n")
    open(blobs_out, "w").write("\n".join(blob_lines) + "\n")
    print("one image, one layer of %d MiB" % scale_mb)
    sys.exit(0)

unit = scale_mb * 1024 * 1024 // 300   # the set below is ~300 units
bases = [layer(unit * 30, 1000 + i) for i in range(3)]   # shared base layers


def image(repo, tag, kinds, own, base_ids, arch="amd64", seed=0):
    mt, cmt, lmt = kinds
    layers = []
    for b in base_ids:
        d, n = push_blob(repo, bases[b])
        layers.append({"mediaType": lmt, "digest": d, "size": n})
    for i, size in enumerate(own):
        d, n = push_blob(repo, layer(size, seed * 100 + i))
        layers.append({"mediaType": lmt, "digest": d, "size": n})
    cfg = json.dumps({"architecture": arch, "os": "linux", "seed": seed}).encode()
    cd, cn = push_blob(repo, cfg)
    m = {"schemaVersion": 2, "mediaType": mt, "config": {"mediaType": cmt, "digest": cd,
                                                          "size": cn}, "layers": layers}
    return push_manifest(repo, tag, m, mt), mt


names = []
for i in range(22):
    repo = "bench/app%02d" % i
    kinds = DOCKER if i % 2 else OCI
    own = [rng.choice([2, 40, unit * rng.randint(3, 25), 4096])
           for _ in range(rng.randint(1, 3))]
    image(repo, "v1", kinds, own, [i % 3], seed=i + 1)
    names.append(repo + ":v1")
for j in range(4):
    repo = "bench/multi%d" % j
    ents = []
    for k, arch in enumerate(("amd64", "arm64")):
        own = [unit * 6, 1024]
        # platform manifests are pushed by digest, the index under the tag
        lmt = OCI[2]
        layers = []
        for b in [j % 3]:
            bd, bn = push_blob(repo, bases[b])
            layers.append({"mediaType": lmt, "digest": bd, "size": bn})
        for i2, size in enumerate(own):
            bd, bn = push_blob(repo, layer(size, 7000 + j * 10 + k * 3 + i2))
            layers.append({"mediaType": lmt, "digest": bd, "size": bn})
        cfg = json.dumps({"architecture": arch, "os": "linux", "s": j * 10 + k}).encode()
        cd, cn = push_blob(repo, cfg)
        m = {"schemaVersion": 2, "mediaType": OCI[0],
             "config": {"mediaType": OCI[1], "digest": cd, "size": cn}, "layers": layers}
        body = json.dumps(m).encode()
        md = "sha256:" + hashlib.sha256(body).hexdigest()
        push_manifest(repo, md, m, OCI[0], body)
        ents.append({"mediaType": OCI[0], "digest": md, "size": len(body),
                     "platform": {"architecture": arch, "os": "linux"}})
    att = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "j": j}).encode()
    ad, an = push_blob(repo, att)
    cd, cn = push_blob(repo, b"{}")
    am = {"schemaVersion": 2, "mediaType": OCI[0],
          "config": {"mediaType": OCI[1], "digest": cd, "size": cn},
          "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": ad, "size": an}]}
    body = json.dumps(am).encode()
    amd = "sha256:" + hashlib.sha256(body).hexdigest()
    push_manifest(repo, amd, am, OCI[0], body)
    ents.append({"mediaType": OCI[0], "digest": amd, "size": len(body),
                 "platform": {"architecture": "unknown", "os": "unknown"},
                 "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                 "vnd.docker.reference.digest": ents[0]["digest"]}})
    push_manifest(repo, "v1", {"schemaVersion": 2, "mediaType":
                               "application/vnd.oci.image.index.v1+json", "manifests": ents},
                  "application/vnd.oci.image.index.v1+json")
    names.append(repo + ":v1")

with open(list_out, "w") as f:
    f.write("\n".join(names) + "\n")
with open(blobs_out, "w") as f:
    f.write("\n".join(blob_lines) + "\n")
total = sum(int(x.split()[2]) for x in blob_lines)
print("images: %d, unique blobs: %d, bytes: %d (%.0f MiB)" % (len(names), len(blob_lines), total,
                                                            total / 1048576))
