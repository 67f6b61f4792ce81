#!/usr/bin/env python3
"""Checks on rendered k3sforge recipes, for the recipe tests.

  recipe_check.py autoinstall FILE SCHEMA   FILE is #cloud-config with an autoinstall: section
                                            valid against SCHEMA and within Ubuntu 22.04's keys
  recipe_check.py scripts FILE OUTDIR       writes every embedded shell script of the
                                            user-data (write_files with #!) to OUTDIR, and the
                                            autoinstall late-commands as OUTDIR/late-commands.sh;
                                            prints the file names
  recipe_check.py file FILE PATH OUT        writes the write_files entry PATH to OUT
  recipe_check.py netplan FILE              network-config: v2, static, default route 0.0.0.0/0
  recipe_check.py helmchart MANIFEST CHART REGISTRY PASSWORD
                                            the master's ks-core HelmChart: chartContent is
                                            CHART, values point at REGISTRY, telemetry off
  recipe_check.py nested AI UD NC           the installer's autoinstall user-data AI carries
                                            exactly UD as user-data: and NC's network as network:
  recipe_check.py installed-user AI         prints, as JSON, the user entry cloud-init applies on
                                            the installed system: subiquity's cloud-config built
                                            from AI's identity/ssh, merged with AI's user-data as
                                            subiquity merges it, normalized by cloud-init itself
                                            (needs the system python's cloudinit)
"""
import json
import os
import sys

import jsonschema
import yaml

# subiquity 22.04.2 (tech-notes 3.5): the top-level keys and identity keys a 22.04 ISO accepts
KEYS_2204 = {"apt", "debconf-selections", "drivers", "early-commands", "error-commands",
             "identity", "kernel", "keyboard", "late-commands", "locale", "network", "packages",
             "proxy", "refresh-installer", "reporting", "shutdown", "snaps", "ssh", "storage",
             "timezone", "ubuntu-advantage", "updates", "user-data", "version"}
IDENTITY_2204 = {"realname", "username", "hostname", "password"}


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("#cloud-config\n"):
        sys.exit(f"{path}: does not start with #cloud-config")
    return yaml.safe_load(text)


def user_data_of(doc):
    return doc["autoinstall"]["user-data"] if "autoinstall" in doc else doc


def cmd_autoinstall(path, schema_path):
    doc = load(path)
    ai = doc.get("autoinstall")
    if not isinstance(ai, dict):
        sys.exit(f"{path}: no autoinstall mapping")
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.validate(ai, schema)
    extra = set(ai) - KEYS_2204
    if extra:
        sys.exit(f"{path}: keys newer than 22.04's autoinstall: {sorted(extra)}")
    extra = set(ai.get("identity", {})) - IDENTITY_2204
    if extra:
        sys.exit(f"{path}: identity keys 22.04 rejects: {sorted(extra)}")
    if ai.get("version") != 1:
        sys.exit(f"{path}: version is not 1")
    print(f"{path}: autoinstall valid ({len(ai)} sections)")


