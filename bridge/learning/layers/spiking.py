"""Leaky integrate-and-fire layers with homeostatic thresholds: :class:`HomeostaticLeaky`
(threshold and input gain toward a target rate, the lif-ip model) and
:class:`AdaptiveThresholdLeaky` (Diehl & Cook 2015).

Both are plain ``nn.Module`` neurons written the way norse writes its cells: the module holds
the parameters and the per-neuron plastic buffers, one function makes the initial per-sequence
state, and ``forward(current, state) -> (spikes, new_state)`` wraps a pure step function of
``models/`` that changes nothing in place. snntorch supplies only the surrogate gradient.

:class:`HomeostaticLeaky` runs, per time step, exactly the forward-Euler step of the Brian2
``lif-ip`` model (:func:`models.lif_ip.lif_ip_step`; ``models/lif_ip.py`` has the equations and
sources):

    tau_m dv/dt = v_rest - v + gain * I;   spike when v > theta, then v -> v - delta_v
    dtheta/dt = eta_theta (r - r_target) / r_target;   dgain/dt = eta_gain gain (1 - s2/var_target)

(the gain's rate gated by clip(m / r_target, 0, 1)), with r a decaying spike trace and (m, s2)
its slow mean and variance. The leak is beta = 1 - dt/tau_m per step; the reset subtracts the
fixed step ``delta_v`` (not the threshold, not to zero), detached from the graph as snntorch
detaches its reset. theta, gain and the rate sensors (m, s2) are per-neuron buffers, updated in
training mode with drives averaged over the batch, frozen in eval mode. The per-sample state
(v, r) is passed explicitly: ``state = layer.init_state(batch, like)``, then
``spikes, state = layer(current, state)``.

Every plastic layer here gives its adapted per-neuron tensors through ``homeostatic_values()``,
which the training loop's divergence check reads (``bridge.learning.train``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from snntorch import surrogate
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers._units import as_units, from_units
from models.adaptive_threshold import AdaptiveThresholdParams, AdaptiveThresholdState, adaptive_threshold_step
from models.lif_ip import LifIPParams, LifIPState, lif_ip_step

SNNTORCH_RESET_ZERO = 1  # snntorch's reset_mechanism_val for "zero" (its reset_dict), the value stored before


class HomeostaticLeaky(nn.Module):
    """A layer of ``n`` lif-ip neurons whose per-neuron threshold and input gain adapt toward a
    target rate; reset by subtracting ``params.delta_v`` (detached). See the module docstring.

    Buffers (saved by ``state_dict``): the plastic ``threshold``, ``input_gain``, ``mean_rate``
    and ``var_rate``, (n,) each; and three constants with the keys this class wrote when it
    subclassed ``snntorch.Leaky``, kept so that state_dicts stored then load unchanged (strict):
    ``beta`` (1 - dt/tau_m, the leak per step), ``graded_spikes_factor`` (1: unit spikes) and
    ``reset_mechanism_val`` (1, snntorch's code for "zero", as stored then). The step reads none
    of the three: it takes the leak and the reset from ``params``.
    """

    def __init__(
        self, n: int, params: LifIPParams | None = None, dt: float = 1e-3, spike_grad: Any = None,
    ):
        super().__init__()
        self.n, self.params, self.dt = n, params or LifIPParams(), dt
        self.spike_grad = spike_grad or surrogate.atan()
        p = self.params
        self.register_buffer("threshold", torch.full((n,), float(p.theta0)))
        self.register_buffer("graded_spikes_factor", torch.tensor(1.0))
        self.register_buffer("reset_mechanism_val", torch.tensor(SNNTORCH_RESET_ZERO))
        self.register_buffer("beta", torch.tensor(1.0 - dt / p.tau_m))
        self.register_buffer("input_gain", torch.full((n,), float(p.gain0)))
        self.register_buffer("mean_rate", torch.full((n,), float(p.r_target)))
        self.register_buffer("var_rate", torch.full((n,), float(p.var_target)))

    @classmethod
    def from_rule(cls, rule: Any, n: int, dt: float = 1e-3, **overrides: float) -> HomeostaticLeaky:
        """The layer of a fitted spiking rule (``rule.model == "lif-ip"``), its ``model_params`` applied.

        The online transplant: the Brian2 model's own rule, time constants and rates, one time
        step standing for ``dt`` seconds. So beta = 1 - dt/tau_m, the rate trace decays by
        dt/tau_r per step, theta and gain move by dt * eta_* per step, and the slow sensors
        average over tau_avg/dt steps; the homeostatic state carries over from sample to
        sample, so at batch size 1 a sample of T steps is T * dt seconds of the neuron's life
        (a batch of B samples moves it by the batch-mean drive, B sequences side by side).
        With the model's 20 ms membrane, dt must stay below tau_m (Euler), e.g. 1 ms (the
        Brian2 step: a 10 Hz target is 0.01 spikes per step) or 10 ms (0.1 spikes per step).
        """
        if rule.model != "lif-ip":
            raise UserError(f"rule {rule.name!r} comes from {rule.model!r}; HomeostaticLeaky needs 'lif-ip'")
        names = {f.name for f in dataclasses.fields(LifIPParams)}
        values = {k: float(v) for k, v in dict(rule.model_params).items() if k in names}
        params = LifIPParams(**{**values, **overrides})
        if not 0 < dt < params.tau_m:
            raise UserError(f"a time step of {dt} s must be shorter than the rule's membrane tau_m = {params.tau_m} s")
        return cls(n, params, dt)

    def init_state(self, batch: int, like: torch.Tensor) -> LifIPState:
        """The state at the start of a sequence of ``batch`` samples (dtype and device of ``like``):
        v at rest and the rate trace at the neuron's running mean rate, per sample; theta, gain
        and the rate sensors copies of the buffers."""
        def per_sample(values: torch.Tensor | float) -> torch.Tensor:
            base = torch.as_tensor(values, dtype=like.dtype, device=like.device)
            return base.expand(batch, self.n).clone()

        return LifIPState(
            v=per_sample(self.params.v_rest), theta=self.threshold.to(like.dtype, copy=True),
            gain=self.input_gain.to(like.dtype, copy=True), trace=per_sample(self.mean_rate),
            mean_rate=self.mean_rate.to(like.dtype, copy=True),
            var_rate=self.var_rate.to(like.dtype, copy=True),
        )

    def forward(self, current: torch.Tensor, state: LifIPState | None = None) -> tuple[torch.Tensor, LifIPState]:
        """One time step, :func:`models.lif_ip.lif_ip_step` with the surrogate ``spike_grad``:
        ``(spikes, new_state)``; ``state`` None starts a sequence (:meth:`init_state`).

        In training mode the step is plastic and the buffers take the new theta, gain and rate
        sensors (in place, no grad); in eval mode they are frozen. ``current`` is (batch, n) or a
        feature map (batch, n, H, W), whose channels are the neurons (every position a sample of
        its channel: the state is kept as (batch*H*W, n)).
        """
        units = as_units(current)
        if state is None:
            state = self.init_state(units.shape[0], units)
        spikes, state = lif_ip_step(units, state, self.params, self.dt, self.spike_grad, self.training)
        if self.training:
            self._keep(state)
        return from_units(spikes, current.shape), state

    @torch.no_grad()
    def _keep(self, state: LifIPState) -> None:
        for buffer, value in zip((self.threshold, self.input_gain, self.mean_rate, self.var_rate),
                                 (state.theta, state.gain, state.mean_rate, state.var_rate)):
            buffer.copy_(value)

    def unit_thresholds(self) -> torch.Tensor:
        return self.threshold

    def unit_gains(self) -> torch.Tensor:
        return self.input_gain

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-neuron tensors: (threshold, input gain)."""
        return self.threshold, self.input_gain

    def extra_repr(self) -> str:
        p = self.params
        return (f"{self.n}, dt={self.dt}, beta={1 - self.dt / p.tau_m:.3g}, r_target={p.r_target} Hz, "
                f"reset=subtract delta_v={p.delta_v} (detached), tau_r={p.tau_r}, eta_theta={p.eta_theta}, "
                f"eta_gain={p.eta_gain}")


