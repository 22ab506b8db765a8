"""The ensemble engine (issue 24): every member's history equal to the same cell trained alone,
bit for bit, per layer family; another run id than the single engine's, whose products round
otherwise; a diverged member stops alone; the executor's ensembles write the same run files as
cells trained one by one."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_layers import make_rule

from bridge.core.store import Store
from bridge.experiments.executor import groups, run_grid
from bridge.fitting.rules import save_rule
from bridge.learning.engine import run_cells, train
from bridge.learning.ensemble import ENSEMBLE_FAMILIES, ENSEMBLE_REVISION, engine_of, member_grads
from bridge.learning.ensemble_training import MEMBERS_AT_MOST, ensemble_key, run_ensemble, stacked_nets
from bridge.learning.layers.spiking import net_params
from bridge.learning.train import HISTORY_KEYS, TrainConfig, build, load_history, run_data, run_inputs, run_training

SMALL = {"dataset": "digits", "n_train": 320, "n_val": 64, "n_test": 128, "epochs": 2, "depth": 4, "width": 16,
         "batch_size": 16, "device": "cpu", "probe_size": 64, "grad_samples": 5}
FAMILIES = ["none", "bn", "bn-noaffine", "ip-infomax", "ip-triesch+affine", "ip-infomax-adam", "fitted:hand",
            "fitted:hand+affine", "oja", "oja-post"]


def _same(first: dict, second: dict) -> None:
    for key in HISTORY_KEYS:
        if key != "wall_seconds":
            np.testing.assert_array_equal(np.asarray(first[key], float), np.asarray(second[key], float), err_msg=key)
    assert (first["status"], first.get("message")) == (second["status"], second.get("message"))


SPIKING = {**SMALL, "neuron": "spiking", "depth": 3, "n_train": 96, "n_val": 32, "n_test": 64, "probe_size": 32,
           "time_steps": 4}
SPIKING_FAMILIES = ["none", "bn", "ip", "homeostatic", "adaptive-threshold", "fitted:hand-lif",
                    "fitted-online:hand-lif"]


def _lif_rule():
    return make_rule(model="lif-ip", transfer="lif", **dataclasses.asdict(net_params(4))).model_copy(
        update={"name": "hand-lif"})


def test_every_family_of_the_engine_is_tested():
    assert {TrainConfig(norm=norm).norm_spec.family for norm in FAMILIES} == set(ENSEMBLE_FAMILIES["rate"])
    assert ({TrainConfig(neuron="spiking", norm=norm).norm_spec.family for norm in SPIKING_FAMILIES}
            == set(ENSEMBLE_FAMILIES["spiking"]))


@pytest.mark.parametrize("norm", FAMILIES)
@pytest.mark.parametrize("batch_size", [1, 16])
def test_each_member_equals_its_cell_trained_alone_bit_for_bit(norm, batch_size):
    if batch_size == 1 and norm.startswith("bn"):
        pytest.skip("BatchNorm has no batch at size 1")
    rule = make_rule() if norm.startswith("fitted:") else None
    fields = {**SMALL, "norm": norm, "batch_size": batch_size, "momentum": 0.5 if batch_size > 1 else 0.0}
    if batch_size == 1:
        fields |= {"n_train": 48, "epochs": 1}
    configs = [TrainConfig(**fields, seed=0, lr=lr) for lr in (0.01, 0.05, 0.2)]  # digits: its split is the seed's
    together = run_ensemble(configs, rule, progress=False)
    for config, member in zip(configs, together):
        _same(member, run_ensemble([config], rule, progress=False)[0])
        assert member["engine"] == "ensemble" and member["ensemble_size"] == 3


@pytest.mark.parametrize("norm", SPIKING_FAMILIES)
@pytest.mark.parametrize(("batch_size", "width", "readout"), [(16, 16, "count"), (1, 64, "membrane"), (1, 20, "count")])
def test_each_spiking_member_equals_its_cell_trained_alone_bit_for_bit(norm, batch_size, width, readout):
    """Batch 16 x width 16 and batch 1 x width 64: one step over all members; width 20 at batch 1:
    each member's neurons on their own slice."""
    if batch_size == 1 and norm == "bn":
        pytest.skip("BatchNorm has no batch at size 1")
    rule = _lif_rule() if "hand-lif" in norm else None
    fields = {**SPIKING, "norm": norm, "batch_size": batch_size, "width": width, "readout": readout}
    if batch_size == 1:
        fields |= {"n_train": 24, "epochs": 1}
    configs = [TrainConfig(**fields, seed=0, lr=lr) for lr in (0.01, 0.05, 0.2)]
    assert engine_of(configs[0], rule) == "ensemble"
    together = run_ensemble(configs, rule, progress=False)
    for config, member in zip(configs, together):
        alone = run_ensemble([config], rule, progress=False)[0]
        _same(member, alone)
        np.testing.assert_array_equal(member["spike_health"], alone["spike_health"])
        assert member["weights"].keys() == alone["weights"].keys()
        for key, array in member["weights"].items():
            np.testing.assert_array_equal(array, alone["weights"][key], err_msg=key)
    assert not np.array_equal(together[0]["weight_grad_norm"], together[2]["weight_grad_norm"])  # rates differ


