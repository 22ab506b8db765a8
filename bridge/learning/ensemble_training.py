"""Training an ensemble: cells that differ only in seed and learning rate as one network.

``run_ensemble(configs, rule)`` trains the members of ``configs`` (equal but for ``seed`` and
``lr``: :func:`shared_fields`) as one :class:`~bridge.learning.ensemble.EnsembleNet` and returns
one history per member, in ``train.run_training``'s form: bit for bit the history of the same
config trained alone as an ensemble of one, on the CPU (one thread). Per member, as its single
run would:

- its own initial weights (built by ``train.build`` from its seed) and its own data order (a
  generator seeded by its seed, one permutation per epoch, whole batches); a spiking member its
  own rate-code stream (``ensemble_spiking``);
- its loss, the mean over its batch (the members' losses summed for one backward: each member's
  gradient is its own loss's);
- its SGD step at its own rate (``p <- p - lr_e g``, as ``addcmul`` with a per-member rate; with
  momentum, its own buffer; a weight matrix's step formed from the backward's factors, its
  gradient never formed: ``EnsembleLinear.sgd_step``), then the plastic steps (Oja);
- every ``grad_samples``-th step its gradient norms (``train.GradNorms`` on its slices) and the
  divergence check of its single run (non-finite loss, ``train.homeostasis_in_range``): a
  member that fails is taken out there, as its single run stops, its state kept as it was;
- after each epoch its record (``train.evaluate`` on the member taken back into its own single
  net: test and validation accuracy, activity statistics), the epoch's wall time shared.

Each member is written by the store's usual writer as its own run file, with ``engine``
"ensemble", the ensemble's id and size recorded (not part of the run's identity: the numbers are
the single run's).
"""

from __future__ import annotations

import hashlib
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from bridge.core.progress import progress_bar
from bridge.fitting.rules import Rule
from bridge.learning.data import DATASETS
from bridge.learning.ensemble import (
    EnsembleLinear,
    EnsembleNet,
    PerMember,
    engine_of,
    ensemble_problem,
    freeze,
    member_grads,
    member_state,
)
from bridge.learning.ensemble_spiking import SPIKE_CODE_STREAM, EnsembleSpikingNet
from bridge.learning.layers import after_step, plastic_modules
from bridge.learning.train import (
    CPU_THREADS,
    HISTORY_KEYS,
    GradNorms,
    TrainConfig,
    build,
    cpu_threads,
    diverged_message,
    evaluate,
    homeostasis_in_range,
    homeostatic_state,
    net_weights,
    resolve_device,
    run_data,
    spiking_health,
    step_plan,
)

SEEDED_DATA = tuple(name for name in DATASETS if name != "fashion-mnist")  # data drawn from the seed (splits)
MEMBERS_AT_MOST = 32


def shared_fields(config: TrainConfig) -> str:
    """What members of one ensemble share: the config but for seed and learning rate (and the seed
    where the data set depends on it)."""
    shared = {k: v for k, v in config.to_dict().items() if k not in ("lr", "seed")}
    if config.dataset in SEEDED_DATA:
        shared["seed"] = config.seed
    return json.dumps(shared, sort_keys=True)


def ensemble_key(config: TrainConfig, rule: Rule | None = None) -> str | None:
    """The ensemble a cell trains in (its :func:`shared_fields`); None for a cell of the single
    engine (``ensemble.engine_of``, with its loaded fitted rule)."""
    return shared_fields(config) if engine_of(config, rule) == "ensemble" else None


