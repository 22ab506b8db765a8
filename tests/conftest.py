"""Shared fixtures: small but acceptance-valid homeostasis sweeps, each run once per session.

``triesch_sweep_path`` and ``lif_sweep_path`` return the HDF5 file of a ``homeostasis-sweep``
run (schema: docs/store-schema.md) written into a session temporary store (numpy target).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.core.store import Store

TRIESCH_SWEEP = ["model=rate-ip-triesch", "duration=25", "measure=5", 'model_params={"eta": 0.005}']
LIF_SWEEP = ["model=lif-ip", "mu=[0.5,1,2]", "sigma=[0.25,0.5,1]", "tau_in=0.01", "duration=100",
             "measure=20", "fi_min=0", "fi_max=4", "fi_points=9"]


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("sims-store"))


@pytest.fixture(scope="session")
def scaling_path(sim_store):
    """The default scaling run (10 neurons x 100 inputs, inputs doubled) with 20 s + 40 s."""
    from sims import run

    return run("scaling", ["settle=20", "recover=40"], "numpy", sim_store)


@pytest.fixture(scope="session")
def triesch_sweep_path(sim_store):
    """5 x 5 (mu x sigma) cells, 4 neurons each, 25 s at dt = 1 ms, eta = 0.005 per sample."""
    from sims import run

    return run("homeostasis-sweep", TRIESCH_SWEEP, "numpy", sim_store)


@pytest.fixture(scope="session")
def lif_sweep_path(sim_store):
    """lif-ip on 3 x 3 cells (mu 0.5, 1, 2 x sigma 0.25, 0.5, 1), 4 neurons each, 100 s."""
    from sims import run

    return run("homeostasis-sweep", LIF_SWEEP, "numpy", sim_store)


def kill_cli_after_runs(args: list[str], results: Path, runs: int, timeout: float = 300) -> None:
    """Start ``homeobridge --results RESULTS ARGS`` and SIGKILL its whole process group once
    ``runs`` training runs are in the store (or after ``timeout`` seconds)."""
    argv = [sys.executable, "-m", "bridge.cli", "--results", str(results), *args]
    process = subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while len(list(results.glob("train/*/*.h5"))) < runs and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