class AdaptiveThresholdLeaky(nn.Module):
    """Diehl & Cook 2015's adaptive threshold as a spiking layer: every spike raises the neuron's
    threshold by theta_plus, which decays with tau_theta (``models/adaptive_threshold.py``, the
    same forward-Euler step as its Brian2 model, one time step = ``dt`` seconds).

    Potentials are the model's mV; the input current is in units of the threshold gap
    (v_thresh - v_rest = 13 mV), so a current of 1 held for long reaches threshold, as for the
    other spiking layers. theta is a per-neuron buffer, raised by the batch-mean spike count in
    training mode and frozen in eval mode; (v, theta) are passed explicitly per sequence.
    """

    def __init__(self, n: int, params: AdaptiveThresholdParams | None = None, dt: float = 1e-3,
                 spike_grad: Any = None):
        super().__init__()
        self.n, self.params, self.dt = n, params or AdaptiveThresholdParams(), dt
        self.gap = self.params.v_thresh - self.params.v_rest
        self.spike_grad = spike_grad or surrogate.atan()
        self.register_buffer("theta", torch.zeros(n))

    def forward(self, current: torch.Tensor, state: AdaptiveThresholdState | None = None):
        """One time step: ``(spikes, new_state)``."""
        units = as_units(current)
        if state is None:
            state = AdaptiveThresholdState(v=torch.full_like(units, self.params.v_rest),
                                           theta=self.theta.to(units.dtype, copy=True))
        spikes, state = adaptive_threshold_step(units * self.gap, state, self.params, self.dt,
                                                lambda d: self.spike_grad(d / self.gap), self.training)
        if self.training:
            with torch.no_grad():
                self.theta.copy_(state.theta)
        return from_units(spikes, current.shape), state

    def unit_thresholds(self) -> torch.Tensor:
        """Thresholds in units of the gap: 1 + theta / (v_thresh - v_rest)."""
        return 1 + self.theta / self.gap

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-neuron tensors: (theta,), the threshold's raise in mV."""
        return (self.theta,)

    def extra_repr(self) -> str:
        p = self.params
        return f"{self.n}, dt={self.dt}, tau_m={p.tau_m}, theta_plus={p.theta_plus} mV, tau_theta={p.tau_theta} s"


def net_params(time_steps: int, dt: float = 1e-3, rate: float = 0.1, adapt_gain: bool = True) -> LifIPParams:
    """lif-ip parameters for a network run for ``time_steps`` steps of ``dt``.

    beta = 0.9 with input gain tau_m/dt (so v <- 0.9 v + I, snntorch's usual Leaky), a target
    of ``rate`` spikes per step (0.1: one per ten steps), and rate sensors and plasticity fast
    enough to act within a sequence of ``time_steps`` steps; ``adapt_gain=False`` holds the
    input gain (eta_gain = 0): the threshold alone adapts.
    """
    tau_m = 10 * dt
    r_target = rate / dt
    tau_r = max(2, time_steps // 2) * dt
    return LifIPParams(
        tau_m=tau_m, gain0=tau_m / dt, tau_r=tau_r, tau_avg=20 * time_steps * dt,
        r_target=r_target, var_target=r_target / (2 * tau_r), eta_theta=0.1 / (time_steps * dt),
        eta_gain=0.1 / (time_steps * dt) if adapt_gain else 0.0,
    )


