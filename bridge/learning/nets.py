"""Networks for the training comparisons: rate or spiking, MLP or CNN, with any normalisation.

``make_net(kind, neuron, depth, width, norm, init, ...)`` builds a network of ``depth`` weight
layers (``depth - 1`` hidden blocks and a linear readout). Every network has

- ``blocks``: the ``depth`` modules whose parameters form one "layer" in the training history
  (gradient norm per layer), in input-to-output order;
- ``forward(x, record=None)``: ``x`` is (batch, features) as ``bridge.learning.data`` gives it; when
  ``record`` is a list, one activity tensor per block is appended to it (rate nets: the block's
  output; spiking nets: each unit's spike rate over the time steps; the readout: its logits).

Norm names, rate nets: ``none``, ``bn`` (BatchNorm), ``bn-noaffine`` (BatchNorm without its
learned gamma, beta: the control for IP), ``ln`` (LayerNorm; GroupNorm(1, C) in CNNs), ``wn``
(weight norm), ``ip-triesch`` / ``ip-infomax`` / ``ip-gaussian`` (:class:`IntrinsicPlasticity`,
whose rule fixes the activation; ``+affine`` adds the learned gamma, beta of Shaw et al. 2020:
y = f(gamma (a x + b) + beta)), ``fitted:<rule>[+affine]`` (:class:`FittedHomeostasis` of a
fitted intrinsic rule, or :meth:`SynapticScaling.from_rule` of a fitted scaling rule, passed in
loaded as ``make_net(..., rule=...)``), ``scaling``
(:class:`SynapticScaling`), ``oja`` (:class:`OjaLinear`, rate ``oja_eta``), and Cornford et al.
2021's sign-constrained nets, every layer ReLU but the readout, the readout of the same kind as
the hidden layers: ``dale`` (:class:`DaleLinear` with corrected SGD, a readout with one
inhibitory unit), ``dale-uncorrected`` (the same without the gradient correction),
``column-ei`` (:class:`ColumnEiLinear`, E:I 10:1 columns; its first layer's bias centres the
input of mean ``input_mean``).
Spiking nets: ``none``, ``bn`` (snntorch's BatchNormTT, Kim & Panda 2021), ``ip`` /
``homeostatic`` (:class:`HomeostaticLeaky` with parameters compressed to the net's time steps:
``net_params``, target ``spike_target`` spikes per step, input gain adapted unless
``spike_gain_adapt`` is off), ``adaptive-threshold``
(:class:`AdaptiveThresholdLeaky`, Diehl & Cook 2015),
``fitted-online:<rule>`` (the faithful transplant of a fitted lif-ip rule: the Brian2 model's own
rule and time constants in a :class:`HomeostaticLeaky`, one time step = ``spike_dt`` seconds;
``HomeostaticLeaky.from_rule``), ``fitted:<rule>`` (the fitted rule's equilibrium
map as a :class:`FittedHomeostasis` normaliser of each neuron's synaptic current, gain =
c sigma^-p and bias = d - s gain mu from running statistics, before a plain Leaky neuron:
the rule's biological time constants of tens of milliseconds and 10 Hz target do not fit a
net of ``time_steps`` steps, its normalisation does; ``+affine`` adds the learned per-unit
gamma, beta after it, shared over the time steps as the normaliser is). Spiking nets rate-code
their input (a Bernoulli spike per pixel per step with probability equal to the pixel value)
for ``time_steps`` steps; the readout is the output layer's spike count (``"count"``) or its mean
membrane potential (``"membrane"``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from bridge.core.errors import UserError
from bridge.fitting.rules import Rule
from bridge.learning.layers import (
    AdaptiveThresholdLeaky,
    ColumnEiLinear,
    DaleLinear,
    FittedHomeostasis,
    HomeostaticLeaky,
    IntrinsicPlasticity,
    IntrinsicPlasticity2d,
    OjaLinear,
    SynapticScaling,
)
from bridge.learning.layers.spiking import net_params
from models.lif_ip import LifIPParams

KINDS = ("mlp", "cnn")
NEURONS = ("rate", "spiking")
INITS = ("default", "kaiming", "xavier", "orthogonal", "cornford")
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid,
}
IP_NORMS = ("ip-triesch", "ip-infomax", "ip-gaussian")
AFFINE = "+affine"  # suffix: IP / fitted layer followed by a learned per-unit gamma, beta (Shaw et al. 2020)
RATE_NORMS = ("none", "bn", "bn-noaffine", "ln", "wn", *IP_NORMS, *(n + AFFINE for n in IP_NORMS),
              "scaling", "oja", "dale", "dale-uncorrected", "column-ei", "fitted:<rule>", "fitted:<rule>+affine")
EI_NORMS = ("dale", "dale-uncorrected", "column-ei")  # whole nets of sign-constrained layers (MLPs)
SPIKING_NORMS = ("none", "bn", "ip", "homeostatic", "adaptive-threshold", "fitted:<rule>",
                 "fitted:<rule>+affine", "fitted-online:<rule>")
FITTED_PREFIXES = {"rate": ("fitted:",), "spiking": ("fitted:", "fitted-online:")}
READOUTS = ("count", "membrane")


def fitted_rule_name(norm: str) -> str | None:
    """The rule a ``fitted:<name>[+affine]`` or ``fitted-online:<name>`` norm names, else None."""
    for prefix in FITTED_PREFIXES["spiking"]:
        if norm.startswith(prefix):
            return norm.removeprefix(prefix).removesuffix(AFFINE)
    return None


def net_revision(neuron: str, norm: str) -> int:
    """The revision of the network a (neuron, norm) builds: 1, or 2 for a spiking
    ``fitted:<rule>+affine`` net, whose revision 1 dropped the learned affine (it built the plain
    ``fitted:<rule>`` net). Above 1 it joins a run's inputs, so no run of the older net is reused."""
    return 2 if neuron == "spiking" and norm.startswith("fitted:") and norm.endswith(AFFINE) else 1


