"""Network construction: every (kind, neuron, norm) builds, records one activity per layer, and a CNN learns."""

from __future__ import annotations

import hashlib
import re

import pytest
import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning import nets
from bridge.learning.layers import FittedHomeostasis, HomeostaticLeaky, IntrinsicPlasticity2d
from bridge.learning.nets import NetSpec, NormSpec, make_net
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
    _check(make_net(NetSpec.of(norm, kind="mlp", depth=4, width=16), in_shape=(1, 8, 8)), 4)


@pytest.mark.parametrize("norm", RATE_NORMS)
def test_rate_cnn_builds_for_every_conv_norm(norm):
    _check(make_net(NetSpec.of(norm, kind="cnn", depth=3, width=8), in_shape=(1, 8, 8)), 3)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("norm", ["none", "bn", "homeostatic"])
def test_spiking_nets_build_and_run_t_steps(kind, norm):
    net = make_net(NetSpec.of(norm, kind=kind, neuron="spiking", depth=3, width=8, time_steps=4), in_shape=(1, 8, 8))
    _check(net, 3)
    if norm == "homeostatic":
        assert sum(isinstance(m, HomeostaticLeaky) for m in net.modules()) == 2


def test_spike_count_readout_counts_spikes_and_membrane_readout_is_real_valued():
    torch.manual_seed(0)
    count = make_net(NetSpec(neuron="spiking", depth=2, width=8, time_steps=5), in_shape=(1, 8, 8))(torch.rand(3, 64))
    assert torch.equal(count, count.round()) and count.max() <= 5
    membrane = make_net(NetSpec(neuron="spiking", depth=2, width=8, readout="membrane"), in_shape=(1, 8, 8))(
        torch.rand(3, 64))
    assert not torch.equal(membrane, membrane.round())


def test_ip_in_a_cnn_is_per_channel():
    net = make_net(NetSpec.of("ip-infomax", kind="cnn", depth=3, width=8), in_shape=(1, 8, 8))
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
        make_net(NetSpec.of(**kwargs), in_shape=(1, 8, 8))


def test_fitted_norm_takes_the_loaded_rule_passed_in():
    from test_layers import make_rule

    spec = NetSpec.of("fitted:hand", depth=3, width=8)
    net = make_net(spec, in_shape=(1, 8, 8), rule=make_rule())
    layers = [m for m in net.modules() if isinstance(m, FittedHomeostasis)]
    assert len(layers) == 2 and layers[0].c == 1.5
    with pytest.raises(UserError, match="needs the loaded rule 'missing'"):
        make_net(NetSpec.of("fitted:missing", depth=3, width=8), in_shape=(1, 8, 8), rule=make_rule())
    with pytest.raises(UserError, match="needs the loaded rule 'hand'"):
        make_net(spec, in_shape=(1, 8, 8))


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal"])
def test_init_schemes_replace_the_default_weights(init):
    torch.manual_seed(0)
    default = make_net(NetSpec(width=16), in_shape=(1, 8, 8))
    torch.manual_seed(0)
    other = make_net(NetSpec(width=16, init=init), in_shape=(1, 8, 8))
    assert not torch.equal(default.blocks[0][0].weight, other.blocks[0][0].weight)
    assert torch.equal(other.blocks[0][0].bias, torch.zeros(16))


@pytest.mark.parametrize("norm", ["bn", "ip-infomax"])
def test_a_small_cnn_learns_digits(norm):
    config = TrainConfig(dataset="digits", kind="cnn", norm=norm, n_train=600, n_test=300, depth=3,
                         width=8, epochs=2, batch_size=16, optimizer="adam", lr=0.01, device="cpu",
                         probe_size=64)
    assert run_training(config, progress=False)["test_accuracy"][-1] > 0.5


# ---- the norm language (NormSpec) and the architecture (NetSpec) ----

def _concrete(norm: str) -> str:
    return norm.replace("<rule>", "hand-lif")


@pytest.mark.parametrize("neuron, norm", [("rate", n) for n in nets.RATE_NORMS] +
                         [("spiking", n) for n in nets.SPIKING_NORMS])
def test_every_norm_name_parses_and_gives_its_name_back(neuron, norm):
    for text in {norm, _concrete(norm)}:
        spec = NormSpec.parse(neuron, text)
        assert spec.text == str(spec) == text
        assert NormSpec.parse(neuron, spec.text) == spec
        assert nets.norm_problem(neuron, text) is None
        assert spec.affine == text.endswith("+affine")
        assert nets.fitted_rule_name(text) == spec.fitted_rule


