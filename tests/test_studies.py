"""Studies (issue 10): verdict logic on synthetic results, the IP+affine / BN equivalence, each
study end to end at smoke budget, and a killed study resuming from its finished cells."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bridge.cli import main
from bridge.core.store import Store
from bridge.experiments.statistics import claim_verdict, holm, paired_effect, verdict
from bridge.experiments.studies import STUDIES, StudyRun, latest_results, run_study
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


def test_the_four_studies_are_declared():
    assert list(STUDIES) == ["shaw-depth", "shaw-lr-robustness", "shaw-gradients", "shaw-information"]
    for study in STUDIES.values():
        assert study.baseline in study.arms and set(study.treatments) <= set(study.arms)
        full = study.budgets["full"]
        assert full.n_train == 60000 and full.n_test == 10000 and full.epochs >= 10 and len(full.seeds) >= 5


@needs_fashion
@pytest.mark.parametrize("name", list(STUDIES))
def test_each_study_runs_end_to_end_at_smoke_budget(tmp_path, name, capsys):
    assert main(["--results", str(tmp_path), "study", "run", name, "--budget", "smoke", "--quiet"]) == 0
    assert "## Claims" in capsys.readouterr().out
    (result,) = latest_results(Store(tmp_path), "smoke")
    study = STUDIES[name]
    assert result["name"] == name and result["verdicts"]
    assert all(v in ("reproduced", "refuted", "inconclusive") for v in result["verdicts"].values())
    for test in result["tests"]:
        assert test["n"] == 2 and test["verdict"] in ("reproduced", "refuted", "inconclusive")
        assert np.isfinite(test["effect"])
    assert {c["arm"] for c in result["cells"]} == {a for a in study.arms if a != "fitted+affine"}
    assert "effects" in result["plots"]
    assert main(["--results", str(tmp_path), "study", "table", "--budget", "smoke", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == result["run_id"]


@needs_fashion
def test_a_killed_study_resumes_from_its_finished_cells(tmp_path):
    argv = [sys.executable, "-m", "bridge.cli", "--results", str(tmp_path), "study", "run", "shaw-lr-robustness",
            "--budget", "smoke", "--workers", "1", "--quiet"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("train/*/*.h5"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p: p.stat().st_mtime_ns for p in tmp_path.glob("train/*/*.h5")}
    total = len(STUDIES["shaw-lr-robustness"].arms) * 7 * 2
    assert 3 <= len(finished) < total and not list(tmp_path.glob("studies/*/*.h5"))
    run_study(StudyRun(study="shaw-lr-robustness", budget="smoke", workers=1), Store(tmp_path), progress=False)
    assert len(list(tmp_path.glob("train/*/*.h5"))) == total
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items())  # reused, not retrained


def test_arms_are_paired_by_seed_same_initial_weights_and_data_order():
    from bridge.experiments.studies import cell_config, get_study
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
