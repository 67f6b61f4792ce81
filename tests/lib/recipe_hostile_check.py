#!/usr/bin/env python3
"""Checks the recipes test_recipe_hostile rendered with hostile values (issue #15 item 1).

  recipe_hostile_check.py CASES

CASES/index.json names the keys and the values (hex); CASES/<key>/<value>/ and
CASES/<key>/benign/ each hold 0/ (the master) and 1/ (k3s-worker1) with autoinstall-user-data,
user-data, meta-data and network-config, registries.yaml beside them, or `error` when the render
refused. Every YAML file and every YAML document inside one (write_files content of
k3s config.yaml, registries.yaml, the ks-core HelmChart and its valuesContent) is parsed with
yaml.safe_load, the loader cloud-init and subiquity use (YAML 1.1: U+0085, U+2028, U+2029 and CR
are line breaks to it). For each case:
  1. every file parses;
  2. its shape (mapping keys, list lengths, at every depth; top-level keys first) equals the
     benign render's;
  3. the value comes back byte-identical at every place LOC says a template puts it (YAML
     scalars; shell words, evaluated by bash);
  4. nothing else differs from the benign render (a value may not leak anywhere else);
  5. an embedded script that changed still passes bash -n.
A render may refuse only a value that is not valid UTF-8 (YAML has no form for it), or one
longer than a fixed bound (registry.host_ip's host:port), saying so.
"""
import hashlib
import json
import os
import subprocess
import sys

import yaml

NP = "/usr/local/sbin/k3sforge-node-prep.sh"
ST = "/usr/local/sbin/k3sforge-sync-time.sh"
BOOT_M = "/usr/local/sbin/k3s-bootstrap.sh"
BOOT_W = "/usr/local/sbin/k3s-agent-bootstrap.sh"
K3S = "/etc/rancher/k3s/config.yaml"
REG = "/etc/rancher/k3s/registries.yaml"
HC = "/etc/k3sforge/ks-core-helmchart.yaml"
YAML_CONTENT = {K3S, REG, HC}
FILES = ["autoinstall-user-data", "user-data", "meta-data", "network-config"]
Y = "<yaml>"       # step: the string is a YAML document (expanded under this key)
KEYS = "<keys>"    # step: the keys of a mapping, as a list


def wf(path, *rest):
    return ("write_files", ("path", path), "content") + rest


def sh(prefix):
    return (("SH", prefix),)


UD, AI, MD, NC, RG = "user-data", "autoinstall-user-data", "meta-data", "network-config", "reg"
ETH = ("network", "ethernets", "lab0")


def k3s(*rest):
    return wf(K3S, Y) + rest


def values(*rest):
    return wf(HC, Y, "spec", "valuesContent", Y) + rest


