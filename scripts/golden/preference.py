#!/usr/bin/env python3
"""Golden cases for losslab's preference-optimisation losses (`trl:`).

    ~/refenv/bin/python scripts/golden/preference.py

Writes crates/losslab-registry/tests/golden/preference.json in the format of
scripts/golden/README.md, from TRL 1.16.0's own code:

- trl:dpo_loss: the REAL `DPOTrainer._compute_loss` (trl/trainer/dpo_trainer.py;
  TRL 1.16 has no `dpo_loss` method: the loss is inline there), on a trainer made
  with `object.__new__` and the attributes the method reads, a stand-in model
  whose `log_probs` put each sequence's log-probability in its first completion
  position (zeros elsewhere: the sum over the sequence is the value itself, so
  the gradient reaches the leaves), `precompute_ref_logps=True` with the
  reference log-probabilities as leaf tensors that require grad (their
  gradients are autograd's for the formula as written), a `completion_mask`
  with the given lengths (ipo, sigmoid_norm), and a stand-in accelerator
  (gather = identity). TRL returns the mean; its local `per_sequence_loss` is
  read at the method's return (`sys.settrace`) for the `none`/`sum` cases, and
  checked to average to the returned loss. The rewards (outputs) are TRL's
  logging lines `beta * logratios.detach()`, checked against TRL's logged means.
  Every loss_type but `sft` (the chosen tokens' NLL, not a function of the
  per-sequence log-probabilities). `alpha_divergence` only in float32: TRL's
  clamp table has no float64 entry (a KeyError in float64).
- trl:cpo_loss: the REAL `CPOTrainer.cpo_loss` (trl/experimental/cpo/cpo_trainer.py)
  on an `object.__new__` trainer; `none`/`sum` from its per-pair losses.
- trl:odds_ratio_loss: the REAL `ORPOTrainer.odds_ratio_loss`
  (trl/experimental/orpo/orpo_trainer.py); it casts its inputs to float32
  (`.float()`): the float64 truth is the same call with `torch.Tensor.float`
  made the identity for its duration (the float32 cases are unaffected).
- trl:kto_loss: the REAL `KTOTrainer._compute_loss` (trl/trainer/kto_trainer.py;
  TRL 1.16 has no `kto_loss` method: the loss is inline there) on an
  `object.__new__` trainer, like DPO's: a stand-in model whose `log_probs` carry
  each sequence's log-probability (the KL call, told apart by its wider
  `KL_input_ids`, gets the KL ones; TRL runs it under `no_grad`), the batch's
  `label`s interleaving the chosen and rejected completions (TRL splits them
  with `index_select`), `precompute_ref_logps=True` with `ref_logps` and
  `ref_KL_logps` built from leaf tensors that require grad, and a stand-in
  accelerator (gather = identity: one process). TRL returns `losses.nanmean()`;
  its locals `losses`, `kl`, `chosen_rewards`, `rejected_rewards` are read at the
  method's return (`sys.settrace`): `none` is `losses`, `sum` its `nansum`. The
  KL gradients are autograd's: zero (detached). `kl` of apo_zero_unpaired is
  TRL's `torch.zeros(1)`, written 0-d.

Every case is computed in float64 (the truth) and, when its inputs are
float32-exact, again in float32 with TRL, checked against the truth (rel 1e-4).
Deterministic: one seeded numpy Generator, consumed in a fixed order.
"""

import collections
import contextlib
import os
import sys
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import T, make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import trl  # noqa: E402
from trl.trainer.dpo_trainer import DPOTrainer  # noqa: E402
from trl.experimental.cpo.cpo_trainer import CPOTrainer  # noqa: E402
from trl.experimental.orpo.orpo_trainer import ORPOTrainer  # noqa: E402
from trl.trainer.kto_trainer import KTOTrainer  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "preference.json")
GENERATOR = "scripts/golden/preference.py"
rng = np.random.default_rng(20261217)
CASES = []
ACCEL = types.SimpleNamespace(device=torch.device("cpu"), gather_for_metrics=lambda x: x, gather=lambda x: x)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def uniform(shape, lo, hi):
    return f32(rng.uniform(lo, hi, shape))


# ---- DPO: DPOTrainer._compute_loss

