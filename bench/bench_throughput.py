"""Study throughput: cells per minute of a study at quick budget with 1 and with 2 local workers.

``study run shaw-lr-robustness --budget quick`` (84 cells: 6-layer tanh MLPs of width 64, 2,000
Fashion-MNIST images, 2 epochs, 3 seeds), each in a fresh store, wall time of the whole
command (process start-up, data loading, training, HDF5 writes, the analysis). Target: 2
workers >= 1.8x the cells per minute of 1. Skipped without Fashion-MNIST.

    .venv/bin/python bench/bench_throughput.py
"""

from __future__ import annotations

import sys
import tempfile

from _process import run_measured
from _timing import Ratio, print_rows

from bridge.learning.data import fashion_mnist_dir

STUDY, CELLS = "shaw-lr-robustness", 84


def _cells_per_minute(workers: int) -> float:
    with tempfile.TemporaryDirectory() as results:
        wall, _ = run_measured([sys.executable, "-m", "bridge.cli", "--results", results, "study", "run", STUDY,
                                "--budget", "quick", "--workers", str(workers), "--quiet"])
    return CELLS / wall * 60


def ratios() -> list[Ratio]:
    if fashion_mnist_dir() is None:
        return []
    one, two = _cells_per_minute(1), _cells_per_minute(2)
    return [Ratio("throughput", "2 workers / 1 worker, cells per minute", two / one, 1.8, at_least=True,
                  detail=f"{STUDY} at quick ({CELLS} cells): {one:.1f} vs {two:.1f} cells/min")]


if __name__ == "__main__":
    print_rows(ratios())
