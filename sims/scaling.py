"""``scaling``: synaptic scaling (models/synaptic_scaling.py) after a perturbation.

``n_post`` LIF neurons, each fed by its own ``k_inputs`` Poisson inputs with log-normal initial
weights. The network settles for ``settle`` seconds at ``input_rate``; then every input rate
is multiplied by ``factor`` (2: all inputs scaled up, 0.5: down) and it runs ``recover``
seconds more. Stored: the rate trace (the neurons' own sensor r, sampled every ``record_dt``),
the weights just before the perturbation (``initial/weights``) and at the end
(``final/weights``), and the mean rate over the last ``measure`` seconds
(``final/rate``, from spike counts). ``model_params`` (JSON) overrides the model's
parameters, e.g. ``'{"beta": 0.02}'``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from bridge.core.config import Config
from models import get
from models.synaptic_scaling import build
from sims.ip import check_windows, model_params, phase_runner


class ScalingConfig(Config):
    """Times in seconds, rates in Hz; validated when built."""

    n_post: PositiveInt = 10
    k_inputs: PositiveInt = 100
    input_rate: PositiveFloat = 10.0
    factor: PositiveFloat = 2.0
    settle: PositiveFloat = 20.0
    recover: PositiveFloat = 40.0
    measure: PositiveFloat = 10.0
    weight_spread: NonNegativeFloat = 0.5
    dt: PositiveFloat = 0.0005
    record_dt: PositiveFloat = 0.1
    model_params: str = ""
    seed: NonNegativeInt = 0

    @model_validator(mode="after")
    def _consistent(self) -> ScalingConfig:
        check_windows(self, "recover", "synaptic-scaling")
        return self


def scaling(cfg: ScalingConfig, finish: Callable[[], None],
            report: Callable | None = None) -> tuple[dict, dict]:
    """Simulate settle -> perturb -> recover; returns (arrays, attrs) for the store."""
    from brian2 import (  # brian2 is heavy: imported only to build or run a network
        Hz,
        Network,
        PoissonGroup,
        SpikeMonitor,
        StateMonitor,
        mV,
        second,
    )

    params = model_params(get("synaptic-scaling"), cfg.model_params)
    rng = np.random.default_rng(cfg.seed)
    n_syn = cfg.n_post * cfg.k_inputs
    weights = params.w_init * rng.lognormal(-cfg.weight_spread**2 / 2, cfg.weight_spread, n_syn)
    step = cfg.dt * second
    inputs = PoissonGroup(n_syn, cfg.input_rate * Hz, dt=step, name="scaling_in")
    neurons, synapses = build(inputs, cfg.n_post, params, weights * mV, dt=step)
    rate_mon = StateMonitor(neurons, "r", record=True, dt=cfg.record_dt * second)
    w_mon = StateMonitor(synapses, "w", record=True, dt=cfg.settle * second)
    spikes = SpikeMonitor(neurons)
    objects = (inputs, neurons, synapses, rate_mon, w_mon, spikes)
    total = cfg.settle + cfg.recover
    run = phase_runner(Network(*objects), report, total)
    run(cfg.settle, active=objects)
    inputs.rates = cfg.factor * cfg.input_rate * Hz
    run(cfg.recover, active=objects)
    finish()

    at_perturbation = np.argmin(np.abs(np.asarray(w_mon.t / second) - cfg.settle))
    w = np.asarray(w_mon.w / mV)[:, at_perturbation]
    counts = np.bincount(np.asarray(spikes.i)[np.asarray(spikes.t / second) >= total - cfg.measure],
                         minlength=cfg.n_post)
    arrays = {
        "traces/t": np.asarray(rate_mon.t / second), "traces/rate": np.asarray(rate_mon.r / Hz).T,
        "initial/weights": w.reshape(cfg.n_post, cfg.k_inputs),
        "final/weights": np.asarray(synapses.w / mV).reshape(cfg.n_post, cfg.k_inputs),
        "final/rate": counts / cfg.measure,
    }
    return arrays, {"/": {"target_rate": params.r_target}}
