#!/usr/bin/env python3
"""Golden cases for losslab's metric-learning losses, from pytorch-metric-learning.

    ~/refenv/bin/python scripts/golden/metric.py

Writes crates/losslab-registry/tests/golden/metric.json in the format of
scripts/golden/README.md:

- pml:arc_face, pml:cos_face, pml:sphere_face: `ArcFaceLoss`, `CosFaceLoss`,
  `SphereFaceLoss(num_classes, embedding_size, margin=..., scale=...)` with the
  class matrix loaded as float64 (`loss.W.data = W`, not `copy_` into the float32
  parameter, which would round it; pml's `cast_types` keeps W in the embeddings'
  dtype);
  gradients by autograd w.r.t. `embeddings` and `loss.W` (W's `.grad`).
- pml:sup_con, pml:multi_similarity, pml:circle: `SupConLoss`, `MultiSimilarityLoss`,
  `CircleLoss` with their default distance (CosineSimilarity) and no miner (every
  pair of the batch by its labels); gradients w.r.t. `embeddings`. Label sets with
  classes of one sample (anchors without positives), one class (no negatives), a
  single sample (no pairs: pml's zero loss).
- pml:lifted_structure, pml:generalized_lifted_structure, pml:n_pairs:
  `LiftedStructureLoss`, `GeneralizedLiftedStructureLoss` (default distance
  `LpDistance()`), `NPairsLoss` (default `DotProductSimilarity()`), no miner; the
  option `normalize_embeddings` is the distance's (`distance=LpDistance(
  normalize_embeddings=...)` / `DotProductSimilarity(...)`), given only when the
  case sets it. Batches of at most 25 rows (torch.cdist's direct computation) and
  one of 40 (its matrix-product form), ties (equal embeddings within and across
  classes: zero distances), the relu inactive, N-pairs' label order (unsorted and
  negative labels, singleton classes left out).

Conventions beyond the README:
- `reduction` null is pml's own result: the loss's default reducer (MeanReducer for
  these). `sum` is the loss built with `reducer=SumReducer()`, `mean` with
  `MeanReducer()`; `none` is the per-element losses pml's reducer receives
  (`reducer=DoNothingReducer()`, its loss_dict's `losses`).
- Inputs are float32-exact (so each case also runs in float32) unless noted.
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import pytorch_metric_learning  # noqa: E402
from pytorch_metric_learning import distances, losses, reducers  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "metric.json")
GENERATOR = "scripts/golden/metric.py"
rng = np.random.default_rng(20261205)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


REDUCERS = {None: None, "sum": reducers.SumReducer, "mean": reducers.MeanReducer, "none": reducers.DoNothingReducer}
FACE = {"pml:arc_face": losses.ArcFaceLoss, "pml:cos_face": losses.CosFaceLoss, "pml:sphere_face": losses.SphereFaceLoss}


def run_loss(obj, emb, labels, reduction):
    out = obj(emb, labels)
    if reduction == "none":
        out = out["loss"]["losses"]
        if torch.is_tensor(out):
            out = out.reshape(-1)  # MultiSimilarity and Circle keep an (N, 1) column: flattened
    return out


def face_case(cid, loss, tensors, options=None, reduction=None, go=None):
    options = options or {}
    emb = torch.tensor(tensors["embeddings"], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(tensors["labels"], dtype=torch.int64)
    W = np.asarray(tensors["W"])
    kw = dict(options)
    if REDUCERS[reduction] is not None:
        kw["reducer"] = REDUCERS[reduction]()
    try:
        obj = FACE[loss](num_classes=W.shape[1] if W.ndim == 2 else 1, embedding_size=W.shape[0] if W.ndim == 2 else 1, **kw)
        obj.W.data = torch.tensor(W, dtype=torch.float64)
        out = run_loss(obj, emb, labels, reduction)
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    if go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    ge, gw = torch.autograd.grad(out, [emb, obj.W], gt)
    gd = {"embeddings": ge.numpy(), "W": gw.numpy()}
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), gd, None))


def away_from_kinks(emb, W, labels, face, margin):
    """Whether every target cosine is away from ±1 and, for ArcFace/SphereFace,
    from the branch points (θ = π − m; θ = k π / m)."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    w = W / np.linalg.norm(W, axis=0, keepdims=True)
    c = np.sum(e * w[:, labels].T, axis=1)
    th = np.arccos(np.clip(c, -1, 1))
    if np.any(np.abs(c) > 0.999):
        return False
    if face == "arc":
        return bool(np.all(np.abs(th - (np.pi - np.radians(margin))) > 1e-3))
    if face == "sphere":
        m = int(margin)
        r = th / (np.pi / m)
        return bool(np.all(np.abs(r - np.round(r)) > 1e-3))
    return True


