"""E rate MLPs as one network with a leading member axis: the ensemble engine's network.

Members are built one by one exactly as a single run builds them (``train.build``: each its
own seed's initial weights), then stacked:

- a Linear layer of every member becomes one :class:`EnsembleLinear`, the weights transposed
  (E, in, out) and the biases (E, out): y_e = x_e W_e^T + b_e for x (E, B, in) by one
  ``torch.baddbmm``;
- an OjaLinear becomes an :class:`EnsembleOja`: the same, and the subspace step
  W_e <- W_e + eta y_e^T (x_e - y_e W_e) / B in the transposed layout (``models.oja.oja_delta_t``);
- a per-unit layer (BatchNorm, IP, fitted homeostasis) and an activation stay each member's
  own, run on its member's slice (:class:`PerMember`; the member's single net holds the same
  modules);
- Flatten is shared.

On the CPU with one thread each member computes bit for bit what it computes alone, as an
ensemble of one, whatever the other members (``tests/test_ensemble.py``): ``baddbmm`` treats
each member's matrices alone, and the per-unit layers are the member's own modules on its own
slice. Its products round otherwise than ``F.linear``'s (the single engine's), so the engine is
part of a run's identity (``bridge.learning.engine``). :func:`member_state` takes one member
back out as a single net, for evaluation and for its run file.

Families (``ensemble_problem``): rate MLPs on the CPU of width up to 128 with none, bn,
bn-noaffine, ip-*, fitted:<rule> (intrinsic; +affine too) and oja; SGD (any momentum). Others
(wider nets, which are compute-bound, LayerNorm, weight norm, scaling, Dale, CNNs, spiking nets,
Adam, the GPU) train as single runs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers import FittedHomeostasis, IntrinsicPlasticity, OjaLinear
from models.oja import oja_delta_t

ENSEMBLE_FAMILIES = ("none", "bn", "bn-noaffine", "ip", "fitted", "oja")
ENSEMBLE_MAX_WIDTH = 128  # wider nets are compute-bound on the CPU: 0.66-1.04x at 10 x 256, batch 64 (measured)
# each member's own module on its own slice: per-unit layers, and activations, whose vectorised
# kernels round an element by where it falls in a vector (sigmoid: another result on the tail)
PER_MEMBER = (nn.BatchNorm1d, IntrinsicPlasticity, FittedHomeostasis, nn.Tanh, nn.ReLU, nn.Sigmoid)
SHARED = (nn.Flatten, nn.Identity)  # no arithmetic


def engine_of(config, rule=None) -> str:
    """The engine that trains a config (with its loaded fitted rule): "ensemble" where it can be a
    member and the ensemble is the faster (a CPU net of width up to ENSEMBLE_MAX_WIDTH), else
    "single"."""
    faster = config.device == "cpu" and config.width <= ENSEMBLE_MAX_WIDTH
    return "ensemble" if faster and ensemble_problem(config, rule) is None else "single"


def ensemble_problem(config, rule=None) -> str | None:
    """Why a training config (``train.TrainConfig``, with its loaded fitted rule) cannot be an
    ensemble member, or None."""
    norm = config.norm_spec
    if config.neuron != "rate" or config.kind != "mlp":
        return "only rate MLPs train as ensembles"
    if norm.family not in ENSEMBLE_FAMILIES:
        return f"norm {config.norm!r} trains as single runs"
    if norm.family == "fitted" and getattr(rule, "kind", None) != "intrinsic":
        return "only intrinsic fitted rules train as ensembles (a scaling rule scales weights)"
    if config.optimizer != "sgd":
        return "only SGD trains as ensembles"
    return None


class EnsembleLinear(nn.Module):
    """E Linear layers as one: ``weight_t`` (E, in, out), the members' weights transposed (so the
    backward writes its gradient in place, no transposed copy), bias (E, out); (E, B, in) -> (E, B, out)."""

    def __init__(self, linears: list[nn.Linear]):
        super().__init__()
        self.weight_t = nn.Parameter(torch.stack([layer.weight.detach().T for layer in linears]).contiguous())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in linears]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x.contiguous(), self.weight_t)

    def member(self, e: int) -> dict[str, torch.Tensor]:
        """Member ``e``'s weight (out, in) and bias, as its nn.Linear holds them (views)."""
        return {"weight": self.weight_t[e].T, "bias": self.bias[e]}

    def member_grads(self, e: int) -> dict[str, torch.Tensor | None]:
        """Member ``e``'s gradients of weight and bias (views; None before a backward)."""
        def part(grad: torch.Tensor | None, transpose: bool) -> torch.Tensor | None:
            return None if grad is None else (grad[e].T if transpose else grad[e])
        return {"weight": part(self.weight_t.grad, True), "bias": part(self.bias.grad, False)}