def test_norm_names_come_apart_into_family_rule_and_affine():
    assert NormSpec.parse("rate", "ip-gaussian+affine") == NormSpec("ip", "gaussian", True)
    assert NormSpec.parse("rate", "bn-noaffine") == NormSpec("bn-noaffine")
    assert NormSpec.parse("rate", "fitted:hand+affine") == NormSpec("fitted", "hand", True)
    assert NormSpec.parse("spiking", "fitted-online:hand-lif") == NormSpec("fitted-online", "hand-lif")
    assert NormSpec.parse("spiking", "ip") == NormSpec("ip")
    assert NormSpec.parse("rate", "fitted:x-scaling").fitted_rule == "x-scaling"
    assert NormSpec.parse("rate", "ip-triesch").fitted_rule is None
    assert NormSpec.parse("rate", "dale").ei and not NormSpec.parse("rate", "oja").ei


@pytest.mark.parametrize("neuron, norm", [
    ("rate", "group"), ("rate", "ip"), ("rate", "ip-bogus"), ("rate", "ip-triesch+affine+affine"), ("rate", "fitted:"),
    ("rate", "fitted:+affine"), ("rate", "fitted-online:hand+affine"), ("rate", "bn+affine"), ("rate", "homeostatic"),
    ("spiking", "ln"), ("spiking", "ip-triesch"), ("spiking", "fitted-online:hand+affine"), ("spiking", "oja"),
    ("spiking", "homeostatic+affine"), ("spiking", "fitted-online:"), ("spiking", ""),
])
def test_a_bad_norm_is_refused_with_the_known_names(neuron, norm):
    known = nets.RATE_NORMS if neuron == "rate" else nets.SPIKING_NORMS
    message = f"unknown norm {norm!r} for {neuron} nets; choose one of {', '.join(known)}"
    assert nets.norm_problem(neuron, norm) == message
    with pytest.raises(UserError) as error:
        NormSpec.parse(neuron, norm)
    assert str(error.value) == message
    with pytest.raises(ValueError, match=re.escape(f"norm: {message}")):
        TrainConfig(neuron=neuron, norm=norm)


def test_net_revision_of_every_norm():
    revised = {("rate", "oja"), ("spiking", "ip"), ("spiking", "homeostatic"), ("spiking", "adaptive-threshold"),
               ("spiking", "fitted:<rule>+affine"), ("spiking", "fitted-online:<rule>")}
    for neuron, names in (("rate", nets.RATE_NORMS), ("spiking", nets.SPIKING_NORMS)):
        for norm in names:
            for text in (norm, _concrete(norm)):
                assert nets.net_revision(neuron, text) == (2 if (neuron, norm) in revised else 1), (neuron, text)


def test_a_net_spec_refuses_a_norm_of_the_other_neuron_and_mlp_only_norms_in_a_cnn():
    with pytest.raises(UserError, match="unknown norm 'ln' for spiking nets"):
        NetSpec(neuron="spiking", norm=NormSpec.parse("rate", "ln"))
    with pytest.raises(UserError, match="'oja' exists for MLPs only"):
        NetSpec.of("oja", kind="cnn")
    with pytest.raises(UserError, match="a CNN needs image input"):
        make_net(NetSpec(kind="cnn"), in_shape=(64,))


def test_a_train_config_parses_its_norm_into_the_net_spec_and_keeps_the_name():
    config = TrainConfig(neuron="spiking", norm="fitted:hand-lif+affine", ip_eta=0.0, spike_target=0.2, width=16)
    spec = config.net_spec()
    assert spec.norm == config.norm_spec == NormSpec("fitted", "hand-lif", True)
    assert config.rule_name == "hand-lif" and config.to_dict()["norm"] == "fitted:hand-lif+affine"
    assert (spec.neuron, spec.width, spec.ip_eta, spec.spike_target) == ("spiking", 16, None, 0.2)


def _fingerprint(net: nn.Module) -> tuple[str, float]:
    """(hash of the module tree and state keys and shapes, a position-weighted checksum of the state)."""
    tree = [(name, type(module).__name__) for name, module in net.named_modules()]
    state = net.state_dict()
    shapes = [(key, tuple(value.shape)) for key, value in state.items()]
    structure = hashlib.sha256(repr((tree, shapes)).encode()).hexdigest()[:16]
    checksum = 0.0
    for index, value in enumerate(state.values()):
        flat = value.detach().double().flatten()
        weights = torch.arange(flat.numel(), dtype=torch.float64).remainder(7).add(1)
        checksum += (index + 1) * float((flat * weights).sum())
    return structure, checksum


def _lif_rule():
    import dataclasses

    from test_layers import make_rule

    from bridge.learning.layers.spiking import net_params

    return make_rule(model="lif-ip", transfer="lif", **dataclasses.asdict(net_params(4))).model_copy(
        update={"name": "hand-lif"})


