"""Trains a small classifier on the digits shipped in the repository (data/digits.csv:
scikit-learn's 8x8 handwritten digits) with PyTorch's optimiser, twice from the same seed:
once with losslab's cross entropy (losslab.torch_autograd.cross_entropy, the fused kernel)
and once with PyTorch's own (torch.nn.functional.cross_entropy). The two loss curves agree
to float tolerance; the script prints both, the largest difference, the test accuracy and
the time of each loss call (forward + backward of the loss alone).

    pip install ./crates/losslab-py torch
    python examples/python/train_digits.py [--epochs 30] [--dtype float32|float64]
"""

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import losslab.torch_autograd as L

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_digits():
    data = np.loadtxt(os.path.join(ROOT, "data", "digits.csv"), delimiter=",", comments="#")
    x, y = data[:, :64] / 16.0, data[:, 64].astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    n_train = 1400
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def train(loss_fn, train_set, test_set, epochs, dtype, seed=0, batch=64):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.tensor(train_set[0], dtype=dtype), torch.tensor(train_set[1])
    curve, loss_time, calls = [], 0.0, 0
    for _ in range(epochs):
        perm = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(y), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            logits = model(x[idx])
            logits_leaf = logits.detach().requires_grad_()
            t0 = time.perf_counter()
            loss = loss_fn(logits_leaf, y[idx])  # the loss call alone: forward + backward
            loss.backward()
            loss_time += time.perf_counter() - t0
            calls += 1
            logits.backward(logits_leaf.grad)
            opt.step()
            total += loss.item() * len(idx)
        curve.append(total / len(y))
    with torch.no_grad():
        pred = model(torch.tensor(test_set[0], dtype=dtype)).argmax(1).numpy()
    return np.array(curve), float((pred == test_set[1]).mean()), loss_time / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train_set, test_set = load_digits()
    ours, acc_ours, t_ours = train(L.cross_entropy, train_set, test_set, args.epochs, dtype)
    theirs, acc_theirs, t_theirs = train(F.cross_entropy, train_set, test_set, args.epochs, dtype)
    print("epoch  losslab      torch")
    for e, (a, b) in enumerate(zip(ours, theirs)):
        print(f"{e + 1:5d}  {a:.8f}  {b:.8f}")
    diff = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))
    print(f"largest relative difference of the loss curves: {diff:.2e}")
    print(f"test accuracy: losslab {acc_ours:.4f}, torch {acc_theirs:.4f}")
    print(f"time per loss call (forward + backward, batch 64 x 10): losslab {t_ours * 1e6:.1f} us, torch {t_theirs * 1e6:.1f} us")
    tol = 1e-4 if args.dtype == "float32" else 1e-9
    if diff > tol:
        raise SystemExit(f"the loss curves differ by {diff:.2e} > {tol:.0e}")
    print("the loss curves agree")


if __name__ == "__main__":
    main()
