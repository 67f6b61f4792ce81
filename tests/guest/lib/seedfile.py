#!/usr/bin/env python3
"""seedfile.py USER_DATA PATH: prints the content cloud-init's write_files gives PATH in that
rendered user-data (what the guest must hold), exit 1 when PATH is not written."""
import sys
import yaml

with open(sys.argv[1]) as f:
    ud = yaml.safe_load(f)
for wf in ud.get("write_files", []):
    if wf["path"] == sys.argv[2]:
        sys.stdout.write(wf["content"])
        sys.exit(0)
sys.exit(1)
