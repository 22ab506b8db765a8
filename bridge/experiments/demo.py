"""``homeobridge demo`` (what ``make demo`` runs): the whole pipeline on defaults.

1. homeostasis sweeps of a rate IP model (Triesch) and a spiking one (lif-ip) in Brian2;
2. fit each to the gain/bias form and save the rules;
3. export the rate rule as a ready torch layer;
4. a compact comparison on the real Fashion-MNIST: rate and spiking networks; none vs BN vs
   IP vs the fitted rule; two learning rates; two seeds; batch 64 and batch 1 (online);
5. the Brian2 synaptic-scaling experiment, fitted to a scaling rule (``demo-scaling``);
6. the studies of the seed papers' claims (``homeobridge study``) at quick budget (:data:`DEMO_STUDIES`), each fitted
   arm with the rule its study asks for (the rate IP, lif-ip or scaling rule);
7. the HTML report, which opens with their Claims.

Every step writes to the store and is skipped when already complete, so a second run is fast
and an interrupted one resumes.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt
from rich.console import Console

import sims
from bridge.core.config import Config
from bridge.core.store import Stopwatch, Store, open_run
from bridge.experiments.compare import CompareConfig, compare, export_plots
from bridge.experiments.report import write_report
from bridge.experiments.studies import BUDGETS, STUDIES, StudyResult, StudyRun, latest_results, run_study, study_table
from bridge.experiments.studies.cells import uses_rule
from bridge.fitting.rules import load_rule, rule_report, save_rule
from bridge.fitting.runs import fit_run
from bridge.learning.data import DATASETS
from bridge.learning.export import ExportConfig, export_torch
from sims.backend import BACKENDS
from sims.ip import RATE_IP_MODELS

# the studies the demo runs at quick budget: those that fit its 15 minutes on 2 cores with the rest of
# the pipeline (measured at quick, one worker: shen-scaling 560 s of CPU before its lr grid was cut to
# one rate, dale-ann 250 s); the others run with `homeobridge study run NAME --budget quick`
DEMO_STUDIES = ("shaw-depth", "shaw-lr-robustness", "shaw-gradients", "shaw-information", "shen-scaling")


class DemoConfig(Config):
    """The demo's choices; ``--set key=value`` changes any of them (validated before any work)."""

    rate_model: Literal[RATE_IP_MODELS] = "rate-ip-infomax"
    spiking_model: Literal["lif-ip"] = "lif-ip"
    backend: Literal[BACKENDS] = "cython"
    dataset: Literal[DATASETS] = "fashion-mnist"
    n_train: PositiveInt = 4000
    n_test: PositiveInt = 2000
    online_n_train: PositiveInt = 800
    epochs: PositiveInt = 3
    depth: Annotated[int, Field(ge=2)] = 3
    width: PositiveInt = 128
    lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (0.02, 0.2)
    online_lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (0.002, 0.02)
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=1)] = (0, 1)
    batch_sizes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (64, 1)
    time_steps: PositiveInt = 8
    target_accuracy: Annotated[float, Field(gt=0, le=1)] = 0.7
    workers: PositiveInt = 2
    studies: tuple[Literal[tuple(STUDIES)], ...] = DEMO_STUDIES
    study_budget: Literal[BUDGETS] = "quick"


def _sweep_and_fit(model: str, config: DemoConfig, store: Store, console: Console) -> str:
    """Sweep ``model``, fit and save its rule; the rule's name."""
    console.rule(f"[bold]sweep {model}")
    path = sims.run_with_progress("homeostasis-sweep", [f"model={model}"], config.backend, store)
    console.print(f"sweep run: {path}")
    clock = Stopwatch()
    rule = fit_run(path, store, name=f"demo-{model}")
    console.print(f"rule {rule.name}: {save_rule(rule, store, clock)}")
    console.print(rule_report(rule), markup=False, highlight=False, soft_wrap=True)
    return rule.name


def _scaling_rule(config: DemoConfig, store: Store, console: Console) -> str:
    """Simulate the Brian2 synaptic-scaling experiment, fit and save its rule (``demo-scaling``)."""
    path = sims.run_with_progress("scaling", [], config.backend, store)
    console.print(f"scaling run: {path}")
    clock = Stopwatch()
    rule = fit_run(path, store, name="demo-scaling")
    console.print(f"rule {rule.name}: {save_rule(rule, store, clock)}")
    console.print(rule_report(rule), markup=False, highlight=False, soft_wrap=True)
    return rule.name


def compare_configs(config: DemoConfig, rate_rule: str, spiking_rule: str) -> list[CompareConfig]:
    """The demo's comparison: one grid per batch size; batch 1 (online) on its own budget and learning rates."""
    return [
        CompareConfig(
            dataset=config.dataset, neurons=("rate", "spiking"), norms=("none", "bn", "ip", "fitted"),
            lrs=config.online_lrs if batch == 1 else config.lrs, seeds=config.seeds,
            batch_sizes=(batch,), epochs=config.epochs,
            n_train=config.online_n_train if batch == 1 else config.n_train, n_test=config.n_test,
            depth=config.depth, width=config.width, time_steps=config.time_steps,
            target_accuracy=config.target_accuracy, rate_rule=rate_rule, spiking_rule=spiking_rule,
            workers=config.workers, device="auto",
        )
        for batch in config.batch_sizes
    ]


def demo(config: DemoConfig, store: Store, console: Console, committed: list[StudyResult] = ()) -> dict:
    """Run the pipeline; returns the report path, the tables and the wall time."""
    start = time.perf_counter()
    rate_rule = _sweep_and_fit(config.rate_model, config, store, console)
    spiking_rule = _sweep_and_fit(config.spiking_model, config, store, console)

    console.rule("[bold]export")
    exported = store.root / "exports" / f"{rate_rule}.pt"
    lines = export_torch(load_rule(rate_rule, store), exported, ExportConfig(units=config.width))
    console.print(f"torch layer: {exported}\n  " + "\n  ".join(lines))

    tables = []
    for grid in compare_configs(config, rate_rule, spiking_rule):
        console.rule(f"[bold]compare, batch {grid.batch_sizes[0]}")
        path = compare(grid, store)
        with open_run(path, "compare") as run:
            tables.append(str(run.h5.attrs["table"]))
            export_plots(run)
        console.print(tables[-1], markup=False, highlight=False, soft_wrap=True)

    console.rule("[bold]synaptic scaling")
    rules = {"rate-ip": rate_rule, "lif-ip": spiking_rule, "synaptic-scaling": _scaling_rule(config, store, console)}

    console.rule(f"[bold]studies, {config.study_budget} budget")
    for name in config.studies:
        study = STUDIES[name]
        rule = rules[study.rule_model] if uses_rule(study) else ""
        run_study(StudyRun(study=name, budget=config.study_budget, rule=rule, workers=config.workers), store)
    claims = study_table(latest_results(store, config.study_budget))
    console.print(claims, markup=False, highlight=False, soft_wrap=True)

    console.rule("[bold]report")
    report = write_report(store, committed=committed)
    wall = time.perf_counter() - start
    console.print(f"demo finished in {wall:.0f} s; report: [bold]{report.resolve()}")
    return {"report": str(report), "tables": tables, "claims": claims, "wall_seconds": wall}