def norm_problem(neuron: str, norm: str) -> str | None:
    """Why ``norm`` is not a normalisation of ``neuron`` nets, or None when it is one."""
    known = RATE_NORMS if neuron == "rate" else SPIKING_NORMS
    fitted = norm.removesuffix(AFFINE)
    named = any(fitted.startswith(p) and len(fitted) > len(p) for p in FITTED_PREFIXES[neuron])
    affine_allowed = fitted == norm or fitted.startswith("fitted:")  # +affine follows fitted:<rule> only
    if norm in known or (named and affine_allowed):
        return None
    return f"unknown norm {norm!r} for {neuron} nets; choose one of {', '.join(known)}"


def _fitted_rule(norm: str, rule: Rule | None) -> Rule:
    """The rule passed in for a fitted norm; UserError when it is missing or another."""
    name = fitted_rule_name(norm)
    if rule is None or rule.name != name:
        raise UserError(f"norm {norm!r} needs the loaded rule {name!r} passed to the network builder")
    return rule


class RateNet(nn.Module):
    """Hidden blocks then a readout block; see the module docstring."""

    def __init__(self, stem: nn.Module, blocks: list[nn.Module]):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
            if record is not None:
                record.append(x.detach())
        return x


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise UserError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


def _rate_block(norm: str, make_weight: Callable[[], nn.Module], width: int, conv: bool,
                activation: str, ip_eta: float | None, rule: Rule | None, oja_eta: float) -> list[nn.Module]:
    """[weight layer, normalisation, activation] for one hidden block of a rate net."""
    affine = norm.endswith(AFFINE)
    if norm.startswith("ip-"):
        ip = IntrinsicPlasticity2d if conv else IntrinsicPlasticity
        return [make_weight(), ip(width, norm.removesuffix(AFFINE)[3:], eta=ip_eta, affine=affine)]
    if norm.startswith("fitted:"):
        fitted = _fitted_rule(norm, rule)
        if fitted.kind == "scaling":
            if affine:
                raise UserError(f"norm {norm!r}: a scaling rule scales weights; it has no +affine form")
            return [SynapticScaling.from_rule(fitted, make_weight()), _activation(activation)]
        return [make_weight(), FittedHomeostasis.from_rule(fitted, width, affine=affine)]
    if norm == "oja" and conv:
        raise UserError(f"norm {norm!r} exists for MLPs only")
    layers = {
        "none": lambda: [make_weight()],
        "bn": lambda: [make_weight(), (nn.BatchNorm2d if conv else nn.BatchNorm1d)(width)],
        "bn-noaffine": lambda: [make_weight(), (nn.BatchNorm2d if conv else nn.BatchNorm1d)(width, affine=False)],
        "ln": lambda: [make_weight(), nn.GroupNorm(1, width) if conv else nn.LayerNorm(width)],
        "wn": lambda: [weight_norm(make_weight())],
        "scaling": lambda: [SynapticScaling(make_weight())],
        "oja": lambda: [OjaLinear.wrap(make_weight(), oja_eta)],
    }
    return layers[norm]() + [_activation(activation)]


