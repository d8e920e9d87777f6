#!/usr/bin/env python3
"""The per-token losses beside PyTorch (issue 17): forward + backward of
`losslab:sequence_log_probs` and `trl:generalized_jsd_loss` on float32 (B, T, V)
logits, `losslab bench LOSS --shape BxTxV --json` (its `fwd_bwd_s`, the registry's
path, the gradients in separate buffers) against PyTorch's CPU implementation in
its own process, same shapes, same thread count:

- sequence_log_probs: `torch.gather(logits.log_softmax(-1), -1, labels.unsqueeze(-1))`
  (DPO's per-token log-probabilities; TRL's `selective_log_softmax`), then
  `.backward()` of its sum; also TRL's `selective_log_softmax` itself (its
  per-sequence logsumexp loop) where `--trl` is given;
- generalized_jsd_loss: TRL's `GKDTrainer.generalized_jsd_loss` (β = 0.5, T = 1,
  batchmean, with labels), `.backward()` into both logits.

    python scripts/bench/token_losses.py [--losslab target/release/losslab]
        [--shapes 8x512x32000] [--threads 2] [--reps 3] [--json-out FILE] [--trl]

Prints a table of median seconds and the ratio torch / losslab (issue 17 asks
for at least 10x), and the CPU (`lscpu`'s model name, the kernels' ISA).
Build the binary first: `cargo build --release -p losslab-cli`. Timing only:
no test depends on it.

Measured 2026-12-04 (Intel Xeon Processor with AVX-512, 2 threads shared with
other jobs, torch 2.15, --shapes 2x512x32000 --reps 2): sequence_log_probs
0.145 s against torch's 0.205 s (1.4x); generalized_jsd_loss 2.92 s against
TRL's 4.09 s (1.4x). Issue 17's 10x is NOT reached: the two-distribution sweep's
per-element loop (exp, exp, log1p per element in f64, a match on the divergence
inside it) does not vectorise yet (~64 ns per element).
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = r'''
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import torch, torch.nn.functional as F
loss, b, t, v, threads, reps = sys.argv[1], *(int(a) for a in sys.argv[2:7])
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
x = (torch.randn(b, t, v, generator=g) * 2).requires_grad_(True)
y = torch.randint(0, v, (b, t), generator=g)
if loss == "sequence_log_probs":
    def step():
        x.grad = None
        lp = torch.gather(x.log_softmax(-1), -1, y.unsqueeze(-1)).squeeze(-1)
        lp.sum().backward()
elif loss == "selective_log_softmax":
    from trl.trainer.utils import selective_log_softmax
    def step():
        x.grad = None
        selective_log_softmax(x, y).sum().backward()
else:
    from trl.experimental.gkd.gkd_trainer import GKDTrainer
    z = (torch.randn(b, t, v, generator=g) * 2).requires_grad_(True)
    def step():
        x.grad = None; z.grad = None
        GKDTrainer.generalized_jsd_loss(x, z, labels=y).backward()
step()
ts = []
for _ in range(reps):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
print(json.dumps({"fwd_bwd_s": statistics.median(ts), "torch": torch.__version__}))
'''


def torch_time(loss, shape, threads, reps):
    b, t, v = shape
    env = dict(os.environ, TRL_EXPERIMENTAL_SILENCE="1")
    out = subprocess.run([sys.executable, "-c", CHILD, loss, str(b), str(t), str(v), str(threads), str(reps)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def losslab_time(binary, loss, shape, threads, reps):
    b, t, v = shape
    out = subprocess.run([binary, "bench", loss, "--shape", f"{b}x{t}x{v}", "--threads", str(threads), "--reps", str(reps),
                          "--warmup", "1", "--mem-mib", "256", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def cpu_name():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losslab", default=os.path.join("target", "release", "losslab"))
    ap.add_argument("--shapes", default="8x512x32000")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--trl", action="store_true", help="also time TRL's selective_log_softmax")
    a = ap.parse_args()
    rows = []
    print(f"CPU: {cpu_name()}, {a.threads} threads")
    print("| loss | shape | losslab fwd+bwd s | torch fwd+bwd s | torch / losslab |")
    print("|---|---|---|---|---|")
    for s in a.shapes.split(","):
        shape = tuple(int(d) for d in s.split("x"))
        pairs = [("losslab:sequence_log_probs", "sequence_log_probs")]
        if a.trl:
            pairs.append(("losslab:sequence_log_probs", "selective_log_softmax"))
        pairs.append(("trl:generalized_jsd_loss", "generalized_jsd_loss"))
        cache = {}
        for ours, theirs in pairs:
            if ours not in cache:
                cache[ours] = losslab_time(a.losslab, ours, shape, a.threads, a.reps)
            ll = cache[ours]
            tt = torch_time(theirs, shape, a.threads, a.reps)
            ratio = tt["fwd_bwd_s"] / ll["fwd_bwd_s"]
            rows.append({"loss": ours, "torch_reference": theirs, "shape": list(shape), "threads": a.threads, "isa": ll["isa"],
                         "losslab_fwd_bwd_s": ll["fwd_bwd_s"], "losslab_fwd_s": ll["fwd_s"], "torch_fwd_bwd_s": tt["fwd_bwd_s"],
                         "torch": tt["torch"], "ratio": ratio, "cpu": cpu_name()})
            print(f"| {ours} vs torch {theirs} | {s} | {ll['fwd_bwd_s']:.3f} | {tt['fwd_bwd_s']:.3f} | {ratio:.1f}x |", flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
