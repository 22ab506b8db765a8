"""Our training loop (bridge.learning.train.train_epoch) vs a minimal hand-written loop.

Same model, data, optimiser and shuffling; the minimal loop does only zero_grad / forward /
loss / backward / step over the shuffled batches, ours also samples per-layer gradient norms,
accumulates the loss, checks for divergence, runs the post-step plasticity hooks and
advances a progress callback. One epoch of a 3-layer MLP (width 128) as the studies train it:
all 60,000 Fashion-MNIST images at batch 64 (BatchNorm; 937 steps, 20 of them sampled), 2,000
at batch 1 (infomax IP); sklearn digits when Fashion-MNIST is absent. Rounds interleaved, the
order of the two loops alternating, the best of each kept. Target: <= 1.05x.

    .venv/bin/python bench/bench_train_loop.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from _timing import Ratio, print_rows

from bridge.learning.data import fashion_mnist_dir, load
from bridge.learning.train import TrainConfig, build, make_optimizer, train_epoch


def minimal_epoch(net, optimizer, x, y, batch_size, generator) -> None:
    net.train()
    order = torch.randperm(x.shape[0], generator=generator).to(x.device)
    x, y = x[order], y[order]
    for start in range(0, x.shape[0] - batch_size + 1, batch_size):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[start:start + batch_size]), y[start:start + batch_size]).backward()
        optimizer.step()


def timed(fn, device: str = "cpu") -> float:
    """Seconds of one call, the device's queued work included."""
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def loop_ratio(name: str, batch_size: int, n_train: int, rounds: int = 4, device: str = "cpu") -> Ratio:
    """The best-of-``rounds`` epoch time of both loops (interleaved, alternating) and their ratio,
    the data resident on ``device``."""
    norm = "bn" if batch_size > 1 else "ip-infomax"
    config = TrainConfig(dataset=name, n_train=n_train, norm=norm, batch_size=batch_size,
                         width=128, device=device)
    data = load(name).subset(n_train, 100).to(device)
    ours, minimal = build(config, data).to(device), build(config, data).to(device)
    ours_opt, minimal_opt = make_optimizer(config, ours), make_optimizer(config, minimal)
    ours_gen, minimal_gen = (torch.Generator().manual_seed(0) for _ in range(2))
    loops = {
        "minimal": lambda: minimal_epoch(minimal, minimal_opt, data.x_train, data.y_train, batch_size, minimal_gen),
        "ours": lambda: train_epoch(ours, ours_opt, data, batch_size, ours_gen, config.grad_samples, no_progress),
    }
    best = dict.fromkeys(loops, float("inf"))
    for round_ in range(rounds):
        for key in (("minimal", "ours") if round_ % 2 == 0 else ("ours", "minimal")):
            best[key] = min(best[key], timed(loops[key], device))
    bench = "train loop" if device == "cpu" else f"train loop {device}"
    return Ratio(bench, f"train_epoch / minimal loop, batch {batch_size}", best["ours"] / best["minimal"],
                 1.05, detail=f"{name}, {n_train} images, norm {norm}: {best['ours']:.3f} / {best['minimal']:.3f} s")


def no_progress(steps: int) -> None:
    """The progress callback train_epoch calls (a no-op here)."""


def ratios() -> list[Ratio]:
    if fashion_mnist_dir():
        return [loop_ratio("fashion-mnist", 64, 60000), loop_ratio("fashion-mnist", 1, 2000)]
    return [loop_ratio("digits", 64, 1280), loop_ratio("digits", 1, 1000)]


if __name__ == "__main__":
    print_rows(ratios())
