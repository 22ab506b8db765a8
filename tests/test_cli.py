"""The command line: info, runs, and one-line user errors with exit status 2."""

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import WORKER_MODULES
from bridge.core.store import Stopwatch, Store
from bridge.core.workers import worker_context
from bridge.experiments.executor import WORKER_PRELOAD

ROOT = Path(__file__).resolve().parents[1]


def homeobridge(*args: str, results: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if results is not None:
        env["HOMEOBRIDGE_RESULTS"] = str(results)
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env,
    )


def _imported(module: str) -> bool:
    return module in sys.modules


def test_workers_start_with_what_a_first_cell_would_import():
    """The fork server imports the training code and torch._dynamo (which torch.optim imports on a
    process's first optimizer: seconds), so no worker's first cell pays for them; the command
    line's server preloads the same."""
    assert set(WORKER_PRELOAD) <= set(WORKER_MODULES) and "torch._dynamo" in WORKER_PRELOAD
    with ProcessPoolExecutor(max_workers=1, mp_context=worker_context(WORKER_PRELOAD)) as pool:
        assert list(pool.map(_imported, WORKER_PRELOAD)) == [True] * len(WORKER_PRELOAD)


def assert_user_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_info_reports_versions_data_and_brian2_targets():
    result = homeobridge("info", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["versions"]["brian2"].startswith("2.9")
    assert report["brian2_targets"]["numpy"] is True
    assert set(report["brian2_targets"]) == {"numpy", "cython", "cpp_standalone"}
    assert "fashion_mnist" in report and "cuda" in report


def test_runs_lists_the_store_as_table_and_json(tmp_path):
    store = Store(tmp_path)
    with store.write("sims", "example", {"a": 1}, 3, Stopwatch()) as h5:
        h5.create_dataset("x", data=np.zeros(2))
    table = homeobridge("--results", str(tmp_path), "runs")
    assert table.returncode == 0
    assert "| sims | example |" in table.stdout
    listed = json.loads(homeobridge("runs", "sims", "--json", results=tmp_path).stdout)
    assert [(r["name"], r["seed"], r["config"]) for r in listed] == [("example", 3, {"a": 1})]
    assert json.loads(homeobridge("runs", "train", "--json", results=tmp_path).stdout) == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["no-such-verb"], "No such command"),
        (["runs", "--no-such-option"], "No such option"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, fragment):
    assert_user_error(homeobridge(*args), fragment)
