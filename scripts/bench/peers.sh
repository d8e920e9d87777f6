#!/usr/bin/env bash
# losslab beside candle-nn and burn, and losslab's candle and burn adapters
# beside the Rust kernel (criterion, crates/losslab-bench), then markdown tables
# of the median elements/s and the ratios (the adapters' 80%-of-the-kernel
# verdict included).
#   scripts/bench/peers.sh                      # issue 15's shapes (8192x32000,65536x1000,1048576x10; MSE 10^8), 2 threads
#   RAYON_NUM_THREADS=8 LOSSLAB_PEERS_SHAPES=1024x32000,65536x1000 LOSSLAB_PEERS_MSE=10000000 scripts/bench/peers.sh
#   scripts/bench/peers.sh ce_65536            # criterion filter: one group only
# Every library runs on rayon's pool, so RAYON_NUM_THREADS sets all three.
# The table lists every ce_*/mse_* group under target/criterion, earlier runs'
# included: remove target/criterion/{ce,mse}_* first for this run's alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
cargo bench -p losslab-bench --bench peers -- "$@"
echo
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'), threads: $RAYON_NUM_THREADS, $(rustc --version)"
cargo run --release -q -p losslab-bench
