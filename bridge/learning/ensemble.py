"""E rate MLPs as one network with a leading member axis: the ensemble engine's network.

Members are built one by one exactly as a single run builds them (``train.build``: each its
own seed's initial weights), then stacked:

- a Linear layer of every member becomes one :class:`EnsembleLinear`, the weights transposed
  (E, in, out) and the biases (E, out): y_e = x_e W_e^T + b_e for x (E, B, in) by one
  ``torch.baddbmm``;
- an OjaLinear becomes an :class:`EnsembleOja`: the same, and the subspace step
  W_e <- W_e + eta y_e^T (x_e - y_e W_e) / B in the transposed layout, in place (``models.oja.oja_step_t_``);
- a per-unit layer (BatchNorm, IP, fitted homeostasis) stays each member's own, run on its
  member's slice (:class:`PerMember`; the member's single net holds the same modules);
- an activation runs once over all members where that rounds as each member alone
  (:class:`EnsembleActivation`), else on each member's slice;
- Flatten is shared.

On the CPU with one thread each member computes bit for bit what it computes alone, as an
ensemble of one, whatever the other members (``tests/test_ensemble.py``): ``baddbmm`` treats
each member's matrices alone, and the per-unit layers are the member's own modules on its own
slice. Its products round otherwise than ``F.linear``'s (the single engine's), so the engine is
part of a run's identity (``bridge.learning.engine``). :func:`member_state` takes one member
back out as a single net, for evaluation and for its run file.

Families (``ensemble_problem``): MLPs on the CPU of width up to 128; rate nets with none, bn,
bn-noaffine, ip-*, fitted:<rule> (intrinsic; +affine too) and oja, spiking nets
(``bridge.learning.ensemble_spiking``) with none, bn (BNTT), ip, homeostatic,
adaptive-threshold, fitted:<rule> and fitted-online:<rule>; SGD (any momentum). Others (wider
nets, which are compute-bound, LayerNorm, weight norm, scaling, Dale, CNNs, Adam, the GPU)
train as single runs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers import FittedHomeostasis, IntrinsicPlasticity, OjaLinear
from models.oja import oja_step_t_

ENSEMBLE_FAMILIES = {"rate": ("none", "bn", "bn-noaffine", "ip", "fitted", "oja", "oja-post"),
                     "spiking": ("none", "bn", "ip", "homeostatic", "adaptive-threshold", "fitted", "fitted-online")}
ENSEMBLE_MAX_WIDTH = 128  # wider nets are compute-bound on the CPU: 0.66-1.04x at 10 x 256, batch 64 (measured)
PER_MEMBER = (nn.BatchNorm1d, IntrinsicPlasticity, FittedHomeostasis)  # each member's own module on its slice
ACTIVATIONS = (nn.Tanh, nn.ReLU, nn.Sigmoid)
# Elements a member's slice must span for one elementwise kernel over all members to be exact:
# ATen's vectorised loops take two vectors a step (2 x 16 floats on AVX-512) and compute the
# remainder with scalar code that rounds otherwise; a multiple of 64 keeps every element in the
# vector code, alone and in the ensemble.
VECTOR_SPAN = 64
EXACT_ANYWHERE = (nn.ReLU,)  # max(x, 0) rounds nothing


def spans_whole_vectors(x: torch.Tensor) -> bool:
    """Whether each member's slice of ``x`` (E, ...) is a whole number of vector steps
    (VECTOR_SPAN elements): one elementwise kernel over all members then rounds as each alone."""
    return x[0].numel() % VECTOR_SPAN == 0
# in a run's identity: 2 (2026-12-01) the weights' SGD and Oja steps formed from their factors in
# place; 3 (2026-12-02) a weight's step sums the factors of every call (2 kept a spiking synapse's
# last time step only)
ENSEMBLE_REVISION = 3
SHARED = (nn.Flatten, nn.Identity)  # no arithmetic


def engine_of(config, rule=None) -> str:
    """The engine that trains a config (with its loaded fitted rule): "ensemble" where it can be a
    member and the ensemble is the faster (a CPU net of width up to ENSEMBLE_MAX_WIDTH), unless
    the config asks for the single engine (``engine`` "single"); else "single"."""
    faster = config.engine == "auto" and config.device == "cpu" and config.width <= ENSEMBLE_MAX_WIDTH
    return "ensemble" if faster and ensemble_problem(config, rule) is None else "single"


def ensemble_problem(config, rule=None) -> str | None:
    """Why a training config (``train.TrainConfig``, with its loaded fitted rule) cannot be an
    ensemble member, or None."""
    norm = config.norm_spec
    if config.kind != "mlp":
        return "only MLPs train as ensembles"
    if norm.family not in ENSEMBLE_FAMILIES[config.neuron]:
        return f"norm {config.norm!r} trains as single runs"
    if norm.family == "fitted" and getattr(rule, "kind", None) != "intrinsic":
        return "only intrinsic fitted rules train as ensembles (a scaling rule scales weights)"
    if norm.family == "fitted-online" and getattr(rule, "model_file", None) is not None:
        return "a model file's neurons (GeneratedLeaky) train as single runs"
    if config.optimizer != "sgd":
        return "only SGD trains as ensembles"
    return None


class _Product(torch.autograd.Function):
    """y = b + x W^T for x (E, B, in), W^T (E, in, out) by one ``baddbmm``. The backward gives the
    input's and the bias's gradients and adds (x, dy) to the layer's factors (one pair per call:
    a spiking net's synapse runs once per time step): its SGD step forms the weight step from
    them in one pass (:meth:`EnsembleLinear.sgd_step`), never the gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor, layer: EnsembleLinear):
        ctx.save_for_backward(x, weight_t)
        ctx.layer = layer
        return torch.baddbmm(bias.unsqueeze(1), x, weight_t)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight_t = ctx.saved_tensors
        ctx.layer.factors.append((x, grad))
        grad_x = torch.bmm(grad, weight_t.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        return grad_x, None, grad.sum(1), None


class EnsembleLinear(nn.Module):
    """E Linear layers as one: ``weight_t`` (E, in, out), the members' weights transposed, bias
    (E, out); (E, B, in) -> (E, B, out). The weights take their SGD step from the backward's
    factors (:meth:`sgd_step`), outside autograd: the gradient of W^T is sum over calls of
    x^T dy = X^T DY, the calls' x and dy joined along the batch."""

    def __init__(self, linears: list[nn.Linear]):
        super().__init__()
        weights = torch.stack([layer.weight.detach().T for layer in linears]).contiguous()
        self.weight_t = nn.Parameter(weights, requires_grad=False)
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in linears]))
        self.factors: list[tuple[torch.Tensor, torch.Tensor]] = []  # (x, dy) of each call since the last step
        self.momentum_buffer: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Product.apply(x.contiguous(), self.weight_t, self.bias, self)

    def joined_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(X, DY) (E, calls x B, in / out): every call's factors since the last step, joined."""
        if len(self.factors) == 1:
            return self.factors[0]
        return torch.cat([x for x, _ in self.factors], 1), torch.cat([dy for _, dy in self.factors], 1)

    @torch.no_grad()
    def sgd_step(self, rates: torch.Tensor, momentum: float) -> None:
        """The weights' SGD step from the backward's factors, ``rates`` (E, 1, 1) = -lr:
        W^T <- W^T + X^T (-lr DY) without momentum (the outer product at one example, ``addcmul``;
        else ``baddbmm``); with momentum u <- m u + X^T DY, W^T <- W^T - lr u
        (``torch.optim.SGD``'s step on the gradient X^T DY, whose matrix is never formed). A layer
        no backward reached has no gradient and takes no step, as with autograd's None."""
        if not self.factors:
            return
        x, grad = self.joined_factors()
        self.factors = []
        x_t = x.transpose(1, 2)
        if momentum:
            if self.momentum_buffer is None:
                self.momentum_buffer = torch.bmm(x_t, grad)
            else:
                self.momentum_buffer.baddbmm_(x_t, grad, beta=momentum)
            self.weight_t.addcmul_(self.momentum_buffer, rates)
        elif x.shape[1] == 1:
            self.weight_t.addcmul_(x_t, grad * rates)
        else:
            self.weight_t.baddbmm_(x_t, grad * rates)

    def member(self, e: int) -> dict[str, torch.Tensor]:
        """Member ``e``'s weight (out, in) and bias, as its nn.Linear holds them (views)."""
        return {"weight": self.weight_t[e].T, "bias": self.bias[e]}

    def member_grads(self, e: int) -> dict[str, torch.Tensor | None]:
        """Member ``e``'s gradients of weight (DY^T X, formed for this) and bias (None before a backward)."""
        x, grad = self.joined_factors() if self.factors else (None, None)
        weight = None if x is None else grad[e].T @ x[e]
        return {"weight": weight, "bias": None if self.bias.grad is None else self.bias.grad[e]}


