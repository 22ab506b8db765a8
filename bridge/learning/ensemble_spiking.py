"""E spiking MLPs as one network with a leading member axis: the ensemble engine's spiking net.

The members' ``SpikingNet``s (``bridge.learning.nets``), built one by one as a single run builds
them, stacked block by block; per time step t, for x (E, B, in) in [0, 1]:

    s_0(t) = [u_e(t) < x_e]       a Bernoulli rate code, u_e drawn from member e's own generator
    I_l(t) = s_{l-1}(t) W_l^T + b_l                   (``EnsembleLinear``, one ``baddbmm``)
    I_l(t) <- norm_l,t(I_l(t))    BNTT (Kim & Panda 2021) or fitted homeostasis, each member's own
    s_l(t), state_l <- neuron_l(I_l(t), state_l)
    out = sum_t s_L(t) (readout "count") or mean_t v_L(t) ("membrane")

- snn.Leaky neurons (v <- beta v + I, reset to zero) of every member step as one tensor, at
  any width (:class:`EnsembleLeaky`);
- the homeostatic neurons (lif-ip's ``HomeostaticLeaky``, Diehl & Cook's
  ``AdaptiveThresholdLeaky``) step as one: their per-neuron buffers stacked (E, n), each member
  module's buffers made views of its row (its single net reads them as they adapt), the pure
  step of ``models/`` taking (E, B, n) with the plastic state (E, 1, n) and each member's own
  batch means (``models.params.batch_mean``) (:class:`EnsemblePlasticNeuron`);
- BNTT and fitted homeostasis stay each member's own (``ensemble.PerMember``).

The homeostatic step's fused products (``addcmul``) are exact over all members only where each
member's slice spans whole vector steps (``ensemble.VECTOR_SPAN``); elsewhere each member's
homeostatic neurons step on their own slice. On the CPU
with one thread every member computes bit for bit what it computes alone
(``tests/test_ensemble.py``). The rate code draws from a generator per member (seeded
``seed + SPIKE_CODE_STREAM``), not the global stream of the single engine: the engine is part of
a run's identity.
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from bridge.learning.ensemble import PerMember, spans_whole_vectors, stack_modules
from bridge.learning.layers import AdaptiveThresholdLeaky, HomeostaticLeaky
from models.adaptive_threshold import AdaptiveThresholdState, adaptive_threshold_step
from models.lif_ip import LifIPState, lif_ip_step

SPIKE_CODE_STREAM = 2**32  # a member's rate-code generator is seeded with its seed plus this


def _per_member(neurons, current: torch.Tensor, state, frozen: set[int]):
    """Each member's neuron on its own slice; ``state`` a list of member states (or None). A member
    taken out (``frozen``) does not step: no spikes, its state and buffers kept."""
    states = state or [None] * len(neurons)
    steps = [(torch.zeros_like(c), s) if e in frozen else neuron(c, s)
             for e, (neuron, c, s) in enumerate(zip(neurons, current, states))]
    return torch.stack([spikes for spikes, _ in steps]), [s for _, s in steps]


class EnsembleLeaky(nn.Module):
    """The members' snn.Leaky neurons (equal: no per-neuron state) as one, (E, B, n), at any
    width: its step (v <- beta v + I, (1 - reset) v, v - 1 > 0, atan's gradient) is products,
    sums, quotients and comparisons, each correctly rounded wherever it falls in a vector."""

    def __init__(self, neurons: list[snn.Leaky]):
        super().__init__()
        self.leaky = neurons[0]

    def forward(self, current: torch.Tensor, state):
        return self.leaky(current, torch.zeros_like(current) if state is None else state)


class EnsemblePlasticNeuron(nn.Module):
    """The members' homeostatic neurons as one (module docstring): ``BUFFERS`` stacked (E, n)."""

    def __init__(self, neurons: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(neurons)
        self.frozen: set[int] = set()
        first = neurons[0]
        if any((n.params, n.dt) != (first.params, first.dt) for n in neurons):
            raise ValueError("the members of a spiking ensemble share their neurons' parameters")
        self.buffers_of = BUFFERS[type(first)]
        for name in self.buffers_of:
            stacked = torch.stack([getattr(n, name) for n in neurons])
            self.register_buffer(name, stacked)
            for e, neuron in enumerate(neurons):
                setattr(neuron, name, stacked[e])  # the member's buffer: a view of its row

    def forward(self, current: torch.Tensor, state):
        if not spans_whole_vectors(current):
            return _per_member(self.members, current, state, self.frozen)
        first = self.members[0]
        step = STEPS[type(first)]
        spikes, state = step(first, current, state if state is not None else self._initial(first, current))
        if self.training:
            with torch.no_grad():
                for name, value in zip(self.buffers_of, _plastic(state)):
                    getattr(self, name).copy_(value.squeeze(1))
        return spikes, state

    def _initial(self, first: nn.Module, current: torch.Tensor):
        rows = {name: getattr(self, name).unsqueeze(1).to(current.dtype, copy=True) for name in self.buffers_of}
        if isinstance(first, HomeostaticLeaky):
            samples = current.shape[:2] + (first.n,)
            return LifIPState(v=torch.full(samples, float(first.params.v_rest), dtype=current.dtype),
                              theta=rows["threshold"], gain=rows["input_gain"],
                              trace=rows["mean_rate"].expand(samples).clone(), mean_rate=rows["mean_rate"].clone(),
                              var_rate=rows["var_rate"])
        return AdaptiveThresholdState(v=torch.full_like(current, first.params.v_rest), theta=rows["theta"])

    def take_out(self, e: int) -> None:
        """Member ``e`` leaves: its buffers become its own copies, kept as they are now."""
        self.frozen.add(e)
        for name in self.buffers_of:
            setattr(self.members[e], name, getattr(self, name)[e].clone())


def _lif_ip(neuron: HomeostaticLeaky, current, state):
    return lif_ip_step(current, state, neuron.params, neuron.dt, neuron.spike_grad, neuron.training)


def _adaptive(neuron: AdaptiveThresholdLeaky, current, state):
    gap = neuron.gap
    return adaptive_threshold_step(current * gap, state, neuron.params, neuron.dt,
                                   lambda d: neuron.spike_grad(d / gap), neuron.training)


def _plastic(state) -> tuple[torch.Tensor, ...]:
    if isinstance(state, LifIPState):
        return state.theta, state.gain, state.mean_rate, state.var_rate
    return (state.theta,)


BUFFERS = {HomeostaticLeaky: ("threshold", "input_gain", "mean_rate", "var_rate"), AdaptiveThresholdLeaky: ("theta",)}
STEPS = {HomeostaticLeaky: _lif_ip, AdaptiveThresholdLeaky: _adaptive}


def _neurons(neurons: list[nn.Module]) -> nn.Module:
    if type(neurons[0]) in BUFFERS:
        return EnsemblePlasticNeuron(neurons)
    if type(neurons[0]) is snn.Leaky:
        return EnsembleLeaky(neurons)
    raise ValueError(f"{type(neurons[0]).__name__} neurons do not train as ensembles")


def _block(blocks: list[nn.ModuleDict]) -> nn.ModuleDict:
    stacked = {"synapse": stack_modules([b["synapse"] for b in blocks]),
               "neuron": _neurons([b["neuron"] for b in blocks])}
    if "norm" in blocks[0]:
        stacked["norm"] = nn.ModuleList(PerMember(list(norms)) for norms in zip(*(b["norm"] for b in blocks)))
    return nn.ModuleDict(stacked)


class EnsembleSpikingNet(nn.Module):
    """The members' spiking MLPs stacked (module docstring); ``forward`` takes (E, B, features)
    and returns the readout (E, B, classes). ``generators``: each member's rate-code stream."""

    def __init__(self, nets: list[nn.Module], generators: list[torch.Generator]):
        super().__init__()
        self.size, self.generators = len(nets), generators
        self.blocks = nn.ModuleList(_block(list(blocks)) for blocks in zip(*(net.blocks for net in nets)))
        self.time_steps, self.readout = nets[0].time_steps, nets[0].readout

    def rate_code(self, x: torch.Tensor) -> torch.Tensor:
        """(T, E, B, in): member e's spikes drawn from its own generator, all T steps at once."""
        return torch.stack([(torch.rand((self.time_steps, *xe.shape), generator=g) < xe).to(x.dtype)
                            for xe, g in zip(x, self.generators)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.simulate(self.rate_code(x.flatten(2)))

    def simulate(self, codes: torch.Tensor) -> torch.Tensor:
        """The members driven by given input spikes (T, E, B, in), as ``SpikingNet.simulate``."""
        states = [None] * len(self.blocks)
        count, membrane = 0.0, 0.0
        for t in range(self.time_steps):
            signal = codes[t]
            for index, block in enumerate(self.blocks):
                current = block["synapse"](signal)
                if "norm" in block:
                    current = block["norm"][t](current)
                signal, states[index] = block["neuron"](current, states[index])
            count = count + signal
            membrane = membrane + states[-1]
        return count if self.readout == "count" else membrane / self.time_steps
