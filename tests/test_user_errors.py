"""Every bad input of issue 9: exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

import math

import h5py
import pytest
import torch
from test_layers import make_rule

from bridge.cli import main
from bridge.core.store import Stopwatch, Store
from bridge.fitting.rules import save_rule

DIGITS = ["--set", "dataset=digits", "--set", "n_train=200", "--set", "n_test=100", "--set", "epochs=1"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], err


def files_in(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store_with_rule(tmp_path) -> Store:
    """A store holding the hand-made rule ``hand``."""
    store = Store(tmp_path / "results")
    save_rule(make_rule(), store)
    return store


def _poison(store: Store, field: str, value: float) -> None:
    with h5py.File(store.root / "rules" / "hand.h5", "r+") as h5:
        h5["rule/equilibrium"].attrs[field] = value


@pytest.mark.parametrize("field", ["c", "p", "d", "s", "bn_gamma", "bn_beta"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_rule_with_non_finite_equilibrium_is_refused_by_export_and_train(store_with_rule, field, value, capsys):
    _poison(store_with_rule, field, value)
    before = files_in(store_with_rule.root)
    out = store_with_rule.root.parent / "layer.pt"
    code, _, err = run_cli(capsys, "--results", str(store_with_rule.root), "export", "hand", "-o", str(out))
    assert_one_line(code, err, f"rule.equilibrium.{field}: Input should be a finite number")
    code, _, err = run_cli(capsys, "--results", str(store_with_rule.root), "train", "--set", "norm=fitted:hand",
                           *DIGITS)
    assert_one_line(code, err, f"rule.equilibrium.{field}: Input should be a finite number")
    assert not out.exists() and files_in(store_with_rule.root) == before


@pytest.mark.parametrize("argv, fragment", [
    (["--to", "torch", "-o", "/proc/nope/x.pt"], "/proc/nope/x.pt: cannot write there"),
    (["--to", "torch", "-o", "OUT", "--units", "0"], "--units: Input should be greater than 0"),
    (["--to", "torch", "-o", "OUT", "--units", "-3"], "--units: Input should be greater than 0"),
    (["--to", "torch", "-o", "OUT", "--inputs", "0"], "--inputs: Input should be greater than 0"),
    (["--to", "onnx", "-o", "OUT"], "--to: Input should be 'torch'"),
    (["--to", "torch", "-o", "OUT", "--mode", "sometimes"], "--mode: Input should be 'online' or 'equilibrium'"),
    (["--to", "torch", "-o", "RESULTS"], "is a directory, expected a file path"),
])
def test_export_refuses_bad_outputs_and_options(store_with_rule, argv, fragment, capsys):
    out = store_with_rule.root.parent / "x.pt"
    argv = [str(out) if a == "OUT" else str(store_with_rule.root) if a == "RESULTS" else a for a in argv]
    code, _, err = run_cli(capsys, "--results", str(store_with_rule.root), "export", "hand", *argv)
    assert_one_line(code, err, fragment)
    assert not out.exists()


@pytest.mark.parametrize("setting, fragment", [
    ("lr=inf", "--set lr: Input should be a finite number"),
    ("lr=nan", "--set lr: Input should be a finite number"),
    ("lr=-0.1", "--set lr: Input should be greater than 0"),
    ("lr=0", "--set lr: Input should be greater than 0"),
    ("epochs=0", "--set epochs: Input should be greater than 0"),
    ("batch_size=0", "--set batch_size: Input should be greater than 0"),
    ("depth=1", "--set depth: Input should be greater than or equal to 2"),
    ("optimizer=rmsprop", "--set optimizer: Input should be 'sgd' or 'adam'"),
    ("norm=fitted:", "unknown norm 'fitted:'"),
    ("norm=fitted:absent", "no rule 'absent'"),
    ("momentum=1.5", "--set momentum: Input should be less than 1"),
    ("widht=3", "--set widht: unknown key"),
])
def test_train_refuses_bad_settings_before_any_work(tmp_path, setting, fragment, capsys):
    code, _, err = run_cli(capsys, "--results", str(tmp_path), "train", *DIGITS, "--set", setting)
    assert_one_line(code, err, fragment)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("settings, fragment", [
    (["norms=fitted", "neurons=rate"], "norm 'fitted' needs --set rate_rule=RULE-NAME"),
    (["norms=none,fitted", "neurons=spiking", "rate_rule=hand"], "needs --set spiking_rule=RULE-NAME"),
    (["norms=none,magic"], "unknown norm 'magic'"),
    (["lrs=0.1,inf"], "--set lrs.1: Input should be a finite number"),
    (["seeds="], "--set seeds: Tuple should have at least 1 item"),
    (["norms=fitted", "neurons=rate", "rate_rule=absent"], "no rule 'absent'"),
])
def test_compare_refuses_bad_grids_before_any_work(tmp_path, settings, fragment, capsys):
    argv = [item for setting in settings for item in ("--set", setting)]
    code, out, err = run_cli(capsys, "--results", str(tmp_path), "compare", "--set", "dataset=digits", *argv)
    assert_one_line(code, err, fragment)
    assert out == "" and files_in(tmp_path) == []


def test_runs_names_every_unreadable_file_and_lists_the_good_ones(tmp_path, capsys):
    store = Store(tmp_path)
    with store.write("sims", "good", {"a": 1}, 0, Stopwatch()):
        pass
    (tmp_path / "sims" / "good" / "broken.h5").write_bytes(b"not hdf5")
    (tmp_path / "train").mkdir()
    with h5py.File(tmp_path / "train" / "foreign.h5", "w") as h5:
        h5.attrs["type"] = "something.else"
    code, out, err = run_cli(capsys, "--results", str(tmp_path), "runs")
    assert code == 0 and "| sims | good |" in out
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("homeobridge: warning: ") for w in warnings)
    assert any("broken.h5: not a readable HDF5 file" in w for w in warnings)
    assert any("foreign.h5: not a complete homeobridge run" in w for w in warnings)


@pytest.mark.parametrize("command", [["runs"], ["rules"], ["train", *DIGITS], ["report"]])
def test_results_that_is_a_file_is_an_error(tmp_path, command, capsys):
    results = tmp_path / "results.txt"
    results.write_text("not a directory")
    code, out, err = run_cli(capsys, "--results", str(results), *command)
    assert_one_line(code, err, "is a file, not a results directory")
    assert out == "" and results.read_text() == "not a directory"


def test_report_to_an_unwritable_path_is_an_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--results", str(tmp_path), "report", "-o", "/proc/nope/report.html")
    assert_one_line(code, err, "/proc/nope/report.html: cannot write there")


def test_sim_validation_fails_before_the_progress_bar(tmp_path, capsys):
    code, out, err = run_cli(capsys, "--results", str(tmp_path), "sim", "homeostasis-sweep", "--set", "duration=20")
    assert_one_line(code, err, "need 0 < measure <= duration")
    assert out == "" and files_in(tmp_path) == []


@pytest.mark.parametrize("argv, fragment", [
    (["study", "run", "nope"], "unknown study 'nope'"),
    (["study", "show", "nope"], "unknown study 'nope'"),
    (["study", "run", "shaw-depth", "--budget", "huge"], "--budget: Input should be 'smoke', 'quick' or 'full'"),
    (["study", "run", "shaw-depth", "--workers", "0"], "--workers: Input should be greater than 0"),
    (["study", "run", "shaw-depth", "--rule", "absent"], "no rule 'absent'"),
    (["study", "run", "dale-ann", "--rule", "absent"], "has no fitted arm; run it without --rule"),
    (["study", "run", "dale-ann", "--set", "foo=1"], "study run takes executor=local|ray"),
    (["study", "run", "dale-ann", "--set", "executor=slurm"], "--set executor: Input should be 'local' or 'ray'"),
    (["study", "run", "dale-ann", "--set", "device=tpu"], "--set device: Input should be 'cpu' or 'cuda'"),
    pytest.param(["study", "run", "dale-ann", "--set", "device=cuda"], "torch sees no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
    (["compare", "--set", "executor=slurm"], "--set executor: Input should be 'local' or 'ray'"),
    (["study", "table", "--budget", "huge"], "--budget 'huge': choose one of smoke, quick, full"),
    (["study", "table", "-o", "/proc/nope/studies.md"], "/proc/nope/studies.md: cannot write there"),
])
def test_study_mistakes_are_one_line_before_any_work(tmp_path, argv, fragment, capsys):
    code, out, err = run_cli(capsys, "--results", str(tmp_path), *argv)
    assert_one_line(code, err, fragment)
    assert out == "" and files_in(tmp_path) == []


def test_runs_of_an_unknown_kind_is_one_line_naming_the_kinds(tmp_path, capsys):
    with Store(tmp_path).write("sims", "good", {"a": 1}, 0, Stopwatch()):
        pass
    code, out, err = run_cli(capsys, "--results", str(tmp_path), "runs", "nosuchkind")
    assert_one_line(code, err, "unknown run kind 'nosuchkind'; choose one of sims, rules, train, compare, studies")
    assert out == ""
    code, out, _ = run_cli(capsys, "--results", str(tmp_path), "runs", "studies")  # known, none stored: fine
    assert code == 0 and "no runs in" in out


def test_the_kinds_runs_knows_are_the_kinds_runs_are_written_with():
    import sims
    from bridge.cli import RUN_KINDS
    from bridge.experiments.compare import COMPARE_KIND
    from bridge.fitting.rules import RULES_KIND
    from bridge.learning.train import TRAIN_KIND

    try:
        from bridge.experiments.studies import STUDY_KIND
    except ImportError:  # the studies package keeps it in its engine
        from bridge.experiments.studies.engine import STUDY_KIND

    assert sorted(RUN_KINDS) == sorted({sims.KIND, RULES_KIND, TRAIN_KIND, COMPARE_KIND, STUDY_KIND})


@pytest.fixture
def spiking_run(tmp_path):
    """(store, path) of a tiny trained spiking run on digits: one that ``export --to nir`` writes."""
    from bridge.learning.engine import train
    from bridge.learning.train import TrainConfig

    store = Store(tmp_path / "results")
    config = TrainConfig(dataset="digits", neuron="spiking", n_train=64, n_test=32, epochs=1, width=8,
                         batch_size=32, time_steps=4, device="cpu", probe_size=16)
    return store, train(config, store, progress=False)


def test_export_to_nir_takes_a_run_as_fit_does_path_id_or_unique_prefix(spiking_run, tmp_path, capsys):
    store, run = spiking_run
    printed = []
    for index, source in enumerate([str(run), run.stem, run.stem[:6]]):  # the file is <run id>.h5
        output = tmp_path / f"net{index}.nir"
        code, out, err = run_cli(capsys, "--results", str(store.root), "export", source, "--to", "nir",
                                 "-o", str(output))
        assert code == 0, err
        assert output.is_file()
        printed.append(out)
    assert printed[0] == printed[1] == printed[2] and "Affine" in printed[0]
    output = tmp_path / "none.nir"
    code, out, err = run_cli(capsys, "--results", str(store.root), "export", "0123abcd", "--to", "nir",
                             "-o", str(output))
    assert_one_line(code, err, "no run file or run id matching '0123abcd'")
    assert out == "" and not output.exists()
