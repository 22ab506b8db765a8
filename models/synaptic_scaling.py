"""Synaptic scaling (van Rossum, Bi & Turrigiano 2000): every input weight of a neuron is
multiplied by a common factor that moves the neuron's rate toward a goal.

LIF neurons (mV) driven by many Poisson inputs; the neuron's rate is sensed by a decaying
spike trace r and the rate error is integrated::

    tau_m dv/dt = v_rest - v;   v > v_thresh -> v = v_reset;  on an input spike v += w
    dr/dt   = -r / tau_r,  r += 1/tau_r per spike
    dE/dt   = r_target - r
    dw/dt   = beta * w * (r_target - r) + gamma * w * E        (per synapse, multiplicative)

Proportional (beta) and integral (gamma) terms as in the paper; because the update multiplies
every weight of a neuron by the same factor, relative weights are preserved. The summed
weight per neuron, ``w_total``, is a ``(summed)`` variable of the synapses. Time constants are
compressed from hours to seconds (the paper's activity sensor has tau = 100 s) so that a run
converges in tens of simulated seconds; membrane values follow the paper (rest -70 mV,
threshold -54 mV, reset -60 mV, tau_m = 20 ms).

Source: M. C. W. van Rossum, G. Q. Bi & G. G. Turrigiano, "Stable Hebbian learning from spike
timing-dependent plasticity", J. Neurosci. 20(23):8812-8821, 2000.

Deep-learning form (:func:`scaling_factor`), after S. Shen, J. Wang & S. Navlakha, "A
correspondence between normalization strategies in artificial and biological neural
networks", Neural Computation 33(12):3179-3203, 2021: between optimisation steps each unit's
incoming weight row is multiplied by

    f = max(0, 1 + gain * (target - rate) + integral_gain * error),
    error <- error + dt * (target - rate)                      (:func:`integrated_error`)

the forward-Euler step of the equations above with ``gain = beta * dt``, ``integral_gain =
gamma * dt`` and ``rate`` the unit's activity (the Brian2 weights obey exactly
w(t+dt) = w(t) * f, the error its Euler step).

Closed loop (:func:`closed_loop_gains`): around the goal, with the rate proportional to the
weight scale, the relative rate error e obeys e'' + k_p e' + k_i e = 0 (k_p = beta r_goal,
k_i = gamma r_goal): the damped oscillation exp(-t/tau) cos(omega t) that ``homeobridge fit``
fits to a scaling run has k_p = 2/tau, k_i = omega^2 + 1/tau^2 (without oscillation, omega = 0
and no integral term: a first-order relaxation, k_p = 1/tau).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.params import brian2_values, param


def scaling_factor(rate: torch.Tensor, target: float, gain: float, integral_gain: float = 0.0,
                   error: torch.Tensor | float = 0.0) -> torch.Tensor:
    """f = max(0, 1 + gain (target - rate) + integral_gain error) per unit: unit i's weights times f[i]."""
    return torch.clamp(1 + gain * (target - rate) + integral_gain * error, min=0.0)


def integrated_error(error: torch.Tensor, rate: torch.Tensor, target: float, dt: float) -> torch.Tensor:
    """The integral term's state one step on: error + dt (target - rate) (Brian2: derr/dt = r_target - r)."""
    return error + dt * (target - rate)


def closed_loop_gains(tau: float, omega: float) -> tuple[float, float]:
    """(k_p, k_i), per unit time and squared, whose closed loop relaxes as exp(-t/tau) cos(omega t).

    Pole placement for e'' + k_p e' + k_i e = 0 (roots -1/tau +- i omega): k_p = 2/tau,
    k_i = omega^2 + 1/tau^2; with omega = 0 a first-order loop, k_p = 1/tau, k_i = 0.
    """
    if omega == 0:
        return 1.0 / tau, 0.0
    return 2.0 / tau, omega**2 + 1.0 / tau**2


@dataclass(frozen=True)
class SynapticScalingParams:
    tau_m: float = param(0.020, "second", "membrane time constant")
    v_rest: float = param(-70.0, "mV", "resting potential")
    v_thresh: float = param(-54.0, "mV", "threshold")
    v_reset: float = param(-60.0, "mV", "reset")
    tau_r: float = param(1.0, "second", "activity-sensor time constant (compressed)")
    r_target: float = param(10.0, "Hz", "goal rate")
    beta: float = param(0.02, doc="proportional scaling rate, per Hz of rate error")
    gamma: float = param(0.002, "Hz", "integral scaling rate, per unit of integrated error")
    w_init: float = param(0.5, "mV", "mean initial weight")


NEURON_EQUATIONS = """
dv/dt = (v_rest - v) / tau_m : volt
dr/dt = -r / tau_r : Hz
derr/dt = r_target - r : 1
r_target : Hz (constant)
w_total : volt
"""
THRESHOLD = "v > v_thresh"
RESET = "v = v_reset\nr += 1 / tau_r"
SYNAPSE_MODEL = """
dw/dt = w * (beta * (r_target_post - r_post) + gamma * err_post) : volt (clock-driven)
w_total_post = w : volt (summed)
"""


def build(inputs, n_post: int, params: SynapticScalingParams, weights, dt=None):
    """(neurons, synapses): ``n_post`` LIF neurons, each fed by its own block of ``inputs``.

    ``inputs`` (e.g. a PoissonGroup) has ``n_post * k`` neurons; input ``i`` projects to neuron
    ``i // k`` with initial weight ``weights[i]`` (volt). Forward-Euler integration.
    """
    from brian2 import NeuronGroup, Synapses  # brian2 is heavy: imported only to build or run a network

    values = brian2_values(params)
    neurons = NeuronGroup(n_post, NEURON_EQUATIONS, threshold=THRESHOLD, reset=RESET,
                          method="euler", dt=dt, name="scaling_post",
                          namespace={k: v for k, v in values.items() if k != "r_target"})
    neurons.v = values["v_rest"]
    neurons.r_target = values["r_target"]
    neurons.r = values["r_target"]
    k = len(inputs) // n_post
    synapses = Synapses(inputs, neurons, SYNAPSE_MODEL, on_pre="v_post += w", method="euler",
                        namespace=values, dt=dt, name="scaling_syn")
    synapses.connect(i=np.arange(n_post * k), j=np.arange(n_post * k) // k)
    synapses.state_updater.order = -1  # weights see r at the start of the step, like scaling_factor
    synapses.w = weights
    return neurons, synapses