def test_a_spiking_ensemble_learns_as_the_single_engine_does():
    """Another rate-code stream, the same net and data: the same learning, to the noise."""
    config = TrainConfig(**{**SPIKING, "dataset": "fashion-mnist", "n_train": 512, "n_test": 256, "width": 64,
                            "norm": "homeostatic", "epochs": 2}, seed=0, lr=0.1)
    ensemble, single = run_ensemble([config], progress=False)[0], run_training(config, progress=False)
    assert ensemble["test_accuracy"][-1] > 0.4 and single["test_accuracy"][-1] > 0.4
    assert abs(ensemble["test_accuracy"][-1] - single["test_accuracy"][-1]) < 0.1


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize(("members", "batch_size", "width"), [(3, 1, 20), (32, 3, 20), (32, 1, 64)])
def test_members_equal_alone_at_odd_widths_whatever_the_activation(activation, members, batch_size, width):
    """Vectorised kernels round an element by its place in a vector: at a width of 20 a member's
    slice starts mid-vector, so its activations must run on its own slice; at 64 one kernel runs
    over all members."""
    fields = {**SMALL, "width": width, "activation": activation, "batch_size": batch_size, "n_train": 30,
              "epochs": 1}
    configs = [TrainConfig(**fields, seed=0, lr=0.01 * (1 + e)) for e in range(members)]
    together = run_ensemble(configs, progress=False)
    for e in (0, members // 2, members - 1):
        _same(together[e], run_ensemble([configs[e]], progress=False)[0])


def test_members_of_other_seeds_keep_their_own_weights_and_data_order():
    fields = {**SMALL, "dataset": "mnist1d", "norm": "bn"}
    configs = [TrainConfig(**fields, seed=0, lr=0.05), TrainConfig(**fields, seed=0, lr=0.1)]
    assert ensemble_key(TrainConfig(**fields, seed=1, lr=0.05)) != ensemble_key(configs[0])  # mnist1d: data by seed
    fashion = [TrainConfig(**{**SMALL, "dataset": "fashion-mnist"}, seed=seed, lr=0.05) for seed in (0, 1)]
    assert ensemble_key(fashion[0]) == ensemble_key(fashion[1])
    for config, member in zip(configs, run_ensemble(configs, progress=False)):
        _same(member, run_ensemble([config], progress=False)[0])


def test_the_engine_is_part_of_the_run_id_since_its_products_round_otherwise():
    config = TrainConfig(**{**SMALL, "width": 128, "batch_size": 32, "norm": "ip-infomax"}, seed=0, lr=0.05)
    ensemble, single = run_ensemble([config], progress=False)[0], run_training(config, progress=False)
    assert not np.array_equal(ensemble["grad_norm"], single["grad_norm"])  # baddbmm on W^T vs F.linear on W
    np.testing.assert_allclose(ensemble["train_loss"], single["train_loss"], rtol=1e-4)  # the same net and data
    assert run_inputs(config, None)["engine"] == "ensemble" == engine_of(config)
    assert run_inputs(config, None)["engine_revision"] == ENSEMBLE_REVISION
    assert run_inputs(TrainConfig(neuron="spiking", norm="none", width=256), None)["engine"] == "single"
    reference = config.model_copy(update={"engine": "single"})  # asked for: the single engine, another run id
    assert engine_of(reference) == "single" and "engine" not in config.to_dict()
    assert run_training(reference, progress=False)["grad_norm"] == single["grad_norm"]


@pytest.mark.parametrize("fields", [{**SMALL, "activation": "relu", "norm": "none"},
                                    {**SMALL, "activation": "relu", "norm": "bn"},
                                    {**SPIKING, "width": 64, "norm": "homeostatic", "readout": "membrane"},
                                    {**SPIKING, "width": 20, "batch_size": 3, "norm": "homeostatic",
                                     "readout": "membrane"}],
                         ids=["none", "bn", "spiking", "spiking-per-member"])
def test_a_diverged_member_stops_alone_as_its_cell_would(fields):
    configs = [TrainConfig(**fields, seed=0, lr=lr) for lr in (0.05, 3e38)]
    steady, exploded = run_ensemble(configs, progress=False)
    assert steady["status"] == "ok" and len(steady["epoch"]) == 2
    assert exploded["status"] == "diverged" and len(exploded["epoch"]) == 1
    _same(steady, run_ensemble(configs[:1], progress=False)[0])
    _same(exploded, run_ensemble(configs[1:], progress=False)[0])


def test_the_executor_groups_ensembles_and_writes_the_runs_cells_alone_write(tmp_path):
    configs = [TrainConfig(**SMALL, norm=norm, seed=0, lr=lr) for norm in ("none", "bn") for lr in (0.02, 0.1)]
    layer_norm = TrainConfig(**{**SMALL, "epochs": 1}, norm="ln", seed=0, lr=0.1)  # a cell of the single engine
    alone, together = Store(tmp_path / "alone"), Store(tmp_path / "together")
    tasks = groups([*configs, layer_norm], together)
    assert [len(t) for t in tasks] == [2, 2, 1] and [layer_norm] in tasks
    assert all(len(t) <= MEMBERS_AT_MOST for t in groups(configs * 20, together))
    assert [len(t) for t in groups(configs[:2] * 3, together, workers=3)] == [2, 2, 2]  # every worker busy
    single_paths = [train(c, alone, progress=False) for c in configs]
    grid_paths = run_grid(configs, 1, together, progress=False)
    assert [p.name for p in single_paths] == [p.name for p in grid_paths]  # the same run ids
    for a, b in zip(single_paths, grid_paths):
        _same(load_history(a), load_history(b))
    assert [h["engine"] for h in run_cells(configs[:2], None, progress=False)] == ["ensemble"] * 2


def test_a_fitted_ensemble_writes_each_member_with_its_rule(tmp_path):
    store = Store(tmp_path)
    save_rule(make_rule(), store)
    configs = [TrainConfig(**SMALL, norm="fitted:hand", seed=0, lr=lr) for lr in (0.02, 0.1)]
    assert [len(t) for t in groups(configs, store)] == [2]
    paths = run_grid(configs, 1, store, progress=False)
    assert len({p.name for p in paths}) == 2 and all(load_history(p)["status"] == "ok" for p in paths)
    scaling = make_rule().model_copy(update={"kind": "scaling"})
    assert engine_of(configs[0], scaling) == "single" == engine_of(configs[0], None)  # a scaling rule scales weights


def _single_grads(net, loss) -> list:
    loss.backward()
    return [p.grad for block in net.blocks for p in block.parameters()]


@pytest.mark.parametrize("neuron", ["rate", "spiking"])
def test_the_fused_weight_step_takes_the_gradient_autograd_gives(neuron):
    """The weight step is formed from the backward's factors, summed over every call of a layer
    (a spiking synapse runs once per time step): the member's gradient equals autograd's on its
    single net, to rounding."""
    config = TrainConfig(**{**(SPIKING if neuron == "spiking" else SMALL), "norm": "none"}, seed=0, lr=0.1)
    inputs = run_data(config, torch.device("cpu"))
    net = build(config, inputs.data)
    ensemble = stacked_nets([copy.deepcopy(net)], [config])
    x, y = inputs.data.x_train[:8], inputs.data.y_train[:8]
    if neuron == "spiking":
        codes = ensemble.rate_code(x.flatten(1)[None])
        ours, theirs = ensemble.simulate(codes)[0], net.simulate(list(codes[:, 0]))
    else:
        ours, theirs = ensemble(x[None])[0], net(x)
    F.cross_entropy(ours, y).backward()
    expected = _single_grads(net, F.cross_entropy(theirs, y))
    for got, want in zip(member_grads(ensemble, 0, net), expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