class Model:
    """Stands in for the policy: its per-token log-probabilities carry the given
    per-sequence values in the first position."""

    training = True

    def __init__(self, logps, width):
        self.logps, self.width = logps, width

    def __call__(self, **kw):
        n = self.logps.shape[0]
        rest = torch.zeros(n, self.width - 1, dtype=self.logps.dtype)
        lp = torch.cat([self.logps.unsqueeze(1), rest], dim=1)
        z = torch.zeros(n, self.width, dtype=self.logps.dtype)
        return types.SimpleNamespace(log_probs=lp, entropy=z, mean_logits=z, is_top1=torch.zeros(n, self.width, dtype=torch.bool))


def capture_locals(fn, names):
    """Calls fn(); returns its result and the locals `names` of the innermost
    `_compute_loss` frame at its return."""
    seen = {}

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "_compute_loss":
            return None

        def local(frame, event, arg):
            if event == "return":
                for name in names:
                    if name in frame.f_locals:
                        seen[name] = frame.f_locals[name]
            return local
        return local

    sys.settrace(tracer)
    try:
        out = fn()
    finally:
        sys.settrace(None)
    return out, seen


def capture_local(fn, name):
    """capture_locals for one name."""
    out, seen = capture_locals(fn, [name])
    return out, seen.get(name)


def dpo_trl(t, o, lengths):
    c, r, rc, rr = t["chosen_logps"], t["rejected_logps"], t["ref_chosen_logps"], t["ref_rejected_logps"]
    b = c.shape[0]
    if lengths is None:
        nc = nr = np.ones(b, dtype=np.int64)
    else:
        nc, nr = lengths
    width = int(max(1, max(list(nc) + list(nr)) + 1))
    mask = np.zeros((2 * b, width + 1), dtype=np.int64)
    for i, n in enumerate(list(nc) + list(nr)):
        mask[i, 1:1 + int(n)] = 1
    tr = object.__new__(DPOTrainer)
    tr.model = Model(torch.cat([c, r]), width)
    tr.accelerator = ACCEL
    tr.aux_loss_enabled = False
    tr.ld_alpha = None
    tr.precompute_ref_logps = True
    tr.f_divergence_type = o.get("f_divergence_type", "reverse_kl")
    tr.f_alpha_divergence_coef = o.get("f_alpha_divergence_coef", 0.5)
    tr.loss_types = [o.get("loss_type", "sigmoid")]
    tr.loss_weights = [1.0]
    tr.beta = o.get("beta", 0.1)
    tr.label_smoothing = o.get("label_smoothing", 0.0)
    tr.use_weighting = False
    tr.args = types.SimpleNamespace(discopop_tau=o.get("discopop_tau", 0.05))
    tr._metrics = {"train": collections.defaultdict(list), "eval": collections.defaultdict(list)}
    tr._total_train_tokens = 0
    tr._tp_size = 1
    inputs = {
        "input_ids": torch.ones(2 * b, width + 1, dtype=torch.int64),
        "attention_mask": torch.ones(2 * b, width + 1, dtype=torch.int64),
        "completion_mask": torch.tensor(mask),
        "ref_chosen_logps": rc,
        "ref_rejected_logps": rr,
    }
    loss, per = capture_local(lambda: tr._compute_loss(tr.model, inputs, False), "per_sequence_loss")
    assert per is not None
    assert torch.allclose(per.mean(), loss, rtol=1e-6, atol=0, equal_nan=True), (per.mean(), loss)
    beta = tr.beta
    rewards = (beta * (c - rc).detach(), beta * (r - rr).detach())  # TRL's logging lines
    m = tr._metrics["train"]
    assert np.isclose(m["rewards/chosen"][0], rewards[0].mean().item(), rtol=1e-6, equal_nan=True)
    assert np.isclose(m["rewards/rejected"][0], rewards[1].mean().item(), rtol=1e-6, equal_nan=True)
    return per, {"chosen_rewards": rewards[0], "rejected_rewards": rewards[1]}


def cpo_trl(t, o, lengths):
    tr = object.__new__(CPOTrainer)
    tr.accelerator = ACCEL
    tr.beta = o.get("beta", 0.1)
    tr.label_smoothing = o.get("label_smoothing", 0.0)
    tr.loss_type = o.get("loss_type", "sigmoid")
    tr.simpo_gamma = o.get("simpo_gamma", 0.5)
    tr.alpha = o.get("alpha", 0.0)
    losses, cr, rj = tr.cpo_loss(t["chosen_logps"], t["rejected_logps"])
    return losses, {"chosen_rewards": cr, "rejected_rewards": rj}


