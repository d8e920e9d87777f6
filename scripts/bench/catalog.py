#!/usr/bin/env python3
"""Every loss with a PyTorch, torchvision, Keras (JAX backend) or optax reference,
timed beside that reference on the same inputs, in one session (issue 13).

For each loss: `losslab bench LOSS --json --save-inputs DIR` (the registry's path, as
`losslab eval` runs it: valid random inputs of the loss's recipe, forward + backward
allocating its gradients per call), then, right after, the reference in a subprocess of
its own on the .npy files losslab wrote: forward, and forward + backward for the
gradients of the same tensors (torch.autograd.grad; jax.value_and_grad, jitted, float32
with jax x64 off), warm-up excluded, medians. Each side's peak memory is its resident
set's high-water mark during one call over the resident set just before it (reset
through /proc/self/clear_refs), plus the inputs' bytes.

Writes the table to a JSON file and to a section of docs/performance.md (between the
markers `<!-- catalog:begin -->` and `<!-- catalog:end -->`, replacing only that section;
appended when absent), and prints which losses miss which target:

- speed: losslab's forward + backward at least as fast as the reference's (ratio =
  reference time / losslab time >= 1), and >= 2 for the PyTorch losses issue 13 names;
- bandwidth: an element-wise loss moves its inputs and gradients at >= 70% of the
  read-modify-write bandwidth measured in the same `losslab bench` process;
- memory: losslab's peak <= (inputs + gradients) x 1.1 + 8 MB.

An element-wise loss below 70% of the bandwidth is run once more on a quarter of its
batch (`--scale` / 4: its inputs and gradients fit the last-level cache), and the table
below the main one names its bound with the figures: its arithmetic where the loss stays
below 70% of the memory's bandwidth even from cache (its arithmetic and passes: what it
computes per element is listed in `PER_ELEMENT`), else the memory side at full size (the fresh gradients' first
writes and the mix of reads and writes, which the read-modify-write figure does not pay).

    KERAS_BACKEND=jax ~/refenv/bin/python scripts/bench/catalog.py [--scale 0.5] [--reps 5]
        [--warmup 1] [--threads 2] [--only REGEX] [--check] [--json-out FILE] [--no-doc]

`--check` exits with status 1 when a loss misses a target (the default only reports).
Build first: `cargo build --release -p losslab-cli`.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "performance.md")
BEGIN, END = "<!-- catalog:begin -->", "<!-- catalog:end -->"

# The PyTorch losses issue 13 names, with a target of 2x their reference.
NAMED_2X = {
    "torch:soft_margin_loss", "torch:multilabel_soft_margin_loss", "torch:multi_margin_loss", "torch:ctc_loss",
    "torch:poisson_nll_loss", "torch:gaussian_nll_loss", "torch:nll_loss", "torch:binary_cross_entropy",
    "torch:triplet_margin_loss", "torch:cosine_embedding_loss",
}

# Element-wise losses (a function of aligned elements; Keras's mean over the last axis
# included): the bandwidth target applies to them.
ELEMENTWISE = {
    "torch:mse_loss", "torch:l1_loss", "torch:smooth_l1_loss", "torch:huber_loss", "torch:binary_cross_entropy",
    "torch:binary_cross_entropy_with_logits", "torch:poisson_nll_loss", "torch:gaussian_nll_loss",
    "torch:margin_ranking_loss", "torch:hinge_embedding_loss", "torch:soft_margin_loss", "torchvision:sigmoid_focal_loss",
    "keras:poisson", "keras:hinge", "keras:squared_hinge", "keras:binary_crossentropy", "keras:binary_focal_crossentropy",
    "keras:log_cosh", "keras:mean_squared_logarithmic_error", "keras:mean_absolute_percentage_error", "keras:huber",
    "optax:perceptron_loss", "optax:sparsemax_loss", "optax:huber_loss", "optax:log_cosh",
}

# What each element-wise loss computes per element on its path for float32 on AVX-512
# (crates/losslab-registry/src/paths.rs has the whole note): the arithmetic and passes that
# bound it when it is slower than the memory even from cache.
PER_ELEMENT = {
    "torch:mse_loss": "a subtraction and a multiply (fused kernel, f32 lanes)",
    "torch:l1_loss": "a subtraction, an absolute value and a sign (fused kernel, f32 lanes)",
    "torch:smooth_l1_loss": "a subtraction, compares and selects, a multiply-add (fused kernel, f32 lanes)",
    "torch:huber_loss": "a subtraction, compares and selects, a multiply-add (fused kernel, f32 lanes)",
    "torch:binary_cross_entropy": "ln x and log1p(-x) (one series each), an atanh series and two divisions, "
                                  "f32 lanes; a range check's pass over both inputs first",
    "torch:binary_cross_entropy_with_logits": "an exp, a log1p and a division (the sigmoid), f32 lanes",
    "torch:poisson_nll_loss": "an exp, f32 lanes",
    "torch:gaussian_nll_loss": "four divisions in f64 lanes (PyTorch's autograd's d/v, d²/v, 1/v and d²/v²: the same bits) and a ln; three operands read, three gradients written",
    "torch:margin_ranking_loss": "compares and selects; three operands read, three gradients written",
    "torch:hinge_embedding_loss": "a select on the target",
    "torch:soft_margin_loss": "an exp, a log1p and a division (the sigmoid), f32 lanes",
    "torchvision:sigmoid_focal_loss": "an exp, a log1p, a division and the (1 - p_t)^gamma products, f64 lanes",
    "keras:poisson": "a ln and a division, f32 lanes (per row)",
    "keras:hinge": "a multiply-add, compares and selects, f32 lanes (per row)",
    "keras:squared_hinge": "a multiply-add, compares and selects, a square, f32 lanes (per row)",
    "keras:binary_crossentropy": "Keras's clip, ln and log1p and a division, f32 lanes (per row)",
    "keras:binary_focal_crossentropy": "Keras's clip, ln and log1p, a division and the focal products, f32 lanes (per row)",
    "keras:log_cosh": "an exp, a log1p series, a square root and a reciprocal, f32 lanes (per row)",
    "keras:mean_squared_logarithmic_error": "a log1p series (or a ln where the two are far apart), a reciprocal and a division, f32 lanes (per row)",
    "keras:mean_absolute_percentage_error": "three divisions, compares and selects, f64 lanes (per row)",
    "keras:huber": "a subtraction, compares, selects and multiplies, f64 lanes (per row)",
    "optax:perceptron_loss": "a multiply, compares and selects, f64 lanes",
    "optax:sparsemax_loss": "compares, selects and a multiply (sparse_plus), the labels read in their own type",
    "optax:huber_loss": "a subtraction, compares, selects and multiplies, f64 lanes",
    "optax:log_cosh": "an exp, a log1p series, a square root and a reciprocal, f32 lanes",
}

# ---------------------------------------------------------------------------------------------
# The references: registry name -> the call on the tensors by name. Options are the
# registry's defaults (and the recipe's: none of these losses needs one).  The calls follow
# scripts/golden/*.py.


# F, tv (torch.nn.functional, torchvision.ops), K, O (keras.losses, optax.losses): imported by
# the reference subprocess only (`import_references`), so that this process needs neither.
F = tv = K = O = None

TORCH_REFS = {
    "torch:mse_loss": lambda t: F.mse_loss(t["input"], t["target"]),
    "torch:l1_loss": lambda t: F.l1_loss(t["input"], t["target"]),
    "torch:smooth_l1_loss": lambda t: F.smooth_l1_loss(t["input"], t["target"]),
    "torch:huber_loss": lambda t: F.huber_loss(t["input"], t["target"]),
    "torch:cross_entropy": lambda t: F.cross_entropy(t["input"], t["target"]),
    "torch:nll_loss": lambda t: F.nll_loss(t["input"], t["target"]),
    "torch:binary_cross_entropy": lambda t: F.binary_cross_entropy(t["input"], t["target"]),
    "torch:binary_cross_entropy_with_logits": lambda t: F.binary_cross_entropy_with_logits(t["input"], t["target"]),
    "torch:kl_div": lambda t: F.kl_div(t["input"], t["target"], reduction="mean"),
    "torch:poisson_nll_loss": lambda t: F.poisson_nll_loss(t["input"], t["target"]),
    "torch:gaussian_nll_loss": lambda t: F.gaussian_nll_loss(t["input"], t["target"], t["var"]),
    "torch:margin_ranking_loss": lambda t: F.margin_ranking_loss(t["input1"], t["input2"], t["target"]),
    "torch:hinge_embedding_loss": lambda t: F.hinge_embedding_loss(t["input"], t["target"]),
    "torch:soft_margin_loss": lambda t: F.soft_margin_loss(t["input"], t["target"]),
    "torch:multilabel_soft_margin_loss": lambda t: F.multilabel_soft_margin_loss(t["input"], t["target"]),
    "torch:multilabel_margin_loss": lambda t: F.multilabel_margin_loss(t["input"], t["target"]),
    "torch:multi_margin_loss": lambda t: F.multi_margin_loss(t["input"], t["target"]),
    "torch:ctc_loss": lambda t: F.ctc_loss(t["log_probs"], t["targets"], t["input_lengths"], t["target_lengths"]),
    "torch:cosine_embedding_loss": lambda t: F.cosine_embedding_loss(t["input1"], t["input2"], t["target"]),
    "torch:triplet_margin_loss": lambda t: F.triplet_margin_loss(t["anchor"], t["positive"], t["negative"]),
    "torch:triplet_margin_with_distance_loss": lambda t: F.triplet_margin_with_distance_loss(t["anchor"], t["positive"], t["negative"]),
    "torchvision:sigmoid_focal_loss": lambda t: tv.sigmoid_focal_loss(t["inputs"], t["targets"]),
    "torchvision:generalized_box_iou_loss": lambda t: tv.generalized_box_iou_loss(t["boxes1"], t["boxes2"]),
    "torchvision:distance_box_iou_loss": lambda t: tv.distance_box_iou_loss(t["boxes1"], t["boxes2"]),
    "torchvision:complete_box_iou_loss": lambda t: tv.complete_box_iou_loss(t["boxes1"], t["boxes2"]),
}

JAX_REFS = {
    "keras:poisson": lambda t: K.poisson(t["y_true"], t["y_pred"]),
    "keras:hinge": lambda t: K.hinge(t["y_true"], t["y_pred"]),
    "keras:squared_hinge": lambda t: K.squared_hinge(t["y_true"], t["y_pred"]),
    "keras:categorical_hinge": lambda t: K.categorical_hinge(t["y_true"], t["y_pred"]),
    "keras:binary_crossentropy": lambda t: K.binary_crossentropy(t["y_true"], t["y_pred"]),
    "keras:categorical_crossentropy": lambda t: K.categorical_crossentropy(t["y_true"], t["y_pred"]),
    "keras:sparse_categorical_crossentropy": lambda t: K.sparse_categorical_crossentropy(t["y_true"], t["y_pred"]),
    "keras:binary_focal_crossentropy": lambda t: K.binary_focal_crossentropy(t["y_true"], t["y_pred"]),
    "keras:categorical_focal_crossentropy": lambda t: K.categorical_focal_crossentropy(t["y_true"], t["y_pred"]),
    "keras:categorical_generalized_cross_entropy": lambda t: K.categorical_generalized_cross_entropy(t["y_true"], t["y_pred"], q=0.5),
    "keras:kl_divergence": lambda t: K.kl_divergence(t["y_true"], t["y_pred"]),
    "keras:log_cosh": lambda t: K.log_cosh(t["y_true"], t["y_pred"]),
    "keras:mean_squared_logarithmic_error": lambda t: K.mean_squared_logarithmic_error(t["y_true"], t["y_pred"]),
    "keras:mean_absolute_percentage_error": lambda t: K.mean_absolute_percentage_error(t["y_true"], t["y_pred"]),
    "keras:huber": lambda t: K.huber(t["y_true"], t["y_pred"]),
    "keras:dice": lambda t: K.dice(t["y_true"], t["y_pred"]),
    "keras:tversky": lambda t: K.tversky(t["y_true"], t["y_pred"]),
    "keras:ctc": lambda t: K.ctc(t["y_true"], t["y_pred"]),
    "keras:cosine_similarity": lambda t: K.cosine_similarity(t["y_true"], t["y_pred"]),
    "keras:circle": lambda t: K.circle(t["y_true"], t["y_pred"]),
    "optax:multiclass_hinge_loss": lambda t: O.multiclass_hinge_loss(t["scores"], t["labels"]),
    "optax:perceptron_loss": lambda t: O.perceptron_loss(t["predictor_outputs"], t["targets"]),
    "optax:multiclass_perceptron_loss": lambda t: O.multiclass_perceptron_loss(t["scores"], t["labels"]),
    "optax:poly_loss_cross_entropy": lambda t: O.poly_loss_cross_entropy(t["logits"], t["labels"]),
    "optax:sparsemax_loss": lambda t: O.sparsemax_loss(t["logits"], t["labels"]),
    "optax:multiclass_sparsemax_loss": lambda t: O.multiclass_sparsemax_loss(t["scores"], t["labels"]),
    "optax:generalized_kl_divergence": lambda t: O.generalized_kl_divergence(t["log_predictions"], t["targets"]),
    "optax:kl_divergence": lambda t: O.kl_divergence(t["log_predictions"], t["targets"]),
    "optax:kl_divergence_with_log_targets": lambda t: O.kl_divergence_with_log_targets(t["log_predictions"], t["log_targets"]),
    "optax:safe_softmax_cross_entropy": lambda t: O.safe_softmax_cross_entropy(t["logits"], t["labels"]),
    "optax:smooth_labels": lambda t: O.smooth_labels(t["labels"], 0.1),
    "optax:huber_loss": lambda t: O.huber_loss(t["predictions"], t["targets"]),
    "optax:log_cosh": lambda t: O.log_cosh(t["predictions"], t["targets"]),
    "optax:ctc_loss": lambda t: O.ctc_loss(t["logits"], t["logit_paddings"], t["labels"], t["label_paddings"]),
    "optax:dice_loss": lambda t: O.dice_loss(t["predictions"], t["targets"]),
    "optax:binary_dice_loss": lambda t: O.binary_dice_loss(t["predictions"], t["targets"]),
    "optax:multiclass_generalized_dice_loss": lambda t: O.multiclass_generalized_dice_loss(t["predictions"], t["targets"]),
    "optax:ntxent": lambda t: O.ntxent(t["embeddings"], t["labels"]),
    "optax:triplet_margin_loss": lambda t: O.triplet_margin_loss(t["anchors"], t["positives"], t["negatives"]),
    "optax:ranking_softmax_loss": lambda t: O.ranking_softmax_loss(t["logits"], t["labels"]),
}


def framework(loss):
    return "torch" if loss in TORCH_REFS else "jax"


def import_references(kind):
    global F, tv, K, O
    if kind == "torch":
        import torch.nn.functional
        import torchvision.ops

        F, tv = torch.nn.functional, torchvision.ops
    else:
        import keras
        import optax

        K, O = keras.losses, optax.losses


# ---------------------------------------------------------------------------------------------
# Memory: the resident set's growth during a call.


def status_bytes(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


try:
    import ctypes

    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


class Probe:
    """As `losslab bench`: free memory the C allocator keeps is given back before the
    call (malloc_trim), the high-water mark reset, then read after it."""

    def __init__(self):
        self.extra = 0
        self.resets = True

    def before(self):
        if _malloc_trim is not None:
            _malloc_trim(0)
        if self.resets:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                self.resets = False
        return status_bytes("VmRSS")

    def after(self, before):
        if self.resets and before is not None and self.extra is not None:
            self.extra = max(self.extra, status_bytes("VmHWM") - before)
        else:
            self.extra = None


def timed(f, warmup, reps):
    """The median time of f; run as a training loop runs it (the allocator reusing its
    free memory: the memory is measured on calls of their own)."""
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


def measured(f, probe):
    b = probe.before()
    r = f()
    probe.after(b)
    del r


# ---------------------------------------------------------------------------------------------
# The reference subprocess.


def run_reference(a):
    """`catalog.py --reference LOSS --dir DIR --grads a,b`: prints one JSON object."""
    import numpy as np

    names = [f[:-4] for f in sorted(os.listdir(a.dir)) if f.endswith(".npy")]
    arrays = {n: np.load(os.path.join(a.dir, f"{n}.npy")) for n in names}
    grads = [g for g in a.grads.split(",") if g]
    input_bytes = sum(v.nbytes for v in arrays.values())
    out = {"loss": a.reference}
    if framework(a.reference) == "torch":
        import torch

        torch.set_num_threads(a.threads)
        import_references("torch")
        fn = TORCH_REFS[a.reference]
        t = {n: torch.from_numpy(v) for n, v in arrays.items()}
        leaves = [t[g].requires_grad_(True) for g in grads]

        def fwd():
            with torch.no_grad():
                fn(t)

        def fwd_bwd():
            r = fn(t)
            return torch.autograd.grad(r, leaves, grad_outputs=torch.ones_like(r))

        out["version"] = f"torch {torch.__version__}"
    else:
        import jax
        import jax.numpy as jnp
        import keras
        import optax

        import_references("jax")
        fn = JAX_REFS[a.reference]
        t = {n: jnp.asarray(v) for n, v in arrays.items()}
        rest = {n: v for n, v in t.items() if n not in grads}

        # Every array is an argument of the jitted functions (closed-over arrays would be
        # constants that XLA may fold at compile time).
        def total(xs, others):
            return jnp.sum(fn({**others, **dict(zip(grads, xs))}))

        f_fwd = jax.jit(lambda tt: jnp.sum(fn(tt)))
        f_fb = jax.jit(jax.value_and_grad(total))
        args = [t[g] for g in grads]

        def fwd():
            jax.block_until_ready(f_fwd(t))

        def fwd_bwd():
            return jax.block_until_ready(f_fb(args, rest))

        out["version"] = f"keras {keras.__version__}, optax {optax.__version__}, jax {jax.__version__} (cpu, x64 off)"
    fwd()
    r = fwd_bwd()  # compiles (jax) and checks the gradients exist
    del r
    out["fwd_s"] = timed(fwd, a.warmup, a.reps)
    out["fwd_bwd_s"] = timed(fwd_bwd, a.warmup, a.reps)
    probe = Probe()
    measured(fwd, probe)
    measured(fwd_bwd, probe)
    extra = probe.extra
    out["input_bytes"] = input_bytes
    out["call_peak_extra_bytes"] = extra
    out["peak_bytes"] = None if extra is None else input_bytes + extra
    import resource

    out["ru_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# The session.


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown CPU"


def mb(b):
    return "—" if b is None else f"{b / 1e6:.0f}"


def one(a, loss, tmp):
    d = os.path.join(tmp, loss.replace(":", "_"))
    cmd = [a.losslab, "bench", loss, "--json", "--save-inputs", d, "--reps", str(a.reps), "--warmup", str(a.warmup),
           "--threads", str(a.threads), "--mem-mib", str(a.mem_mib)]
    if a.scale != 1.0:
        cmd += ["--scale", str(a.scale)]
    # One malloc arena: malloc_trim cannot give back the free top of a thread's own arena,
    # which would hide a call's allocations from the high-water mark (either side).
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", MALLOC_ARENA_MAX="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"loss": loss, "error": f"losslab: {p.stderr.strip()}"}
    ll = json.loads(p.stdout)
    rcmd = [sys.executable, os.path.abspath(__file__), "--reference", loss, "--dir", d, "--grads", ",".join(ll["differentiated"]),
            "--reps", str(a.reps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
    q = subprocess.run(rcmd, capture_output=True, text=True, env=env)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)
    row = {"loss": loss, "losslab": ll}
    if q.returncode != 0:
        row["error"] = "reference: " + (q.stderr.strip().splitlines() or ["failed"])[-1]
        return row
    row["reference"] = json.loads(q.stdout.strip().splitlines()[-1])
    if loss in ELEMENTWISE and ll["bandwidth_fraction"] < 0.70:
        # The same loss on a quarter of the batch: inputs and gradients in the last-level cache
        # (large enough that the call's fixed costs are a small share).
        small = [a.losslab, "bench", loss, "--json", "--reps", str(max(a.reps, 10)), "--warmup", str(max(a.warmup, 2)),
                 "--threads", str(a.threads), "--mem-mib", str(a.mem_mib), "--scale", str(a.scale / 4)]
        c = subprocess.run(small, capture_output=True, text=True, env=env)
        if c.returncode == 0:
            cj = json.loads(c.stdout)
            row["cached"] = {"elements": cj["elements"], "fwd_bwd_s": cj["fwd_bwd_s"], "fwd_bwd_gbps": cj["fwd_bwd_gbps"],
                             "mem_rmw_gbps": cj["mem_rmw_gbps"]}
    return row


def bound(row):
    """What keeps an element-wise loss below 70% of the bandwidth: `(kind, text)`, or None."""
    ll, c = row["losslab"], row.get("cached")
    if row["loss"] not in ELEMENTWISE or ll["bandwidth_fraction"] >= 0.70 or not c:
        return None
    # Over the bandwidth its own process measured (the machine's memory moves between regimes).
    cached = c["fwd_bwd_gbps"] / c.get("mem_rmw_gbps", ll["mem_rmw_gbps"])
    if cached < 0.70:
        return "compute", (f"{cached:.0%} of the bandwidth even from cache ({c['fwd_bwd_gbps']:.1f} GB/s on "
                              f"{c['elements']} elements): per element {PER_ELEMENT.get(row['loss'], 'see paths.rs')}")
    return "memory", (f"{cached:.0%} from cache, {ll['bandwidth_fraction']:.0%} at full size: the fresh gradients' first "
                      "writes and the read-write mix, not the arithmetic")


def judge(row):
    """The targets a row misses, as text."""
    ll, ref = row["losslab"], row.get("reference")
    misses = []
    if ref:
        ratio = ref["fwd_bwd_s"] / ll["fwd_bwd_s"]
        row["ratio"] = ratio
        need = 2.0 if row["loss"] in NAMED_2X else 1.0
        row["speed_target"] = need
        if ratio < need:
            misses.append(f"speed {ratio:.2f}x < {need:g}x")
    if row["loss"] in ELEMENTWISE:
        frac = ll["bandwidth_fraction"]
        if frac < 0.70:
            misses.append(f"bandwidth {frac:.0%} < 70% of {ll['mem_rmw_gbps']:.1f} GB/s")
    if ll.get("peak_bytes") is not None:
        budget = 1.1 * (ll["input_bytes"] + ll["grad_bytes"]) + 8e6
        if ll["peak_bytes"] > budget:
            misses.append(f"memory {ll['peak_over_inputs_and_grads']:.2f}x inputs+grads > 1.1x + 8 MB")
    row["misses"] = misses
    return misses


def table(rows, meta):
    lines = [
        BEGIN,
        "## Every loss beside its reference (issue 13)",
        "",
        f"Measured {meta['date']} by `{meta['command']}` on {meta['cpu']} ({meta['cores']} cores of a virtual machine, ",
        "whose figures vary from run to run: each is a median of "
        f"{meta['reps']} runs after {meta['warmup']} warm-up run(s)), {meta['threads']} thread(s), float32. "
        f"Memory bandwidth measured in each `losslab bench` process: read {meta['read_gbps']}, read-modify-write {meta['rmw_gbps']} GB/s "
        "(medians over the losses' runs).",
        "",
        "losslab runs the registry's path, as `losslab eval` does (`losslab bench LOSS`: the loss's input recipe, "
        f"default shapes{meta['scaled']}; "
        "forward + backward allocating every gradient per call), the reference its forward + backward for the gradients of the same "
        f"tensors on the same `.npy` inputs ({meta['torch']}; {meta['jax']}). Ratio: reference time / losslab time "
        "(above 1: losslab is faster). Peak: the resident set's growth during one call (its high-water mark over the resident set "
        "just before it, the allocator's free memory given back first, one malloc arena) plus the inputs, MB. Path: "
        "`crates/losslab-registry/src/paths.rs`.",
        "",
        "| loss | shape | path | losslab f+b ms | reference f+b ms | ratio | target | losslab peak MB | reference peak MB | inputs + grads MB | bandwidth | misses |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ll = r.get("losslab")
        if ll is None:
            lines.append(f"| {r['loss']} | | | | | | | | | | | {r['error']} |")
            continue
        ref = r.get("reference")
        shape = "x".join(map(str, ll["dims"]))
        rf = f"{ref['fwd_bwd_s'] * 1e3:.1f}" if ref else "—"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "—"
        tgt = f"{r['speed_target']:g}x" if "speed_target" in r else "—"
        bw = f"{ll['bandwidth_fraction']:.0%}" if r["loss"] in ELEMENTWISE else ""
        miss = "; ".join(r.get("misses", [])) + (f" ({r['error']})" if "error" in r else "")
        lines.append(
            f"| {r['loss']} | {shape} | {ll['path']} | {ll['fwd_bwd_s'] * 1e3:.1f} | {rf} | {ratio} | {tgt} | {mb(ll.get('peak_bytes'))} | "
            f"{mb(ref.get('peak_bytes')) if ref else '—'} | {(ll['input_bytes'] + ll['grad_bytes']) / 1e6:.0f} | {bw} | {miss} |")
    bounds = [(r, bound(r)) for r in rows if r.get("losslab") and bound(r)]
    if bounds:
        lines += [
            "",
            "What bounds each element-wise loss below 70% of the bandwidth: the same loss on a quarter of the batch "
            "(inputs and gradients in the last-level cache), its bytes per second over the read-modify-write bandwidth "
            "its own process measured. Below 70% even there, its computation bounds it: the arithmetic it does per element "
            "(listed, on its path for float32 on AVX-512) and the call's own costs (its fresh output buffers, the threads' "
            "start); above, the memory side at full size.",
            "",
            "| loss | full size | from cache | bound | figures |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for r, (kind, text) in bounds:
            c = r["cached"]
            lines.append(f"| {r['loss']} | {r['losslab']['bandwidth_fraction']:.0%} | {c['fwd_bwd_gbps'] / c.get('mem_rmw_gbps', r['losslab']['mem_rmw_gbps']):.0%} | {kind} | {text} |")
    s = meta["summary"]
    lines += [
        "",
        f"Targets met: speed {s['speed_met']} of {s['speed_total']} (the {len(NAMED_2X)} PyTorch losses issue 13 names at 2x: "
        f"{s['named_met']} of {s['named_total']}); bandwidth {s['bw_met']} of {s['bw_total']} element-wise losses; memory "
        f"{s['mem_met']} of {s['mem_total']}. Worst ratios: {s['worst']}.",
        "",
        "Rerun: `KERAS_BACKEND=jax ~/refenv/bin/python scripts/bench/catalog.py` (`--check` exits 1 on a miss; "
        "`--json-out` keeps the rows).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_doc(section):
    text = open(DOC).read() if os.path.exists(DOC) else ""
    if BEGIN in text and END in text:
        i, j = text.index(BEGIN), text.index(END) + len(END)
        text = text[:i] + section.rstrip("\n") + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(DOC, "w") as f:
        f.write(text)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losslab", default=os.path.join(ROOT, "target", "release", "losslab"))
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every default shape's batch size")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mem-mib", type=int, default=512)
    ap.add_argument("--only", default="", help="a regular expression on the qualified names")
    ap.add_argument("--check", action="store_true", help="exit 1 when a loss misses a target")
    ap.add_argument("--json-out", default=os.path.join(ROOT, "target", "catalog.json"))
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    ap.add_argument("--from-json", metavar="FILE", help="write docs/performance.md's table from a run's --json-out file, timing nothing")
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--grads", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.reference:
        return run_reference(a)
    if a.from_json:
        with open(a.from_json) as f:
            run = json.load(f)
        write_doc(table(run["rows"], run["meta"]))
        print(f"wrote the table of {a.from_json} to {DOC}")
        return 0
    if not os.path.exists(a.losslab):
        sys.exit(f"no {a.losslab}: build it first (cargo build --release -p losslab-cli)")
    losses = [l for l in list(TORCH_REFS) + list(JAX_REFS) if re.search(a.only, l)]
    rows = []
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="losslab-catalog-") as tmp:
        for loss in losses:
            t0 = time.time()
            row = one(a, loss, tmp)
            if "losslab" in row:
                judge(row)
            rows.append(row)
            ll, ref = row.get("losslab"), row.get("reference")
            fig = f"losslab {ll['fwd_bwd_s'] * 1e3:8.1f} ms" if ll else ""
            fig += f"  reference {ref['fwd_bwd_s'] * 1e3:8.1f} ms  ratio {row['ratio']:5.2f}" if ref else ""
            status = "; ".join(row.get("misses", [])) or "meets its targets"
            if "losslab" in row and bound(row):
                status += f" [bound: {bound(row)[0]}]"
            if "error" in row:
                status += f" [{row['error']}]"
            print(f"{loss:48} {fig}  {status}  ({time.time() - t0:.0f} s)", flush=True)
    ok = [r for r in rows if "losslab" in r]
    ref_rows = [r for r in ok if "ratio" in r]
    named = [r for r in ref_rows if r["loss"] in NAMED_2X]
    bw = [r for r in ok if r["loss"] in ELEMENTWISE]
    mem = [r for r in ok if r["losslab"].get("peak_bytes") is not None]
    worst = sorted(ref_rows, key=lambda r: r["ratio"])[:5]
    versions = {framework(r["loss"]): r["reference"]["version"] for r in ref_rows}
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "scripts/bench/catalog.py" + (f" --scale {a.scale:g}" if a.scale != 1.0 else "") + f" --reps {a.reps} --warmup {a.warmup}",
        "cpu": cpu_name(), "cores": os.cpu_count(), "threads": a.threads, "reps": a.reps, "warmup": a.warmup, "scale": a.scale,
        "scaled": "" if a.scale == 1.0 else f" with the batch size scaled by {a.scale:g}",
        "read_gbps": f"{median([r['losslab']['mem_read_gbps'] for r in ok]):.1f}",
        "rmw_gbps": f"{median([r['losslab']['mem_rmw_gbps'] for r in ok]):.1f}",
        "torch": versions.get("torch", "torch"), "jax": versions.get("jax", "jax"),
        "seconds": round(time.time() - start),
        "summary": {
            "speed_met": sum(1 for r in ref_rows if r["ratio"] >= r["speed_target"]), "speed_total": len(ref_rows),
            "named_met": sum(1 for r in named if r["ratio"] >= 2.0), "named_total": len(named),
            "bw_met": sum(1 for r in bw if r["losslab"]["bandwidth_fraction"] >= 0.70), "bw_total": len(bw),
            "mem_met": sum(1 for r in mem if not any(m.startswith("memory") for m in r["misses"])), "mem_total": len(mem),
            "worst": ", ".join(f"{r['loss']} {r['ratio']:.2f}x" for r in worst) or "—",
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.json_out)), exist_ok=True)
    with open(a.json_out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    s = meta["summary"]
    print(f"\n{len(rows)} losses in {meta['seconds']} s on {meta['cpu']}; rows in {a.json_out}")
    print(f"speed: {s['speed_met']}/{s['speed_total']} meet theirs (named PyTorch losses at 2x: {s['named_met']}/{s['named_total']}); "
          f"bandwidth: {s['bw_met']}/{s['bw_total']}; memory: {s['mem_met']}/{s['mem_total']}; worst: {s['worst']}")
    missing = [r for r in rows if r.get("misses") or "error" in r]
    for r in missing:
        print(f"MISS {r['loss']}: {'; '.join(r.get('misses', []))}{' ' + r['error'] if 'error' in r else ''}")
    if not a.no_doc and not a.only:
        write_doc(table(rows, meta))
        print(f"wrote the table to {DOC}")
    elif not a.no_doc:
        print("--only: docs/performance.md left as it is (the table there covers every loss)")
    if a.check and missing:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
