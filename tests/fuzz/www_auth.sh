#!/usr/bin/env bash
# Fuzzes the WWW-Authenticate challenge parser (src/oci/oci_challenge.c) with clang's
# libFuzzer + ASan/UBSan for a while (default 60 s), seeded with real-world challenges.
# Usage: tests/fuzz/www_auth.sh [seconds]
# Under ctest: fuzz-smoke/www_auth (10 s, normal suite) and fuzz/www_auth (60 s, label "fuzz",
# registered only with cmake -DKF_FUZZ=ON, so a plain `ctest` or CI run does not spend the minute).
# Exit 77 (skip) without clang; non-zero when a crash was found.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
command -v clang >/dev/null || { echo "skipped: no clang"; exit 77; }
out=$(mktemp -d /tmp/kffuzz-auth.XXXXXX)
trap 'rm -rf "$out"' EXIT
clang -g -O1 -std=c11 -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$here/include" \
	"$here/tests/fuzz/fuzz_www_auth.c" "$here/src/oci/oci_challenge.c" \
	-o "$out/fuzz_www_auth"
mkdir -p "$out/corpus"
i=0
while IFS= read -r seed; do
	printf '%s' "$seed" >"$out/corpus/seed-$i"
	i=$((i + 1))
done <<'SEEDS'
Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"
Basic realm="Registry Realm"
Bearer realm="https://quay.io/v2/auth",service="quay.io"
Bearer realm="https://r.example/t?a=1",service=reg,scope="repository:a/b:pull,push"
Bearer realm="a\"b", service="c\\d"
Negotiate
Bearer realm="https://x", Basic realm="y"
SEEDS
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$out/fuzz_www_auth" -max_total_time="$secs" -max_len=16384 -timeout=5 -print_final_stats=1 \
	"$out/corpus"
