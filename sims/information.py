"""``information``: the output distribution of an IP neuron vs the same neuron with IP off.

Two groups of ``neurons`` rate neurons see the same fixed OU input distribution N(mu, sigma^2)
(independent realisations); one adapts its gain and bias by the model's IP rule, the other
keeps a = 1, b = 0 (learning rate 0). Over the last ``measure`` seconds the outputs are
pooled per group and summarised by

* the histogram entropy (nats) over ``bins`` equal bins spanning the transfer's range;
* the information potential V = mean_{i,j} G(y_i - y_j; 2 s^2) (kernel width s =
  ``kernel_width``) over ``samples`` outputs, and Renyi's quadratic entropy H2 = -log V
  (Principe, Information Theoretic Learning, Springer 2010), from :mod:`models.information`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field, PositiveFloat, PositiveInt
from scipy.stats import entropy

from models.information import information_potential
from sims.ip import RATE_IP_MODELS, IPRunConfig, make_neuron, ou_input, phase_runner

RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class InformationConfig(IPRunConfig):
    model: Literal[RATE_IP_MODELS] = "rate-ip-infomax"
    duration: PositiveFloat = 60.0
    measure: PositiveFloat = 10.0
    mu: float = 1.0
    sigma: PositiveFloat = 4.0
    neurons: PositiveInt = 4
    bins: Annotated[int, Field(ge=2)] = 20
    kernel_width: PositiveFloat = 0.05
    samples: Annotated[int, Field(ge=2)] = 2000


def information(cfg: InformationConfig, finish: Callable[[], None],
                report: Callable | None = None) -> tuple[dict, dict]:
    from brian2 import Network, StateMonitor, second  # brian2 is heavy: imported only to build or run a network

    neuron = make_neuron(cfg)
    n = cfg.neurons
    group = neuron.build(2 * n, "info", ou_input(neuron.input_var))
    group.namespace["tau_in"] = cfg.tau_in * second
    group.mu, group.sigma, group.x = cfg.mu, cfg.sigma, cfg.mu
    group.eta[n:] = 0
    mon = StateMonitor(group, "y", record=True)
    run = phase_runner(Network(group, mon), report, cfg.duration)
    run(cfg.duration - cfg.measure, active=(group,))
    run(cfg.measure, active=(group, mon))
    finish()

    y = np.asarray(mon.y)
    rng = np.random.default_rng(cfg.seed)
    value_range = RANGES[neuron.spec.transfer]
    arrays = {}
    for label, rows in (("ip", slice(0, n)), ("no_ip", slice(n, 2 * n))):
        pooled = y[rows].ravel()
        sample = rng.choice(pooled, size=min(cfg.samples, len(pooled)), replace=False)
        potential = float(information_potential(torch.from_numpy(sample), cfg.kernel_width))
        counts, edges = np.histogram(pooled, bins=cfg.bins, range=value_range)
        arrays |= {
            f"{label}/entropy": float(entropy(counts)),
            f"{label}/information_potential": potential, f"{label}/renyi_entropy": -np.log(potential),
            f"{label}/histogram": counts, f"{label}/output_mean": pooled.mean(),
            f"{label}/output_var": pooled.var(),
        }
    arrays["histogram_edges"] = edges
    arrays["final/gain"], arrays["final/bias"] = np.asarray(group.a), np.asarray(group.b)
    return arrays, {"model": neuron.attrs()}
