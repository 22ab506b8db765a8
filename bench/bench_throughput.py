"""Study throughput: cells per minute of a study at quick budget with 1 and with 2 local workers.

``study run shaw-lr-robustness --budget quick`` (84 cells: 6-layer tanh MLPs of width 64, 2,000
Fashion-MNIST images, 2 epochs, 3 seeds), each in a fresh store, wall time of the whole
command (process start-up, data loading, training, HDF5 writes, the analysis and plots). Target:
2 workers >= 1.8x the cells per minute of 1. A second row times the cell phase alone (from the
first cell's start to the last one's end, read from the runs' own start and finish times): how
well the cells themselves scale, apart from the command's fixed start-up and analysis, which
the detail column gives in seconds. Skipped without Fashion-MNIST.

    .venv/bin/python bench/bench_throughput.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path

from _process import run_measured
from _timing import Ratio, print_rows

from bridge.core.store import Store, open_run
from bridge.learning.data import fashion_mnist_dir

STUDY, CELLS = "shaw-lr-robustness", 84


def _cell_span(results: str) -> tuple[float, float]:
    """(epoch seconds of the first cell's start, of the last cell's end) in the store."""
    runs, _ = Store(Path(results)).scan("train")
    starts, ends = [], []
    for run in runs:
        with open_run(run.path, "train") as opened:
            starts.append(datetime.fromisoformat(opened.h5.attrs["started"]).timestamp())
            ends.append(datetime.fromisoformat(opened.h5.attrs["finished"]).timestamp())
    return min(starts), max(ends)


def _phases(workers: int) -> tuple[float, float, float]:
    """(whole command, cell phase, fixed: start-up + analysis) in seconds."""
    with tempfile.TemporaryDirectory() as results:
        wall, _ = run_measured([sys.executable, "-m", "bridge.cli", "--results", results, "study", "run", STUDY,
                                "--budget", "quick", "--workers", str(workers), "--quiet"])
        first, last = _cell_span(results)
    return wall, last - first, wall - (last - first)


def ratios() -> list[Ratio]:
    if fashion_mnist_dir() is None:
        return []
    (one, one_cells, one_fixed), (two, two_cells, two_fixed) = _phases(1), _phases(2)
    per_minute = CELLS * 60
    return [
        Ratio("throughput", "2 workers / 1 worker, cells per minute", one / two, 1.8, at_least=True,
              detail=f"{STUDY} at quick ({CELLS} cells), whole command: {per_minute / one:.1f} vs "
                     f"{per_minute / two:.1f} cells/min ({one:.1f} / {two:.1f} s)"),
        Ratio("throughput", "2 workers / 1 worker, cell phase", one_cells / two_cells, 1.8, at_least=True,
              detail=f"cells {one_cells:.1f} / {two_cells:.1f} s; start-up and analysis {one_fixed:.1f} / "
                     f"{two_fixed:.1f} s"),
    ]


if __name__ == "__main__":
    print_rows(ratios())
