"""NIR interchange of trained spiking nets (the Neuromorphic Intermediate Representation).

``export RUN --to nir`` writes a trained spiking MLP as a chain of ``nir.Affine`` and
``nir.LIF`` nodes (:func:`spiking_graph`, written with ``nir.write``); :class:`NirNet` rebuilds
an snntorch network from such a file with snntorch's own importer
(``snntorch.import_nir.import_from_nir``, through ``nirtorch``). The mapping, in
``docs/nir.md``:

- snntorch's convention for NIR files is one time step = ``NIR_DT`` = 1e-4 s: a LIF node with
  membrane ``tau`` and resistance ``r`` runs as v <- beta v + (r dt/tau) I with
  beta = 1 - dt/tau. So a Leaky of decay beta is written as tau = dt/(1 - beta), r = tau/dt
  (input scale 1), v_leak = 0, v_reset = 0 (snntorch's reset to zero), per-neuron
  ``v_threshold``. The net's own time step (``spike_dt``) goes into the node's metadata.
- Homeostatic state is frozen at its trained values, as in eval mode: a fitted equilibrium
  normaliser (gain, bias, and the learned gamma, beta of ``+affine``) is an affine map of the
  synaptic current and folds into the Affine's weight and bias; Diehl & Cook's adaptive
  threshold (``adaptive-threshold``) becomes per-neuron ``v_threshold`` = (v_thresh - v_rest)
  + theta, potentials shifted by -v_rest, its input scale dt/tau_m (v_thresh - v_rest) folded
  into the Affine. What NIR cannot express (the plastic rule itself, the fitted rule's name and
  content hash) is in the node's metadata.
- Not expressible, so refused: BatchNormTT (a different affine map at each time step), the
  lif-ip homeostatic LIF (``homeostatic``, ``ip``, ``fitted-online:``: its reset subtracts a
  fixed step, v -> v - delta_v, while NIR's LIF resets to v_reset), a model file's neuron
  (``fitted-online:`` of a model file's rule: its own generated Brian2 step), CNNs (snntorch's
  importer has no max-pooling node).

snntorch's importer asks for one threshold per layer, with reset at the spike step; :class:`NirNet`
hands it the graph with thresholds of 1, then sets each Leaky's per-neuron threshold from the
file and its reset to snntorch's delayed form (the same spikes; the membrane it keeps is the
one before reset, which a ``membrane`` readout averages, as in training).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.import_nir import import_from_nir
from torch import nn

from bridge.core.errors import UserError
from bridge.core.store import Store, atomic_output
from bridge.learning.data import DATASETS, load
from bridge.learning.layers import (
    AdaptiveThresholdLeaky,
    FittedHomeostasis,
    GeneratedLeaky,
    HomeostaticLeaky,
)
from bridge.learning.nets import SpikingNet
from bridge.learning.train import restore

NIR_DT = 1e-4  # seconds per time step in snntorch's NIR files (snntorch.export_nir / import_nir)
ENCODING = "Bernoulli rate code: each input's value in [0, 1] is its spike probability per time step"


def graph_problem(net: nn.Module) -> str | None:
    """Why ``net`` cannot be written as NIR (see the module docstring), or None."""
    if not isinstance(net, SpikingNet):
        return "NIR export takes a spiking net; this is a rate net"
    for block in net.blocks:
        if not isinstance(block["synapse"], nn.Linear):
            return "NIR export covers spiking MLPs; snntorch's NIR importer has no max-pooling node for a CNN"
        if "norm" in block and not isinstance(block["norm"][0], FittedHomeostasis):
            return ("norm bn: BatchNormTT normalises each time step with its own statistics, which one NIR "
                    "Affine per layer cannot express")
        neuron = block["neuron"]
        if isinstance(neuron, HomeostaticLeaky):
            return ("the lif-ip homeostatic LIF resets by subtracting a fixed step (v -> v - delta_v) below a "
                    "per-neuron threshold, which NIR's LIF (reset to v_reset) cannot express; NIR export covers "
                    "norms none, fitted:<rule>[+affine] and adaptive-threshold")
        if isinstance(neuron, GeneratedLeaky):
            return (f"a model file's neuron ({neuron.model.name}) runs its own generated Brian2 step, which NIR's "
                    "LIF cannot express; NIR export covers norms none, fitted:<rule>[+affine] and adaptive-threshold")
        if isinstance(neuron, AdaptiveThresholdLeaky) and neuron.params.v_reset != neuron.params.v_rest:
            return "adaptive threshold with v_reset != v_rest: snntorch's NIR importer resets to the leak potential"
        if isinstance(neuron, snn.Leaky) and neuron.reset_mechanism != "zero":
            return f"Leaky with reset {neuron.reset_mechanism!r}: NIR's LIF resets to a value (snntorch: 'zero')"
    return None


def _folded_norm(block: nn.ModuleDict, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of the block's current normaliser at inference: current -> scale * current + shift."""
    if "norm" not in block:
        return torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    norm: FittedHomeostasis = block["norm"][0]
    scale, shift = norm.gain.double(), norm.bias.double()
    if norm.affine:
        gamma, beta = norm.gamma.detach().double(), norm.beta.detach().double()
        scale, shift = gamma * scale, gamma * shift + beta
    return scale, shift


