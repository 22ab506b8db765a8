"""Rate neurons as model files (issue 26): the three built-in rate IP models written as files, a
file's generated rate step against Brian2 and against the hand-written rules, a rate file's
sweep equal to the built-in's, its rule trained online in a rate net (a rate file's mistakes:
tests/test_model_file.py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bridge.cli import main
from bridge.core.model_file import ModelFile, checked
from bridge.learning.layers import GeneratedRate, IntrinsicPlasticity
from models import as_model_file
from sims.model_neuron import FileNeuron

RATE_MODELS = {"rate-ip-triesch": "triesch", "rate-ip-infomax": "infomax", "rate-ip-gaussian": "gaussian"}
DT = 1e-3  # seconds a sample: the rules' per-sample eta is their Brian2 eta times this


def _file(name: str, tmp_path: Path) -> Path:
    """The built-in ``name`` written as a model file, as ``homeobridge models file`` writes it."""
    path = tmp_path / f"{name}.toml"
    assert main(["models", "file", name, "-o", str(path)]) == 0
    return path


def _drive(steps: int, batch: int, units: int, seed: int = 0) -> torch.Tensor:
    """Inputs whose mean and spread the rules must adapt to: N(0.4, 1.5^2) per unit."""
    generator = torch.Generator().manual_seed(seed)
    return 0.4 + 1.5 * torch.randn(steps, batch, units, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("name", list(RATE_MODELS))
@pytest.mark.parametrize("batch", [1, 64])
def test_a_rate_built_in_as_a_model_file_steps_as_its_hand_written_rule(name, batch):
    """The built-in's file form in a GeneratedRate layer against the hand-written rule in an
    IntrinsicPlasticity layer (models/, kept for speed): 2,000 batches of float64 inputs, the
    outputs, gains and biases within 1e-9 of their ranges after every batch (the gain stays
    far above IntrinsicPlasticity's floor of 1e-3, which the file does not have)."""
    generated = GeneratedRate(8, checked(ModelFile(**as_model_file(name))), DT).double().train()
    reference = IntrinsicPlasticity(8, RATE_MODELS[name]).double().train()
    for x in _drive(2000, batch, 8):
        y, y_reference = generated(x), reference(x)
        np.testing.assert_allclose(y.numpy(), y_reference.numpy(), rtol=0, atol=1e-9)
        for mine, theirs in ((generated.h_a, reference.gain), (generated.h_b, reference.bias)):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=0, atol=1e-9 * float(theirs.abs().max()))
    assert float(reference.gain.min()) > 0.1 and float((reference.gain - 1).abs().max()) > 0.05  # it adapted


