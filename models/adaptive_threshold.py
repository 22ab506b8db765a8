"""Diehl & Cook 2015 adaptive threshold: each spike raises the threshold, which decays slowly.

Current-based LIF (potentials in mV, input ``I`` in mV)::

    tau_m dv/dt = v_rest - v + I
    dtheta/dt   = -theta / tau_theta
    spike when v > v_thresh + theta;  then v -> v_reset (reset to a value), theta += theta_plus

Defaults from the excitatory neurons of P. U. Diehl & M. Cook, "Unsupervised learning of digit
recognition using spike-timing-dependent plasticity", Frontiers in Computational Neuroscience
9:99, 2015 (v_rest = v_reset = -65 mV, v_thresh = -52 mV, tau_m = 100 ms, theta_plus = 0.05 mV,
tau_theta = 1e7 ms). Their conductance-based synapses and 5 ms refractory period are left out
(the input is a current), so that :func:`adaptive_threshold_step` is the same forward-Euler
step as the Brian2 model (``method='euler'``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from models.params import batch_mean, brian2_values, file_parameters, heaviside, param


@dataclass(frozen=True)
class AdaptiveThresholdParams:
    tau_m: float = param(0.1, "second", "membrane time constant")
    v_rest: float = param(-65.0, "mV", "resting potential")
    v_reset: float = param(-65.0, "mV", "reset potential")
    v_thresh: float = param(-52.0, "mV", "fixed part of the threshold")
    theta_plus: float = param(0.05, "mV", "threshold increment per spike")
    tau_theta: float = param(1e4, "second", "threshold decay time constant")


class AdaptiveThresholdState(NamedTuple):
    """v: (batch, n) in mV; theta: (n,) in mV."""

    v: torch.Tensor
    theta: torch.Tensor


def adaptive_threshold_initial_state(
    n: int, params: AdaptiveThresholdParams, like: torch.Tensor, batch: int = 1
) -> AdaptiveThresholdState:
    return AdaptiveThresholdState(
        v=torch.full((batch, n), params.v_rest, dtype=like.dtype, device=like.device),
        theta=torch.zeros(n, dtype=like.dtype, device=like.device),
    )


def adaptive_threshold_step(
    current: torch.Tensor,
    state: AdaptiveThresholdState,
    params: AdaptiveThresholdParams,
    dt: float,
    spike_fn: Callable[[torch.Tensor], torch.Tensor] = heaviside,
    plastic: bool = True,
) -> tuple[torch.Tensor, AdaptiveThresholdState]:
    """One forward-Euler step of ``dt`` seconds; ``current`` (batch, n) in mV, or (members, batch,
    n) with theta (members, 1, n) (:func:`models.params.batch_mean`). Pure.

    Reset to ``v_reset`` (detached from the graph); theta decays and grows by ``theta_plus``
    times the batch-mean spike count (frozen when ``plastic`` is False).
    """
    p = params
    v = state.v + dt * (p.v_rest - state.v + current) / p.tau_m
    theta = state.theta
    if plastic:
        theta = theta - dt * theta / p.tau_theta
    spikes = spike_fn(v - p.v_thresh - theta)
    fired = spikes.detach()
    v = v - fired * (v - p.v_reset)
    if plastic:
        theta = theta + p.theta_plus * batch_mean(fired)
    return spikes, AdaptiveThresholdState(v, theta)


EQUATIONS = """
dv/dt = (v_rest - v + I) / tau_m : volt
dtheta/dt = -theta / tau_theta : volt
"""
THRESHOLD = "v > v_thresh + theta"
RESET = "v = v_reset\ntheta += theta_plus"


def equations(input_equation: str) -> str:
    """The Brian2 model; ``input_equation`` defines the input ``I`` (volt)."""
    return input_equation + EQUATIONS


def build(n: int, params: AdaptiveThresholdParams, input_equation: str, dt=None,
          name: str = "adaptive_threshold"):
    """A NeuronGroup of ``n`` Diehl & Cook neurons at rest with theta = 0 (method 'euler')."""
    from brian2 import NeuronGroup  # brian2 is heavy: imported only to build or run a network

    values = brian2_values(params)
    group = NeuronGroup(n, equations(input_equation), threshold=THRESHOLD, reset=RESET,
                        method="euler", namespace=values, dt=dt, name=name)
    group.v = values["v_rest"]
    return group


SOURCE = "Diehl & Cook 2015, Front. Comput. Neurosci. 9:99 (models/adaptive_threshold.py)"


def model_file(params: AdaptiveThresholdParams | None = None) -> dict:
    """The adaptive-threshold neuron as a model file's content (``bridge.core.model_file.ModelFile``),
    from the equations above: input I in mV over 0 .. 2 (v_thresh - v_rest), the threshold's raise
    theta its homeostasis."""
    p = params or AdaptiveThresholdParams()
    return {
        "name": "lif-adaptive-threshold-file", "source": SOURCE, "method": "euler",
        "equations": "I : volt\n" + EQUATIONS.lstrip(), "threshold": THRESHOLD, "reset": RESET,
        "parameters": file_parameters(p), "initial": {"v": {"value": p.v_rest, "unit": "mV"}},
        "input": {"kind": "current", "variable": "I", "unit": "mV", "low": 0.0, "high": 2 * (p.v_thresh - p.v_rest)},
        "homeostasis": {"state": ["theta"], "reads": "threshold", "variable": "theta"},
    }