@contextlib.contextmanager
def no_float_cast():
    orig = torch.Tensor.float
    torch.Tensor.float = lambda self: self
    try:
        yield
    finally:
        torch.Tensor.float = orig


def orpo_trl(t, o, lengths):
    tr = object.__new__(ORPOTrainer)
    tr.accelerator = ACCEL
    tr.beta = o.get("beta", 0.1)
    c, r = t["chosen_logps"], t["rejected_logps"]
    ctx = lambda: no_float_cast() if c.dtype == torch.float64 else contextlib.nullcontext()  # noqa: E731
    with ctx():
        losses, cr, rj, mean_ratio, mean_lo = tr.odds_ratio_loss(c, r)
    # the per-pair terms whose means TRL returns (its lines)
    with ctx():
        from trl.experimental.orpo.orpo_trainer import log1mexp
        cc, rr = c.float(), r.float()
        lo = (cc - rr) - (log1mexp(cc) - log1mexp(rr))
        ratio = torch.nn.functional.logsigmoid(lo)
    assert torch.allclose(ratio.mean(), mean_ratio, equal_nan=True) and torch.allclose(lo.mean(), mean_lo, equal_nan=True)
    return losses, {"chosen_rewards": cr, "rejected_rewards": rj, "log_odds_ratio": ratio.detach(), "log_odds_chosen": lo.detach()}


# ---- KTO: KTOTrainer._compute_loss

class KtoModel:
    """Stands in for the policy: the log-probabilities of the batch's sequences
    (in the batch's order) or, called with the KL batch's wider input_ids, of
    the KL sequences, in the first position of each row."""

    training = True

    def __init__(self, logps, kl_logps, width):
        self.logps, self.kl_logps, self.width = logps, kl_logps, width

    def __call__(self, input_ids, **kw):
        v = self.kl_logps if input_ids.shape[1] == self.width + 1 else self.logps
        n, w = v.shape[0], input_ids.shape[1] - 1
        lp = torch.cat([v.unsqueeze(1), torch.zeros(n, w - 1, dtype=v.dtype)], dim=1)
        z = torch.zeros(n, w, dtype=v.dtype)
        return types.SimpleNamespace(log_probs=lp, entropy=z, mean_logits=z)


def kto_trl(t, o, lengths):
    c, r, rc, rr = t["policy_chosen_logps"], t["policy_rejected_logps"], t["reference_chosen_logps"], t["reference_rejected_logps"]
    nc, nr = c.shape[0], r.shape[0]
    lt = o.get("loss_type", "kto")
    kl_given = "policy_KL_logps" in t
    calculate_kl = lt != "apo_zero_unpaired"  # KTOTrainer.__init__
    # the batch's order: chosen and rejected interleaved (a fixed pattern), split again by TRL
    labels = [i % 2 == 0 for i in range(nc + nr)] if nc == nr else [True] * nc + [False] * nr
    if nc != nr:
        perm = np.random.default_rng(nc * 10 + nr).permutation(nc + nr)
        labels = [labels[p] for p in perm]
    ic, ir = iter(range(nc)), iter(range(nc, nc + nr))
    order = torch.tensor([next(ic) if lab else next(ir) for lab in labels], dtype=torch.int64)
    width = 3
    n = nc + nr
    tr = object.__new__(KTOTrainer)
    pkl = t["policy_KL_logps"] if kl_given else torch.zeros(0, dtype=c.dtype)
    tr.model = KtoModel(torch.cat([c, r])[order], pkl, width)
    tr.accelerator = ACCEL
    tr.aux_loss_enabled = False
    tr.precompute_ref_logps = True
    tr.calculate_KL = calculate_kl
    tr.loss_type = lt
    tr.beta = o.get("beta", 0.1)
    tr.desirable_weight = o.get("desirable_weight", 1.0)
    tr.undesirable_weight = o.get("undesirable_weight", 1.0)
    tr.args = types.SimpleNamespace(gradient_checkpointing_kwargs=None)
    tr._metrics = {"train": collections.defaultdict(list), "eval": collections.defaultdict(list)}
    tr._total_train_tokens = 0
    tr._tp_size = 1
    mask = np.zeros((n, width), dtype=np.int64)
    mask[:, 1] = 1
    inputs = {
        "input_ids": torch.ones(n, width, dtype=torch.int64),
        "attention_mask": torch.ones(n, width, dtype=torch.int64),
        "completion_mask": torch.tensor(mask),
        "label": torch.tensor(labels, dtype=torch.bool),
        "ref_logps": torch.cat([rc, rr])[order],
    }
    if calculate_kl and kl_given:
        nk = pkl.shape[0]
        kmask = np.zeros((nk, width + 1), dtype=np.int64)
        kmask[:, 1] = 1
        inputs["KL_input_ids"] = torch.full((nk, width + 1), 2, dtype=torch.int64)
        inputs["KL_attention_mask"] = torch.ones(nk, width + 1, dtype=torch.int64)
        inputs["KL_completion_mask"] = torch.tensor(kmask)
        inputs["ref_KL_logps"] = t["reference_KL_logps"]
    names = ["losses", "kl", "chosen_rewards", "rejected_rewards"]
    loss, seen = capture_locals(lambda: tr._compute_loss(tr.model, inputs, False), names)
    losses = seen["losses"]
    assert torch.allclose(losses.nanmean(), loss, rtol=1e-6, atol=0, equal_nan=True), (losses, loss)
    kl = seen["kl"].detach().reshape(())  # apo_zero_unpaired: torch.zeros(1)
    assert kl.item() == tr._metrics["train"]["kl"][0] or (np.isnan(kl.item()) and np.isnan(tr._metrics["train"]["kl"][0]))
    outs = {"chosen_rewards": seen["chosen_rewards"], "rejected_rewards": seen["rejected_rewards"], "kl": kl}
    return losses, outs


