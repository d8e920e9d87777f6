#!/usr/bin/env python3
"""The Python package's speed (issue 14), in one process and one run:

* PyTorch's ``torch.nn.functional.cross_entropy`` forward + backward against
  ``losslab.torch_autograd.cross_entropy`` forward + backward on the same CPU tensors
  (8192x32000, 65536x1000, 1048576x10 in float32, and the same in bfloat16);
* the raw Rust kernel (``forward_backward_into`` a separate gradient buffer, timed in Rust
  with the arrays borrowed once: ``_native.bench_cross_entropy_kernel``) on the same data;
* the call overhead on a 2x3 input, in microseconds, beside PyTorch's.

The issue's targets: the wrapper keeps at least 80 % of the kernel's throughput and runs at
least 6x PyTorch's own. Medians of --reps rounds (kernel, wrapper and PyTorch once each, interleaved) after two warm-up rounds; throughput in
logits per second.

    pip install ./crates/losslab-py torch
    python scripts/bench/python_bench.py [--shapes 8192x32000,65536x1000,1048576x10]
        [--dtypes float32,bfloat16] [--reps 7] [--json-out FILE]
"""
import argparse
import json
import platform
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F

import losslab
import losslab.torch_autograd as L
from losslab import _native


def cpu_name():
    try:
        for line in subprocess.check_output(["lscpu"], text=True).splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except Exception:
        pass
    return platform.processor() or "unknown"


def bench_shape(n, c, dtype, reps):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, c, generator=g) * 8 - 4).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    xt = x.clone().requires_grad_(True)
    xl = x.clone().requires_grad_(True)

    def torch_fb():
        xt.grad = None
        F.cross_entropy(xt, y).backward()

    def losslab_fb():
        xl.grad = None
        L.cross_entropy(xl, y).backward()

    # The kernel into a separate gradient buffer, timed in Rust.
    half = {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(dtype)
    xa = x.view(torch.int16).numpy().view("uint16") if half else x.numpy()
    grad = torch.empty_like(x)
    ga = grad.view(torch.int16).numpy().view("uint16") if half else grad.numpy()
    ya = y.numpy()
    # Interleaved: one run of each per round, so that a change of the machine's load
    # (other processes) falls on all three alike; medians over the rounds.
    def timed(f):
        t = time.perf_counter()
        f()
        return time.perf_counter() - t

    for _ in range(2):
        torch_fb(), losslab_fb(), _native.bench_cross_entropy_kernel(xa, ya, ga, 1, half)
    runs = {"torch": [], "losslab": [], "kernel": []}
    for _ in range(reps):
        runs["kernel"] += _native.bench_cross_entropy_kernel(xa, ya, ga, 1, half)
        runs["losslab"].append(timed(losslab_fb))
        runs["torch"].append(timed(torch_fb))
    kernel, t_ll, t_torch = (statistics.median(runs[k]) for k in ("kernel", "losslab", "torch"))
    # Same numbers (loss within float tolerance of torch's).
    a, b = float(L.cross_entropy(x, y)), float(F.cross_entropy(x, y))
    assert abs(a - b) <= 3e-2 * abs(b), (a, b)  # bf16 results round to 8 bits
    elems = n * c
    return {
        "shape": f"{n}x{c}",
        "dtype": str(dtype).replace("torch.", ""),
        "torch_fwd_bwd_elems_per_s": elems / t_torch,
        "losslab_autograd_elems_per_s": elems / t_ll,
        "kernel_into_elems_per_s": elems / kernel,
        "wrapper_vs_kernel": kernel / t_ll,
        "speedup_vs_torch": t_torch / t_ll,
    }


def overhead(reps=2000):
    x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    y = torch.tensor([0, 2])
    xa, ya = x.numpy(), y.numpy()

    def per_call(f):
        for _ in range(200):
            f()
        ts = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(reps):
                f()
            ts.append((time.perf_counter() - t) / reps)
        return statistics.median(ts) * 1e6

    xg = x.clone().requires_grad_(True)
    xh = x.clone().requires_grad_(True)

    def ll_fb():
        xg.grad = None
        L.cross_entropy(xg, y).backward()

    def t_fb():
        xh.grad = None
        F.cross_entropy(xh, y).backward()

    return {
        "losslab_numpy_forward_us": per_call(lambda: losslab.cross_entropy(xa, ya)),
        "losslab_autograd_forward_us": per_call(lambda: L.cross_entropy(x, y)),
        "torch_forward_us": per_call(lambda: F.cross_entropy(x, y)),
        "losslab_autograd_fwd_bwd_us": per_call(ll_fb),
        "torch_fwd_bwd_us": per_call(t_fb),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="8192x32000,65536x1000,1048576x10")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; one process")
    rows = []
    print(f"{'shape':>12} {'dtype':>9} {'torch f+b':>11} {'losslab f+b':>12} {'kernel into':>12} {'wrapper/kernel':>15} {'x torch':>8}   (logits/s)")
    for dt in args.dtypes.split(","):
        for s in args.shapes.split(","):
            n, c = map(int, s.split("x"))
            r = bench_shape(n, c, getattr(torch, dt), args.reps)
            rows.append(r)
            print(
                f"{r['shape']:>12} {r['dtype']:>9} {r['torch_fwd_bwd_elems_per_s']:11.3e} {r['losslab_autograd_elems_per_s']:12.3e} "
                f"{r['kernel_into_elems_per_s']:12.3e} {r['wrapper_vs_kernel'] * 100:14.1f}% {r['speedup_vs_torch']:7.1f}x"
            )
    o = overhead()
    print(
        "call overhead on 2x3 (us): forward: losslab autograd {losslab_autograd_forward_us:.1f}, losslab NumPy "
        "{losslab_numpy_forward_us:.1f}, torch {torch_forward_us:.1f}; forward + backward: losslab {losslab_autograd_fwd_bwd_us:.1f}, "
        "torch {torch_fwd_bwd_us:.1f}".format(**o)
    )
    ok_kernel = all(r["wrapper_vs_kernel"] >= 0.8 for r in rows)
    ok_torch = all(r["speedup_vs_torch"] >= 6 for r in rows)
    print(f"targets: wrapper >= 80% of the kernel: {'met' if ok_kernel else 'NOT met'}; >= 6x torch: {'met' if ok_torch else 'NOT met'}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"cpu": cpu_name(), "torch": torch.__version__, "rows": rows, "overhead": o}, f, indent=1)


if __name__ == "__main__":
    main()