def _lif_node(neuron: nn.Module, n: int, time_step: float, extra: dict) -> tuple[float, nir.LIF]:
    """(input scale to fold into the Affine, the LIF node) of a trained neuron layer; ``extra``
    joins the node's metadata."""
    if isinstance(neuron, AdaptiveThresholdLeaky):
        p = neuron.params
        beta, input_scale = 1 - neuron.dt / p.tau_m, neuron.dt / p.tau_m * neuron.gap
        thresholds = neuron.gap + neuron.theta.detach().double().numpy()
        metadata = {"layer": "AdaptiveThresholdLeaky", "time_step_seconds": neuron.dt,
                    "plasticity": (f"Diehl & Cook 2015 adaptive threshold, frozen: theta_plus={p.theta_plus} mV, "
                                   f"tau_theta={p.tau_theta} s; potentials in mV relative to v_rest={p.v_rest} mV")}
    else:
        beta, input_scale = float(neuron.beta.clamp(0, 1)), 1.0
        thresholds = np.broadcast_to(neuron.threshold.detach().double().numpy(), (n,))
        metadata = {"layer": "Leaky", "time_step_seconds": time_step}
    tau = np.full(n, NIR_DT / (1 - beta))
    node = nir.LIF(tau=tau, r=tau / NIR_DT, v_leak=np.zeros(n), v_threshold=np.array(thresholds, dtype=np.float64),
                   v_reset=np.zeros(n), metadata={**metadata, **extra})
    return input_scale, node


def spiking_graph(net: SpikingNet, provenance: dict) -> nir.NIRGraph:
    """The NIR graph of a trained spiking MLP, homeostasis frozen (module docstring).

    ``provenance`` goes into the graph's metadata (run, norm, rule name and hash, time steps,
    readout, the net's time step ``spike_dt``); a UserError if the net cannot be expressed.
    """
    problem = graph_problem(net)
    if problem:
        raise UserError(problem)
    rule = {k: provenance[k] for k in ("rule", "rule_sha256") if provenance.get(k)}
    nodes: list[nir.NIRNode] = []
    for block in net.blocks:
        linear: nn.Linear = block["synapse"]
        n = linear.out_features
        input_scale, lif = _lif_node(block["neuron"], n, provenance.get("spike_dt", NIR_DT), rule)
        scale, shift = _folded_norm(block, n)
        weight = (input_scale * scale)[:, None] * linear.weight.detach().double()
        bias = input_scale * (scale * linear.bias.detach().double() + shift)
        folded = {"folded": f"FittedHomeostasis ({block['norm'][0].mode}, frozen): "
                            f"{block['norm'][0].extra_repr()}", **rule} if "norm" in block else {}
        nodes += [nir.Affine(weight.float().numpy(), bias.float().numpy(), metadata=folded), lif]
    graph = nir.NIRGraph.from_list(*nodes)
    graph.metadata = {"source": "homeobridge", "time_steps": net.time_steps, "readout": net.readout,
                      "encoding": ENCODING, "nir_dt_seconds": NIR_DT, **provenance}
    return graph


def write_nir(graph: nir.NIRGraph, output: str | Path) -> Path:
    """``nir.write`` the graph, atomically (no half-written file)."""
    output = Path(output)
    with atomic_output(output) as tmp:
        nir.write(tmp, graph)
    return output


def chain(graph: nir.NIRGraph) -> list[str]:
    """The graph's node names from its input along its edges (the chain of ``NIRGraph.from_list``)."""
    names, successors = ["input"], dict(graph.edges)
    while names[-1] in successors and len(names) <= len(graph.nodes):
        names.append(successors[names[-1]])
    return names


def lif_names(graph: nir.NIRGraph) -> list[str]:
    """The LIF nodes of the chain, input to output."""
    return [name for name in chain(graph) if isinstance(graph.nodes.get(name), nir.LIF)]