def ensemble_id(configs: list[TrainConfig]) -> str:
    """A short id of an ensemble: the hash of its members' configs."""
    text = json.dumps([c.to_dict() for c in configs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Members:
    """The members: their configs, their single nets (built alike: their per-unit layers are the
    ensemble's), gradient-norm bookkeeping, homeostatic layers and whether each is still training."""

    def __init__(self, configs: list[TrainConfig], nets: list[nn.Module]):
        self.configs, self.nets = configs, nets
        self.grad_norms = [GradNorms(net) for net in nets]
        self.homeostatic = [homeostatic_state(net) for net in nets]
        self.alive = [True] * len(nets)

    def __len__(self) -> int:
        return len(self.nets)


def _member_rates(ensemble: EnsembleNet, rates: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Each autograd parameter's -lr (``rates``: (E,)): (E, 1, ...) for a stacked tensor, its
    member's own for a per-unit layer's."""
    out = {p: rates[e] for m in ensemble.modules() if isinstance(m, PerMember)
           for e, layer in enumerate(m.layers) for p in layer.parameters()}
    for p in ensemble.parameters():
        if p.requires_grad:
            out.setdefault(p, rates.view(-1, *([1] * (p.dim() - 1))))
    return out


class EnsembleSGD:
    """Per-member SGD: p <- p - lr_e (g or its momentum buffer), ``torch.optim.SGD``'s arithmetic;
    the stacked weights' step from their layer's factors (``EnsembleLinear.sgd_step``)."""

    def __init__(self, ensemble: EnsembleNet, configs: list[TrainConfig]):
        rates = torch.tensor([-c.lr for c in configs])
        self.rates = {p: rate.to(p.device) for p, rate in _member_rates(ensemble, rates).items()}
        self.linears = [m for m in ensemble.modules() if isinstance(m, EnsembleLinear)]
        self.linear_rates = rates.view(-1, 1, 1).to(self.linears[0].bias.device)
        self.momentum = configs[0].momentum
        self.buffers: dict[nn.Parameter, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        for layer in self.linears:
            layer.sgd_step(self.linear_rates, self.momentum)
        for p, rate in self.rates.items():
            if p.grad is None:
                continue
            step = p.grad
            if self.momentum:
                buffer = self.buffers.get(p)
                step = self.buffers[p] = p.grad.clone() if buffer is None else buffer.mul_(self.momentum).add_(p.grad)
            p.addcmul_(step, rate)

    def zero_grad(self) -> None:
        for p in self.rates:
            p.grad = None
        for layer in self.linears:
            layer.factors = []


def _batches(x: torch.Tensor, y: torch.Tensor, orders: torch.Tensor, batch_size: int):
    """Per step the members' batches (E, B, ...) in their orders (E, steps * B)."""
    for index in orders.split(batch_size, dim=1):
        yield x[index], y[index]


def _epoch(ensemble: EnsembleNet, optimizer: EnsembleSGD, members: Members, x: torch.Tensor, y: torch.Tensor,
           generators: list[torch.Generator], advance) -> tuple[list[float], list[torch.Tensor], list[bool]]:
    """One epoch of every living member: (mean loss, sampled gradient norms, diverged) per member."""
    config = members.configs[0]
    ensemble.train()
    plastic = plastic_modules(ensemble)
    n, size = x.shape[0], len(members)
    steps, every = step_plan(n, config.batch_size, config.grad_samples)
    orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(x.device)
    orders = orders[:, :steps * config.batch_size]
    totals = torch.zeros(size, device=x.device)
    grads = [torch.zeros(2, len(members.nets[e].blocks), device=x.device) for e in range(size)]
    sampled, died = [0] * size, [False] * size
    living = list(members.alive)
    for step, (inputs, labels) in enumerate(_batches(x, y, orders, config.batch_size)):
        optimizer.zero_grad()
        logits = ensemble(inputs)
        flat = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(size, -1)
        flat.mean(dim=1).sum().backward()
        losses = flat.detach().squeeze(1) if config.batch_size == 1 else torch.stack(
            [F.cross_entropy(logits[e].detach(), labels[e]) for e in range(size)])  # the single run's mean
        if step % every == 0:
            for e in (e for e in range(size) if living[e]):
                grads[e] += members.grad_norms[e].of(member_grads(ensemble, e, members.nets[e]))
                sampled[e] += 1
            finite = losses.isfinite().tolist()
            for e in (e for e in range(size) if living[e]):
                if not (finite[e] and homeostasis_in_range(members.homeostatic[e])):  # out, as its single run stops
                    living[e], died[e] = False, True
                    member_state(ensemble, e, members.nets[e])
                    freeze(ensemble, e)
            if not any(living):  # every member out: the epoch ends, as their single runs do
                break
            if advance:
                advance(min(every, steps - step))
        optimizer.step()
        after_step(plastic)
        totals += losses
    means = [math.nan if died[e] else float(totals[e] / steps) for e in range(size)]
    return means, [g / max(1, count) for g, count in zip(grads, sampled)], died


def stacked_nets(nets: list[nn.Module], configs: list[TrainConfig]) -> nn.Module:
    """The members' nets as one: a spiking ensemble with each member's rate-code generator."""
    if configs[0].neuron == "spiking":
        return EnsembleSpikingNet(nets, [torch.Generator().manual_seed(c.seed + SPIKE_CODE_STREAM) for c in configs])
    return EnsembleNet(nets)


def run_ensemble(configs: list[TrainConfig], rule: Rule | None = None, progress: bool = True) -> list[dict]:
    """Train the members of ``configs`` as one network on one CPU thread (module docstring); one
    history per member, as ``train.run_training`` returns it."""
    problems = {ensemble_problem(c, rule) for c in configs} - {None}
    if problems or len({shared_fields(c) for c in configs}) != 1:
        raise ValueError(f"the members of an ensemble must share every field but seed and lr: {problems or ''}")
    with cpu_threads():
        return _train(configs, rule, progress)


def _train(configs: list[TrainConfig], rule: Rule | None, progress: bool) -> list[dict]:
    base = configs[0]
    device = resolve_device(base.device)
    inputs = run_data(base, device)
    members = Members(configs, [build(c, inputs.data, rule).to(device) for c in configs])
    ensemble = stacked_nets(members.nets, configs).to(device)
    optimizer = EnsembleSGD(ensemble, configs)
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    spiking = base.neuron == "spiking"
    histories = [{key: [] for key in HISTORY_KEYS} | {"status": "ok", "message": "", "spike_health": [] if spiking
                                                      else None} for _ in configs]
    steps = inputs.data.x_train.shape[0] // base.batch_size
    with progress_bar(progress) as bar:
        task = bar.add_task(f"ensemble of {len(configs)}", total=steps * base.epochs)
        for epoch in range(1, base.epochs + 1):
            start = time.perf_counter()
            living = list(members.alive)
            losses, grads, died = _epoch(ensemble, optimizer, members, inputs.data.x_train, inputs.data.y_train,
                                         generators, lambda k: bar.advance(task, k))
            wall = time.perf_counter() - start
            for e in (e for e in range(len(configs)) if living[e]):
                net = members.nets[e] if died[e] else member_state(ensemble, e, members.nets[e])
                record = evaluate(configs[e], net, inputs, epoch, losses[e], wall, grads[e])
                for key, value in record._asdict().items():
                    histories[e][key].append(value)
                if spiking:
                    histories[e]["spike_health"].append(spiking_health(net, inputs.probe).tolist())
                if died[e]:
                    members.alive[e] = False
                    histories[e].update(status="diverged", message=diverged_message(configs[e], epoch))
            if not any(members.alive):
                break
    shared = {"device": str(device), "engine": "ensemble", "cpu_threads": CPU_THREADS,
              "ensemble_id": ensemble_id(configs), "ensemble_size": len(configs)}
    weights = [_final_weights(ensemble, members, e) if spiking else None for e in range(len(configs))]
    return [history | shared | {"weights": w} for history, w in zip(histories, weights)]


def _final_weights(ensemble: nn.Module, members: Members, e: int) -> dict:
    """A spiking member's stored arrays: its net as it ended (as kept where it diverged)."""
    net = member_state(ensemble, e, members.nets[e]) if members.alive[e] else members.nets[e]
    return net_weights(net)