# name: (norm, NetSpec fields, make_net's data arguments), built from the seed 0 on (1, 8, 8) inputs
SAME_NETS = {
    "rate-none": ("none", {"depth": 4, "width": 12}, {}),
    "rate-bn": ("bn", {"depth": 4, "width": 12}, {}),
    "rate-ip-infomax+affine": ("ip-infomax+affine", {"width": 12, "activation": "relu", "ip_eta": 0.5}, {}),
    "rate-oja": ("oja", {"width": 12, "oja_eta": 0.01, "init": "kaiming"}, {}),
    "rate-column-ei": ("column-ei", {"width": 12}, {"input_mean": 0.3}),
    "rate-fitted:hand": ("fitted:hand", {"width": 12, "init_scale": 2.0}, {}),
    "rate-cnn-ln": ("ln", {"kind": "cnn", "width": 6}, {}),
    "rate-cnn-ip-triesch": ("ip-triesch", {"kind": "cnn", "width": 6, "init": "xavier"}, {}),
    "spiking-homeostatic": ("homeostatic", {"neuron": "spiking", "width": 6, "time_steps": 4, "spike_target": 0.2,
                                            "spike_gain_adapt": False}, {}),
    "spiking-adaptive-threshold": ("adaptive-threshold", {"neuron": "spiking", "width": 6, "spike_dt": 0.002}, {}),
    "spiking-fitted:hand-lif+affine": ("fitted:hand-lif+affine", {"neuron": "spiking", "width": 6, "time_steps": 4},
                                       {"n_classes": 3}),
    "spiking-fitted-online:hand-lif": ("fitted-online:hand-lif", {"neuron": "spiking", "width": 6, "time_steps": 4},
                                       {}),
    "spiking-cnn-bn": ("bn", {"kind": "cnn", "neuron": "spiking", "width": 6, "time_steps": 4,
                              "readout": "membrane"}, {}),
}
# their _fingerprint as the keyword make_net(kind, neuron, depth, width, norm, ...) built them before NetSpec
SAME_NET_FINGERPRINTS = {
    'rate-none': ('5ea6f9da88365481', -90.71705174969975),
    'rate-bn': ('bdb8bfe33c846af4', 2649.3897550471593),
    'rate-ip-infomax+affine': ('63e13e0ee34f784b', 1313.133089362993),
    'rate-oja': ('0187fed635d1fa21', 70.5495858664508),
    'rate-column-ei': ('844b3149d402d80c', 2692.558649668237),
    'rate-fitted:hand': ('ebb4527fadab8bf9', 1016.6218755084556),
    'rate-cnn-ln': ('d9513c8e8f464367', 217.77496907350724),
    'rate-cnn-ip-triesch': ('0f71051f42b16da7', 163.7169067744253),
    'spiking-homeostatic': ('84598905c0973c8b', 28460426.33543513),
    'spiking-adaptive-threshold': ('f6d02a98d26fffea', 90.76832159981132),
    'spiking-fitted:hand-lif+affine': ('16d3a417747a3ee5', 14090.906307315454),
    'spiking-fitted-online:hand-lif': ('84598905c0973c8b', 14232926.33543513),
    'spiking-cnn-bn': ('b4427e69c5dcd268', 8783.565181459155),
}


@pytest.mark.parametrize("name", SAME_NETS)
def test_make_net_of_a_spec_builds_the_net_the_old_make_net_built(name):
    from test_layers import make_rule

    norm, fields, data = SAME_NETS[name]
    rule = {"hand": make_rule(), "hand-lif": _lif_rule()}.get(nets.fitted_rule_name(norm))
    torch.manual_seed(0)
    net = make_net(NetSpec.of(norm, **fields), in_shape=(1, 8, 8), rule=rule, **data)
    structure, checksum = _fingerprint(net)
    expected_structure, expected_checksum = SAME_NET_FINGERPRINTS[name]
    assert structure == expected_structure
    assert checksum == pytest.approx(expected_checksum, rel=1e-9, abs=1e-9)


def test_weight_norm_refuses_an_initialisation_it_cannot_take():
    from bridge.core.errors import UserError

    for fields in ({"init": "kaiming"}, {"init_scale": 3.0}):
        with pytest.raises(UserError, match="norm 'wn' keeps PyTorch's initialisation"):
            NetSpec.of(norm="wn", **fields)
    NetSpec.of(norm="wn")


def test_batchnorm_without_affine_needs_a_batch_too():
    from pydantic import ValidationError

    from bridge.learning.train import TrainConfig

    with pytest.raises(ValidationError, match="'bn-noaffine' needs batch_size >= 2"):
        TrainConfig(norm="bn-noaffine", batch_size=1)
