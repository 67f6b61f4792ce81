#!/usr/bin/env python3
"""The include graph of src/ points only downward (issue #16):

    cmd (src/cmd, src/main.c)
      -> lab, ops
        -> cluster
          -> ssh, hv (src/hv, src/vmware, src/qemu), registry, regserver, oci, artifacts,
             render, iso, pki
            -> core

Every `#include "k3sforge/<name>.h"` in a file under src/ is an arrow from the file's module to
the header's module, and the header's module is where its functions are defined (the module of
the src/ file holding most of the definitions of the functions it declares; a header declaring
none, only types and macros, belongs to the module whose .c file shares its name, else to the
module of its one includer in src/ whose name it shares, else to HEADER_MODULES below). An arrow
within one module is fine; one to a lower layer is fine; one to the same layer (sideways) or a
higher one (upward) is an offence.

Usage: check_layers.py [--allow FILE] [--root DIR]
Prints every offending include as file:line with the arrow, and the header map with -v. With
--allow, arrows listed in FILE ("from -> to  # issue, why" per line) are known and reported, not
failed; the run fails on any arrow not listed, and on a listed arrow that no longer occurs (take
it off the list). Exit 0 = clean (or only listed arrows), 1 = offences, 2 = usage/setup error.
"""
import argparse
import os
import re
import sys
from collections import Counter, defaultdict

