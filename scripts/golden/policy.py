#!/usr/bin/env python3
"""Golden cases for losslab's policy-gradient objectives of RL fine-tuning.

    ~/refenv/bin/python scripts/golden/policy.py

Writes crates/losslab-registry/tests/golden/policy.json in the format of
scripts/golden/README.md:

- trl:grpo_loss: TRL's own `GRPOTrainer._compute_loss` (trl 1.16.0), called on a
  trainer built by `object.__new__(GRPOTrainer)` with only the attributes the method
  reads set (single process, one accumulation step, `steps_per_generation` 1, no
  vLLM, no entropy mask, no off-policy mask, no entropy bonus, no router aux loss),
  and its `_get_per_token_logps_and_entropies` replaced by a function returning the
  case's float64 (or float32) `per_token_logps` leaf: the loss, TRL's detaches and
  its metrics are TRL's code, unchanged. Gradients by autograd w.r.t.
  `per_token_logps`, `old_per_token_logps`, `advantages` and `ref_per_token_logps`
  (leaves requiring grad where the case gives them). `completion_mask` is an int64
  tensor, as TRL's (no gradient). The metrics TRL logs (`_metrics["train"]`) are
  recorded as the case's `outputs`: `clip_ratio/low_mean` as `clip_ratio_low_mean`
  (every `/` written `_`), `kl`, `cispo_clip_ratio`, `vespo/phi_seq_mean`.
- losslab:ppo_clip_loss: a float64 torch program of the clipped surrogate of
  Schulman et al. 2017, per token `max(-A·r, -A·clamp(r, 1-ε_low, 1+ε_high))` (the
  form of TRL's former PPOTrainer; trl 1.16.0 ships no PPOTrainer), the masked
  token mean `Σ ℓ·m / max(Σ m, 1)` or the sequence mean; no library ships it, so
  this program is the formula as losslab documents it; autograd for the gradients.

Float inputs are float32-exact, so each case runs in float32 and float64 against
the float64 truth. Deterministic: one seeded numpy Generator, consumed in order.
"""

import os
import sys
import types
import warnings
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import T, make_case, dtypes_for, first_line, versions, write  # noqa: E402

