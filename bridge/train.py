"""Training of one network on one data set, recorded per epoch and written to the store.

``train(config, store)`` trains the network of a :class:`TrainConfig` and writes one run of
kind ``train`` (schema in ``docs/train-schema.md``); a run already complete in the store is
returned without training again. ``run_training(config)`` does the work and returns the
history as a dict.

The whole data set lives on the device as tensors; each epoch draws one permutation from a
seeded generator and slices whole batches from it (batch size 1 is online learning; a last
partial batch is dropped). After every
optimiser step the plastic step of each plastic layer runs (synaptic scaling, the Oja term,
Dale's projection). Per epoch the history holds the mean training loss, test accuracy, wall
time, and per layer: the gradient norm (averaged over about ``grad_samples`` sampled steps of
the epoch), and on a fixed probe of test images in eval mode the activation mean, the mean
over units of each unit's standard deviation, and the mean over units of the information
potential (``bridge.information``). A non-finite loss stops the run: status ``diverged``, the
history so far kept. The same seed gives identical results on the CPU.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bridge.config import to_dict
from bridge.data import DATASETS, Dataset, load
from bridge.errors import UserError
from bridge.information import information_potential
from bridge.layers import after_step, plastic_modules
from bridge.nets import make_net
from bridge.store import Store, write_arrays

TRAIN_KIND = "train"
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
HISTORY_KEYS = ("epoch", "train_loss", "test_accuracy", "wall_seconds",
                "grad_norm", "act_mean", "act_std", "info_potential")


@dataclass(frozen=True)
class TrainConfig:
    """One training run (field by field in ``docs/train-schema.md``).

    ``ip_eta`` is the IP rules' rate per update (0: the rule's own per-sample rate);
    ``momentum`` is SGD's; ``time_steps`` and ``readout`` apply to spiking nets.
    """

    dataset: str = "fashion-mnist"
    n_train: int = 5000
    n_test: int = 2000
    kind: str = "mlp"
    neuron: str = "rate"
    depth: int = 3
    width: int = 128
    norm: str = "none"
    init: str = "default"
    activation: str = "tanh"
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.0
    batch_size: int = 64
    epochs: int = 3
    seed: int = 0
    device: str = "auto"
    time_steps: int = 10
    readout: str = "count"
    ip_eta: float = 0.01
    probe_size: int = 256
    kernel_sigma: float = 0.1
    grad_samples: int = 20

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        positive = ("n_train", "n_test", "batch_size", "epochs", "time_steps", "probe_size",
                    "grad_samples", "lr", "kernel_sigma")
        bad = [k for k in positive if getattr(self, k) <= 0] + (["ip_eta"] if self.ip_eta < 0 else [])
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be positive (ip_eta: >= 0)")
        if self.norm == "bn" and self.batch_size < 2:
            raise ValueError("norm 'bn' needs batch_size >= 2 (BatchNorm has no batch at size 1)")
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size {self.batch_size} is larger than n_train {self.n_train}")


_load = functools.lru_cache(maxsize=2)(load)  # a process training many runs reads each set once


def run_name(config: TrainConfig) -> str:
    """The store name of a run: neuron kind and norm (``fitted:x`` as ``fitted-x``)."""
    return f"{config.neuron}-{config.norm.replace(':', '-')}"


def run_path(config: TrainConfig) -> tuple[str, str, dict]:
    """(kind, name, config dict): the arguments of ``Store.find_run`` / ``Store.write``."""
    return TRAIN_KIND, run_name(config), to_dict(config)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` without CUDA is a UserError."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device (use auto or cpu)")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def build(config: TrainConfig, data: Dataset) -> nn.Module:
    """The network of ``config`` for ``data``, initialised from the config's seed."""
    torch.manual_seed(config.seed)
    return make_net(
        config.kind, config.neuron, config.depth, config.width, config.norm, config.init,
        in_shape=data.shape, n_classes=data.n_classes, activation=config.activation,
        time_steps=config.time_steps, readout=config.readout, ip_eta=config.ip_eta or None,
    )


def make_optimizer(config: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=config.lr)
    return torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum)


class GradNorms:
    """Per block (layer) of a net: the 2-norm of the gradient of all the block's parameters.

    One fused norm over every gradient, summed per block by a fixed index (a parameter
    without a gradient counts 0).
    """

    def __init__(self, net: nn.Module):
        self.params = [p for block in net.blocks for p in block.parameters()]
        sizes = [len(list(block.parameters())) for block in net.blocks]
        device = self.params[0].device
        self.index = torch.repeat_interleave(torch.arange(len(sizes), device=device),
                                             torch.tensor(sizes, device=device))
        self.blocks = len(sizes)

    def __call__(self) -> torch.Tensor:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        squares = torch.stack(torch._foreach_norm(grads)).square()
        return torch.zeros(self.blocks, device=squares.device).index_add_(0, self.index, squares).sqrt()


