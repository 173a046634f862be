#!/usr/bin/env bash
# Compile seconds and peak memory of the probes (g++ -O2, one at a time).
set -euo pipefail
cd "$(dirname "$0")/../.."
for f in expr50 mlp_step; do
    /usr/bin/time -f "$f: %e s, %M KB peak" g++ -std=c++20 -O2 -I include "bench/compile/$f.cpp" -o "/tmp/kiln_probe_$f" -pthread
done
