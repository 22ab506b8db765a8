"""IntrinsicPlasticity and FittedHomeostasis vs BatchNorm1d: forward + backward at (256, 1024).

Training mode (plastic updates on), float32, CPU threads as torch sets them. The IP layers
include their activation, so the fair baseline is BatchNorm1d followed by the same
activation; BatchNorm1d alone is printed too. Ratios only, no assertions.

    .venv/bin/python bench/bench_layers.py
"""

from __future__ import annotations

import torch
from _timing import best_times, report
from torch import nn

from bridge.fitting.rules import Dynamics, Equilibrium, Rule
from bridge.learning.layers import FittedHomeostasis, IntrinsicPlasticity

BATCH, UNITS = 256, 1024


def _rule() -> Rule:
    eq = Equilibrium(p=1.0, c=1.0, s=1.0, d=0.0, p_ci=(1, 1), c_ci=(1, 1), s_ci=(1, 1), d_ci=(0, 0),
                     r2_gain=1, r2_bias=1, r2=1, bn_gamma=1, bn_beta=0, bn_score=1, verdict="")
    return Rule(name="bench", kind="intrinsic", model="rate-ip-triesch", transfer="sigmoid",
                targets={"mu_target": 0.1}, dynamics=Dynamics(tau_gain=0.1, tau_bias=0.1, sample_dt=0.001),
                fit_quality={},
                source_runs=[], model_params={}, equations="", equilibrium=eq)


def _step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """Forward and backward with a dense upstream gradient (``.sum()`` would hand BatchNorm's
    backward a broadcast gradient, a slow path that would flatter the ratios)."""
    def run() -> None:
        module(x).backward(grad)
        x.grad = None
    return run


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(BATCH, UNITS, requires_grad=True)
    grad = torch.randn(BATCH, UNITS)
    layers = {
        "BatchNorm1d + sigmoid": nn.Sequential(nn.BatchNorm1d(UNITS), nn.Sigmoid()),
        "BatchNorm1d alone": nn.BatchNorm1d(UNITS),
        "BatchNorm1d + tanh": nn.Sequential(nn.BatchNorm1d(UNITS), nn.Tanh()),
        "IntrinsicPlasticity(triesch)": IntrinsicPlasticity(UNITS, "triesch", eta=0.01),
        "IntrinsicPlasticity(infomax)": IntrinsicPlasticity(UNITS, "infomax", eta=0.01),
        "FittedHomeostasis(equilibrium)": FittedHomeostasis.from_rule(_rule(), UNITS, "equilibrium"),
        "FittedHomeostasis(online)": FittedHomeostasis.from_rule(_rule(), UNITS, "online"),
    }
    times = best_times({name: _step(layer.train(), x, grad) for name, layer in layers.items()})
    report(f"forward+backward at ({BATCH}, {UNITS}), {torch.get_num_threads()} threads",
           times, "BatchNorm1d + sigmoid", 1.2)


if __name__ == "__main__":
    main()
