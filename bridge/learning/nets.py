"""Networks for the training comparisons: rate or spiking, MLP or CNN, with any normalisation.

``make_net(spec)`` builds the network a :class:`NetSpec` describes (kind, neuron, ``depth``,
``width``, norm, init, ...): ``depth`` weight layers (``depth - 1`` hidden blocks and a linear
readout). Every network has

- ``blocks``: the ``depth`` modules whose parameters form one "layer" in the training history
  (gradient norm per layer), in input-to-output order;
- ``forward(x, record=None)``: ``x`` is (batch, features) as ``bridge.learning.data`` gives it; when
  ``record`` is a list, one activity tensor per block is appended to it (rate nets: the block's
  output; spiking nets: each unit's spike rate over the time steps; the readout: its logits).

Norm names (taken apart once, into a :class:`NormSpec`: ``NormSpec.parse(neuron, name)``), rate
nets: ``none``, ``bn`` (BatchNorm), ``bn-noaffine`` (BatchNorm without its learned gamma, beta:
the control for IP), ``ln`` (LayerNorm; GroupNorm(1, C) in CNNs), ``wn``
(weight norm), ``ip-triesch`` / ``ip-infomax`` / ``ip-gaussian`` (:class:`IntrinsicPlasticity`,
whose rule fixes the activation; ``-adam`` after the rule: Adam steps on the rule's drives;
``+affine`` adds the learned gamma, beta of Shaw et al. 2020:
y = f(gamma (a x + b) + beta)), ``fitted:<rule>[+affine]`` (:class:`FittedHomeostasis` of a
fitted intrinsic rule, or :meth:`SynapticScaling.from_rule` of a fitted scaling rule, passed in
loaded as ``make_net(spec, rule=...)``), ``scaling``
(:class:`SynapticScaling`), ``oja`` (:class:`OjaLinear`, rate ``oja_eta``; ``oja-post``: the
rule on the activation's output), and Cornford et al.
2021's sign-constrained nets, every layer ReLU but the readout, the readout of the same kind as
the hidden layers: ``dale`` (:class:`DaleLinear` with corrected SGD, a readout with one
inhibitory unit), ``dale-uncorrected`` (the same without the gradient correction),
``column-ei`` (:class:`ColumnEiLinear`, E:I 10:1 columns; its first layer's bias centres the
input of mean ``input_mean``), ``fitted-online:<rule>`` of a rule fitted to a rate model file
(the file's own neuron and homeostasis in a :class:`GeneratedRate`, its generated Brian2 step,
one sample a step of the sweep; the built-in rate models' online form is ``ip-<rule>``).
Spiking nets: ``none``, ``bn`` (snntorch's BatchNormTT, Kim & Panda 2021), ``ip`` /
``homeostatic`` (:class:`HomeostaticLeaky` with parameters compressed to the net's time steps:
``net_params``, target ``spike_target`` spikes per step, input gain adapted unless
``spike_gain_adapt`` is off), ``adaptive-threshold``
(:class:`AdaptiveThresholdLeaky`, Diehl & Cook 2015),
``fitted-online:<rule>`` (the faithful transplant of a fitted lif-ip rule: the Brian2 model's own
rule and time constants in a :class:`HomeostaticLeaky`, one time step = ``spike_dt`` seconds;
``HomeostaticLeaky.from_rule``; of a rule fitted to a model file: the file's own neuron in a
:class:`GeneratedLeaky`, its generated Brian2 step), ``fitted:<rule>`` (the fitted rule's equilibrium
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
from dataclasses import dataclass
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
    GeneratedLeaky,
    GeneratedRate,
    HomeostaticLeaky,
    IntrinsicPlasticity,
    IntrinsicPlasticity2d,
    OjaLinear,
    SynapticScaling,
)
from bridge.learning.layers.ip import ADAM
from bridge.learning.layers.spiking import net_params
from models.lif_ip import LifIPParams

KINDS = ("mlp", "cnn")
NEURONS = ("rate", "spiking")
INITS = ("default", "kaiming", "xavier", "orthogonal", "cornford")
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid,
}
IP_RULES = tuple(rule + step for rule in ("triesch", "infomax", "gaussian") for step in ("", ADAM))
IP_NORMS = tuple(f"ip-{name}" for name in IP_RULES)
AFFINE = "+affine"  # suffix: IP / fitted layer followed by a learned per-unit gamma, beta (Shaw et al. 2020)
RATE_NORMS = ("none", "bn", "bn-noaffine", "ln", "wn", *IP_NORMS, *(n + AFFINE for n in IP_NORMS),
              "scaling", "oja", "oja-post", "dale", "dale-uncorrected", "column-ei", "fitted:<rule>",
              "fitted:<rule>+affine", "fitted-online:<rule>")
EI_NORMS = ("dale", "dale-uncorrected", "column-ei")  # whole nets of sign-constrained layers (MLPs)
SPIKING_NORMS = ("none", "bn", "ip", "homeostatic", "adaptive-threshold", "fitted:<rule>",
                 "fitted:<rule>+affine", "fitted-online:<rule>")
READOUTS = ("count", "membrane")
HOMEOSTATIC_LIF_NORMS = ("ip", "homeostatic")  # spiking norms whose neurons are HomeostaticLeaky
FITTED_FAMILIES = ("fitted", "fitted-online")  # the norms that name a fitted rule
# the families whose name carries a rule after a separator: ip-<rule>, fitted:<rule>, fitted-online:<rule>
_RULE_SEPARATORS = {"ip": "-", "fitted": ":", "fitted-online": ":"}
# per neuron: the families without a rule or +affine, and those that take +affine after their rule
_PLAIN_FAMILIES = {"rate": ("none", "bn", "bn-noaffine", "ln", "wn", "scaling", "oja", "oja-post", *EI_NORMS),
                   "spiking": ("none", "bn", *HOMEOSTATIC_LIF_NORMS, "adaptive-threshold")}
_RULED_FAMILIES = {"rate": ("ip", "fitted", "fitted-online"), "spiking": ("fitted", "fitted-online")}
_AFFINE_FAMILIES = ("ip", "fitted")


@dataclass(frozen=True, slots=True)
class NormSpec:
    """A norm name taken apart (see the module docstring for the names).

    ``family`` is the base name (``none``, ``bn``, ``bn-noaffine``, ``ln``, ``wn``, ``ip``,
    ``fitted``, ``fitted-online``, ``scaling``, ``oja``, ``dale``, ``dale-uncorrected``,
    ``column-ei``, ``homeostatic``, ``adaptive-threshold``); ``rule`` the IP rule of ``ip-<rule>``
    (a rate net's triesch / infomax / gaussian) or the fitted rule's name of ``fitted:<rule>`` /
    ``fitted-online:<rule>``, else None (a spiking ``ip`` has none); ``affine`` the ``+affine``
    suffix. :attr:`text` (and ``str()``) gives the name back exactly.
    """

    family: str
    rule: str | None = None
    affine: bool = False

    @classmethod
    def parse(cls, neuron: str, text: str) -> NormSpec:
        """The norm ``text`` of ``neuron`` nets; a UserError (:meth:`problem`'s line) when it is none."""
        spec = cls.split(text)
        problem = spec.problem(neuron)
        if problem:
            raise UserError(problem)
        return spec

    @classmethod
    def split(cls, text: str) -> NormSpec:
        """The parts of any string, checked against no neuron kind (:meth:`parse` checks): the one
        place a norm name is taken apart. ``split(text).text == text`` for every string."""
        affine = text.endswith(AFFINE)
        base = text.removesuffix(AFFINE)
        for family, separator in _RULE_SEPARATORS.items():
            if base.startswith(family + separator):
                return cls(family, base.removeprefix(family + separator), affine)
        return cls(base, None, affine)

    @property
    def text(self) -> str:
        """The norm's name, as stored in a run's config."""
        rule = "" if self.rule is None else _RULE_SEPARATORS.get(self.family, "") + self.rule
        return self.family + rule + (AFFINE if self.affine else "")

    def __str__(self) -> str:
        return self.text

    def problem(self, neuron: str) -> str | None:
        """Why this is not a normalisation of ``neuron`` nets, or None when it is one."""
        if neuron not in NEURONS:
            return f"unknown neuron {neuron!r}; choose one of {', '.join(NEURONS)}"
        if self.family in _PLAIN_FAMILIES[neuron]:
            known = self.rule is None and not self.affine
        elif self.family in _RULED_FAMILIES[neuron]:
            named = self.rule in IP_RULES if self.family == "ip" else bool(self.rule)
            known = named and (not self.affine or self.family in _AFFINE_FAMILIES)
        else:
            known = False
        if known:
            return None
        choices = RATE_NORMS if neuron == "rate" else SPIKING_NORMS
        return f"unknown norm {self.text!r} for {neuron} nets; choose one of {', '.join(choices)}"

    @property
    def fitted_rule(self) -> str | None:
        """The name of the fitted rule a ``fitted:`` / ``fitted-online:`` norm uses, else None."""
        return self.rule if self.family in FITTED_FAMILIES else None

    @property
    def ei(self) -> bool:
        """A whole net of Cornford et al.'s sign-constrained layers (:data:`EI_NORMS`)."""
        return self.family in EI_NORMS


def fitted_rule_name(norm: str) -> str | None:
    """The rule a ``fitted:<name>[+affine]`` or ``fitted-online:<name>`` norm names, else None."""
    return NormSpec.split(norm).fitted_rule


def net_revision(neuron: str, norm: str) -> int:
    """The revision of the network a (neuron, norm) builds; above 1 it joins a run's inputs, so
    no run of an older net is reused for it. Revisions:

    - 2, a spiking ``fitted:<rule>+affine`` net: revision 1 dropped the learned affine;
    - 2, a rate ``oja`` net: revision 1 drew every OjaLinear's weights again (its wrap re-ran
      ``nn.Linear.__init__``), so only the first layer was paired with the sgd arm's; and
      revision 2 computes the Oja term as y^T (x - y W) (``models.oja.oja_delta``), another
      rounding than revision 1's y^T x - (y^T y) W;
    - 2, a spiking net of homeostatic LIF neurons (``ip``, ``homeostatic``,
      ``fitted-online:<rule>``) or adaptive thresholds (``adaptive-threshold``): revision 1 left
      their threshold and input gain out of the divergence check (gains ran to 1e12 and the run
      counted as ok).

    ``norm`` must be a norm of ``neuron`` nets (a UserError otherwise).
    """
    spec = NormSpec.parse(neuron, norm)
    if neuron == "spiking":
        affine = spec.family == "fitted" and spec.affine
        homeostatic_lif = spec.family in (*HOMEOSTATIC_LIF_NORMS, "adaptive-threshold", "fitted-online")
        return 2 if affine or homeostatic_lif else 1
    return 2 if spec.family == "oja" else 1


def norm_problem(neuron: str, norm: str) -> str | None:
    """Why ``norm`` is not a normalisation of ``neuron`` nets, or None when it is one."""
    return NormSpec.split(norm).problem(neuron)


@dataclass(frozen=True)
class NetSpec:
    """The architecture of a network (what :func:`make_net` builds, less the data's shape, the
    fitted rule and the input mean); validated when built.

    ``ip_eta`` is the IP rules' rate per update (None: the rule's own); ``oja_eta`` the Oja term's
    rate; ``init_scale`` multiplies every Linear / Conv weight after initialisation;
    ``time_steps``, ``readout``, ``spike_dt``, ``spike_target`` and ``spike_gain_adapt`` apply to
    spiking nets (see the module docstring). :meth:`of` takes the norm by name.
    """

    kind: str = "mlp"
    neuron: str = "rate"
    depth: int = 3
    width: int = 128
    norm: NormSpec = NormSpec("none")
    init: str = "default"
    activation: str = "tanh"
    time_steps: int = 10
    readout: str = "count"
    ip_eta: float | None = None
    oja_eta: float = 1e-3
    init_scale: float = 1.0
    spike_dt: float = 1e-3
    spike_target: float = 0.1
    spike_gain_adapt: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown net kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.neuron not in NEURONS:
            raise UserError(f"unknown neuron {self.neuron!r}; choose one of {', '.join(NEURONS)}")
        if self.depth < 2 or self.width < 1:
            raise UserError(f"depth must be >= 2 and width >= 1, got depth={self.depth}, width={self.width}")
        problem = self.norm.problem(self.neuron)
        if problem:
            raise UserError(problem)
        if self.kind == "cnn" and (self.norm.ei or self.norm.family in ("oja", "oja-post")):
            raise UserError(f"norm {self.norm.text!r} exists for MLPs only")
        if self.norm.family == "wn" and (self.init != "default" or self.init_scale != 1.0):
            raise UserError("norm 'wn' keeps PyTorch's initialisation: its weight is g v/|v|, which neither "
                            "another init nor init_scale reaches (v is re-parametrised); use init=default, "
                            "init_scale=1")

    @classmethod
    def of(cls, norm: str = "none", **fields: Any) -> NetSpec:
        """The spec with the norm named ``norm`` (parsed for ``fields``' neuron, default rate)."""
        return cls(norm=NormSpec.parse(fields.get("neuron", cls.neuron), norm), **fields)


def _fitted_rule(norm: NormSpec, rule: Rule | None) -> Rule:
    """The rule passed in for a fitted norm; UserError when it is missing or another."""
    if rule is None or rule.name != norm.rule:
        raise UserError(f"norm {norm.text!r} needs the loaded rule {norm.rule!r} passed to the network builder")
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


def _rate_block(spec: NetSpec, make_weight: Callable[[], nn.Module], conv: bool,
                rule: Rule | None) -> list[nn.Module]:
    """[weight layer, normalisation, activation] for one hidden block of a rate net."""
    norm, width = spec.norm, spec.width
    if norm.family == "ip":
        ip = IntrinsicPlasticity2d if conv else IntrinsicPlasticity
        return [make_weight(), ip(width, norm.rule, eta=spec.ip_eta, affine=norm.affine)]
    if norm.family == "fitted":
        fitted = _fitted_rule(norm, rule)
        if fitted.kind == "scaling":
            if norm.affine:
                raise UserError(f"norm {norm.text!r}: a scaling rule scales weights; it has no +affine form")
            return [SynapticScaling.from_rule(fitted, make_weight()), _activation(spec.activation)]
        return [make_weight(), FittedHomeostasis.from_rule(fitted, width, affine=norm.affine)]
    if norm.family == "fitted-online":  # a rate model file's neuron is its own activation
        return [make_weight(), GeneratedRate.from_rule(_fitted_rule(norm, rule), width)]
    layers = {
        "none": lambda: [make_weight()],
        "bn": lambda: [make_weight(), (nn.BatchNorm2d if conv else nn.BatchNorm1d)(width)],
        "bn-noaffine": lambda: [make_weight(), (nn.BatchNorm2d if conv else nn.BatchNorm1d)(width, affine=False)],
        "ln": lambda: [make_weight(), nn.GroupNorm(1, width) if conv else nn.LayerNorm(width)],
        "wn": lambda: [weight_norm(make_weight())],
        "scaling": lambda: [SynapticScaling(make_weight())],
        "oja": lambda: [OjaLinear.wrap(make_weight(), spec.oja_eta)],
        "oja-post": lambda: [OjaLinear.wrap(make_weight(), spec.oja_eta, post=_activation(spec.activation))],
    }
    return layers[norm.family]() + [_activation(spec.activation)]


def _sign_constrained(norm: NormSpec, fan_in: int, fan_out: int, first: bool, readout: bool,
                      input_mean: float) -> nn.Module:
    """One layer of a Cornford et al. net (:data:`EI_NORMS`)."""
    if norm.family == "column-ei":
        return ColumnEiLinear(fan_in, fan_out, first=first, input_mean=input_mean)
    return DaleLinear(fan_in, fan_out, n_inhibitory=1 if readout else None, first=first,
                      corrected=norm.family == "dale")


def _rate_net(spec: NetSpec, in_shape: tuple[int, ...], n_classes: int, rule: Rule | None,
              input_mean: float) -> RateNet:
    blocks = []
    width = spec.width
    if spec.kind == "mlp":
        sizes = [math.prod(in_shape)] + [width] * (spec.depth - 1)
        if spec.norm.ei:
            blocks = [nn.Sequential(_sign_constrained(spec.norm, fan_in, width, i == 0, False, input_mean), nn.ReLU())
                      for i, fan_in in enumerate(sizes[:-1])]
            blocks.append(_sign_constrained(spec.norm, sizes[-1], n_classes, False, True, input_mean))
            return RateNet(nn.Flatten(), blocks)
        for fan_in in sizes[:-1]:
            layers = _rate_block(spec, lambda fan_in=fan_in: nn.Linear(fan_in, width), False, rule)
            blocks.append(nn.Sequential(*layers))
        blocks.append(nn.Linear(sizes[-1], n_classes))
        return RateNet(nn.Flatten(), blocks)
    channels = [in_shape[0]] + [width] * (spec.depth - 1)
    for index, c_in in enumerate(channels[:-1]):
        layers = _rate_block(spec, lambda c_in=c_in: nn.Conv2d(c_in, width, 3, padding=1), True, rule)
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
                    v = _membrane(block["neuron"], states[index]).detach().double()
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


def _membrane(neuron: nn.Module, state: Any) -> torch.Tensor:
    """The membrane potential of a Leaky state (a tensor), a HomeostaticLeaky one (LifIPState) or
    a model file's neuron (in its threshold units: :meth:`GeneratedLeaky.membrane`)."""
    if isinstance(neuron, GeneratedLeaky):
        return neuron.membrane(state)
    return state.v if hasattr(state, "v") else state


def _step(neuron: nn.Module, current: torch.Tensor, state: Any):
    """One step of a Leaky, HomeostaticLeaky, AdaptiveThresholdLeaky or GeneratedLeaky with
    explicit state (membrane, LifIPState, AdaptiveThresholdState, a model file's variables)."""
    if isinstance(neuron, (HomeostaticLeaky, AdaptiveThresholdLeaky, GeneratedLeaky)):
        return neuron(current, state)
    if state is None:
        state = torch.zeros_like(current)
    return neuron(current, state)


def _spiking_neuron(spec: NetSpec, rule: Rule | None, homeostatic: LifIPParams) -> nn.Module:
    family = spec.norm.family
    if family in HOMEOSTATIC_LIF_NORMS:
        return HomeostaticLeaky(spec.width, homeostatic)
    if family == "adaptive-threshold":
        return AdaptiveThresholdLeaky(spec.width, dt=spec.spike_dt)
    if family == "fitted-online":
        fitted = _fitted_rule(spec.norm, rule)
        own = GeneratedLeaky if fitted.model_file is not None else HomeostaticLeaky  # a model file's neuron, or lif-ip
        return own.from_rule(fitted, spec.width, dt=spec.spike_dt)
    return snn.Leaky(beta=0.9, spike_grad=surrogate.atan(), reset_mechanism="zero")


def _spiking_norm(spec: NetSpec, bntt: type, rule: Rule | None) -> nn.Module | None:
    """The per-time-step current normaliser of a hidden block (indexed by time step), or None."""
    norm = spec.norm
    if norm.family == "bn":
        return bntt(spec.width, spec.time_steps)
    if norm.family == "fitted":
        fitted = _fitted_rule(norm, rule)
        if fitted.kind == "scaling":
            raise UserError(f"norm {norm.text!r}: scaling rules are for rate nets")
        shared = FittedHomeostasis.from_rule(fitted, spec.width, transfer_name="identity", affine=norm.affine)
        return nn.ModuleList([shared] * spec.time_steps)
    return None


def _spiking_net(spec: NetSpec, in_shape: tuple[int, ...], n_classes: int, rule: Rule | None) -> SpikingNet:
    width = spec.width
    if spec.kind == "mlp":
        sizes = [math.prod(in_shape)] + [width] * (spec.depth - 1)
        synapses = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
        synapses.append(nn.Linear(width, n_classes))
        bntt, in_shape = snn.BatchNormTT1d, (sizes[0],)
    else:
        sizes = [in_shape[0]] + [width] * (spec.depth - 1)
        synapses = [nn.Sequential(nn.Conv2d(c, width, 3, padding=1), *([nn.MaxPool2d(2)] if i < 2 else []))
                    for i, c in enumerate(sizes[:-1])]
        synapses.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes)))
        bntt = snn.BatchNormTT2d
    homeostatic = net_params(spec.time_steps, rate=spec.spike_target, adapt_gain=spec.spike_gain_adapt)
    norms = [_spiking_norm(spec, bntt, rule) for _ in synapses[:-1]] + [None]
    neurons = [_spiking_neuron(spec, rule, homeostatic) for _ in synapses[:-1]]
    neurons.append(snn.Leaky(beta=0.9, spike_grad=surrogate.atan(), reset_mechanism="zero"))
    return SpikingNet(synapses, norms, neurons, spec.time_steps, spec.readout, in_shape)


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


def make_net(spec: NetSpec, *, in_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10,
             rule: Rule | None = None, input_mean: float = 0.0) -> nn.Module:
    """The network ``spec`` describes (see the module docstring) for inputs of ``in_shape`` and
    ``n_classes`` outputs.

    ``rule`` is the loaded fitted rule of a ``fitted:<name>`` / ``fitted-online:<name>`` norm (its
    name must match); ``input_mean`` the mean input a ``column-ei`` net's first layer centres.
    """
    if spec.kind == "cnn" and len(in_shape) != 3:
        raise UserError(f"a CNN needs image input (C, H, W), got shape {in_shape}")
    if spec.neuron == "rate":
        net = _rate_net(spec, in_shape, n_classes, rule, input_mean)
    else:
        net = _spiking_net(spec, in_shape, n_classes, rule)
    initialise(net, spec.init, spec.init_scale)
    return net
