"""Network construction: every (kind, neuron, norm) builds, records one activity per layer, and a CNN learns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers import FittedHomeostasis, HomeostaticLeaky, IntrinsicPlasticity2d
from bridge.learning.nets import make_net
from bridge.learning.train import TrainConfig, run_training

RATE_NORMS = ["none", "bn", "ln", "wn", "ip-triesch", "ip-infomax", "ip-gaussian", "scaling"]


def _check(net: nn.Module, depth: int, batch: int = 5, features: int = 64) -> None:
    record: list[torch.Tensor] = []
    out = net(torch.rand(batch, features), record)
    assert out.shape == (batch, 10)
    assert len(record) == len(net.blocks) == depth
    out.sum().backward()
    assert all(p.grad is not None for p in net.blocks[0].parameters())


@pytest.mark.parametrize("norm", RATE_NORMS + ["oja", "dale"])
def test_rate_mlp_builds_for_every_norm(norm):
    _check(make_net("mlp", "rate", 4, 16, norm, in_shape=(1, 8, 8)), 4)


@pytest.mark.parametrize("norm", RATE_NORMS)
def test_rate_cnn_builds_for_every_conv_norm(norm):
    _check(make_net("cnn", "rate", 3, 8, norm, in_shape=(1, 8, 8)), 3)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("norm", ["none", "bn", "homeostatic"])
def test_spiking_nets_build_and_run_t_steps(kind, norm):
    net = make_net(kind, "spiking", 3, 8, norm, in_shape=(1, 8, 8), time_steps=4)
    _check(net, 3)
    if norm == "homeostatic":
        assert sum(isinstance(m, HomeostaticLeaky) for m in net.modules()) == 2


def test_spike_count_readout_counts_spikes_and_membrane_readout_is_real_valued():
    torch.manual_seed(0)
    count = make_net("mlp", "spiking", 2, 8, in_shape=(1, 8, 8), time_steps=5)(torch.rand(3, 64))
    assert torch.equal(count, count.round()) and count.max() <= 5
    membrane = make_net("mlp", "spiking", 2, 8, in_shape=(1, 8, 8), readout="membrane")(torch.rand(3, 64))
    assert not torch.equal(membrane, membrane.round())


def test_ip_in_a_cnn_is_per_channel():
    net = make_net("cnn", "rate", 3, 8, "ip-infomax", in_shape=(1, 8, 8))
    ips = [m for m in net.modules() if isinstance(m, IntrinsicPlasticity2d)]
    assert len(ips) == 2 and all(m.gain.shape == (8,) for m in ips)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "rnn"}, "unknown net kind"),
    ({"neuron": "izhikevich"}, "unknown neuron"),
    ({"norm": "group"}, "unknown norm 'group' for rate nets"),
    ({"neuron": "spiking", "norm": "ln"}, "unknown norm 'ln' for spiking nets"),
    ({"kind": "cnn", "norm": "dale"}, "MLPs only"),
    ({"init": "lecun"}, "unknown init"),
    ({"depth": 1}, "depth must be >= 2"),
    ({"readout": "rate", "neuron": "spiking"}, "unknown readout"),
])
def test_bad_choices_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        make_net(**{"in_shape": (1, 8, 8), **kwargs})


def test_fitted_norm_takes_the_loaded_rule_passed_in():
    from test_layers import make_rule

    net = make_net("mlp", "rate", 3, 8, "fitted:hand", in_shape=(1, 8, 8), rule=make_rule())
    layers = [m for m in net.modules() if isinstance(m, FittedHomeostasis)]
    assert len(layers) == 2 and layers[0].c == 1.5
    with pytest.raises(UserError, match="needs the loaded rule 'missing'"):
        make_net("mlp", "rate", 3, 8, "fitted:missing", in_shape=(1, 8, 8), rule=make_rule())
    with pytest.raises(UserError, match="needs the loaded rule 'hand'"):
        make_net("mlp", "rate", 3, 8, "fitted:hand", in_shape=(1, 8, 8))


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal"])
def test_init_schemes_replace_the_default_weights(init):
    torch.manual_seed(0)
    default = make_net("mlp", "rate", 3, 16, in_shape=(1, 8, 8))
    torch.manual_seed(0)
    other = make_net("mlp", "rate", 3, 16, init=init, in_shape=(1, 8, 8))
    assert not torch.equal(default.blocks[0][0].weight, other.blocks[0][0].weight)
    assert torch.equal(other.blocks[0][0].bias, torch.zeros(16))


@pytest.mark.parametrize("norm", ["bn", "ip-infomax"])
def test_a_small_cnn_learns_digits(norm):
    config = TrainConfig(dataset="digits", kind="cnn", norm=norm, n_train=600, n_test=300, depth=3,
                         width=8, epochs=2, batch_size=16, optimizer="adam", lr=0.01, device="cpu",
                         probe_size=64)
    assert run_training(config, progress=False)["test_accuracy"][-1] > 0.5