# key -> [(node, file, steps, format)]; format: {v} the value, {hp} registries.yaml's host:port
LOC = {
    "nodes[0].name": [(0, UD, ("hostname",), "{v}"),
                      (0, AI, ("autoinstall", "identity", "hostname"), "{v}"),
                      (0, MD, ("local-hostname",), "{v}"),
                      (0, UD, k3s("node-name"), "{v}"), (0, UD, k3s("tls-san", 1), "{v}"),
                      (0, UD, wf(NP) + sh("want_host="), "{v}")],
    "nodes[1].name": [(1, UD, ("hostname",), "{v}"),
                      (1, AI, ("autoinstall", "identity", "hostname"), "{v}"),
                      (1, MD, ("local-hostname",), "{v}"),
                      (1, UD, k3s("node-name"), "{v}"),
                      (1, UD, wf(NP) + sh("want_host="), "{v}")],
    "nodes[0].ip": [(0, UD, k3s("node-ip"), "{v}"), (0, UD, k3s("tls-san", 0), "{v}"),
                    (0, NC, ETH + ("addresses", 0), "{v}/24"),
                    (1, UD, k3s("server"), "https://{v}:6443"),
                    (1, UD, wf(BOOT_W) + sh("MASTER="), "{v}")],
    "nodes[1].ip": [(1, UD, k3s("node-ip"), "{v}"), (1, NC, ETH + ("addresses", 0), "{v}/24")],
    "nodes[1].mac": [(1, NC, ETH + ("match", "macaddress"), "{v}")],
    "guest.user": [(n, f, s, "{v}") for n in (0, 1) for f, s in (
        (UD, ("users", 0, "name")), (AI, ("autoinstall", "identity", "username")),
        (AI, ("autoinstall", "identity", "realname")))],
    "guest.timezone": [(n, f, s, "{v}") for n in (0, 1) for f, s in (
        (UD, ("timezone",)), (UD, wf(NP) + sh("want_tz=")))],
    "guest.locale": [(n, AI, ("autoinstall", "locale"), "{v}") for n in (0, 1)],
    "guest.keyboard": [(n, AI, ("autoinstall", "keyboard", "layout"), "{v}") for n in (0, 1)],
    "guest.packages[0]": [(n, AI, ("autoinstall", "packages", 2), "{v}") for n in (0, 1)],  # after the recipe's own curl, zstd
    "network.gateway": [(n, NC, ETH + ("routes", 0, "via"), "{v}") for n in (0, 1)],
    "network.dns[0]": [(n, NC, ETH + ("nameservers", "addresses", 0), "{v}") for n in (0, 1)],
    "registry.host_ip": [(0, UD, values("global", "imageRegistry"), "{hp}"),
                         (0, UD, values("extension", "imageRegistry"), "{hp}"),
                         (0, UD, wf(ST) + sh("URL="), "https://{hp}/v2/"),
                         (1, UD, wf(ST) + sh("URL="), "https://{hp}/v2/"),
                         (0, RG, ("configs", KEYS), "{hp}"),
                         (0, RG, ("mirrors", "docker.io", "endpoint", 0), "https://{hp}")],
    "registry.mirrors[0]": [(0, RG, ("mirrors", KEYS), "{v}")],
    "k3s.disable[0]": [(0, UD, k3s("disable", 0), "{v}")],
    "k3s.pause_image": [(n, UD, k3s("pause-image"), "{v}") for n in (0, 1)],
    "k3s.version": [],
    "addons.kubesphere.admin_password": [
        (0, UD, values("authentication", "adminPassword"), "{v}")],
    "addons.kubesphere.version": [],
    "cluster.name": [],
    "input.k3s-token": [(n, UD, k3s("token"), "{v}") for n in (0, 1)],
    "input.operator-key": [(n, f, s, "{v}") for n in (0, 1) for f, s in (
        (UD, ("users", 0, "ssh_authorized_keys", 0)),
        (AI, ("autoinstall", "ssh", "authorized-keys", 0)))],
    "input.chart-name": [(0, UD, wf(BOOT_M) + sh('\tbase64 -w0 "$SEED/"'), "{v}")],
}
# mapping keys made of the value (normalised before shapes are compared)
KEY_FORMS = {"registry.mirrors[0]": ["{v}"], "registry.host_ip": ["{hp}"]}
ALWAYS_DIFFERS = {(MD, ("instance-id",))}   # a hash of the recipe


class CaseError(Exception):
    pass


def fill(fmt, v):
    hp = b"[" + v + b"]:5000" if b":" in v else v + b":5000"
    return fmt.encode().replace(b"{hp}", hp).replace(b"{v}", v)


_parsed = {}


def parse(text, what):
    h = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    if h not in _parsed:
        try:
            _parsed[h] = ("ok", yaml.safe_load(text))
        except yaml.YAMLError as e:
            _parsed[h] = ("err", str(e).replace("\n", " ")[:300])
    kind, doc = _parsed[h]
    if kind == "err":
        raise CaseError(f"{what} does not parse: {doc}")
    return doc


