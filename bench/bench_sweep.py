"""A 100-condition lif-ip sweep as ONE NeuronGroup vs 100 separate one-neuron runs (target >= 40x).

Both simulate the same conditions for the same time on the numpy target; prints wall times and
their ratio. Usage: .venv/bin/python bench/bench_sweep.py [seconds-simulated]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _timing import Ratio, print_rows

from sims.backend import brian_backend
from sims.ip import HomeostasisSweepConfig, make_neuron, simulate_ip


def sweep(mu: np.ndarray, sigma: np.ndarray, cfg: HomeostasisSweepConfig) -> float:
    start = time.perf_counter()
    with brian_backend("numpy") as finish:
        simulate_ip(make_neuron(cfg), mu, sigma, cfg, finish)
    return time.perf_counter() - start


def ratios(duration: float = 20.0) -> list[Ratio]:
    cfg = HomeostasisSweepConfig(model="lif-ip", duration=duration, measure=duration / 2,
                                 fi_points=5, fi_duration=0.1)
    mu, sigma = (g.ravel() for g in np.meshgrid(np.linspace(0.5, 2, 10), np.linspace(0.2, 1, 10)))
    one_group = sweep(mu, sigma, cfg)
    separate = sum(sweep(mu[k:k + 1], sigma[k:k + 1], cfg) for k in range(len(mu)))
    return [Ratio("brian2 sweep", "100 one-neuron runs / one 100-neuron group", separate / one_group, 40,
                  at_least=True, detail=f"{duration:g} s simulated, numpy target: {separate:.1f} / {one_group:.1f} s")]


if __name__ == "__main__":
    print_rows(ratios(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0))
