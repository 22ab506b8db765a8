"""Studies (issues 10, 11, 23): the one statistics rule both ways (ties, Holm on refutations,
non-inferiority), the diverged policy on every metric, selection on the validation split,
per-condition verdicts, the declaration's validator, the generated findings, each study end
to end at smoke budget and a killed study resuming from its finished cells."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kill_cli_after_runs
from pydantic import ValidationError
from torch import nn

from bridge.cli import main
from bridge.core.store import Store
from bridge.experiments.metrics import CHANCE, METRICS, metric_value
from bridge.experiments.statistics import (
    PValues,
    holm,
    p_values_of,
    paired_differences,
    paired_effect,
    sign_flip_p,
    verdict,
)
from bridge.experiments.studies import (
    FITTED_NORMS,
    STUDIES,
    CellKey,
    StudyRun,
    latest_results,
    read_snapshot,
    run_study,
    with_findings,
)
from bridge.experiments.studies.catalogue.common import budgets
from bridge.experiments.studies.declaration import Comparison, Study
from bridge.experiments.studies.judging import Labels, own_best, pair, variant_verdicts
from bridge.experiments.studies.tables import FINDINGS_BEGIN, FINDINGS_END, cells_wall_minutes, claims_rows
from bridge.learning.data import fashion_mnist_dir, load
from bridge.learning.train import GradNorms

ROOT = Path(__file__).resolve().parents[1]
needs_fashion = pytest.mark.skipif(fashion_mnist_dir() is None, reason="Fashion-MNIST not installed")
RNG = np.random.default_rng(7)
BETTER = Comparison(variant="v", metric="accuracy", treatments=("t",), baselines=("b",), negligible=0.005)
AS_GOOD = Comparison(variant="v", metric="accuracy", treatments=("t",), baselines=("b",), negligible=0.01,
                     kind="non-inferiority")


def _verdict(differences, comparison: Comparison = BETTER, family: list[PValues] = ()) -> str:
    """The verdict of one test of ``differences`` (baseline 0.8), judged in a study with ``family``'s
    tests: Holm over every claim and refutation p, at most one null of each test true."""
    d = np.asarray(differences, dtype=float)
    test = pair(comparison, Labels("v", "", "t", "b"), 0.8 + d, np.full(d.size, 0.8))
    m = 1 + len(family)
    adjusted = holm([test.p, *(f.claim for f in family), test.p_refutation, *(f.refutation for f in family)], m)
    return test.judged(adjusted[0], adjusted[m]).verdict


def test_a_clear_effect_is_reproduced_a_reversed_one_refuted_noise_inconclusive():
    assert _verdict(0.05 + 0.005 * RNG.standard_normal(10)) == "reproduced"
    assert _verdict(-0.05 + 0.005 * RNG.standard_normal(10)) == "refuted"
    assert _verdict(0.05 * RNG.standard_normal(10)) == "inconclusive"
    assert _verdict([0.05]) == "inconclusive"  # one seed


def test_ties_are_judged_alike_both_ways():
    assert _verdict(np.full(10, 0.02)) == "reproduced"  # identical positive: p = 2/2^10
    assert _verdict(np.zeros(10)) == "refuted"  # identical zero: inside the band, p = 2/2^10
    # at 5 seeds neither direction can be shown (smallest p 0.0625): both inconclusive
    assert _verdict(np.full(5, 0.02)) == _verdict(np.zeros(5)) == "inconclusive"
    assert sign_flip_p(np.full(5, 2.0)) == pytest.approx(0.0625)
    # near-identical floats: a difference of 1e-17 is a tie, not a significant effect
    t = np.full(10, 0.3) + 1e-17 * np.arange(10)
    assert not paired_differences(t, np.full(10, 0.3)).any()
    tiny = pair(BETTER, Labels("v", "", "t", "b"), t, np.full(10, 0.3))
    assert tiny.p == 1.0 and tiny.p_refutation < 0.01


def test_p_and_ci_come_from_one_method():
    d = 0.01 + 0.02 * RNG.standard_normal(10)
    effect = paired_effect(d)
    assert effect.effect == pytest.approx(d.mean())
    assert sign_flip_p(d, effect.low) >= 0.05 and sign_flip_p(d, effect.low - 1e-6) < 0.05  # the inverted test
    assert sign_flip_p(d, effect.high) >= 0.05 and sign_flip_p(d, effect.high + 1e-6) < 0.05
    assert (sign_flip_p(d) < 0.05) == (not effect.low <= 0 <= effect.high)
    # non-inferiority at the CI's level: p < 0.05 exactly when the CI's low end clears -margin
    for margin in (0.0, 0.005, 0.02, 0.05):
        assert (p_values_of(d, "non-inferiority", margin).claim < 0.05) == (effect.low > -margin)


def test_non_inferiority_and_inferiority_at_the_same_level():
    noise = RNG.standard_normal(10)
    assert _verdict(-0.002 + 0.002 * noise, AS_GOOD) == "reproduced"  # slightly worse, well within 1 point
    assert _verdict(-0.05 + 0.002 * noise, AS_GOOD) == "refuted"  # worse by 5 points, measured
    assert _verdict(-0.01 + 0.05 * noise, AS_GOOD) == "inconclusive"  # around the margin, imprecise
    assert _verdict(np.zeros(10), AS_GOOD) == "reproduced"
    assert _verdict(np.zeros(5), AS_GOOD) == "inconclusive"  # 5 seeds: neither way


def test_holm_applies_to_refutations_as_to_reproductions():
    assert holm([0.04, 0.01, 0.30]) == pytest.approx([0.08, 0.03, 0.30])
    # claims and refutations of 2 tests, one family: at most 2 of the 4 nulls true, multipliers capped at 2
    assert holm([0.01, 0.02, 0.5, 0.4], true_at_most=2) == pytest.approx([0.02, 0.04, 0.8, 0.8])
    negligible = 0.0005 * RNG.standard_normal(10)
    assert _verdict(negligible) == "refuted"  # alone: inside the band, measured
    alone = p_values_of(paired_differences(negligible, np.zeros(10)), "superiority", 0.005).refutation
    assert alone < 0.05 < 30 * alone
    others = [PValues(0.5, 0.003)] * 29  # 29 more refutations in the study's family
    assert _verdict(negligible, family=others) == "inconclusive"
    assert verdict("superiority", paired_effect(np.ones(10)), PValues(0.01, 0.01), 1) == "refuted"  # band first


def _history(status="ok", **values) -> dict:
    epochs = 2
    base = {"status": status, "width": 16, "kernel_sigma": 0.1, "n_val": 100, "test_accuracy": np.array([0.5, 0.6]),
            "val_accuracy": np.array([0.55, 0.65]), "weight_grad_norm": np.full((epochs, 4), 0.1),
            "info_potential": np.full((epochs, 3), 0.5), "unit_cv": np.full((epochs, 3), 0.2),
            "dead_fraction": np.zeros((epochs, 3)), "act_std": np.ones((epochs, 3)),
            "spike_health": np.zeros((epochs, 2, 11))}
    return {**base, **values}


@pytest.mark.parametrize("name", list(METRICS))
def test_a_diverged_run_takes_its_metric_worst_value(name):
    metric = METRICS[name]
    converged, diverged = _history(), _history("diverged", test_accuracy=np.array([np.nan]))
    worst = metric_value(diverged, name)
    assert worst == metric.worst(diverged) and np.isfinite(worst)
    assert (worst - metric_value(converged, name)) * metric.better < 0  # worse than a run that trained
    if name == "accuracy":
        assert worst == CHANCE


def test_a_converged_run_is_clipped_at_the_worst_value_and_a_non_finite_read_is_it():
    exploding = _history(act_std=np.array([[1.0, 1e-9, 1e-9]] * 2))  # drift 9 decades: clipped at 6
    assert metric_value(exploding, "activity_drift") == METRICS["activity_drift"].worst(exploding)
    vanished = _history(weight_grad_norm=np.zeros((2, 4)))  # log10(0) = -inf: the worst value
    assert metric_value(vanished, "gradients") == METRICS["gradients"].worst(vanished)
    stored_before = _history(weight_grad_norm=np.full((2, 4), np.nan))  # never recorded: no value
    assert np.isnan(metric_value(stored_before, "gradients"))


def test_a_design_that_cannot_reach_a_verdict_says_so():
    from bridge.experiments.studies.results import StudyResult
    from bridge.experiments.studies.tables import reach_text, smallest_holm_p

    def result(seeds: int, tests: int) -> StudyResult:
        test = pair(BETTER, Labels("v", "", "t", "b"), np.full(seeds, 0.9), np.full(seeds, 0.8))
        return StudyResult(name="s", budget="full", run_id="r", finished="f", wall_seconds=1.0, study={},
                           tests=(test,) * tests, cells=tuple({"seed": s} for s in range(seeds)))

    assert smallest_holm_p(result(5, 1)) == pytest.approx(0.0625) and "no verdict reachable" in reach_text(result(5, 1))
    assert smallest_holm_p(result(10, 24)) == pytest.approx(24 / 512) and "no verdict" not in reach_text(result(10, 24))


def test_plots_stack_runs_that_stopped_early():
    from bridge.experiments.plots import stack_padded

    stacked = stack_padded([[0.5, 0.6, 0.7], [0.5]])  # the second run diverged in epoch 1
    assert stacked.shape == (2, 3) and np.isnan(stacked[1, 1:]).all()


def test_a_diverged_treatment_counts_against_it_in_every_metric():
    drift = Comparison(variant="v", metric="activity_drift", treatments=("t",), baselines=("b",), sign=-1,
                       negligible=0.05)
    histories = {CellKey(arm, 1, 0.05, s): _history("diverged" if arm == "t" else "ok") for arm in "tb"
                 for s in range(10)}
    from bridge.experiments.studies.judging import seed_values

    t, t_diverged = seed_values(histories, CellKey("t", 1, 0.05, 0), range(10), "activity_drift")
    b, _ = seed_values(histories, CellKey("b", 1, 0.05, 0), range(10), "activity_drift")
    test = pair(drift, Labels("v", "", "t", "b"), t, b, (t_diverged, 0))
    assert test.n == 10 and test.diverged == (10, 0) and test.effect > 0  # not dropped: worse drift
    assert test.judged(test.p, test.p_refutation).verdict == "refuted"


def _lr_study(**changes) -> Study:
    fields = dict(
        name="s", claim="c", source="x", declared=dt.date(2026, 12, 1), protocol="p",
        comparisons=(Comparison(variant="v", metric="accuracy", treatments=("t",), baselines=("b",),
                                negligible=0.005),),
        arms=("t", "b"), axis="depth", values=(2, 4), tested=(4,), lrs=(0.01, 0.1), fixed={},
        budgets=budgets())
    return Study(**{**fields, **changes})


def test_the_study_validator_refuses_inconsistent_declarations():
    _lr_study()
    with pytest.raises(ValidationError, match="not arms"):
        _lr_study(comparisons=(Comparison(variant="v", metric="accuracy", treatments=("ghost",),
                                          baselines=("b",), negligible=0.005),))
    with pytest.raises(ValidationError, match="not in the sweep"):
        _lr_study(tested=(8,))
    with pytest.raises(ValidationError, match="dated before the declaration"):
        _lr_study(amendments=({"on": "2026-01-01", "what": "w", "reason": "r", "after_look": True},))
    with pytest.raises(ValidationError, match="better when lower"):
        Comparison(variant="v", metric="unit_cv", treatments=("t",), baselines=("b",), negligible=0.02)


def test_the_best_learning_rate_is_chosen_on_validation_not_test():
    study = _lr_study()
    histories = {}
    for s in range(3):  # at lr 0.01 validation is better, at 0.1 test is
        histories[CellKey("t", 4, 0.01, s)] = _history(val_accuracy=np.array([0.9]), test_accuracy=np.array([0.5]))
        histories[CellKey("t", 4, 0.1, s)] = _history(val_accuracy=np.array([0.6]), test_accuracy=np.array([0.8]))
    assert own_best(study, histories, "t", 4, range(3)) == (0.01, "validation")
    for key, history in histories.items():  # runs stored without a split: test accuracy, and said so
        histories[key] = {**history, "n_val": 0, "val_accuracy": np.array([np.nan])}
    assert own_best(study, histories, "t", 4, range(3)) == (0.1, "test")


def test_the_validation_split_is_disjoint_from_training():
    data = load("digits")
    train, val = data.validation_indices(1000, 300)
    assert not set(train.tolist()) & set(val.tolist()) and len(val) == 300
    assert (val == torch.arange(data.x_train.shape[0] - 300, data.x_train.shape[0])).all()
    x_val, _ = data.held_out(1000, 300)
    assert torch.equal(x_val, data.x_train[val])
    from bridge.core.errors import UserError

    with pytest.raises(UserError, match="validation split"):
        data.validation_indices(1347, 1)


def test_the_gradient_metric_reads_weight_matrices_only():
    torch.manual_seed(0)
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), nn.Linear(3, 2)])
    loss = net.blocks[1](net.blocks[0](torch.randn(8, 4))).square().sum()
    loss.backward()
    every, weights = GradNorms(net)()
    first = net.blocks[0]
    assert weights[0] == pytest.approx(float(first[0].weight.grad.norm()))
    assert every[0] == pytest.approx(float(torch.cat([p.grad.flatten() for p in first.parameters()]).norm()))
    assert weights[1] == pytest.approx(float(net.blocks[1].weight.grad.norm()))


def test_a_claim_over_several_conditions_reports_each_condition():
    def judged(condition, d):
        test = pair(BETTER, Labels("v", condition, "t", "b"), 0.8 + np.asarray(d), np.full(10, 0.8))
        return test.judged(test.p, test.p_refutation)

    tests = [judged("depth 20", np.full(10, 0.1)), judged("depth 10", np.full(10, -0.1))]
    (result,) = variant_verdicts(tests).values()
    assert result.conditions == {"depth 20": "reproduced", "depth 10": "refuted"} and result.overall == "inconclusive"
    from bridge.experiments.studies.results import StudyResult

    stored = StudyResult(name="s", budget="full", run_id="r", finished="f", wall_seconds=1.0, tests=tuple(tests),
                         cells=(), study={"claim": "c", "declared": "2026-11-25"})
    (row,) = claims_rows([stored])
    assert "reproduced at depth 20; refuted at depth 10" in row and "**inconclusive**" in row


def test_any_treatment_claims_hold_per_condition_if_one_rate_shows_them():
    anyone = BETTER.model_copy(update={"any_treatment": True})
    tests = [pair(anyone, Labels("v", "a", t, "b"), 0.8 + np.full(10, d), np.full(10, 0.8))
             for t, d in (("t1", 0.1), ("t2", -0.1))]
    tests = [t.judged(t.p, t.p_refutation) for t in tests]
    assert variant_verdicts(tests)["v"].conditions == {"a": "reproduced"}


def test_the_readme_findings_are_the_generated_ones():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert FINDINGS_BEGIN in readme and FINDINGS_END in readme
    assert readme == with_findings(readme, read_snapshot(ROOT / "docs" / "studies.json"))


def test_every_declaration_states_its_full_budget_cuts():
    """The full budget: 10 seeds, 55,000 training images and 5,000 held out for validation, unless
    a cut declared before the runs says otherwise."""
    for study in STUDIES.values():
        full = study.budgets["full"]
        assert full.n_test == 10000 and full.epochs >= 10 and len(full.seeds) >= 10 and full.n_val == 5000
        cut_text = " ".join(c.what for c in study.cuts if c.before_runs)
        if full.n_train != 55000:
            assert f"{full.n_train:,}" in cut_text, study.name
        if full.width != 256:
            assert str(full.width) in cut_text or study.name == "dale-ann", study.name  # dale: the reference's 500


@needs_fashion
@pytest.mark.parametrize("name", list(STUDIES))
def test_each_study_runs_end_to_end_at_smoke_budget(tmp_path, name, capsys):
    assert main(["--results", str(tmp_path), "study", "run", name, "--budget", "smoke", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "## Claims" in out and "protocol check, not a finding" in out
    (result,) = latest_results(Store(tmp_path), "smoke")
    study = STUDIES[name]
    assert result.name == name and result.verdicts and not result.is_finding
    for test in result.tests:
        assert test.verdict in ("reproduced", "refuted", "inconclusive")
        assert test.n == 2 and np.isfinite(test.effect)  # every metric keeps every seed (diverged: worst value)
        assert test.selected_on != "test" or study.axis == "setting"  # smoke holds out a validation split
    fitted = {a for a in study.arms if study.arm_fields.get(a, {}).get("norm", a) in FITTED_NORMS}
    assert {c["arm"] for c in result.cells} == set(study.arms) - fitted
    assert "effects" in result.plots
    assert main(["--results", str(tmp_path), "study", "table", "--budget", "smoke", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == result.run_id


@needs_fashion
def test_shen_scaling_runs_with_a_fitted_brian2_scaling_rule(tmp_path, scaling_path, sim_store, capsys):
    from bridge.fitting.rules import save_rule
    from bridge.fitting.runs import fit_run

    save_rule(fit_run(scaling_path, sim_store, "smoke-scaling"), Store(tmp_path))
    argv = ["--results", str(tmp_path), "study", "run", "shen-scaling", "--budget", "smoke", "--quiet"]
    assert main([*argv, "--rule", "smoke-scaling"]) == 0
    (result,) = latest_results(Store(tmp_path), "smoke")
    assert {c["arm"] for c in result.cells} == set(STUDIES["shen-scaling"].arms)
    competitive = [t for t in result.tests if t.kind == "non-inferiority"]
    assert {t.treatment for t in competitive} == {"scaling", "fitted"}
    assert all("best of bn, ln, wn" in t.baseline for t in competitive)
    assert {"effects", "accuracy", "unit_cv"} <= set(result.plots)
    report = tmp_path / "report.html"
    assert main(["--results", str(tmp_path), "report", "-o", str(report)]) == 0  # a study on named settings
    page = report.read_text()
    assert "fashion-mnist mlp" in page and "protocol check, not a finding" in page
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{FINDINGS_BEGIN}\nold\n{FINDINGS_END}\ntail\n")
    assert main(["--results", str(tmp_path), "study", "table", "--budget", "smoke", "--summary", str(readme),
                 "-o", str(tmp_path / "studies.md")]) == 0
    assert "old" not in readme.read_text() and "no finding to state yet" in readme.read_text()  # smoke: none
    assert read_snapshot(tmp_path / "studies.json")[0].run_id == result.run_id


def test_a_study_refuses_a_rule_of_the_wrong_kind_before_any_work(tmp_path, capsys):
    from test_layers import make_rule

    from bridge.fitting.rules import save_rule

    save_rule(make_rule(), Store(tmp_path))
    argv = ["--results", str(tmp_path), "study", "run", "shen-scaling", "--budget", "smoke", "--quiet"]
    assert main([*argv, "--rule", "hand"]) == 2
    err = capsys.readouterr().err
    assert "needs a rule fitted to a synaptic-scaling model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "train").exists()


def test_a_study_wall_time_counts_overlapping_cells_once_and_not_the_gaps_between_sessions():
    def cell(start: str, seconds: float) -> dict:
        return {"started": f"2026-11-26T10:{start}+00:00", "seconds": seconds}

    two_workers = [cell("00:00", 60), cell("00:30", 60), cell("00:40", 10)]  # 10:00:00-10:01:30
    next_session = [cell("30:00", 30)]  # half an hour later
    assert cells_wall_minutes(two_workers + next_session) == pytest.approx((90 + 30) / 60)
    assert cells_wall_minutes([{"seconds": 60}]) is None  # a result stored before cells had their start


@needs_fashion
def test_a_killed_study_resumes_from_its_finished_cells(tmp_path):
    kill_cli_after_runs(["study", "run", "shaw-lr-robustness", "--budget", "smoke", "--workers", "1", "--quiet"],
                        tmp_path, runs=3)
    finished = {p: p.stat().st_mtime_ns for p in tmp_path.glob("train/*/*.h5")}
    total = len(STUDIES["shaw-lr-robustness"].arms) * 7 * 2
    assert 3 <= len(finished) < total and not list(tmp_path.glob("studies/*/*.h5"))
    run_study(StudyRun(study="shaw-lr-robustness", budget="smoke", workers=1), Store(tmp_path), progress=False)
    assert len(list(tmp_path.glob("train/*/*.h5"))) == total
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items())  # reused, not retrained


def test_a_study_run_on_the_gpu_is_kept_apart_from_the_cpu_one(tmp_path):
    from bridge.experiments.studies import cell_config, plan
    from bridge.experiments.studies.results import StudyResult

    def result(device):
        return StudyResult(name="snn-depth", budget="full", device=device, run_id="r", finished="f",
                           wall_seconds=1.0, study={}, tests=(), cells=())

    from bridge.experiments.studies import plot_file

    assert (result("cpu").label, result("cuda").label) == ("full", "full cuda")
    assert plot_file(result("cpu"), "accuracy") != plot_file(result("cuda"), "accuracy")
    for name in STUDIES:  # on the CPU (the default) every cell keeps its config
        study, budget, keys, configs = plan(StudyRun(study=name, budget="smoke"), Store(tmp_path))
        assert configs == [cell_config(study, budget, "", key) for key in keys], name
    on_gpu = configs[0].model_copy(update={"device": "cuda"})
    assert on_gpu.to_dict() != configs[0].to_dict()  # a GPU cell is a run of its own


def test_a_test_without_recorded_values_reads_as_such_not_as_nan():
    test = pair(BETTER, Labels("v", "", "t", "b"), [np.nan] * 3, [0.5] * 3)
    assert test.n == 0 and "not recorded" in test.note and test.judged(1.0, 1.0).verdict == "inconclusive"


def test_a_study_on_the_single_engine_plans_every_cell_there_as_runs_of_their_own(tmp_path):
    from bridge.experiments.studies import plan
    from bridge.learning.ensemble import engine_of

    default = plan(StudyRun(study="oja-online", budget="smoke"), Store(tmp_path))[3]
    reference = plan(StudyRun(study="oja-online", budget="smoke", engine="single"), Store(tmp_path))[3]
    assert {engine_of(c) for c in default} == {"ensemble"} and {engine_of(c) for c in reference} == {"single"}
    assert all(a.to_dict() != b.to_dict() for a, b in zip(default, reference))


def test_a_studys_declaration_and_its_cuts_precede_its_runs(tmp_path):
    """Read from the store: every cell of a study ran after the study's declaration date and after
    every cut declared before the runs; a result that breaks it says so (and the committed
    snapshot has none)."""
    from bridge.experiments.studies import StudyRun, latest_results, run_study
    from bridge.experiments.studies.results import read_snapshot

    store = Store(tmp_path)
    run_study(StudyRun(study="shaw-information", budget="smoke", workers=1), store, progress=False)
    (result,) = latest_results(store)
    assert result.cells and result.declared_after_runs == []
    late = {**result.study, "declared": "2099-01-01"}
    assert "the declaration (2099-01-01) postdates" in result.model_copy(update={"study": late}).declared_after_runs[0]
    snapshot = read_snapshot(Path(__file__).resolve().parents[1] / "docs" / "studies.json")
    assert all(r.declared_after_runs == [] for r in snapshot)


def test_the_changes_since_the_last_catalogue_name_each_tests_verdicts_and_why(tmp_path):
    from bridge.experiments.studies import StudyRun, change_rows, latest_results, previous_results, run_study

    store = Store(tmp_path)
    run_study(StudyRun(study="shaw-information", budget="smoke", workers=1), store, progress=False)
    (stored,) = latest_results(store)
    before = stored.model_copy(update={"budget": "full"})
    redeclared = {**before.study, "budgets": {**before.study["budgets"],
                                              "full": {**before.study["budgets"]["full"], "n_train": 99}}}
    kept, dropped = before.tests[0], before.tests[-1]
    now = before.model_copy(update={
        "study": redeclared, "finished": "9999", "tests": (
            kept.model_copy(update={"n": kept.n + 5, "selected_on": "validation", "verdict": "reproduced"}),
            kept.model_copy(update={"condition": "depth 99"}))})
    rows = change_rows([now], {("shaw-information", "cpu"): before})
    assert rows[0][4:6] == [kept.verdict, "reproduced"]
    assert f"{kept.n} -> {kept.n + 5} seeds" in rows[0][6] and "on declared -> validation" in rows[0][6]
    assert "-> 99 training images" in rows[0][6]
    assert rows[1][4] == "not tested" and rows[1][6] == "new condition"
    assert rows[-1][5] == "not tested" and rows[-1][3] == f"{dropped.treatment} vs {dropped.baseline}"
    older = before.model_copy(update={"finished": "0000"})
    assert previous_results([stored, older, before, now], [now]) == {("shaw-information", "cpu"): before}  # newest
    assert previous_results([now], [now]) == {}  # the same declaration is no earlier catalogue


def test_a_study_with_no_earlier_result_in_the_store_is_set_beside_the_first_catalogues_record():
    """docs/studies-v1.md (the v1 catalogue, whose store is elsewhere) read into typed rows; the
    committed full-budget results beside it: each test's verdict then and now, and why."""
    from bridge.cli import CATALOGUE, FIRST_CATALOGUE
    from bridge.experiments.studies import read_record, read_snapshot, record_rows

    recorded = read_record(FIRST_CATALOGUE)
    full = [r for r in recorded if r.budget == "full"]
    assert len(full) == 94 and {r.n for r in full} == {0, 5}  # every full-budget row (0: no seed with values)
    assert {r.verdict for r in recorded} <= {"reproduced", "refuted", "inconclusive"}
    rows = record_rows(read_snapshot(CATALOGUE), {}, recorded)
    oja = [row for row in rows if row[0] == "oja-bad-init"]
    assert oja and all(row[4] in ("reproduced", "refuted", "inconclusive") for row in oja)
    assert all(row[6].startswith("5 -> 10 seeds; learning rate chosen on test -> validation") for row in oja)
    assert record_rows(read_snapshot(CATALOGUE), {("oja-bad-init", "cpu"): None}, recorded) != rows  # in the store
