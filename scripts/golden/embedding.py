#!/usr/bin/env python3
"""Golden cases for losslab's embedding & ranking losses, from the real references.

    ~/refenv/bin/python scripts/golden/embedding.py

Writes crates/losslab-registry/tests/golden/embedding.json in the format of
scripts/golden/README.md:

- torch:cosine_embedding_loss, torch:triplet_margin_loss,
  torch:triplet_margin_with_distance_loss (PyTorch, float64 autograd);
- keras:cosine_similarity (Keras 3 on the JAX backend, jax.vjp in float64);
- optax:ntxent, optax:triplet_margin_loss, optax:ranking_softmax_loss
  (optax on JAX with jax_enable_x64, jax.vjp).

Conventions beyond the README:
- `torch:triplet_margin_with_distance_loss` takes the option `distance_function`,
  a string: "pairwise" (PyTorch's None, i.e. torch.pairwise_distance) or "cosine"
  (`lambda x, y: 1.0 - F.cosine_similarity(x, y, dim=-1)`; PyTorch's docs write
  `F.cosine_similarity(x, y)`, whose default dim=1 is the same axis for the 2-D
  inputs of these cases).
- `optax:ranking_softmax_loss`: `reduction` is optax's `reduce_fn` ("mean" =
  jnp.mean, the default; "sum" = jnp.sum; "none" = None); `where` is a bool tensor.
- Non-finite option values (`p` = inf) are the strings "inf" / "-inf".
- Keras and optax cases other than ranking have `reduction: null` (the reference's
  own output). Gradients: every float tensor the reference differentiates
  (torch: input1/input2, anchor/positive/negative; keras: y_true and y_pred;
  optax: embeddings; anchors/positives/negatives; logits and labels, not weights).
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import T, make_case, is_f32_exact, first_line, enc_float  # noqa: E402  (helpers only; generate.main() is not run)
from common import versions, write  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)
import keras  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "embedding.json")
GENERATOR = "scripts/golden/embedding.py"
rng = np.random.default_rng(20250301)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def dtypes(tensors, go):
    fl = [v for v in tensors.values() if np.asarray(v).dtype.kind == "f"]
    if go is not None:
        fl.append(go)
    return ["float32", "float64"] if all(is_f32_exact(v) for v in fl) else ["float64"]


_go_count = [0]


def pick_go(shape, go):
    """'auto': a random upstream gradient for every other unreduced case, 0.5 / -2.0 for
    every third scalar case, ones (None) otherwise."""
    if not (isinstance(go, str) and go == "auto"):
        return go
    _go_count[0] += 1
    if len(shape) > 0:
        return randn(*shape) if _go_count[0] % 2 == 0 else None
    return np.array(0.5 if _go_count[0] % 6 == 0 else -2.0) if _go_count[0] % 3 == 0 else None


F64_ONLY = set()  # ids whose float32 run would differ by design (optax's norm guard is the dtype's epsilon)


def add(cid, loss, tensors, options, reduction, go, expected, grads, error=None):
    assert all(c["id"] != cid for c in CASES), cid
    # non-finite option values (p = inf) are written as the strings "inf" / "-inf", like tensor data
    options = {k: (enc_float(v) if isinstance(v, float) else v) for k, v in options.items()}
    dts = ["float64"] if cid in F64_ONLY else dtypes(tensors, go)
    CASES.append(make_case(cid, loss, tensors, options, reduction, dts, go, expected, grads, error))


# --------------------------------------------------------------------------------------
# torch


def torch_case(cid, loss, fn, tensors, diff, options, reduction="mean", go="auto"):
    t = {k: torch.tensor(v, dtype=torch.float64 if np.asarray(v).dtype.kind == "f" else None) for k, v in tensors.items()}
    for k in diff:
        t[k].requires_grad_(True)
    try:
        out = fn(t, options, reduction)
    except Exception as e:  # the reference raised
        add(cid, loss, tensors, options, reduction, None, None, {}, first_line(e))
        return
    g = pick_go(tuple(out.shape), go)
    gt = torch.ones_like(out) if g is None else torch.tensor(g, dtype=torch.float64)
    grads = torch.autograd.grad(out, [t[k] for k in diff], gt, allow_unused=True)
    gd = {k: (np.zeros(np.shape(tensors[k])) if gr is None else gr.detach().numpy()) for k, gr in zip(diff, grads)}
    add(cid, loss, tensors, options, reduction, g, out.detach().numpy(), gd)


def cel(t, o, r):
    return F.cosine_embedding_loss(t["input1"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=r)


def tml(t, o, r):
    return F.triplet_margin_loss(t["anchor"], t["positive"], t["negative"], margin=o.get("margin", 1.0), p=o.get("p", 2.0),
                                 eps=o.get("eps", 1e-6), swap=o.get("swap", False), reduction=r)


DIST = {
    "pairwise": None,
    "cosine": lambda x, y: 1.0 - F.cosine_similarity(x, y, dim=-1),
}


def tmwdl(t, o, r):
    return F.triplet_margin_with_distance_loss(t["anchor"], t["positive"], t["negative"],
                                               distance_function=DIST[o.get("distance_function", "pairwise")],
                                               margin=o.get("margin", 1.0), swap=o.get("swap", False), reduction=r)


def gen_torch():
    L = "torch:cosine_embedding_loss"
    D = ("input1", "input2")
    x1, x2 = randn(6, 4), randn(6, 4)
    y = f32(rng.choice([-1.0, 1.0], size=6))
    for r in ("mean", "sum", "none"):
        for m in (0.0, 0.3, -0.2):
            torch_case(f"{L}/random/m{m}/{r}", L, cel, {"input1": x1, "input2": x2, "target": y}, D, {"margin": m}, r)
    torch_case(f"{L}/defaults", L, cel, {"input1": x1, "input2": x2, "target": y}, D, {}, "mean")
    torch_case(f"{L}/1d/pos", L, cel, {"input1": randn(5), "input2": randn(5), "target": np.array(1.0)}, D, {"margin": 0.0}, "mean")
    torch_case(f"{L}/1d/neg", L, cel, {"input1": randn(5), "input2": randn(5), "target": np.array(-1.0)}, D, {"margin": -0.5}, "none")
    z1 = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [0.5, -0.25, 2.0], [0.5, 1.0, -1.5]])
    z2 = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [3.0, 1.0, 1.0], [0.5, -0.25, 2.0], [1.0, 1.5, -1.0]])
    # (the last, ordinary pair gives each gradient tensor an O(1) scale: the gradients of identical pairs are
    # cancellation residues of order 1e-14 that no two implementations round alike)
    for tgt, name in ((np.array([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0]), "a"), (np.array([-1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]), "b")):
        for r in ("none", "sum"):
            torch_case(f"{L}/zero-and-identical-vectors/{name}/{r}", L, cel, {"input1": z1, "input2": z2, "target": tgt}, D, {"margin": 0.0}, r,
                       go=None if r == "sum" else randn(7))
    # targets other than +-1 contribute 0 (and still count in the mean)
    torch_case(f"{L}/other-targets", L, cel, {"input1": x1, "input2": x2, "target": np.array([0.0, 2.0, 0.5, -1.0, 1.0, -2.0])}, D, {"margin": 0.1}, "mean")
    # cos - margin = 0 exactly (a zero vector, margin 0): no gradient through the clamp
    torch_case(f"{L}/margin-met", L, cel, {"input1": z1[:1], "input2": z2[:1], "target": np.array([-1.0])}, D, {"margin": 0.0}, "sum")
    torch_case(f"{L}/empty/mean", L, cel, {"input1": np.zeros((0, 3)), "input2": np.zeros((0, 3)), "target": np.zeros(0)}, D, {"margin": 0.0}, "mean")
    torch_case(f"{L}/error/3d", L, cel, {"input1": randn(2, 3, 4), "input2": randn(2, 3, 4), "target": np.ones(2)}, D, {"margin": 0.0}, "mean")
    torch_case(f"{L}/error/2d-target", L, cel, {"input1": randn(2, 3), "input2": randn(2, 3), "target": np.ones((2, 1))}, D, {"margin": 0.0}, "mean")
    torch_case(f"{L}/error/target-length", L, cel, {"input1": randn(2, 3), "input2": randn(2, 3), "target": np.ones(3)}, D, {"margin": 0.0}, "mean")
    torch_case(f"{L}/error/1d-input-1d-target", L, cel, {"input1": randn(3), "input2": randn(3), "target": np.ones(3)}, D, {"margin": 0.0}, "mean")

    L = "torch:triplet_margin_loss"
    D = ("anchor", "positive", "negative")
    a, p, n = randn(6, 5), randn(6, 5), randn(6, 5)
    base = {"anchor": a, "positive": p, "negative": n}
    full = lambda **kw: {"margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False, **kw}
    torch_case(f"{L}/defaults", L, tml, base, D, {}, "mean")
    for r in ("mean", "sum", "none"):
        torch_case(f"{L}/random/{r}", L, tml, base, D, full(), r)
        torch_case(f"{L}/swap/{r}", L, tml, base, D, full(swap=True, margin=2.0), r)
    for pp in (1.0, 3.0, 1.5, 0.5, 0.0, float("inf"), float("-inf"), -1.0):
        torch_case(f"{L}/p{pp}", L, tml, base, D, full(p=pp, margin=2.0), "none")
    for m in (0.25, 3.0):
        torch_case(f"{L}/margin{m}", L, tml, base, D, full(margin=m), "mean")
    torch_case(f"{L}/eps0", L, tml, base, D, full(eps=0.0, margin=1.5), "sum")
    torch_case(f"{L}/eps0.1", L, tml, base, D, full(eps=0.1, margin=1.5), "none")
    # zero distances: anchor == positive, eps = 0 (the norm's gradient at 0 is 0)
    az = randn(4, 3)
    nz = az.copy()
    nz[1] += 2.0
    nz[3] += 0.5
    for pp in (2.0, 1.0, 3.0, 1.5, 0.5, float("inf")):
        torch_case(f"{L}/zero-distance/p{pp}", L, tml, {"anchor": az, "positive": az.copy(), "negative": nz}, D, full(eps=0.0, p=pp), "none", go=randn(4))
    torch_case(f"{L}/identical/default-eps", L, tml, {"anchor": az, "positive": az.copy(), "negative": az.copy()}, D, full(), "none", go=randn(4))
    # margin exactly met: 0.5 - 1.5 + 1 = 0 -> loss 0, no gradient (clamp_min)
    met = {"anchor": np.array([[0.0, 0.0], [1.0, 1.0]]), "positive": np.array([[0.0, 0.5], [1.0, 1.0]]), "negative": np.array([[0.0, 1.5], [1.0, 3.0]])}
    torch_case(f"{L}/margin-met", L, tml, met, D, full(eps=0.0), "sum")
    # swap tie: d(a, n) = d(p, n) -> the gradient splits in halves (torch.minimum)
    tie = {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[1.0, 1.0]]), "negative": np.array([[1.0, 0.0]])}
    torch_case(f"{L}/swap-tie", L, tml, tie, D, full(eps=0.0, swap=True, margin=2.0), "sum")
    torch_case(f"{L}/1d", L, tml, {"anchor": randn(4), "positive": randn(4), "negative": randn(4)}, D, full(margin=2.0), "mean")
    torch_case(f"{L}/0d", L, tml, {"anchor": randn(), "positive": randn(), "negative": randn()}, D, full(margin=2.0), "none")
    torch_case(f"{L}/3d", L, tml, {"anchor": randn(2, 3, 4), "positive": randn(2, 3, 4), "negative": randn(2, 3, 4)}, D, full(margin=2.0), "none")
    torch_case(f"{L}/empty", L, tml, {"anchor": np.zeros((0, 3)), "positive": np.zeros((0, 3)), "negative": np.zeros((0, 3))}, D, full(), "mean")
    torch_case(f"{L}/error/margin0", L, tml, base, D, full(margin=0.0), "mean")
    torch_case(f"{L}/error/margin-negative", L, tml, base, D, full(margin=-1.0), "mean")
    torch_case(f"{L}/error/ndim", L, tml, {"anchor": a, "positive": p[0], "negative": n}, D, full(), "mean")

    L = "torch:triplet_margin_with_distance_loss"
    full = lambda **kw: {"distance_function": "pairwise", "margin": 1.0, "swap": False, **kw}
    torch_case(f"{L}/defaults", L, tmwdl, base, D, {}, "mean")
    for dist in ("pairwise", "cosine"):
        for r in ("mean", "sum", "none"):
            torch_case(f"{L}/{dist}/{r}", L, tmwdl, base, D, full(distance_function=dist), r)
        torch_case(f"{L}/{dist}/swap", L, tmwdl, base, D, full(distance_function=dist, swap=True, margin=0.5), "none")
        torch_case(f"{L}/{dist}/margin2", L, tmwdl, base, D, full(distance_function=dist, margin=2.0), "sum")
        torch_case(f"{L}/{dist}/1d", L, tmwdl, {"anchor": randn(4), "positive": randn(4), "negative": randn(4)}, D,
                   full(distance_function=dist, margin=2.0), "mean")
        torch_case(f"{L}/{dist}/3d", L, tmwdl, {"anchor": randn(2, 3, 4), "positive": randn(2, 3, 4), "negative": randn(2, 3, 4)}, D,
                   full(distance_function=dist, margin=1.5), "none")
        torch_case(f"{L}/{dist}/error/margin0", L, tmwdl, base, D, full(distance_function=dist, margin=0.0), "mean")
    cz = {"anchor": np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]),
          "positive": np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.5, 0.0]]),
          "negative": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])}
    torch_case(f"{L}/cosine/zero-vectors", L, tmwdl, cz, D, full(distance_function="cosine", margin=1.5), "none", go=randn(4))
    torch_case(f"{L}/cosine/zero-vectors-swap", L, tmwdl, cz, D, full(distance_function="cosine", margin=1.5, swap=True), "sum")
    tiny = {k: v * 2.0 ** -30 for k, v in cz.items()}  # norms below cosine_similarity's eps = 1e-8
    torch_case(f"{L}/cosine/tiny-norms", L, tmwdl, tiny, D, full(distance_function="cosine", margin=1.5), "none", go=randn(4))
    torch_case(f"{L}/pairwise/identical", L, tmwdl, {"anchor": az, "positive": az.copy(), "negative": nz}, D, full(), "none", go=randn(4))
    torch_case(f"{L}/error/ndim", L, tmwdl, {"anchor": a, "positive": p[0], "negative": n}, D, full(), "mean")


# --------------------------------------------------------------------------------------
# keras and optax (JAX, float64)


def jax_case(cid, loss, fn, tensors, diff, options, reduction=None, go="auto"):
    static = {k: jnp.asarray(v) for k, v in tensors.items() if k not in diff}
    args = [jnp.asarray(tensors[k], dtype=jnp.float64) for k in diff]
    try:
        out, vjp = jax.vjp(lambda *xs: fn({**static, **dict(zip(diff, xs))}, options, reduction), *args)
        out = np.asarray(out)
    except Exception as e:
        add(cid, loss, tensors, options, reduction, None, None, {}, first_line(e))
        return
    g = pick_go(out.shape, go)
    ct = jnp.ones_like(out) if g is None else jnp.asarray(g, dtype=jnp.float64).reshape(out.shape)
    grads = vjp(ct)
    add(cid, loss, tensors, options, reduction, g, out, {k: np.asarray(v) for k, v in zip(diff, grads)})


def kcos(t, o, r):
    return keras.losses.cosine_similarity(t["y_true"], t["y_pred"], axis=o.get("axis", -1))


def ntx(t, o, r):
    return optax.losses.ntxent(t["embeddings"], t["labels"], temperature=o.get("temperature", 0.07))


def otml(t, o, r):
    return optax.losses.triplet_margin_loss(t["anchors"], t["positives"], t["negatives"], axis=o.get("axis", -1),
                                            norm_degree=o.get("norm_degree", 2), margin=o.get("margin", 1.0), eps=o.get("eps", 1e-6))


REDUCE = {"mean": jnp.mean, "sum": jnp.sum, "none": None}


def rsl(t, o, r):
    where = None
    if "where" in t:
        where = jnp.asarray(t["where"]) != 0  # recorded as int64 0/1 (the golden format has no bool tensors)
    return optax.losses.ranking_softmax_loss(t["logits"], t["labels"], where=where, weights=t.get("weights"),
                                             reduce_fn=REDUCE[r or "mean"])


def gen_jax():
    L = "keras:cosine_similarity"
    D = ("y_true", "y_pred")
    yt, yp = randn(5, 4), randn(5, 4)
    jax_case(f"{L}/defaults", L, kcos, {"y_true": yt, "y_pred": yp}, D, {})
    jax_case(f"{L}/axis-1", L, kcos, {"y_true": yt, "y_pred": yp}, D, {"axis": -1}, go=randn(5))
    jax_case(f"{L}/axis0", L, kcos, {"y_true": yt, "y_pred": yp}, D, {"axis": 0}, go=randn(4))
    jax_case(f"{L}/axis1", L, kcos, {"y_true": yt, "y_pred": yp}, D, {"axis": 1})
    jax_case(f"{L}/3d/axis1", L, kcos, {"y_true": randn(2, 3, 4), "y_pred": randn(2, 3, 4)}, D, {"axis": 1}, go=randn(2, 4))
    jax_case(f"{L}/3d/axis-2", L, kcos, {"y_true": randn(2, 3, 4), "y_pred": randn(2, 3, 4)}, D, {"axis": -2})
    jax_case(f"{L}/1d", L, kcos, {"y_true": randn(6), "y_pred": randn(6)}, D, {"axis": -1}, go=np.array(0.5))
    kz_t = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [2.0 ** -30, 0.0, 0.0], [3.0, 0.0, 4.0], [1.0, 1.0, 0.0]])
    kz_p = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [3.0, 0.0, 4.0], [-1.0, -1.0, 0.0]])
    jax_case(f"{L}/zero-tiny-identical-opposite", L, kcos, {"y_true": kz_t, "y_pred": kz_p}, D, {"axis": -1}, go=randn(5))
    jax_case(f"{L}/error/axis", L, kcos, {"y_true": yt, "y_pred": yp}, D, {"axis": 2})
    jax_case(f"{L}/error/shape", L, kcos, {"y_true": randn(5, 3), "y_pred": yp}, D, {"axis": -1})

    L = "optax:ntxent"
    D = ("embeddings",)
    e = randn(8, 6)
    lab = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    jax_case(f"{L}/defaults", L, ntx, {"embeddings": e, "labels": lab}, D, {})
    for tmp in (0.07, 0.5, 1.0, 2.0):
        jax_case(f"{L}/t{tmp}", L, ntx, {"embeddings": e, "labels": lab}, D, {"temperature": tmp})
    jax_case(f"{L}/uneven-groups", L, ntx, {"embeddings": e, "labels": np.array([5, 5, 5, 2, 2, 9, -1, -1])}, D, {"temperature": 0.3})
    jax_case(f"{L}/one-group", L, ntx, {"embeddings": e[:5], "labels": np.array([0, 0, 1, 0, 0])}, D, {"temperature": 0.2})
    ident = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    jax_case(f"{L}/identical", L, ntx, {"embeddings": ident, "labels": np.array([0, 0, 1, 1])}, D, {"temperature": 0.5})
    # a zero embedding's gradient is g / sqrt(eps) with eps = the dtype's epsilon: float64 only
    F64_ONLY.update({f"{L}/zero-embedding", f"{L}/norm-at-epsilon"})
    zero = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 1.0, -1.0], [1.0, 1.0, 1.0], [0.5, -2.0, 1.0]])
    jax_case(f"{L}/zero-embedding", L, ntx, {"embeddings": zero, "labels": np.array([0, 0, 1, 1, 0])}, D, {"temperature": 0.5})
    # ||e||^2 = 2^-52 = the float64 epsilon exactly (float64 only: float32's epsilon is 2^-23)
    tie = zero.copy()
    tie[0] = [2.0 ** -26, 0.0, 0.0]
    jax_case(f"{L}/norm-at-epsilon", L, ntx, {"embeddings": tie, "labels": np.array([0, 0, 1, 1, 0])}, D, {"temperature": 0.5})
    small = zero.copy()
    small[0] = [1e-4, 2e-4, 0.0]  # ||e||^2 = 5e-8 < float32's epsilon: float64 only
    jax_case(f"{L}/small-norm", L, ntx, {"embeddings": small, "labels": np.array([0, 0, 1, 1, 0])}, D, {"temperature": 0.5})
    jax_case(f"{L}/no-positives", L, ntx, {"embeddings": e[:4], "labels": np.array([0, 1, 2, 3])}, D, {})
    jax_case(f"{L}/go", L, ntx, {"embeddings": randn(6, 3), "labels": np.array([1, 2, 1, 2, 1, 2])}, D, {"temperature": 0.1}, go=np.array(-2.0))
    jax_case(f"{L}/error/labels-length", L, ntx, {"embeddings": e, "labels": lab[:5]}, D, {})
    jax_case(f"{L}/error/1d", L, ntx, {"embeddings": randn(4), "labels": np.array([0, 0, 1, 1])}, D, {})

    L = "optax:triplet_margin_loss"
    D = ("anchors", "positives", "negatives")
    a, p, n = randn(5, 4), randn(5, 4), randn(5, 4)
    base = {"anchors": a, "positives": p, "negatives": n}
    full = lambda **kw: {"axis": -1, "norm_degree": 2, "margin": 1.0, "eps": 1e-6, **kw}
    jax_case(f"{L}/defaults", L, otml, base, D, {})
    jax_case(f"{L}/random", L, otml, base, D, full(margin=2.0))
    for k in (1, 3, 4, 2.0, 1.5):
        jax_case(f"{L}/norm_degree{k}", L, otml, base, D, full(norm_degree=k, margin=2.0))
    jax_case(f"{L}/eps0", L, otml, base, D, full(eps=0.0, margin=1.5))
    jax_case(f"{L}/axis0", L, otml, {"anchors": randn(4, 3), "positives": randn(4, 3), "negatives": randn(4, 3)}, D, full(axis=0, margin=2.0))
    jax_case(f"{L}/3d/axis1", L, otml, {"anchors": randn(2, 3, 4), "positives": randn(2, 3, 4), "negatives": randn(2, 3, 4)}, D, full(axis=1, margin=2.0))
    jax_case(f"{L}/1d", L, otml, {"anchors": randn(4), "positives": randn(4), "negatives": randn(4)}, D, full(margin=3.0))
    met = {"anchors": np.array([[0.0, 0.0], [1.0, 1.0]]), "positives": np.array([[0.0, 0.5], [1.0, 1.0]]), "negatives": np.array([[0.0, 1.5], [1.0, 3.0]])}
    jax_case(f"{L}/margin-met", L, otml, met, D, full(eps=0.0))  # row 0 met exactly: gradient halved; row 1: zero distance, eps 0: NaN
    jax_case(f"{L}/zero-distance", L, otml, {"anchors": a, "positives": a.copy(), "negatives": n}, D, full(margin=3.0))
    jax_case(f"{L}/error/axis", L, otml, base, D, full(axis=2))

    L = "optax:ranking_softmax_loss"
    D = ("logits", "labels")
    s = randn(4, 5)
    y = f32(rng.integers(0, 3, size=(4, 5)))
    y[2] = 0.0  # a list without relevant items: loss 0
    for r in ("mean", "sum", "none"):
        jax_case(f"{L}/plain/{r}", L, rsl, {"logits": s, "labels": y}, D, {}, r)
    jax_case(f"{L}/defaults", L, rsl, {"logits": s, "labels": y}, D, {}, None)
    mask = (rng.random((4, 5)) < 0.7).astype(np.int64)
    mask[1] = 0  # a list with no valid item
    mask[0, 0] = 1
    for r in ("mean", "sum", "none"):
        jax_case(f"{L}/where/{r}", L, rsl, {"logits": s, "labels": y, "where": mask}, D, {}, r)
    w = f32(rng.uniform(0.1, 2.0, size=(4, 5)))
    for r in ("mean", "none"):
        jax_case(f"{L}/weights/{r}", L, rsl, {"logits": s, "labels": y, "weights": w}, D, {}, r)
        jax_case(f"{L}/where+weights/{r}", L, rsl, {"logits": s, "labels": y, "where": mask, "weights": w}, D, {}, r)
    jax_case(f"{L}/weights-broadcast", L, rsl, {"logits": s, "labels": y, "weights": w[0]}, D, {}, "sum")
    jax_case(f"{L}/all-masked/mean", L, rsl, {"logits": s, "labels": y, "where": np.zeros((4, 5), dtype=np.int64)}, D, {}, "mean")
    jax_case(f"{L}/1d", L, rsl, {"logits": np.array([2.0, 1.0, 3.0]), "labels": np.array([1.0, 0.0, 0.0])}, D, {}, "mean")
    jax_case(f"{L}/3d", L, rsl, {"logits": randn(2, 3, 4), "labels": f32(rng.random((2, 3, 4)))}, D, {}, "none")
    jax_case(f"{L}/large-logits", L, rsl, {"logits": np.array([[1000.0, -1000.0, 0.0], [50.0, 50.0, 50.0]]), "labels": np.array([[0.0, 1.0, 1.0], [1.0, 2.0, 0.0]])},
             D, {}, "sum")


def main():
    gen_torch()
    gen_jax()
    write(OUT, GENERATOR, versions(torch=torch.__version__, jax=jax.__version__, keras=keras.__version__, optax=optax.__version__), CASES)


if __name__ == "__main__":
    main()
