"""A 100-condition lif-ip sweep as ONE NeuronGroup vs 100 separate one-neuron runs (target >= 40x).

Both simulate the same conditions for the same time on the numpy target; prints wall times and
their ratio. Usage: .venv/bin/python bench/bench_sweep.py [seconds-simulated]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sims.backend import brian_backend
from sims.ip import HomeostasisSweepConfig, make_neuron, simulate_ip


def sweep(mu: np.ndarray, sigma: np.ndarray, cfg: HomeostasisSweepConfig) -> float:
    start = time.perf_counter()
    with brian_backend("numpy") as finish:
        simulate_ip(make_neuron(cfg), mu, sigma, cfg, finish)
    return time.perf_counter() - start


def main(duration: float) -> None:
    cfg = HomeostasisSweepConfig(model="lif-ip", duration=duration, measure=duration / 2,
                                 fi_points=5, fi_duration=0.1)
    mu, sigma = (g.ravel() for g in np.meshgrid(np.linspace(0.5, 2, 10), np.linspace(0.2, 1, 10)))
    one_group = sweep(mu, sigma, cfg)
    separate = sum(sweep(mu[k:k + 1], sigma[k:k + 1], cfg) for k in range(len(mu)))
    print(f"100 conditions, {duration:g} s simulated: one group {one_group:.1f} s, "
          f"100 runs {separate:.1f} s, ratio {separate / one_group:.1f}x (target >= 40x)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
