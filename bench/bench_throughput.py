"""Study throughput: cells per minute of a study at quick budget with 1 and with 2 local workers.

``study run shaw-lr-robustness --budget quick`` (84 cells: 6-layer tanh MLPs of width 64, 2,000
Fashion-MNIST images, 2 epochs, 3 seeds), each in a fresh store, wall time of the whole
command (process start-up, data loading, training, HDF5 writes, the analysis and plots). Target:
2 workers >= 1.8x the cells per minute of 1. A second row times the cell phase alone (from the
first cell's start to the last one's end, read from the runs' own start and finish times): how
well the cells themselves scale, apart from the command's fixed start-up and analysis, which
the detail column gives in seconds.

One worker alone gets every core, as threads, so the two rows above compare two one-thread
workers with one two-thread worker: they measure the machine (what a cell gains from its second
thread, what two processes cost each other) as much as the executor. The third row is the
executor's own part: the share of the 2-worker cell phase during which both cores train (the
cells' training seconds summed, over 2 x the cell phase). What it loses is the executor's:
start-up of the workers, per-cell data and rule loading, store checks, HDF5 writes, the last
cell's wait. 0.9 is the 1.8x target's share.

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


def _cell_phase(results: str) -> tuple[float, float]:
    """(the cell phase: the first cell's start to the last one's end, the cells' training seconds
    summed) of the store, read from its runs."""
    runs, _ = Store(Path(results)).scan("train")
    starts, ends, training = [], [], 0.0
    for run in runs:
        with open_run(run.path, "train") as opened:
            starts.append(datetime.fromisoformat(opened.h5.attrs["started"]).timestamp())
            ends.append(datetime.fromisoformat(opened.h5.attrs["finished"]).timestamp())
            training += opened.wall_seconds
    return max(ends) - min(starts), training


def _phases(workers: int) -> tuple[float, float, float]:
    """(whole command, cell phase, the cells' training seconds summed) in seconds."""
    with tempfile.TemporaryDirectory() as results:
        wall, _ = run_measured([sys.executable, "-m", "bridge.cli", "--results", results, "study", "run", STUDY,
                                "--budget", "quick", "--workers", str(workers), "--quiet"])
        return wall, *_cell_phase(results)


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
    best = _best_of_rounds({"one": lambda: _phases(1), "two": lambda: _phases(2),
                            "two threads": lambda: (_concurrent_seconds(1, 2),),
                            "one thread": lambda: (_concurrent_seconds(1, 1),),
                            "two processes": lambda: (_concurrent_seconds(2, 1),)})
    (one, one_cells, one_training), (two, two_cells, two_training) = best["one"], best["two"]
    (one_worker,), (alone,), (each,) = best["two threads"], best["one thread"], best["two processes"]
    per_minute = CELLS * 60
    return [
        Ratio("throughput", "2 workers / 1 worker, cells per minute", one / two, 1.8, at_least=True,
              detail=f"{STUDY} at quick ({CELLS} cells), whole command: {per_minute / one:.1f} vs "
                     f"{per_minute / two:.1f} cells/min ({one:.1f} / {two:.1f} s)"),
        Ratio("throughput", "2 workers / 1 worker, cell phase", one_cells / two_cells, 1.8, at_least=True,
              detail=f"cells {one_cells:.1f} / {two_cells:.1f} s; start-up and analysis {one - one_cells:.1f} / "
                     f"{two - two_cells:.1f} s; a cell trains in {one_training / CELLS:.3f} s on one two-thread "
                     f"worker, {two_training / CELLS:.3f} s on each of two one-thread workers"),
        Ratio("throughput", "executor: both cores training, share of the 2-worker cell phase",
              two_training / (2 * two_cells), 0.9, at_least=True, unit="",
              detail=f"{two_training:.1f} s of training in 2 x {two_cells:.1f} s"),
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
