#!/usr/bin/env bash
# Configures and builds k3sforge into build/ (optimised, no tests) — the binary is build/k3sforge.
# The test suite builds its own sanitized copy (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKF_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
