#!/usr/bin/env bash
# DeepFilterNet3 per-hop cost, ours vs libDF, in one run on the same machine (1 thread, 48 kHz mono).
#   ./pipeline/bench/dfn3_vs_libdf.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# Median µs per hop of each (libDF's first hops after df_create are slow; medians compare steady state).
ours=$(cargo run -q --release -p sluice-pipeline --example denoise_cost | grep -o 'median [0-9.]*' | head -1 | grep -o '[0-9.]*$')
peer=$(python3 pipeline/bench/libdf_peer.py | python3 -c 'import json,sys; print(json.load(sys.stdin)["best_median_us"])')
echo "sluice denoiser: ${ours} µs/hop   libDF: ${peer} µs/hop   ratio sluice/libDF: $(python3 -c "print(round(${ours}/${peer}, 3))")"
