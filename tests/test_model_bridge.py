"""A model file through the whole bridge (issue 26): sim -> fit -> export -> train, the layer of
its generated step against Brian2 at batch 1 and 64, and a model file's provenance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bridge.cli import main
from bridge.core.model_file import checked, load_model
from bridge.core.store import Store
from bridge.fitting.effective import effective_gain_bias
from bridge.fitting.rules import load_rule
from bridge.fitting.transfer import lif_rate
from bridge.learning.layers import GeneratedLeaky
from sims import configure
from sims.model_neuron import FileNeuron

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "adex-threshold.toml"
DT = 2e-4  # seconds: the sweep's step and the layer's substep
SMOKE_SWEEP = [f"model={EXAMPLE}", f"dt={DT}", "duration=20", "measure=5", "mu=-0.5,0,0.5", "sigma=0.5,1",
               "neurons_per_cell=1", "fi_duration=1", "fi_points=9", 'model_params={"r_target": 40}']


@pytest.fixture(scope="module")
def adex_store(tmp_path_factory) -> Path:
    """A store holding the example's smoke sweep and the rule fitted to it, both made by the CLI."""
    results = tmp_path_factory.mktemp("adex")
    sets = [item for pair in (("--set", s) for s in SMOKE_SWEEP) for item in pair]
    assert main(["--results", str(results), "sim", "homeostasis-sweep", *sets, "--json"]) == 0
    (run,) = (results / "sims" / "homeostasis-sweep").glob("*.h5")
    assert main(["--results", str(results), "fit", str(run), "--name", "adex"]) == 0
    return results


def test_the_example_goes_from_its_file_to_a_fitted_rule_and_trained_nets(adex_store, tmp_path, capsys):
    """The file's neuron is simulated (its variable traced), fitted (the rule carries the file and
    says so), exported as a layer and trained in spiking nets at equilibrium and online."""
    (run,) = (adex_store / "sims" / "homeostasis-sweep").glob("*.h5")
    model = load_model(EXAMPLE).model.with_values({"r_target": 40})
    with h5py.File(run) as h5:
        assert json.loads(h5.attrs["config"])["model_hash"] == model.content_hash()
        assert h5["model"].attrs["model_hash"] == model.content_hash()
        rates = h5["final/output_mean"][()]
    assert np.all(np.abs(rates - 40) < 10), rates  # the homeostasis brought every condition near its target
    assert load_rule("adex", Store(adex_store)).model_file == json.loads(model.model_dump_json())
    capsys.readouterr()
    assert main(["--results", str(adex_store), "rules", "--json"]) == 0
    assert '"adex"' in capsys.readouterr().out
    assert main(["--results", str(adex_store), "export", "adex", "-o", str(tmp_path / "adex.pt"), "--units", "8"]) == 0
    for norm in ("fitted:adex", "fitted-online:adex"):
        assert main(["--results", str(adex_store), "train", "--set", "neuron=spiking", "--set", f"norm={norm}",
                     "--set", "n_train=128", "--set", "n_test=64", "--set", "epochs=1", "--set", "width=16",
                     "--set", "depth=2", "--set", "spike_dt=0.001", "--set", "time_steps=4"]) == 0, norm
    out = capsys.readouterr().out
    assert "fitted-online-adex" in out and "| ok |" in out
    assert main(["--results", str(adex_store), "report", "-o", str(tmp_path / "report.html")]) == 0
    assert f"sweep {run.stem}" in (tmp_path / "report.html").read_text()  # its sweep plot, gain and bias as fitted


def test_a_changed_model_file_is_a_new_sim_and_a_moved_one_is_not(tmp_path):
    moved = tmp_path / "elsewhere.toml"
    shutil.copy(EXAMPLE, moved)
    changed = tmp_path / "changed.toml"
    changed.write_text(EXAMPLE.read_text().replace('r_target = { value = 10', 'r_target = { value = 20'))

    def stored(path: Path) -> dict:
        return configure("homeostasis-sweep", [f"model={path}"], "numpy")[2]

    assert stored(moved) == stored(EXAMPLE)
    assert stored(changed)["model_hash"] != stored(EXAMPLE)["model_hash"]
    assert stored(EXAMPLE)["model"] == "adex-threshold" and str(EXAMPLE) not in json.dumps(stored(EXAMPLE))


