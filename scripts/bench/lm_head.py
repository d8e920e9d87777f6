#!/usr/bin/env python3
"""The LM head beside PyTorch: `torch.nn.functional.linear_cross_entropy` (its plain
path, and its chunked path with `options=LinearCrossEntropyOptions()`) and
`losslab bench linear_cross_entropy --json`, forward + backward (the gradients of
`input` and `linear_weight`), f32, on the same shapes in the same session; each
run in its own process, so that each one's peak memory is its own. Per timed shape
also losslab's bf16 inputs (`--dtype bf16`: AVX512_BF16's dot products where the CPU
has them) beside its f32, and with `--torch-bf16` PyTorch's plain path on bf16 inputs.

    python scripts/bench/lm_head.py [--losslab target/release/losslab]
        [--shapes 2048x512x32000,4096x1024x32000,1024x2048x128256] [--threads 2]
        [--reps 5] [--memory-shape 8192x1024x128256] [--json-out FILE] [--check] [--torch-bf16]
        [--no-bf16] [--baseline OTHER_LOSSLAB_BINARY]

Per shape: median seconds and GFLOP/s (6·N·D·V per forward + backward), the f32
FMA peak `losslab bench` measured in its process, and the memory one call takes
beyond the inputs (the resident set's high-water mark, reset through
/proc/self/clear_refs before the call, minus the resident set before it; for
PyTorch after `import torch` and the inputs). `--memory-shape` runs one more
shape for memory only (one timed call each). `--check` exits 1 unless issue 16's
targets hold: at least 70% of the FMA peak on every timed shape, faster than
both PyTorch paths on every shape, at least 1.3x the plain path and 1.5x the
chunked path on 2048x512x32000, and losslab's bf16 at least 1.5x its f32 on every
timed shape.

Build the binary first: `cargo build --release -p losslab-cli`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r'''
import json, os, statistics, sys, time
import torch, torch.nn.functional as F
n, d, v, threads, reps, chunked, bf16 = (int(a) for a in sys.argv[1:8])
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
dt = torch.bfloat16 if bf16 else torch.float32
x = (torch.rand(n, d, generator=g) * 2 - 1).to(dt).requires_grad_(True)
w = ((torch.rand(v, d, generator=g) * 2 - 1) / d ** 0.5).to(dt).requires_grad_(True)
y = torch.randint(0, v, (n,), generator=g)
opts = None
if chunked:
    from torch.nn import LinearCrossEntropyOptions
    opts = LinearCrossEntropyOptions()
def step():
    x.grad = None; w.grad = None
    F.linear_cross_entropy(x, w, y, options=opts).backward()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
step()  # warm-up (and the allocator's caches)
ts = []
for _ in range(reps):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
x.grad = None; w.grad = None
import ctypes
try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
step()
extra = status("VmHWM") - before
print(json.dumps({"s": statistics.median(ts), "call_peak_extra_bytes": extra, "torch": torch.__version__}))
'''


def torch_run(n, d, v, threads, reps, chunked, bf16=False):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d), str(v), str(threads), str(reps), str(int(chunked)), str(int(bf16))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def losslab_run(binary, n, d, v, threads, reps, dtype="f32"):
    out = subprocess.run([binary, "bench", "linear_cross_entropy", "--shape", f"{n}x{d}x{v}", "--threads", str(threads),
                          "--reps", str(reps), "--warmup", "1", "--dtype", dtype, "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losslab", default="target/release/losslab")
    ap.add_argument("--shapes", default="2048x512x32000,4096x1024x32000,1024x2048x128256")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--memory-shape", default=None)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--torch-bf16", action="store_true", help="also PyTorch's plain path on bf16 inputs")
    ap.add_argument("--no-bf16", action="store_true", help="skip losslab's bf16 runs")
    ap.add_argument("--baseline", default=None, help="another losslab binary (an earlier build) run beside it on each timed shape, f32")
    a = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}; {a.threads} thread(s); medians of {a.reps}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rows = []
    shapes = [(s, True) for s in a.shapes.split(",") if s] + ([(a.memory_shape, False)] if a.memory_shape else [])
    mb = lambda b: f"{b / 1e6:.0f} MB"
    print("| N×D×V | losslab GFLOP/s (% of FMA peak) | torch plain | torch chunked | vs plain | vs chunked | memory beyond inputs: losslab / plain / chunked |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for shape, timed in shapes:
        n, d, v = (int(t) for t in shape.split("x"))
        reps = a.reps if timed else 1
        flops = 6.0 * n * d * v
        ll = losslab_run(a.losslab, n, d, v, a.threads, reps)
        tp = torch_run(n, d, v, a.threads, reps, False)
        tc = torch_run(n, d, v, a.threads, reps, True)
        row = {"shape": shape, "timed": timed, "losslab": ll, "torch_plain": tp, "torch_chunked": tc,
               "losslab_gflops": ll["fwd_bwd_gflops"], "torch_plain_gflops": flops / tp["s"] / 1e9,
               "torch_chunked_gflops": flops / tc["s"] / 1e9, "fma_peak_gflops": ll["fma_peak_gflops"],
               "vs_plain": tp["s"] / ll["fwd_bwd_s"], "vs_chunked": tc["s"] / ll["fwd_bwd_s"]}
        base = ""
        if a.baseline and timed:
            lb = losslab_run(a.baseline, n, d, v, a.threads, reps)
            row["baseline"] = lb
            row["vs_baseline"] = lb["fwd_bwd_s"] / ll["fwd_bwd_s"]
            base = (f" baseline {lb['fwd_bwd_gflops']:.0f} ({100 * lb['fwd_bwd_fraction_of_peak']:.0f}% of {lb['fma_peak_gflops']:.0f}), "
                    f"{tp['s'] / lb['fwd_bwd_s']:.2f}x plain, {tc['s'] / lb['fwd_bwd_s']:.2f}x chunked; this one {row['vs_baseline']:.2f}x the baseline |")
        rows.append(row)
        print(f"| {shape}{'' if timed else ' (memory)'} | {row['losslab_gflops']:.0f} ({100 * ll['fwd_bwd_fraction_of_peak']:.0f}% of {ll['fma_peak_gflops']:.0f}) "
              f"| {row['torch_plain_gflops']:.0f} | {row['torch_chunked_gflops']:.0f} | {row['vs_plain']:.2f}x | {row['vs_chunked']:.2f}x "
              f"| {mb(ll['call_peak_extra_bytes'] or 0)} / {mb(tp['call_peak_extra_bytes'])} / {mb(tc['call_peak_extra_bytes'])} "
              f"(gradients {mb(ll['grad_bytes'])}) |{base}", flush=True)
    bf_rows = [r for r in rows if r["timed"] and not a.no_bf16]
    if bf_rows:
        print()
        print("| N×D×V | losslab bf16 GFLOP/s (% of the bf16 dot-product peak) | losslab f32 | bf16 / f32 |" + (" torch plain bf16 | vs torch bf16 |" if a.torch_bf16 else ""))
        print("|---|---:|---:|---:|" + ("---:|---:|" if a.torch_bf16 else ""))
    for r in bf_rows:
        n, d, v = (int(t) for t in r["shape"].split("x"))
        lb = losslab_run(a.losslab, n, d, v, a.threads, a.reps, "bf16")
        r["losslab_bf16"] = lb
        r["bf16_vs_f32"] = r["losslab"]["fwd_bwd_s"] / lb["fwd_bwd_s"]
        peak = lb.get("bf16_peak_gflops")
        of_peak = f"{100 * lb['fwd_bwd_gflops'] / peak:.0f}% of {peak:.0f}" if peak else "no AVX512_BF16: widened to f32"
        line = f"| {r['shape']} | {lb['fwd_bwd_gflops']:.0f} ({of_peak}) | {r['losslab_gflops']:.0f} | {r['bf16_vs_f32']:.2f}x |"
        if a.torch_bf16:
            tb = torch_run(n, d, v, a.threads, a.reps, False, True)
            r["torch_plain_bf16"] = tb
            line += f" {6.0 * n * d * v / tb['s'] / 1e9:.0f} | {tb['s'] / lb['fwd_bwd_s']:.2f}x |"
        print(line, flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"cpu": cpu, "threads": a.threads, "rows": rows}, f, indent=1)
    if a.check:
        misses = []
        for r in rows:
            if not r["timed"]:
                continue
            if r["losslab"]["fwd_bwd_fraction_of_peak"] < 0.70:
                misses.append(f"{r['shape']}: {100 * r['losslab']['fwd_bwd_fraction_of_peak']:.0f}% of the FMA peak (target 70%)")
            if r["vs_plain"] <= 1.0 or r["vs_chunked"] <= 1.0:
                misses.append(f"{r['shape']}: not faster than both PyTorch paths ({r['vs_plain']:.2f}x, {r['vs_chunked']:.2f}x)")
            if r["shape"] == "2048x512x32000" and (r["vs_plain"] < 1.3 or r["vs_chunked"] < 1.5):
                misses.append(f"{r['shape']}: {r['vs_plain']:.2f}x plain (target 1.3x), {r['vs_chunked']:.2f}x chunked (target 1.5x)")
            if not a.no_bf16 and r.get("bf16_vs_f32", 0.0) < 1.5:
                misses.append(f"{r['shape']}: bf16 {r.get('bf16_vs_f32', 0.0):.2f}x losslab's f32 (target 1.5x)")
        print("targets:", "all met" if not misses else "MISSED: " + "; ".join(misses))
        sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