def train_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, data: Dataset, batch_size: int,
                generator: torch.Generator, grad_samples: int, advance=None) -> tuple[float, torch.Tensor]:
    """One pass over the shuffled training set: (mean batch loss, mean sampled gradient norm per block)."""
    net.train()
    plastic = plastic_modules(net)
    n = data.x_train.shape[0]
    order = torch.randperm(n, generator=generator).to(data.x_train.device)
    x, y = data.x_train[order], data.y_train[order]
    steps = n // batch_size  # whole batches only: BatchNorm cannot train on a last batch of 1
    every = max(1, steps // grad_samples)
    total = torch.zeros((), device=x.device)
    grad_norms = GradNorms(net)
    grads, sampled = torch.zeros(grad_norms.blocks, device=x.device), 0
    for step in range(steps):
        start = step * batch_size
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x[start:start + batch_size]), y[start:start + batch_size])
        loss.backward()
        if step % every == 0:
            grads += grad_norms()
            sampled += 1
            if not torch.isfinite(loss):
                return math.nan, grads / sampled
            if advance:
                advance(min(every, steps - step))
        optimizer.step()
        after_step(plastic)
        total += loss.detach()
    return (total / steps).item(), grads / sampled


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """Fraction of ``x`` classified as ``y`` in eval mode."""
    net.eval()
    correct = sum((net(xc).argmax(1) == yc).sum() for xc, yc in zip(x.split(chunk), y.split(chunk)))
    return float(correct) / x.shape[0]


@torch.no_grad()
def activity_stats(net: nn.Module, probe: torch.Tensor, kernel_sigma: float) -> torch.Tensor:
    """(3, blocks): activation mean, mean per-unit std and mean information potential per block."""
    net.eval()
    record: list[torch.Tensor] = []
    net(probe, record)
    rows = []
    for act in record:
        units = act.flatten(2).mean(2) if act.dim() > 2 else act  # conv: one unit per channel
        units = units.double()
        rows.append(torch.stack([units.mean(), units.std(0).mean(),
                                 information_potential(units, kernel_sigma).mean()]))
    return torch.stack(rows, dim=1)


def run_training(config: TrainConfig, progress: bool = True) -> dict:
    """Train as ``config`` says; the history (numpy-ready lists), ``status`` and ``message``."""
    from bridge.progress import progress_bar

    device = resolve_device(config.device)
    data = _load(config.dataset, config.seed).subset(config.n_train, config.n_test).to(device)
    net = build(config, data).to(device)
    optimizer = make_optimizer(config, net)
    generator = torch.Generator().manual_seed(config.seed)
    probe = data.x_test[:config.probe_size]
    history = {key: [] for key in HISTORY_KEYS}
    status, message = "ok", ""
    steps = data.x_train.shape[0] // config.batch_size
    with progress_bar(progress) as bar:
        task = bar.add_task(f"train {run_name(config)}", total=steps * config.epochs)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            loss, grads = train_epoch(net, optimizer, data, config.batch_size, generator,
                                      config.grad_samples, lambda k: bar.advance(task, k))
            wall = time.perf_counter() - start
            _append(history, epoch, loss, accuracy(net, data.x_test, data.y_test), wall, grads,
                    activity_stats(net, probe, config.kernel_sigma))
            if not math.isfinite(loss):
                status = "diverged"
                message = f"non-finite training loss in epoch {epoch} (lr={config.lr}); stopped"
                break
    return {**history, "status": status, "message": message, "device": str(device)}


def _append(history: dict, epoch: int, loss: float, acc: float, wall: float,
            grads: torch.Tensor, stats: torch.Tensor) -> None:
    values = (epoch, loss, acc, wall, grads.tolist(), *stats.tolist())
    for key, value in zip(HISTORY_KEYS, values):
        history[key].append(value)


def train(config: TrainConfig, store: Store | None = None, progress: bool = True) -> Path:
    """Train and write the run to ``store``; an existing complete run is returned untouched."""
    store = store or Store()
    kind, name, identity = run_path(config)
    existing = store.find_run(kind, name, identity)
    if existing is not None:
        return existing
    history = run_training(config, progress)
    with store.write(kind, name, identity, config.seed) as h5:
        group = h5.create_group("history")
        group.attrs["type"] = "history"
        write_arrays(group, {key: history[key] for key in HISTORY_KEYS})
        h5.attrs.update(status=history["status"], message=history["message"], device=history["device"])
    return store.path_for(kind, name, identity)


def summarise(path: Path) -> dict:
    """The headline of a stored training run: status, final loss and accuracy, total wall time."""
    from bridge.store import open_run

    with open_run(path, TRAIN_KIND) as run:
        history = {key: run.array(f"history/{key}") for key in ("train_loss", "test_accuracy", "wall_seconds")}
        return {
            "path": str(path), "name": run.name, "run_id": run.run_id,
            "status": str(run.h5.attrs.get("status", "ok")), "message": str(run.h5.attrs.get("message", "")),
            "epochs": len(history["train_loss"]),
            "final_train_loss": float(history["train_loss"][-1]),
            "final_test_accuracy": float(history["test_accuracy"][-1]),
            "train_seconds": float(history["wall_seconds"].sum()),
        }