FNS = {
    "trl:dpo_loss": (dpo_trl, ["chosen_logps", "rejected_logps", "ref_chosen_logps", "ref_rejected_logps"]),
    "trl:cpo_loss": (cpo_trl, ["chosen_logps", "rejected_logps"]),
    "trl:odds_ratio_loss": (orpo_trl, ["chosen_logps", "rejected_logps"]),
    "trl:kto_loss": (kto_trl, ["policy_chosen_logps", "policy_rejected_logps", "policy_KL_logps",
                               "reference_chosen_logps", "reference_rejected_logps", "reference_KL_logps"]),
}
# the losses TRL reduces by nanmean (and whose `sum` is therefore the nansum)
NAN_REDUCED = {"trl:kto_loss"}


def evaluate(loss, tensors, options, reduction, go, dtype):
    fn, diff = FNS[loss]
    t = {k: torch.tensor(v, dtype=dtype) for k, v in tensors.items() if k in diff}
    diff = [k for k in diff if k in t]
    for k in diff:
        t[k].requires_grad_(True)
    lengths = None
    if "chosen_lengths" in tensors:
        lengths = (np.asarray(tensors["chosen_lengths"]).astype(np.int64), np.asarray(tensors["rejected_lengths"]).astype(np.int64))
    per, outs = fn(t, options, lengths)
    nan = loss in NAN_REDUCED
    if reduction is None or reduction == "mean":
        out = per.nanmean() if nan else per.mean()
    elif reduction == "sum":
        out = per.nansum() if nan else per.sum()
    else:
        out = per
    g = torch.ones_like(out) if go is None else torch.tensor(go, dtype=dtype)
    if out.requires_grad:
        grads = torch.autograd.grad(out, [t[k] for k in diff], grad_outputs=g, allow_unused=True)
    else:  # KTO with both sides empty: TRL's losses are two empty constants, nothing is differentiated
        grads = [None] * len(diff)
    grads = {k: (np.zeros(t[k].shape) if v is None else v.detach().double().numpy()) for k, v in zip(diff, grads)}
    return out.detach().double().numpy(), grads, {k: v.detach().double().numpy() for k, v in outs.items()}


def close(a, b, rel=1e-4):
    a, b = np.asarray(a), np.asarray(b)
    return np.allclose(a, b, rtol=rel, atol=rel * max(1.0, float(np.nanmax(np.abs(b))) if b.size and np.isfinite(b).any() else 1.0), equal_nan=True)


