"""Layers whose neuron is a model file's, stepped by the torch code generated from its Brian2
equations (issue 26; ``bridge.core.generated_step``): :class:`GeneratedLeaky` a spiking one,
:class:`GeneratedRate` a rate one.

:class:`GeneratedLeaky` is the online transplant of a spiking model file's homeostasis, as
:class:`HomeostaticLeaky` is lif-ip's:
per net time step of ``dt`` seconds the layer runs ``substeps`` steps of the model's own
discretisation (Brian2's state updater for the file's method, its threshold and reset), each
``dt / substeps`` seconds, the step the model was simulated and fitted with. The net's current
c is the model's normalised input x of the sweep (``sims.model_neuron``):

    input variable = input_offset + input_scale * c

The homeostatic variables (``homeostasis.state``) are per-neuron buffers: each step they take
the batch mean of their per-sample updates (so a batch moves them by its mean drive, as the
built-in layers do), in training mode only; every other variable is per sample, passed as the
explicit state ``dict`` (norse-style ``forward(current, state) -> (spikes, state)``). A sequence
starts its per-sample variables at rest, but its sensors (``homeostasis.sensors``, e.g. a rate
trace) at their running per-neuron mean (buffers ``s_<variable>``, the batch mean after each
step in training mode), as lif-ip's layer starts its rate trace at the mean rate: a neuron's
sensor does not return to rest between the samples of its life. The
spikes of a net step are the count over its substeps; their surrogate gradient (snntorch's
atan) is taken of the threshold distance divided by its size at rest, so that it is of unit
scale whatever the model's units. Refused when built: a model whose net step is not a whole
number of its steps.
"""

from __future__ import annotations

from typing import Any

import torch
from snntorch import surrogate
from torch import nn

from bridge.core.errors import UserError
from bridge.core.generated_step import si_values
from bridge.core.model_file import CheckedModel, ModelFile, checked
from bridge.learning.layers._units import as_units, from_units, per_unit, rebind_buffers
from models.rate_ip import sample_axes


def rule_model(rule: Any, spiking: bool) -> CheckedModel:
    """The checked model file of a rule fitted to a model file's sweep (``rule.model_file``), a
    ``spiking`` one or a rate one; UserError otherwise."""
    if rule.model_file is None:
        online = "" if spiking else "; a built-in rate model runs online as ip-<rule>"
        raise UserError(f"rule {rule.name!r} comes from the built-in {rule.model!r}, not from a model file{online}")
    model = checked(ModelFile(**rule.model_file))
    if model.model.spiking != spiking:
        kinds = ("a rate neuron (an [output])", "a spiking neuron (a threshold)")
        raise UserError(f"rule {rule.name!r}: its model {model.model.name!r} is {kinds[model.model.spiking]}; "
                        f"{'spiking' if spiking else 'rate'} nets need {kinds[spiking]}")
    return model


