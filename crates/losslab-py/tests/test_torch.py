"""losslab.torch_autograd against PyTorch's own functions: values and gradients (every
float tensor torch differentiates, weight and targets included), every reduction with an
upstream gradient for 'none', gradcheck in float64, the fused cross entropy in
float32/float64/bfloat16/float16, and the device error."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import losslab.torch_autograd as L  # noqa: E402

f64 = torch.float64


def gen(seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, dtype=f64, generator=g)

    def u(*s):
        return torch.rand(*s, dtype=f64, generator=g)

    def i(hi, *s):
        return torch.randint(0, hi, s, generator=g)

    def sign(*s):
        return torch.where(u(*s) > 0.5, 1.0, -1.0).to(f64)

    return r, u, i, sign


def cases():
    r, u, i, sign = gen()
    grad = lambda t: t.requires_grad_()  # noqa: E731
    ml_target = torch.tensor([[3, 0, -1, 1], [1, 2, -1, 0], [0, -1, 1, 1]])
    return {
        "mse_loss": ((grad(r(3, 4)), grad(r(3, 4))), {}),
        "l1_loss": ((grad(r(3, 4)), grad(r(3, 4))), {}),
        "smooth_l1_loss": ((grad(r(3, 4)), grad(r(3, 4))), {"beta": 0.5}),
        "huber_loss": ((grad(r(3, 4)), grad(r(3, 4))), {"delta": 0.7}),
        "cross_entropy": ((grad(r(4, 5)), i(5, 4)), {"weight": u(5) + 0.5, "label_smoothing": 0.1, "ignore_index": 2}),
        "cross_entropy/probs": ((grad(r(4, 5)), grad(torch.softmax(r(4, 5), 1))), {"weight": grad(u(5) + 0.5), "label_smoothing": 0.1}),
        "cross_entropy/3d": ((grad(r(2, 5, 3)), i(5, 2, 3)), {}),
        "nll_loss": ((grad(torch.log_softmax(r(4, 5), 1)), i(5, 4)), {"weight": u(5) + 0.5}),
        "binary_cross_entropy": ((grad(u(3, 4) * 0.9 + 0.05), grad(u(3, 4))), {"weight": u(3, 4)}),
        "binary_cross_entropy_with_logits": ((grad(r(3, 4)), grad(u(3, 4))), {"weight": u(4), "pos_weight": u(4) + 0.5}),
        "kl_div": ((grad(torch.log_softmax(r(3, 4), 1)), grad(torch.softmax(r(3, 4), 1))), {}),
        "poisson_nll_loss": ((grad(r(3, 4)), grad(u(3, 4) * 3)), {}),
        "gaussian_nll_loss": ((grad(r(3, 4)), grad(r(3, 4)), grad(u(3, 4) + 0.5)), {}),
        "margin_ranking_loss": ((grad(r(6)), grad(r(6)), sign(6)), {"margin": 0.2}),
        "hinge_embedding_loss": ((grad(r(6)), sign(6)), {"margin": 1.0}),
        "soft_margin_loss": ((grad(r(6)), sign(6)), {}),
        "multilabel_soft_margin_loss": ((grad(r(3, 4)), (u(3, 4) > 0.5).to(f64)), {"weight": u(4)}),
        "multilabel_margin_loss": ((grad(r(3, 4)), ml_target), {}),
        "multi_margin_loss": ((grad(r(3, 4)), i(4, 3)), {"p": 1, "margin": 1.0, "weight": u(4)}),
        "cosine_embedding_loss": ((grad(r(3, 5)), grad(r(3, 5)), sign(3)), {"margin": 0.1}),
        "triplet_margin_loss": ((grad(r(3, 5)), grad(r(3, 5)), grad(r(3, 5))), {"margin": 1.0}),
    }


CASES = cases()


def clone(args, kwargs):
    c = lambda t: t.detach().clone().requires_grad_(t.requires_grad) if isinstance(t, torch.Tensor) else t  # noqa: E731
    return tuple(c(a) for a in args), {k: c(v) for k, v in kwargs.items()}


def leaves(args, kwargs):
    return [t for t in list(args) + list(kwargs.values()) if isinstance(t, torch.Tensor) and t.requires_grad]


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradients_match_pytorch(case, reduction):
    name = case.split("/")[0]
    args, kwargs = CASES[case]
    a_args, a_kw = clone(args, kwargs)
    b_args, b_kw = clone(args, kwargs)
    ours = getattr(L.torch, name)(*a_args, reduction=reduction, **a_kw)
    theirs = getattr(F, name)(*b_args, reduction=reduction, **b_kw)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    up = torch.randn(theirs.shape, dtype=f64, generator=torch.Generator().manual_seed(3))
    ga = torch.autograd.grad(ours, leaves(a_args, a_kw), up)
    gb = torch.autograd.grad(theirs, leaves(b_args, b_kw), up)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradcheck(case, reduction):
    name = case.split("/")[0]
    args, kwargs = CASES[case]
    args, kwargs = clone(args, kwargs)
    inputs = leaves(args, kwargs)
    keys = [k for k, v in kwargs.items() if any(v is t for t in inputs)]
    pos = [j for j, a in enumerate(args) if any(a is t for t in inputs)]

    def fn(*xs):
        a, kw = list(args), dict(kwargs)
        for j, x in zip(pos + keys, xs):
            if isinstance(j, int):
                a[j] = x
            else:
                kw[j] = x
        return getattr(L.torch, name)(*a, reduction=reduction, **kw)

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-5)


def test_other_faces_as_autograd_functions():
    r, u, i, sign = gen(5)
    logits = r(3, 4).requires_grad_()
    labels = torch.softmax(r(3, 4), 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: L.tf.softmax_cross_entropy_with_logits(labels=y, logits=x), (logits, labels))
    y = sign(3, 4)
    assert torch.autograd.gradcheck(lambda p: L.keras.hinge(y, p), (r(3, 4).requires_grad_(),))
    assert torch.autograd.gradcheck(lambda x: L.optax.poly_loss_cross_entropy(x, labels.detach(), reduction="mean"), (logits,))
    assert L.hinge is L.keras.hinge and L.cross_entropy is L.torch.cross_entropy


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_in_every_dtype(dtype, reduction):
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(64, 100, generator=g) * 3).to(dtype)
    t = torch.randint(0, 100, (64,), generator=g)
    t[5] = -100
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a = L.cross_entropy(xa, t, reduction=reduction, label_smoothing=0.1)
    assert type(a.grad_fn).__name__ == "CrossEntropyFunctionBackward"
    b = F.cross_entropy(xb, t, reduction=reduction, label_smoothing=0.1)
    assert a.dtype == b.dtype and a.shape == b.shape
    up = torch.rand(b.shape, generator=g).to(dtype) + 0.5
    a.backward(up)
    b.backward(up)
    tol = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 2e-2, torch.float16: 2e-3}[dtype]
    torch.testing.assert_close(a.float(), b.float(), rtol=tol, atol=tol)
    torch.testing.assert_close(xa.grad.float(), xb.grad.float(), rtol=tol, atol=tol)
    assert xa.grad.dtype == dtype


def test_fused_cross_entropy_trains_like_pytorchs():
    torch.manual_seed(0)
    w1 = torch.randn(20, 5, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_()
    x, t = torch.randn(32, 20), torch.randint(0, 5, (32,))
    opt1, opt2 = torch.optim.SGD([w1], lr=0.5), torch.optim.SGD([w2], lr=0.5)
    for _ in range(20):
        for w, opt, loss_fn in ((w1, opt1, L.cross_entropy), (w2, opt2, F.cross_entropy)):
            opt.zero_grad()
            loss_fn(x @ w, t).backward()
            opt.step()
    torch.testing.assert_close(w1, w2, rtol=1e-5, atol=1e-5)


def test_a_second_backward_recomputes():
    x = torch.randn(4, 3, dtype=f64, requires_grad=True)
    t = torch.tensor([0, 1, 2, 1])
    loss = L.cross_entropy(x, t)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x, torch.tensor(2.0, dtype=f64))
    torch.testing.assert_close(g2, 2 * g1)


def test_a_cuda_tensor_is_refused_naming_its_device():
    x = torch.empty(2, 3, device="meta")
    with pytest.raises(ValueError, match="`input` is on meta, expected a CPU tensor"):
        L.cross_entropy(x, torch.zeros(2, dtype=torch.long))
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        with pytest.raises(ValueError, match="cuda"):
            L.cross_entropy(torch.zeros(2, 3, device="cuda"), torch.zeros(2, dtype=torch.long, device="cuda"))


def test_errors_pass_through():
    with pytest.raises(ValueError, match="class index|target"):
        L.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="dtype"):
        L.mse_loss(torch.zeros(2), torch.zeros(2, dtype=f64))


def test_importing_loads_no_dynamo():
    code = (
        "import sys, torch; before = set(sys.modules); import losslab.torch_autograd; "
        "new = [m for m in set(sys.modules) - before if m.startswith('torch._dynamo') or m.startswith('torch._inductor')]; "
        "assert not new, new"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_training_example_agrees_with_pytorch():
    import os

    script = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python", "train_digits.py")
    r = subprocess.run([sys.executable, script, "--epochs", "3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the loss curves agree" in r.stdout and "time per loss call" in r.stdout


def test_a_gradient_the_reference_does_not_define_is_refused():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 1, 2])
    w = torch.rand(4, dtype=torch.float64, requires_grad=True)
    for fn in (L.cross_entropy, L.nll_loss):
        with pytest.raises(RuntimeError, match="not differentiable with respect to"):
            fn(x, t, weight=w)
        with pytest.raises(RuntimeError, match="not differentiable"):
            F.nll_loss(x, t, weight=w)  # PyTorch refuses it too
    # With probability targets the weight's gradient is PyTorch's.
    p = torch.softmax(torch.randn(3, 4, dtype=torch.float64), dim=1)
    L.cross_entropy(x, p, weight=w).backward()
    w2 = w.detach().clone().requires_grad_()
    F.cross_entropy(x.detach(), p, weight=w2).backward()
    assert torch.allclose(w.grad, w2.grad, rtol=1e-12, atol=1e-14)