def case(cid, loss, tensors, options=None, reduction=None, go=None, only_f32=False):
    options = options or {}
    tensors = {k: np.asarray(v) for k, v in tensors.items()}
    try:
        if only_f32:
            out, grads, outs = evaluate(loss, tensors, options, reduction, go, torch.float32)
        else:
            out, grads, outs = evaluate(loss, tensors, options, reduction, go, torch.float64)
    except (RuntimeError, KeyError) as e:  # the reference raised (torch's shape checks; KTO's missing KL batch)
        CASES.append(make_case(cid, loss, tensors, options, reduction, dtypes_for(tensors, None), None, None, {}, first_line(e)))
        return
    dtypes = ["float32"] if only_f32 else dtypes_for(tensors, go)
    if "float32" in dtypes and not only_f32:
        o32, g32, x32 = evaluate(loss, tensors, options, reduction, go, torch.float32)
        assert close(o32, out), (cid, o32, out)
        for k in grads:
            assert close(g32[k], grads[k]), (cid, k, g32[k], grads[k])
    c = make_case(cid, loss, tensors, options, reduction, dtypes, go, out, grads, None)
    c["outputs"] = {k: T(v) for k, v in outs.items()}
    CASES.append(c)


def logps(b, lo, hi):
    return uniform((b,), lo, hi)


def dpo_inputs(b, spread=3.0):
    c, r = logps(b, -60.0, -5.0), logps(b, -60.0, -5.0)
    return {
        "chosen_logps": c,
        "rejected_logps": r,
        "ref_chosen_logps": f32(c + randn(b, scale=spread)),
        "ref_rejected_logps": f32(r + randn(b, scale=spread)),
    }


DPO_TYPES = ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired",
             "apo_zero", "apo_down", "discopop", "sigmoid_norm"]
F_DIV_TYPES = {"sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop"}


def gen_dpo():
    n = 0
    for lt in DPO_TYPES:
        for beta in (0.1, 0.5, 2.0):
            for red in (None, "sum", "none"):
                n += 1
                b = int(rng.integers(1, 7))
                t = dpo_inputs(b, spread=3.0 if beta < 1 else 0.6)
                o = {"loss_type": lt, "beta": beta}
                if lt in ("exo_pair", "robust", "aot", "aot_unpaired"):
                    o["label_smoothing"] = [0.1, 0.25, 0.05][n % 3]
                if lt == "discopop":
                    o["discopop_tau"] = [0.05, 0.5, 2.0][n % 3]
                if lt in ("ipo", "sigmoid_norm"):
                    t["chosen_lengths"] = rng.integers(0, 9, b).astype(np.float64)
                    t["rejected_lengths"] = rng.integers(1, 9, b).astype(np.float64)
                go = randn(b) if red == "none" and n % 2 == 0 else (np.array(-0.5) if red == "sum" and n % 4 == 1 else None)
                case(f"dpo_{lt}_b{beta}_{red}_{n}", "trl:dpo_loss", t, o, red, go)
        # defaults (beta 0.1, label_smoothing 0 where allowed)
        if lt != "exo_pair":
            case(f"dpo_{lt}_defaults", "trl:dpo_loss", dpo_inputs(4), {"loss_type": lt})
    case("dpo_default", "trl:dpo_loss", dpo_inputs(5), {})
    case("dpo_exo_eps0", "trl:dpo_loss", dpo_inputs(1), {"loss_type": "exo_pair", "label_smoothing": 1e-3})
    # f-divergences with every loss type TRL allows them for
    for fd in ("forward_kl", "js_divergence", "alpha_divergence"):
        for lt in sorted(F_DIV_TYPES):
            for coef in ((0.5, 0.2, 1.5) if fd == "alpha_divergence" else (None,)):
                b = 4
                t = dpo_inputs(b, spread=0.8)
                o = {"loss_type": lt, "beta": 0.5, "f_divergence_type": fd}
                if coef is not None:
                    o["f_alpha_divergence_coef"] = coef
                if lt in ("exo_pair", "robust"):
                    o["label_smoothing"] = 0.1
                if lt in ("ipo", "sigmoid_norm"):
                    t["chosen_lengths"] = rng.integers(1, 6, b).astype(np.float64)
                    t["rejected_lengths"] = rng.integers(1, 6, b).astype(np.float64)
                case(f"dpo_{fd}_{lt}_{coef}", "trl:dpo_loss", t, o, None if coef != 1.5 else "none",
                     randn(b) if coef == 1.5 else None, only_f32=fd == "alpha_divergence")
    # alpha-divergence's limit α = 1 (reverse KL), the clamp at 80 ((α − 1)·l > 80)
    case("dpo_alpha_coef1", "trl:dpo_loss", dpo_inputs(3), {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 1.0}, only_f32=True)
    t = {"chosen_logps": np.array([-10.0, -20.0]), "rejected_logps": np.array([-30.0, -15.0]),
         "ref_chosen_logps": np.array([-100.0, -21.0]), "ref_rejected_logps": np.array([-31.0, -14.0])}
    case("dpo_alpha_clamp", "trl:dpo_loss", t, {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 2.0, "beta": 0.01}, "none", only_f32=True)
    # hinge at its kink: 1 − βΔ = 0 exactly (relu's gradient 0)
    t = {"chosen_logps": np.array([-10.0, -5.0]), "rejected_logps": np.array([-12.0, -6.0]),
         "ref_chosen_logps": np.array([-11.0, -5.0]), "ref_rejected_logps": np.array([-12.0, -5.5])}
    case("dpo_hinge_kink", "trl:dpo_loss", t, {"loss_type": "hinge", "beta": 1.0}, "none")
    # aot with a larger batch (sorting), per-pair upstream gradient
    for lt in ("aot", "aot_unpaired"):
        case(f"dpo_{lt}_b12", "trl:dpo_loss", dpo_inputs(12), {"loss_type": lt, "beta": 0.3, "label_smoothing": 0.2}, "none", randn(12))
    # large margins: saturated sigmoids
    t = {"chosen_logps": np.array([-1.0, -500.0]), "rejected_logps": np.array([-500.0, -1.0]),
         "ref_chosen_logps": np.array([-300.0, -250.0]), "ref_rejected_logps": np.array([-250.0, -300.0])}
    # (not discopop: its exp(−βΔ)·σ(βΔ/τ) is inf·0 = NaN in float32 there, finite in float64)
    for lt in ("sigmoid", "nca_pair", "bco_pair", "apo_zero", "apo_down", "robust"):
        case(f"dpo_{lt}_saturated", "trl:dpo_loss", t, {"loss_type": lt, "beta": 1.0, "label_smoothing": 0.1 if lt == "robust" else 0.0}, "none")
    # one pair; an empty batch
    case("dpo_b1", "trl:dpo_loss", dpo_inputs(1), {"loss_type": "sigmoid"}, "sum")
    # errors TRL raises too: batches of different sizes
    t = dpo_inputs(3)
    t["ref_rejected_logps"] = t["ref_rejected_logps"][:2]
    case("dpo_err_batch", "trl:dpo_loss", t, {})


