"""Study throughput: cells per minute of a study at quick budget with 1 and with 2 local workers.

``study run shaw-lr-robustness --budget quick`` (84 cells: 6-layer tanh MLPs of width 64, 2,000
Fashion-MNIST images, 2 epochs, 3 seeds), each in a fresh store, wall time of the whole
command (process start-up, data loading, training, HDF5 writes, the analysis and plots). Target:
2 workers >= 1.8x the cells per minute of 1. A second row times the cell phase alone (from the
first cell's start to the last one's end, read from the runs' own start and finish times): how
well the cells themselves scale, apart from the command's fixed start-up and analysis, which
the detail column gives in seconds.

One worker alone gets every core, as threads, so the two rows above compare two one-thread
workers with one two-thread worker: they measure what a cell gains from its second thread as
much as the executor. The third row measures the executor alone: the cell phase of 2 workers
on both cores against 1 worker restricted to one core (its CPU affinity; the executor gives
each worker its share of the cores it may use), one thread per worker either way. Its
start-up, per-cell data and rule loading, store checks and HDF5 writes are what would keep it
from 2x.

Two reference rows measure what this machine allows at all, with no executor and no store:
12 of the study's cells (every 7th of its plan: 3 of each arm), trained in-process by two
processes at once on one thread each, against one process on two threads (what one worker
gets: the ceiling of the first two rows) and against one process on one thread alone (the
ceiling of the third). No executor can scale past them.

Single runs on this virtual machine vary by up to ~25%, so each measure is the best of
``ROUNDS`` interleaved rounds. Skipped without Fashion-MNIST.

    .venv/bin/python bench/bench_throughput.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import torch
from _process import run_measured
from _timing import Ratio, print_rows

from bridge.core.store import Store, open_run
from bridge.experiments.studies import StudyRun, plan
from bridge.learning.data import fashion_mnist_dir
from bridge.learning.train import run_training

STUDY, CELLS = "shaw-lr-robustness", 84
CEILING_CELLS = 12  # per process, in-process: every CELLS // CEILING_CELLS-th cell of the plan
ROUNDS = 3


def _cell_span(results: str) -> tuple[float, float]:
    """(epoch seconds of the first cell's start, of the last cell's end) in the store."""
    runs, _ = Store(Path(results)).scan("train")
    starts, ends = [], []
    for run in runs:
        with open_run(run.path, "train") as opened:
            starts.append(datetime.fromisoformat(opened.h5.attrs["started"]).timestamp())
            ends.append(datetime.fromisoformat(opened.h5.attrs["finished"]).timestamp())
    return min(starts), max(ends)


def _phases(workers: int, cores: set[int] | None = None) -> tuple[float, float, float]:
    """(whole command, cell phase, fixed: start-up + analysis) in seconds, on ``cores`` (all: None)."""
    with tempfile.TemporaryDirectory() as results:
        wall, _ = run_measured([sys.executable, "-m", "bridge.cli", "--results", results, "study", "run", STUDY,
                                "--budget", "quick", "--workers", str(workers), "--quiet"], cores=cores)
        first, last = _cell_span(results)
    return wall, last - first, wall - (last - first)


def _train_cells_in_process(threads: int) -> None:
    """Print the seconds this process takes to train ``CEILING_CELLS`` cells spread over the
    study's plan on ``threads`` threads, after its imports, the data load and one untimed cell
    (the first optimizer imports torch._dynamo, seconds; the executor's workers have it from
    their fork server)."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as results:
        configs = plan(StudyRun(study=STUDY, budget="quick"), Store(Path(results)))[3]
    run_training(configs[1], progress=False)
    configs = configs[::CELLS // CEILING_CELLS]
    start = time.perf_counter()
    for config in configs:
        run_training(config, progress=False)
    print(time.perf_counter() - start)


def _concurrent_seconds(processes: int, threads: int) -> float:
    """The mean over ``processes`` processes started together of each one's training seconds."""
    started = [subprocess.Popen([sys.executable, __file__, "--cells", str(threads)], stdout=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    return sum(float(p.communicate()[0].split()[-1]) for p in started) / processes


def _best_of_rounds(measures: dict[str, Callable[[], tuple[float, ...]]]) -> dict[str, tuple[float, ...]]:
    """Each measure's smallest result (by its first number) over ``ROUNDS`` interleaved rounds."""
    best: dict[str, tuple[float, ...]] = {}
    for _ in range(ROUNDS):
        for name, measure in measures.items():
            result = measure()
            best[name] = min(best.get(name, result), result)
    return best


def ratios() -> list[Ratio]:
    if fashion_mnist_dir() is None:
        return []
    one_core = {min(os.sched_getaffinity(0))}
    best = _best_of_rounds({"one": lambda: _phases(1), "two": lambda: _phases(2),
                            "one on one core": lambda: _phases(1, one_core),
                            "two threads": lambda: (_concurrent_seconds(1, 2),),
                            "one thread": lambda: (_concurrent_seconds(1, 1),),
                            "two processes": lambda: (_concurrent_seconds(2, 1),)})
    (one, one_cells, one_fixed), (two, two_cells, two_fixed) = best["one"], best["two"]
    one_core_wall, one_core_cells, _ = best["one on one core"]
    (one_worker,), (alone,), (each,) = best["two threads"], best["one thread"], best["two processes"]
    per_minute = CELLS * 60
    return [
        Ratio("throughput", "2 workers / 1 worker, cells per minute", one / two, 1.8, at_least=True,
              detail=f"{STUDY} at quick ({CELLS} cells), whole command: {per_minute / one:.1f} vs "
                     f"{per_minute / two:.1f} cells/min ({one:.1f} / {two:.1f} s)"),
        Ratio("throughput", "2 workers / 1 worker, cell phase", one_cells / two_cells, 1.8, at_least=True,
              detail=f"cells {one_cells:.1f} / {two_cells:.1f} s; start-up and analysis {one_fixed:.1f} / "
                     f"{two_fixed:.1f} s"),
        Ratio("throughput", "executor: 2 workers on 2 cores / 1 worker on 1 core, cell phase",
              one_core_cells / two_cells, 1.8, at_least=True,
              detail=f"one thread per worker: cells {one_core_cells:.1f} / {two_cells:.1f} s; whole command "
                     f"{one_core_wall:.1f} / {two:.1f} s ({one_core_wall / two:.2f}x)"),
        Ratio("throughput", "machine ceiling: 2 processes x 1 thread / 1 process x 2 threads", 2 * one_worker / each,
              None, detail=f"{CEILING_CELLS} quick cells in-process: {one_worker:.2f} s on two threads, "
                           f"{each:.2f} s each when two one-thread processes run at once"),
        Ratio("throughput", "machine ceiling: 2 processes x 1 thread / 1 process x 1 thread", 2 * alone / each,
              None, detail=f"the same cells: {alone:.2f} s on one thread alone, {each:.2f} s each of two at once"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cells"]:
        _train_cells_in_process(int(sys.argv[2]))
    else:
        print_rows(ratios())
