"""HomeostaticLeaky vs snntorch's Leaky: time per step, forward + backward through T steps.

(batch 256, 1024 neurons), T = 10 steps of the same input current, training mode (plastic
updates on for HomeostaticLeaky: the Leaky's work plus a rate trace, threshold, gain and two
rate sensors), both with the atan surrogate. Target: <= 1.2x, as for the rate layers.

    .venv/bin/python bench/bench_spiking.py
"""

from __future__ import annotations

import snntorch as snn
import torch
from _timing import Ratio, best_times, print_rows
from snntorch import surrogate

from bridge.learning.layers import HomeostaticLeaky
from bridge.learning.layers.spiking import net_params

BATCH, UNITS, STEPS = 256, 1024, 10
TARGET = 1.2  # as for the rate layers against BatchNorm


def _leaky(layer: snn.Leaky, current: torch.Tensor):
    def run() -> None:
        mem, total = torch.zeros_like(current), 0
        for _ in range(STEPS):
            spikes, mem = layer(current, mem)
            total = total + spikes
        (total.sum() + mem.sum()).backward()
        current.grad = None
    return run


def _homeostatic(layer: HomeostaticLeaky, current: torch.Tensor):
    def run() -> None:
        state, total = None, 0
        for _ in range(STEPS):
            spikes, state = layer(current, state)
            total = total + spikes
        (total.sum() + state.v.sum()).backward()
        current.grad = None
    return run


def ratios(device: str = "cpu", **timing) -> list[Ratio]:
    """HomeostaticLeaky against snn.Leaky on ``device`` (``timing``: best_times')."""
    torch.manual_seed(0)
    current = (0.3 * torch.rand(BATCH, UNITS, device=device)).requires_grad_()
    leaky = snn.Leaky(beta=0.9, spike_grad=surrogate.atan(), reset_mechanism="zero")
    homeostatic = HomeostaticLeaky(UNITS, net_params(STEPS)).to(device)
    times = best_times({"snn.Leaky": _leaky(leaky, current),
                        "HomeostaticLeaky": _homeostatic(homeostatic.train(), current)}, **timing)
    ratio = times["HomeostaticLeaky"] / times["snn.Leaky"]
    bench = "spiking" if device == "cpu" else f"spiking {device}"
    return [Ratio(bench, f"HomeostaticLeaky / snn.Leaky per step ({BATCH}, {UNITS})", ratio, TARGET,
                  detail=f"forward+backward through T={STEPS}: {times['HomeostaticLeaky'] / STEPS * 1e3:.3f} / "
                         f"{times['snn.Leaky'] / STEPS * 1e3:.3f} ms per step")]


if __name__ == "__main__":
    print_rows(ratios())
