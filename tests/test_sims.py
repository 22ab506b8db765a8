"""Acceptance of the Brian2 experiments (issue 3): numbers a user would check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bridge.cli import main
from bridge.core.errors import UserError
from bridge.core.store import Store, open_run
from sims import configure, run


def per_cell(run_file, values: np.ndarray) -> np.ndarray:
    cell = run_file.array("conditions/cell")
    return np.array([values[cell == c].mean() for c in range(cell.max() + 1)])


def test_triesch_sweep_converges_to_batchnorm_form(triesch_sweep_path):
    with open_run(triesch_sweep_path, "sims") as r:
        mu, sigma = r.array("conditions/mu"), r.array("conditions/sigma")
        gain, bias = r.array("final/gain"), r.array("final/bias")
        gain_sigma = per_cell(r, gain * sigma)
        offset = per_cell(r, bias + gain * mu)
        output_mean = per_cell(r, r.array("final/output_mean"))
        assert len(gain_sigma) == 25 and len(np.unique(mu)) == 5 and len(np.unique(sigma)) == 5
        assert r.require("model").attrs["model"] == "rate-ip-triesch"
    assert gain_sigma.std() / gain_sigma.mean() < 0.05
    assert np.ptp(offset) < 0.05 * abs(offset.mean())
    assert np.all(np.abs(output_mean - 0.1) < 0.01)


def test_sweep_store_schema(triesch_sweep_path):
    with open_run(triesch_sweep_path, "sims") as r:
        n = len(r.array("conditions/mu"))
        t = r.array("traces/t")
        assert r.array("traces/gain").shape == r.array("traces/bias").shape == (len(t), n)
        for key in ("final/gain", "final/bias", "final/output_mean", "final/output_var"):
            assert r.array(key).shape == (n,)
        assert r.array("fi/response").shape == (n, len(r.array("fi/input")))
        attrs = r.require("model").attrs
        assert attrs["transfer"] == "sigmoid" and "da/dt" in attrs["equations"]
        assert '"mu_target": 0.1' in attrs["targets"]
        response = r.array("fi/response")
        assert np.all(np.diff(response, axis=1) >= 0)  # monotone sigmoid f-I


def test_lif_ip_sweep_reaches_target_rate_and_slope_falls_with_sigma(lif_sweep_path):
    with open_run(lif_sweep_path, "sims") as r:
        rate = per_cell(r, r.array("final/output_mean"))
        sigma = per_cell(r, r.array("conditions/sigma"))
        target = 10.0
        x, response = r.array("fi/input"), r.array("fi/response")
        slope = per_cell(r, np.gradient(response, x, axis=1).max(axis=1))
        assert "final/threshold" in r.h5
    assert len(rate) == 9
    assert np.all(np.abs(rate - target) < 0.1 * target)
    for s_low, s_high in zip(np.unique(sigma)[:-1], np.unique(sigma)[1:]):
        assert slope[sigma == s_high].max() < slope[sigma == s_low].min()


def test_scaling_recovers_rate_and_keeps_relative_weights(scaling_path):
    with open_run(scaling_path, "sims") as r:
        rate, target = r.array("final/rate"), r.h5.attrs["target_rate"]
        before, after = r.array("initial/weights"), r.array("final/weights")
        assert r.config["factor"] == 2.0
    assert abs(rate.mean() - target) < 0.05 * target
    assert np.all(np.abs(rate - target) < 0.1 * target)
    assert after.mean() < 0.75 * before.mean()  # scaled down after the inputs doubled
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.99  # all weights pooled
    for row_before, row_after in zip(before, after):  # each neuron: exactly proportional
        assert np.corrcoef(row_before, row_after)[0, 1] > 0.9999


def test_information_ip_raises_output_entropy(sim_store):
    path = run("information", ["duration=20", "measure=5", 'model_params={"eta": 0.005}'],
               "numpy", sim_store)
    with open_run(path, "sims") as r:
        ip, no_ip = r.array("ip/entropy"), r.array("no_ip/entropy")
        renyi_ip, renyi_no = r.array("ip/renyi_entropy"), r.array("no_ip/renyi_entropy")
    assert ip > no_ip + 0.2
    assert renyi_ip > renyi_no


def test_rerun_finds_the_complete_run(triesch_sweep_path, sim_store):
    from conftest import TRIESCH_SWEEP

    assert run("homeostasis-sweep", TRIESCH_SWEEP, "numpy", sim_store) == triesch_sweep_path


@pytest.mark.parametrize("argv, message", [
    (["sim", "nope"], "unknown experiment 'nope'"),
    (["sim", "scaling", "--set", "factor=two"], "factor"),
    (["sim", "scaling", "--backend", "gpu"], "unknown backend"),
    (["sim", "homeostasis-sweep", "--set", "model=oja"], "--set model: 'oja' is neither an IP model"),
    (["sim", "homeostasis-sweep", "--set", "model=missing.toml"], "model file missing.toml: No such file"),
    (["sim", "homeostasis-sweep", "--set", "duration=20"], "need 0 < measure <= duration"),
    (["sim", "homeostasis-sweep", "--set", "dt=nan"], "--set dt: Input should be a finite number"),
    (["sim", "scaling", "--set", "measure=50"], "need 0 < measure <= recover"),
])
def test_cli_mistakes_are_one_line(argv, message, capsys, tmp_path):
    assert main(["--results", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_models_cli_lists_json(capsys):
    assert main(["models", "--json"]) == 0
    assert '"lif-ip"' in capsys.readouterr().out


def test_bad_model_params_are_user_errors_before_any_work():
    with pytest.raises(UserError, match="unknown parameter"):
        configure("homeostasis-sweep", ['model_params={"nope": 1}'], "numpy")


@pytest.mark.standalone
@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")
def test_runtime_and_cpp_standalone_agree(tmp_path):
    overrides = ["model=lif-ip", "sigma=0", "mu=1.5", "duration=10", "measure=2", "neurons=2", "fi_min=0", "fi_max=4",
                 "fi_points=9"]
    rates = {}
    for backend in ("numpy", "cpp_standalone"):
        with open_run(run("fi-curve", overrides, backend, Store(tmp_path))) as r:
            rates[backend] = r.array("fi/response")
    assert rates["numpy"].max() > 20
    np.testing.assert_allclose(rates["cpp_standalone"], rates["numpy"], rtol=0.02, atol=0.5)


@pytest.mark.slow
def test_cython_target_matches_numpy(tmp_path):
    overrides = ["model=lif-ip", "sigma=0", "mu=1.5", "duration=5", "measure=1", "fi_min=0",
                 "fi_max=4", "fi_points=5"]
    responses = []
    for backend in ("numpy", "cython"):
        with open_run(run("fi-curve", overrides, backend, Store(tmp_path))) as r:
            responses.append(r.array("fi/response"))
    np.testing.assert_allclose(responses[1], responses[0], rtol=0.02, atol=0.5)


@pytest.mark.slow
def test_lif_ip_default_grid_reaches_target_rate(tmp_path):
    path = run("homeostasis-sweep", ["model=lif-ip", "mu=[0.5,1,1.5,2,3]",
                                     "sigma=[0.2,0.3,0.5,0.7,1]", "tau_in=0.01", "fi_min=0"],
               "numpy", Store(tmp_path))
    with open_run(path) as r:
        rate = per_cell(r, r.array("final/output_mean"))
    assert np.all(np.abs(rate - 10.0) < 1.0)


def test_fi_curve_before_is_the_initial_transfer_and_adaptation_changes_it(sim_store):
    path = run("fi-curve", ["duration=10", "measure=2", "mu=2", "sigma=0.5",
                            'model_params={"eta": 0.01}'], "numpy", sim_store)
    with open_run(path) as r:
        x, before, after = r.array("fi/input"), r.array("fi/before"), r.array("fi/response")
        gain = r.array("final/gain")
    np.testing.assert_allclose(before[0], 1 / (1 + np.exp(-x)), rtol=1e-9)  # a = 1, b = 0
    assert gain[0] > 1.5  # sigma = 0.5 < 1: IP raised the gain
    assert after[0][x == 2.0] < 0.2 < before[0][x == 2.0]  # mu now maps near the target 0.1