def test_a_rate_file_on_a_feature_map_takes_one_unit_per_channel():
    """On (batch, channels, H, W) every position is a sample of its channel, as IntrinsicPlasticity2d's."""
    from bridge.learning.layers import IntrinsicPlasticity2d

    generated = GeneratedRate(3, checked(ModelFile(**as_model_file("rate-ip-infomax"))), DT).double().train()
    reference = IntrinsicPlasticity2d(3, "infomax").double().train()
    for x in _drive(200, 4, 3 * 25).reshape(200, 4, 3, 5, 5):
        np.testing.assert_allclose(generated(x).numpy(), reference(x).numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(generated.h_a.numpy(), reference.gain.numpy(), rtol=1e-9)
    np.testing.assert_allclose(generated.h_b.numpy(), reference.bias.numpy(), rtol=0, atol=1e-9)


def _brian2_gain_bias(model, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One neuron of the file in Brian2 driven by ``inputs`` (one per step of DT): a, b after each step."""
    from brian2 import Network, StateMonitor, TimedArray, prefs, second

    prefs.codegen.target = "numpy"
    group = FileNeuron(model, DT).build(1, "rate_reference", "x = drive(t) : 1\n")
    states = StateMonitor(group, ["a", "b"], record=True, when="end")
    Network(group, states).run(len(inputs) * DT * second,
                               namespace={"drive": TimedArray(inputs, dt=DT * second)})
    return np.asarray(states.a)[0], np.asarray(states.b)[0]


@pytest.mark.parametrize("batch", [1, 64])
def test_the_generated_rate_layer_follows_brian2(tmp_path, batch):
    """The Triesch file in the layer against Brian2 running the same file, 3,000 steps of a
    random input: a and b within 1e-9 of their ranges after every step; at batch 64 (every sample
    the same) the batch mean is the batch-1 neuron."""
    model = checked(ModelFile(**as_model_file("rate-ip-triesch")))
    inputs = _drive(3000, 1, 1, seed=3)[:, 0, 0].numpy()
    a_ref, b_ref = _brian2_gain_bias(model, inputs)
    layer = GeneratedRate(1, model, DT).double().train()
    a, b = [], []
    for value in inputs:
        layer(torch.full((batch, 1), float(value), dtype=torch.float64))
        a.append(float(layer.h_a[0]))
        b.append(float(layer.h_b[0]))
    assert np.ptp(a_ref) > 0.05
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-9 * np.abs(a_ref).max())
    np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-9 * np.abs(b_ref).max())


SMOKE = ["duration=6", "measure=2", "mu=-0.5,0.5", "sigma=0.5,1", "neurons_per_cell=1", "fi_duration=0.5",
         "fi_points=9"]


def _sets(*items: str) -> list[str]:
    return [part for item in items for part in ("--set", item)]


def test_a_rate_files_sweep_is_the_built_ins_and_its_rule_trains_online(tmp_path, capsys):
    """The infomax file's sweep (CLI) gives the built-in's outputs and f-I curves exactly (the same
    equations, seed and noise), its trace the built-in's gain; fitted from its curves, its rule
    trains a rate net online (fitted-online: its GeneratedRate) and at equilibrium (fitted:); a
    spiking net refuses it, one line; it runs the rate studies' fitted arms, not the spiking ones'."""
    path = _file("rate-ip-infomax", tmp_path)
    runs = {}
    for store, model in (("results", str(path)), ("built-in", "rate-ip-infomax")):
        assert main(["--results", str(tmp_path / store), "sim", "homeostasis-sweep",
                     *_sets(f"model={model}", *SMOKE)]) == 0
        (runs[model],) = (tmp_path / store / "sims" / "homeostasis-sweep").glob("*.h5")
    results = str(tmp_path / "results")
    with h5py.File(runs[str(path)]) as mine, h5py.File(runs["rate-ip-infomax"]) as built_in:
        for key in ("final/output_mean", "final/output_var", "fi/before", "fi/response"):
            np.testing.assert_allclose(mine[key][()], built_in[key][()], rtol=0, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(mine["traces/state"][()], built_in["traces/gain"][()], rtol=0, atol=1e-12)
        assert mine["model"].attrs["transfer"] == "tanh"
    assert main(["--results", results, "fit", str(runs[str(path)]), "--name", "infomax-file"]) == 0
    train = ["--results", results, "train", *_sets("n_train=256", "n_test=64", "n_val=64", "epochs=1", "width=16",
                                                    "depth=2")]
    for norm in ("fitted-online:infomax-file", "fitted:infomax-file"):
        assert main([*train, *_sets(f"norm={norm}")]) == 0, norm
        assert "| ok |" in capsys.readouterr().out
    assert main([*train, *_sets("neuron=spiking", "norm=fitted-online:infomax-file")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a rate neuron" in err, err
    from bridge.core.store import Store
    from bridge.experiments.studies import get_study
    from bridge.experiments.studies.engine import fits_study
    from bridge.fitting.rules import load_rule

    rule = load_rule("infomax-file", Store(Path(results)))
    assert fits_study(rule, get_study("shaw-depth")) and not fits_study(rule, get_study("snn-online"))
    assert not fits_study(rule, get_study("shen-scaling"))  # a scaling study's fitted arm takes a scaling rule



def test_a_rate_neurons_sensor_is_refused_in_one_line():
    """A rate neuron's output is instantaneous: a sensor (a per-sample trace) has no place in its layer."""
    from bridge.core.errors import UserError
    from bridge.core.model_file import check_model

    content = as_model_file("rate-ip-infomax")
    content["equations"] += "dr/dt = (y - r)/(10*ms) : 1\n"
    content["homeostasis"] = {**content["homeostasis"], "sensors": ["r"]}
    with pytest.raises(UserError, match="homeostasis.sensors: a rate neuron has none"):
        check_model(ModelFile(**content))
