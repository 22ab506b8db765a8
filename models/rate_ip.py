"""Rate neurons with intrinsic plasticity (IP): y = f(a x + b), gain a and bias b set by a local rule.

Each IP rule lives in its own module (``ip_triesch``, ``ip_infomax``, ``ip_gaussian``) as one
:class:`RateIPRule`: the Brian2 rendering (expression strings, unit-checked by Brian2) and
the torch rendering (a pure function of tensors) side by side. Both integrate

    da/dt = eta * A(x, y, a),     db/dt = eta * B(x, y, a)

Brian2 with the forward-Euler method at step ``dt`` (``eta`` in Hz); torch with one update
per sample (:meth:`RateIPRule.torch_step`), ``a += eta_sample * A``, ``b += eta_sample * B``
with ``eta_sample = eta * dt``.
Driven by the same input sequence the two give the same trajectories
(``tests/test_rule_agreement.py``).

The output is instantaneous in x, as in the rules' derivations: there is no rate low-pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass

import torch

from models.params import file_parameters, param

SAMPLE_DT = 1e-3  # seconds: the step at which a rule's per-sample eta is its Brian2 eta * dt (sims.ip's dt)
FILE_INPUT = "s"  # a model file's input variable (x is the bridge's own: bridge.core.model_file.RESERVED)

TRANSFER_BRIAN2 = {
    "sigmoid": "1 / (1 + exp(-u))",
    "tanh": "tanh(u)",
}
TRANSFER_TORCH: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def sample_axes(x: torch.Tensor) -> tuple[int | list[int], int]:
    """(axes, count) of the samples of ``x`` with units on axis 1: (samples, units), or a
    feature map (batch, units, *positions) where every position is a sample of its unit."""
    return (0 if x.dim() == 2 else [0, *range(2, x.dim())]), x.numel() // x.shape[1]


@dataclass(frozen=True)
class RateIPRule:
    """One IP rule, written once for Brian2 and once for torch.

    Every rule here follows a gradient in (a, b) of an objective of the output distribution
    whose only a-specific term is log a (the Jacobian of y = f(a x + b)); since u = a x + b,
    d/da = x d/db elsewhere, so the gain drive is always A = 1/a + x B. A rule is therefore
    its bias drive B(y): ``bias_drive`` as a Brian2 expression of ``y`` and the rule's target
    parameters (dimensionless), ``torch_bias_drive`` the same on tensors (a new tensor, which
    :meth:`torch_step` reuses in place). ``targets`` holds the target parameters' defaults from
    the source paper; ``eta`` the default learning rate per sample.
    """

    name: str
    transfer: str
    bias_drive: str
    torch_bias_drive: Callable[..., torch.Tensor]
    targets: dict[str, float] = field(default_factory=dict)
    eta: float = 1e-3
    source: str = ""

    @property
    def gain_drive(self) -> str:
        """A = 1/a + x B as a Brian2 expression."""
        return f"1/a + x * ({self.bias_drive})"

    def brian2_equations(self, input_equation: str) -> str:
        """Brian2 model equations; ``input_equation`` defines ``x`` (OU process, TimedArray, ...).

        Target parameters and ``eta`` are per-neuron ``(constant)`` variables so that one
        NeuronGroup can hold many conditions.
        """
        targets = "\n".join(f"{key} : 1 (constant)" for key in self.targets)
        return f"""
{input_equation}
u = a * x + b : 1
y = {TRANSFER_BRIAN2[self.transfer]} : 1
da/dt = eta * ({self.gain_drive}) : 1
db/dt = eta * ({self.bias_drive}) : 1
eta : Hz (constant)
{targets}
"""

    def transfer_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return TRANSFER_TORCH[self.transfer]

    def torch_step(
        self, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
        eta_gain: float, eta_bias: float, min_gain: float = 0.0, **targets: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler step of the rule on samples ``x`` with outputs y = f(a x + b): (samples,
        units), or (batch, units, *positions) where every position is a sample of its unit.

        Drives averaged over the samples, <A> = 1/a + <x B> and <B>: one pass for B, two
        reductions, no per-sample 1/a and no copy of a feature map. Separate rates for gain and
        bias; the gain kept >= ``min_gain``. Returns new ``(a, b)`` tensors: pure, no state is
        changed in place.
        """
        weighted, bias_sum, samples = self.torch_drive_sums(x, y, **targets)
        new_bias = torch.add(b, bias_sum, alpha=eta_bias / samples)
        new_gain = torch.add(a, weighted, alpha=eta_gain / samples).add_(a.reciprocal(), alpha=eta_gain)
        return new_gain.clamp_min_(min_gain), new_bias

    def torch_drive_sums(self, x: torch.Tensor, y: torch.Tensor,
                         **targets: float) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(sum of x B, sum of B, samples) over the samples of ``x`` (as :meth:`torch_step`):
        the drives are <A> = 1/a + sum(x B) / samples and <B> = sum(B) / samples."""
        x, y = x.detach(), y.detach()  # no autograd graph for the local rule
        bias_drive = self.torch_bias_drive(y, **{**self.targets, **targets})
        dims, samples = sample_axes(x)
        bias_sum = bias_drive.sum(dims)
        return bias_drive.mul_(x).sum(dims), bias_sum, samples  # B's own buffer reused: one allocation a step


def params_dataclass(rule: RateIPRule) -> type:
    """A frozen dataclass of the rule's parameters with the source paper's defaults.

    ``eta`` is the learning rate per sample (per Euler step); the target parameters follow.
    """
    fields = [("eta", float, param(rule.eta, doc="learning rate per sample (eta * dt per step)"))]
    fields += [(key, float, param(value, doc="target parameter")) for key, value in rule.targets.items()]
    return make_dataclass(f"{rule.name.capitalize()}IPParams", fields, frozen=True)


def build(rule: RateIPRule, n: int, params, input_equation: str, dt, name: str = "rate_ip"):
    """A NeuronGroup of ``n`` IP neurons (method 'euler', a = 1, b = 0) with the rule's per-neuron
    constants set from ``params``; Brian2's eta (Hz) is ``params.eta / dt``."""
    from brian2 import NeuronGroup  # brian2 is heavy: imported only to build or run a network

    group = NeuronGroup(n, rule.brian2_equations(input_equation), method="euler", dt=dt, name=name)
    group.a = 1.0
    group.b = 0.0
    group.eta = params.eta / dt
    for key in rule.targets:
        setattr(group, key, getattr(params, key))
    return group


