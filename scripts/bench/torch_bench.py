#!/usr/bin/env python3
"""Times PyTorch's cross entropy (forward, and forward + backward) on the CPU on
the shapes `losslab bench` uses, runs `losslab bench --fused --json` (the fused kernels) on the same shapes
in the same session, and prints both with their ratio.

    python scripts/bench/torch_bench.py [--losslab target/release/losslab]
        [--shapes 8192x32000,65536x1000,1048576x10] [--threads 2] [--reps 7]
        [--elementwise mse_loss,l1_loss,smooth_l1_loss,huber_loss,binary_cross_entropy_with_logits]
        [--elements 100000000] [--json-out FILE]

With `--elementwise`, the element-wise losses instead, on vectors of
`--elements` (forward: the mean; forward + backward: the input's gradient).

Build the binary first: `cargo build --release -p losslab-cli`. Medians of
`--reps` runs after two warm-up runs; throughput in logits per second. With
`--json-out`, the rows also go to FILE as a JSON list (`shape` or `loss`,
`torch_fwd_elems_per_s`, `torch_fwd_bwd_elems_per_s`, and `losslab`: the
`losslab bench --json` object), which `targets.py` reads.
"""
import argparse
import json
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F


def median_time(f, reps, warmup=2):
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def torch_figures(n, c, reps):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, c, generator=g) * 8 - 4).requires_grad_(True)
    y = torch.randint(0, c, (n,), generator=g)

    def fwd():
        with torch.no_grad():
            F.cross_entropy(x, y)

    def fwd_bwd():
        x.grad = None
        F.cross_entropy(x, y).backward()

    return n * c / median_time(fwd, reps), n * c / median_time(fwd_bwd, reps)


def torch_elementwise(name, n, reps):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, generator=g) * 8 - 4).requires_grad_(True)
    y = torch.rand(n, generator=g) * 8 - 4
    f = getattr(F, name)

    def fwd():
        with torch.no_grad():
            f(x, y)

    def fwd_bwd():
        x.grad = None
        f(x, y).backward()

    return n / median_time(fwd, reps), n / median_time(fwd_bwd, reps)


def elementwise(a, rows):
    n = int(float(a.elements))
    print(f"{'loss':>34} {'torch fwd':>11} {'torch f+b':>11} {'losslab fwd':>12} {'losslab f+b':>12} {'fwd ratio':>10} {'f+b ratio':>10}")
    for name in a.elementwise.split(","):
        tf, tfb = torch_elementwise(name, n, a.reps)
        out = subprocess.run(
            [a.losslab, "bench", name, "--fused", "--shape", str(n), "--threads", str(a.threads), "--reps", str(a.reps), "--json", "--mem-mib", "512"],
            check=True, capture_output=True, text=True,
        ).stdout
        r = json.loads(out)
        lf, lfb = r["fwd_elems_per_s"], r["fwd_bwd_elems_per_s"]
        rows.append({"loss": name, "torch_fwd_elems_per_s": tf, "torch_fwd_bwd_elems_per_s": tfb, "losslab": r})
        print(f"{name:>34} {tf / 1e9:>9.3f}e9 {tfb / 1e9:>9.3f}e9 {lf / 1e9:>10.3f}e9 {lfb / 1e9:>10.3f}e9 {lf / tf:>9.1f}x {lfb / tfb:>9.1f}x")
        print(f"{'':>34} limits now: read {r['mem_read_gbps']:.1f} GB/s, rmw {r['mem_rmw_gbps']:.1f} GB/s, f+b moved {r['fwd_bwd_gbps']:.1f} GB/s, roofline fraction {r['roofline_fraction']:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losslab", default="target/release/losslab")
    ap.add_argument("--shapes", default="8192x32000,65536x1000,1048576x10")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--elementwise", default="")
    ap.add_argument("--elements", default="100000000")
    ap.add_argument("--json-out", default="")
    a = ap.parse_args()
    rows = []
    run(a, rows)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=1)


def run(a, rows):
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s); elements/s, medians of {a.reps}")
    if a.elementwise:
        elementwise(a, rows)
        return
    print(f"{'shape':>12} {'torch fwd':>11} {'torch f+b':>11} {'losslab fwd':>12} {'losslab f+b':>12} {'in place':>11} {'f+b ratio':>10} {'in-place ratio':>15}")
    for shape in a.shapes.split(","):
        n, c = (int(v) for v in shape.split("x"))
        tf, tfb = torch_figures(n, c, a.reps)
        out = subprocess.run(
            [a.losslab, "bench", "cross_entropy", "--fused", "--shape", shape, "--threads", str(a.threads), "--reps", str(a.reps), "--json", "--mem-mib", "512"],
            check=True, capture_output=True, text=True,
        ).stdout
        r = json.loads(out)
        lf, lfb, lip = r["fwd_elems_per_s"], r["fwd_bwd_elems_per_s"], r["fwd_bwd_inplace_elems_per_s"]
        rows.append({"shape": shape, "torch_fwd_elems_per_s": tf, "torch_fwd_bwd_elems_per_s": tfb, "losslab": r})
        print(f"{shape:>12} {tf / 1e9:>9.3f}e9 {tfb / 1e9:>9.3f}e9 {lf / 1e9:>10.3f}e9 {lfb / 1e9:>10.3f}e9 {lip / 1e9:>9.3f}e9 {lfb / tfb:>9.1f}x {lip / tfb:>14.1f}x")
        print(f"{'':>12} limits now: read {r['mem_read_gbps']:.1f} GB/s, rmw {r['mem_rmw_gbps']:.1f} GB/s, exp {r['exp_per_s'] / 1e9:.2f}e9/s, roofline fraction {r['roofline_fraction']:.2f}")


if __name__ == "__main__":
    main()