def gen_cpo():
    n = 0
    for lt in ("sigmoid", "hinge", "ipo", "simpo"):
        for alpha in (0.0, 0.25, -0.5):
            for red in (None, "sum", "none"):
                n += 1
                b = int(rng.integers(1, 7))
                avg = lt in ("ipo", "simpo") or alpha != 0.0
                lo, hi = (-3.0, -0.05) if avg else (-60.0, -5.0)
                t = {"chosen_logps": logps(b, lo, hi), "rejected_logps": logps(b, lo, hi)}
                o = {"loss_type": lt, "alpha": alpha, "beta": [0.1, 0.7, 2.5][n % 3]}
                if lt in ("sigmoid", "simpo"):
                    o["label_smoothing"] = [0.0, 0.1, 0.3][n % 3]
                if lt == "simpo":
                    o["simpo_gamma"] = [0.5, 1.2, 0.0][n % 3]
                go = randn(b) if red == "none" and n % 2 == 0 else (np.array(2.0) if red == "sum" and n % 4 == 1 else None)
                case(f"cpo_{lt}_a{alpha}_{red}_{n}", "trl:cpo_loss", t, o, red, go)
        case(f"cpo_{lt}_defaults", "trl:cpo_loss", {"chosen_logps": logps(3, -3.0, -0.1), "rejected_logps": logps(3, -3.0, -0.1)}, {"loss_type": lt})
    case("cpo_default", "trl:cpo_loss", {"chosen_logps": logps(4, -40.0, -5.0), "rejected_logps": logps(4, -40.0, -5.0)}, {})
    case("cpo_hinge_kink", "trl:cpo_loss", {"chosen_logps": np.array([-1.0, -2.0]), "rejected_logps": np.array([-2.0, -2.5])},
         {"loss_type": "hinge", "beta": 1.0}, "none")
    case("cpo_err_batch", "trl:cpo_loss", {"chosen_logps": logps(3, -3.0, -0.1), "rejected_logps": logps(2, -3.0, -0.1)}, {})