LAYERS = [
    ("core", 0),
    ("ssh", 1), ("hv", 1), ("registry", 1), ("regserver", 1), ("oci", 1), ("artifacts", 1),
    ("render", 1), ("iso", 1), ("pki", 1),
    ("cluster", 2),
    ("lab", 3), ("ops", 3),
    ("cmd", 4),
]
RANK = dict(LAYERS)
# folders that are one layer-module together
FOLDER_MODULE = {"vmware": "hv", "qemu": "hv", "hv": "hv"}
# headers that declare no function of their own (types, macros only) and match no .c name
HEADER_MODULES = {}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"k3sforge/([A-Za-z0-9_]+\.h)"')
DECL_RE = re.compile(r'\b(kf_[A-Za-z0-9_]+)\s*\(')
# a definition: at column 0, not a declaration (no ';' at the end of its signature line(s)),
# not a call; "type name(" possibly with "static" excluded
DEF_START_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_ \t\*]*?\b(kf_[A-Za-z0-9_]+)\s*\(')


def module_of(rel):
    """src/<folder>/x.c -> module; src/main.c -> cmd."""
    parts = rel.split("/")
    if len(parts) == 2:
        return "cmd"
    folder = parts[1]
    return FOLDER_MODULE.get(folder, folder)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def definitions(src_files, root):
    """function name -> module that defines it"""
    defs = {}
    for rel in src_files:
        if not rel.endswith(".c"):
            continue
        text = strip_comments(open(os.path.join(root, rel), encoding="utf-8").read())
        lines = text.split("\n")
        for i, line in enumerate(lines):
            m = DEF_START_RE.match(line)
            if not m or line.startswith(("static ", "return ", "if ", "else")):
                continue
            # the signature runs to the first '{' or ';'
            sig = "\n".join(lines[i:i + 8])
            brace, semi = sig.find("{"), sig.find(";")
            if brace < 0 or (0 <= semi < brace):
                continue
            defs.setdefault(m.group(1), module_of(rel))
    return defs


def header_map(root, src_files, defs, includers):
    hdr_dir = os.path.join(root, "include", "k3sforge")
    c_by_name = defaultdict(set)
    for rel in src_files:
        if rel.endswith(".c"):
            c_by_name[os.path.basename(rel)[:-2]].add(module_of(rel))
    out, why = {}, {}
    for h in sorted(os.listdir(hdr_dir)):
        if not h.endswith(".h"):
            continue
        text = strip_comments(open(os.path.join(hdr_dir, h), encoding="utf-8").read())
        declared = set()
        for stmt in text.split(";"):
            # a prototype: kf_name( ... ) at statement level, not inside a struct of fn pointers
            m = re.search(r'\b(kf_[A-Za-z0-9_]+)\s*\([^()]*(\([^()]*\)[^()]*)*\)\s*'
                          r'(__attribute__\s*\(\(.*\)\)\s*)?$', stmt.strip(), re.S)
            if m and "(*" not in stmt:
                declared.add(m.group(1))
        where = Counter(defs[f] for f in declared if f in defs)
        name = h[:-2]
        if where:
            mod, _ = where.most_common(1)[0]
            out[h], why[h] = mod, "defines %s" % ", ".join(
                "%s: %d" % (k, v) for k, v in where.most_common())
        elif len(c_by_name.get(name, ())) == 1:
            out[h], why[h] = next(iter(c_by_name[name])), "%s.c" % name
        elif h in HEADER_MODULES:
            out[h], why[h] = HEADER_MODULES[h], "HEADER_MODULES"
        else:
            mods = {module_of(f) for f in includers.get(h, ())}
            out[h] = min(mods, key=lambda m: RANK.get(m, 0)) if mods else "core"
            why[h] = "types only; lowest includer"
    return out, why


def load_allow(path):
    allowed = {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        m = re.fullmatch(r"([a-z]+)\s*->\s*([a-z]+)", body)
        if not m or "#" not in line:
            sys.exit("%s:%d: want 'from -> to  # issue, why', got %r" % (path, n, line.rstrip()))
        allowed[(m.group(1), m.group(2))] = line.split("#", 1)[1].strip()
    return allowed


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(here)))
    ap.add_argument("--allow", help="known arrows, one 'from -> to  # issue, why' a line")
    ap.add_argument("-v", action="store_true", help="also print each header's module")
    ap.add_argument("--self-test", action="store_true", help="check the checker on a made-up tree")
    a = ap.parse_args()
    if a.self_test:
        return self_test()

    src_files = []
    for d, _, files in os.walk(os.path.join(a.root, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                src_files.append(os.path.relpath(os.path.join(d, f), a.root))
    src_files.sort()
    if not src_files:
        sys.exit("no sources under %s/src" % a.root)
    unknown = {module_of(f) for f in src_files} - set(RANK)
    if unknown:
        print("modules with no layer (add them to LAYERS in %s): %s"
              % (os.path.relpath(__file__, a.root), ", ".join(sorted(unknown))))
        return 1

    includes, includers = [], defaultdict(set)
    for rel in src_files:
        for n, line in enumerate(open(os.path.join(a.root, rel), encoding="utf-8"), 1):
            m = INCLUDE_RE.match(line)
            if m:
                includes.append((rel, n, m.group(1)))
                includers[m.group(1)].add(rel)
    defs = definitions(src_files, a.root)
    hmod, why = header_map(a.root, src_files, defs, includers)
    if a.v:
        for h in sorted(hmod):
            print("%-22s %-10s (%s)" % (h, hmod[h], why[h]))

    allowed = load_allow(a.allow) if a.allow else {}
    seen, bad = set(), 0
    for rel, n, h in includes:
        frm = module_of(rel)
        to = hmod.get(h)
        if to is None:
            print("%s:%d: k3sforge/%s: no such header in include/k3sforge" % (rel, n, h))
            bad += 1
            continue
        if frm == to or RANK[to] < RANK[frm]:
            continue
        kind = "upward" if RANK[to] > RANK[frm] else "sideways"
        arrow = (frm, to)
        if arrow in allowed:
            seen.add(arrow)
            print("%s:%d: %s -> %s (%s, k3sforge/%s) known: %s"
                  % (rel, n, frm, to, kind, h, allowed[arrow]))
        else:
            print("%s:%d: %s -> %s (%s, k3sforge/%s)" % (rel, n, frm, to, kind, h))
            bad += 1
    for arrow in sorted(set(allowed) - seen):
        print("%s: %s -> %s is allowed but no longer occurs: take it off the list"
              % (a.allow, arrow[0], arrow[1]))
        bad += 1
    if bad:
        print("%d offending include(s): the include graph must point down "
              "(cmd -> lab/ops -> cluster -> ssh/hv/registry/regserver/oci/artifacts/render/"
              "iso/pki -> core)" % bad)
        return 1
    if seen:
        print("include graph: no arrow sideways or up but the %d listed in %s"
              % (len(seen), a.allow))
    else:
        print("include graph: every arrow points down")
    return 0


def self_test():
    """The checker on a made-up tree: a core file including a cmd header is an upward arrow
    (named with file:line), a sideways one too, a listed arrow passes, a stale listing fails."""
    import subprocess
    import tempfile

    def tree(d, files):
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)

    def run(d, *args):
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--root", d] + list(args),
                           capture_output=True, text=True)
        return p.returncode, p.stdout

    with tempfile.TemporaryDirectory() as d:
        tree(d, {
            "include/k3sforge/up.h": "int kf_up_run(int x);\n",
            "include/k3sforge/low.h": "int kf_low(void);\n",
            "include/k3sforge/iso.h": "int kf_iso_make(void);\n",
            "include/k3sforge/pki.h": "int kf_pki_make(void);\n",
            "src/cmd/cmd_up.c": '#include "k3sforge/up.h"\n#include "k3sforge/low.h"\n'
                                "int kf_up_run(int x)\n{\n\treturn x;\n}\n",
            "src/core/low.c": '#include "k3sforge/low.h"\n\n#include "k3sforge/up.h"\n'
                              "int kf_low(void) { return kf_up_run(1); }\n",
            "src/iso/iso.c": '#include "k3sforge/pki.h"\nint kf_iso_make(void) { return 0; }\n',
            "src/pki/pki.c": "int kf_pki_make(void)\n{\n\treturn 0;\n}\n",
        })
        rc, out = run(d)
        assert rc == 1, out
        assert "src/core/low.c:3: core -> cmd (upward, k3sforge/up.h)" in out, out
        assert "src/iso/iso.c:1: iso -> pki (sideways, k3sforge/pki.h)" in out, out
        assert "cmd_up.c" not in out, out
        allow = os.path.join(d, "allow.txt")
        tree(d, {"allow.txt": "core -> cmd  # #0 test\niso -> pki  # #0 test\n"})
        rc, out = run(d, "--allow", allow)
        assert rc == 0, out
        tree(d, {"allow.txt": "core -> cmd  # #0 test\niso -> pki  # #0 test\n"
                              "ssh -> pki  # #0 gone\n"})
        rc, out = run(d, "--allow", allow)
        assert rc == 1 and "ssh -> pki is allowed but no longer occurs" in out, out
    print("check_layers self-test: upward, sideways, listed and stale arrows judged as meant")
    return 0


if __name__ == "__main__":
    sys.exit(main())
