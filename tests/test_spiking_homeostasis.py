"""The homeostatic spiking neurons: HomeostaticLeaky is the pure lif-ip step in a plain module,
and the spiking neurons' adapted thresholds and gains join the divergence check of training."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch
from torch import nn

import bridge.learning.train as train_module
from bridge.learning.layers import AdaptiveThresholdLeaky, HomeostaticLeaky
from bridge.learning.layers._units import as_units, from_units
from bridge.learning.layers.spiking import net_params
from bridge.learning.nets import NetSpec, make_net
from bridge.learning.train import EXPLODED, TrainConfig, homeostasis_in_range, homeostatic_state, run_training
from models.lif_ip import LifIPParams, lif_ip_step

# the keys HomeostaticLeaky's state_dict had as an snn.Leaky subclass: stored runs' weights load strictly
STATE_DICT_KEYS = ["threshold", "graded_spikes_factor", "reset_mechanism_val", "beta", "input_gain",
                   "mean_rate", "var_rate"]


# ---- (b) a plain module, its reset said as it is, its state_dict as before ----

def test_homeostatic_leaky_is_a_plain_module_with_the_stored_state_dict_keys():
    layer = HomeostaticLeaky(4, net_params(10))
    assert isinstance(layer, nn.Module) and not isinstance(layer, snn.SpikingNeuron)
    assert "reset=subtract delta_v=1.0 (detached)" in repr(layer) and "reset=zero" not in repr(layer)
    assert list(layer.state_dict()) == STATE_DICT_KEYS
    assert [name for name, _ in layer.named_parameters()] == []
    assert float(layer.beta) == pytest.approx(1 - layer.dt / layer.params.tau_m)
    twin = HomeostaticLeaky(4, net_params(10))
    layer.train()(torch.rand(3, 4) * 5)
    twin.load_state_dict(layer.state_dict())  # strict
    assert torch.equal(twin.threshold, layer.threshold) and torch.equal(twin.input_gain, layer.input_gain)


def test_homeostatic_leaky_resets_by_subtracting_delta_v_not_to_zero():
    params = LifIPParams(tau_m=0.02, delta_v=0.5, eta_theta=0.0, eta_gain=0.0)
    layer = HomeostaticLeaky(1, params, dt=1e-3).double().eval()
    state = layer.init_state(1, torch.zeros(1, 1, dtype=torch.float64))
    state = state._replace(v=torch.full((1, 1), 1.2, dtype=torch.float64))  # above theta = 1 after the leak
    spikes, new = layer(torch.zeros(1, 1, dtype=torch.float64), state)
    assert spikes.item() == 1.0
    torch.testing.assert_close(new.v, torch.full((1, 1), 1.2 * (1 - 0.05) - 0.5, dtype=torch.float64))


# ---- (c) forward is lif_ip_step, the buffers its plastic state ----

@pytest.mark.parametrize("shape", [(5, 6), (2, 6, 3, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_homeostatic_leaky_forward_is_lif_ip_step(shape, training):
    torch.manual_seed(0)
    layer = HomeostaticLeaky(6, net_params(8)).double().train(training)
    start = {k: v.clone() for k, v in layer.state_dict().items()}
    currents = [(0.5 + torch.randn(*shape, dtype=torch.float64)).requires_grad_() for _ in range(8)]
    state = None
    mine = []
    for current in currents:
        spikes, state = layer(current, state)
        mine.append(spikes)
    torch.autograd.backward([s.sum() for s in mine] + [state.v.sum()])
    grads = [c.grad.clone() for c in currents]
    for c in currents:
        c.grad = None

    fresh = HomeostaticLeaky(6, net_params(8)).double()
    fresh.load_state_dict(start)
    direct = fresh.init_state(as_units(currents[0]).shape[0], currents[0])
    theirs = []
    for current in currents:
        spikes, direct = lif_ip_step(as_units(current), direct, fresh.params, fresh.dt, layer.spike_grad, training)
        theirs.append(from_units(spikes, current.shape))
    torch.autograd.backward([s.sum() for s in theirs] + [direct.v.sum()])

    assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
    assert all(torch.equal(a, b) for a, b in zip(state, direct))
    assert all(torch.equal(g, c.grad) for g, c in zip(grads, currents))
    kept = dict(threshold=direct.theta, input_gain=direct.gain, mean_rate=direct.mean_rate, var_rate=direct.var_rate)
    for name, value in kept.items():
        assert torch.equal(getattr(layer, name), value if training else start[name]), name
    if training:
        assert not torch.equal(layer.threshold, start["threshold"])


# ---- (a) the divergence check covers the spiking neurons' adapted state ----

@pytest.mark.parametrize("norm, neuron_type", [("homeostatic", HomeostaticLeaky), ("ip", HomeostaticLeaky),
                                               ("adaptive-threshold", AdaptiveThresholdLeaky)])
def test_homeostatic_state_holds_the_plastic_spiking_neurons(norm, neuron_type):
    net = make_net(NetSpec.of(norm, neuron="spiking", width=4))
    layers = homeostatic_state(net)
    assert len(layers) == 2 and all(isinstance(m, neuron_type) for m in layers)
    assert homeostasis_in_range(layers)


def test_an_exploded_adaptive_threshold_is_out_of_range():
    net = make_net(NetSpec.of("adaptive-threshold", neuron="spiking", width=4))
    layers = homeostatic_state(net)
    layers[1].theta[2] = 2 * EXPLODED
    assert not homeostasis_in_range(layers)
    layers[1].theta[2] = float("nan")
    assert not homeostasis_in_range(layers)


def _spiking_digits(**changes) -> TrainConfig:
    base = {"dataset": "digits", "neuron": "spiking", "norm": "homeostatic", "n_train": 320, "n_test": 100,
            "depth": 3, "width": 16, "epochs": 1, "batch_size": 32, "time_steps": 6, "probe_size": 32,
            "device": "cpu"}
    return TrainConfig(**{**base, **changes})


def _tampered_build(monkeypatch, buffer: str, value: float) -> None:
    """run_training builds its net, then the first hidden neuron's ``buffer`` is set to ``value``."""
    build = train_module.build

    def tampered(*args, **kwargs):
        net = build(*args, **kwargs)
        with torch.no_grad():
            getattr(net.blocks[0]["neuron"], buffer)[0] = value
        return net

    monkeypatch.setattr(train_module, "build", tampered)


@pytest.mark.parametrize("buffer", ["input_gain", "threshold"])
def test_an_exploded_homeostatic_lif_stops_the_run_as_diverged(monkeypatch, buffer):
    _tampered_build(monkeypatch, buffer, 100 * EXPLODED)  # spikes and loss stay finite
    history = run_training(_spiking_digits(), progress=False)
    assert history["status"] == "diverged", history["message"]
    assert len(history["epoch"]) == 1 and history["train_loss"][0] != history["train_loss"][0]  # NaN


def test_a_normal_homeostatic_lif_run_is_not_stopped():
    history = run_training(_spiking_digits(), progress=False)
    assert history["status"] == "ok", history["message"]
    weights = history["weights"]
    gains = [torch.as_tensor(weights[f"blocks.{i}.neuron.input_gain"]) for i in (0, 1)]
    assert all(g.isfinite().all() and g.abs().max() < EXPLODED for g in gains)
