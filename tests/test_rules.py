"""Rule files (bridge.fitting.rules): exact round trip, one-line errors for every malformed file, export."""

from __future__ import annotations

import math

import h5py
import pytest
import torch
from pydantic import ValidationError

from bridge.cli import main
from bridge.core.store import Stopwatch, Store, StoreError, canonical_json
from bridge.fitting.rules import (
    Dynamics,
    Equilibrium,
    Rule,
    RuleError,
    Scaling,
    TransferFit,
    list_rules,
    load_rule,
    save_rule,
)


def make_rule(name: str = "triesch", **changes) -> Rule:
    equilibrium = Equilibrium(
        p=1.0012, c=0.81234567890123, s=0.9987, d=-1.25, p_ci=(0.99, 1.01), c_ci=(0.8, 0.82),
        s_ci=(0.98, 1.02), d_ci=(-1.3, -1.2), r2_gain=0.999, r2_bias=0.998, r2=0.998,
        bn_gamma=0.81, bn_beta=-1.25, bn_score=0.9985, verdict="acts as BatchNorm",
    )
    fit = TransferFit(function="sigmoid", amplitude_free=False, a=[0.5, 1 / 3], b=[-0.1, 0.2],
                      amplitude=[1.0, 1.0], r2=[0.9999, math.nan], slope=[0.12, 0.08],
                      candidates={"sigmoid": 1.0, "tanh": 0.97})
    rule = Rule(
        name=name, kind="intrinsic", model="rate-ip-triesch", transfer="sigmoid",
        targets={"mu_target": 0.1}, dynamics=Dynamics(tau_gain=3.3, tau_bias=0.7, sample_dt=0.001),
        fit_quality={"n_conditions": 25, "tau_gain_p16_p84": [3.0, 3.6]}, source_runs=["abc123"],
        model_params={"eta": 1e-3, "nested": {"x": [1, 2], "none": None}},
        equations="y = 1/(1+exp(-(a x + b)))\nda = eta/a + x db", equilibrium=equilibrium,
        transfer_fit=fit,
    )
    return Rule.model_validate({**dict(rule), **changes})


def test_rule_round_trips_exactly_through_hdf5(tmp_path):
    store = Store(tmp_path)
    rule = make_rule()
    path = save_rule(rule, store)
    assert path == tmp_path / "rules" / "triesch.h5"
    loaded = load_rule("triesch", store)
    assert canonical_json(loaded.to_dict()) == canonical_json(rule.to_dict())  # a failed neuron fit's NaN too
    assert Rule.from_dict(rule.to_dict()).content_hash() == rule.content_hash() == loaded.content_hash()
    assert loaded.dynamics.eta_gain == pytest.approx(0.001 / 3.3)
    assert loaded.dynamics.tau_samples == pytest.approx(3300)


def test_scaling_rule_round_trips_and_lists(tmp_path):
    store = Store(tmp_path)
    scaling = Scaling(rate=0.2, rate_ci=(0.18, 0.22), target=5.02, target_ci=(4.9, 5.1), omega=0.3,
                      r2=0.97, weight_ratio_cv=1e-9, configured_target=5.0)
    rule = make_rule("scaling-lif", kind="scaling", transfer="lif", equilibrium=None,
                     transfer_fit=None, scaling=scaling)
    save_rule(rule, store)
    save_rule(make_rule(), store)
    assert [r.name for r in list_rules(store)] == ["scaling-lif", "triesch"]
    assert load_rule(tmp_path / "rules" / "scaling-lif.h5", store) == rule


@pytest.mark.parametrize("tau", [math.nan, math.inf, -1.0, 0.0])
def test_bad_time_constants_are_rejected(tau):
    with pytest.raises(ValidationError, match="tau_gain"):
        Dynamics(tau_gain=tau, tau_bias=1.0, sample_dt=0.001)