def test_the_effective_gain_and_bias_are_what_was_done_to_the_curve():
    """after(x) = A f(g x + b1) against before(x) = A f(a0 x + b0): the fit returns g and b1 - 1
    (the drive above the LIF curve's onset) for each condition."""
    x = np.linspace(-4, 4, 17)
    before = 50 * lif_rate(0.8 * x + 1.2)
    gains, b1 = np.array([0.8, 0.5, 1.3]), np.array([1.2, 0.9, 0.4])
    after = np.stack([50 * lif_rate(g * x + b) for g, b in zip(gains, b1)])
    effective = effective_gain_bias("lif", x, np.stack([before] * 3), after, np.zeros(3))
    np.testing.assert_allclose(effective.gain, gains, rtol=1e-4)
    np.testing.assert_allclose(effective.bias, b1 - 1, atol=1e-4)


def _brian2_trajectory(model, current: float, steps: int):
    """One neuron of the file in Brian2 at a constant normalised input: v and theta after each step."""
    from brian2 import Network, SpikeMonitor, StateMonitor, prefs, second

    prefs.codegen.target = "numpy"
    group = FileNeuron(model, DT).build(1, "adex_reference", "x : 1 (constant)\n")
    group.x = current
    states = StateMonitor(group, ["v", "theta"], record=True, when="end")
    spikes = SpikeMonitor(group)
    Network(group, states, spikes).run(steps * DT * second)
    return np.asarray(states.v_)[0], np.asarray(states.theta_)[0], int(spikes.count[0])


def _layer_trajectory(model, current: float, steps: int, batch: int):
    layer = GeneratedLeaky(1, model, DT, 1).double().train()
    state, v, theta, count = None, [], [], 0.0
    drive = torch.full((batch, 1), current, dtype=torch.float64)
    for _ in range(steps):
        spikes, state = layer(drive, state)
        count += spikes
        v.append(state["v"][:, 0].numpy().copy())
        theta.append(float(state["theta"][0, 0]))
    assert torch.equal(layer.s_r, state["r"].mean(0)) and torch.equal(layer.h_theta, state["theta"][0])
    assert torch.equal(layer.init_state(batch, drive)["r"], state["r"])  # the next sample starts at the sensor's mean
    return np.stack(v, 1), np.asarray(theta), count[:, 0].numpy()


@pytest.mark.parametrize("batch", [1, 64])
def test_the_generated_layer_follows_brian2(batch):
    """The example's neuron in the layer (its generated step, the homeostatic theta a per-neuron
    buffer moved by the batch mean) against Brian2 at a constant input, 1 s of 0.2 ms steps:
    v within 1e-9 of its range, theta within 1e-9 of its own, the spike counts equal; at batch 64
    (every sample the same) each sample is the batch-1 neuron."""
    model = checked(load_model(EXAMPLE).model)
    steps, current = 5000, 0.5
    v_ref, theta_ref, count_ref = _brian2_trajectory(model, current, steps)
    v, theta, count = _layer_trajectory(model, current, steps, batch)
    assert count_ref > 10 and np.all(count == count_ref)
    for sample in v:
        np.testing.assert_allclose(sample, v_ref, rtol=0, atol=1e-9 * np.abs(v_ref).max())
    np.testing.assert_allclose(theta, theta_ref, rtol=0, atol=1e-9 * np.abs(theta_ref).max())


def test_a_model_added_to_the_store_is_simulated_by_its_name(tmp_path, capsys):
    results = str(tmp_path)
    assert main(["--results", results, "models", "add", str(EXAMPLE)]) == 0
    tiny = ["dt=0.0005", "duration=0.5", "measure=0.2", "fi_duration=0.1", "mu=0", "sigma=1",
            "neurons_per_cell=1", "fi_points=2", "record_dt=0.1"]
    sets = [item for s in ["model=adex-threshold", *tiny] for item in ("--set", s)]
    assert main(["--results", results, "sim", "homeostasis-sweep", *sets, "--json"]) == 0
    (run,) = (tmp_path / "sims" / "homeostasis-sweep").glob("*.h5")
    with h5py.File(run) as h5:
        assert json.loads(h5.attrs["config"])["model_hash"] == load_model(EXAMPLE).model.content_hash()
    builtin = tmp_path / "lif-ip.toml"
    builtin.write_text(EXAMPLE.read_text().replace('name = "adex-threshold"', 'name = "lif-ip"'))
    capsys.readouterr()
    assert main(["--results", results, "models", "add", str(builtin)]) == 2
    assert "built-in model's name" in capsys.readouterr().err
    assert main(["--results", results, "sim", "homeostasis-sweep", "--set", f"model={builtin}"]) == 2
    assert "is a built-in model's" in capsys.readouterr().err


