#!/usr/bin/env bash
# Builds one libFuzzer target of tests/fuzz/ with clang (ASan + UBSan, straight from the sources
# it needs, not through CMake) and runs it for a bounded time on a seed corpus.
# Usage: tests/fuzz/fuzz.sh TARGET [SECONDS] [WORKDIR] [extra libFuzzer args...]
#   TARGET  bundle | tar | oci_manifest | imageref
#   SECONDS default 60 (ctest: a 10 s smoke in the normal suite, 60 s under the "fuzz" label)
#   WORKDIR default build-fuzz/TARGET: the binary, corpus/ (kept between runs, so each run
#           starts where the last stopped) and artifacts/ (crash inputs, with a reproducer line)
# Exit status non-zero when a crash, leak or timeout was found; the input is in artifacts/.
# The binary is rebuilt only when a source is newer (ccache is used when installed).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:?usage: $0 TARGET [SECONDS] [WORKDIR] [libFuzzer args...]}
secs=${2:-60}
work=${3:-$here/build-fuzz/$target}
shift $(( $# < 3 ? $# : 3 ))
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a number" >&2; exit 2;; esac

core=(src/core/imageref.c src/core/digest.c src/core/err.c src/core/buf.c)
max_len=4096
case "$target" in
bundle)
	srcs=(src/oci/bundle.c src/oci/bundle_export.c src/oci/oci_manifest.c src/oci/oci_ref.c
	      src/core/tar.c src/core/fs.c src/core/log.c src/core/progress.c
	      src/core/platform_posix.c "${core[@]}")
	max_len=65536;;
tar) srcs=(src/core/tar.c);;
oci_manifest) srcs=(src/oci/oci_manifest.c "${core[@]}") max_len=65536;;
imageref) srcs=(src/oci/oci_ref.c "${core[@]}") max_len=1100;;
*) echo "fuzz.sh: unknown target '$target' (bundle, tar, oci_manifest, imageref)" >&2; exit 2;;
esac

mkdir -p "$work/corpus" "$work/artifacts"
bin=$work/fuzz_$target
lock=$work/.build.lock
(
	flock 9
	need=0
	[[ -x $bin ]] || need=1
	for f in "tests/fuzz/fuzz_$target.c" "${srcs[@]}" include/k3sforge/*.h; do
		[[ $need == 1 || $here/$f -nt $bin ]] && need=1
	done
	if [[ $need == 1 ]]; then
		cc=(clang)
		command -v ccache >/dev/null && cc=(ccache clang)
		read -r -a libs <<<"$(pkg-config --cflags --libs jansson libcrypto)"
		(cd "$here" && "${cc[@]}" -std=c11 -g -O1 -D_GNU_SOURCE -Iinclude \
			-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
			-fno-omit-frame-pointer "tests/fuzz/fuzz_$target.c" "${srcs[@]}" \
			"${libs[@]}" -lpthread -o "$bin")
	fi
) 9>"$lock"

# Seeds (regenerated each run, named seed-*; the fuzzer's own finds stay beside them).
python3 "$here/tests/fuzz/seeds.py" "$target" "$work/corpus"

dict=()
[[ -f $here/tests/fuzz/$target.dict ]] && dict=(-dict="$here/tests/fuzz/$target.dict")
cd "$work"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
	"${dict[@]}" -artifact_prefix=artifacts/ -print_final_stats=1 "$@" corpus
