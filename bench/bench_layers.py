"""Homeostatic layers vs BatchNorm + the same activation: forward + backward, training mode.

IntrinsicPlasticity (Triesch: sigmoid; infomax: tanh) and FittedHomeostasis (online and at
equilibrium, a Triesch-fitted rule: sigmoid) at (64, 256), (256, 1024) and (1024, 1024)
against BatchNorm1d followed by the layer's activation (the IP layers include theirs); the
Conv2d variants (IntrinsicPlasticity2d, FittedHomeostasis on a feature map) against
BatchNorm2d + activation at (64, 64, 16, 16). Plastic updates on, float32, the threads torch
sets. Target: each <= 1.2x its baseline.

    .venv/bin/python bench/bench_layers.py
"""

from __future__ import annotations

import torch
from _timing import Ratio, best_times, print_rows
from torch import nn

from bridge.fitting.rules import Dynamics, Equilibrium, Rule
from bridge.learning.layers import FittedHomeostasis, IntrinsicPlasticity, IntrinsicPlasticity2d

SHAPES = ((64, 256), (256, 1024), (1024, 1024))
CONV_SHAPE = (64, 64, 16, 16)
TARGET = 1.2


def _rule() -> Rule:
    eq = Equilibrium(p=1.0, c=1.0, s=1.0, d=0.0, p_ci=(1, 1), c_ci=(1, 1), s_ci=(1, 1), d_ci=(0, 0),
                     r2_gain=1, r2_bias=1, r2=1, bn_gamma=1, bn_beta=0, bn_score=1, verdict="")
    return Rule(name="bench", kind="intrinsic", model="rate-ip-triesch", transfer="sigmoid",
                targets={"mu_target": 0.1}, dynamics=Dynamics(tau_gain=0.1, tau_bias=0.1, sample_dt=0.001),
                fit_quality={}, source_runs=[], model_params={}, equations="", equilibrium=eq)


def _step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """Forward and backward with a dense upstream gradient (``.sum()`` would hand BatchNorm's
    backward a broadcast gradient, a slow path that would flatter the ratios)."""
    def run() -> None:
        module(x).backward(grad)
        x.grad = None
    return run


def _candidates(n: int, conv: bool) -> dict[str, tuple[nn.Module, str]]:
    """name -> (layer, the name of its baseline)."""
    norm = nn.BatchNorm2d if conv else nn.BatchNorm1d
    ip = IntrinsicPlasticity2d if conv else IntrinsicPlasticity
    base = "BatchNorm2d" if conv else "BatchNorm1d"
    return {
        f"{base} + sigmoid": (nn.Sequential(norm(n), nn.Sigmoid()), ""),
        f"{base} + tanh": (nn.Sequential(norm(n), nn.Tanh()), ""),
        "IP triesch": (ip(n, "triesch", eta=0.01), f"{base} + sigmoid"),
        "IP infomax": (ip(n, "infomax", eta=0.01), f"{base} + tanh"),
        "fitted online": (FittedHomeostasis.from_rule(_rule(), n, "online"), f"{base} + sigmoid"),
        "fitted equilibrium": (FittedHomeostasis.from_rule(_rule(), n, "equilibrium"), f"{base} + sigmoid"),
    }


def layer_ratios(shape: tuple[int, ...], device: str = "cpu", **timing) -> list[Ratio]:
    """Each homeostatic layer against its baseline at one shape, on ``device`` (``timing``: best_times')."""
    torch.manual_seed(0)
    x = torch.randn(*shape, device=device, requires_grad=True)
    grad = torch.randn(*shape, device=device)
    layers = _candidates(shape[1], len(shape) == 4)
    times = best_times({name: _step(layer.to(device).train(), x, grad) for name, (layer, _) in layers.items()},
                       **timing)
    bench = "layers" if device == "cpu" else f"layers {device}"
    return [Ratio(bench, f"{name} {shape}", times[name] / times[baseline], TARGET,
                  detail=f"vs {baseline}: {times[name] * 1e3:.3f} / {times[baseline] * 1e3:.3f} ms")
            for name, (_, baseline) in layers.items() if baseline]


def ratios() -> list[Ratio]:
    return [row for shape in (*SHAPES, CONV_SHAPE) for row in layer_ratios(shape)]


if __name__ == "__main__":
    print(f"{torch.get_num_threads()} threads")
    print_rows(ratios())