class EnsembleOja(EnsembleLinear):
    """E OjaLinear layers as one (:class:`OjaLinear`: the Oja subspace step after each SGD step)."""

    def __init__(self, linears: list[OjaLinear]):
        super().__init__(linears)
        if len({layer.eta_oja for layer in linears}) != 1:
            raise UserError("the members of an Oja ensemble share one oja_eta")
        self.eta_oja = linears[0].eta_oja
        post = linears[0].post
        self.post = None if post is None else EnsembleActivation(copy.deepcopy(post))
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            out = y.detach()
            self._last = (x.detach(), out - self.bias.unsqueeze(1) if self.post is None else self.post(out))
        return y

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training and self._last is not None:
            x, y = self._last
            oja_step_t_(self.weight_t, x.contiguous(), y.contiguous(), self.eta_oja)
            self._last = None


class EnsembleActivation(nn.Module):
    """An activation of every member, (E, B, n) -> (E, B, n): one kernel over all members where
    each member's slice spans whole vector steps (B n a multiple of VECTOR_SPAN) or the function
    rounds nothing (ReLU), else the activation on each member's slice, as it runs alone (at a
    width of 20 a member's slice starts mid-vector). Stateless, so a member taken out needs nothing."""

    def __init__(self, activation: nn.Module):
        super().__init__()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.activation, EXACT_ANYWHERE) or spans_whole_vectors(x):
            return self.activation(x)
        return torch.stack([self.activation(member) for member in x])