def _sign_constrained(norm: str, fan_in: int, fan_out: int, first: bool, readout: bool,
                      input_mean: float) -> nn.Module:
    """One layer of a Cornford et al. net (:data:`EI_NORMS`)."""
    if norm == "column-ei":
        return ColumnEiLinear(fan_in, fan_out, first=first, input_mean=input_mean)
    return DaleLinear(fan_in, fan_out, n_inhibitory=1 if readout else None, first=first,
                      corrected=norm == "dale")


def _rate_net(kind: str, depth: int, width: int, norm: str, in_shape: tuple[int, ...], n_classes: int,
              activation: str, ip_eta: float | None, rule: Rule | None, oja_eta: float,
              input_mean: float) -> RateNet:
    blocks = []
    if kind == "mlp":
        sizes = [math.prod(in_shape)] + [width] * (depth - 1)
        if norm in EI_NORMS:
            blocks = [nn.Sequential(_sign_constrained(norm, fan_in, width, i == 0, False, input_mean), nn.ReLU())
                      for i, fan_in in enumerate(sizes[:-1])]
            blocks.append(_sign_constrained(norm, sizes[-1], n_classes, False, True, input_mean))
            return RateNet(nn.Flatten(), blocks)
        for fan_in in sizes[:-1]:
            blocks.append(nn.Sequential(*_rate_block(
                norm, lambda fan_in=fan_in: nn.Linear(fan_in, width), width, False, activation, ip_eta, rule,
                oja_eta)))
        blocks.append(nn.Linear(sizes[-1], n_classes))
        return RateNet(nn.Flatten(), blocks)
    if norm in EI_NORMS:
        raise UserError(f"norm {norm!r} exists for MLPs only")
    channels = [in_shape[0]] + [width] * (depth - 1)
    for index, c_in in enumerate(channels[:-1]):
        layers = _rate_block(norm, lambda c_in=c_in: nn.Conv2d(c_in, width, 3, padding=1),
                             width, True, activation, ip_eta, rule, oja_eta)
        blocks.append(nn.Sequential(*layers, *([nn.MaxPool2d(2)] if index < 2 else [])))
    blocks.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], n_classes)))
    return RateNet(nn.Unflatten(1, in_shape), blocks)


