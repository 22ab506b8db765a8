"""Our training loop (bridge.learning.train.train_epoch) vs a minimal hand-written loop.

Same model, data, optimiser and shuffling; the minimal loop does only zero_grad / forward /
loss / backward / step over the shuffled batches, ours also samples per-layer gradient norms,
accumulates the loss, checks for divergence, runs the post-step plasticity hooks and
advances a progress callback. One epoch of a 3-layer MLP (width 128) as the studies train it:
all 60,000 Fashion-MNIST images at batch 64 (BatchNorm; 937 steps, 20 of them sampled), 1,000
at batch 1 (infomax IP); sklearn digits when Fashion-MNIST is absent. Target: <= 1.05x.

The ratio is the median over rounds of each round's ratio, the two loops timed back to back in
each round, their order alternating. On this virtual machine the speed drifts by up to ~25% over
seconds; two epochs back to back see nearly the same machine, so the paired ratio cancels most of
the drift; the best epoch of each loop, taken at separate moments, measured 0.81-1.27x for one
unchanged loop.

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


def loop_ratio(name: str, batch_size: int, n_train: int, rounds: int, device: str = "cpu") -> Ratio:
    """The median over ``rounds`` of the paired ratio of the two loops' epoch times (module
    docstring), the data resident on ``device``."""
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
    seconds = {key: [] for key in loops}
    for round_ in range(rounds):
        for key in (("minimal", "ours") if round_ % 2 == 0 else ("ours", "minimal")):
            seconds[key].append(timed(loops[key], device))
    ours, minimal = (torch.tensor(seconds[key], dtype=torch.float64) for key in ("ours", "minimal"))
    bench = "train loop" if device == "cpu" else f"train loop {device}"
    return Ratio(bench, f"train_epoch / minimal loop, batch {batch_size}", float((ours / minimal).median()), 1.05,
                 detail=f"{name}, {n_train} images, norm {norm}, median of {rounds} paired epochs: "
                        f"{float(ours.median()):.3f} / {float(minimal.median()):.3f} s")


def no_progress(steps: int) -> None:
    """The progress callback train_epoch calls (a no-op here)."""


def ratios() -> list[Ratio]:
    if fashion_mnist_dir():
        return [loop_ratio("fashion-mnist", 64, 60000, rounds=5), loop_ratio("fashion-mnist", 1, 1000, rounds=11)]
    return [loop_ratio("digits", 64, 1280, rounds=5), loop_ratio("digits", 1, 1000, rounds=11)]


if __name__ == "__main__":
    print_rows(ratios())