class PerMember(nn.Module):
    """A per-unit layer (BatchNorm, IP, fitted homeostasis) of every member, each run on its own
    member's slice (E, B, n) -> (E, B, n): the members' own modules, shared
    with their single nets. Merging them into one layer of E n units would batch them too, but
    their batch reductions then round otherwise (measured: the last bits of BN's and IP's
    statistics). A member taken out (``frozen``) passes its slice through untouched, its state kept."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.frozen: set[int] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[e] if e in self.frozen else layer(x[e]) for e, layer in enumerate(self.layers)])


def stack_modules(modules: list[nn.Module]) -> nn.Module:
    """The members' equal modules as one (module docstring)."""
    first = modules[0]
    if type(first) is OjaLinear:
        return EnsembleOja(modules)
    if type(first) is nn.Linear:
        return EnsembleLinear(modules)
    if isinstance(first, PER_MEMBER):
        return PerMember(modules)
    if isinstance(first, ACTIVATIONS):
        return EnsembleActivation(copy.deepcopy(first))
    if isinstance(first, SHARED):
        return copy.deepcopy(first)
    if type(first) in (nn.Sequential, nn.ModuleList):
        children = [stack_modules(list(group)) for group in zip(*(list(m.children()) for m in modules))]
        return nn.Sequential(*children) if type(first) is nn.Sequential else nn.ModuleList(children)
    raise UserError(f"{type(first).__name__} layers do not train as ensembles")


class EnsembleNet(nn.Module):
    """The members' blocks stacked (module docstring); ``forward`` takes (E, B, features)."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.size = len(nets)
        self.blocks = stack_modules([net.blocks for net in nets])

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
        elif callable(getattr(module, "take_out", None)):  # stacked plastic buffers (spiking neurons)
            module.take_out(e)