def cmd_scripts(path, outdir):
    doc = load(path)
    os.makedirs(outdir, exist_ok=True)
    names = []
    for wf in user_data_of(doc).get("write_files", []):
        content = wf.get("content", "")
        if content.startswith("#!"):
            name = os.path.basename(wf["path"])
            with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
                f.write(content)
            names.append(name)
    if "autoinstall" in doc:
        lines = ["#!/bin/sh"]
        for c in doc["autoinstall"].get("late-commands", []):
            if not isinstance(c, str):
                sys.exit(f"{path}: late-command is not a string: {c!r}")
            lines.append(c)
        with open(os.path.join(outdir, "late-commands.sh"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        names.append("late-commands.sh")
    print("\n".join(names))


def cmd_file(path, want, out):
    for wf in user_data_of(load(path)).get("write_files", []):
        if wf["path"] == want:
            with open(out, "w", encoding="utf-8") as f:
                f.write(wf["content"])
            return
    sys.exit(f"{path}: no write_files entry {want}")


def cmd_netplan(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    net = doc["network"]
    assert net["version"] == 2, "not netplan v2"
    for name, eth in net["ethernets"].items():
        assert "match" in eth, f"{name}: no match"
        assert eth.get("dhcp4") is False, f"{name}: dhcp4 is not false"
        assert eth["addresses"], f"{name}: no address"
        for route in eth.get("routes", []):
            assert route["to"] != "default", f"{name}: `to: default` (cloud-init 22.4 rejects it)"
        assert any(r["to"] == "0.0.0.0/0" for r in eth["routes"]), f"{name}: no default route"
    print(f"{path}: netplan v2 static")


def cmd_nested(ai_path, ud_path, nc_path):
    ai = load(ai_path)["autoinstall"]
    if ai["user-data"] != load(ud_path):
        sys.exit(f"{ai_path}: autoinstall.user-data differs from {ud_path}")
    with open(nc_path, encoding="utf-8") as f:
        net = yaml.safe_load(f)["network"]
    if ai["network"] != net:
        sys.exit(f"{ai_path}: autoinstall.network differs from {nc_path}")
    print(f"{ai_path}: carries {ud_path} and {nc_path}")


def cmd_helmchart(manifest, chart, registry, password):
    import base64
    with open(manifest, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    # ks-core v4.1.3 turns telemetry off only through this Secret, found by a Helm lookup
    # before the chart renders it (config/ks-core/templates/_helpers.tpl:106-117): it must be
    # there, in the release's namespace, adoptable by the ks-core release, saying enabled: false.
    by_kind = {d["kind"]: d for d in docs}
    assert by_kind["Namespace"]["metadata"]["name"] == "kubesphere-system", docs
    sec = by_kind["Secret"]
    assert sec["metadata"]["name"] == "io.kubesphere.config.platformconfig.telemetry", sec
    assert sec["metadata"]["namespace"] == "kubesphere-system", sec
    assert sec["metadata"]["annotations"]["meta.helm.sh/release-name"] == "ks-core", sec
    assert sec["metadata"]["annotations"]["meta.helm.sh/release-namespace"] == "kubesphere-system"
    assert sec["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", sec
    assert yaml.safe_load(sec["stringData"]["configuration.yaml"])["enabled"] is False, sec
    doc = docs[-1]
    assert doc["apiVersion"] == "helm.cattle.io/v1" and doc["kind"] == "HelmChart", doc
    spec = doc["spec"]
    with open(chart, "rb") as f:
        assert base64.b64decode(spec["chartContent"], validate=True) == f.read(), "chart differs"
    values = yaml.safe_load(spec["valuesContent"])
    assert values["global"]["imageRegistry"] == registry, values
    assert values["extension"]["imageRegistry"] == registry, values
    # no value of that name is read by any ks-core v4.1.3 template
    assert "telemetry" not in values, values
    assert values["authentication"]["adminPassword"] == password, "admin password differs"
    assert spec["targetNamespace"] == "kubesphere-system", spec
    print(f"{manifest}: HelmChart ks-core valid")


def merge_like_subiquity(target, source):
    """subiquity 24.04.1 subiquity/models/subiquity.py:71-89 merge_cloud_init_config: mappings
    recursively, lists appended, anything else replaced."""
    for k, v in source.items():
        if isinstance(v, dict) and isinstance(target.get(k), dict):
            merge_like_subiquity(target[k], v)
        elif isinstance(v, list) and isinstance(target.get(k), list):
            target[k].extend(v)
        else:
            target[k] = v


def cmd_installed_user(ai_path):
    # subiquity 24.04.1 subiquity/models/subiquity.py:351-393 _cloud_init_config: the identity
    # becomes the first users entry (lock_passwd False, its password hash, the ssh keys), then
    # the autoinstall user-data is merged in. cloud-init (distros/ug_util.py) folds entries of
    # the same name with mergemanydict([earlier, later]): the earlier entry's keys win.
    from cloudinit.distros import ug_util
    ai = load(ai_path)["autoinstall"]
    ident, ssh = ai["identity"], ai.get("ssh", {})
    entry = {"name": ident["username"], "gecos": ident["realname"], "passwd": ident["password"],
             "shell": "/bin/bash", "groups": "adm,cdrom,dip,lxd,plugdev,sudo", "lock_passwd": False}
    if ssh.get("authorized-keys"):
        entry["ssh_authorized_keys"] = list(ssh["authorized-keys"])
    config = {"users": [entry]}
    merge_like_subiquity(config, ai.get("user-data", {}))

    class NoDefaultUser:
        def get_default_user(self):
            return None

    users, _ = ug_util.normalize_users_groups(config, NoDefaultUser())
    print(json.dumps(users[ident["username"]], sort_keys=True))


def main():
    cmds = {"autoinstall": cmd_autoinstall, "scripts": cmd_scripts, "file": cmd_file,
            "netplan": cmd_netplan, "nested": cmd_nested,
            "helmchart": cmd_helmchart, "installed-user": cmd_installed_user}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
