"""The results store: round trip, atomicity under kill, resume, concurrency, malformed files."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from bridge.core.store import (
    DIRTY,
    SCHEMA_VERSION,
    Stopwatch,
    Store,
    StoreError,
    git_commit,
    open_run,
    run_id,
    short_commit,
)

CONFIG = {"model": "rate-ip-triesch", "mu": [0.0, 0.5], "duration": 2.0}


def write_example(store: Store, config=CONFIG, seed=7) -> Path:
    with store.write("sims", "example", config, seed, Stopwatch()) as h5:
        h5.create_dataset("final/gain", data=np.arange(5.0))
    return store.path_for("sims", "example", config)


def test_round_trip_keeps_data_and_provenance(tmp_path):
    store = Store(tmp_path)
    path = write_example(store)
    assert path == tmp_path / "sims" / "example" / f"{run_id('sims', 'example', CONFIG)}.h5"
    with open_run(path, "sims") as run:
        np.testing.assert_array_equal(run.array("final/gain"), np.arange(5.0))
        assert run.config == CONFIG
        assert run.seed == 7
        assert run.versions["brian2"] and run.versions["torch"] and run.versions["numpy"]
        assert run.wall_seconds >= 0 and run.started <= run.finished
    # another user and another HDF5 reader can open it and see the provenance as plain attributes
    assert path.stat().st_mode & 0o004
    with h5py.File(path, "r") as h5:
        assert h5.attrs["type"] == "homeobridge.run"
        assert int(h5.attrs["schema_version"]) == SCHEMA_VERSION
        assert json.loads(h5.attrs["config"]) == CONFIG


def test_same_config_is_found_complete_and_other_config_is_not(tmp_path):
    store = Store(tmp_path)
    path = write_example(store)
    assert store.find_run("sims", "example", CONFIG) == path
    assert store.find_run("sims", "example", {**CONFIG, "duration": 3.0}) is None
    assert [r.run_id for r in store.list_runs("sims")] == [path.stem]
    assert store.list_runs("train") == []


def test_exception_inside_write_leaves_nothing(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(RuntimeError), store.write("sims", "example", CONFIG, 0, Stopwatch()) as h5:
        h5.create_dataset("x", data=np.zeros(3))
        raise RuntimeError("simulation failed")
    assert list((tmp_path / "sims" / "example").iterdir()) == []
    assert store.find_run("sims", "example", CONFIG) is None


WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from bridge.core.store import Stopwatch, Store
    store = Store(sys.argv[1])
    config = {"writer": sys.argv[2]}
    with store.write("sims", "writer", config, 0, Stopwatch()) as h5:
        for k in range(int(sys.argv[3])):
            h5.create_dataset(f"block{k}", data=np.random.default_rng(k).random(20000))
            h5.flush()
            if k == 2:
                print("writing", flush=True)
            time.sleep(float(sys.argv[4]))
    print("done", flush=True)
""")


def spawn_writer(root: Path, name: str, blocks: int, pause: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), name, str(blocks), str(pause)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )


def test_killed_writer_leaves_no_complete_run(tmp_path):
    writer = spawn_writer(tmp_path, "killed", blocks=1000, pause=0.05)
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = Store(tmp_path)
    assert store.list_runs() == []
    assert store.find_run("sims", "writer", {"writer": "killed"}) is None
    assert not store.path_for("sims", "writer", {"writer": "killed"}).exists()


def test_two_processes_write_different_runs_at_once(tmp_path):
    writers = [spawn_writer(tmp_path, name, blocks=6, pause=0.01) for name in ("a", "b")]
    for writer in writers:
        assert writer.communicate(timeout=120)[0].strip().endswith("done")
    store = Store(tmp_path)
    assert sorted(r.config["writer"] for r in store.list_runs("sims")) == ["a", "b"]
    for run in store.list_runs("sims"):
        with open_run(run.path) as opened:
            assert opened.array("block5").shape == (20000,)


@pytest.fixture
def good_run(tmp_path) -> Path:
    return write_example(Store(tmp_path))


def test_missing_file_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no such run file"):
        open_run(tmp_path / "absent.h5")


def test_non_hdf5_file_is_a_store_error(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("this is not HDF5")
    with pytest.raises(StoreError, match="bad.h5: not a readable HDF5 file"):
        open_run(bad)


def test_truncated_file_is_a_store_error(good_run, tmp_path):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good_run.read_bytes()[:1500])
    with pytest.raises(StoreError, match="truncated.h5"):
        open_run(truncated)


def test_wrong_type_is_a_store_error(good_run):
    with h5py.File(good_run, "a") as h5:
        h5.attrs["type"] = "something.else"
    with pytest.raises(StoreError, match="wrong type 'something.else'"):
        open_run(good_run)


def test_newer_schema_is_a_store_error(good_run):
    with h5py.File(good_run, "a") as h5:
        h5.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match="newer than this homeobridge"):
        open_run(good_run)


def test_missing_dataset_is_a_store_error(good_run):
    with open_run(good_run) as run, pytest.raises(StoreError, match=r"missing dataset 'final/bias'"):
        run.array("final/bias")


def test_wrong_kind_is_a_store_error(good_run):
    with pytest.raises(StoreError, match="is a 'sims' run, expected 'train'"):
        open_run(good_run, "train")


def test_the_recorded_commit_says_when_the_checkout_had_uncommitted_changes(tmp_path):
    """A run made from edited code must not pass for a run of its commit: HEAD, then +dirty."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    assert git_commit.__wrapped__(tmp_path) == ""  # not a checkout
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "first")
    clean = git_commit.__wrapped__(tmp_path)
    assert len(clean) == 40 and not clean.endswith(DIRTY)
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit.__wrapped__(tmp_path) == clean + DIRTY
    assert short_commit(clean + DIRTY) == clean[:10] + DIRTY and short_commit("") == "n/a"