def parse_nested(text, what):
    """A YAML document inside a file (a list of them when the text holds several); one that
    does not parse becomes a mapping the shape check reports (after the file's own top-level
    keys, which say more)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        return {"<does not parse>": f"{what} does not parse: " + str(e).replace("\n", " ")[:300]}
    return docs[0] if len(docs) == 1 else docs


def expand_user_data(doc, what):
    """The user-data with its YAML write_files parsed in place (HelmChart values too)."""
    if not isinstance(doc, dict):
        raise CaseError(f"{what} is not a mapping")
    out = dict(doc)
    wfs = []
    for e in doc.get("write_files", []) or []:
        e = dict(e) if isinstance(e, dict) else e
        if isinstance(e, dict) and e.get("path") in YAML_CONTENT:
            inner = parse_nested(e.get("content", ""), f"{what} {e['path']}")
            if e["path"] == HC and isinstance(inner, list):
                # several documents (the Namespace and telemetry Secret before the
                # HelmChart): the HelmChart, last, stays where the locators look; the
                # others are compared as they are
                e["<documents before the HelmChart>"] = inner[:-1]
                inner = inner[-1] if inner else None
            if e["path"] == HC and isinstance(inner, dict) and isinstance(inner.get("spec"), dict):
                inner = dict(inner)
                inner["spec"] = dict(inner["spec"])
                inner["spec"]["valuesContent"] = {
                    Y: parse_nested(inner["spec"].get("valuesContent", ""), f"{what} {HC} values")}
            e["content"] = {Y: inner}
        wfs.append(e)
    if "write_files" in doc:
        out["write_files"] = wfs
    return out


def load_case(d, what):
    """{(node, file): tree} of one case directory; trees expanded for walking."""
    trees = {}
    for n in (0, 1):
        raw = {}
        for f in FILES:
            p = os.path.join(d, str(n), f)
            with open(p, "rb") as fh:
                data = fh.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CaseError(f"{what} node {n} {f}: not UTF-8 ({e})")
            if f in (UD, AI) and not text.startswith("#cloud-config\n"):
                raise CaseError(f"{what} node {n} {f}: first line is not #cloud-config")
            raw[f] = parse(text, f"{what} node {n} {f}")
        ai = raw[AI]
        if not isinstance(ai, dict) or not isinstance(ai.get("autoinstall"), dict):
            raise CaseError(f"{what} node {n}: autoinstall-user-data has no autoinstall mapping")
        # checked after the shapes (same_nested), whose messages say more
        trees[("nested", n)] = (ai["autoinstall"].get("user-data"), raw[UD],
                                ai["autoinstall"].get("network"),
                                raw[NC].get("network") if isinstance(raw[NC], dict) else None)
        ai = dict(ai)
        ai["autoinstall"] = dict(ai["autoinstall"])
        ai["autoinstall"]["user-data"] = "<same as user-data>"
        ai["autoinstall"]["network"] = "<same as network-config>"
        trees[(n, AI)] = ai
        trees[(n, UD)] = expand_user_data(raw[UD], f"{what} node {n} user-data")
        trees[(n, MD)] = raw[MD]
        trees[(n, NC)] = raw[NC]
    with open(os.path.join(d, "registries.yaml"), "rb") as fh:
        reg = parse(fh.read().decode("utf-8"), f"{what} registries.yaml")
    trees[(0, RG)] = reg
    for n in (0, 1):
        emb = None
        for e in trees[(n, UD)].get("write_files", []):
            if isinstance(e, dict) and e.get("path") == REG:
                emb = e["content"][Y]
        if emb != reg:
            raise CaseError(f"{what} node {n}: user-data's registries.yaml differs from prep's")
        for e in trees[(n, UD)].get("write_files", []):
            if isinstance(e, dict) and e.get("path") == REG:
                e["content"] = "<same as registries.yaml>"   # checked there
    return trees


def same_nested(trees, what):
    """The installer's autoinstall carries exactly the node's user-data and network-config."""
    for n in (0, 1):
        ai_ud, ud, ai_nw, nw = trees[("nested", n)]
        if ai_ud != ud:
            raise CaseError(f"{what} node {n}: autoinstall.user-data differs from user-data")
        if ai_nw != nw:
            raise CaseError(f"{what} node {n}: autoinstall.network differs from network-config")


def resolve(tree, steps, what):
    """(concrete path, value) of steps in tree; a shell step gives bytes."""
    path, cur = [], tree
    for s in steps:
        if isinstance(s, tuple) and s[0] == "path":
            idx = [i for i, e in enumerate(cur) if isinstance(e, dict) and e.get("path") == s[1]]
            if len(idx) != 1:
                raise CaseError(f"{what}: {len(idx)} write_files entries {s[1]}")
            path.append(idx[0])
            cur = cur[idx[0]]
        elif isinstance(s, tuple) and s[0] == "SH":
            return tuple(path), shell_word(cur, s[1], what)
        elif s == KEYS:
            if not isinstance(cur, dict):
                raise CaseError(f"{what}: {'/'.join(map(str, path))} is not a mapping")
            return tuple(path), list(cur)
        else:
            try:
                cur = cur[s]
            except (KeyError, IndexError, TypeError):
                raise CaseError(f"{what}: no {'/'.join(map(str, path + [s]))}")
            path.append(s)
    return tuple(path), cur


_bash = {}


def shell_word(script, prefix, what):
    """The bytes bash makes of the rest of the line of script that starts with prefix."""
    lines = [ln for ln in script.split("\n") if ln.startswith(prefix)]
    if len(lines) != 1:
        raise CaseError(f"{what}: {len(lines)} script lines start with {prefix!r}")
    rest = lines[0][len(prefix):]
    if rest not in _bash:
        p = subprocess.run(["bash", "-c", "printf %s " + rest], capture_output=True,
                           env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=20, check=False)
        _bash[rest] = p.stdout if p.returncode == 0 else None
    if _bash[rest] is None:
        raise CaseError(f"{what}: bash cannot evaluate {rest[:80]!r}")
    return _bash[rest]


def norm_key(k, forms):
    return "<V>" if k in forms else k


def walk(b, n, path, bforms, nforms, diffs, what):
    if isinstance(b, dict) != isinstance(n, dict) or isinstance(b, list) != isinstance(n, list):
        raise CaseError(f"{what}: {'/'.join(map(str, path)) or 'document'} is "
                        f"{type(n).__name__}, benign {type(b).__name__}")
    if isinstance(b, dict):
        bk = {norm_key(k, bforms): k for k in b}
        nk = {norm_key(k, nforms): k for k in n}
        if set(bk) != set(nk):
            where = "top-level keys" if not path else f"keys of {'/'.join(map(str, path))}"
            raise CaseError(f"{what}: {where} {sorted(map(str, nk))} != benign "
                            f"{sorted(map(str, bk))}")
        for k in bk:
            walk(b[bk[k]], n[nk[k]], path + (k,), bforms, nforms, diffs, what)
    elif isinstance(b, list):
        if len(b) != len(n):
            raise CaseError(f"{what}: {'/'.join(map(str, path))} has {len(n)} items, benign "
                            f"{len(b)}")
        for i, (x, y) in enumerate(zip(b, n)):
            walk(x, y, path + (i,), bforms, nforms, diffs, what)
    elif b != n or type(b) is not type(n):
        diffs.add(path)


_bash_n = {}


def bash_n(text, what):
    if text not in _bash_n:
        p = subprocess.run(["bash", "-n"], input=text.encode("utf-8"), capture_output=True,
                           timeout=20, check=False)
        _bash_n[text] = p.stderr.decode(errors="replace") if p.returncode else None
    if _bash_n[text]:
        raise CaseError(f"{what}: bash -n: {_bash_n[text][:200]}")


def short(v):
    return repr(v) if len(v) <= 80 else f"{v[:60]!r}... ({len(v)} bytes)"


def check_case(key, v, d, benign, bv):
    what = f"{key} = {short(v)}"
    locs = LOC[key]
    err_path = os.path.join(d, "error")
    valid = True
    try:
        v.decode("utf-8")
    except UnicodeDecodeError:
        valid = False
    if os.path.exists(err_path):
        with open(err_path, encoding="utf-8", errors="replace") as f:
            msg = f.read()
        if valid and "too long" in msg and len(v) > 255:
            return "refused"    # a bound, said so: nothing was cut or written
        if valid:
            raise CaseError(f"{what}: render refused a valid value: {msg}")
        if "UTF-8" not in msg and "cannot emit registries.yaml" not in msg:
            raise CaseError(f"{what}: refused without saying the value is not UTF-8: {msg}")
        return "refused"
    trees = load_case(d, what)
    bforms = {f.decode() for f in map(lambda x: fill(x, bv), KEY_FORMS.get(key, []))}
    nforms = set()
    for fmt in KEY_FORMS.get(key, []):
        try:
            nforms.add(fill(fmt, v).decode("utf-8"))
        except UnicodeDecodeError:
            pass
    # 1-2: every file parsed (load_case); shapes first, their messages say the most
    changed = []
    for (node, f), tree in trees.items():
        if node == "nested":
            continue
        diffs = set()
        walk(benign[(node, f)], tree, (), bforms, nforms, diffs, f"{what}: node {node} {f}")
        changed += [(node, f, p, tree) for p in diffs]
    # 3: the value, byte for byte, wherever a template puts it
    allowed = set(ALWAYS_DIFFERS)
    for node, f, steps, fmt in locs:
        lwhat = f"{what}: node {node} {f} {'/'.join(map(str, steps))}"
        path, got = resolve(trees[(node, f)], steps, lwhat)
        want = fill(fmt, v)
        if isinstance(got, bytes):
            if got != want:
                raise CaseError(f"{lwhat}: bash gives {short(got)}, want {short(want)}")
        else:
            if not valid:
                raise CaseError(f"{lwhat}: a value that is not UTF-8 reached YAML")
            want = want.decode("utf-8")
            if steps[-1] == KEYS:
                if got != [want]:
                    raise CaseError(f"{lwhat}: keys {got!r}, want [{want!r}]")
                continue
            if not isinstance(got, str) or got != want:
                raise CaseError(f"{lwhat}: {short(got) if isinstance(got, str) else repr(got)[:200]} "
                              f"!= {short(want)}")
        allowed.add((f, tuple(norm_key(p, nforms) for p in path)))
    # 4-5: nothing else changed; a changed script still parses
    for node, f, p, tree in changed:
        if (f, p) not in allowed:
            raise CaseError(f"{what}: node {node} {f} {'/'.join(map(str, p))} changed, "
                            "and no template puts the value there")
        if f == UD and p and p[-1] == "content":
            bash_n(tree["write_files"][p[1]]["content"], f"{what}: node {node} {p}")
    same_nested(trees, what)
    return "ok"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cases = sys.argv[1]
    with open(os.path.join(cases, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    vals = [bytes.fromhex(h) for h in index["values"]]
    failures, counts = [], {"ok": 0, "refused": 0}
    for ki, key in enumerate(index["keys"]):
        name = key["name"]
        if name not in LOC:
            failures.append(f"{name}: the checker has no locations for this key")
            continue
        bdir = os.path.join(cases, str(ki), "benign")
        try:
            if os.path.exists(os.path.join(bdir, "error")):
                with open(os.path.join(bdir, "error"), encoding="utf-8") as f:
                    raise CaseError(f"benign render failed: {f.read()}")
            benign = load_case(bdir, f"{name} benign")
            bv = key["benign"].encode()
            # the locations hold the benign value too (the table itself is right)
            check_case(name, bv, bdir, benign, bv)
        except CaseError as e:
            failures.append(f"{name}: {e}")
            continue
        for vi, v in enumerate(vals):
            try:
                counts[check_case(name, v, os.path.join(cases, str(ki), str(vi)), benign, bv)] += 1
            except CaseError as e:
                failures.append(str(e))
            except Exception as e:  # a checker bug must fail loudly, not pass
                failures.append(f"{name} = {short(v)}: checker error {type(e).__name__}: {e}")
    total = len(index["keys"]) * len(vals)
    print(f"{total} cases ({len(index['keys'])} keys x {len(vals)} values): {counts['ok']} "
          f"rendered and checked, {counts['refused']} refused (not UTF-8, or too long), {len(failures)} "
          "failed")
    per_key = {}
    for f in failures:
        per_key[f.split(" ", 1)[0].rstrip(":")] = per_key.get(f.split(" ", 1)[0].rstrip(":"), 0) + 1
    for k, c in per_key.items():
        print(f"  {k}: {c} of {len(vals)} values failed")
    for f in failures[:int(os.environ.get("KF_HOSTILE_SHOW", "60"))]:
        print("FAIL", f[:600])
    if len(failures) > 60:
        print(f"... and {len(failures) - 60} more")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
