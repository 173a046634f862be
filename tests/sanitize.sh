#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer (CMake preset "asan").
set -euo pipefail
cd "$(dirname "$0")/.."
source cmake/install-deps.sh
install_deps test
cmake --preset asan
cmake --build --preset asan
ctest --preset asan
