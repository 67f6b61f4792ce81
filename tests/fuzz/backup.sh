#!/usr/bin/env bash
# Fuzzes the backup reader and restore (tests/fuzz/fuzz_backup.c) with clang's libFuzzer +
# ASan/UBSan for a while (default 60 s), seeded with small backups made by Python's tarfile (a
# plain one, one with directories and GNU tar's record padding, one re-packed in GNU format).
# Usage: tests/fuzz/backup.sh [SECONDS] [extra libFuzzer args...]
# Exit status non-zero when a crash, leak or broken invariant was found (the input is kept in
# the work dir printed at the end).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
case "$secs" in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [libFuzzer args...]" >&2; exit 2;; esac
out=$(mktemp -d "${TMPDIR:-/tmp}/kffuzz-backup.XXXXXX")
keep=0
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$out"; else echo "fuzz work dir kept: $out" >&2; fi; }
trap cleanup EXIT
read -r -a libs <<<"$(pkg-config --cflags --libs jansson libcrypto)"
clang -g -O1 -std=c11 -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -I"$here/include" -I"$here/src/ops" \
	"$here/tests/fuzz/fuzz_backup.c" \
	"$here"/src/ops/backup_read.c "$here"/src/ops/backup_restore.c \
	"$here"/src/ops/backup_write.c "$here"/src/core/tar.c "$here"/src/core/digest.c \
	"$here"/src/core/fs.c "$here"/src/core/err.c "$here"/src/core/buf.c \
	"$here"/src/core/log.c "$here"/src/core/platform_posix.c \
	"${libs[@]}" -o "$out/fuzz_backup"
mkdir -p "$out/corpus" "$out/artifacts" "$out/tmp"
python3 - "$out/corpus" <<'PY'
import hashlib, io, json, sys, tarfile
corpus = sys.argv[1]
def backup(members, dirs=(), fmt=tarfile.USTAR_FORMAT, pad=True):
    man = {"format": "k3sforge-backup", "version": 1, "cluster": "lab",
           "created": "2026-12-06T00:00:00Z",
           "members": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                        "mode": 0o600} for n, d in members]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        def add(name, data, kind=tarfile.REGTYPE, mode=0o600):
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.type = kind; ti.mode = mode
            t.addfile(ti, io.BytesIO(data) if data else None)
        add("k3sforge-backup.json", json.dumps(man).encode(), mode=0o644)
        for d in dirs:
            add(d, b"", tarfile.DIRTYPE, 0o777)
        for n, d in members:
            add(n, d, mode=0o644)
    data = buf.getvalue()
    if not pad:  # our own writer: two zero blocks, nothing after
        end = len(data.rstrip(b"\0"))
        end = (end + 511) // 512 * 512 + 1024
        data = data[:end]
    return data
files = [("config/lab.yaml", b"cluster: {name: lab}\n"), ("out/pki/ca.crt", b"-----BEGIN CERTIFICATE-----\n"),
         ("out/pki/ca.key", b"-----BEGIN PRIVATE KEY-----\n"), ("out/secrets/k3s-token", b"K10abc\n"),
         ("out/ssh/host/k3s-master1_ed25519.pub", b"ssh-ed25519 AAAA\n"), ("out/state.json", b"{}\n")]
seeds = {"plain": backup(files, pad=False), "dirs-padded": backup(files, dirs=("out/", "out/ssh/", "out/ssh/host/")),
         "gnu": backup(files[:3], fmt=tarfile.GNU_FORMAT), "one": backup([("images/bundle.tar", b"x" * 700)], pad=False)}
for name, data in seeds.items():
    open(f"{corpus}/seed-{name}", "wb").write(data)
PY
cat >"$out/backup.dict" <<'DICT'
"ustar\x00"
"ustar  \x00"
"k3sforge-backup.json"
"k3sforge-backup"
"out/"
"config/"
"images/"
"out/pki/ca.key"
"out/secrets/k3s-token"
"\"members\""
"\"sha256\""
"\"size\""
"\"name\""
"\"version\": 1"
"K3SFBAK1"
"../"
DICT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$out"
if ! TMPDIR="$out/tmp" ./fuzz_backup -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -dict=backup.dict -artifact_prefix=artifacts/ -print_final_stats=1 "$@" corpus; then
	keep=1
	exit 1
fi