@pytest.mark.parametrize("field", ["p", "c", "s", "d", "bn_gamma", "bn_beta"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_equilibrium_parameters_are_rejected(field, value):
    data = make_rule().to_dict()
    data["equilibrium"][field] = value
    with pytest.raises(RuleError, match=f"rule.equilibrium.{field}: Input should be a finite number"):
        Rule.from_dict(data)


def _corrupt_attr(group: str, key: str, value):
    def corrupt(h5: h5py.File) -> None:
        h5[group].attrs[key] = value
    return corrupt


def _delete(key: str):
    def corrupt(h5: h5py.File) -> None:
        del h5[key]
    return corrupt


MALFORMED = {
    "nan tau": (_corrupt_attr("rule/dynamics", "tau_gain", math.nan), "rule.dynamics.tau_gain: Input should be a fin"),
    "inf tau": (_corrupt_attr("rule/dynamics", "tau_bias", math.inf), "rule.dynamics.tau_bias: Input should be a fin"),
    "negative tau": (_corrupt_attr("rule/dynamics", "tau_gain", -2.0), "tau_gain: Input should be greater than 0"),
    "nan gain law": (_corrupt_attr("rule/equilibrium", "c", math.nan), "rule.equilibrium.c: Input should be a finite"),
    "inf bias map": (_corrupt_attr("rule/equilibrium", "d", math.inf), "rule.equilibrium.d: Input should be a finite"),
    "nan bn gamma": (_corrupt_attr("rule/equilibrium", "bn_gamma", math.nan), "rule.equilibrium.bn_gamma: Input"),
    "wrong type": (_corrupt_attr("rule", "type", "nir.Linear"), "rule.type: Input should be 'homeobridge.rule'"),
    "bad kind": (_corrupt_attr("rule", "kind", "magic"), "rule.kind: Input should be 'intrinsic' or 'scaling'"),
    "text for a number": (_corrupt_attr("rule/equilibrium", "p", "one"),
                          "rule.equilibrium.p: Input should be a valid number"),
    "bad json": (_corrupt_attr("rule", "targets", "{not json"), "rule.targets: not valid JSON"),
    "newer schema": (_corrupt_attr("rule", "schema_version", 99), "rule.schema_version: Input should be less"),
    "missing field": (_delete("rule/dynamics"), "rule.dynamics: Field required"),
    "missing rule group": (_delete("rule"), "missing dataset 'rule'"),
    "incomplete file": (_corrupt_attr("/", "complete", False), "marked incomplete"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_rule_files_give_one_line_errors(tmp_path, case):
    corrupt, message = MALFORMED[case]
    store = Store(tmp_path)
    path = save_rule(make_rule(), store)
    with h5py.File(path, "r+") as h5:
        corrupt(h5)
    with pytest.raises(StoreError, match=message) as err:
        load_rule("triesch", store)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_non_rule_files_give_one_line_errors(tmp_path, capsys):
    store = Store(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        load_rule("junk", store)
    with pytest.raises(RuleError, match="no rule 'absent'.*rules: junk"):
        load_rule("absent", store)
    with store.write("sims", "homeostasis-sweep", {"x": 1}, 0, Stopwatch()):
        pass
    sims_run = store.path_for("sims", "homeostasis-sweep", {"x": 1})
    with pytest.raises(StoreError, match="is a 'sims' run, expected 'rules'"):
        load_rule(sims_run, store)
    assert main(["--results", str(tmp_path), "export", "junk", "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable HDF5 file" in err
    assert not (tmp_path / "x.pt").exists()


def test_export_writes_a_ready_torch_layer(tmp_path, capsys):
    store = Store(tmp_path)
    save_rule(make_rule(), store)
    out = tmp_path / "layers" / "triesch.pt"
    assert main(["--results", str(tmp_path), "export", "triesch", "--to", "torch", "-o", str(out),
                 "--units", "8"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["from bridge.learning.layers import FittedHomeostasis",
                     f"layer = FittedHomeostasis.load({str(out)!r})"]
    namespace: dict = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - the printed lines are what a user pastes
    layer = namespace["layer"]
    assert (layer.p, layer.c, layer.s, layer.d) == (1.0012, 0.81234567890123, 0.9987, -1.25)
    assert layer(torch.randn(4, 8)).shape == (4, 8)
    assert [p.name for p in out.parent.iterdir()] == ["triesch.pt"]