def gen_orpo():
    for i, beta in enumerate((0.1, 0.25, 1.0, 3.0)):
        for red in (None, "sum", "none"):
            b = int(rng.integers(1, 7))
            t = {"chosen_logps": logps(b, -3.0, -0.02), "rejected_logps": logps(b, -3.0, -0.02)}
            go = randn(b) if red == "none" and i % 2 == 0 else (np.array(-1.5) if red == "sum" and i % 2 == 1 else None)
            case(f"orpo_b{beta}_{red}", "trl:odds_ratio_loss", t, {"beta": beta}, red, go)
    case("orpo_default", "trl:odds_ratio_loss", {"chosen_logps": logps(5, -2.0, -0.1), "rejected_logps": logps(5, -2.0, -0.1)}, {})
    # both branches of log1mexp around −ln 2, near 0, very negative
    t = {"chosen_logps": np.array([-0.6931471805599453, -0.69, -0.7, -1e-3, -30.0, -1e-6]),
         "rejected_logps": np.array([-0.7, -0.6931471805599453, -0.69, -20.0, -1e-4, -5.0])}
    case("orpo_branches", "trl:odds_ratio_loss", t, {"beta": 0.5}, "none")
    case("orpo_err_batch", "trl:odds_ratio_loss", {"chosen_logps": logps(3, -3.0, -0.1), "rejected_logps": logps(4, -3.0, -0.1)}, {})


def kto_inputs(nc, nr, nk=None, spread=3.0, kl_shift=0.0):
    """An unpaired batch: nc chosen, nr rejected; a KL batch of nk (default nc + nr;
    None-less: 0 gives an empty one), its reference log-probabilities shifted by
    −kl_shift (so the KL estimate is about kl_shift)."""
    c, r = logps(nc, -60.0, -5.0), logps(nr, -60.0, -5.0)
    nk = nc + nr if nk is None else nk
    k = logps(nk, -60.0, -5.0)
    return {
        "policy_chosen_logps": c,
        "policy_rejected_logps": r,
        "policy_KL_logps": k,
        "reference_chosen_logps": f32(c + randn(nc, scale=spread)),
        "reference_rejected_logps": f32(r + randn(nr, scale=spread)),
        "reference_KL_logps": f32(k - kl_shift + randn(nk, scale=spread)),
    }


def no_kl(t):
    return {k: v for k, v in t.items() if "KL" not in k}


