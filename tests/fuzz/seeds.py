#!/usr/bin/env python3
"""Seed inputs for the libFuzzer targets of tests/fuzz (fuzz.sh TARGET writes them into the
corpus as seed-*): valid documents of each kind, so the fuzzer starts past the first checks."""
import hashlib
import io
import json
import os
import sys
import tarfile

MT_M = "application/vnd.oci.image.manifest.v1+json"
MT_I = "application/vnd.oci.image.index.v1+json"
MT_DM = "application/vnd.docker.distribution.manifest.v2+json"
MT_DL = "application/vnd.docker.distribution.manifest.list.v2+json"


def d(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def manifest(cfg, layers, mt=MT_M):
    return json.dumps({"schemaVersion": 2, "mediaType": mt,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": d(cfg), "size": len(cfg)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": d(l), "size": len(l)} for l in layers]}).encode()


def index(children, mt=MT_I):
    return json.dumps({"schemaVersion": 2, "mediaType": mt,
                       "manifests": [{"mediaType": cmt, "digest": d(c), "size": len(c),
                                      "platform": {"os": "linux", "architecture": "amd64"}}
                                     for c, cmt in children]}).encode()


def bundle_tar(images, blobs):
    """A k3sforge bundle as kf_bundle_export writes it."""
    out = io.BytesIO()
    idx = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    listing = json.dumps({"k3sforgeBundle": 1, "indexSha256": hashlib.sha256(idx).hexdigest(),
                          "images": images,
                          "blobs": [{"digest": d(b), "size": len(b)} for b in blobs],
                          "files": []}).encode()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for b in blobs:
            add("blobs/sha256/" + hashlib.sha256(b).hexdigest(), b)
        add("index.json", idx)
        add("k3sforge-bundle.json", listing)
    return out.getvalue()


def seeds(target):
    cfg = b'{"architecture":"amd64","os":"linux"}'
    layer = b"layer bytes"
    m = manifest(cfg, [layer])
    dm = manifest(cfg, [layer], MT_DM)
    ix = index([(m, MT_M), (dm, MT_DM)])
    if target == "oci_manifest":
        return {"manifest": b"\x00" + m, "docker": b"\x00" + dm, "index": b"\x00" + ix,
                "list": b"\x00" + index([(dm, MT_DM)], MT_DL),
                "nomt": b"\x01" + json.dumps({"schemaVersion": 2, "config": json.loads(m)["config"],
                                              "layers": []}).encode(),
                "foreign": b"\x00" + m.replace(b'"size": 11}', b'"size": 11, "urls": ["http://x"]}')}
    if target == "imageref":
        return {n: r.encode() for n, r in {
            "short": "busybox", "tag": "rancher/mirrored-pause:3.6",
            "reg": "registry.k8s.io/pause:3.9@" + d(b"x"), "port": "127.0.0.1:5000/a/b/c:v1",
            "v6": "[::1]:5000/x:1", "idx": "index.docker.io/library/alpine",
            "sep": "a__b/c-d---e/f.g_h:_T.a-g", "local": "localhost/img"}.items()}
    if target == "tar":
        h = tarfile.TarInfo("blobs/sha256/" + "0" * 64)
        h.size = 12345
        return {"header": h.tobuf(tarfile.USTAR_FORMAT)[:512],
                "gnu": tarfile.TarInfo("x").tobuf(tarfile.GNU_FORMAT)[:512]}
    if target == "bundle":
        m2 = manifest(b"{}", [b"l2"])
        raw = bundle_tar([{"ref": "lab/x:1", "source": "s", "digest": d(m), "mediaType": MT_M}],
                         [cfg, layer, m])
        nested = bundle_tar([{"ref": "lab/i:2", "source": "s", "digest": d(index([(ix, MT_I)])),
                              "mediaType": MT_I}],
                            [cfg, layer, m, dm, ix, index([(ix, MT_I)])])
        return {"raw": b"\x00" + raw, "nested": b"\x00" + nested,
                "missing": b"\x00" + bundle_tar([{"ref": "lab/y:1", "source": "s",
                                                  "digest": d(m2), "mediaType": MT_M}], [m2]),
                # structured: REF, then blobs with @n@ / #n# placeholders
                "s-image": b"\x01lab/x:1\n--\n" + (
                    '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"c",'
                    '"digest":"@2@","size":#2#},"layers":[{"mediaType":"l","digest":"@3@",'
                    '"size":#3#}]}\n--\n{}\n--\nlayer' % MT_M).encode(),
                "s-index": b"\x01lab/i:2\n--\n" + (
                    '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s",'
                    '"digest":"@2@","size":#2#}]}\n--\n{"schemaVersion":2,"mediaType":"%s",'
                    '"config":{"mediaType":"c","digest":"@3@","size":#3#},"layers":[]}\n--\n{}'
                    % (MT_I, MT_M, MT_M)).encode()}
    raise SystemExit("seeds.py: unknown target " + target)


def main():
    target, corpus = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    for name, data in seeds(target).items():
        with open(os.path.join(corpus, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
