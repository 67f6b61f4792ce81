#!/usr/bin/env bash
# Fuzzes the template engine with clang's libFuzzer + ASan/UBSan for a while (default 60 s),
# seeded with the shipped templates. Usage: tests/fuzz/template.sh [seconds]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
out=$(mktemp -d /tmp/kffuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
read -r -a libs <<<"$(pkg-config --cflags --libs jansson libcrypto)"
clang -g -O1 -std=c11 -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -I"$here/include" \
	"$here/tests/fuzz/fuzz_template.c" "$here/src/core/template.c" "$here/src/core/buf.c" \
	"$here/src/core/err.c" "$here/src/core/fs.c" \
	"${libs[@]}" -o "$out/fuzz_template"
mkdir -p "$out/corpus"
find "$here/templates" -type f -exec cp {} "$out/corpus/" \;
"$out/fuzz_template" -max_total_time="$secs" -max_len=4096 "$out/corpus"
