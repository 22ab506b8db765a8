"""Arms are paired by seed (issue 23): in every declared study, at its smoke budget, every cell's
network is built exactly as training builds it (``cell_config`` -> ``load_train_rule`` ->
``build`` on the cell's own data subset), and for the same seed every arm starts from the same
weights as the study's first arm, layer by layer.

Compared: the weight of every ``nn.Linear`` / ``nn.Conv2d`` (subclasses included: OjaLinear),
in module order, position by position, where the shape matches the reference arm's. A
weight-normed layer (``wn``) is compared by its direction ``parametrizations.weight.original1``:
that is the drawn weight itself (``weight_norm`` keeps it and derives g = ||v|| from it), so it is
what must be bit-equal; its effective weight g v / ||v|| is the same weight up to rounding
(checked with a tolerance), not bit for bit. Fitted arms run rules fitted to the real Brian2 runs
of ``conftest`` (one per ``Study.rule_model``), so they are covered too.

Arms whose weight layers are no ``nn.Linear`` / ``nn.Conv2d`` at all share nothing with the
reference by construction: they are named in :data:`SHARES_NOTHING`, and what they do share is
asserted instead (dale-ann: the two DANN arms start from the same E/I weights).
"""

from __future__ import annotations

import functools
from collections import defaultdict

import pytest
import torch
from torch import nn

from bridge.core.store import Store
from bridge.experiments.studies import STUDIES, at_budget, cell_config, cell_keys
from bridge.fitting.rules import save_rule
from bridge.fitting.runs import fit_run
from bridge.learning.data import fashion_mnist_dir, load
from bridge.learning.layers import ColumnEiLinear, DaleLinear
from bridge.learning.train import build, load_train_rule

needs_fashion = pytest.mark.skipif(fashion_mnist_dir() is None, reason="Fashion-MNIST not installed")

SEEDS = (0, 1)
RULE_RUNS = {"rate-ip": "triesch_sweep_path", "lif-ip": "lif_sweep_path", "synaptic-scaling": "scaling_path"}

# (study, arm): arms with no nn.Linear / nn.Conv2d at all, so no weight in common with the reference
# arm (dale-ann's "mlp", He-normal Linear layers). DANN's layers are DaleLinear (W_EX, W_IX, W_EI:
# Exponential draws), ColumnEI's ColumnEiLinear (Exponential W_+, and 1.1x the width): nothing of
# them is shared with the MLP, not even the readout, which is of the hidden layers' kind.
SHARES_NOTHING = {
    ("dale-ann", "dann"), ("dale-ann", "dann-uncorrected"), ("dale-ann", "column-ei"),
}


def weights(net: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(drawn weight, effective weight) of every Linear / Conv2d in module order."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return [(m.parametrizations.weight.original1 if hasattr(m, "parametrizations") else m.weight, m.weight)
            for m in layers]


def sign_constrained(net: nn.Module) -> list[torch.Tensor]:
    """The drawn weights of the DANN / ColumnEI layers (not Linear modules), in module order."""
    return [w for m in net.modules() for w in
            ((m.w_ex, m.w_ix) if isinstance(m, DaleLinear) else (m.weight,) if isinstance(m, ColumnEiLinear) else ())]


@functools.lru_cache(maxsize=16)
def cell_data(dataset: str, seed: int, n_train: int, n_test: int):
    """The data a cell trains on, as ``run_training`` loads it."""
    return load(dataset, seed).subset(n_train, n_test)


@pytest.fixture(scope="module")
def rule_store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("pairing-rules"))


def rule_for(study, budget, store: Store, request) -> str:
    """The name of a rule fitted to the study's rule model (real Brian2 run), saved in ``store``;
    "" for a study without fitted arms (those whose cells ``cell_keys`` leaves out without a rule)."""
    if {key[0] for key in cell_keys(study, budget, "")} == set(study.arms):
        return ""
    name = f"pairing-{study.rule_model}"
    if not (store.root / "rules" / f"{name}.h5").exists():
        path = request.getfixturevalue(RULE_RUNS[study.rule_model])
        save_rule(fit_run(path, store, name), store)
    return name


def built_nets(study_name: str, store: Store, request) -> dict[tuple, dict[str, list[nn.Module]]]:
    """{(axis value, seed): {arm: [its nets, one per cell (learning rate)]}} at the smoke budget."""
    study = at_budget(STUDIES[study_name], "smoke")
    budget = study.budgets["smoke"]
    assert budget.seeds[:2] == SEEDS
    rule = rule_for(study, budget, store, request)
    nets: dict[tuple, dict[str, list[nn.Module]]] = defaultdict(lambda: defaultdict(list))
    for key in cell_keys(study, budget, rule):
        arm, value, _, seed = key
        if seed not in SEEDS:
            continue
        config = cell_config(study, budget, rule, key)
        data = cell_data(config.dataset, config.seed, config.n_train, config.n_test)
        nets[value, seed][arm].append(build(config, data, load_train_rule(config, store)))
    assert all(list(by_arm) == list(study.arms) for by_arm in nets.values()), "every arm, every value and seed"
    return nets


@needs_fashion
@pytest.mark.parametrize("study_name", list(STUDIES))
def test_arms_start_from_the_same_weights_for_the_same_seed(study_name, rule_store, request):
    study = STUDIES[study_name]
    reference = study.arms[0]
    nets = built_nets(study_name, rule_store, request)
    assert {seed for _, seed in nets} == set(SEEDS)
    for (value, seed), by_arm in nets.items():
        expected = weights(by_arm[reference][0])
        assert expected, f"{study_name}: reference arm {reference!r} has no Linear / Conv2d layer"
        for arm, arm_nets in by_arm.items():
            for net in arm_nets:  # every learning rate of the arm's grid: lr draws nothing either
                got = weights(net)
                where = f"{study_name} arm {arm!r} at {study.axis}={value}, seed {seed}"
                shared = [i for i, ((a, _), (b, _)) in enumerate(zip(expected, got)) if a.shape == b.shape]
                if (study_name, arm) in SHARES_NOTHING:
                    assert shared == [], f"{where}: expected no weight in common, shares layers {shared}"
                    continue
                assert [w.shape for w, _ in got] == [w.shape for w, _ in expected], f"{where}: other layers"
                unpaired = [i for i in shared if not torch.equal(got[i][0], expected[i][0])]
                assert unpaired == [], f"{where}: Linear/Conv2d layers {unpaired} differ from {reference!r}'s"
                for i in shared:
                    torch.testing.assert_close(got[i][1], expected[i][1], rtol=1e-6, atol=1e-7,
                                               msg=f"{where}: effective weight of layer {i}")


@needs_fashion
def test_arms_without_linear_layers_are_paired_among_themselves(rule_store, request):
    """dale-ann: DANN and DANN-uncorrected differ only in the gradient correction, so they draw
    the same E/I weights for a seed; ColumnEI (other widths) and the MLP share nothing with them."""
    nets = built_nets("dale-ann", rule_store, request)
    assert {arm for study, arm in SHARES_NOTHING if study == "dale-ann"} == {"dann", "dann-uncorrected", "column-ei"}
    for (value, seed), by_arm in nets.items():
        dann, uncorrected = (sign_constrained(by_arm[arm][0]) for arm in ("dann", "dann-uncorrected"))
        assert dann and len(dann) == len(uncorrected)
        assert all(torch.equal(a, b) for a, b in zip(dann, uncorrected)), f"depth {value}, seed {seed}"
        assert not weights(by_arm["dann"][0]) and not weights(by_arm["column-ei"][0])
        assert sign_constrained(by_arm["column-ei"][0])
