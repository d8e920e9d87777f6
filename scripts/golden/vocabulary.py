#!/usr/bin/env python3
"""Golden cases for losslab's large-vocabulary losses, from the real references.

    ~/refenv/bin/python scripts/golden/vocabulary.py

Writes crates/losslab-registry/tests/golden/vocabulary.json in the format of
scripts/golden/README.md:

- torch:adaptive_log_softmax_with_loss: the real `torch.nn.AdaptiveLogSoftmaxWithLoss`
  built in float64 with the case's `in_features`, `n_classes`, `cutoffs`, `div_value`
  and `head_bias`, its parameters overwritten with the case's tensors (`head_weight`
  = `head.weight`, `head_bias` = `head.bias`, `tail_{i}_proj` = `tail[i][0].weight`,
  `tail_{i}_out` = `tail[i][1].weight`); the value is the module's `.loss`, the
  output `output` its `.output`; gradients by autograd w.r.t. the input and every
  parameter. `cutoffs` is written as an int64 tensor (the registry has no list
  options). `none`/`sum` cases are losslab's reductions of `-output`.
- tf:sampled_softmax_loss, tf:nce_loss: `tf.nn.sampled_softmax_loss` / `tf.nn.nce_loss`
  with `sampled_values=(sampled_candidates, true_expected_count,
  sampled_expected_count)` given as tensors (float64), gradients by
  `tf.GradientTape` w.r.t. `weights` (IndexedSlices made dense), `biases`, `inputs`.
  Sampled candidates with accidental hits and repeated values (TensorFlow masks a
  repeated value's last position only). `mean`/`sum` cases are losslab's reductions
  of TensorFlow's per-example losses.

Errors are the reference's own: the module's constructor (cutoffs), its parameter
shapes (copying a tensor of another shape into a parameter), its target check;
TensorFlow's embedding lookup of an out-of-range class and its reshape of labels
that do not have num_true columns.
Deterministic: one seeded numpy Generator, consumed in a fixed order; references
single-threaded.
"""

import os
import sys
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import T, make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import tensorflow as tf  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "vocabulary.json")
GENERATOR = "scripts/golden/vocabulary.py"
rng = np.random.default_rng(20261217)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(lo, hi, *shape):
    return f32(rng.uniform(lo, hi, shape))


# ---------------------------------------------------------------------------------------
# torch:adaptive_log_softmax_with_loss

ASM = "torch:adaptive_log_softmax_with_loss"


def asm_weights(in_features, n_classes, cutoffs, div_value, head_bias, scale=0.5):
    """Random f32-exact parameters of the shapes the module's constructor makes."""
    cuts = list(cutoffs) + [n_classes]
    k = len(cutoffs)
    t = {"head_weight": randn(cuts[0] + k, in_features, scale=scale)}
    if head_bias:
        t["head_bias"] = randn(cuts[0] + k, scale=scale)
    for i in range(k):
        hsz = int(in_features // (div_value ** (i + 1)))
        t[f"tail_{i}_proj"] = randn(hsz, in_features, scale=scale)
        t[f"tail_{i}_out"] = randn(cuts[i + 1] - cuts[i], hsz, scale=scale)
    return t


def asm_case(cid, x, target, weights, cutoffs, n_classes, div_value=None, head_bias=False, reduction=None, go=None):
    tensors = {"input": x, "target": np.asarray(target, dtype=np.int64), "cutoffs": np.asarray(cutoffs, dtype=np.int64), **weights}
    options = {}
    if div_value is not None:
        options["div_value"] = div_value
    # head_bias=True is the head_bias tensor's presence (the registry has no option of
    # the tensor's name).
    try:
        m = torch.nn.AdaptiveLogSoftmaxWithLoss(x.shape[-1], n_classes, list(cutoffs), div_value=4.0 if div_value is None else div_value, head_bias=head_bias, dtype=torch.float64)
        with torch.no_grad():
            m.head.weight.copy_(torch.tensor(weights["head_weight"]))
            if head_bias:
                m.head.bias.copy_(torch.tensor(weights["head_bias"]))
            for i in range(len(cutoffs)):
                m.tail[i][0].weight.copy_(torch.tensor(weights[f"tail_{i}_proj"]))
                m.tail[i][1].weight.copy_(torch.tensor(weights[f"tail_{i}_out"]))
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        res = m(xt, torch.tensor(np.asarray(target, dtype=np.int64)))
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, ASM, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    out = res.loss if reduction is None else (-res.output if reduction == "none" else (-res.output).sum())
    if go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    params = {"head_weight": m.head.weight}
    if head_bias:
        params["head_bias"] = m.head.bias
    for i in range(len(cutoffs)):
        params[f"tail_{i}_proj"] = m.tail[i][0].weight
        params[f"tail_{i}_out"] = m.tail[i][1].weight
    names = ["input"] + list(params)
    grads = torch.autograd.grad(out, [xt] + list(params.values()), gt, allow_unused=True)
    gd = {k: (g.detach().numpy() if g is not None else np.zeros(tuple(p.shape))) for k, g, p in zip(names, grads, [xt] + list(params.values()))}
    c = make_case(cid, ASM, tensors, options, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), gd, None)
    c["outputs"] = {"output": T(res.output.detach().numpy())}
    CASES.append(c)


