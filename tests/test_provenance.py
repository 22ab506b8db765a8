"""Exact provenance (issue 9): a run's identity is its config plus the content of its inputs.

Refitting a rule under the same name and training again gives a new run that records the new
rule's hash; other data files give another identity; wall_seconds is the work's time.
"""

from __future__ import annotations

import gzip
import json
import os
import time

import numpy as np
from test_fit import synthetic_sweep

from bridge.cli import main
from bridge.core.store import Stopwatch, Store, open_run
from bridge.fitting.rules import load_rule, save_rule
from bridge.fitting.runs import fit_run
from bridge.learning.data import FASHION_FILES, dataset_identity
from bridge.learning.engine import train
from bridge.learning.train import TrainConfig

DIGITS = {"dataset": "digits", "n_train": 200, "n_test": 100, "epochs": 1, "width": 16, "device": "cpu",
          "probe_size": 32}


def _fit_and_save(store: Store, sweep_path) -> str:
    rule = fit_run(sweep_path, store, name="prov")
    save_rule(rule, store)
    return rule.content_hash()


def test_refitting_a_rule_under_the_same_name_gives_a_new_training_run(tmp_path):
    store = Store(tmp_path)
    first_sweep, _, _ = synthetic_sweep(store, p=1.0, seed=0)
    second_sweep, _, _ = synthetic_sweep(store, p=0.5, seed=1)  # another simulation: another gain law
    config = TrainConfig(norm="fitted:prov", **DIGITS)

    first_hash = _fit_and_save(store, first_sweep)
    first_run = train(config, store, progress=False)
    assert train(config, store, progress=False) == first_run  # same inputs: resumed, not retrained

    second_hash = _fit_and_save(store, second_sweep)
    assert second_hash != first_hash and load_rule("prov", store).content_hash() == second_hash
    second_run = train(config, store, progress=False)

    assert second_run != first_run and first_run.exists()
    with open_run(first_run, "train") as old, open_run(second_run, "train") as new:
        assert old.config == new.config  # the same config ...
        assert old.inputs["rules"] == {"prov": first_hash}  # ... on different rule content
        assert new.inputs["rules"] == {"prov": second_hash}
        assert new.inputs["data"] == dataset_identity("digits")
        assert old.run_id != new.run_id


def test_rerun_trains_again_in_place(tmp_path, capsys):
    argv = ["--results", str(tmp_path), "train", "--json", *[f"--set={k}={v}" for k, v in DIGITS.items()]]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    written = os.stat(first["path"]).st_mtime_ns
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["path"] == first["path"]
    assert os.stat(first["path"]).st_mtime_ns == written  # resumed: the file is untouched
    assert main([*argv, "--rerun"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == first["run_id"]
    assert os.stat(first["path"]).st_mtime_ns > written  # trained again and replaced


def _write_idx(path, images: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, images.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + images.astype(np.uint8).tobytes())


def test_the_data_set_identity_follows_the_file_contents(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for key, stem in FASHION_FILES.items():
        shape = (10, 28, 28) if "images" in key else (10,)
        _write_idx(tmp_path / f"{stem}.gz", rng.integers(0, 10, shape))
    monkeypatch.setenv("HOMEOBRIDGE_DATA", str(tmp_path))
    before = dataset_identity("fashion-mnist")
    assert set(before["files"]) == {f"{stem}.gz" for stem in FASHION_FILES.values()}
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, (10,)) + 1)
    after = dataset_identity("fashion-mnist")
    assert after != before
    assert after["files"]["train-images-idx3-ubyte.gz"] == before["files"]["train-images-idx3-ubyte.gz"]


def test_wall_seconds_is_the_work_not_the_write(tmp_path):
    path = train(TrainConfig(norm="ip-infomax", **{**DIGITS, "epochs": 2}), Store(tmp_path), progress=False)
    with open_run(path, "train") as run:
        epochs = run.array("history/wall_seconds").sum()
        assert run.wall_seconds >= epochs > 0


def test_a_stopwatch_started_before_the_work_is_what_the_run_records(tmp_path):
    clock = Stopwatch()
    time.sleep(0.3)  # the work
    store = Store(tmp_path)
    with store.write("sims", "timed", {}, 0, clock):
        pass
    (info,) = store.list_runs("sims")
    assert 0.3 <= info.wall_seconds <= clock.seconds()
