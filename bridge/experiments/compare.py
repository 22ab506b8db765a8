"""``homeobridge compare``: a sweep of training runs and its summary.

The grid is neuron kind x normalisation x learning rate x seed x batch size. Each cell is one
training run in the store (kind ``train``); a cell already complete there is skipped, so a
crash or Ctrl-C loses nothing done and a rerun finishes the rest. Runs go to worker processes
(``workers``, default 2), each with its share of the CPU threads.

Summary, per (neuron, norm, batch size), at the learning rate with the best mean final
accuracy:

- final accuracy: test accuracy after the last epoch, mean +/- sd over seeds (a diverged run
  counts as chance: it did not train);
- epochs to target: first epoch whose test accuracy reaches ``target_accuracy``, mean over the
  seeds that reach it ("-" if none does);
- learning rates that train: those whose mean final accuracy is at least
  chance + 0.5 * (best accuracy of the whole comparison - chance); the robustness of a
  normalisation is how many of the grid's learning rates train;
- gradient ratio: per-layer gradient norm of the first layer over the last, averaged over
  epochs and seeds (< 1: vanishing toward the input).

Norm labels: ``ip`` is the neuron kind's own intrinsic plasticity (rate: ``rate_ip``, by
default ``ip-infomax``; spiking: ``homeostatic``, the lif-ip rule), ``fitted`` the fitted rule
named by ``rate_rule`` or ``spiking_rule``; any other label is passed to the network builder
as it is.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError, model_validator

from bridge.core.config import Config, validation_message
from bridge.core.store import Stopwatch, Store
from bridge.core.tables import markdown_table
from bridge.experiments.executor import EXECUTORS, run_grid
from bridge.experiments.metrics import CHANCE, final_accuracy
from bridge.experiments.plots import compare_plots
from bridge.learning.data import DATASETS
from bridge.learning.nets import NEURONS, norm_problem
from bridge.learning.train import (
    DEVICES,
    ENGINE_CHOICES,
    OPTIMIZERS,
    TrainConfig,
    load_history,
    load_train_rule,
    run_inputs,
)

COMPARE_KIND = "compare"


class CompareConfig(Config):
    """The comparison grid and the training budget of each cell; validated when built."""

    dataset: Literal[DATASETS] = "fashion-mnist"
    neurons: Annotated[tuple[Literal[NEURONS], ...], Field(min_length=1)] = ("rate", "spiking")
    norms: Annotated[tuple[str, ...], Field(min_length=1)] = ("none", "bn", "ip")
    lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (0.01, 0.1)
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=1)] = (0, 1)
    batch_sizes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64,)
    epochs: PositiveInt = 3
    n_train: PositiveInt = 5000
    n_test: PositiveInt = 2000
    depth: Annotated[int, Field(ge=2)] = 3
    width: PositiveInt = 128
    optimizer: Literal[OPTIMIZERS] = "sgd"
    time_steps: PositiveInt = 10
    target_accuracy: Annotated[float, Field(gt=0, le=1)] = 0.7
    rate_ip: Literal["ip-triesch", "ip-infomax", "ip-gaussian"] = "ip-infomax"
    rate_rule: str = ""
    spiking_rule: str = ""
    workers: PositiveInt = 2
    device: Literal[DEVICES] = "cpu"
    engine: Literal[ENGINE_CHOICES] = "auto"
    executor: Literal[EXECUTORS] = "local"
    ray_address: str = ""

    @model_validator(mode="after")
    def _labels_resolve(self) -> CompareConfig:
        for neuron, label in itertools.product(self.neurons, self.norms):
            norm = resolve_norm(self, neuron, label)
            problem = norm_problem(neuron, norm)
            if problem:
                raise ValueError(f"norms: {problem} (labels: ip, fitted, or a norm name)")
        return self

    def identity(self) -> dict:
        """The configuration minus what cannot change a number (where and how it runs; the engine
        at its default, so the comparisons stored before it keep their ids)."""
        skipped = ("workers", "device", "executor", "ray_address", *(("engine",) if self.engine == "auto" else ()))
        return {k: v for k, v in self.to_dict().items() if k not in skipped}


def resolve_norm(config: CompareConfig, neuron: str, label: str) -> str:
    """The network builder's norm name for a comparison label (see module docstring)."""
    if label == "ip":
        return config.rate_ip if neuron == "rate" else "homeostatic"
    if label == "fitted":
        rule = config.rate_rule if neuron == "rate" else config.spiking_rule
        if not rule:
            raise ValueError(f"norm 'fitted' needs --set {neuron}_rule=RULE-NAME")
        return f"fitted:{rule}"
    return label