def test_a_model_files_rule_runs_the_spiking_studies_fitted_arms_only(adex_store, capsys):
    """snn-depth at smoke budget with the example's rule: its fitted arms run the file's neuron
    (fitted-online: GeneratedLeaky); a rate study refuses the rule."""
    from bridge.experiments.studies import get_study
    from bridge.experiments.studies.engine import fits_study

    rule = load_rule("adex", Store(adex_store))
    assert fits_study(rule, get_study("snn-online")) and not fits_study(rule, get_study("shaw-depth"))
    assert main(["--results", str(adex_store), "study", "run", "snn-depth", "--budget", "smoke", "--rule", "adex",
                 "--workers", "1", "--quiet"]) == 0
    assert "| snn-depth | smoke (protocol check, not a finding) | homeostasis beats none in deep SNNs | depth 6 | " \
           "fitted-online - none |" in capsys.readouterr().out
    refused = ["--results", str(adex_store), "study", "run", "shaw-depth", "--budget", "smoke", "--rule", "adex"]
    assert main(refused) == 2
    assert "needs a rule fitted to a rate-ip model or a rate model file" in capsys.readouterr().err


def _hand_written_lif_ip(currents: torch.Tensor, steps: int, dt: float):
    from models.lif_ip import LifIPParams, lif_ip_initial_state, lif_ip_step

    params = LifIPParams()
    state = lif_ip_initial_state(len(currents), params, currents)  # a batch of one sample
    rows, count = [], 0.0
    for _ in range(steps):
        spikes, state = lif_ip_step(currents[None], state, params, dt)
        count += spikes[0]
        rows.append({"v": state.v[0], "theta": state.theta, "gain": state.gain, "m": state.mean_rate})
    return rows, count


def _hand_written_adaptive(currents: torch.Tensor, steps: int, dt: float):
    from models.adaptive_threshold import AdaptiveThresholdParams, adaptive_threshold_step
    from models.adaptive_threshold import adaptive_threshold_initial_state as initial

    params = AdaptiveThresholdParams()
    state = initial(len(currents), params, currents)  # a batch of one sample
    rows, count = [], 0.0
    for _ in range(steps):
        spikes, state = adaptive_threshold_step(currents[None] * 1e3, state, params, dt)  # the hand-written step: mV
        count += spikes[0]
        rows.append({"v": state.v[0] * 1e-3, "theta": state.theta * 1e-3})
    return rows, count


HAND_WRITTEN = {"lif-ip": (_hand_written_lif_ip, [0.6, 1.2, 2.0, 3.0]),
                "lif-adaptive-threshold": (_hand_written_adaptive, [0.010, 0.015, 0.020, 0.026])}


@pytest.mark.parametrize("name", list(HAND_WRITTEN))
def test_a_built_in_as_a_model_file_steps_as_its_hand_written_step(name):
    """The built-in's model-file form (``homeobridge models file``) checks, and its generated step
    equals the hand-written torch step kept for speed (models/): 3,000 steps of 1 ms at four
    inputs (one neuron each, batch 1 so the batch means are the sample), every compared variable
    within 1e-9 of its range, the spike counts equal."""
    from bridge.core.generated_step import si_values
    from bridge.core.model_file import ModelFile
    from models import as_model_file

    model = checked(ModelFile(**as_model_file(name)))
    run, inputs = HAND_WRITTEN[name]
    currents, steps, dt = torch.tensor(inputs, dtype=torch.float64), 3000, 1e-3
    reference, reference_count = run(currents, steps, dt)
    values = {k: torch.tensor(v, dtype=torch.float64) for k, v in si_values(model.model.namespace()).items()}
    rest = model.model.rest()
    state = {k: torch.full((len(inputs),), rest.get(k, 0.0), dtype=torch.float64) for k in model.step.state}
    count = 0.0
    for row in reference:
        spikes, state = model.step({**values, **state, "I": currents}, dt, lambda d: (d > 0).double())
        count += spikes
        for key, expected in row.items():
            scale = max(float(expected.abs().max()), 1e-12)
            np.testing.assert_allclose(state[key].numpy(), expected.numpy(), rtol=0, atol=1e-9 * scale, err_msg=key)
    assert torch.equal(count, reference_count) and reference_count.max() > 10


def test_a_built_in_is_written_as_a_model_file_that_checks(tmp_path, capsys):
    target = tmp_path / "lif-ip.toml"
    assert main(["models", "file", "lif-ip", "-o", str(target)]) == 0
    assert main(["models", "check", str(target)]) == 0
    assert main(["models", "file", "oja"]) == 2
    assert "no model-file form" in capsys.readouterr().err
