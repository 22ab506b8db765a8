"""Training end to end: every layer learns, deep nets need normalisation, runs are stored and reproducible."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_layers import make_rule

from bridge.cli import main
from bridge.core.errors import UserError
from bridge.core.store import Store, open_run
from bridge.fitting.rules import save_rule
from bridge.learning.data import fashion_mnist_dir
from bridge.learning.engine import train
from bridge.learning.layers.spiking import HomeostaticLeaky, net_params
from bridge.learning.nets import NetSpec, make_net
from bridge.learning.train import (
    HISTORY_KEYS,
    TrainConfig,
    load_train_rule,
    run_inputs,
    run_training,
    shuffled_batches,
)

needs_fashion = pytest.mark.skipif(
    fashion_mnist_dir() is None,
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist or set HOMEOBRIDGE_DATA)",
)
CHANCE = 0.1
# A 3-layer MLP, 1000 Fashion-MNIST images, 2 epochs of Adam: every layer must learn well above chance.
SHORT = {"dataset": "fashion-mnist", "n_train": 800, "n_test": 400, "depth": 3, "width": 48, "epochs": 2,
             "batch_size": 32, "optimizer": "adam", "lr": 0.004, "device": "cpu", "probe_size": 64}


@pytest.fixture
def rule_store(tmp_path):
    """A results store holding a fitted rate rule ``hand`` and a fitted spiking rule ``hand-lif``."""
    store = Store(tmp_path)
    save_rule(make_rule(), store)
    lif_params = dataclasses.asdict(net_params(8))  # as fitted from a lif-ip run on the net's time scale
    save_rule(make_rule(model="lif-ip", transfer="lif", **lif_params).model_copy(update={"name": "hand-lif"}), store)
    return store


@needs_fashion
@pytest.mark.parametrize("norm", [
    "none", "bn", "ln", "wn", "ip-triesch", "ip-infomax", "ip-gaussian", "scaling", "oja", "dale",
    "fitted:hand",
])
def test_every_rate_layer_trains_a_3_layer_mlp_well_above_chance(norm, rule_store):
    config = TrainConfig(norm=norm, **SHORT)
    history = run_training(config, load_train_rule(config, rule_store), progress=False)
    assert history["status"] == "ok"
    assert history["test_accuracy"][-1] > CHANCE + 0.3, history["test_accuracy"]


@needs_fashion
@pytest.mark.parametrize("norm", ["none", "bn", "homeostatic", "fitted:hand-lif"])
def test_every_spiking_layer_trains_a_3_layer_snn_well_above_chance(norm, rule_store):
    config = TrainConfig(neuron="spiking", norm=norm, time_steps=8, **{**SHORT, "n_train": 600, "epochs": 1})
    history = run_training(config, load_train_rule(config, rule_store), progress=False)
    assert history["test_accuracy"][-1] > CHANCE + 0.25, history["test_accuracy"]


@needs_fashion
def test_deep_mlp_bn_and_ip_both_beat_no_normalisation():
    """10 tanh layers, a fixed short budget of plain SGD, the same seed: normalisation is needed."""
    deep = dict(SHORT, depth=10, n_train=2000, optimizer="sgd", lr=0.05, ip_eta=0.05)
    accuracy = {norm: run_training(TrainConfig(norm=norm, **deep), progress=False)["test_accuracy"][-1]
                for norm in ("none", "bn", "ip-infomax")}
    assert accuracy["bn"] > accuracy["none"] + 0.2, accuracy
    assert accuracy["ip-infomax"] > accuracy["none"] + 0.2, accuracy


def _digits(**changes) -> TrainConfig:
    base = {"dataset": "digits", "n_train": 600, "n_test": 300, "depth": 3, "width": 32, "epochs": 2,
                "batch_size": 16, "optimizer": "adam", "lr": 0.01, "device": "cpu", "probe_size": 64}
    return TrainConfig(**{**base, **changes})


def test_a_fixed_seed_gives_identical_histories():
    first = run_training(_digits(norm="ip-infomax", seed=3), progress=False)
    second = run_training(_digits(norm="ip-infomax", seed=3), progress=False)
    other = run_training(_digits(norm="ip-infomax", seed=4), progress=False)
    for key in (k for k in HISTORY_KEYS if k != "wall_seconds"):
        assert first[key] == second[key], key
    assert first["train_loss"] != other["train_loss"]


@pytest.mark.parametrize("norm", ["fitted:hand", "ip-infomax", "none"])
def test_online_learning_at_batch_size_one(norm, rule_store):
    config = _digits(norm=norm, batch_size=1, epochs=1, optimizer="sgd", lr=0.02)
    history = run_training(config, load_train_rule(config, rule_store), progress=False)
    assert history["test_accuracy"][-1] > 0.6, history["test_accuracy"]


def test_batch_norm_refuses_batch_size_one():
    with pytest.raises(ValueError, match="batch_size >= 2"):
        _digits(norm="bn", batch_size=1)


def test_divergence_stops_the_run_cleanly_and_keeps_the_history(tmp_path):
    config = _digits(norm="none", activation="relu", optimizer="sgd", lr=1e8, epochs=5)
    path = train(config, Store(tmp_path), progress=False)
    with open_run(path, "train") as run:
        assert run.h5.attrs["status"] == "diverged"
        assert "non-finite" in run.h5.attrs["message"]
        epochs = run.array("history/epoch")
        assert 1 <= len(epochs) < 5
        assert run.array("history/grad_norm").shape == (len(epochs), 3)


def test_a_run_is_stored_with_its_schema_and_resumed(tmp_path):
    store = Store(tmp_path)
    config = _digits(norm="bn")
    path = train(config, store, progress=False)
    stamp = path.stat().st_mtime_ns
    with open_run(path, "train") as run:
        assert run.name == "rate-bn" and run.h5.attrs["status"] == "ok"
        assert json.loads(run.h5.attrs["config"])["norm"] == "bn"
        assert list(run.array("history/epoch")) == [1, 2]
        for key in ("grad_norm", "act_mean", "act_std", "info_potential"):
            assert run.array(f"history/{key}").shape == (2, 3), key
        assert (run.array("history/grad_norm") > 0).all()
        assert run.array("history/test_accuracy")[-1] > 0.8
    assert train(config, store, progress=False) == path
    assert path.stat().st_mtime_ns == stamp  # found complete: not trained again


def test_cli_train_prints_json_and_rejects_bad_settings(tmp_path, capsys):
    args = ["--results", str(tmp_path), "train", "--device", "cpu", "--json",
            "--set", "dataset=digits", "--set", "n_train=300", "--set", "n_test=100",
            "--set", "epochs=1", "--set", "norm=ip-gaussian", "--set", "width=16",
            "--set", "optimizer=adam"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ok" and summary["name"] == "rate-ip-gaussian"
    assert summary["final_test_accuracy"] > CHANCE
    assert main(["train", "--set", "norm=bogus", "--set", "dataset=digits"]) == 2
    assert "unknown norm 'bogus'" in capsys.readouterr().err
    assert main(["train", "--set", "lr=-1"]) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_learns_like_on_cpu():
    cpu = run_training(_digits(norm="ip-infomax"), progress=False)
    gpu = run_training(_digits(norm="ip-infomax", device="cuda"), progress=False)
    assert gpu["device"].startswith("cuda")
    assert abs(gpu["test_accuracy"][-1] - cpu["test_accuracy"][-1]) < 0.05


def test_spiking_health_silent_and_saturated_layers_are_seen():
    """A hidden layer fed no current is 100% silent; one driven hard fires every step (saturated)."""
    from bridge.learning.train import HEALTH_STATS, spiking_health

    torch.manual_seed(0)
    net = make_net(NetSpec(neuron="spiking", width=8, time_steps=6), in_shape=(1, 4, 4))
    probe = torch.ones(5, 16)  # every pixel spikes every step
    stat = {name: i for i, name in enumerate(HEALTH_STATS)}
    with torch.no_grad():
        net.blocks[0]["synapse"].weight.zero_()
        net.blocks[0]["synapse"].bias.zero_()
    health = spiking_health(net, probe)
    assert health.shape == (2, len(HEALTH_STATS))
    assert health[0, stat["silent_fraction"]] == 1 and health[0, stat["rate_mean"]] == 0
    assert health[0, stat["membrane_sd"]] == 0 and health[0, stat["threshold_mean"]] == 1
    with torch.no_grad():
        net.blocks[0]["synapse"].bias.fill_(100.0)
    health = spiking_health(net, probe)
    assert health[0, stat["saturated_fraction"]] == 1 and health[0, stat["rate_p10"]] == 1
    assert health[0, stat["silent_fraction"]] == 0


def test_homeostatic_spiking_run_records_thresholds_and_gains(tmp_path):
    from bridge.learning.engine import train
    from bridge.learning.train import HEALTH_STATS, TrainConfig, load_history

    config = TrainConfig(neuron="spiking", norm="homeostatic", n_train=128, n_test=64, epochs=2, width=8,
                         batch_size=32, time_steps=4, probe_size=32, device="cpu")
    history = load_history(train(config, Store(tmp_path), progress=False))
    health = history["spike_health"]
    assert health.shape == (2, 2, len(HEALTH_STATS))  # epochs x hidden layers x stats
    gain_mean = health[..., HEALTH_STATS.index("gain_mean")]
    assert np.isfinite(gain_mean).all() and np.isfinite(health[..., HEALTH_STATS.index("threshold_sd")]).all()


def test_spiking_runs_keep_their_trained_weights(tmp_path):
    from bridge.learning.data import load
    from bridge.learning.engine import train
    from bridge.learning.train import TrainConfig, build, load_weights

    config = TrainConfig(neuron="spiking", norm="homeostatic", n_train=128, n_test=64, epochs=1, width=8,
                         batch_size=32, time_steps=4, probe_size=32, device="cpu")
    weights = load_weights(train(config, Store(tmp_path), progress=False))
    net = build(config, load(config.dataset).subset(128, 64))
    fresh = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(weights)  # strict: every key of the net, nothing else
    assert not torch.equal(fresh["blocks.0.synapse.weight"], net.state_dict()["blocks.0.synapse.weight"])
    assert not torch.equal(fresh["blocks.0.neuron.threshold"], weights["blocks.0.neuron.threshold"])
    rate = train(config.model_copy(update={"neuron": "rate", "norm": "none"}), Store(tmp_path), progress=False)
    with pytest.raises(UserError, match="stores no weights"):
        load_weights(rate)


@needs_fashion
def test_fitted_online_spiking_rule_trains_at_batch_one(tmp_path):
    """The fitted lif-ip rule run online (one step = 10 ms) trains a spiking net one image at a
    time, its thresholds moving."""
    from bridge.learning.engine import train
    from bridge.learning.train import HEALTH_STATS, TrainConfig, load_history

    store = Store(tmp_path)
    save_rule(make_rule(model="lif-ip", transfer="lif"), store)
    config = TrainConfig(neuron="spiking", norm="fitted-online:hand", n_train=300, n_test=200, epochs=2, width=32,
                         batch_size=1, lr=0.01, time_steps=10, spike_dt=0.01, probe_size=64, device="cpu")
    history = load_history(train(config, store, progress=False))
    assert history["status"] == "ok" and history["test_accuracy"][-1] > 0.3
    thresholds = history["spike_health"][..., HEALTH_STATS.index("threshold_mean")]
    assert np.all(np.abs(thresholds - 1) > 1e-3)  # the homeostatic thresholds moved from 1


def test_spiking_fitted_affine_learns_its_gamma_beta_and_is_never_a_run_of_the_plain_fitted_net(rule_store):
    """``fitted:<rule>+affine`` puts a learned per-unit gamma, beta (one per block, shared over the
    time steps) after the spiking current normaliser; revision 1 of this net dropped them, so its
    inputs carry ``net_revision`` 2 and no run of the old net is found for it."""
    affine = _digits(neuron="spiking", norm="fitted:hand-lif+affine", time_steps=6, epochs=1)
    plain = affine.model_copy(update={"norm": "fitted:hand-lif"})
    weights = {c.norm: run_training(c, load_train_rule(c, rule_store), progress=False)["weights"]
               for c in (affine, plain)}
    learned = [k for k in weights[affine.norm] if ".norm." in k and k.endswith(("gamma", "beta"))]
    assert sorted({k.split(".norm.")[0] for k in learned}) == ["blocks.0", "blocks.1"]
    assert all(not np.allclose(weights[affine.norm][k], 1 if k.endswith("gamma") else 0) for k in learned)
    assert not any(".norm." in k and k.endswith(("gamma", "beta")) for k in weights[plain.norm])
    rule = load_train_rule(affine, rule_store)
    assert run_inputs(affine, rule)["net_revision"] == 2 and "net_revision" not in run_inputs(plain, rule)
    with pytest.raises(ValueError, match="unknown norm 'fitted-online:hand-lif\\+affine'"):
        _digits(neuron="spiking", norm="fitted-online:hand-lif+affine")


@needs_fashion
def test_adaptive_threshold_runs_at_batch_one_and_its_health_shows_why_it_is_silent(tmp_path):
    """Diehl & Cook's constants (tau_m 100 ms, 13 mV to threshold) in 10 steps of 10 ms leave a
    default-initialised net silent: the diagnostics say so (all units silent, membrane sd far
    below the 13 mV gap)."""
    from bridge.learning.engine import train
    from bridge.learning.train import HEALTH_STATS, TrainConfig, load_history

    config = TrainConfig(neuron="spiking", norm="adaptive-threshold", n_train=100, n_test=100, epochs=1, width=16,
                         batch_size=1, lr=0.01, time_steps=10, spike_dt=0.01, probe_size=64, device="cpu")
    health = load_history(train(config, Store(tmp_path), progress=False))["spike_health"][-1]
    assert health[0, HEALTH_STATS.index("silent_fraction")] == 1
    assert health[0, HEALTH_STATS.index("membrane_sd")] < 13 / 4


@pytest.mark.parametrize("batch_size", [1, 64, 5000])
def test_shuffled_batches_are_the_batches_of_one_gather_per_batch(batch_size):
    x, y = torch.randn(10000, 3), torch.arange(10000)
    order = torch.randperm(10000, generator=torch.Generator().manual_seed(1))[:10000 // batch_size * batch_size]
    batches = list(shuffled_batches(x, y, order, batch_size))
    assert len(batches) == 10000 // batch_size
    for step, (inputs, labels) in enumerate(batches):
        index = order[step * batch_size:(step + 1) * batch_size]
        assert torch.equal(inputs, x[index]) and torch.equal(labels, y[index])


def test_spike_target_and_gain_adapt_set_the_homeostatic_lif_and_keep_the_ids_of_older_runs():
    default = TrainConfig(neuron="spiking", norm="homeostatic")
    raised = TrainConfig(neuron="spiking", norm="homeostatic", spike_target=0.2)
    assert "spike_target" not in default.to_dict() and raised.to_dict()["spike_target"] == 0.2
    net = make_net(NetSpec.of("homeostatic", neuron="spiking", width=4, spike_target=0.2))
    neurons = [m for m in net.modules() if isinstance(m, HomeostaticLeaky)]
    assert len(neurons) == 2 and all(abs(n.params.r_target * 1e-3 - 0.2) < 1e-12 for n in neurons)
    assert abs(net_params(10).r_target * 1e-3 - 0.1) < 1e-12
    held = make_net(NetSpec.of("homeostatic", neuron="spiking", width=4, spike_gain_adapt=False))
    assert all(m.params.eta_gain == 0 for m in held.modules() if isinstance(m, HomeostaticLeaky))
    assert net_params(10).eta_gain > 0
    assert "spike_gain_adapt" not in default.to_dict()
    with pytest.raises(ValueError):
        TrainConfig(neuron="spiking", norm="homeostatic", spike_target=1.5)