import torch  # noqa: E402
import trl  # noqa: E402
from trl.trainer.grpo_trainer import GRPOTrainer  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "losslab-registry", "tests", "golden", "policy.json")
GENERATOR = "scripts/golden/policy.py"
rng = np.random.default_rng(20261217)
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def randn(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def logps(b, t):
    """Log-probabilities of sampled tokens: negative, a few near 0."""
    return f32(-np.abs(rng.standard_normal((b, t)) * 1.5) - 0.01)


def mask(b, t, zeros=True, empty_row=False):
    m = np.ones((b, t), dtype=np.int64)
    if zeros:
        # right padding of random lengths, and a hole (a tool's tokens)
        for i in range(b):
            n = int(rng.integers(1, t + 1))
            m[i, n:] = 0
        m[0, 0] = 0
    if empty_row:
        m[-1, :] = 0
    return m


# GRPOConfig's defaults (trl 1.16.0, grpo_config.py)
DEFAULTS = dict(
    loss_type="dapo", beta=0.0, epsilon=0.2, epsilon_high=None, delta=None, importance_sampling_level="token",
    max_completion_length=512, num_items_in_batch=None, use_bias_correction_kl=True,
    sapo_temperature_pos=1.0, sapo_temperature_neg=1.05,
    vespo_k_pos=2.0, vespo_lambda_pos=3.0, vespo_k_neg=3.0, vespo_lambda_neg=2.0,
)


def trainer(o):
    t = object.__new__(GRPOTrainer)
    t.args = types.SimpleNamespace(
        delta=o["delta"], use_bias_correction_kl=o["use_bias_correction_kl"],
        sapo_temperature_pos=o["sapo_temperature_pos"], sapo_temperature_neg=o["sapo_temperature_neg"],
        vespo_k_pos=o["vespo_k_pos"], vespo_lambda_pos=o["vespo_lambda_pos"],
        vespo_k_neg=o["vespo_k_neg"], vespo_lambda_neg=o["vespo_lambda_neg"], steps_per_generation=1,
    )
    # as GRPOTrainer.__init__ sets them from the config
    t.loss_type = o["loss_type"]
    t.importance_sampling_level = o["importance_sampling_level"]
    t.epsilon_low = o["epsilon"]
    t.epsilon_high = o["epsilon_high"] if o["epsilon_high"] is not None else o["epsilon"]
    t.beta = o["beta"]
    t.max_completion_length = o["max_completion_length"]
    t.top_entropy_quantile = 1.0
    t.off_policy_mask_threshold = None
    t.use_vllm = False
    t.vllm_importance_sampling_correction = False
    t._entropy_bonus_enabled = False
    t.aux_loss_enabled = False
    t.current_gradient_accumulation_steps = 1
    t.model = types.SimpleNamespace(training=True)
    t.accelerator = types.SimpleNamespace(
        num_processes=1, gather=lambda x: x, gather_for_metrics=lambda x: x, reduce=lambda x, reduction="sum": x,
    )
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    return t


GRPO_GRADS = ["per_token_logps", "old_per_token_logps", "advantages", "ref_per_token_logps"]


def grpo(cid, tensors, options=None, go=None, error=None):
    """One case of TRL's _compute_loss; `options` overrides GRPOConfig's defaults."""
    options = options or {}
    o = dict(DEFAULTS, **options)
    t = trainer(o)
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=(k in GRPO_GRADS))
              for k, v in tensors.items() if k != "completion_mask"}
    cm = torch.tensor(tensors["completion_mask"], dtype=torch.int64)
    b, tt = cm.shape
    logp = leaves["per_token_logps"]
    t._get_per_token_logps_and_entropies = lambda *a, **k: (logp, torch.zeros_like(logp.detach()), None)
    inputs = {
        "prompt_ids": torch.zeros((b, 1), dtype=torch.int64), "prompt_mask": torch.ones((b, 1), dtype=torch.int64),
        "completion_ids": torch.zeros((b, tt), dtype=torch.int64), "completion_mask": cm,
        "advantages": leaves["advantages"],
        # _generate_and_score_completions: gather(loss_mask.sum()).sum()
        "num_items_in_batch": torch.tensor(float(o["num_items_in_batch"])) if o["num_items_in_batch"] is not None else cm.sum(),
    }
    for k in ("old_per_token_logps", "ref_per_token_logps"):
        if k in leaves:
            inputs[k] = leaves[k]
    try:
        out = t._compute_loss(None, inputs)
    except Exception as e:  # noqa: BLE001
        assert error, f"{cid}: unexpected {e!r}"
        CASES.append(make_case(cid, "trl:grpo_loss", tensors, options, None, ["float64"], None, None, {}, first_line(e) or type(e).__name__))
        return
    assert not error, f"{cid}: expected an error"
    out.backward(torch.tensor(go) if go is not None else None)
    grads = {k: v.grad.numpy() for k, v in leaves.items() if v.grad is not None}
    outputs = {name.replace("/", "_"): np.array(vals[-1]) for name, vals in t._metrics["train"].items() if name != "entropy"}
    case = make_case(cid, "trl:grpo_loss", tensors, options, None, dtypes_for(tensors, go), go, out.detach().numpy(), grads, None)
    case["outputs"] = {k: T(v) for k, v in outputs.items()}
    CASES.append(case)


