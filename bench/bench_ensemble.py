"""The ensemble engine against the cells trained one by one (issue 24): cells per minute of an
ensemble over the same cells on the single engine, both on one CPU thread, in one run.

Rows: batch 1, a 4-layer width-128 tanh MLP (oja-online's shape), 30 members, for SGD and
SGD + Oja; batch 1, a 3-layer width-128 spiking MLP of 10 time steps (snn-online's shape), 30
members (3 learning rates x 10 seeds) for its arms none, homeostatic and adaptive-threshold;
batch 64, a 10-layer width-256 tanh MLP for none, bn and ip-infomax (the engine leaves nets this
wide to the single engine: these rows say why, with the single engine's rate of multiply-adds);
and, as a reference row, the 4 x 128 MLP at batch 64 that the engine takes, and one thread's
rate on a large product. The single engine's time per cell is measured on a few of the cells
(the same work as each of the others).
"""

from __future__ import annotations

import time

import torch
from _timing import Ratio, print_rows

from bridge.learning.ensemble_training import run_ensemble
from bridge.learning.train import TrainConfig, cpu_threads, run_training

ONLINE = {"dataset": "fashion-mnist", "n_train": 1000, "n_test": 200, "epochs": 1, "depth": 4, "width": 128,
          "batch_size": 1, "device": "cpu", "probe_size": 64, "activation": "tanh"}
DEEP = {**ONLINE, "n_train": 6400, "depth": 10, "width": 256, "batch_size": 64}
SPIKING_ONLINE = {**ONLINE, "n_train": 300, "depth": 3, "neuron": "spiking", "time_steps": 10}
SINGLE_SAMPLES = 3


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _gflops(fields: dict, seconds: float) -> float:
    """The single engine's rate of the matrix products: forward, input and weight gradients
    (none for the first layer's input), 2 flops a multiply-add."""
    sizes = [784] + [fields["width"]] * (fields["depth"] - 1) + [10]
    products = sum(a * b for a, b in zip(sizes, sizes[1:]))
    per_image = 2 * (3 * products - sizes[0] * sizes[1])
    return per_image * fields["n_train"] * fields["epochs"] / seconds / 1e9


def _ratio(name: str, fields: dict, norm: str, members: int, target: float | None) -> Ratio:
    configs = [TrainConfig(**fields, norm=norm, seed=i % 10, lr=0.01 * (1 + i // 10)) for i in range(members)]
    run_training(configs[0], progress=False)  # warm: data loaded, kernels ready
    single = sum(_seconds(lambda c=c: run_training(c, progress=False)) for c in configs[:SINGLE_SAMPLES])
    single /= SINGLE_SAMPLES
    together = _seconds(lambda: run_ensemble(configs, progress=False)) / members
    rate = f"; single engine at {_gflops(fields, single):.0f} GFLOP/s" if fields["batch_size"] > 1 else ""
    return Ratio("ensemble", name, single / together, target, at_least=True,
                 detail=f"{members} members: {together:.3f} s a member vs {single:.3f} s a single cell "
                        f"({fields['n_train']} images, batch {fields['batch_size']}, one epoch, one thread{rate})")


def _peak_gflops() -> Ratio:
    """One thread's rate on a large matrix product: what the batch-64 rows' single engine is near."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    with cpu_threads():
        a @ b
        start, rounds = time.perf_counter(), 20
        for _ in range(rounds):
            a @ b
        rate = 2 * 1024**3 * rounds / (time.perf_counter() - start) / 1e9
    return Ratio("ensemble", "one thread's matrix-product rate (1024 x 1024 mm)", rate, None, unit=" GFLOP/s",
                 detail="a large product's rate; the batch-64 rows' 64 x 256 x 256 products run at the rate in "
                        "their detail, "
                        "alone or batched by member (bmm): the ensemble removes dispatch, not arithmetic")


def ratios() -> list[Ratio]:
    return [
        _ratio("batch 1, 4 x 128 tanh MLP, sgd: cells per minute", ONLINE, "none", 30, 6.0),
        _ratio("batch 1, 4 x 128 tanh MLP, sgd + oja: cells per minute", ONLINE, "oja", 30, 6.0),
        *(_ratio(f"batch 1, 3 x 128 spiking MLP, 10 steps, {norm}: cells per minute", SPIKING_ONLINE, norm, 30, 4.0)
          for norm in ("none", "homeostatic", "adaptive-threshold")),
        _ratio("batch 64, 10 x 256 tanh MLP, none", DEEP, "none", 8, 1.3),
        _ratio("batch 64, 10 x 256 tanh MLP, bn", DEEP, "bn", 8, 1.3),
        _ratio("batch 64, 10 x 256 tanh MLP, ip-infomax", DEEP, "ip-infomax", 8, 1.5),
        _ratio("batch 64, 4 x 128 tanh MLP, none (the engine's)", {**DEEP, "depth": 4, "width": 128}, "none", 30,
               None),
        _peak_gflops(),
    ]


if __name__ == "__main__":
    print_rows(ratios())
