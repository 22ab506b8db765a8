"""NIR interchange: a trained spiking net goes out as NIR (``export RUN --to nir``), is read back
by plain ``nir.read`` node by node, and comes back through snntorch's own importer with the same
predictions and spike counts."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from test_data import needs_fashion
from test_layers import make_rule

from bridge.cli import main
from bridge.core.store import Store
from bridge.experiments.interchange import NIR_DT, NirNet, lif_names, rate_code, spiking_graph, write_nir
from bridge.fitting.rules import save_rule
from bridge.learning.engine import train
from bridge.learning.layers.spiking import net_params
from bridge.learning.nets import NetSpec, make_net
from bridge.learning.train import TrainConfig, restore, summarise

IMAGES = 500


@pytest.fixture
def fitted_store(tmp_path):
    """A store with the fitted spiking rule ``hand-lif`` (equilibrium normaliser)."""
    import dataclasses

    store = Store(tmp_path / "results")
    rule = make_rule(model="lif-ip", transfer="lif", **dataclasses.asdict(net_params(8)))
    save_rule(rule.model_copy(update={"name": "hand-lif"}), store)
    return store


def both_ways(net, graph, x: torch.Tensor, time_steps: int):
    """(trained net's readout, its spike rates per layer), (imported net's ...), on the same spikes."""
    spikes = rate_code(x, time_steps, torch.Generator().manual_seed(1))
    trained, imported = [], []
    with torch.no_grad():
        out = net.simulate(spikes, trained)
        back = NirNet(graph)(spikes, imported)
    return (out, trained), (back, imported)


@needs_fashion
def test_trained_fitted_spiking_net_round_trips_through_nir_with_identical_predictions(fitted_store, tmp_path,
                                                                                        capsys):
    """Train a homeostatic spiking net (the fitted rule's equilibrium normaliser, +affine) on
    Fashion-MNIST, export it with the CLI, import it with snntorch's NIR importer: the same
    predictions on 500 test images, the same spike counts in every layer (floating point aside)."""
    config = TrainConfig(neuron="spiking", norm="fitted:hand-lif+affine", n_train=512, n_test=IMAGES, epochs=1,
                         width=32, depth=3, batch_size=32, time_steps=8, probe_size=32, device="cpu", lr=0.05)
    run = train(config, fitted_store, progress=False)
    output = tmp_path / "net.nir"
    assert main(["--results", str(fitted_store.root), "export", str(run), "--to", "nir", "-o", str(output)]) == 0
    graph = nir.read(output)
    net, _ = restore(run, fitted_store)
    from bridge.learning.data import load

    data = load("fashion-mnist")
    (out, trained), (back, imported) = both_ways(net, graph, data.x_test[:IMAGES].flatten(1), 8)
    assert torch.equal(out.argmax(1), back.argmax(1))
    trained[-1] = trained[-1] / 8  # the trained net records its readout (spike counts) last; NirNet rates
    for ours, theirs in zip(trained, imported):
        assert (ours != theirs).double().mean() < 1e-3  # a rare threshold tie may flip a spike
    assert float(trained[0].mean()) > 0.01  # the hidden layers do spike
    capsys.readouterr()
    assert main(["import", str(output), "--images", str(IMAGES)]) == 0
    # the same rate code (seed 0) as the run's own evaluation: the same accuracy on the same images
    printed = float(capsys.readouterr().out.split("test accuracy on 500 images: ")[1].split(";")[0])
    assert printed == pytest.approx(summarise(run)["final_test_accuracy"], abs=1e-9)


def test_nir_file_is_read_back_by_plain_nir_node_by_node(tmp_path):
    """An adaptive-threshold net with per-neuron thresholds: Affine weights carry the input scale,
    LIF nodes the snntorch convention (tau = dt/(1 - beta), r = tau/dt) and the thresholds."""
    torch.manual_seed(0)
    spec = NetSpec.of("adaptive-threshold", neuron="spiking", width=6, time_steps=4)
    net = make_net(spec, in_shape=(5,), n_classes=3).eval()
    theta = torch.linspace(0.0, 2.0, 6)
    for block in net.blocks[:-1]:
        block["neuron"].theta.copy_(theta)
        block["synapse"].weight.data *= 150  # at Diehl & Cook's 100 ms membrane, a 4-step net needs a strong drive
    output = tmp_path / "net.nir"
    write_nir(spiking_graph(net, {"run_id": "x", "spike_dt": 1e-3}), output)
    graph = nir.read(output)
    assert lif_names(graph) == ["lif", "lif_1", "lif_2"]
    hidden, readout = net.blocks[0]["neuron"], net.blocks[-1]["neuron"]
    gap, scale = hidden.gap, hidden.dt / hidden.params.tau_m * hidden.gap
    np.testing.assert_allclose(graph.nodes["affine"].weight, scale * net.blocks[0]["synapse"].weight.detach(),
                               rtol=1e-6)
    lif = graph.nodes["lif"]
    np.testing.assert_allclose(lif.v_threshold, gap + theta.double().numpy(), rtol=1e-12)
    np.testing.assert_allclose(1 - NIR_DT / lif.tau, 1 - hidden.dt / hidden.params.tau_m)
    np.testing.assert_allclose(lif.r * NIR_DT / lif.tau, 1.0)
    assert np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0)
    np.testing.assert_allclose(1 - NIR_DT / graph.nodes["lif_2"].tau, float(readout.beta))
    assert lif.metadata["layer"] == "AdaptiveThresholdLeaky" and graph.metadata["time_steps"] == 4
    x = torch.rand(64, 5)
    (out, trained), (back, imported) = both_ways(net, graph, x, 4)
    assert torch.equal(out, back) and all(torch.equal(a, b) for a, b in zip(trained[:-1], imported))
    assert 0 < float(imported[0].mean()) < 1  # per-neuron thresholds at work: some spikes, not all


@pytest.mark.parametrize("norm, reason", [
    ("bn", "BatchNormTT"), ("homeostatic", "subtracting a fixed step"), ("ip", "subtracting a fixed step"),
])
def test_nets_nir_cannot_express_are_refused_with_the_reason(norm, reason):
    from bridge.core.errors import UserError

    net = make_net(NetSpec.of(norm, neuron="spiking", width=6, time_steps=4), in_shape=(5,), n_classes=3)
    with pytest.raises(UserError, match=reason):
        spiking_graph(net, {})


def test_export_of_a_rate_run_is_one_line_and_exit_2(tmp_path, capsys):
    store = Store(tmp_path / "results")
    config = TrainConfig(dataset="digits", n_train=64, n_test=32, epochs=1, width=8, batch_size=32, device="cpu",
                         probe_size=16)
    run = train(config, store, progress=False)
    output = tmp_path / "net.nir"
    assert main(["--results", str(store.root), "export", str(run), "--to", "nir", "-o", str(output)]) == 2
    assert "stores no weights" in capsys.readouterr().err and not output.exists()