def gen_asm():
    # two clusters, div_value 2 (tails of 4 and 2 rows), every cluster hit
    d, nc, cuts = 8, 20, [4, 10]
    w = asm_weights(d, nc, cuts, 2.0, False)
    x = randn(9, d)
    tgt = [0, 3, 4, 9, 10, 19, 2, 15, 7]
    asm_case("asm/two-clusters", x, tgt, w, cuts, nc, div_value=2.0)
    asm_case("asm/two-clusters/none", x, tgt, w, cuts, nc, div_value=2.0, reduction="none", go="random")
    asm_case("asm/two-clusters/sum", x, tgt, w, cuts, nc, div_value=2.0, reduction="sum")
    asm_case("asm/two-clusters/go", x, tgt, w, cuts, nc, div_value=2.0, go=np.array(-2.0))
    wb = asm_weights(d, nc, cuts, 2.0, True)
    asm_case("asm/head-bias", x, tgt, wb, cuts, nc, div_value=2.0, head_bias=True)
    # the default div_value 4: in_features 8 -> tails of 2 and 0 rows (8 // 16 = 0)
    w4 = asm_weights(d, nc, cuts, 4.0, False)
    asm_case("asm/default-div", x, tgt, w4, cuts, nc)
    # one cluster; no target in the tail
    w1 = asm_weights(6, 7, [3], 4.0, True)
    asm_case("asm/one-cluster", randn(5, 6), [0, 3, 6, 5, 1], w1, [3], 7, head_bias=True)
    asm_case("asm/one-cluster/shortlist-only", randn(4, 6), [0, 1, 2, 2], w1, [3], 7, head_bias=True)
    # four clusters, div_value 1 (full-rank tails), and a fractional div_value
    w_1 = asm_weights(6, 15, [2, 5, 9, 12], 1.0, False)
    asm_case("asm/four-clusters/div1", randn(10, 6), [0, 1, 2, 4, 5, 8, 9, 11, 12, 14], w_1, [2, 5, 9, 12], 15, div_value=1.0)
    w_3 = asm_weights(10, 8, [2, 4, 6], 3.0, True)
    asm_case("asm/three-clusters/div3", randn(7, 10), [7, 6, 5, 4, 3, 2, 1], w_3, [2, 4, 6], 8, div_value=3.0, head_bias=True)
    w_15 = asm_weights(7, 12, [5, 9], 1.5, False)
    asm_case("asm/div1.5", randn(6, 7), [11, 9, 4, 5, 8, 0], w_15, [5, 9], 12, div_value=1.5, reduction="none")
    # the unbatched form: input (in_features,), a 0-d target
    asm_case("asm/unbatched/tail", randn(8), np.array(12), w, cuts, nc, div_value=2.0)
    asm_case("asm/unbatched/head", randn(8), np.array(1), w, cuts, nc, div_value=2.0, reduction="none")
    # one row; larger logits
    asm_case("asm/one-row", randn(1, 8, scale=3.0), [18], w, cuts, nc, div_value=2.0)
    asm_case("asm/big", randn(64, 16), rng.integers(0, 100, 64), asm_weights(16, 100, [10, 30, 60], 2.0, True, scale=0.3), [10, 30, 60], 100, div_value=2.0, head_bias=True)
    # errors: the reference's
    asm_case("asm/error/target-range", x, [0, 3, 4, 9, 10, 20, 2, 15, 7], w, cuts, nc, div_value=2.0)
    asm_case("asm/error/target-negative", x, [0, 3, 4, 9, 10, -1, 2, 15, 7], w, cuts, nc, div_value=2.0)
    asm_case("asm/error/cutoffs-unsorted", x, tgt, w, [10, 4], nc, div_value=2.0)
    asm_case("asm/error/cutoffs-repeated", x, tgt, {**w, "tail_1_out": w["tail_1_out"]}, [4, 4], nc, div_value=2.0)
    bad = dict(w)
    bad["tail_0_proj"] = randn(3, d)
    asm_case("asm/error/proj-shape", x, tgt, bad, cuts, nc, div_value=2.0)
    bad = dict(w)
    bad["head_weight"] = randn(5, d)
    asm_case("asm/error/head-shape", x, tgt, bad, cuts, nc, div_value=2.0)
    asm_case("asm/error/batch", x, tgt[:5], w, cuts, nc, div_value=2.0)
    asm_case("asm/error/in-features", randn(9, 5), tgt, w, cuts, nc, div_value=2.0)


# ---------------------------------------------------------------------------------------
# tf:sampled_softmax_loss, tf:nce_loss