def frozen_equations(rule: RateIPRule) -> str:
    """The neuron with gain and bias linked to an adapting group and a constant input x."""
    return f"""
x : 1 (constant)
a : 1 (linked)
b : 1 (linked)
u = a * x + b : 1
y = {TRANSFER_BRIAN2[rule.transfer]} : 1
"""


def model_file(name: str, rule: RateIPRule, params=None) -> dict:
    """The rate IP model ``name`` as a model file's content (``bridge.core.model_file.ModelFile``),
    named ``<name>-file``: the same equations with the input called ``s`` (range -1 .. 1: offset 0,
    scale 1, so s is the sweep's x), eta and the targets as parameters (eta in Hz: the per-sample
    rate over ``SAMPLE_DT``), a = 1 at rest, a and b its homeostasis, y its output."""
    from brian2.utils.stringtools import word_substitute  # brian2 is heavy: only when a file is written

    p = params or params_dataclass(rule)()
    lines = [line for line in rule.brian2_equations("").strip().splitlines() if "(constant)" not in line]
    equations = word_substitute("\n".join([f"{FILE_INPUT} : 1", *lines]), {"x": FILE_INPUT}) + "\n"
    parameters = file_parameters(p) | {"eta": {"value": p.eta / SAMPLE_DT, "unit": "Hz",
                                               "source": f"{p.eta:g} per sample at {SAMPLE_DT:g} s a sample"}}
    return {
        "name": f"{name}-file", "source": rule.source, "method": "euler", "equations": equations,
        "output": {"variable": "y", "transfer": rule.transfer}, "parameters": parameters,
        "initial": {"a": {"value": 1.0}},
        "input": {"kind": "current", "variable": FILE_INPUT, "unit": "1", "low": -1.0, "high": 1.0},
        "homeostasis": {"state": ["a", "b"], "reads": "gain", "variable": "a"},
    }
