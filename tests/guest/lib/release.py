#!/usr/bin/env python3
"""Guest tier: the fake k3s release the guest tests hand to `k3sforge prep --artifacts-from`.

release.py SOURCE_DIR OUT_DIR writes into OUT_DIR:
  k3s                              the stand-in (tests/guest/standin/k3s, responder embedded)
  install.sh                       the stand-in installer (tests/guest/standin/install.sh)
  k3s-images.txt                   the image names the stand-in's airgap tarball carries
  k3s-airgap-images-amd64.tar.zst  a real zstd'd OCI-layout tar of one tiny image (one layer,
                                   one file), tagged with every name of k3s-images.txt
  sha256sum-amd64.txt              the release's digests, like the real file
  oci/                             the same image as an OCI layout directory (for skopeo)
"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

IMAGES = [
    "docker.io/rancher/klipper-helm:v0.9.8-build20250709",
    "docker.io/rancher/mirrored-coredns-coredns:1.12.3",
    "docker.io/rancher/mirrored-library-traefik:3.3.6",
    "docker.io/rancher/mirrored-pause:3.6",
]


def blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}


def make_layout(d):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        payload = b"k3sforge guest-tier test image\n"
        ti = tarfile.TarInfo("k3sforge-test.txt")
        ti.size, ti.mode, ti.mtime = len(payload), 0o644, 0
        t.addfile(ti, io.BytesIO(payload))
    layer_tar = raw.getvalue()
    layer_gz = gzip.compress(layer_tar, mtime=0)
    layer = blob(d, layer_gz)
    config = blob(d, json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/k3sforge-test.txt"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
    }, sort_keys=True).encode())
    manifest = blob(d, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }, sort_keys=True).encode())
    m = dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
             platform={"architecture": "amd64", "os": "linux"})
    index = {"schemaVersion": 2, "manifests": []}
    for name in IMAGES:
        index["manifests"].append(dict(m, annotations={
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}))
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    standin = os.path.join(src, "tests", "guest", "standin")
    with open(os.path.join(standin, "k3s")) as f:
        k3s = f.read()
    with open(os.path.join(standin, "k3s-responder.py")) as f:
        k3s = k3s.replace("@RESPONDER@\n", f.read())
    with open(os.path.join(out, "k3s"), "w") as f:
        f.write(k3s)
    os.chmod(os.path.join(out, "k3s"), 0o755)
    with open(os.path.join(standin, "install.sh")) as f, open(os.path.join(out, "install.sh"), "w") as g:
        g.write(f.read())
    with open(os.path.join(out, "k3s-images.txt"), "w") as f:
        f.write("\n".join(IMAGES) + "\n")
    layout = os.path.join(out, "oci")
    make_layout(layout)
    tar_path = os.path.join(out, "airgap.tar")
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as t:
        for name in ("oci-layout", "index.json", "blobs"):
            t.add(os.path.join(layout, name), arcname=name)
    subprocess.run(["zstd", "-q", "-f", "--rm", tar_path, "-o",
                    os.path.join(out, "k3s-airgap-images-amd64.tar.zst")], check=True)
    with open(os.path.join(out, "sha256sum-amd64.txt"), "w") as f:
        for n in ("k3s", "k3s-airgap-images-amd64.tar.zst", "k3s-images.txt"):
            f.write("%s  %s\n" % (sha(os.path.join(out, n)), n))


main()
