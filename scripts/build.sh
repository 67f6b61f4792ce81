#!/usr/bin/env bash
# Configures and builds k3sforge into build/ (release) — the binary is build/k3sforge.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
