#!/usr/bin/env bash
# Builds the config loader fuzz target with clang + libFuzzer + ASan + UBSan (straight from the
# sources, not through CMake) and runs it for a bounded time with a seed corpus made of the
# example and test configurations.
# Usage: tests/fuzz/run.sh [SECONDS] [extra libFuzzer args...]   (default 60 s)
# Work dir: build-fuzz/ (corpus, crash artifacts). Exit status non-zero when a crash was found.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
shift || true
case "$SECONDS_TO_RUN" in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [libFuzzer args...]" >&2; exit 2;; esac

OUT=build-fuzz
mkdir -p "$OUT/corpus" "$OUT/artifacts"
CC=${CC:-clang}
# The loader and what it stands on; libyaml is the only library it needs.
SRCS=(src/core/config_yaml.c src/core/config_load.c src/core/config_values.c
      src/core/config_sections.c src/core/config_checks.c src/core/config_show.c
      src/core/config_default.c src/core/imageref.c src/core/digest.c src/core/opt.c
      src/core/fs.c src/core/err.c src/core/buf.c src/core/strv.c)
# shellcheck disable=SC2046
"$CC" -std=c11 -g -O1 -D_GNU_SOURCE -Iinclude -Isrc/core \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer \
	tests/fuzz/fuzz_config.c "${SRCS[@]}" \
	$(pkg-config --cflags --libs yaml-0.1 libcrypto) -o "$OUT/fuzz_config"

# Seeds: every configuration the project has (copied so the fuzzer's finds stay in build-fuzz).
for f in examples/*.yaml tests/data/config/*.yaml; do
	[ -f "$f" ] && cp "$f" "$OUT/corpus/seed-$(basename "$f")"
done

# Relative paths in inputs (images.list) resolve against the work dir; give them a list file.
cp examples/images.txt "$OUT/images.txt"
cd "$OUT"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec ./fuzz_config -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 \
	-max_len=65536 -dict=../tests/fuzz/config.dict -artifact_prefix=artifacts/ \
	-print_final_stats=1 "$@" corpus