class EnsembleOja(EnsembleLinear):
    """E OjaLinear layers as one (:class:`OjaLinear`: the Oja subspace step after each SGD step)."""

    def __init__(self, linears: list[OjaLinear]):
        super().__init__(linears)
        if len({layer.eta_oja for layer in linears}) != 1:
            raise UserError("the members of an Oja ensemble share one oja_eta")
        self.eta_oja = linears[0].eta_oja
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            self._last = (x.detach(), (y - self.bias.unsqueeze(1)).detach())
        return y

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training and self._last is not None:
            x, y = self._last
            self.weight_t.add_(oja_delta_t(x.contiguous(), y.contiguous(), self.weight_t), alpha=self.eta_oja)
            self._last = None


class PerMember(nn.Module):
    """A per-unit layer (BatchNorm, IP, fitted homeostasis) or an activation of every member,
    each run on its own member's slice (E, B, n) -> (E, B, n): the members' own modules, shared
    with their single nets. Merging them into one layer of E n units would batch them too, but
    their batch reductions then round otherwise (measured: the last bits of BN's and IP's
    statistics), and a vectorised activation rounds an element by its place in the vector. A
    member taken out (``frozen``) passes its slice through untouched, its state kept."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.frozen: set[int] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[e] if e in self.frozen else layer(x[e]) for e, layer in enumerate(self.layers)])


def _stack(modules: list[nn.Module]) -> nn.Module:
    first = modules[0]
    if type(first) is OjaLinear:
        return EnsembleOja(modules)
    if type(first) is nn.Linear:
        return EnsembleLinear(modules)
    if isinstance(first, PER_MEMBER):
        return PerMember(modules)
    if isinstance(first, SHARED):
        return copy.deepcopy(first)
    if type(first) in (nn.Sequential, nn.ModuleList):
        children = [_stack(list(group)) for group in zip(*(list(m.children()) for m in modules))]
        return nn.Sequential(*children) if type(first) is nn.Sequential else nn.ModuleList(children)
    raise UserError(f"{type(first).__name__} layers do not train as ensembles")


class EnsembleNet(nn.Module):
    """The members' blocks stacked (module docstring); ``forward`` takes (E, B, features)."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.size = len(nets)
        self.blocks = _stack([net.blocks for net in nets])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def _pairs(ensemble: nn.Module, single: nn.Module):
    """(ensemble layer, the member's single layer) of the stacked Linear layers, in module order."""
    if isinstance(ensemble, EnsembleLinear):
        yield ensemble, single
        return
    if isinstance(ensemble, PerMember):
        return
    for mine, theirs in zip(ensemble.children(), single.children()):
        yield from _pairs(mine, theirs)


@torch.no_grad()
def member_state(ensemble: EnsembleNet, e: int, single: nn.Module) -> nn.Module:
    """Member ``e``'s single net with its current state: its Linear slices copied in (its per-unit
    layers are its own already); returns it."""
    for mine, theirs in _pairs(ensemble.blocks, single.blocks):
        for name, tensor in mine.member(e).items():
            getattr(theirs, name).copy_(tensor)
    return single


def member_grads(ensemble: EnsembleNet, e: int, single: nn.Module) -> list[torch.Tensor | None]:
    """Member ``e``'s gradients in the order of ``single``'s blocks' parameters (train.GradNorms):
    its Linear slices, and its per-unit layers' own."""
    slices = {id(getattr(theirs, name)): grad for mine, theirs in _pairs(ensemble.blocks, single.blocks)
              for name, grad in mine.member_grads(e).items()}
    return [slices.get(id(p), p.grad) for block in single.blocks for p in block.parameters()]


def freeze(ensemble: EnsembleNet, e: int) -> None:
    """Take member ``e`` out: its own layers no longer run, and the step under way does not
    change them (their gradients dropped), so their state is kept as it was."""
    for module in ensemble.modules():
        if isinstance(module, PerMember):
            module.frozen.add(e)
            for param in module.layers[e].parameters():
                param.grad = None