class SpikingNet(nn.Module):
    """Synapse layers, each followed by an optional per-time-step norm and a LIF layer.

    State is created at the start of every forward and passed explicitly from step to step.
    """

    def __init__(self, synapses: list[nn.Module], norms: list[nn.Module | None],
                 neurons: list[nn.Module], time_steps: int, readout: str, in_shape: tuple[int, ...]):
        super().__init__()
        if readout not in READOUTS:
            raise UserError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"synapse": s, "neuron": n, **({"norm": m} if m is not None else {})})
            for s, m, n in zip(synapses, norms, neurons)
        )
        self.time_steps, self.readout, self.in_shape = time_steps, readout, in_shape

    def forward(self, x: torch.Tensor, record: list | None = None,
                membranes: list | None = None) -> torch.Tensor:
        """``record``: see the module docstring; ``membranes``: when a list, one scalar per block
        is appended, the standard deviation of its membrane potential over steps, samples and units."""
        x = x.reshape(x.shape[0], *self.in_shape)
        return self.simulate(((torch.rand_like(x) < x).to(x.dtype) for _ in range(self.time_steps)),
                             record, membranes)

    def simulate(self, inputs: Iterable[torch.Tensor], record: list | None = None,
                 membranes: list | None = None) -> torch.Tensor:
        """The net driven by given input spikes, one (batch, *in_shape) tensor per time step
        (``forward`` passes its rate code: a Bernoulli draw of each pixel's intensity per step)."""
        states = [None] * len(self.blocks)
        totals = [0.0] * len(self.blocks)
        moments = torch.zeros(len(self.blocks), 3, dtype=torch.float64, device=next(self.parameters()).device)
        membrane = 0.0
        for t, signal in enumerate(inputs):
            for index, block in enumerate(self.blocks):
                current = block["synapse"](signal)
                if "norm" in block:
                    current = block["norm"][t](current)
                signal, states[index] = _step(block["neuron"], current, states[index])
                totals[index] = totals[index] + signal
                if membranes is not None:
                    v = _membrane(states[index]).detach().double()
                    moments[index] += torch.stack([torch.tensor(float(v.numel()), dtype=v.dtype, device=v.device),
                                                   v.sum(), v.square().sum()])
            membrane = membrane + states[-1]
        out = totals[-1] if self.readout == "count" else membrane / self.time_steps
        if record is not None:
            record.extend(total.detach() / self.time_steps for total in totals[:-1])
            record.append(out.detach())
        if membranes is not None:
            count, total, square = moments.unbind(1)
            membranes.extend((square / count - (total / count).square()).clamp_min(0).sqrt().unbind())
        return out


def _membrane(state: Any) -> torch.Tensor:
    """The membrane potential of a Leaky state (a tensor) or a HomeostaticLeaky one (LifIPState)."""
    return state.v if hasattr(state, "v") else state


def _step(neuron: nn.Module, current: torch.Tensor, state: Any):
    """One step of a Leaky, HomeostaticLeaky or AdaptiveThresholdLeaky with explicit state
    (membrane, LifIPState, AdaptiveThresholdState)."""
    if isinstance(neuron, (HomeostaticLeaky, AdaptiveThresholdLeaky)):
        return neuron(current, state)
    if state is None:
        state = torch.zeros_like(current)
    return neuron(current, state)


def _spiking_neuron(norm: str, width: int, rule: Rule | None, spike_dt: float, homeostatic: LifIPParams) -> nn.Module:
    if norm in ("ip", "homeostatic"):
        return HomeostaticLeaky(width, homeostatic)
    if norm == "adaptive-threshold":
        return AdaptiveThresholdLeaky(width, dt=spike_dt)
    if norm.startswith("fitted-online:"):
        return HomeostaticLeaky.from_rule(_fitted_rule(norm, rule), width, dt=spike_dt)
    return snn.Leaky(beta=0.9, spike_grad=surrogate.atan(), reset_mechanism="zero")


def _spiking_norm(norm: str, width: int, time_steps: int, bntt: type, rule: Rule | None) -> nn.Module | None:
    """The per-time-step current normaliser of a hidden block (indexed by time step), or None."""
    if norm == "bn":
        return bntt(width, time_steps)
    if norm.startswith("fitted:"):
        fitted = _fitted_rule(norm, rule)
        if fitted.kind == "scaling":
            raise UserError(f"norm {norm!r}: scaling rules are for rate nets")
        shared = FittedHomeostasis.from_rule(fitted, width, transfer_name="identity", affine=norm.endswith(AFFINE))
        return nn.ModuleList([shared] * time_steps)
    return None


