"""Fitting runs to the gain/bias form (bridge.fit): synthetic runs with known answers, real sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from bridge.cli import main
from bridge.core.store import Stopwatch, Store
from bridge.fitting.equilibrium import fit_equilibrium
from bridge.fitting.least_squares import FitError
from bridge.fitting.rules import load_rule
from bridge.fitting.runs import fit_run
from bridge.fitting.transfer import fit_transfer, lif_rate

TRUE = {"p": 1.0, "c": 0.8, "s": 1.0, "d": -1.2, "tau_gain": 4.0, "tau_bias": 10.0}
SAMPLE_DT = 0.001


def synthetic_sweep(store: Store, p: float = 1.0, s: float = 1.0, seed: int = 0):
    """A homeostasis-sweep run with gain = c sigma^-p, bias = d - s gain mu (numpy, not simulated).

    Gains and biases carry 0.3% / 0.003 noise; traces relax exponentially from (1, 0) with
    TRUE's time constants; the f-I curves are sigmoid(gain x + bias).
    """
    rng = np.random.default_rng(seed)
    mu, sigma = (v.ravel() for v in np.meshgrid(np.linspace(-1, 1, 5), np.geomspace(0.25, 2, 5)))
    gain = TRUE["c"] * sigma ** -p * (1 + 0.003 * rng.standard_normal(mu.size))
    bias = TRUE["d"] - s * gain * mu + 0.003 * rng.standard_normal(mu.size)
    t = np.linspace(0, 60, 121)
    decay_g, decay_b = (np.exp(-t / TRUE[k])[:, None] for k in ("tau_gain", "tau_bias"))
    fi_input = np.linspace(-4, 4, 41)
    config = {"model": "synthetic-sigmoid", "p": p, "s": s, "seed": seed}
    with store.write("sims", "homeostasis-sweep", config, seed, Stopwatch()) as h5:
        h5.attrs.update({
            "model": "synthetic-sigmoid", "transfer": "sigmoid", "equations": "y = sigmoid(a x + b)",
            "params": json.dumps({"eta": 1e-3}), "targets": json.dumps({"mu_target": 0.1}),
            "sample_dt": SAMPLE_DT,
        })
        h5["conditions/mu"], h5["conditions/sigma"] = mu, sigma
        h5["conditions/cell"] = np.arange(mu.size)
        h5["final/gain"], h5["final/bias"] = gain, bias
        h5["traces/t"] = t
        h5["traces/gain"] = gain + (1 - gain) * decay_g
        h5["traces/bias"] = bias + (0 - bias) * decay_b
        h5["fi/input"] = fi_input
        h5["fi/response"] = expit(gain[:, None] * fi_input + bias[:, None])
        return store.path_for("sims", "homeostasis-sweep", config), gain, bias


def test_synthetic_sweep_recovered_within_one_percent(tmp_path):
    path, gain, bias = synthetic_sweep(Store(tmp_path))
    rule = fit_run(path, Store(tmp_path))
    eq, dyn = rule.equilibrium, rule.dynamics
    fitted = {"p": eq.p, "c": eq.c, "s": eq.s, "d": eq.d,
              "tau_gain": dyn.tau_gain, "tau_bias": dyn.tau_bias}
    for key, value in fitted.items():
        assert value == pytest.approx(TRUE[key], rel=0.01), key
    assert eq.p_ci[0] < TRUE["p"] < eq.p_ci[1] and eq.s_ci[0] < TRUE["s"] < eq.s_ci[1]
    assert eq.r2 > 0.99 and eq.bn_score > 0.99 and eq.verdict == "acts as BatchNorm"
    assert eq.bn_gamma == pytest.approx(TRUE["c"], rel=0.01)
    assert eq.bn_beta == pytest.approx(TRUE["d"], rel=0.01)
    assert dyn.eta_gain == pytest.approx(SAMPLE_DT / TRUE["tau_gain"], rel=0.01)
    fi = rule.transfer_fit
    assert fi.function == "sigmoid" and min(fi.r2) > 0.9999
    np.testing.assert_allclose(fi.a, gain, rtol=1e-4)
    np.testing.assert_allclose(fi.b, bias, atol=1e-4)


def test_mechanism_off_the_batchnorm_form_is_recognised(tmp_path):
    """gain ~ sigma^-0.5 and s = 0.3: p and s recovered, and the verdict is not 'acts as BatchNorm'."""
    path, _, _ = synthetic_sweep(Store(tmp_path), p=0.5, s=0.3)
    eq = fit_run(path, Store(tmp_path)).equilibrium
    assert (eq.p, eq.s) == (pytest.approx(0.5, rel=0.01), pytest.approx(0.3, rel=0.02))
    assert eq.r2 > 0.99 and eq.bn_score < 0.9 and eq.verdict != "acts as BatchNorm"


def test_spiking_transfer_fit_gives_rate_curve_and_effective_gain():
    """Rates (Hz) from a LIF f-I curve: the lif candidate wins, with A, a, b and the slope at mu."""
    x = np.linspace(0, 4, 17)
    a, b, amp = np.array([[1.7], [0.9]]), np.array([[-0.2], [0.3]]), 50.0
    fit = fit_transfer(x, amp * lif_rate(a * x + b), np.array([1.5, 2.0]), own="lif")
    assert fit.function == "lif" and fit.amplitude_free and min(fit.r2) > 0.999999
    np.testing.assert_allclose(fit.a, a.ravel(), rtol=1e-5)
    np.testing.assert_allclose(fit.b, b.ravel(), rtol=1e-5)
    np.testing.assert_allclose(fit.amplitude, amp, rtol=1e-5)
    u = a.ravel() * [1.5, 2.0] + b.ravel()  # d/dx A/ln(u/(u-1)) = A a / (u (u-1) ln(u/(u-1))^2)
    slope = amp * a.ravel() / (u * (u - 1) * np.log(u / (u - 1)) ** 2)
    np.testing.assert_allclose(fit.slope, slope, rtol=1e-5)


def test_degenerate_sweeps_are_one_line_errors():
    mu, gain, bias = np.linspace(-1, 1, 6), np.ones(6), np.zeros(6)
    with pytest.raises(FitError, match="fewer than 2 distinct sigma"):
        fit_equilibrium(mu, np.ones(6), gain, bias)
    with pytest.raises(FitError, match="finite final gain > 0; 6 condition"):
        fit_equilibrium(mu, np.geomspace(0.5, 2, 6), -gain, bias)


def test_fit_cli_writes_rule_and_lists_it(tmp_path, capsys):
    path, _, _ = synthetic_sweep(Store(tmp_path))
    assert main(["--results", str(tmp_path), "fit", str(path), "--name", "syn", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["equilibrium"]["p"] == pytest.approx(1.0, abs=0.01)
    assert load_rule("syn", Store(tmp_path)).equilibrium.p == printed["equilibrium"]["p"]
    assert main(["--results", str(tmp_path), "rules", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["syn"]


def test_fit_cli_unknown_run_is_one_line_error(tmp_path, capsys):
    assert main(["--results", str(tmp_path), "fit", "0123abcd"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("homeobridge: error:") and "\n" not in err


def synthetic_scaling(store: Store, omega: float, target: float = 5.0, tau: float = 8.0, seed: int = 0):
    """A scaling run (numpy): rates at the target for 20 s, then, after the perturbation, a
    damped response target + 2 target exp(-t/tau) cos(omega t); weights scaled per neuron."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 80, 321)
    after = np.clip(t - 20, 0, None)
    response = np.where(t >= 20, 2 * target * np.exp(-after / tau) * np.cos(omega * after), 0)
    rate = target + response[:, None] + 0.05 * rng.standard_normal((t.size, 40))
    initial = rng.uniform(0.1, 1.0, (40, 30))
    config = {"model": "synthetic-lif", "settle": 20.0, "omega": omega, "factor": 3.0}
    with store.write("sims", "scaling", config, seed, Stopwatch()) as h5:
        h5.attrs.update({"model": "synthetic-lif", "transfer": "lif", "target_rate": target,
                         "sample_dt": 0.1})
        h5["traces/t"], h5["traces/rate"] = t, rate
        h5["initial/weights"] = initial
        h5["final/weights"] = initial * rng.uniform(0.3, 0.4, (40, 1))
    return store.path_for("sims", "scaling", config)


