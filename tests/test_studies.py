"""Studies (issues 10, 11): verdict logic on synthetic results (superiority, non-inferiority,
any-treatment claims), the IP+affine / BN equivalence, each study end to end at smoke budget
(shen-scaling with a scaling rule fitted to a real Brian2 run), and a killed study resuming
from its finished cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kill_cli_after_runs
from torch import nn

from bridge.cli import main
from bridge.core.store import Store
from bridge.experiments.statistics import claim_verdict, holm, paired_effect, verdict
from bridge.experiments.studies import (
    FITTED_NORMS,
    NO_PAIRS,
    STUDIES,
    StudyRun,
    budget_label,
    cell_config,
    cells_wall_minutes,
    claims_rows,
    get_study,
    latest_results,
    plan,
    plot_file,
    run_study,
)
from bridge.experiments.studies import tests_rows as per_test_rows  # 'test*' names would be collected
from bridge.learning.data import fashion_mnist_dir
from bridge.learning.layers import IntrinsicPlasticity

ROOT = Path(__file__).resolve().parents[1]
needs_fashion = pytest.mark.skipif(fashion_mnist_dir() is None, reason="Fashion-MNIST not installed")
RNG = np.random.default_rng(7)


def _judge(differences, negligible=0.01, p_adjusted=None):
    effect = paired_effect(np.asarray(differences))
    return verdict(effect, effect.p if p_adjusted is None else p_adjusted, sign=1, negligible=negligible)


def test_a_clear_effect_is_reproduced_a_reversed_one_refuted_noise_inconclusive():
    assert _judge(0.05 + 0.005 * RNG.standard_normal(5)) == "reproduced"
    assert _judge(-0.05 + 0.005 * RNG.standard_normal(5)) == "refuted"
    assert _judge(0.05 * RNG.standard_normal(5)) == "inconclusive"
    assert _judge([0.05]) == "inconclusive"  # one seed: no interval


def test_a_precise_effect_inside_the_negligible_band_is_refuted_even_when_significant():
    tiny = 0.001 + 0.0002 * RNG.standard_normal(8)
    assert paired_effect(tiny).p < 0.001
    assert _judge(tiny, negligible=0.01) == "refuted"
    assert _judge(tiny, negligible=0.0001) == "reproduced"


def test_paired_effect_is_the_t_interval_of_scipy():
    d = np.array([0.02, 0.035, 0.01, 0.028, 0.041])
    effect = paired_effect(d)
    from scipy import stats

    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert effect.effect == pytest.approx(d.mean())
    assert (effect.low, effect.high) == (pytest.approx(low), pytest.approx(high))
    assert effect.p == pytest.approx(stats.ttest_1samp(d, 0).pvalue)


def test_identical_differences_use_the_exact_sign_test():
    five = paired_effect(np.full(5, 2.0))
    assert (five.effect, five.low, five.high) == (2.0, 2.0, 2.0)
    assert five.p == pytest.approx(0.0625)  # 2 * 0.5**5: five seeds alone cannot reach p < 0.05
    assert paired_effect(np.full(6, 2.0)).p == pytest.approx(0.03125)
    assert paired_effect(np.zeros(5)).p == 1.0


def test_holm_changes_a_borderline_case():
    assert holm([0.04, 0.01, 0.30]) == pytest.approx([0.08, 0.03, 0.30])
    borderline = np.array([0.03, 0.01, 0.045, -0.005, 0.02, 0.035])  # p = 0.029 on its own
    alone = paired_effect(borderline).p
    assert 0.05 / 3 < alone < 0.05
    assert _judge(borderline) == "reproduced"
    assert _judge(borderline, p_adjusted=holm([alone, 0.5, 0.6])[0]) == "inconclusive"  # one of three tests


def test_a_claim_over_several_conditions_needs_all_of_them():
    assert claim_verdict(["reproduced", "reproduced"]) == "reproduced"
    assert claim_verdict(["reproduced", "inconclusive"]) == "inconclusive"
    assert claim_verdict(["refuted", "refuted"]) == "refuted"
    assert claim_verdict(["refuted", "reproduced"]) == "inconclusive"


def test_ip_with_affine_frozen_at_the_batch_statistics_is_batchnorm_in_eval():
    torch.manual_seed(0)
    n = 6
    x = 2.0 + 3.0 * torch.randn(512, n)
    mu, var = x.mean(0), x.var(0, unbiased=False)
    gamma, beta = torch.rand(n) + 0.5, torch.randn(n)
    ip = IntrinsicPlasticity(n, "infomax", affine=True).eval()
    ip.gain, ip.bias = 1 / var.sqrt(), -mu / var.sqrt()  # alpha = 1/sigma, k = -mu/sigma
    with torch.no_grad():
        ip.gamma.copy_(gamma)
        ip.beta.copy_(beta)
    bn = nn.BatchNorm1d(n, eps=0.0).eval()
    bn.running_mean.copy_(mu)
    bn.running_var.copy_(var)
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    torch.testing.assert_close(ip(x), torch.tanh(bn(x)), rtol=1e-5, atol=1e-6)


def test_the_studies_are_declared():
    assert list(STUDIES) == ["shaw-depth", "shaw-lr-robustness", "shaw-gradients", "shaw-information",
                             "shen-scaling", "oja-online", "oja-depth", "oja-bad-init", "snn-depth", "snn-online",
                             "snn-vs-rate", "dale-ann"]
    for study in STUDIES.values():
        assert (study.baseline in study.arms and set(study.treatments) <= set(study.arms)) or study.comparisons
        for comparison in study.comparisons:
            assert set(comparison.treatments + comparison.baselines + comparison.best_of) <= set(study.arms)
        assert set(study.tested) <= set(study.values)
        full = study.budgets["full"]
        assert full.n_test == 10000 and full.epochs >= 10 and len(full.seeds) >= 5
        if full.n_train != 60000 or full.values or full.lrs:  # a cut of the full budget is declared with it
            assert "cut before running" in study.criterion
        if full.n_train != 60000:
            assert f"{full.n_train:,} training images" in study.criterion


def test_non_inferiority_verdicts():
    from scipy import stats

    from bridge.experiments.statistics import non_inferiority_p, non_inferiority_verdict

    def judge(differences, margin=0.01):
        effect = paired_effect(np.asarray(differences))
        return non_inferiority_verdict(effect, non_inferiority_p(differences, margin), margin)

    noise = np.array([0.5, -1.2, 0.3, 1.1, -0.7])
    assert judge(-0.002 + 0.002 * noise) == "reproduced"  # slightly worse, well within 1 point
    assert judge(-0.05 + 0.002 * noise) == "refuted"  # worse by 5 points, measured
    assert judge(-0.01 + 0.05 * noise) == "inconclusive"  # around the margin, imprecise
    assert judge([0.0] * 5) == "reproduced"  # identical: the exact sign test (p = 1/32)
    d = np.array([-0.004, 0.001, -0.002, 0.003, -0.001])
    assert non_inferiority_p(d, 0.01) == pytest.approx(stats.ttest_1samp(d + 0.01, 0, alternative="greater").pvalue)


def test_any_treatment_claims_hold_per_condition_if_one_rate_shows_them():
    from bridge.experiments.studies import _variant_verdict

    def tests(verdicts, any_treatment=True):
        return [{"condition": c, "verdict": v, "any_treatment": any_treatment} for c, v in verdicts]

    assert _variant_verdict(tests([("a", "reproduced"), ("a", "refuted"), ("b", "reproduced")])) == "reproduced"
    assert _variant_verdict(tests([("a", "reproduced"), ("b", "inconclusive")])) == "inconclusive"
    assert _variant_verdict(tests([("a", "refuted"), ("a", "refuted")])) == "refuted"
    assert _variant_verdict(tests([("a", "reproduced"), ("a", "refuted")], False)) == "inconclusive"


@needs_fashion
@pytest.mark.parametrize("name", list(STUDIES))
def test_each_study_runs_end_to_end_at_smoke_budget(tmp_path, name, capsys):
    assert main(["--results", str(tmp_path), "study", "run", name, "--budget", "smoke", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "## Claims" in out and "min of wall time with one or more of them training" in out
    (result,) = latest_results(Store(tmp_path), "smoke")
    study = STUDIES[name]
    assert result["name"] == name and result["verdicts"]
    assert all(v in ("reproduced", "refuted", "inconclusive") for v in result["verdicts"].values())
    for test in result["tests"]:
        assert test["verdict"] in ("reproduced", "refuted", "inconclusive")
        if test.get("metric", "accuracy") == "accuracy":  # other metrics drop a seed whose run diverged
            assert test["n"] == 2 and np.isfinite(test["effect"])
    fitted = {a for a in study.arms if study.arm_fields.get(a, {}).get("norm", a) in FITTED_NORMS}
    assert {c["arm"] for c in result["cells"]} == set(study.arms) - fitted
    assert "effects" in result["plots"]
    assert main(["--results", str(tmp_path), "study", "table", "--budget", "smoke", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == result["run_id"]


@needs_fashion
def test_shen_scaling_runs_with_a_fitted_brian2_scaling_rule(tmp_path, scaling_path, sim_store, capsys):
    from bridge.fitting.rules import save_rule
    from bridge.fitting.runs import fit_run

    save_rule(fit_run(scaling_path, sim_store, "smoke-scaling"), Store(tmp_path))
    argv = ["--results", str(tmp_path), "study", "run", "shen-scaling", "--budget", "smoke", "--quiet"]
    assert main([*argv, "--rule", "smoke-scaling"]) == 0
    (result,) = latest_results(Store(tmp_path), "smoke")
    assert {c["arm"] for c in result["cells"]} == set(STUDIES["shen-scaling"].arms)
    competitive = [t for t in result["tests"] if t["kind"] == "non-inferiority"]
    assert {t["treatment"] for t in competitive} == {"scaling", "fitted"}
    assert all("best of bn, ln, wn" in t["baseline"] for t in competitive)
    assert {"effects", "accuracy", "unit_cv"} <= set(result["plots"])
    report = tmp_path / "report.html"
    assert main(["--results", str(tmp_path), "report", "-o", str(report)]) == 0  # a study on named settings
    assert "fashion-mnist mlp" in report.read_text() and "min of wall time" in report.read_text()


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


def test_arms_are_paired_by_seed_same_initial_weights_and_data_order():
    from bridge.learning.data import load
    from bridge.learning.train import build

    study = get_study("shaw-depth")
    budget = study.budgets["smoke"]
    data = load("digits")
    nets = {arm: build(cell_config(study, budget, "", (arm, 10, 0.05, 1)), data)
            for arm in ("none", "bn", "bn-noaffine", "ip-infomax", "ip-infomax+affine")}
    weights = {arm: [m.weight for m in net.modules() if isinstance(m, nn.Linear)] for arm, net in nets.items()}
    for arm, linear in weights.items():
        assert len(linear) == 10
        for mine, reference in zip(linear, weights["none"]):
            assert torch.equal(mine, reference), arm
    # the data order comes from one generator seeded by TrainConfig.seed (train.run_training)
    assert {cell_config(study, budget, "", (arm, 10, 0.05, 1)).seed for arm in nets} == {1}


def test_a_study_run_on_the_gpu_is_labelled_and_kept_apart_from_the_cpu_one(tmp_path):
    cpu, cuda = ({"name": "snn-depth", "budget": "full", "device": device} for device in ("cpu", "cuda"))
    assert (budget_label(cpu), budget_label(cuda)) == ("full", "full cuda")
    assert plot_file(cpu, "accuracy") != plot_file(cuda, "accuracy") == "snn-depth-full-cuda-accuracy.png"
    for name in STUDIES:  # on the CPU (the default) every cell keeps the config, so the id, it had before
        study, budget, keys, configs = plan(StudyRun(study=name, budget="smoke"), Store(tmp_path))
        assert configs == [cell_config(study, budget, "", key) for key in keys], name
    on_gpu = configs[0].model_copy(update={"device": "cuda"})
    assert on_gpu.to_dict() != configs[0].to_dict()  # a GPU cell is a run of its own


def test_a_test_without_pairs_reads_as_such_not_as_nan():
    nan = float("nan")
    empty = {"variant": "v", "condition": "", "treatment": "a", "baseline": "b", "effect": nan, "low": nan,
             "high": nan, "n": 0, "p": 1.0, "p_holm": 1.0, "verdict": "inconclusive"}
    result = {"name": "s", "budget": "full", "device": "cpu", "verdicts": {"v": "inconclusive"}, "tests": [empty],
              "study": {"claim": "c", "source": "x"}}
    (claim,) = claims_rows([result])
    (row,) = per_test_rows([result])
    assert NO_PAIRS in claim[-1] and row[5] == NO_PAIRS and row[6] == "-"
    assert "nan" not in " ".join(map(str, claim + row))