def face_inputs(n, d, c, face, margin, scale=1.0, labels=None):
    while True:
        emb = randn(n, d, scale=scale)
        W = randn(d, c)
        lab = rng.integers(0, c, size=n) if labels is None else np.asarray(labels)
        if away_from_kinks(emb, W, lab, face, margin):
            return {"embeddings": emb, "labels": lab, "W": W}


def gen_face():
    for loss, face, default_margin in [("pml:arc_face", "arc", 28.6), ("pml:cos_face", "cos", 0.35), ("pml:sphere_face", "sphere", 4)]:
        short = loss.split(":")[1]
        # defaults, a small scale for the face losses whose default saturates
        t = face_inputs(8, 5, 4, face, default_margin)
        face_case(f"{short}/defaults", loss, t)
        opts = {"arc": [{"margin": 10.0, "scale": 4.0}, {"margin": 45.0, "scale": 2.0}, {"margin": 120.0, "scale": 1.5}],
                "cos": [{"margin": 0.1, "scale": 4.0}, {"margin": 0.6, "scale": 2.0}, {"margin": -0.2, "scale": 8.0}],
                "sphere": [{"margin": 1, "scale": 1.0}, {"margin": 2, "scale": 0.5}, {"margin": 3, "scale": 0.7}, {"margin": 4.7, "scale": 0.3}]}[face]
        for o in opts:
            t = face_inputs(7, 4, 3, face, o["margin"])
            tag = "-".join(f"{k}{v}" for k, v in o.items())
            face_case(f"{short}/{tag}", loss, t, o)
            face_case(f"{short}/{tag}/sum", loss, t, o, "sum", np.array(-2.0))
            face_case(f"{short}/{tag}/none", loss, t, o, "none", "random")
        o = opts[0]
        # a class no sample has, one sample, large embeddings, many classes
        t = face_inputs(5, 3, 6, face, o["margin"], labels=[0, 0, 2, 2, 5])
        face_case(f"{short}/unused-classes", loss, t, o)
        t = face_inputs(1, 3, 2, face, o["margin"])
        face_case(f"{short}/one", loss, t, o, "mean")
        t = face_inputs(6, 4, 3, face, o["margin"], scale=20.0)
        face_case(f"{short}/large-emb", loss, t, o)
        t = face_inputs(32, 16, 10, face, o["margin"], scale=0.5)
        face_case(f"{short}/n32", loss, t, o, None, np.array(0.5))
        # the defaults' scale (64) on a larger batch: saturated softmax
        t = face_inputs(16, 8, 5, face, default_margin)
        face_case(f"{short}/defaults-n16", loss, t)
        # errors: a label out of range, W of the wrong width
        t = face_inputs(3, 2, 2, face, o["margin"])
        t["labels"] = np.array([0, 1, 2])
        face_case(f"{short}/error/label", loss, t, o)
        face_case(f"{short}/error/labels-len", loss, {"embeddings": randn(3, 2), "labels": np.array([0, 1]), "W": randn(2, 2)}, o)


PAIR = {"pml:sup_con": losses.SupConLoss, "pml:multi_similarity": losses.MultiSimilarityLoss, "pml:circle": losses.CircleLoss,
        "pml:lifted_structure": losses.LiftedStructureLoss, "pml:generalized_lifted_structure": losses.GeneralizedLiftedStructureLoss,
        "pml:n_pairs": losses.NPairsLoss}
# the losses whose distance takes the option normalize_embeddings, and that distance
DISTANCE = {"pml:lifted_structure": distances.LpDistance, "pml:generalized_lifted_structure": distances.LpDistance, "pml:n_pairs": distances.DotProductSimilarity}


def pair_case(cid, loss, tensors, options=None, reduction=None, go=None):
    options = options or {}
    emb = torch.tensor(tensors["embeddings"], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(tensors["labels"], dtype=torch.int64)
    kw = dict(options)
    if REDUCERS[reduction] is not None:
        kw["reducer"] = REDUCERS[reduction]()
    if "normalize_embeddings" in kw:
        kw["distance"] = DISTANCE[loss](normalize_embeddings=kw.pop("normalize_embeddings"))
    try:
        obj = PAIR[loss](**kw)
        out = run_loss(obj, emb, labels, reduction)
        if not torch.is_tensor(out):
            raise RuntimeError(f"pml returned {out!r}")
    except Exception as e:  # the reference raised
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    if go == "random":
        go = randn(*tuple(out.shape))
    gt = torch.ones_like(out) if go is None else torch.tensor(go, dtype=torch.float64)
    (ge,) = torch.autograd.grad(out, [emb], gt, allow_unused=True)
    if ge is None:
        ge = torch.zeros_like(emb)
    CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, go), go, out.detach().numpy(), {"embeddings": ge.numpy()}, None))