def ppo(cid, tensors, options=None, go=None):
    """The clipped surrogate, float64 torch: per token −min(r·A, clamp(r, 1−ε_low, 1+ε_high)·A)
    with r = exp(logp − old_logp); A (B,) broadcast over tokens; masked token mean
    (Σ ℓ·m / Σ m) or sequence mean (mean over sequences of Σ_t ℓ·m / max(Σ_t m, 1))."""
    o = dict(clip_epsilon=0.2, clip_epsilon_high=None, level="token")
    o.update(options or {})
    el = o["clip_epsilon"]
    eh = o["clip_epsilon_high"] if o["clip_epsilon_high"] is not None else el
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=(k != "mask")) for k, v in tensors.items()}
    logp, old, adv = leaves["log_probs"], leaves["old_log_probs"], leaves["advantages"]
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)
    m = leaves["mask"] if "mask" in leaves else torch.ones_like(logp.detach())
    ratio = torch.exp(logp - old)
    # as TRL's former PPOTrainer wrote it (trl <= 0.2x; 1.16 ships no PPOTrainer): max of the negated products
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1.0 - el, 1.0 + eh)
    per = torch.max(pg1, pg2)
    if o["level"] == "token":
        out = (per * m).sum() / m.sum().clamp(min=1.0)
    else:
        out = ((per * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    out.backward(torch.tensor(go) if go is not None else None)
    grads = {k: v.grad.numpy() for k, v in leaves.items() if v.grad is not None and k != "mask"}
    opts = {k: v for k, v in (options or {}).items()}
    CASES.append(make_case(cid, "losslab:ppo_clip_loss", tensors, opts, None, dtypes_for(tensors, go), go, out.detach().numpy(), grads, None))


def gen_grpo():
    b, t = 4, 6
    lp = logps(b, t)
    old = f32(lp + rng.standard_normal((b, t)) * 0.35)
    ref = f32(lp + rng.standard_normal((b, t)) * 0.5)
    adv = randn(b)
    adv[1] = 0.0  # a group of equal rewards: the min's tie, both sides
    adv_bt = randn(b, t)
    adv_bt[2, :3] = 0.0
    m = mask(b, t)
    m_empty = mask(b, t, empty_row=True)
    full = np.ones((b, t), dtype=np.int64)
    base = {"per_token_logps": lp, "old_per_token_logps": old, "advantages": adv, "completion_mask": m}
    withref = dict(base, ref_per_token_logps=ref)
    types_all = ["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"]
    for lt in types_all:
        extra = {"epsilon_high": 5.0} if lt == "cispo" else {}
        grpo(f"grpo/{lt}", base, dict(loss_type=lt, **extra))
        grpo(f"grpo/{lt}/beta", withref, dict(loss_type=lt, beta=0.04, **extra))
        grpo(f"grpo/{lt}/beta/no-bias-correction", withref, dict(loss_type=lt, beta=0.1, use_bias_correction_kl=False, **extra))
        grpo(f"grpo/{lt}/sequence", base, dict(loss_type=lt, importance_sampling_level="sequence", **extra))
        grpo(f"grpo/{lt}/sequence/beta", withref, dict(loss_type=lt, importance_sampling_level="sequence", beta=0.04, **extra))
        # old_per_token_logps absent: TRL uses per_token_logps.detach() (ratio 1)
        grpo(f"grpo/{lt}/on-policy", {k: v for k, v in withref.items() if k != "old_per_token_logps"}, dict(loss_type=lt, beta=0.04, **extra))
        # per-token advantages (B, T), an empty completion
        grpo(f"grpo/{lt}/adv-bt", dict(base, advantages=adv_bt, completion_mask=m_empty), dict(loss_type=lt, **extra))
        grpo(f"grpo/{lt}/adv-bt/sequence", dict(base, advantages=adv_bt, completion_mask=m_empty), dict(loss_type=lt, importance_sampling_level="sequence", **extra))
        grpo(f"grpo/{lt}/full-mask/go", dict(withref, completion_mask=full), dict(loss_type=lt, beta=0.02, **extra), go=np.array(-2.0))
    # clipping options
    for lt in ["grpo", "dapo", "bnpo"]:
        grpo(f"grpo/{lt}/delta", base, dict(loss_type=lt, delta=1.1))
        grpo(f"grpo/{lt}/delta/eps-high", withref, dict(loss_type=lt, delta=1.25, epsilon=0.1, epsilon_high=0.28, beta=0.04))
        grpo(f"grpo/{lt}/delta/sequence", base, dict(loss_type=lt, delta=1.05, importance_sampling_level="sequence"))
    grpo("grpo/dr_grpo/max-len", base, dict(loss_type="dr_grpo", max_completion_length=8))
    grpo("grpo/dapo/num-items", base, dict(loss_type="dapo", num_items_in_batch=40.0))
    grpo("grpo/cispo/num-items", base, dict(loss_type="cispo", epsilon_high=1.1, num_items_in_batch=7.0))
    grpo("grpo/vespo/num-items/params", withref, dict(loss_type="vespo", num_items_in_batch=3.0, beta=0.04, vespo_k_pos=1.5, vespo_lambda_pos=2.5, vespo_k_neg=2.0, vespo_lambda_neg=0.5))
    grpo("grpo/vespo/params-f32-rounded", dict(base, advantages=adv_bt), dict(loss_type="vespo", vespo_k_pos=2.2, vespo_lambda_pos=0.3, vespo_k_neg=1.7, vespo_lambda_neg=0.00001))
    grpo("grpo/sapo/temps-f32-rounded", base, dict(loss_type="sapo", sapo_temperature_pos=0.7, sapo_temperature_neg=1.3))
    grpo("grpo/sapo/temps", withref, dict(loss_type="sapo", beta=0.04, sapo_temperature_pos=0.5, sapo_temperature_neg=2.0))
    grpo("grpo/dapo/all-masked", dict(base, completion_mask=np.zeros((b, t), dtype=np.int64)), dict(loss_type="dapo"))
    grpo("grpo/grpo/all-masked", dict(base, completion_mask=np.zeros((b, t), dtype=np.int64)), dict(loss_type="grpo"))
    # far off-policy ratios (both clip sides), a larger batch
    b2, t2 = 16, 40
    lp2 = logps(b2, t2)
    grpo("grpo/dapo/large", {"per_token_logps": lp2, "old_per_token_logps": f32(lp2 + rng.standard_normal((b2, t2))),
                             "advantages": randn(b2), "completion_mask": mask(b2, t2),
                             "ref_per_token_logps": f32(lp2 + rng.standard_normal((b2, t2)))}, dict(beta=0.04, epsilon_high=0.28))
    grpo("grpo/grpo/large/sequence", {"per_token_logps": lp2, "old_per_token_logps": f32(lp2 + rng.standard_normal((b2, t2)) * 0.05),
                                      "advantages": randn(b2), "completion_mask": mask(b2, t2)}, dict(loss_type="grpo", importance_sampling_level="sequence"))
    # errors TRL raises: a KL penalty without reference log-probs; shapes that do not broadcast
    grpo("grpo/error/beta-without-ref", base, dict(beta=0.04), error=True)
    grpo("grpo/error/mask-shape", dict(base, completion_mask=np.ones((b, t + 1), dtype=np.int64)), {}, error=True)
    grpo("grpo/error/old-shape", dict(base, old_per_token_logps=old[:, :3]), {}, error=True)


def gen_ppo():
    b, t = 4, 6
    lp = logps(b, t)
    old = f32(lp + rng.standard_normal((b, t)) * 0.35)
    adv = randn(b)
    adv[1] = 0.0
    adv_bt = randn(b, t)
    m = f32(mask(b, t))
    m_empty = f32(mask(b, t, empty_row=True))
    base = {"log_probs": lp, "old_log_probs": old, "advantages": adv, "mask": m}
    ppo("ppo/token", base)
    ppo("ppo/sequence", base, dict(level="sequence"))
    ppo("ppo/no-mask", {k: v for k, v in base.items() if k != "mask"})
    ppo("ppo/adv-bt", dict(base, advantages=adv_bt))
    ppo("ppo/adv-bt/sequence/empty-row", dict(base, advantages=adv_bt, mask=m_empty), dict(level="sequence"))
    ppo("ppo/eps", base, dict(clip_epsilon=0.1, clip_epsilon_high=0.28))
    ppo("ppo/go", base, go=np.array(0.5))
    ppo("ppo/same", dict(base, old_log_probs=lp.copy()))
    b2, t2 = 16, 40
    lp2 = logps(b2, t2)
    ppo("ppo/large", {"log_probs": lp2, "old_log_probs": f32(lp2 + rng.standard_normal((b2, t2))), "advantages": randn(b2, t2), "mask": f32(mask(b2, t2))}, dict(clip_epsilon=0.3))


def main():
    gen_grpo()
    gen_ppo()
    write(OUT, GENERATOR, versions(torch=torch.__version__, trl=trl.__version__), CASES, count_errors=True)


if __name__ == "__main__":
    main()
