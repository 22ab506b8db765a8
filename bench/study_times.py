"""Every study's time on this machine (issue 24's closing table; issue 25 writes its projections
before its runs), written to ``docs/study-times.md``:

- quick budget, end to end (``study run --budget quick --workers 1`` in a fresh store: every
  cell trained, judged, stored), on the ensemble engine (``engine=auto``, the default) and on
  the single engine (``engine=single``, before it): wall time and cells per minute;
- full budget, projected: the study's cells grouped into tasks as the executor groups them
  (``executor.groups``); each kind of task (its configs equal but for seed and lr) trained on
  slices of ``SLICE_STEPS`` and three times as many steps of one epoch after a warm-up slice
  (the difference is the steps' own time, without the task's start-up), its evaluation timed on one member at the
  full test and validation sizes; a task's time is (seconds a step x steps an epoch + evaluation
  x members) x epochs, and the study's is the sum over tasks on ``WORKERS`` workers (tasks
  run side by side: the longest task bounds it from below).

Fitted arms need a fitted rule: with ``--rules STORE`` each study's fitted arms run the rule
``make demo`` fitted to its rule model (``DEMO_RULES``), loaded from that store; without it they
are left out. ``--projected``: the full-budget projections alone.

    .venv/bin/python bench/study_times.py [--only STUDY ...] [--rules results] [--projected] [-o docs/study-times.md]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import torch

from bridge.core.store import Store
from bridge.core.tables import markdown_table
from bridge.experiments.executor import groups
from bridge.experiments.studies import STUDIES, StudyRun, run_study
from bridge.experiments.studies.cells import uses_rule
from bridge.experiments.studies.engine import plan
from bridge.learning.engine import run_cells
from bridge.learning.ensemble import engine_of
from bridge.learning.train import build, cpu_threads, evaluate, load_train_rule, run_data

SLICE_STEPS = {1: 400, "batched": 12}  # steps of the slice at batch 1 / at larger batches
WORKERS = 2
DEMO_RULES = {"rate-ip": "demo-rate-ip-infomax", "lif-ip": "demo-lif-ip", "synaptic-scaling": "demo-scaling"}


def quick(name: str, engine: str) -> tuple[float, int]:
    """(seconds, cells) of the study at quick budget, end to end, one worker, a fresh store."""
    with tempfile.TemporaryDirectory() as root:
        request = StudyRun(study=name, budget="quick", workers=1, engine=engine)
        cells = len(plan(request, Store(root))[3])
        start = time.perf_counter()
        run_study(request, Store(root), progress=False)
        return time.perf_counter() - start, cells


def _evaluation_seconds(config, rule) -> float:
    with cpu_threads():
        inputs = run_data(config, torch.device("cpu"))
        net = build(config, inputs.data, rule)
        start = time.perf_counter()
        evaluate(config, net, inputs, 1, 0.0, 0.0, torch.zeros(2, len(net.blocks)))
        return time.perf_counter() - start


def _slice_seconds(task: list, steps: int, rule) -> float:
    """Seconds to train ``task`` for ``steps`` steps of one epoch (start-up included)."""
    sliced = [c.model_copy(update={"n_train": steps * c.batch_size, "n_test": 1, "n_val": 0, "epochs": 1,
                                   "probe_size": 2}) for c in task]
    start = time.perf_counter()
    run_cells(sliced, rule, progress=False)
    return time.perf_counter() - start


def _task_seconds(task: list, rule) -> float:
    """A task's projected seconds at its full size (module docstring)."""
    first = task[0]
    steps = SLICE_STEPS[1] if first.batch_size == 1 else SLICE_STEPS["batched"]
    steps_per_epoch = first.n_train // first.batch_size
    _slice_seconds(task, steps, rule)  # warm: data loaded, kernels ready
    short = _slice_seconds(task, steps, rule)
    per_step = (_slice_seconds(task, 3 * steps, rule) - short) / (2 * steps)
    return (per_step * steps_per_epoch + _evaluation_seconds(first, rule) * len(task)) * first.epochs


