"""The bridge's promise: the torch layers and the Brian2 models, fed the same input, agree.

- IntrinsicPlasticity (batch size 1, float64) and the Brian2 rate-IP NeuronGroup (numpy
  target, forward Euler, dt = 1 ms, eta = eta_sample / dt) give the same gain and bias
  trajectories: relative error < 1e-3 at every step.
- HomeostaticLeaky and the Brian2 ``lif-ip`` NeuronGroup on the same input current give
  firing rates within 5%.
- SynapticScaling from a scaling rule fitted to a Brian2 run: after the same perturbation (every
  input doubled) its weights settle at the Brian2 neurons' mean weight factor within 10%, and in
  the linear regime its activity follows the fitted closed-loop response
  exp(-t/tau)(cos omega t - sin(omega t)/(omega tau)) within 5% of the perturbation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bridge.core.store import open_run
from bridge.fitting.runs import fit_run
from bridge.learning.layers import HomeostaticLeaky, IntrinsicPlasticity, SynapticScaling
from bridge.learning.layers.ip import RATE_RULES
from models import lif_ip, rate_ip
from models.rate_ip import params_dataclass

STEPS = 400
UNITS = 4
# per-sample rates that move the gain a lot in STEPS steps yet keep it positive (the layer
# clamps the gain at a small positive floor; the raw Brian2 rule would cross zero)
ETA_SAMPLE = {"triesch": 0.01, "infomax": 0.01, "gaussian": 0.002}
INPUT_SCALE = {"triesch": 1.0, "infomax": 1.0, "gaussian": 0.25}


def _brian2_rate_ip(rule, stimulus: np.ndarray):
    """(a, b) trajectories of the Brian2 model: arrays (steps + 1, units), row k after k steps."""
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    dt = 1 * b2.ms
    stim = b2.TimedArray(stimulus, dt=dt)
    params = params_dataclass(rule)(eta=ETA_SAMPLE[rule.name], **rule.targets)
    group = rate_ip.build(rule, UNITS, params, "x = stim(t, i) : 1", dt=dt, name=f"agree_{rule.name}")
    monitor = b2.StateMonitor(group, ["a", "b"], record=True, dt=dt)
    net = b2.Network(group, monitor)
    net.run(STEPS * dt, namespace={"stim": stim})
    a = np.vstack([monitor.a[:].T, group.a[:][None]])
    b = np.vstack([monitor.b[:].T, group.b[:][None]])
    return a, b


def _torch_ip(rule_name: str, stimulus: np.ndarray):
    layer = IntrinsicPlasticity(UNITS, rule_name, eta=ETA_SAMPLE[rule_name]).double().train()
    a, b = [layer.gain.clone()], [layer.bias.clone()]
    for row in torch.from_numpy(stimulus):
        layer(row.view(1, UNITS))
        a.append(layer.gain.clone())
        b.append(layer.bias.clone())
    return torch.stack(a).numpy(), torch.stack(b).numpy()


@pytest.mark.parametrize("rule_name", sorted(RATE_RULES))
def test_ip_layer_matches_brian2_trajectories(rule_name):
    rng = np.random.default_rng(1)
    scales = INPUT_SCALE[rule_name] * np.array([0.5, 1.0, 1.5, 2.0])
    stimulus = rng.normal(0.5, 1.0, size=(STEPS, UNITS)) * scales
    a_b2, b_b2 = _brian2_rate_ip(RATE_RULES[rule_name], stimulus)
    a_t, b_t = _torch_ip(rule_name, stimulus)
    assert a_b2.shape == a_t.shape == (STEPS + 1, UNITS)
    assert np.abs(a_t[-1] - 1.0).max() > 0.05, "the gain must actually move in this test"
    assert a_b2.min() > 1e-2, "the test keeps the Brian2 gain positive"
    scale_b = np.maximum(np.abs(b_b2), 1e-2)
    assert np.max(np.abs(a_t - a_b2) / np.abs(a_b2)) < 1e-3
    assert np.max(np.abs(b_t - b_b2) / scale_b) < 1e-3


def test_homeostatic_leaky_matches_brian2_rates():
    import brian2 as b2

    dt_s, steps, n = 5e-4, 8000, 5
    rng = np.random.default_rng(2)
    current = np.linspace(1.2, 3.0, n) + 0.5 * rng.standard_normal((steps, n))
    params = lif_ip.LifIPParams()

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    dt = dt_s * b2.second
    stim = b2.TimedArray(current, dt=dt)
    group = lif_ip.build(n, params, "I = stim(t, i) : 1", dt=dt, name="agree_lif_ip")
    spikes_b2 = b2.SpikeMonitor(group)
    net = b2.Network(group, spikes_b2)
    net.run(steps * dt, namespace={"stim": stim})
    late = np.asarray(spikes_b2.t / b2.second) >= steps * dt_s / 2
    counts_b2 = np.bincount(np.asarray(spikes_b2.i)[late], minlength=n)

    layer = HomeostaticLeaky(n, params, dt=dt_s).double().train()
    state = lif_ip.lif_ip_initial_state(n, params, torch.zeros((), dtype=torch.float64))
    counts = torch.zeros(n, dtype=torch.float64)
    with torch.no_grad():
        for step, row in enumerate(torch.from_numpy(current)):
            spikes, state = layer(row.view(1, n), state)
            if step >= steps // 2:
                counts += spikes[0]
    rates_b2 = counts_b2 / (steps * dt_s / 2)
    rates = counts.numpy() / (steps * dt_s / 2)
    assert rates_b2.min() > 1.0, "every neuron must fire in this test"
    np.testing.assert_allclose(rates, rates_b2, rtol=0.05)
    # and the homeostasis acts in both: inputs from 1.2 to 3.0 all fire near r_target (10 Hz)
    assert np.all(np.abs(rates - params.r_target) < 0.5 * params.r_target), rates


def test_fitted_online_spiking_rule_matches_brian2_on_input_spike_trains(sim_store):
    """The transplant of the fitted lif-ip rule (HomeostaticLeaky.from_rule, one step = 1 ms) and
    the Brian2 lif-ip neurons, fed the same Poisson input spike trains through the same synaptic
    weights for 30 s: spike counts within 3% and thresholds within 2% at the end, both moved."""
    import brian2 as b2

    from bridge.fitting.rules import Dynamics, Equilibrium, Rule

    dt_s, steps, n, n_inputs = 1e-3, 30000, 3, 40
    rng = np.random.default_rng(4)
    inputs = (rng.random((steps, n_inputs)) < 20 * dt_s).astype(float)  # 20 Hz Poisson trains
    weights = rng.uniform(0.02, 0.08, (n, n_inputs)) * np.array([[1.0], [1.5], [2.0]])
    current = inputs @ weights.T / (dt_s * 20)  # each spike a brief current pulse
    params = lif_ip.LifIPParams()
    equilibrium = Equilibrium(p=1, c=1, s=1, d=0, p_ci=(1, 1), c_ci=(1, 1), s_ci=(1, 1), d_ci=(0, 0), r2_gain=1,
                              r2_bias=1, r2=1, bn_gamma=1, bn_beta=0, bn_score=1, verdict="")
    rule = Rule(name="lif", kind="intrinsic", model="lif-ip", transfer="lif", targets={},
                dynamics=Dynamics(tau_gain=10, tau_bias=10, sample_dt=dt_s), fit_quality={}, source_runs=[],
                model_params={"eta_theta": 2.0}, equations="", equilibrium=equilibrium)

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    dt = dt_s * b2.second
    stim = b2.TimedArray(current, dt=dt)
    group = lif_ip.build(n, lif_ip.LifIPParams(eta_theta=2.0), "I = stim(t, i) : 1", dt=dt, name="agree_trains")
    spikes_b2 = b2.SpikeMonitor(group)
    b2.Network(group, spikes_b2).run(steps * dt, namespace={"stim": stim})
    counts_b2 = np.bincount(np.asarray(spikes_b2.i), minlength=n)

    layer = HomeostaticLeaky.from_rule(rule, n, dt=dt_s).double().train()
    state = layer.init_state(1, torch.zeros((), dtype=torch.float64))
    state = state._replace(trace=torch.zeros_like(state.trace), var_rate=state.var_rate)
    counts = torch.zeros(n, dtype=torch.float64)
    with torch.no_grad():
        for row in torch.from_numpy(current):
            spikes, state = layer(row.view(1, n), state)
            counts += spikes[0]
    assert counts_b2.min() > 100, "every neuron must fire in this test"
    np.testing.assert_allclose(counts.numpy(), counts_b2, rtol=0.03)
    np.testing.assert_allclose(layer.threshold.numpy(), group.theta[:], rtol=0.02)
    assert np.abs(group.theta[:] - params.theta0).min() > 0.05, "the thresholds must have adapted"


def _scaling_response(layer: SynapticScaling, drive: float, seconds: float, sample_dt: float, batch: int = 64):
    """(times in s, activity / target, mean weight factor) of a Linear scaling layer whose
    all-ones input is multiplied by ``drive`` after it sat at its target."""
    n_out, n_in = layer.layer.weight.shape
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        layer.layer.weight.copy_(torch.rand(n_out, n_in, dtype=torch.float64, generator=generator))
        layer.layer.weight.mul_(layer.target / layer.layer.weight.sum(1, keepdim=True))
        layer.layer.bias.zero_()
    start = layer.layer.weight.clone()
    x = torch.full((batch, n_in), drive, dtype=torch.float64)
    activity = []
    for _ in range(round(seconds / (sample_dt * batch))):
        layer(x)
        layer.after_step()
        activity.append(layer.activity.mean().item() / layer.target)
    times = (np.arange(len(activity)) + 1) * sample_dt * batch
    return times, np.array(activity), (layer.layer.weight / start).mean().item()


def test_fitted_scaling_layer_matches_its_brian2_run(scaling_path, sim_store):
    rule = fit_run(scaling_path, sim_store, "agree-scaling")
    with open_run(scaling_path, "sims") as run:
        factor = run.config["factor"]
        brian2_factor = (run.array("final/weights") / run.array("initial/weights")).mean()
    sample_dt, tau, omega = rule.dynamics.sample_dt, 1 / rule.scaling.rate, rule.scaling.omega
    assert omega > 0, "this run oscillates: the integral term is in play"

    def layer():
        return SynapticScaling.from_rule(rule, torch.nn.Linear(20, 6)).double().train()

    _, _, torch_factor = _scaling_response(layer(), factor, 40.0, sample_dt)
    assert abs(torch_factor / brian2_factor - 1) < 0.1
    assert abs(brian2_factor - 1 / factor) < 0.2  # both undo the doubled input

    small = 0.02
    times, activity, _ = _scaling_response(layer(), 1 + small, 5 * tau, sample_dt)
    expected = np.exp(-times / tau) * (np.cos(omega * times) - np.sin(omega * times) / (omega * tau))
    assert np.abs((activity - 1) / small - expected).max() < 0.05
