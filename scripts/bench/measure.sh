#!/usr/bin/env bash
# The figures of docs/performance.md's top section, in one session: PyTorch
# beside losslab (cross entropy at three shapes, the element-wise losses on 10^8
# elements), the half-precision cross entropy beside f32, and `losslab bench`
# once more per loss. Every `losslab bench` measures the machine's limits in its
# own process right after the loss. Run it with nothing else of yours running.
#
#   PYTHON=~/refenv/bin/python scripts/bench/measure.sh [OUT_DIR]
#
# PYTHON must have torch (and numpy); without it the PyTorch parts are skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-target/measure}
PY=${PYTHON:-python3}
L=target/release/losslab
mkdir -p "$OUT"
cargo build --release -p losslab-cli >/dev/null || exit 1
{ date -u; uptime; } > "$OUT/start"
if "$PY" -c "import torch" 2>/dev/null; then
    "$PY" scripts/bench/torch_bench.py --losslab $L --shapes 8192x32000,65536x1000,1048576x10 --threads 2 \
        --json-out "$OUT/ce_torch.json" > "$OUT/ce_torch.txt" 2>&1
    "$PY" scripts/bench/torch_bench.py --losslab $L --elementwise mse_loss,l1_loss,smooth_l1_loss,huber_loss,binary_cross_entropy_with_logits \
        --elements 100000000 --threads 2 --json-out "$OUT/ew_torch.json" > "$OUT/ew_torch.txt" 2>&1
else
    echo "no torch in $PY: the PyTorch runs are skipped" >&2
fi
for s in 8192x32000 65536x1000 1048576x10; do
    for d in f32 bf16 f16; do $L bench cross_entropy --fused --shape $s --dtype $d --threads 2 --json > "$OUT/half_${s}_$d.json" 2>&1; done
done
for s in 8192x32000 65536x1000 1048576x10; do $L bench cross_entropy --fused --shape $s --threads 2 --json > "$OUT/ce_$s.json" 2>&1; done
for l in mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy_with_logits sigmoid_focal_loss; do
    $L bench $l --fused --shape 100000000 --threads 2 --json > "$OUT/ew_$l.json" 2>&1
done
{ date -u; uptime; } > "$OUT/end"
echo "figures in $OUT"
# The issue's targets, each against the limits its own process measured
# (exit status 1 if one is not met).
python3 scripts/bench/targets.py "$OUT" | tee "$OUT/targets.txt"
exit "${PIPESTATUS[0]}"
