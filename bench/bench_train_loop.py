"""Our training loop (bridge.learning.train.train_epoch) vs a minimal hand-written loop.

Same model, data, optimiser and shuffling; the minimal loop does only zero_grad / forward /
loss / backward / step over the shuffled batches, ours also samples per-layer gradient norms,
accumulates the loss, checks for divergence, runs the post-step plasticity hooks and
advances a progress callback. One epoch of a 3-layer MLP (width 128, BatchNorm) on 5000
Fashion-MNIST images (sklearn digits when Fashion-MNIST is absent), at batch sizes 64 and 1.
Ratios only, no assertions.

    .venv/bin/python bench/bench_train_loop.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from bridge.learning.data import fashion_mnist_dir, load
from bridge.learning.train import TrainConfig, build, make_optimizer, train_epoch


def minimal_epoch(net, optimizer, x, y, batch_size, generator) -> None:
    net.train()
    order = torch.randperm(x.shape[0], generator=generator)
    x, y = x[order], y[order]
    for start in range(0, x.shape[0] - batch_size + 1, batch_size):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[start:start + batch_size]), y[start:start + batch_size]).backward()
        optimizer.step()


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compare(name: str, batch_size: int, n_train: int, rounds: int = 3) -> None:
    """Print the best-of-``rounds`` epoch time of both loops (interleaved) and their ratio."""
    norm = "bn" if batch_size > 1 else "ip-infomax"
    config = TrainConfig(dataset=name, n_train=n_train, norm=norm, batch_size=batch_size,
                         width=128, device="cpu")
    data = load(name).subset(n_train, 100)
    ours, minimal = build(config, data), build(config, data)
    ours_opt, minimal_opt = make_optimizer(config, ours), make_optimizer(config, minimal)
    ours_gen, minimal_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    best = {"minimal": float("inf"), "ours": float("inf")}
    for _ in range(rounds):
        best["minimal"] = min(best["minimal"], _timed(
            minimal_epoch, minimal, minimal_opt, data.x_train, data.y_train, batch_size, minimal_gen))
        best["ours"] = min(best["ours"], _timed(
            train_epoch, ours, ours_opt, data, batch_size, ours_gen, config.grad_samples, _ignore))
    print(f"{name}, {n_train} images, batch {batch_size}, norm {norm} (target <= 1.05x minimal)")
    print(f"  minimal loop {best['minimal']:8.3f} s   1.00x")
    print(f"  train_epoch  {best['ours']:8.3f} s   {best['ours'] / best['minimal']:5.2f}x")


def _ignore(steps: int) -> None:
    """The progress callback train_epoch calls (a no-op here)."""


def main() -> None:
    name = "fashion-mnist" if fashion_mnist_dir() else "digits"
    compare(name, 64, 5000)
    compare(name, 1, 1000)


if __name__ == "__main__":
    main()