class NirNet(nn.Module):
    """An snntorch network rebuilt from a NIR graph by snntorch's importer, run for T steps.

    ``time_steps`` and ``readout`` come from the graph's metadata (as ``export RUN --to nir``
    writes it). ``forward(inputs, record)``: the input spikes, one (batch, features) tensor per step;
    returns the readout (output spike counts, or the output membrane's mean) and, when
    ``record`` is a list, appends each LIF layer's spikes per step (mean over the steps).
    """

    def __init__(self, graph: nir.NIRGraph):
        super().__init__()
        self.layers = lif_names(graph)
        if not self.layers:
            raise UserError("the NIR graph has no chain of LIF nodes from its input to its output")
        thresholds = {name: graph.nodes[name].v_threshold for name in self.layers}
        uniform = copy.deepcopy(graph)
        for name in self.layers:
            uniform.nodes[name].v_threshold = np.ones_like(thresholds[name])
        with contextlib.redirect_stdout(io.StringIO()):  # the importer prints its progress
            self.graph = import_from_nir(uniform)
        for name in self.layers:
            leaky = self.graph.get_submodule(name)
            leaky.threshold = torch.as_tensor(thresholds[name], dtype=torch.float32)
            leaky.reset_delay = True
        metadata = graph.metadata or {}
        self.time_steps = int(metadata.get("time_steps", 0))
        self.readout = str(metadata.get("readout", "count"))
        if self.time_steps < 1:
            raise UserError("the NIR graph's metadata gives no 'time_steps' (files from `export RUN --to nir` do)")

    def forward(self, inputs: Iterable[torch.Tensor], record: list | None = None) -> torch.Tensor:
        leakies = [self.graph.get_submodule(name) for name in self.layers]
        for leaky in leakies:
            leaky.mem = torch.zeros(0)
        totals = [0.0] * len(leakies)
        membrane = 0.0
        for signal in inputs:
            self.graph(signal)
            totals = [total + self._spikes(leaky) for total, leaky in zip(totals, leakies)]
            membrane = membrane + leakies[-1].mem
        if record is not None:
            record.extend(total / self.time_steps for total in totals)
        return totals[-1] if self.readout == "count" else membrane / self.time_steps

    @staticmethod
    def _spikes(leaky: snn.Leaky) -> torch.Tensor:
        return (leaky.mem > leaky.threshold).to(leaky.mem.dtype)


def read_nir(path: str | Path) -> tuple[NirNet, nir.NIRGraph]:
    """The snntorch network of a NIR file (``nir.read`` + :class:`NirNet`) and the graph."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such NIR file")
    try:
        graph = nir.read(path)
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"{path}: not a readable NIR file ({str(err).splitlines()[0] if str(err) else err})") from None
    return NirNet(graph), graph


def rate_code(x: torch.Tensor, time_steps: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The input spikes of ``ENCODING``: per step, a Bernoulli draw of every value of ``x``."""
    return [(torch.rand(x.shape, generator=generator, dtype=x.dtype) < x).to(x.dtype) for _ in range(time_steps)]


@torch.no_grad()
def evaluate_nir(net: NirNet, graph: nir.NIRGraph, images: int, seed: int) -> tuple[float, list[float]]:
    """(accuracy, each LIF layer's mean spikes per step per neuron) of ``net`` on the first
    ``images`` test images of the data set the graph's metadata names, rate-coded from ``seed``."""
    name = (graph.metadata or {}).get("dataset")
    if name not in DATASETS:
        raise UserError(f"the NIR file names no data set of this tool ({name!r}); choose one of {', '.join(DATASETS)}")
    data = load(str(name))
    x, y = data.x_test[:images].flatten(1), data.y_test[:images]
    record: list[torch.Tensor] = []
    out = net(rate_code(x, net.time_steps, torch.Generator().manual_seed(seed)), record)
    return float((out.argmax(1) == y).double().mean()), [float(rates.mean()) for rates in record]


def export_run(path: str | Path, output: str | Path, store: Store) -> nir.NIRGraph:
    """Write the trained spiking net of run ``path`` as NIR to ``output`` (``export RUN --to nir``)."""
    net, provenance = restore(Path(path), store)
    graph = spiking_graph(net, provenance)
    write_nir(graph, output)
    return graph


def node_lines(graph: nir.NIRGraph) -> list[str]:
    """One line per node along the chain: name, type and shape (and the LIF thresholds' range)."""
    return [f"{name}: {type(graph.nodes[name]).__name__} {_detail(graph.nodes[name])}" for name in chain(graph)]


def _detail(node: nir.NIRNode) -> str:
    if isinstance(node, nir.Affine):
        return f"weight {tuple(node.weight.shape)}"
    if isinstance(node, nir.LIF):
        return (f"{node.tau.size} neurons, tau {float(node.tau[0]):.3g} s, r {float(node.r[0]):.3g}, "
                f"v_threshold {float(node.v_threshold.min()):.4g}..{float(node.v_threshold.max()):.4g}")
    return str({key: value.tolist() for key, value in (node.input_type or {}).items()})
