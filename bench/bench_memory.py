"""Peak resident memory (RSS summed over the process tree, sampled every 50 ms): one ``train`` of a
10 x 256 MLP on all of Fashion-MNIST (target <= 1 GiB), and a 2-worker ``compare`` of four such
cells (target <= 2.5 GiB in total), and one ensemble worker (issue 24): a 1-worker ``compare`` of
32 seeds of a 4 x 128 MLP, one ensemble of 32 members (target <= 2 GiB). One epoch each: the
peak is reached within it (the data set once per worker, nothing kept across cells). Skipped without Fashion-MNIST.

    .venv/bin/python bench/bench_memory.py
"""

from __future__ import annotations

import sys
import tempfile

from _process import run_measured
from _timing import Ratio, print_rows

from bridge.learning.data import fashion_mnist_dir

ENSEMBLE = 32  # members: ensemble_training.MEMBERS_AT_MOST
NET = ["n_train=60000", "n_test=10000", "depth=10", "width=256", "epochs=1", "device=cpu"]


def _cli(results: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "bridge.cli", "--results", results, *args]


def ratios() -> list[Ratio]:
    if fashion_mnist_dir() is None:
        return []
    with tempfile.TemporaryDirectory() as results:
        _, one = run_measured(_cli(results, "train", "--json", *[a for kv in NET for a in ("--set", kv)]))
        grid = [f"{k}={v}" for k, v in (("neurons", "rate"), ("norms", "none,bn"), ("seeds", "0,1"), ("lrs", "0.05"),
                                         ("workers", 2))] + NET
        _, two = run_measured(_cli(results, "compare", "--json", *[a for kv in grid for a in ("--set", kv)]))
        members = [f"{k}={v}" for k, v in (("neurons", "rate"), ("norms", "none"), ("lrs", "0.05"), ("workers", 1),
                                            ("seeds", ",".join(str(s) for s in range(ENSEMBLE))))]
        members += [kv for kv in NET if not kv.startswith(("depth", "width"))] + ["depth=4", "width=128"]
        _, ensemble = run_measured(_cli(results, "compare", "--json", *[a for kv in members for a in ("--set", kv)]))
    return [Ratio("memory", "one train, 10 x 256 MLP, all of Fashion-MNIST", one, 1.0, unit=" GiB",
                  detail="peak RSS of the process"),
            Ratio("memory", "2-worker compare of 4 such cells", two, 2.5, unit=" GiB",
                  detail="peak RSS summed over the driver and its workers"),
            Ratio("memory", f"one ensemble worker, {ENSEMBLE} members of a 4 x 128 MLP, all of Fashion-MNIST", ensemble,
                  2.0, unit=" GiB", detail="peak RSS summed over the driver and its worker")]


if __name__ == "__main__":
    print_rows(ratios())
