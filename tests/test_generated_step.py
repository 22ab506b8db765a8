"""The torch step generated from a Brian2 model's own state updater (issue 26): the same input
into Brian2 and into the generated step gives the same trajectory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bridge.core.errors import UserError
from bridge.core.generated_step import generate_step, si_values

ADEX = """
dv/dt = (g_L*(E_L - v) + g_L*Delta_T*exp((v - V_T - theta)/Delta_T) - w + I)/C : volt
dw/dt = (a*(v - E_L) - w)/tau_w : amp
dtheta/dt = -theta/tau_theta : volt
I : amp
"""
RESET = "v = V_r; w += b; theta += d_theta"
# a linear LIF with a slow threshold shift (the 'exact' integrator applies): the three state
# variables of both models are v, w, theta (w: a slow adaptation current)
LIF = """
dv/dt = (E_L - v + (I - w)/g_L)/(C/g_L) : volt
dw/dt = -w/tau_w : amp
dtheta/dt = -theta/tau_theta : volt
I : amp
"""
MODELS = {"adex euler": (ADEX, "v > 0*mV", RESET, "euler"),
          "lif exact": (LIF, "v > V_T + theta", RESET, "exact")}


def _adex_namespace():
    from brian2 import ms, mV, nA, nS, pF, second

    return {"C": 281 * pF, "g_L": 30 * nS, "E_L": -70.6 * mV, "V_T": -50.4 * mV, "Delta_T": 2 * mV,
            "tau_w": 144 * ms, "a": 4 * nS, "b": 0.0805 * nA, "V_r": -70.6 * mV, "tau_theta": 1 * second,
            "d_theta": 2 * mV}


def _brian2_run(currents, steps: int, dt: float, model: tuple):
    equations, threshold, reset, method = model
    from brian2 import Network, NeuronGroup, SpikeMonitor, StateMonitor, amp, prefs, second

    prefs.codegen.target = "numpy"
    group = NeuronGroup(len(currents), equations, threshold=threshold, reset=reset, method=method,
                        namespace=_adex_namespace(), dt=dt * second)
    group.v = _adex_namespace()["E_L"]
    group.I = np.asarray(currents) * amp
    states = StateMonitor(group, ["v", "w", "theta"], record=True, when="end")
    spikes = SpikeMonitor(group)
    Network(group, states, spikes).run(steps * dt * second)
    return {k: np.asarray(getattr(states, k + "_")) for k in ("v", "w", "theta")}, np.asarray(spikes.count)


def _torch_run(step, currents, steps: int, dt: float):
    values = {k: torch.tensor(v, dtype=torch.float64) for k, v in si_values(_adex_namespace()).items()}
    n = len(currents)
    state = {"v": torch.full((n,), float(values["E_L"]), dtype=torch.float64),
             "w": torch.zeros(n, dtype=torch.float64), "theta": torch.zeros(n, dtype=torch.float64)}
    current = torch.tensor(currents, dtype=torch.float64)
    trajectory, count = {k: [] for k in state}, torch.zeros(n)
    for _ in range(steps):
        spikes, state = step({**values, **state, "I": current}, dt, lambda d: (d > 0).double())
        count += spikes
        for k in state:
            trajectory[k].append(state[k].numpy().copy())
    return {k: np.stack(v, axis=1) for k, v in trajectory.items()}, count.numpy()


@pytest.mark.parametrize("model", list(MODELS))
def test_the_generated_step_follows_brian2_step_for_step(model):
    """Adaptive exponential integrate-and-fire (Brette & Gerstner 2005; forward Euler) and a
    linear LIF (Brian2's exact integrator), each with a threshold shift theta raised by each
    spike and decaying (1 s): 4000 steps of 0.1 ms at four input currents; every state variable
    within 1e-9 of its range of Brian2's at every step, the spike counts equal."""
    step = generate_step(*MODELS[model], _adex_namespace())
    assert set(step.state) == {"v", "w", "theta"}
    currents, steps, dt = [0.5e-9, 0.8e-9, 1.2e-9, 2.0e-9], 4000, 1e-4
    brian, brian_count = _brian2_run(currents, steps, dt, MODELS[model])
    ours, our_count = _torch_run(step, currents, steps, dt)
    np.testing.assert_array_equal(our_count, brian_count)
    assert brian_count.max() > 5 and brian_count.min() == 0  # the input range spans silent to firing
    for key in ("v", "w", "theta"):
        scale = np.abs(brian[key]).max()
        np.testing.assert_allclose(ours[key], brian[key], rtol=0, atol=1e-9 * scale, err_msg=key)


@pytest.mark.parametrize(("equations", "threshold", "reset", "method", "message"), [
    ("dv/dt = -v/tau : volt", "v > 1*mV", "v = 0*mV", "euler", None),
    ("dv/dt = -v : volt", "v > 1*mV", None, "euler", "Brian2 refuses"),  # volt against volt/second
    ("dv/dt = -v/tau : volt", "v > 1*mV and v < 2*mV", None, "euler", "one comparison"),
    ("dv/dt = -v/tau : volt", "v > 1*mV", "v = 0*mV; u = 1", "euler", "not a variable"),
    ("dv/dt = -v/tau : volt", "v > 1*mV", "v /= 2", "euler", "only x ="),
    ("dv/dt = -v/tau : volt", "v > 1*mV", None, "bogus", "Brian2 refuses"),
])
def test_a_model_brian2_or_the_generator_refuses_is_one_clear_error(equations, threshold, reset, method, message):
    from brian2 import ms

    if message is None:
        assert generate_step(equations, threshold, reset, method, {"tau": 10 * ms}).state == ("v",)
        return
    with pytest.raises(UserError, match=message):
        generate_step(equations, threshold, reset, method, {"tau": 10 * ms})


def test_an_inclusive_threshold_fires_at_equality_as_brian2_does():
    strict = generate_step("dv/dt = 0/ms : 1", "v > 1", "v = 0", "euler", {})
    inclusive = generate_step("dv/dt = 0/ms : 1", "v >= 1", "v = 0", "euler", {})
    at = {"v": torch.tensor([1.0, 0.999, 1.001], dtype=torch.float64)}
    heaviside = lambda d: (d > 0).double()  # noqa: E731
    assert strict(at, 1e-3, heaviside)[0].tolist() == [0.0, 0.0, 1.0]
    assert inclusive(at, 1e-3, heaviside)[0].tolist() == [1.0, 0.0, 1.0]


def test_a_refractory_period_holds_the_neuron_as_brian2_does():
    """A LIF with a 3 ms refractory period (its membrane flagged ``unless refractory``): 2,000 steps of
    0.1 ms at four inputs, v within 1e-9 of Brian2's at every step, the spike counts equal and set
    by the period (the strongest input fires at close to 1 / 3 ms)."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, StateMonitor, ms, prefs, second

    equations = "dv/dt = (I - v)/tau : 1 (unless refractory)\nI : 1"
    namespace, dt, steps, inputs = {"tau": 10 * ms}, 1e-4, 2000, [0.5, 1.5, 5.0, 200.0]
    step = generate_step(equations, "v > 1", "v = 0", "euler", namespace, refractory="3*ms")
    prefs.codegen.target = "numpy"
    group = NeuronGroup(4, equations, threshold="v > 1", reset="v = 0", refractory=3 * ms, method="euler",
                        namespace=namespace, dt=dt * second)
    group.I = inputs
    states, spikes = StateMonitor(group, "v", record=True, when="end"), SpikeMonitor(group)
    Network(group, states, spikes).run(steps * dt * second)
    values = {"tau": 0.01, "I": torch.tensor(inputs, dtype=torch.float64)}
    state = {name: torch.full((4,), step.hidden().get(name, 0.0), dtype=torch.float64) for name in step.state}
    count, trajectory = torch.zeros(4, dtype=torch.float64), []
    for _ in range(steps):
        fired, state = step({**values, **state}, dt, lambda d: (d > 0).double())
        count += fired
        trajectory.append(state["v"].numpy().copy())
    np.testing.assert_array_equal(count.numpy(), np.asarray(spikes.count))
    assert count[0] == 0 and 60 <= count[-1] <= 67  # 0.2 s at one spike per 3 ms (+ a step) at most
    np.testing.assert_allclose(np.stack(trajectory, 1), np.asarray(states.v), rtol=0, atol=1e-9)


def test_brian2_constants_are_numbers_of_the_step():
    from brian2 import ms

    step = generate_step("dv/dt = -v/(2*pi*tau) : 1", "v > 1", None, "euler", {"tau": 1 * ms})
    assert step.constants["pi"] == pytest.approx(np.pi)
    _, state = step({"v": torch.tensor([2.0]), "tau": 1e-3}, 1e-4, lambda d: (d > 0).double())
    assert float(state["v"]) == pytest.approx(2.0 - 1e-4 * 2.0 / (2 * np.pi * 1e-3))