class GeneratedLeaky(nn.Module):
    """``n`` neurons of a model file (module docstring); buffers ``h_<variable>`` hold the
    homeostatic variables, (n,) each, in SI units."""

    def __init__(self, n: int, model: CheckedModel, dt: float, substeps: int, spike_grad: Any = None):
        super().__init__()
        if substeps < 1:
            raise UserError(f"a net step of {dt} s holds no whole step of the model {model.model.name}")
        self.n, self.model, self.step, self.dt, self.substeps = n, model.model, model.step, dt, substeps
        self.spike_grad = spike_grad or surrogate.atan()
        offset, scale = (float(q) for q in self.model.input_range())
        self.constants = {**si_values(self.model.namespace()), "input_offset": offset, "input_scale": scale}
        self.homeostatic = tuple(self.model.homeostasis.state)
        self.sensors = tuple(self.model.homeostasis.sensors)
        self.per_sample = tuple(name for name in self.step.state if name not in self.homeostatic)
        initial = {**self.model.rest(), **self.step.hidden()}
        self.rest = {name: initial.get(name, 0.0) for name in self.step.state}
        for name in self.homeostatic:
            self.register_buffer(f"h_{name}", torch.full((n,), self.rest[name]))
        for name in self.sensors:
            self.register_buffer(f"s_{name}", torch.full((n,), self.rest[name]))
        at_rest = {**self.constants, **{k: torch.tensor(v) for k, v in self.rest.items()},
                   self.model.input.variable: offset}
        self.distance_scale = abs(float(self.step.distance(at_rest))) or 1.0

    @classmethod
    def from_rule(cls, rule: Any, n: int, dt: float = 1e-3) -> GeneratedLeaky:
        """The layer of a rule fitted to a model file's sweep (``rule.model_file``): the model
        stepped at the sweep's own step (``rule.dynamics.sample_dt``), ``dt`` seconds a net step."""
        model = rule_model(rule, spiking=True)
        step = rule.dynamics.sample_dt
        substeps = round(dt / step)
        if substeps < 1 or abs(substeps * step - dt) > 1e-9 * dt:
            raise UserError(f"a net step of {dt} s is not a whole number of the model's {step} s steps "
                            f"(rule {rule.name!r}); set spike_dt to a multiple of {step}")
        return cls(n, model, dt, substeps)

    def init_state(self, batch: int, like: torch.Tensor) -> dict[str, torch.Tensor]:
        """The per-sample variables at rest, the sensors at their running means, the homeostatic
        variables as the buffers hold them."""
        state = {name: torch.full((batch, self.n), self.rest[name], dtype=like.dtype, device=like.device)
                 for name in self.per_sample}
        state |= {name: getattr(self, f"s_{name}").to(like.dtype).expand(batch, self.n).clone()
                  for name in self.sensors}
        return state | {name: getattr(self, f"h_{name}").to(like.dtype, copy=True).unsqueeze(0)
                        for name in self.homeostatic}

    def forward(self, current: torch.Tensor, state: dict | None = None) -> tuple[torch.Tensor, dict]:
        """One net step: ``substeps`` steps of the model; (spike counts, new state)."""
        units = as_units(current)
        if state is None:
            state = self.init_state(units.shape[0], units)
        drive = {self.model.input.variable: self.constants["input_offset"] + self.constants["input_scale"] * units}
        count = 0.0
        for _ in range(self.substeps):
            spikes, new = self.step({**self.constants, **state, **drive}, self.dt / self.substeps, self._spike)
            count = count + spikes
            state = {name: new[name] for name in self.per_sample} | {
                name: self._homeostatic(new[name], state[name]) for name in self.homeostatic}
        if self.training:
            with torch.no_grad():
                for name in self.homeostatic:
                    getattr(self, f"h_{name}").copy_(state[name].squeeze(0))
                for name in self.sensors:
                    getattr(self, f"s_{name}").copy_(state[name].mean(0))
        return from_units(count, current.shape), state

    def membrane(self, state: dict) -> torch.Tensor:
        """The membrane in threshold units, 0 at rest and 1 at the threshold:
        1 + distance / |distance at rest|."""
        return 1 + self.step.distance({**self.constants, **state}) / self.distance_scale

    def _spike(self, distance: torch.Tensor) -> torch.Tensor:
        return self.spike_grad(distance / self.distance_scale)

    def _homeostatic(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """The batch mean of the per-sample updates (1, n), detached; frozen in eval mode."""
        if not self.training:
            return old
        new = torch.as_tensor(new).detach()
        return new.mean(0, keepdim=True) if new.dim() == 2 else new.expand_as(old)

    def unit_thresholds(self) -> torch.Tensor | None:
        """The variable read as the threshold (``homeostasis.reads``, SI units), else None."""
        return self._read("threshold")

    def unit_gains(self) -> torch.Tensor | None:
        """The variable read as the gain, else None."""
        return self._read("gain")

    def _read(self, what: str) -> torch.Tensor | None:
        homeostasis = self.model.homeostasis
        return getattr(self, f"h_{homeostasis.variable}") if homeostasis.reads == what else None

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-neuron tensors: the homeostatic variables' buffers."""
        return tuple(getattr(self, f"h_{name}") for name in self.homeostatic)

    def extra_repr(self) -> str:
        return (f"{self.n}, model={self.model.name} ({self.model.content_hash()}), dt={self.dt}, "
                f"substeps={self.substeps}, homeostatic={', '.join(self.homeostatic)}")


class GeneratedRate(nn.Module):
    """``n`` rate neurons of a model file (an ``[output]``, no threshold): the online transplant of
    its homeostasis into a rate net, as :class:`~bridge.learning.layers.ip.IntrinsicPlasticity` is
    the built-in rate models'. The net's pre-activation c is the model's normalised input x
    (input variable = input_offset + input_scale * c, ``sims.model_neuron``); one sample is one
    step of ``dt`` seconds (the sweep's step). Forward: y = the model's output at c with its
    homeostatic variables held (the gradient flows through c only); in training mode, then one
    step of the generated update on the same c, each homeostatic variable (buffers
    ``h_<variable>``, (n,) in SI units) taking the mean of its per-sample updates over the batch
    and the positions of a feature map (one unit per channel): the built-in rules' Euler step on
    batch-mean drives (``RateIPRule.torch_step``), at the file's own rate (its ``eta``; the net's
    ``ip_eta`` is the built-in ``ip-<rule>`` layers') and with no floor under the gain (the
    built-in layer keeps it >= 1e-3). Frozen in eval mode. The file's only state is its
    homeostasis (``bridge.core.model_file`` refuses others); its ``initial`` values of other
    variables are per-neuron constants."""

    def __init__(self, n: int, model: CheckedModel, dt: float):
        super().__init__()
        self.n, self.model, self.step, self.dt = n, model.model, model.step, dt
        offset, scale = (float(q) for q in self.model.input_range())
        self.homeostatic = tuple(self.model.homeostasis.state)
        rest = self.model.rest()
        held = {name: value for name, value in rest.items() if name not in self.homeostatic}  # per-neuron constants
        self.constants = {**si_values(self.model.namespace()), **held, "input_offset": offset, "input_scale": scale}
        for name in self.homeostatic:
            self.register_buffer(f"h_{name}", torch.full((n,), rest.get(name, 0.0)))

    @classmethod
    def from_rule(cls, rule: Any, n: int) -> GeneratedRate:
        """The layer of a rule fitted to a rate model file's sweep, one sample a step of the sweep."""
        return cls(n, rule_model(rule, spiking=False), rule.dynamics.sample_dt)

    def _values(self, x: torch.Tensor) -> dict:
        held = {name: per_unit(getattr(self, f"h_{name}"), x) for name in self.homeostatic}
        drive = self.constants["input_offset"] + self.constants["input_scale"] * x
        return {**self.constants, **held, self.model.input.variable: drive}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.step.output(self._values(x))
        if self.training:
            self.adapt(x.detach())
        return y

    @torch.no_grad()
    def adapt(self, x: torch.Tensor) -> None:
        """One generated step per sample, each homeostatic variable the mean of its updates."""
        _, new = self.step(self._values(x), self.dt, spike_fn=None)
        dims, _ = sample_axes(x)
        rebind_buffers(self, **{f"h_{name}": self._batch_mean(new[name], getattr(self, f"h_{name}"), x, dims)
                                for name in self.homeostatic})

    @staticmethod
    def _batch_mean(new, old: torch.Tensor, x: torch.Tensor, dims) -> torch.Tensor:
        """The mean of the per-sample updates ``new`` over the samples of ``x``, in ``old``'s dtype."""
        return torch.as_tensor(new, dtype=old.dtype).expand(x.shape).mean(dims)

    def unit_gains(self) -> torch.Tensor | None:
        """The variable read as the gain (``homeostasis.reads``), else None."""
        homeostasis = self.model.homeostasis
        return getattr(self, f"h_{homeostasis.variable}") if homeostasis.reads == "gain" else None

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-unit tensors: the homeostatic variables' buffers."""
        return tuple(getattr(self, f"h_{name}") for name in self.homeostatic)

    def extra_repr(self) -> str:
        return (f"{self.n}, model={self.model.name} ({self.model.content_hash()}), dt={self.dt}, "
                f"homeostatic={', '.join(self.homeostatic)}")
