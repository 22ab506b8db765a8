"""The Ray executor (issue 13): a compare through a local Ray gives the local executor's numbers,
and a driver killed midway leaves no half-written file; a rerun completes the grid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import kill_cli_after_runs

from bridge.core.errors import UserError
from bridge.core.store import Store, open_run
from bridge.experiments.compare import CompareConfig, compare
from bridge.experiments.executor import run_grid
from bridge.learning.data import fashion_mnist_dir
from bridge.learning.train import load_history

pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[1]
needs_fashion = pytest.mark.skipif(fashion_mnist_dir() is None, reason="Fashion-MNIST not installed")
SMALL = {"neurons": ("rate",), "norms": ("none", "bn"), "lrs": (0.05,), "seeds": (0, 1), "epochs": 1,
         "n_train": 256, "n_test": 128, "depth": 3, "width": 16, "workers": 2}


def _histories(store: Store) -> dict:
    return {p.parent.name + ":" + p.stem: load_history(p) for p in sorted(store.root.glob("train/*/*.h5"))}


@needs_fashion
def test_ray_and_local_executors_give_identical_runs(tmp_path):
    local, remote = Store(tmp_path / "local"), Store(tmp_path / "ray")
    compare(CompareConfig(**SMALL), local, progress=False)
    compare(CompareConfig(**SMALL, executor="ray"), remote, progress=False)
    a, b = _histories(local), _histories(remote)
    assert sorted(a) == sorted(b) and len(a) == 4  # the same run ids: executor is not part of the identity
    for key in a:
        for field in ("train_loss", "test_accuracy", "grad_norm", "act_std"):
            np.testing.assert_array_equal(a[key][field], b[key][field])
        assert b[key]["run_seconds"] > 0


def test_unknown_executor_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown executor"):
        run_grid([], 1, Store(tmp_path), progress=False, executor="slurm")


@needs_fashion
@pytest.mark.slow  # two 12-cell grids through Ray: `make test-all`
def test_a_killed_ray_driver_leaves_no_half_file_and_a_rerun_completes(tmp_path):
    grid = ["--set", "neurons=rate", "--set", "norms=none,bn,ln", "--set", "lrs=0.05,0.1", "--set", "seeds=0,1",
            "--set", "epochs=1", "--set", "n_train=512", "--set", "n_test=128", "--set", "width=16",
            "--set", "executor=ray"]
    kill_cli_after_runs(["compare", *grid], tmp_path, runs=2)
    finished = list(tmp_path.glob("train/*/*.h5"))
    assert 2 <= len(finished) < 12
    # a SIGKILL during a write can leave the writer's hidden temporary (nothing survives SIGKILL to
    # remove it), never a half-written run: the store only reads complete, renamed files
    assert all(p.name.startswith(".") for p in tmp_path.rglob("*.tmp"))
    for path in finished:
        with open_run(path, "train"):  # every file there is a complete run
            pass
    argv = [sys.executable, "-m", "bridge.cli", "--results", str(tmp_path), "compare", *grid]
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(list(tmp_path.glob("train/*/*.h5"))) == 12
    assert list(tmp_path.glob("compare/*/*.h5"))