def tf_case(cid, loss, t, num_true=None, remove=None, reduction=None, go=None):
    options = {}
    if num_true is not None:
        options["num_true"] = num_true
    if remove is not None:
        options["remove_accidental_hits"] = remove
    nt = 1 if num_true is None else num_true
    fn = tf.nn.sampled_softmax_loss if loss == "tf:sampled_softmax_loss" else tf.nn.nce_loss
    kw = {} if remove is None else {"remove_accidental_hits": remove}
    try:
        w = tf.Variable(t["weights"], dtype=tf.float64)
        b = tf.Variable(t["biases"], dtype=tf.float64)
        x = tf.Variable(t["inputs"], dtype=tf.float64)
        sv = (tf.constant(t["sampled_candidates"], dtype=tf.int64), tf.constant(t["true_expected_count"], dtype=tf.float64), tf.constant(t["sampled_expected_count"], dtype=tf.float64))
        with tf.GradientTape() as tape:
            per = fn(w, b, tf.constant(t["labels"], dtype=tf.int64), x, num_sampled=len(t["sampled_candidates"]), num_classes=t["weights"].shape[0], num_true=nt, sampled_values=sv, **kw)
            out = per if reduction is None else (tf.reduce_mean(per) if reduction == "mean" else tf.reduce_sum(per))
        if go == "random":
            go = randn(*tuple(out.shape))
        gs = tape.gradient(out, [w, b, x], output_gradients=None if go is None else tf.constant(go, dtype=tf.float64))
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, t, options, reduction, dtypes_for(t, None), None, None, {}, first_line(e)))
        return
    gd = {k: tf.convert_to_tensor(g).numpy() for k, g in zip(["weights", "biases", "inputs"], gs)}
    CASES.append(make_case(cid, loss, t, options, reduction, dtypes_for(t, go), go, out.numpy(), gd, None))


def sampled_tensors(c, d, b, nt, cand, labels=None):
    s = len(cand)
    return {
        "weights": randn(c, d, scale=0.7),
        "biases": randn(c, scale=0.3),
        "labels": np.asarray(labels if labels is not None else rng.integers(0, c, (b, nt)), dtype=np.int64),
        "inputs": randn(b, d),
        "sampled_candidates": np.asarray(cand, dtype=np.int64),
        "true_expected_count": uniform(0.05, 1.5, b, nt),
        "sampled_expected_count": uniform(0.05, 1.5, s),
    }


def gen_sampled():
    for loss, short in [("tf:sampled_softmax_loss", "ssm"), ("tf:nce_loss", "nce")]:
        # num_true 1; candidates 3 and 7 are also labels (accidental hits), 5 sampled twice
        t1 = sampled_tensors(10, 4, 6, 1, [3, 5, 7, 0, 5, 9], labels=[[3], [5], [7], [1], [2], [5]])
        tf_case(f"{short}/nt1", loss, t1)
        tf_case(f"{short}/nt1/hits-on", loss, t1, remove=True)
        tf_case(f"{short}/nt1/hits-off", loss, t1, remove=False, go="random")
        tf_case(f"{short}/nt1/mean", loss, t1, reduction="mean")
        tf_case(f"{short}/nt1/sum-go", loss, t1, reduction="sum", go=np.array(0.5))
        # num_true 2 (target 1/2 each), repeated labels in a row, hits in both columns
        t2 = sampled_tensors(12, 5, 5, 2, [0, 11, 4, 4, 8, 2, 6], labels=[[0, 1], [4, 4], [2, 11], [9, 10], [8, 6]])
        tf_case(f"{short}/nt2", loss, t2, num_true=2)
        tf_case(f"{short}/nt2/hits-on", loss, t2, num_true=2, remove=True, go="random")
        tf_case(f"{short}/nt2/hits-off", loss, t2, num_true=2, remove=False)
        # num_true 3, a larger vocabulary
        t3 = sampled_tensors(50, 8, 7, 3, list(rng.choice(50, 12, replace=False)))
        tf_case(f"{short}/nt3", loss, t3, num_true=3, remove=True)
        tf_case(f"{short}/nt3/hits-off", loss, t3, num_true=3, remove=False)
        # one example, one sample
        tf_case(f"{short}/one", loss, sampled_tensors(3, 2, 1, 1, [2], labels=[[0]]))
        # errors: the reference's
        te = sampled_tensors(6, 3, 2, 1, [1, 2], labels=[[0], [6]])
        tf_case(f"{short}/error/label-range", loss, te)
        te = sampled_tensors(6, 3, 2, 1, [1, 7], labels=[[0], [3]])
        tf_case(f"{short}/error/candidate-range", loss, te)
        if short == "ssm":
            # labels with fewer columns than num_true: compute_accidental_hits refuses them (nce_loss
            # without hit removal broadcasts the flattened labels as one row instead; losslab refuses)
            te = sampled_tensors(6, 3, 2, 1, [1, 2], labels=[[0], [3]])
            tf_case(f"{short}/error/num-true", loss, te, num_true=2)


def main():
    gen_asm()
    gen_sampled()
    write(OUT, GENERATOR, versions(torch=torch.__version__, tensorflow=tf.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