def gen_pairs():
    opts = {"pml:sup_con": [{"temperature": 0.5}, {"temperature": 0.07}, {"temperature": 2.0}],
            "pml:multi_similarity": [{"alpha": 1.0, "beta": 5.0, "base": 0.2}, {"alpha": 4.0, "beta": 20.0, "base": 0.6}, {"alpha": 0.5, "beta": 2.0, "base": -0.3}],
            "pml:circle": [{"m": 0.25, "gamma": 4.0}, {"m": 0.1, "gamma": 16.0}, {"m": 0.5, "gamma": 1.0}]}
    for loss in ["pml:sup_con", "pml:multi_similarity", "pml:circle"]:
        short = loss.split(":")[1]
        e = randn(10, 6)
        lab = np.array([0, 1, 2, 0, 1, 2, 0, 3, 3, 1])
        pair_case(f"{short}/defaults", loss, {"embeddings": e, "labels": lab})
        pair_case(f"{short}/defaults/sum", loss, {"embeddings": e, "labels": lab}, None, "sum", np.array(0.5))
        pair_case(f"{short}/defaults/mean", loss, {"embeddings": e, "labels": lab}, None, "mean")
        pair_case(f"{short}/defaults/none", loss, {"embeddings": e, "labels": lab}, None, "none", "random")
        for o in opts[loss]:
            tag = "-".join(f"{k}{v}" for k, v in o.items())
            e = randn(8, 4, scale=2.0)
            lab = rng.integers(0, 3, size=8)
            pair_case(f"{short}/{tag}", loss, {"embeddings": e, "labels": lab}, o)
            pair_case(f"{short}/{tag}/none", loss, {"embeddings": e, "labels": lab}, o, "none", "random")
        o = opts[loss][0]
        # classes of one sample: anchors without positives
        e = randn(7, 5)
        pair_case(f"{short}/singletons", loss, {"embeddings": e, "labels": np.array([0, 0, 1, 2, 3, 3, 4])}, o)
        pair_case(f"{short}/singletons/none", loss, {"embeddings": e, "labels": np.array([0, 0, 1, 2, 3, 3, 4])}, o, "none", "random")
        # every sample its own class: no positives at all
        pair_case(f"{short}/no-positives", loss, {"embeddings": randn(5, 3), "labels": np.arange(5)}, o)
        # one class: no negatives
        pair_case(f"{short}/no-negatives", loss, {"embeddings": randn(4, 3), "labels": np.zeros(4, dtype=np.int64)}, o)
        # two samples, one pair of each kind; a single sample (no pairs)
        pair_case(f"{short}/two-same", loss, {"embeddings": randn(2, 3), "labels": np.array([1, 1])}, o)
        pair_case(f"{short}/two-diff", loss, {"embeddings": randn(2, 3), "labels": np.array([1, 2])}, o)
        pair_case(f"{short}/three", loss, {"embeddings": randn(3, 3), "labels": np.array([5, 9, 5])}, o)
        pair_case(f"{short}/one", loss, {"embeddings": randn(1, 3), "labels": np.array([0])}, o)
        # a larger batch, negative labels
        pair_case(f"{short}/n40", loss, {"embeddings": randn(40, 8), "labels": rng.integers(-3, 5, size=40)}, None, None, np.array(-2.0))
        # errors: labels of another length
        pair_case(f"{short}/error/labels-len", loss, {"embeddings": randn(3, 2), "labels": np.array([0, 1])}, o)


