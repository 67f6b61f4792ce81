#!/usr/bin/env bash
# The whole test suite: builds with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ and runs every test (unit, integration, guest) with ctest.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
#
# scripts/test.sh --tsan [ctest args...]: the ThreadSanitizer pass instead. Builds into
# build-tsan/ (KF_TSAN: -fsanitize=thread -g -O1, gcc like the ASan build) and runs the unit
# label plus the thread-heavy integration tests (or the tests the ctest args select). Every
# report of every process (tests and the k3sforge binaries they run) is written under
# build-tsan/tsan-reports/; any report fails the pass and is printed at the end, even where a
# test expected its k3sforge run to fail. tests/tsan.supp lists the only suppressions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Threads in k3sforge: one per node (wait, status, doctor, snapshot, create-vms), the mirror's
# workers (mirror, prep e2e, up e2e), libisoburn's message watcher (iso, up e2e).
TSAN_TESTS='^(unit/.*|integration/test_(wait|status|doctor|mirror|mirror_progress|hostile|snapshot|create_vms_stage|prep_e2e|up_e2e|iso|iso_watcher))$'

if [[ "${1:-}" == --tsan ]]; then
	shift
	root=$PWD
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DKF_TSAN=ON >/dev/null
	cmake --build build-tsan -j"$(nproc)"
	reports=$root/build-tsan/tsan-reports
	rm -rf "$reports"
	mkdir -p "$reports"
	# exitcode=66 (TSan's default, stated): a process with a report exits 66. log_path: the
	# reports also reach us from k3sforge runs whose failure a shell test expects.
	export TSAN_OPTIONS="exitcode=66:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp:log_path=$reports/tsan"
	cd build-tsan
	if [[ $# -eq 0 ]]; then
		set -- -R "$TSAN_TESTS"
	fi
	status=0
	ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@" || status=$?
	shopt -s nullglob
	found=("$reports"/tsan.*)
	if (( ${#found[@]} )); then
		cat "${found[@]}" >&2
		echo "ThreadSanitizer: $(cat "${found[@]}" | grep -c '^WARNING: ThreadSanitizer') report(s)" \
			"in ${#found[@]} process(es), kept in $reports" >&2
		exit 1
	fi
	exit "$status"
fi

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKF_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-asan
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
