#!/usr/bin/env bash
# Installs what the tests need (Debian 12, as root or with sudo), builds them and runs them.
# Usage: bash tests/run.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
source cmake/install-deps.sh
install_deps test
cmake -S . -B build/tests -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build/tests
ctest --test-dir build/tests --output-on-failure -j "$(nproc)"