def cells(config: CompareConfig) -> list[dict]:
    """Every grid cell as the labels that identify it in tables and plots."""
    grid = itertools.product(
        config.neurons, config.norms, config.batch_sizes, config.lrs, config.seeds
    )
    return [
        {"neuron": n, "norm": label, "batch_size": b, "lr": lr, "seed": s}
        for n, label, b, lr, s in grid
    ]


def train_config(config: CompareConfig, cell: dict) -> TrainConfig | str:
    """The TrainConfig of one cell, or the reason it cannot be trained (e.g. BN at batch size 1)."""
    try:
        return TrainConfig(
            dataset=config.dataset, n_train=config.n_train, n_test=config.n_test,
            neuron=cell["neuron"], depth=config.depth, width=config.width,
            norm=resolve_norm(config, cell["neuron"], cell["norm"]), lr=cell["lr"],
            optimizer=config.optimizer, batch_size=cell["batch_size"], epochs=config.epochs,
            seed=cell["seed"], device=config.device, time_steps=config.time_steps, engine=config.engine,
        )
    except ValidationError as err:
        return validation_message(err)


def plan(config: CompareConfig, store: Store) -> list[TrainConfig | str]:
    """Every cell's TrainConfig (or reason), after checking that the rules it names load from ``store``."""
    planned = [train_config(config, cell) for cell in cells(config)]
    for train_cfg in {c.norm: c for c in planned if not isinstance(c, str)}.values():
        load_train_rule(train_cfg, store)  # a missing or malformed rule fails here, before any work
    return planned


def compare_inputs(planned: list[TrainConfig | str], store: Store) -> dict:
    """The inputs of a comparison: the content hash of every rule its cells use, and the data."""
    rules = {}
    for train_cfg in (c for c in planned if not isinstance(c, str)):
        rules.update(run_inputs(train_cfg, load_train_rule(train_cfg, store))["rules"])
    data = next((run_inputs(c, None)["data"] for c in planned if not isinstance(c, str)), {})
    return {"rules": rules, "data": data}


def summarise(config: CompareConfig, results: list[Path | str]) -> dict:
    """Per-cell histories and the per-(neuron, norm, batch) summary rows described above.

    A group none of whose cells could be trained gets a row with its reason and no numbers.
    """
    runs, rows = [], []
    for cell, result in zip(cells(config), results):
        if not isinstance(result, str):
            runs.append(dict(cell, **load_history(result)))
    threshold = CHANCE + 0.5 * (max(final_accuracy(r) for r in runs) - CHANCE) if runs else 1.0
    for key, cell_group in _groups(list(zip(cells(config), results)), ("neuron", "norm", "batch_size")):
        group = [r for r in runs if (r["neuron"], r["norm"], r["batch_size"]) == key]
        reasons = [result for _, result in cell_group if isinstance(result, str)]
        row = dict(zip(("neuron", "norm", "batch_size"), key))
        rows.append(_row(row, group, config, threshold) if group else dict(row, infeasible=reasons[0]))
    return {"rows": rows, "runs": runs, "train_threshold": threshold, "chance": CHANCE}