def projected(name: str, rules: Store | None = None) -> tuple[float, float, int, str]:
    """(projected seconds on WORKERS workers, the longest task's, cells, engines) at full budget."""
    with tempfile.TemporaryDirectory() as root:
        store = rules or Store(root)  # plan and groups load each fitted arm's rule from it
        rule = DEMO_RULES[STUDIES[name].rule_model] if rules and uses_rule(STUDIES[name]) else ""
        configs = plan(StudyRun(study=name, budget="full", rule=rule), store)[3]
        tasks = groups(configs, store, WORKERS)
        loaded = {c.norm: load_train_rule(c, store) for c in configs}
    measured: dict[str, float] = {}
    seconds = []
    for task in tasks:
        shape = task[0].model_copy(update={"seed": 0, "lr": 1.0}).model_dump_json() + str(len(task))
        if shape not in measured:
            measured[shape] = _task_seconds(task, loaded[task[0].norm])
        seconds.append(measured[shape])
    engines = sorted({engine_of(c, loaded[c.norm]) for c in configs})
    return max(sum(seconds) / WORKERS, max(seconds)), max(seconds), len(configs), "+".join(engines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _write_projections(output: Path | None, rows: list[list[str]], fitted: bool) -> None:
    table = markdown_table(["study", "full cells", "engines", f"projected ({WORKERS} workers)", "longest task"], rows)
    print(table)
    if output:
        arms = "fitted arms with make demo's rules" if fitted else "fitted arms left out"
        output.write_text(
            f"# Projected full-budget times\n\nGenerated by `bench/study_times.py --projected` on "
            f"{datetime.date.today().isoformat()} for the catalogue as declared ({arms}); each from a slice of every "
            f"kind of task at its full shape on this machine (2 CPU cores, one thread a worker; the module "
            f"docstring of `bench/study_times.py` says how), before the study's runs.\n\n{table}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="only these studies (repeatable)")
    parser.add_argument("-o", "--output", type=Path, help="markdown file to write (docs/study-times.md)")
    parser.add_argument("--rules", type=Path, help="the store holding make demo's fitted rules (results)")
    parser.add_argument("--projected", action="store_true", help="the full-budget projections alone")
    args = parser.parse_args()
    rules = Store(args.rules) if args.rules else None
    rows = []
    for name in args.only or list(STUDIES):
        if args.projected:
            total, longest, full_cells, engines = projected(name, rules)
            rows.append([name, str(full_cells), engines, _hours(total), _hours(longest)])
            print(" | ".join(rows[-1]), flush=True)
            continue
        single, cells = quick(name, "single")
        ensemble, _ = quick(name, "auto")
        total, longest, full_cells, engines = projected(name, rules)
        rows.append([name, str(cells), f"{single:.0f} s", f"{ensemble:.0f} s", f"{60 * cells / single:.0f}",
                     f"{60 * cells / ensemble:.0f}", f"{single / ensemble:.2f}x", str(full_cells), engines,
                     _hours(total), _hours(longest)])
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["study", "quick cells", "single engine", "ensemble engine", "cells/min before",
                            "cells/min after", "speed-up", "full cells", "full engines", f"full, projected ({WORKERS} "
                            "workers)", "longest task"], rows)
    if args.projected:
        _write_projections(args.output, rows, bool(rules))
        return
    print(table)
    if args.output:
        args.output.write_text(
            f"# Study times\n\nGenerated by `bench/study_times.py` on {datetime.date.today().isoformat()} (this "
            f"machine: 2 CPU cores, one thread a worker). Quick budget: `study run --budget quick --workers 1` end to "
            f"end in a fresh store, on the single engine (before the ensemble engine) and on the default engine. Full "
            f"budget: projected from a slice of every kind of task at its full shape (the module docstring of "
            f"`bench/study_times.py` says how); fitted arms left out.\n\n{table}\n")


if __name__ == "__main__":
    main()