def _spiking_net(kind: str, depth: int, width: int, norm: str, in_shape: tuple[int, ...],
                 n_classes: int, time_steps: int, readout: str, rule: Rule | None, spike_dt: float,
                 homeostatic: LifIPParams) -> SpikingNet:
    if kind == "mlp":
        sizes = [math.prod(in_shape)] + [width] * (depth - 1)
        synapses = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
        synapses.append(nn.Linear(width, n_classes))
        bntt, in_shape = snn.BatchNormTT1d, (sizes[0],)
    else:
        sizes = [in_shape[0]] + [width] * (depth - 1)
        synapses = [nn.Sequential(nn.Conv2d(c, width, 3, padding=1), *([nn.MaxPool2d(2)] if i < 2 else []))
                    for i, c in enumerate(sizes[:-1])]
        synapses.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes)))
        bntt = snn.BatchNormTT2d
    norms = [_spiking_norm(norm, width, time_steps, bntt, rule) for _ in synapses[:-1]] + [None]
    neurons = [_spiking_neuron(norm, width, rule, spike_dt, homeostatic) for _ in synapses[:-1]]
    neurons.append(snn.Leaky(beta=0.9, spike_grad=surrogate.atan(), reset_mechanism="zero"))
    return SpikingNet(synapses, norms, neurons, time_steps, readout, in_shape)


def _cornford_normal(weight: torch.Tensor, first: bool) -> None:
    """He normal as Cornford et al.'s MLP: N(0, gain / fan_in), gain 1 in the first layer, 2 after."""
    nn.init.normal_(weight, std=math.sqrt((1 if first else 2) / nn.init._calculate_correct_fan(weight, "fan_in")))


def initialise(net: nn.Module, init: str, scale: float = 1.0) -> None:
    """Re-initialise every Linear / Conv weight (``default`` keeps PyTorch's; biases then to zero),
    then multiply every such weight by ``scale`` (a deliberately bad initialisation when != 1)."""
    if init not in INITS:
        raise UserError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    fill = {"kaiming": lambda w, first: nn.init.kaiming_normal_(w, nonlinearity="relu"),
            "xavier": lambda w, first: nn.init.xavier_normal_(w),
            "orthogonal": lambda w, first: nn.init.orthogonal_(w), "cornford": _cornford_normal}.get(init)
    weights = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d)) and "weight" in m._parameters]
    with torch.no_grad():
        for index, module in enumerate(weights):
            if fill is not None:
                fill(module.weight, index == 0)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            module.weight.mul_(scale)


def make_net(
    kind: str = "mlp", neuron: str = "rate", depth: int = 3, width: int = 128,
    norm: str = "none", init: str = "default", *, in_shape: tuple[int, ...] = (1, 28, 28),
    n_classes: int = 10, activation: str = "tanh", time_steps: int = 10,
    readout: str = "count", ip_eta: float | None = None, rule: Rule | None = None,
    oja_eta: float = 1e-3, init_scale: float = 1.0, input_mean: float = 0.0, spike_dt: float = 1e-3,
    spike_target: float = 0.1, spike_gain_adapt: bool = True,
) -> nn.Module:
    """A network as described in the module docstring (``depth`` weight layers, >= 2).

    ``rule`` is the loaded fitted rule of a ``fitted:<name>`` norm (its name must match);
    ``init_scale`` multiplies every Linear / Conv weight after initialisation.
    """
    if kind not in KINDS:
        raise UserError(f"unknown net kind {kind!r}; choose one of {', '.join(KINDS)}")
    if neuron not in NEURONS:
        raise UserError(f"unknown neuron {neuron!r}; choose one of {', '.join(NEURONS)}")
    if depth < 2 or width < 1:
        raise UserError(f"depth must be >= 2 and width >= 1, got depth={depth}, width={width}")
    problem = norm_problem(neuron, norm)
    if problem:
        raise UserError(problem)
    if kind == "cnn" and len(in_shape) != 3:
        raise UserError(f"a CNN needs image input (C, H, W), got shape {in_shape}")
    if neuron == "rate":
        net = _rate_net(kind, depth, width, norm, in_shape, n_classes, activation, ip_eta, rule, oja_eta,
                        input_mean)
    else:
        homeostatic = net_params(time_steps, rate=spike_target, adapt_gain=spike_gain_adapt)
        net = _spiking_net(kind, depth, width, norm, in_shape, n_classes, time_steps, readout, rule, spike_dt,
                           homeostatic)
    initialise(net, init, init_scale)
    return net