def gen_lifted():
    opts = [{"neg_margin": 0.5, "pos_margin": 0.1}, {"neg_margin": 2.0, "pos_margin": 0.3}, {"neg_margin": 1.5, "pos_margin": 0.05, "normalize_embeddings": False}]
    for loss in ["pml:lifted_structure", "pml:generalized_lifted_structure"]:
        short = loss.split(":")[1]
        e = randn(10, 6)
        lab = np.array([0, 1, 2, 0, 1, 2, 0, 3, 3, 1])
        t = {"embeddings": e, "labels": lab}
        pair_case(f"{short}/defaults", loss, t)
        pair_case(f"{short}/defaults/sum", loss, t, None, "sum", np.array(0.5))
        pair_case(f"{short}/defaults/mean", loss, t, None, "mean")
        pair_case(f"{short}/defaults/none", loss, t, None, "none", "random")
        pair_case(f"{short}/defaults/normalize-true", loss, t, {"normalize_embeddings": True})
        for o in opts:
            tag = "-".join(f"{k}{v}" for k, v in o.items())
            e = randn(8, 4, scale=0.6)
            lab = rng.integers(0, 3, size=8)
            pair_case(f"{short}/{tag}", loss, {"embeddings": e, "labels": lab}, o)
            pair_case(f"{short}/{tag}/none", loss, {"embeddings": e, "labels": lab}, o, "none", "random")
        o = opts[0]
        e = randn(7, 5)
        sing = np.array([0, 0, 1, 2, 3, 3, 4])
        pair_case(f"{short}/singletons", loss, {"embeddings": e, "labels": sing}, o)
        pair_case(f"{short}/singletons/none", loss, {"embeddings": e, "labels": sing}, o, "none", "random")
        pair_case(f"{short}/no-positives", loss, {"embeddings": randn(5, 3), "labels": np.arange(5)}, o)
        pair_case(f"{short}/no-negatives", loss, {"embeddings": randn(4, 3), "labels": np.zeros(4, dtype=np.int64)}, o)
        pair_case(f"{short}/two-same", loss, {"embeddings": randn(2, 3), "labels": np.array([1, 1])}, o)
        pair_case(f"{short}/two-diff", loss, {"embeddings": randn(2, 3), "labels": np.array([1, 2])}, o)
        pair_case(f"{short}/three", loss, {"embeddings": randn(3, 3), "labels": np.array([5, 9, 5])}, o)
        pair_case(f"{short}/one", loss, {"embeddings": randn(1, 3), "labels": np.array([0])}, o)
        # ties: equal embeddings within a class and across classes (zero distances)
        e = randn(6, 4)
        e[1] = e[0]
        e[4] = e[2]
        tie = np.array([0, 0, 1, 2, 1, 2])
        pair_case(f"{short}/ties", loss, {"embeddings": e, "labels": tie})
        pair_case(f"{short}/ties/none", loss, {"embeddings": e, "labels": tie}, None, "none", "random")
        # the relu inactive everywhere (every loss 0): a negative neg_margin, far classes
        e = f32(np.array([[1, 0.01], [1, -0.02], [-1, 0.03], [-1, -0.01]]))
        pair_case(f"{short}/relu-inactive", loss, {"embeddings": e, "labels": np.array([0, 0, 1, 1])}, {"neg_margin": -3.0, "pos_margin": 0.5})
        # a larger batch (cdist's matrix-product form above 25 rows), negative labels
        pair_case(f"{short}/n40", loss, {"embeddings": randn(40, 8), "labels": rng.integers(-3, 5, size=40)}, None, None, np.array(-2.0))
        pair_case(f"{short}/error/labels-len", loss, {"embeddings": randn(3, 2), "labels": np.array([0, 1])}, o)


def gen_npairs():
    loss, short = "pml:n_pairs", "n_pairs"
    e = randn(10, 6)
    lab = np.array([3, 1, 2, 3, 1, 2, 0, 5, 5, 1])
    t = {"embeddings": e, "labels": lab}
    pair_case(f"{short}/defaults", loss, t)
    pair_case(f"{short}/defaults/sum", loss, t, None, "sum", np.array(0.5))
    pair_case(f"{short}/defaults/mean", loss, t, None, "mean")
    pair_case(f"{short}/defaults/none", loss, t, None, "none", "random")
    o = {"normalize_embeddings": False}
    e = randn(9, 4, scale=0.7)
    lab = np.array([2, -1, 2, 0, -1, 0, 2, 7, 0])
    pair_case(f"{short}/raw", loss, {"embeddings": e, "labels": lab}, o)
    pair_case(f"{short}/raw/none", loss, {"embeddings": e, "labels": lab}, o, "none", "random")
    pair_case(f"{short}/normalize-true", loss, {"embeddings": e, "labels": lab}, {"normalize_embeddings": True}, "none", "random")
    pair_case(f"{short}/singletons", loss, {"embeddings": randn(7, 5), "labels": np.array([4, 4, 1, 2, 3, 3, 0])})
    pair_case(f"{short}/one-pair", loss, {"embeddings": randn(4, 3), "labels": np.array([1, 2, 1, 3])})
    pair_case(f"{short}/no-positives", loss, {"embeddings": randn(5, 3), "labels": np.arange(5)})
    pair_case(f"{short}/one-class", loss, {"embeddings": randn(4, 3), "labels": np.zeros(4, dtype=np.int64)})
    pair_case(f"{short}/one", loss, {"embeddings": randn(1, 3), "labels": np.array([0])})
    e = randn(6, 4)
    e[3] = e[0]
    pair_case(f"{short}/ties", loss, {"embeddings": e, "labels": np.array([0, 1, 0, 1, 2, 2])}, None, "none", "random")
    pair_case(f"{short}/n40", loss, {"embeddings": randn(40, 8), "labels": rng.integers(-3, 9, size=40)}, None, None, np.array(-2.0))
    pair_case(f"{short}/error/labels-len", loss, {"embeddings": randn(3, 2), "labels": np.array([0, 1])})


def main():
    gen_face()
    gen_pairs()
    gen_lifted()
    gen_npairs()
    write(OUT, GENERATOR, versions(torch=torch.__version__, pytorch_metric_learning=pytorch_metric_learning.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