def _row(row: dict, group: list[dict], config: CompareConfig, threshold: float) -> dict:
    lrs = sorted({r["lr"] for r in group})
    means = {lr: float(np.mean([final_accuracy(r) for r in group if r["lr"] == lr])) for lr in lrs}
    best_lr = max(means, key=means.get)
    chosen = [r for r in group if r["lr"] == best_lr]
    finals = [final_accuracy(r) for r in chosen]
    reach = [_epochs_to(r, config.target_accuracy) for r in chosen]
    training = [lr for lr in lrs if means[lr] >= threshold]
    return dict(
        row, best_lr=best_lr, acc_mean=float(np.mean(finals)),
        acc_sd=float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
        epochs_to_target=float(np.mean([e for e in reach if e])) if any(reach) else None,
        lrs_that_train=training, lr_robustness=f"{len(training)}/{len(config.lrs)}",
        grad_ratio=float(np.mean([_grad_ratio(r) for r in chosen])),
        diverged=sum(r["status"] != "ok" for r in group), run_ids=[r["run_id"] for r in chosen],
    )


def _groups(pairs: list[tuple[dict, Path | str]], keys: tuple[str, ...]) -> list[tuple[tuple, list]]:
    """(cell, result) pairs grouped by ``keys`` of the cell, in first-seen order."""
    groups: dict[tuple, list] = {}
    for cell, result in pairs:
        groups.setdefault(tuple(cell[k] for k in keys), []).append((cell, result))
    return list(groups.items())


def _epochs_to(run: dict, target: float) -> int | None:
    hits = np.flatnonzero(np.asarray(run["test_accuracy"]) >= target)
    return int(run["epoch"][hits[0]]) if hits.size else None


def _grad_ratio(run: dict) -> float:
    grads = np.asarray(run["grad_norm"], dtype=float)
    per_layer = np.nanmean(grads, axis=0)
    return float(per_layer[0] / per_layer[-1]) if per_layer[-1] > 0 else float("nan")


def summary_table(summary: dict) -> str:
    """The markdown table printed by ``homeobridge compare`` and shown in the report."""
    headers = [
        "neuron", "norm", "batch", "best lr", "final acc (mean ± sd)", "epochs to target",
        "lrs that train", "grad ratio first/last",
    ]
    rows = [_table_row(r) for r in summary["rows"]]
    return markdown_table(headers, rows)


def _table_row(r: dict) -> list:
    if "infeasible" in r:
        return [r["neuron"], r["norm"], r["batch_size"], "-", f"n/a: {r['infeasible']}", "-", "-", "-"]
    return [
        r["neuron"], r["norm"], r["batch_size"], f"{r['best_lr']:g}",
        f"{r['acc_mean']:.3f} ± {r['acc_sd']:.3f}",
        "-" if r["epochs_to_target"] is None else f"{r['epochs_to_target']:.1f}",
        f"{r['lr_robustness']} ({', '.join(f'{lr:g}' for lr in r['lrs_that_train']) or 'none'})",
        f"{r['grad_ratio']:.3g}",
    ]


def compare(config: CompareConfig, store: Store, progress: bool = True, rerun: bool = False) -> Path:
    """Run the grid, summarise it, write the compare run (summary, table, plots) and return its path.

    ``rerun`` trains every cell again (replacing the stored runs).
    """
    planned = plan(config, store)
    inputs = compare_inputs(planned, store)
    clock = Stopwatch()
    results = run_grid(planned, config.workers, store, progress, rerun, label="compare", executor=config.executor,
                       ray_address=config.ray_address)
    summary = summarise(config, results)
    table = summary_table(summary)
    identity = config.identity()
    with store.write(COMPARE_KIND, "compare", identity, config.seeds[0], clock, inputs) as h5:
        h5.attrs["summary"] = json.dumps(summary["rows"])
        h5.attrs["table"] = table
        h5.attrs["train_runs"] = json.dumps([str(p) for p in results if not isinstance(p, str)])
        for name, png in compare_plots(summary, config).items():
            h5.create_dataset(f"plots/{name}", data=np.frombuffer(png, dtype=np.uint8))
    return store.path_for(COMPARE_KIND, "compare", identity, inputs)


def export_plots(run) -> list[Path]:
    """Write a compare run's plots as PNG files beside it (``<run-id>/<plot>.png``)."""
    folder = run.path.with_suffix("")
    folder.mkdir(exist_ok=True)
    paths = []
    for name in sorted(run.h5.get("plots", {})):
        path = folder / f"{name}.png"
        path.write_bytes(run.array(f"plots/{name}").tobytes())
        paths.append(path)
    return paths
