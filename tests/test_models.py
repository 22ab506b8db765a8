"""Each model's Brian2 equations and its torch rendering agree on the same input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models
from bridge.core.errors import UserError
from models.adaptive_threshold import (
    AdaptiveThresholdParams,
    adaptive_threshold_initial_state,
    adaptive_threshold_step,
)
from models.dale import dale_forward
from models.lif_ip import LifIPParams, lif_ip_initial_state, lif_ip_step
from models.oja import OjaParams, oja_delta
from models.synaptic_scaling import scaling_factor

b2 = pytest.importorskip("brian2")


@pytest.fixture(autouse=True)
def numpy_target():
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"


def test_registry_lists_every_model_with_equations_and_paper_defaults():
    names = [m["name"] for m in models.listing()]
    assert names == ["rate-ip-triesch", "rate-ip-infomax", "rate-ip-gaussian", "lif-ip",
                     "lif-adaptive-threshold", "synaptic-scaling", "oja", "dale-ei"]
    assert models.get("rate-ip-triesch").default_params().mu_target == 0.1
    assert models.get("lif-adaptive-threshold").default_params().theta_plus == 0.05
    assert "dgain/dt" in models.get("lif-ip").equations
    with pytest.raises(UserError, match="unknown model"):
        models.get("nope")


def test_lif_ip_brian2_and_torch_fire_the_same_spikes():
    rng = np.random.default_rng(0)
    n, steps, dt = 4, 10000, 1e-3
    current = 1.2 + 0.5 * rng.standard_normal((steps, n))
    params = LifIPParams(eta_theta=2.0, eta_gain=1.0, tau_avg=1.0)
    group = models.lif_ip.build(n, params, "I = I_ta(t, i) : 1\n", dt=dt * b2.second)
    group.namespace["I_ta"] = b2.TimedArray(current, dt=dt * b2.second)
    spikes = b2.SpikeMonitor(group)
    b2.Network(group, spikes).run(steps * dt * b2.second)

    state = lif_ip_initial_state(n, params, torch.zeros(1, dtype=torch.float64))
    count = torch.zeros(n, dtype=torch.float64)
    for k in range(steps):
        fired, state = lif_ip_step(torch.from_numpy(current[k:k + 1]), state, params, dt)
        count += fired[0]
    brian_count = np.bincount(spikes.i, minlength=n)
    assert brian_count.min() > 50
    np.testing.assert_allclose(count.numpy(), brian_count, rtol=0.05)
    np.testing.assert_allclose(state.gain.numpy(), group.gain[:], rtol=0.05)
    np.testing.assert_allclose(state.theta.numpy(), group.theta[:], rtol=0.05)


def test_adaptive_threshold_brian2_and_torch_agree():
    n, steps, dt = 3, 3000, 1e-4
    current = np.tile([12.0, 20.0, 30.0], (steps, 1))
    params = AdaptiveThresholdParams(theta_plus=0.5)
    group = models.adaptive_threshold.build(n, params, "I = I_ta(t, i) * mV : volt\n",
                                            dt=dt * b2.second)
    group.namespace.update(I_ta=b2.TimedArray(current, dt=dt * b2.second), mV=b2.mV)
    spikes = b2.SpikeMonitor(group)
    b2.Network(group, spikes).run(steps * dt * b2.second)

    state = adaptive_threshold_initial_state(n, params, torch.zeros(1, dtype=torch.float64))
    count = torch.zeros(n, dtype=torch.float64)
    for k in range(steps):
        fired, state = adaptive_threshold_step(torch.from_numpy(current[k:k + 1]), state, params, dt)
        count += fired[0]
    np.testing.assert_array_equal(count.numpy(), np.bincount(spikes.i, minlength=n))
    assert count[0] == 0 and count[2] > count[1] > 0
    np.testing.assert_allclose(state.theta.numpy(), group.theta[:] / b2.mV, rtol=1e-6, atol=1e-9)


def test_oja_brian2_and_torch_learn_the_same_weights():
    rng = np.random.default_rng(1)
    n_in, steps, dt = 3, 500, 1e-3
    x = rng.standard_normal((steps, n_in)) * [2.0, 1.0, 0.5]
    w0 = np.array([0.3, 0.2, 0.1])
    params = OjaParams(eta=20.0)
    _, output, synapses = models.oja.build(n_in, params, b2.TimedArray(x, dt=dt * b2.second),
                                           w0, dt=dt * b2.second)
    inputs = synapses.source
    b2.Network(inputs, output, synapses).run(steps * dt * b2.second)

    w = torch.tensor(w0[None])
    for k in range(steps):
        xk = torch.from_numpy(x[k:k + 1])
        w = w + params.eta * dt * oja_delta(xk, xk @ w.T, w)
    np.testing.assert_allclose(w[0].numpy(), synapses.w[:], rtol=1e-6)
    assert abs(w[0, 0]) > 0.9  # converging to the first principal component


def test_oja_delta_is_the_subspace_rule():
    x, y, w = torch.randn(8, 5), torch.randn(8, 2), torch.randn(2, 5)
    expected = sum(torch.outer(y[k], x[k]) - torch.outer(y[k], y[k]) @ w for k in range(8)) / 8
    torch.testing.assert_close(oja_delta(x, y, w), expected)


def test_dale_brian2_circuit_matches_dale_forward():
    rng = np.random.default_rng(2)
    n_in, n_i, n_e = 5, 2, 4
    x = rng.uniform(0, 1, (1, n_in))
    w_ex, w_ix, w_ei = (rng.uniform(0, 1, shape) for shape in ((n_e, n_in), (n_i, n_in), (n_e, n_i)))
    alpha, g, b = rng.normal(0, 0.5, n_i), rng.uniform(0.5, 2, n_e), rng.normal(0, 1, n_e)
    dt = 1 * b2.ms
    inputs, inhib, excit, syns = models.dale.build(b2.TimedArray(np.repeat(x, 3, 0), dt=dt),
                                                    w_ex, w_ix, w_ei, alpha, g, b, dt=dt)
    b2.Network(inputs, inhib, excit, *syns).run(3 * dt)
    z = dale_forward(*(torch.tensor(a) for a in (x, w_ex, w_ix, w_ei, alpha, g, b)))
    np.testing.assert_allclose(excit.z[:], z[0].numpy(), rtol=1e-9)


def test_scaling_factor_is_the_euler_step_of_the_proportional_term():
    rate = torch.tensor([5.0, 10.0, 20.0, 100.0])
    factor = scaling_factor(rate, target=10.0, gain=0.02)
    torch.testing.assert_close(factor, torch.tensor([1.1, 1.0, 0.8, 0.0]))
    weights = torch.rand(4, 6) * factor[:, None]
    assert torch.allclose(weights[:2] / weights[:2, :1], (weights[:2] / weights[:2, :1]))


@pytest.mark.parametrize("gamma", [0.0, 0.05])
def test_synaptic_scaling_brian2_weights_follow_scaling_factor(gamma):
    """Proportional and integral terms: the Brian2 weights and error are the torch Euler steps."""
    from models.synaptic_scaling import SynapticScalingParams, build, integrated_error

    params = SynapticScalingParams(gamma=gamma)
    dt = 0.5 * b2.ms
    inputs = b2.PoissonGroup(40, 40 * b2.Hz, dt=dt)
    neurons, synapses = build(inputs, 2, params, np.linspace(0.5, 1.5, 40) * b2.mV, dt=dt)
    weights = b2.StateMonitor(synapses, "w", record=True)
    states = b2.StateMonitor(neurons, ["r", "err"], record=True)
    b2.Network(inputs, neurons, synapses, weights, states).run(0.3 * b2.second)

    w, r, err = weights.w / b2.mV, states.r / b2.Hz, states.err[:]
    step = float(dt / b2.second)
    post = np.asarray(synapses.j)
    expected = scaling_factor(torch.from_numpy(r[post, :-1]), params.r_target, params.beta * step,
                              params.gamma * step, torch.from_numpy(err[post, :-1]))
    np.testing.assert_allclose(w[:, 1:] / w[:, :-1], expected.numpy(), rtol=1e-12)
    next_err = integrated_error(torch.from_numpy(err[:, :-1]), torch.from_numpy(r[:, :-1]), params.r_target, step)
    np.testing.assert_allclose(err[:, 1:], next_err.numpy(), rtol=1e-9, atol=1e-12)
    assert abs(w[:, -1] / w[:, 0] - 1).max() > 1e-3  # the weights did move
    assert gamma == 0 or abs(err).max() > 1e-3  # the integral term is in play
    np.testing.assert_allclose(w[:20, -1] / w[:20, 0], w[0, -1] / w[0, 0])  # one factor per neuron

def test_the_transposed_oja_step_is_the_oja_step_transposed():
    from models.oja import oja_delta_t

    torch.manual_seed(1)
    x, w = torch.randn(5, 7), torch.randn(3, 7)
    y = x @ w.T
    expected = (y.T @ x - (y.T @ y) @ w) / 5  # the subspace rule, W (out, in)
    torch.testing.assert_close(oja_delta_t(x, y, w.T.contiguous()), expected.T)
    stacked = torch.stack([w, 2 * w]).mT.contiguous()  # a member axis: each member its own rule
    torch.testing.assert_close(oja_delta_t(torch.stack([x, x]), torch.stack([y, y]), stacked)[0], expected.T)


@pytest.mark.parametrize("batch", [1, 5])
def test_the_in_place_oja_step_adds_the_oja_update(batch):
    from models.oja import oja_delta_t, oja_step_t_

    torch.manual_seed(2)
    x, w_t = torch.randn(2, batch, 7), torch.randn(2, 7, 3)
    y = x @ w_t
    expected = w_t + 0.1 * oja_delta_t(x, y, w_t)
    oja_step_t_(w_t, x, y, 0.1)
    torch.testing.assert_close(w_t, expected)
