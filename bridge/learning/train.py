"""Training of one network on one data set, recorded per epoch and written to the store.

``run_training(config)`` trains the network of a :class:`TrainConfig` on the single engine
and returns the history as a dict; ``write_training`` writes it as one run of kind ``train``
(schema in ``docs/train-schema.md``). ``bridge.learning.engine.train(config, store)`` picks
the engine a config trains on (the ensemble engine where it can be a member) and returns a
run already complete in the store without training again.

The whole data set lives on the device as tensors; each epoch draws one permutation from a
seeded generator and slices whole batches from it (batch size 1 is online learning; a last
partial batch is dropped). After every
optimiser step the plastic step of each plastic layer runs (synaptic scaling, the Oja term,
Dale's projection). Per epoch the history holds the mean training loss, test accuracy, wall
time, and per layer: the gradient norm (averaged over about ``grad_samples`` sampled steps of
the epoch), and on a fixed probe of test images in eval mode the activation mean, the mean
over units of each unit's standard deviation, and the mean over units of the information
potential (``models.information``). A non-finite loss stops the run: status ``diverged``, the
history so far kept. The same seed gives identical results on the CPU: every run computes on
one CPU thread (:data:`CPU_THREADS`, part of its inputs), since some kernels (F.linear at batch
64) round differently on two; so a run's numbers do not depend on how many workers train beside
it, and an ensemble member (``ensemble_training``) equals the same cell trained alone.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator
from torch import nn

from bridge.core.config import Config
from bridge.core.errors import UserError
from bridge.core.progress import progress_bar
from bridge.core.store import Stopwatch, Store, open_run, write_arrays
from bridge.fitting.rules import Rule, load_rule
from bridge.learning.data import DATASETS, Dataset, dataset_identity, load
from bridge.learning.ensemble import ENSEMBLE_REVISION, engine_of
from bridge.learning.layers import (
    FittedHomeostasis,
    after_step,
    plastic_modules,
)
from bridge.learning.nets import (
    ACTIVATIONS,
    INITS,
    KINDS,
    NEURONS,
    READOUTS,
    NetSpec,
    NormSpec,
    make_net,
    net_revision,
)
from models.information import information_potential

TRAIN_KIND = "train"
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
ENGINE_CHOICES = ("auto", "single")  # auto: the ensemble engine where a config can be a member
# TrainConfig fields newer than stored runs
ADDED_FIELDS = ("oja_eta", "init_scale", "spike_dt", "spike_target", "spike_gain_adapt", "n_val", "engine")


class ActivityStats(NamedTuple):
    """Per block, on the probe in eval mode (:func:`activity_stats`)."""

    act_mean: torch.Tensor  # activation mean
    act_std: torch.Tensor  # mean over units of each unit's standard deviation
    info_potential: torch.Tensor  # mean over units of the information potential V
    unit_cv: torch.Tensor  # coefficient of variation over units of mean |activation| (unit usage)
    dead_fraction: torch.Tensor  # fraction of units whose std is below DEAD_STD


class EpochRecord(NamedTuple):
    """One epoch of a run's history; its field names are the history's keys."""

    epoch: int
    train_loss: float
    test_accuracy: float
    val_accuracy: float  # NaN without a validation split (n_val = 0)
    wall_seconds: float
    grad_norm: list[float]  # per block: every parameter's gradient
    weight_grad_norm: list[float]  # per block: the weight matrices' only (no gamma, beta, biases, gains)
    act_mean: list[float]
    act_std: list[float]
    info_potential: list[float]
    unit_cv: list[float]
    dead_fraction: list[float]


HISTORY_KEYS = EpochRecord._fields
# absent from runs stored before them: read as NaN
LATER_HISTORY_KEYS = ("unit_cv", "dead_fraction", "val_accuracy", "weight_grad_norm")
DEAD_STD = 1e-4  # a unit whose output varies less than this over the probe is dead (silent or saturated)
HEALTH_STATS = ("rate_mean", "rate_p10", "rate_p50", "rate_p90", "silent_fraction", "saturated_fraction",
                "threshold_mean", "threshold_sd", "gain_mean", "gain_sd", "membrane_sd")
SATURATED_RATE = 0.95  # spikes per step: a unit firing (nearly) every step of every probe sample


class TrainConfig(Config):
    """One training run (field by field in ``docs/train-schema.md``); validated when built.

    ``ip_eta`` is the IP rules' rate per update (0: the rule's own per-sample rate);
    ``oja_eta`` the Oja term's rate (norm ``oja``); ``init_scale`` multiplies every Linear /
    Conv weight after initialisation; ``spike_dt`` is the seconds one time step stands for in
    the spiking layers that run a biological model (``fitted-online:<rule>``,
    ``adaptive-threshold``); ``spike_target`` the target spikes per step of the homeostatic LIF
    (``homeostatic``) and ``spike_gain_adapt`` whether its input gain adapts too; ``momentum`` is
    SGD's; ``time_steps`` and ``readout`` apply to spiking nets; ``n_val`` training images (the
    last of the training set, never trained on) are held out as the validation split, whose
    accuracy every epoch records for selection; ``engine`` "single" trains on the single engine (the
    reference path) a config that would train on the ensemble engine. Fields added after runs were
    stored (:data:`ADDED_FIELDS`) are left out of the run's identity at their defaults, so those
    runs keep their ids.
    """

    dataset: Literal[DATASETS] = "fashion-mnist"
    n_train: PositiveInt = 5000
    n_test: PositiveInt = 2000
    kind: Literal[KINDS] = "mlp"
    neuron: Literal[NEURONS] = "rate"
    depth: Annotated[int, Field(ge=2)] = 3
    width: PositiveInt = 128
    norm: str = "none"
    init: Literal[INITS] = "default"
    activation: Literal[tuple(ACTIVATIONS)] = "tanh"
    lr: PositiveFloat = 0.01
    optimizer: Literal[OPTIMIZERS] = "sgd"
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0
    batch_size: PositiveInt = 64
    epochs: PositiveInt = 3
    seed: NonNegativeInt = 0
    device: Literal[DEVICES] = "auto"
    time_steps: PositiveInt = 10
    readout: Literal[READOUTS] = "count"
    ip_eta: NonNegativeFloat = 0.01
    probe_size: PositiveInt = 256
    kernel_sigma: PositiveFloat = 0.1
    grad_samples: PositiveInt = 20
    oja_eta: NonNegativeFloat = 1e-3
    init_scale: PositiveFloat = 1.0
    spike_dt: PositiveFloat = 1e-3
    spike_target: Annotated[float, Field(gt=0, lt=1)] = 0.1
    spike_gain_adapt: bool = True
    n_val: NonNegativeInt = 0
    engine: Literal[ENGINE_CHOICES] = "auto"

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        try:
            norm = NormSpec.parse(self.neuron, self.norm)
        except UserError as error:
            raise ValueError(f"norm: {error}") from None
        if norm.family in ("bn", "bn-noaffine") and self.batch_size < 2:
            raise ValueError(f"norm {self.norm!r} needs batch_size >= 2 (BatchNorm has no batch at size 1)")
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size {self.batch_size} is larger than n_train {self.n_train}")
        return self

    def to_dict(self) -> dict:
        data = super().to_dict()
        for key in ADDED_FIELDS:
            if data[key] == type(self).model_fields[key].default:
                del data[key]
        return data

    @property
    def norm_spec(self) -> NormSpec:
        """The norm taken apart (``norm`` stays the stored name, so run ids keep it)."""
        return NormSpec.parse(self.neuron, self.norm)

    @property
    def rule_name(self) -> str | None:
        """The fitted rule a ``fitted:<name>[+affine]`` / ``fitted-online:<name>`` norm uses, else None."""
        return self.norm_spec.fitted_rule

    def net_spec(self) -> NetSpec:
        """The architecture this run trains (``ip_eta`` 0: the IP rule's own rate, None)."""
        return NetSpec(
            kind=self.kind, neuron=self.neuron, depth=self.depth, width=self.width, norm=self.norm_spec,
            init=self.init, activation=self.activation, time_steps=self.time_steps, readout=self.readout,
            ip_eta=self.ip_eta or None, oja_eta=self.oja_eta, init_scale=self.init_scale, spike_dt=self.spike_dt,
            spike_target=self.spike_target, spike_gain_adapt=self.spike_gain_adapt,
        )


_load = functools.lru_cache(maxsize=2)(load)  # a process training many runs reads each set once


def run_name(config: TrainConfig) -> str:
    """The store name of a run: neuron kind and norm (``fitted:x`` as ``fitted-x``, ``+`` as ``-``)."""
    return f"{config.neuron}-{config.norm.replace(':', '-').replace('+', '-')}"


def load_train_rule(config: TrainConfig, store: Store) -> Rule | None:
    """The fitted rule ``config.norm`` names, loaded from ``store`` (None for other norms)."""
    return load_rule(config.rule_name, store) if config.rule_name else None


def run_inputs(config: TrainConfig, rule: Rule | None) -> dict:
    """Everything besides the config that changes a run's numbers: the rule's content hash, the
    data set's identity (file names, sizes, sha256), the CPU threads it computes on, the engine
    that trains it (``engine``, with the ensemble engine's ``engine_revision``), and the net's
    revision where its construction was corrected after runs were stored (``nets.net_revision``)."""
    rules = {rule.name: rule.content_hash()} if rule is not None else {}
    revision = net_revision(config.neuron, config.norm)
    corrected = {"net_revision": revision} if revision > 1 else {}
    engine = engine_of(config, rule)
    revised = {"engine_revision": ENSEMBLE_REVISION} if engine == "ensemble" else {}
    return {"rules": rules, "data": dataset_identity(config.dataset), "cpu_threads": CPU_THREADS,
            "engine": engine, **revised, **corrected}


def run_path(config: TrainConfig, rule: Rule | None) -> tuple[str, str, dict, dict]:
    """(kind, name, config dict, inputs): the arguments of ``Store.find_run`` / ``Store.path_for``."""
    return TRAIN_KIND, run_name(config), config.to_dict(), run_inputs(config, rule)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` without CUDA is a UserError."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device (use auto or cpu)")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def build(config: TrainConfig, data: Dataset, rule: Rule | None = None) -> nn.Module:
    """The network of ``config`` for ``data``, initialised from the config's seed."""
    torch.manual_seed(config.seed)
    return make_net(config.net_spec(), in_shape=data.shape, n_classes=data.n_classes, rule=rule,
                    input_mean=float(data.x_train.mean()))


def make_optimizer(config: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=config.lr)
    return torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum)


class GradNorms:
    """Per block (layer) of a net, two 2-norms of the gradient: of all the block's parameters,
    and of its weight matrices only (parameters of two or more dimensions with more than one
    value per output unit: Linear / Conv weights and weight norm's direction v, not biases, BN
    or affine gamma, beta, IP gains or weight norm's per-unit g), so that arms with and without
    learned per-unit parameters are measured on the same quantity.

    One fused norm over every gradient, summed per block by a fixed index (a parameter
    without a gradient counts 0); returns (2, blocks).
    """

    def __init__(self, net: nn.Module):
        owned = [(index, p) for index, block in enumerate(net.blocks) for p in block.parameters()]
        self.params = [p for _, p in owned]
        device = self.params[0].device
        self.index = torch.tensor([index for index, _ in owned], device=device)
        self.matrix = torch.tensor([float(p.dim() >= 2 and p[0].numel() > 1) for p in self.params], device=device)
        self.blocks = len(net.blocks)

    def __call__(self) -> torch.Tensor:
        return self.of([p.grad for p in self.params])

    def of(self, grads: list[torch.Tensor | None]) -> torch.Tensor:
        """The two norms per block of ``grads``, one per parameter of the net in block order
        (an ensemble member's slices: ``ensemble.member_grads``)."""
        grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params)]
        squares = torch.stack(torch._foreach_norm(grads)).square()
        per_block = torch.zeros(2, self.blocks, device=squares.device)
        per_block[0].index_add_(0, self.index, squares)
        per_block[1].index_add_(0, self.index, squares * self.matrix)
        return per_block.sqrt()


EXPLODED = 1e6  # an adapted gain, bias or threshold beyond this is unstable (IP's known issue, Shaw et al.)


def homeostatic_state(net: nn.Module) -> list[nn.Module]:
    """The layers whose per-unit state a local rule adapts, each giving it by
    ``homeostatic_values()``: IP and fitted homeostasis (gain, bias), HomeostaticLeaky
    (threshold, input gain), AdaptiveThresholdLeaky (theta)."""
    return [m for m in net.modules() if hasattr(m, "homeostatic_values")]


def homeostasis_in_range(layers: list[nn.Module]) -> bool:
    """Every adapted gain, bias and threshold finite and below :data:`EXPLODED` in magnitude
    (one host sync). The tensors are read afresh at each call: IP rebinds its buffers each step."""
    if not layers:
        return True
    values = torch.cat([value.flatten() for m in layers for value in m.homeostatic_values()])
    return bool(values.isfinite().all() and values.abs().max() < EXPLODED)


GATHER_EXAMPLES = 4096  # examples gathered per index op in shuffled_batches


def shuffled_batches(x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
                     batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of (x, y) in ``order``: gathered by index a chunk of about
    :data:`GATHER_EXAMPLES` at a time, each batch a view of its chunk. The same batches as one
    gather per batch, with no shuffled copy of the whole set (memory) and no index op per step
    (at batch 1 a step's own cost is that small)."""
    per_chunk = max(1, GATHER_EXAMPLES // batch_size) * batch_size
    for chunk in order.split(per_chunk):
        xs, ys = x[chunk], y[chunk]
        yield from zip(xs.split(batch_size), ys.split(batch_size))


def step_plan(n: int, batch_size: int, grad_samples: int) -> tuple[int, int]:
    """(steps, every) of an epoch: whole batches only (BatchNorm cannot train on a last batch of
    1), and every ``every``-th step sampled for gradient norms and the divergence check."""
    steps = n // batch_size
    return steps, max(1, steps // grad_samples)


def train_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, data: Dataset, batch_size: int,
                generator: torch.Generator, grad_samples: int, advance=None) -> tuple[float, torch.Tensor]:
    """One pass over the shuffled training set: (mean batch loss, mean sampled gradient norms
    per block: (2, blocks), all parameters and weight matrices only, :class:`GradNorms`)."""
    net.train()
    plastic = plastic_modules(net)
    n = data.x_train.shape[0]
    order = torch.randperm(n, generator=generator).to(data.x_train.device)
    steps, every = step_plan(n, batch_size, grad_samples)
    device = data.x_train.device
    total = torch.zeros((), device=device)
    grad_norms = GradNorms(net)
    plastic_state = homeostatic_state(net)
    grads, sampled = torch.zeros(2, grad_norms.blocks, device=device), 0
    batches = shuffled_batches(data.x_train, data.y_train, order[:steps * batch_size], batch_size)
    for step, (inputs, labels) in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(inputs), labels)
        loss.backward()
        if step % every == 0:
            grads += grad_norms()
            sampled += 1
            if not (torch.isfinite(loss) and homeostasis_in_range(plastic_state)):
                return math.nan, grads / sampled
            if advance:
                advance(min(every, steps - step))
        optimizer.step()
        after_step(plastic)
        total += loss.detach()
    return (total / steps).item(), grads / sampled


EVALUATION_SEED = 0


def own_random_stream(evaluate: Callable) -> Callable:
    """Run an evaluation (``evaluate(net, x, ...)``) on its own random stream, seeded with
    EVALUATION_SEED: a spiking net's rate code draws the same spikes at every evaluation, and
    evaluating between epochs leaves the training stream, so training, exactly as it was."""
    @functools.wraps(evaluate)
    def isolated(net: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(EVALUATION_SEED)
            return evaluate(net, x, *args, **kwargs)
    return isolated


@own_random_stream
@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """Fraction of ``x`` classified as ``y`` in eval mode."""
    net.eval()
    correct = sum((net(xc).argmax(1) == yc).sum() for xc, yc in zip(x.split(chunk), y.split(chunk)))
    return float(correct) / x.shape[0]


@own_random_stream
@torch.no_grad()
def activity_stats(net: nn.Module, probe: torch.Tensor, kernel_sigma: float) -> ActivityStats:
    """Per block: activation mean, mean per-unit std, mean information potential, the
    coefficient of variation over units of each unit's mean |activation| (unit usage, Shen et
    al. 2021: 0 when all units are used equally) and the fraction of dead units (std over the
    probe below :data:`DEAD_STD`)."""
    net.eval()
    record: list[torch.Tensor] = []
    net(probe, record)
    rows = []
    for act in record:
        units = act.flatten(2).mean(2) if act.dim() > 2 else act  # conv: one unit per channel
        units = units.double()
        spread, usage = units.std(0), units.abs().mean(0)
        rows.append(torch.stack([units.mean(), spread.mean(), information_potential(units, kernel_sigma).mean(),
                                 usage.std() / usage.mean(), (spread < DEAD_STD).double().mean()]))
    return ActivityStats(*torch.stack(rows, dim=1))


def _moments(values: torch.Tensor | None) -> torch.Tensor:
    """(mean, sd) of a per-unit vector; NaN for a layer without that state."""
    if values is None:
        return torch.full((2,), math.nan, dtype=torch.float64)
    values = values.detach().double().flatten().cpu()
    return torch.stack([values.mean(), values.std(unbiased=False)])


def _neuron_state(block: nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(thresholds, gains) of a spiking block: a homeostatic neuron's own, a plain Leaky's fixed
    threshold, a fitted current normaliser's gain (None where the block has none)."""
    neuron = block["neuron"]
    norm = block["norm"][0] if "norm" in block else None
    thresholds = neuron.unit_thresholds() if hasattr(neuron, "unit_thresholds") else torch.as_tensor(neuron.threshold)
    if hasattr(neuron, "unit_gains"):
        return thresholds, neuron.unit_gains()
    return thresholds, norm.gain if isinstance(norm, FittedHomeostasis) else None


@own_random_stream
@torch.no_grad()
def spiking_health(net: nn.Module, probe: torch.Tensor) -> torch.Tensor:
    """(hidden blocks, HEALTH_STATS) of a spiking net on ``probe`` in eval mode: each unit's rate
    (spikes per step, mean over the probe), its mean and 10/50/90th percentiles over units, the
    fraction of silent units (no spike on any probe sample) and of saturated ones (rate >=
    SATURATED_RATE), the mean and sd over units of threshold and gain, the membrane's sd."""
    net.eval()
    record: list[torch.Tensor] = []
    membranes: list[torch.Tensor] = []
    net(probe, record, membranes)
    rows = []
    for block, rates, membrane in zip(net.blocks[:-1], record[:-1], membranes[:-1]):
        units = (rates.flatten(2).mean(2) if rates.dim() > 2 else rates).double().cpu()
        per_unit = units.mean(0)
        thresholds, gains = _neuron_state(block)
        rows.append(torch.cat([
            per_unit.mean()[None], torch.quantile(per_unit, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)),
            (units.amax(0) == 0).double().mean()[None], (per_unit >= SATURATED_RATE).double().mean()[None],
            _moments(thresholds), _moments(gains), membrane.double().cpu()[None]]))
    return torch.stack(rows)


CPU_THREADS = 1  # every run computes on one CPU thread (module docstring)


@contextlib.contextmanager
def cpu_threads(threads: int = CPU_THREADS) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class RunData(NamedTuple):
    """What a run trains and is measured on, on its device."""

    data: Dataset  # training (the first n_train images) and test sets
    x_val: torch.Tensor  # the validation split (the last n_val training images)
    y_val: torch.Tensor
    probe: torch.Tensor  # the first probe_size test images


def run_data(config: TrainConfig, device: torch.device) -> RunData:
    everything = _load(config.dataset, config.seed)
    x_val, y_val = (t.to(device) for t in everything.held_out(config.n_train, config.n_val))
    data = everything.subset(config.n_train, config.n_test).to(device)
    return RunData(data, x_val, y_val, data.x_test[:config.probe_size])


def evaluate(config: TrainConfig, net: nn.Module, inputs: RunData, epoch: int, loss: float, wall: float,
             grads: torch.Tensor) -> EpochRecord:
    """One epoch's record of a trained net: its loss and gradient norms, test and validation
    accuracy and activity statistics on the probe (eval mode)."""
    validation = accuracy(net, inputs.x_val, inputs.y_val) if config.n_val else math.nan
    stats = activity_stats(net, inputs.probe, config.kernel_sigma)
    return EpochRecord(epoch, loss, accuracy(net, inputs.data.x_test, inputs.data.y_test), validation, wall,
                       grads[0].tolist(), grads[1].tolist(), *(v.tolist() for v in stats))


def diverged_message(config: TrainConfig, epoch: int) -> str:
    """The message of a run stopped as diverged."""
    return (f"non-finite training loss or homeostatic gain, bias or threshold beyond {EXPLODED:g} in epoch {epoch} "
            f"(lr={config.lr}); stopped")


def run_training(config: TrainConfig, rule: Rule | None = None, progress: bool = True) -> dict:
    """Train as ``config`` says (``rule``: the loaded rule of a ``fitted:`` norm) on one CPU
    thread; the history (numpy-ready lists), ``status`` and ``message``."""
    with cpu_threads():
        return _train(config, rule, progress)


def _train(config: TrainConfig, rule: Rule | None, progress: bool) -> dict:
    device = resolve_device(config.device)
    inputs = run_data(config, device)
    net = build(config, inputs.data, rule).to(device)
    optimizer = make_optimizer(config, net)
    generator = torch.Generator().manual_seed(config.seed)
    history = {key: [] for key in HISTORY_KEYS}
    health = [] if config.neuron == "spiking" else None
    status, message = "ok", ""
    steps = inputs.data.x_train.shape[0] // config.batch_size
    with progress_bar(progress) as bar:
        task = bar.add_task(f"train {run_name(config)}", total=steps * config.epochs)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            loss, grads = train_epoch(net, optimizer, inputs.data, config.batch_size, generator,
                                      config.grad_samples, lambda k: bar.advance(task, k))
            record = evaluate(config, net, inputs, epoch, loss, time.perf_counter() - start, grads)
            for key, value in record._asdict().items():
                history[key].append(value)
            if health is not None:
                health.append(spiking_health(net, inputs.probe).tolist())
            if not math.isfinite(loss):
                status, message = "diverged", diverged_message(config, epoch)
                break
    weights = net_weights(net) if health is not None else None
    return {**history, "spike_health": health, "weights": weights, "status": status, "message": message,
            "device": str(device), "engine": "single", "cpu_threads": CPU_THREADS}


def net_weights(net: nn.Module) -> dict[str, np.ndarray]:
    """The arrays a spiking run stores (its state_dict, copied)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def existing_run(config: TrainConfig, store: Store) -> Path | None:
    """The complete run of ``config`` on today's inputs (its rule as now stored, its data), or None."""
    return store.find_run(*run_path(config, load_train_rule(config, store)))


def write_training(config: TrainConfig, rule: Rule | None, history: dict, store: Store, clock: Stopwatch) -> Path:
    """Write a trained run's ``history`` (from :func:`run_training`, here or on another machine)
    to ``store`` atomically; ``clock`` timed the training."""
    kind, name, identity, inputs = run_path(config, rule)
    with store.write(kind, name, identity, config.seed, clock, inputs) as h5:
        group = h5.create_group("history")
        group.attrs["type"] = "history"
        write_arrays(group, {key: history[key] for key in HISTORY_KEYS})
        if history["spike_health"] is not None:
            group.create_dataset("spike_health", data=np.asarray(history["spike_health"], dtype=float))
            group["spike_health"].attrs["stats"] = ",".join(HEALTH_STATS)
        if history.get("weights") is not None:
            weights = h5.create_group("weights")
            weights.attrs["type"] = "state_dict"
            for key, value in history["weights"].items():
                weights.create_dataset(key, data=value)
        h5.attrs.update(status=history["status"], message=history["message"], device=history["device"],
                        engine=history["engine"], cpu_threads=history["cpu_threads"],
                        **{key: history[key] for key in ("ensemble_id", "ensemble_size") if key in history})
    return store.path_for(kind, name, identity, inputs)


def load_history(path: Path) -> dict:
    """The per-epoch history of a stored training run as numpy arrays, with its status, run id,
    when it started (``run_started``, ISO 8601) and the seconds it took (``run_seconds``)."""
    with open_run(path, TRAIN_KIND) as run:
        history = {key: run.array(f"history/{key}") for key in HISTORY_KEYS
                   if key not in LATER_HISTORY_KEYS or f"history/{key}" in run.h5}
        for key in LATER_HISTORY_KEYS:
            like = history["epoch"] if key == "val_accuracy" else history["act_mean"]
            history.setdefault(key, np.full_like(like, np.nan, dtype=float))
        if "history/spike_health" in run.h5:
            history["spike_health"] = run.array("history/spike_health")
        history["status"] = str(run.h5.attrs.get("status", "ok"))
        history["width"] = int(run.config["width"])
        history["kernel_sigma"] = float(run.config["kernel_sigma"])
        history["n_val"] = int(run.config.get("n_val", 0))
        history["run_id"] = run.run_id
        history["run_started"] = run.started
        history["run_seconds"] = run.wall_seconds
    return history


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The final ``state_dict`` a trained spiking run stored (group ``weights``); a UserError for a
    run without one (a rate net, or trained before weights were kept)."""
    with open_run(path, TRAIN_KIND) as run:
        if "weights" not in run.h5:
            raise UserError(f"{path}: this run stores no weights (only spiking runs trained since they are kept); "
                            "train it again with --rerun")
        return {key: torch.from_numpy(np.asarray(run.h5["weights"][key])) for key in run.h5["weights"]}


def restore(path: Path, store: Store) -> tuple[nn.Module, dict]:
    """The trained net of a stored spiking run, in eval mode (its config, its fitted rule as now
    stored in ``store``, its final weights), and its provenance: run id and name, norm, the
    seconds per time step (``spike_dt``), the rule's name and content hash. A UserError when the
    run keeps no weights or its rule has changed since it was trained."""
    weights = load_weights(path)
    with open_run(path, TRAIN_KIND) as run:
        config = TrainConfig(**run.config)
        provenance = {"run_id": run.run_id, "run_name": run.name, "norm": config.norm, "dataset": config.dataset,
                      "spike_dt": config.spike_dt}
        trained_with = run.inputs.get("rules", {})
    rule = load_train_rule(config, store)
    if rule is not None:
        if trained_with.get(rule.name) != rule.content_hash():
            raise UserError(f"{path}: rule {rule.name!r} has changed since this run was trained; train it again")
        provenance |= {"rule": rule.name, "rule_sha256": rule.content_hash()}
    net = build(config, _load(config.dataset, config.seed), rule)
    net.load_state_dict(weights)
    return net.eval(), provenance


def summarise(path: Path) -> dict:
    """The headline of a stored training run: status, final loss and accuracy, total wall time."""
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