def gen_kto():
    n = 0
    for lt in ("kto", "apo_zero_unpaired"):
        for beta in (0.1, 0.5, 2.0):
            for red in (None, "sum", "none"):
                n += 1
                nc, nr = int(rng.integers(0, 6)), int(rng.integers(1, 6))
                if n % 3 == 0:
                    nc, nr = nr, nc  # an empty chosen side on the other side too
                sp = 3.0 if beta < 1 else 0.6
                t = kto_inputs(nc, nr, spread=sp, kl_shift=[1.5, -1.0, 0.3][n % 3] / beta * 0.2)
                if lt == "apo_zero_unpaired":
                    t = no_kl(t)
                o = {"loss_type": lt, "beta": beta,
                     "desirable_weight": [1.0, 1.33, 0.7][n % 3], "undesirable_weight": [1.0, 0.8, 2.5][(n // 3) % 3]}
                go = randn(nc + nr) if red == "none" and n % 2 == 0 else (np.array(-0.5) if red == "sum" and n % 4 == 1 else None)
                case(f"kto_{lt}_b{beta}_{red}_{n}_c{nc}r{nr}", "trl:kto_loss", t, o, red, go)
    case("kto_default", "trl:kto_loss", kto_inputs(3, 2), {})
    case("kto_apo_defaults", "trl:kto_loss", no_kl(kto_inputs(2, 3)), {"loss_type": "apo_zero_unpaired"})
    # apo_zero_unpaired given KL log-probabilities: ignored (TRL does not compute them), zero gradients
    case("kto_apo_kl_ignored", "trl:kto_loss", kto_inputs(2, 2, spread=1.0), {"loss_type": "apo_zero_unpaired", "beta": 0.5}, "none")
    # the KL estimate: clamped (negative mean), positive, a KL batch of another size than the batch
    case("kto_kl_clamped", "trl:kto_loss", kto_inputs(3, 3, spread=1.0, kl_shift=-2.0), {"beta": 0.5}, "none")
    case("kto_kl_positive", "trl:kto_loss", kto_inputs(2, 4, spread=1.0, kl_shift=2.5), {"beta": 0.5}, "none", randn(6))
    case("kto_kl_batch7", "trl:kto_loss", kto_inputs(2, 1, nk=7, spread=1.0, kl_shift=0.8), {"beta": 1.0})
    case("kto_kl_batch1", "trl:kto_loss", kto_inputs(4, 2, nk=1, spread=1.0, kl_shift=0.8), {"beta": 1.0}, "sum")
    # unequal sides, larger batch, weights countering the imbalance
    case("kto_c9_r2", "trl:kto_loss", kto_inputs(9, 2, spread=2.0, kl_shift=0.5),
         {"beta": 0.2, "desirable_weight": 1.0, "undesirable_weight": 4.5}, "none", randn(11))
    case("kto_c1_r8_mean", "trl:kto_loss", kto_inputs(1, 8, spread=2.0, kl_shift=0.5), {"beta": 0.2, "desirable_weight": 2.0})
    # an empty side, each, for both loss types; both empty (mean NaN, sum 0, none (0,))
    for lt in ("kto", "apo_zero_unpaired"):
        for nc, nr in ((0, 3), (4, 0)):
            t = kto_inputs(nc, nr, spread=1.0, kl_shift=0.4)
            t = t if lt == "kto" else no_kl(t)
            for red in (None, "none"):
                case(f"kto_{lt}_c{nc}_r{nr}_{red}", "trl:kto_loss", t, {"loss_type": lt, "beta": 0.7}, red)
    for red in (None, "sum", "none"):
        case(f"kto_empty_{red}", "trl:kto_loss", kto_inputs(0, 0, nk=2, spread=1.0), {}, red)
    # one completion
    case("kto_one", "trl:kto_loss", kto_inputs(1, 0, nk=2, spread=1.0, kl_shift=0.3), {"beta": 0.3}, "sum")
    # an empty KL batch: the mean of nothing is NaN, and so is every kto loss (nanmean: NaN)
    case("kto_kl_empty", "trl:kto_loss", kto_inputs(2, 2, nk=0, spread=1.0), {}, None)
    case("kto_kl_empty_none", "trl:kto_loss", kto_inputs(2, 2, nk=0, spread=1.0), {}, "none")
    # a NaN log-probability: nanmean leaves its loss out; its gradient is 0·NaN
    for lt in ("kto", "apo_zero_unpaired"):
        t = kto_inputs(3, 2, spread=1.0, kl_shift=0.3)
        t["policy_chosen_logps"] = t["policy_chosen_logps"].copy()
        t["policy_chosen_logps"][1] = np.nan
        t = t if lt == "kto" else no_kl(t)
        for red in (None, "sum"):
            case(f"kto_nan_{lt}_{red}", "trl:kto_loss", t, {"loss_type": lt, "beta": 0.5}, red)
    # a NaN in the KL batch: kl NaN, every kto loss NaN
    t = kto_inputs(2, 2, spread=1.0)
    t["policy_KL_logps"] = t["policy_KL_logps"].copy()
    t["policy_KL_logps"][0] = np.nan
    case("kto_nan_kl", "trl:kto_loss", t, {}, "none")
    # large log-ratios: saturated sigmoids
    t = {"policy_chosen_logps": np.array([-1.0, -500.0]), "policy_rejected_logps": np.array([-500.0, -1.0, -40.0]),
         "policy_KL_logps": np.array([-30.0, -35.0]),
         "reference_chosen_logps": np.array([-300.0, -250.0]), "reference_rejected_logps": np.array([-250.0, -300.0, -40.0]),
         "reference_KL_logps": np.array([-31.0, -35.5])}
    for lt in ("kto", "apo_zero_unpaired"):
        case(f"kto_saturated_{lt}", "trl:kto_loss", t if lt == "kto" else no_kl(t), {"loss_type": lt, "beta": 1.0}, "none")
    # errors TRL raises too: KL batches of different sizes; kto without a KL batch
    t = kto_inputs(2, 2, nk=3)
    t["reference_KL_logps"] = t["reference_KL_logps"][:2]
    case("kto_err_kl_batch", "trl:kto_loss", t, {})
    case("kto_err_no_kl", "trl:kto_loss", no_kl(kto_inputs(2, 2)), {})


if __name__ == "__main__":
    gen_dpo()
    gen_cpo()
    gen_orpo()
    gen_kto()
    write(OUT, GENERATOR, versions(torch=torch.__version__, trl=trl.__version__), CASES, count_errors=True)
