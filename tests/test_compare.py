"""homeobridge compare and report: resume after a kill, and a report whose numbers are the store's."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.core.store import Store, open_run
from bridge.experiments.compare import CompareConfig, cells, compare
from bridge.experiments.report import write_report
from bridge.learning.train import load_history

ROOT = Path(__file__).resolve().parents[1]
GRID = [
    "dataset=digits", "neurons=rate", "norms=none,bn", "lrs=0.05,0.3", "seeds=0,1,2",
    "batch_sizes=32", "epochs=2", "n_train=500", "n_test=300", "width=32", "workers=1",
    "target_accuracy=0.5",
]
N_RUNS = 2 * 2 * 3


def compare_command(results: Path) -> list[str]:
    sets = [arg for item in GRID for arg in ("--set", item)]
    return [sys.executable, "-m", "bridge.cli", "--results", str(results), "compare", "--quiet", *sets]


def finished_runs(results: Path) -> dict[Path, int]:
    return {p: p.stat().st_ino for p in (results / "train").rglob("[!.]*.h5")}


def test_killed_compare_resumes_without_redoing_finished_runs(tmp_path):
    process = subprocess.Popen(
        compare_command(tmp_path), cwd=ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 600
    while len(finished_runs(tmp_path)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = finished_runs(tmp_path)
    assert 2 <= len(before) < N_RUNS, "the kill should land midway through the grid"
    rerun = subprocess.run(compare_command(tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    after = finished_runs(tmp_path)
    assert len(after) == N_RUNS
    assert all(after[path] == inode for path, inode in before.items()), "a finished run was redone"
    assert "| rate | bn | 32 |" in rerun.stdout


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    from bridge.core.config import apply_overrides

    store = Store(tmp_path_factory.mktemp("results"))
    config = apply_overrides(CompareConfig(), GRID[:3] + ["lrs=0.1", "seeds=0,1"] + GRID[5:])
    return store, config, compare(config, store, progress=False)


def test_compare_summary_is_computed_from_the_train_runs(compared):
    store, config, path = compared
    with open_run(path, "compare") as run:
        rows = json.loads(run.h5.attrs["summary"])
        train_paths = [Path(p) for p in json.loads(run.h5.attrs["train_runs"])]
        assert sorted(run.h5["plots"]) == ["accuracy_curves", "accuracy_vs_lr", "gradient_norms"]
    assert len(train_paths) == len(cells(config)) == 4
    for row in rows:
        finals = [
            load_history(p)["test_accuracy"][-1] for p, cell in zip(train_paths, cells(config))
            if (cell["norm"], cell["lr"]) == (row["norm"], row["best_lr"])
        ]
        assert row["acc_mean"] == pytest.approx(np.mean(finals))
    # BatchNorm trains this small MLP on digits well above chance (0.1)
    assert next(r for r in rows if r["norm"] == "bn")["acc_mean"] > 0.6


def test_report_shows_the_store_numbers(compared, tmp_path):
    store, config, path = compared
    page = write_report(store, tmp_path / "report.html").read_text()
    data = json.loads(re.search(
        r'<script type="application/json" id="homeobridge-data">(.*?)</script>', page, re.S
    ).group(1))
    with open_run(path, "compare") as run:
        stored_rows = json.loads(run.h5.attrs["summary"])
        table = str(run.h5.attrs["table"])
    assert data["compare"][0]["rows"] == stored_rows
    for line in table.splitlines()[2:]:
        for cell in line.strip("|").split("|"):
            assert f"<td>{cell.strip()}</td>" in page.replace("&#x27;", "'")
    assert page.count("data:image/png;base64,") >= 3
    for run in store.list_runs():
        assert run.run_id in page  # provenance of every run
