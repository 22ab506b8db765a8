"""Leaky integrate-and-fire neuron whose threshold AND input gain adapt toward a target rate.

Membrane (normalised: rest 0, initial threshold 1), input ``I`` scaled by the plastic gain::

    tau_m dv/dt = v_rest - v + gain * I
    spike when v > theta;  then v -> v - delta_v   (reset by subtraction of a FIXED step)

The fixed reset step sets the voltage scale: with it, gain and threshold are two independent
knobs (the f-I curve is roughly [gain * I - theta]_+ / (delta_v * tau_m): gain is its slope,
theta its offset). Resetting to 0 or subtracting theta would make the neuron invariant under
(gain, theta) -> (c gain, c theta), leaving one knob for two targets.

Rate sensors, driven by the neuron's own spikes (a decaying spike trace, as in van Rossum,
Bi & Turrigiano 2000)::

    dr/dt   = -r / tau_r,  r += 1/tau_r per spike          (instantaneous rate, Hz)
    dm/dt   = (r - m) / tau_avg                             (slow mean rate)
    ds2/dt  = ((r - m)^2 - s2) / tau_avg                    (slow rate variance)

Homeostatic rules (moment matching)::

    dtheta/dt = eta_theta * (r - r_target) / r_target
    dgain/dt  = eta_gain * gain * clip(m / r_target, 0, 1) * (1 - s2 / var_target)

The threshold integrates the rate error, so the mean rate converges to ``r_target``. The gain
regulates the *spread* of the response: it shrinks when the rate fluctuates more than
``var_target`` and grows when it fluctuates less, so at equilibrium gain * sigma_input is
constant and the f-I slope falls as the input's standard deviation rises (BatchNorm's
1/sigma). The gate clip(m / r_target, 0, 1) pauses the gain while the neuron is (nearly)
silent: a silent neuron's variance is 0, and without the gate its gain would grow without
bound, pushing a negative mean input ever further below threshold. At equilibrium
m = r_target and the gate is 1.
The pair matches the first two moments of the rate to targets: a moment-matching
simplification in the spirit of Triesch 2005 (whose exponential target fixes mean and variance
together), not a rule taken verbatim from one paper; adapting an intrinsic conductance to
shape the rate distribution follows Stemmler & Koch 1999.

Sources: J. Triesch, ICANN 2005, LNCS 3696:65-70; M. Stemmler & C. Koch, "How voltage-dependent
conductances can adapt to maximize the information encoded by neuronal firing rate", Nature
Neuroscience 2(6):521-527, 1999; trace sensor after M. C. W. van Rossum, G. Q. Bi &
G. G. Turrigiano, J. Neurosci. 20(23):8812-8821, 2000. Time constants are compressed (seconds,
not hours) so that simulations converge in tens of seconds.

Brian2 integrates with ``method='euler'``; :func:`lif_ip_step` is the identical forward-Euler
step in torch (all derivatives from the old state, then threshold on the new v and theta, then
reset and trace increment, in Brian2's order), so the same input gives the same spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from models.params import batch_mean, brian2_values, file_parameters, heaviside, param


@dataclass(frozen=True)
class LifIPParams:
    tau_m: float = param(0.020, "second", "membrane time constant")
    v_rest: float = param(0.0, doc="resting potential (normalised)")
    delta_v: float = param(1.0, doc="reset step: v -> v - delta_v at each spike (fixed, not theta)")
    theta0: float = param(1.0, doc="initial threshold")
    gain0: float = param(1.0, doc="initial input gain")
    tau_r: float = param(0.1, "second", "rate-trace time constant")
    tau_avg: float = param(5.0, "second", "time constant of the slow rate mean and variance")
    r_target: float = param(10.0, "Hz", "target firing rate")
    var_target: float = param(60.0, "Hz**2", "target variance of the rate trace")
    eta_theta: float = param(1.0, "Hz", "threshold learning rate")
    eta_gain: float = param(0.2, "Hz", "gain learning rate")


class LifIPState(NamedTuple):
    """v, r: (batch, n) per sample; theta, gain, m (mean rate), s2 (rate variance): (n,)."""

    v: torch.Tensor
    theta: torch.Tensor
    gain: torch.Tensor
    trace: torch.Tensor
    mean_rate: torch.Tensor
    var_rate: torch.Tensor


def lif_ip_initial_state(n: int, params: LifIPParams, like: torch.Tensor, batch: int = 1) -> LifIPState:
    """Rest, threshold ``theta0``, gain ``gain0``, rate sensors at the target (mean) and 0 (variance)."""
    def full(shape: tuple[int, ...], value: float) -> torch.Tensor:
        return torch.full(shape, value, dtype=like.dtype, device=like.device)

    return LifIPState(
        v=full((batch, n), params.v_rest), theta=full((n,), params.theta0),
        gain=full((n,), params.gain0), trace=full((batch, n), 0.0),
        mean_rate=full((n,), params.r_target), var_rate=full((n,), params.var_target),
    )


def lif_ip_step(
    current: torch.Tensor,
    state: LifIPState,
    params: LifIPParams,
    dt: float,
    spike_fn: Callable[[torch.Tensor], torch.Tensor] = heaviside,
    plastic: bool = True,
) -> tuple[torch.Tensor, LifIPState]:
    """One forward-Euler step of ``dt`` seconds; returns ``(spikes, new_state)``, nothing in place.

    ``current`` is (batch, n), or (members, batch, n) with the per-neuron state (members, 1, n)
    (:func:`models.params.batch_mean`); ``spike_fn(v - theta)`` makes the spikes (a surrogate-gradient
    function when training). Reset by subtracting the fixed ``delta_v``, the reset detached
    from the graph as snntorch does. Plastic updates (theta, gain, mean and variance sensors) use
    the batch mean of the per-sample drives; with ``plastic=False`` they are frozen.
    """
    p = params
    v, theta, gain, r, m, s2 = state
    leak = dt / p.tau_m  # v + leak (v_rest - v + gain I) as (1 - leak) v + leak v_rest + leak gain I: three passes
    v = torch.addcmul(v * (1 - leak) + leak * p.v_rest, gain, current, value=leak)
    r_new = r * (1 - dt / p.tau_r)
    if plastic:
        r_mean = batch_mean(r)
        theta, gain, m, s2 = (
            theta + dt * p.eta_theta * (r_mean - p.r_target) / p.r_target,
            gain + dt * p.eta_gain * gain * torch.clamp(m / p.r_target, 0, 1) * (1 - s2 / p.var_target),
            m + dt * (r_mean - m) / p.tau_avg,
            s2 + dt * (batch_mean((r - m).square_()) - s2) / p.tau_avg,
        )
    spikes = spike_fn(v - theta)
    fired = spikes.detach()
    v = torch.add(v, fired, alpha=-p.delta_v)
    r_new = r_new.add_(fired, alpha=1 / p.tau_r)
    return spikes, LifIPState(v, theta, gain, r_new, m, s2)


EQUATIONS = """
dv/dt = (v_rest - v + gain * I) / tau_m : 1
dr/dt = -r / tau_r : Hz
dm/dt = (r - m) / tau_avg : Hz
ds2/dt = ((r - m)**2 - s2) / tau_avg : Hz**2
dtheta/dt = eta_theta * (r - r_target) / r_target : 1
dgain/dt = eta_gain * gain * clip(m / r_target, 0, 1) * (1 - s2 / var_target) : 1
r_target : Hz (constant)
var_target : Hz**2 (constant)
eta_theta : Hz (constant)
eta_gain : Hz (constant)
"""
THRESHOLD = "v > theta"
RESET = "v -= delta_v\nr += 1 / tau_r"
NAMESPACE_KEYS = ("tau_m", "v_rest", "delta_v", "tau_r", "tau_avg")
PER_NEURON_KEYS = ("r_target", "var_target", "eta_theta", "eta_gain")


def equations(input_equation: str) -> str:
    """The Brian2 model: ``input_equation`` defines the input ``I`` (dimensionless)."""
    return input_equation + EQUATIONS


def build(n: int, params: LifIPParams, input_equation: str, dt=None, name: str = "lif_ip"):
    """A NeuronGroup of ``n`` lif-ip neurons (method 'euler') initialised as :func:`lif_ip_initial_state`.

    Rule parameters are per-neuron ``(constant)`` variables (set them per condition after
    building); time constants and potentials live in the group's namespace.
    """
    from brian2 import NeuronGroup  # brian2 is heavy: imported only to build or run a network

    values = brian2_values(params)
    group = NeuronGroup(
        n, equations(input_equation), threshold=THRESHOLD, reset=RESET, method="euler",
        namespace={key: values[key] for key in NAMESPACE_KEYS}, dt=dt, name=name,
    )
    for key in PER_NEURON_KEYS:
        setattr(group, key, values[key])
    group.v = params.v_rest
    group.theta = params.theta0
    group.gain = params.gain0
    group.m = values["r_target"]
    group.s2 = values["var_target"]
    return group


FROZEN_EQUATIONS = """
dv/dt = (v_rest - v + gain * I) / tau_m : 1
I : 1 (constant)
gain : 1 (linked)
theta : 1 (linked)
"""


def build_frozen(n: int, params: LifIPParams, dt=None, name: str = "lif_ip_frozen"):
    """``n`` lif-ip neurons without plasticity, constant input ``I``; link ``gain`` and ``theta``."""
    from brian2 import NeuronGroup  # brian2 is heavy: imported only to build or run a network

    values = brian2_values(params)
    return NeuronGroup(n, FROZEN_EQUATIONS, threshold=THRESHOLD, reset="v -= delta_v",
                       method="euler", namespace={k: values[k] for k in NAMESPACE_KEYS},
                       dt=dt, name=name)


SOURCE = ("Triesch 2005, ICANN LNCS 3696:65-70; Stemmler & Koch 1999, Nat. Neurosci. 2:521-527; rate trace after "
          "van Rossum, Bi & Turrigiano 2000, J. Neurosci. 20:8812 (models/lif_ip.py)")


def model_file(params: LifIPParams | None = None) -> dict:
    """lif-ip as a model file's content (``bridge.core.model_file.ModelFile``), from the equations
    above: the per-neuron rule parameters become parameters, the initial state that of
    :func:`lif_ip_initial_state`, the input I itself (range -1 .. 1: offset 0, scale 1), the rate
    trace r its sensor; named ``lif-ip-file`` (a file takes no built-in's name)."""
    p = params or LifIPParams()
    lines = [line for line in EQUATIONS.strip().splitlines() if "(constant)" not in line]
    return {
        "name": "lif-ip-file", "source": SOURCE, "method": "euler", "equations": "\n".join(["I : 1", *lines]) + "\n",
        "threshold": THRESHOLD, "reset": RESET, "parameters": file_parameters(p, exclude=("theta0", "gain0")),
        "initial": {"v": {"value": p.v_rest}, "theta": {"value": p.theta0}, "gain": {"value": p.gain0},
                    "m": {"value": p.r_target, "unit": "Hz"}, "s2": {"value": p.var_target, "unit": "Hz**2"}},
        "input": {"kind": "current", "variable": "I", "unit": "1", "low": -1.0, "high": 1.0},
        "homeostasis": {"state": ["theta", "gain", "m", "s2"], "reads": "threshold", "variable": "theta",
                        "sensors": ["r"]},
    }