@pytest.mark.parametrize("omega", [0.0, 1.2])
def test_synthetic_scaling_rate_and_target_recovered(tmp_path, omega):
    """A plain relaxation and a PI controller's damped oscillation: 1/tau, omega, target within 1%."""
    rule = fit_run(synthetic_scaling(Store(tmp_path), omega), Store(tmp_path))
    sc = rule.scaling
    assert rule.kind == "scaling" and rule.name == "synthetic-lif"
    assert sc.rate == pytest.approx(1 / 8.0, rel=0.01) and sc.target == pytest.approx(5.0, rel=0.01)
    assert sc.omega == pytest.approx(omega, abs=0.01 * max(omega, 1))
    assert sc.rate_ci[0] < 1 / 8.0 < sc.rate_ci[1] and sc.r2 > 0.99
    assert sc.weight_ratio_cv < 1e-12  # purely multiplicative
    assert rule.dynamics.eta_gain == pytest.approx(0.1 / 8.0, rel=0.01)


def test_triesch_sweep_acts_as_batchnorm(triesch_sweep_path, tmp_path):
    """Acceptance: Triesch IP's equilibrium is BatchNorm's map, p and s within 0.05 of 1, R^2 > 0.98."""
    rule = fit_run(triesch_sweep_path, Store(tmp_path))
    eq = rule.equilibrium
    assert abs(eq.p - 1) < 0.05 and abs(eq.s - 1) < 0.05 and eq.r2 > 0.98
    assert eq.verdict == "acts as BatchNorm" and eq.bn_score > 0.95
    assert rule.model == "rate-ip-triesch" and rule.transfer == "sigmoid"
    assert rule.transfer_fit.function == "sigmoid" and min(rule.transfer_fit.r2) > 0.999
    assert rule.dynamics.tau_gain > 0 and rule.fit_quality["n_excluded"] == 0


def test_lif_sweep_fitted_map_and_verdict(lif_sweep_path, tmp_path):
    """Acceptance: the spiking lif-ip sweep gives a fitted map with its R^2 and a verdict."""
    rule = fit_run(lif_sweep_path, Store(tmp_path))
    eq = rule.equilibrium
    assert rule.model == "lif-ip" and rule.transfer == "lif"
    assert eq.r2 > 0.9 and eq.verdict == "acts as BatchNorm"
    assert abs(eq.p - 1) < 0.15 and abs(eq.s - 1) < 0.15
    fi = rule.transfer_fit
    assert fi.function == "lif" and fi.amplitude_free and np.median(fi.r2) > 0.999 and min(fi.r2) > 0.9
