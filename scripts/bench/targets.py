#!/usr/bin/env python3
"""Checks the figures `scripts/bench/measure.sh` wrote against the speed
targets of issue 4, prints one line a target (its figures, and met or not) and
exits with status 1 if any target is not met, 2 if a figure is missing.

    python3 scripts/bench/targets.py OUT_DIR

Only the standard library: it reads OUT_DIR/ce_torch.json (PyTorch beside
losslab, from `torch_bench.py --json-out`; without it the targets relative to
PyTorch are reported as missing), ce_SHAPE.json, half_SHAPE_DTYPE.json and
ew_LOSS.json (`losslab bench --json`). Each fraction is taken against the
limits measured by the same process. The two targets that are not speeds (no
allocation per call, bit-identical results whatever the thread count) are
tests: `cargo test -p losslab --test fused_alloc --test fused_half_alloc`
and `cargo test -p losslab --test suite -- fused:: fused_half:: hostile::`.
"""
import json
import os
import sys

BIG = ("8192x32000", "65536x1000")
ELEMENTWISE = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy_with_logits", "sigmoid_focal_loss")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    missing = []

    def load(name):
        p = os.path.join(out, name)
        try:
            with open(p) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            missing.append(f"{p}: {e}")
            return None

    rows = []  # (target, figure, ok)

    def check(target, figure, ok):
        rows.append((target, figure, ok))

    for s in BIG:
        r = load(f"ce_{s}.json")
        if r:
            ip = r["fwd_bwd_inplace_elems_per_s"] / (r["mem_rmw_gbps"] * 1e9 / 8)
            check(f"CE {s} in place >= 0.70 of rmw / 8 B", f"{r['fwd_bwd_inplace_elems_per_s'] / 1e9:.2f}e9/s, {ip:.2f} of {r['mem_rmw_gbps']:.0f} GB/s", ip >= 0.70)
            check(f"CE {s} separate buffer >= 3.5e9/s", f"{r['fwd_bwd_elems_per_s'] / 1e9:.2f}e9/s", r["fwd_bwd_elems_per_s"] >= 3.5e9)
            fw = r["fwd_elems_per_s"] / (r["mem_read_gbps"] * 1e9 / 4)
            check(f"CE {s} forward >= 0.70 of read / 4 B", f"{r['fwd_elems_per_s'] / 1e9:.2f}e9/s, {fw:.2f} of {r['mem_read_gbps']:.0f} GB/s", fw >= 0.70)
    t = load("ce_torch.json")
    if t:
        by = {row["shape"]: row for row in t}
        for s in BIG:
            row = by.get(s)
            if row is None:
                missing.append(f"ce_torch.json: no {s}")
                continue
            tb = row["torch_fwd_bwd_elems_per_s"]
            buf, ip = row["losslab"]["fwd_bwd_elems_per_s"] / tb, row["losslab"]["fwd_bwd_inplace_elems_per_s"] / tb
            check(f"CE {s} >= 15x PyTorch (buffer and in place)", f"{buf:.1f}x, {ip:.1f}x (PyTorch {tb / 1e9:.3f}e9/s)", min(buf, ip) >= 15)
        row = by.get("1048576x10")
        if row is None:
            missing.append("ce_torch.json: no 1048576x10")
        else:
            ratio = row["losslab"]["fwd_bwd_elems_per_s"] / row["torch_fwd_bwd_elems_per_s"]
            check("CE 1048576x10 >= 10x PyTorch", f"{ratio:.1f}x", ratio >= 10)
    for loss in ELEMENTWISE:
        r = load(f"ew_{loss}.json")
        if r:
            frac = r["fwd_bwd_gbps"] / r["mem_rmw_gbps"]
            check(f"{loss} fwd+bwd >= 0.80 of the bandwidth", f"{r['fwd_bwd_gbps']:.1f} of {r['mem_rmw_gbps']:.1f} GB/s: {frac:.2f}", frac >= 0.80)
    for s in BIG:
        f32, bf = load(f"half_{s}_f32.json"), load(f"half_{s}_bf16.json")
        if f32 and bf:
            ratio = bf["fwd_bwd_inplace_elems_per_s"] / f32["fwd_bwd_inplace_elems_per_s"]
            check(f"bf16 {s} in place >= 1.6x f32", f"{ratio:.2f}x ({bf['fwd_bwd_inplace_elems_per_s'] / 1e9:.2f} / {f32['fwd_bwd_inplace_elems_per_s'] / 1e9:.2f}e9/s)", ratio >= 1.6)

    width = max(len(r[0]) for r in rows) if rows else 0
    for target, figure, ok in rows:
        print(f"{'met    ' if ok else 'NOT MET'}  {target:<{width}}  {figure}")
    for m in missing:
        print(f"missing  {m}")
    unmet = sum(1 for r in rows if not r[2])
    print(f"{len(rows) - unmet} of {len(rows)} targets met" + (f", {len(missing)} figures missing" if missing else ""))
    sys.exit(2 if missing else 1 if unmet else 0)


if __name__ == "__main__":
    main()
