"""Every study's time on this machine (issue 24's closing table; issue 25 writes its projections
before its runs), written to ``docs/study-times.md``:

- quick budget, end to end (``study run --budget quick --workers 1`` in a fresh store: every
  cell trained, judged, stored), on the ensemble engine (``engine=auto``, the default) and on
  the single engine (``engine=single``, before it): wall time and cells per minute;
- full budget, projected: the study's cells grouped into tasks as the executor groups them
  (``executor.groups``); each kind of task (its configs equal but for seed and lr) trained on
  a slice of ``SLICE_STEPS`` steps of one epoch, its evaluation timed on one member at the full
  test and validation sizes; a task's time is (seconds a step x steps an epoch + evaluation
  x members) x epochs, and the study's is the sum over tasks on ``WORKERS`` workers (tasks
  run side by side: the longest task bounds it from below).

Fitted arms need a fitted rule and are left out (they train like their plain arms' families).

    .venv/bin/python bench/study_times.py [--only STUDY ...] [-o docs/study-times.md]
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
from bridge.experiments.studies.engine import plan
from bridge.learning.engine import run_cells
from bridge.learning.ensemble import engine_of
from bridge.learning.train import build, cpu_threads, evaluate, run_data

SLICE_STEPS = {1: 400, "batched": 12}  # steps of the slice at batch 1 / at larger batches
WORKERS = 2


def quick(name: str, engine: str) -> tuple[float, int]:
    """(seconds, cells) of the study at quick budget, end to end, one worker, a fresh store."""
    with tempfile.TemporaryDirectory() as root:
        request = StudyRun(study=name, budget="quick", workers=1, engine=engine)
        cells = len(plan(request, Store(root))[3])
        start = time.perf_counter()
        run_study(request, Store(root), progress=False)
        return time.perf_counter() - start, cells


def _evaluation_seconds(config) -> float:
    with cpu_threads():
        inputs = run_data(config, torch.device("cpu"))
        net = build(config, inputs.data)
        start = time.perf_counter()
        evaluate(config, net, inputs, 1, 0.0, 0.0, torch.zeros(2, len(net.blocks)))
        return time.perf_counter() - start


def _task_seconds(task: list) -> float:
    """A task's projected seconds at its full size (module docstring)."""
    first = task[0]
    steps = SLICE_STEPS[1] if first.batch_size == 1 else SLICE_STEPS["batched"]
    steps_per_epoch = first.n_train // first.batch_size
    sliced = [c.model_copy(update={"n_train": steps * first.batch_size, "n_test": 1, "n_val": 0, "epochs": 1,
                                   "probe_size": 2}) for c in task]
    start = time.perf_counter()
    run_cells(sliced, None, progress=False)
    per_step = (time.perf_counter() - start) / steps
    return (per_step * steps_per_epoch + _evaluation_seconds(first) * len(task)) * first.epochs


def projected(name: str) -> tuple[float, float, int, str]:
    """(projected seconds on WORKERS workers, the longest task's, cells, engines) at full budget."""
    with tempfile.TemporaryDirectory() as root:
        store = Store(root)
        configs = plan(StudyRun(study=name, budget="full"), store)[3]
        tasks = groups(configs, store, WORKERS)
    measured: dict[str, float] = {}
    seconds = []
    for task in tasks:
        shape = task[0].model_copy(update={"seed": 0, "lr": 1.0}).model_dump_json() + str(len(task))
        if shape not in measured:
            measured[shape] = _task_seconds(task)
        seconds.append(measured[shape])
    engines = sorted({engine_of(c) for c in configs})
    return max(sum(seconds) / WORKERS, max(seconds)), max(seconds), len(configs), "+".join(engines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="only these studies (repeatable)")
    parser.add_argument("-o", "--output", type=Path, help="markdown file to write (docs/study-times.md)")
    args = parser.parse_args()
    rows = []
    for name in args.only or list(STUDIES):
        single, cells = quick(name, "single")
        ensemble, _ = quick(name, "auto")
        total, longest, full_cells, engines = projected(name)
        rows.append([name, str(cells), f"{single:.0f} s", f"{ensemble:.0f} s", f"{60 * cells / single:.0f}",
                     f"{60 * cells / ensemble:.0f}", f"{single / ensemble:.2f}x", str(full_cells), engines,
                     _hours(total), _hours(longest)])
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["study", "quick cells", "single engine", "ensemble engine", "cells/min before",
                            "cells/min after", "speed-up", "full cells", "full engines", f"full, projected ({WORKERS} "
                            "workers)", "longest task"], rows)
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
