"""Fit simulation runs of the store to rules: intrinsic from a homeostasis sweep, scaling from
a scaling run (docs/fitting.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import ValidationError

from bridge.core.config import validation_message
from bridge.core.store import Run, Store, open_run
from bridge.fitting.dynamics import fit_time_constant
from bridge.fitting.effective import effective_gain_bias
from bridge.fitting.equilibrium import fit_equilibrium
from bridge.fitting.least_squares import FitError
from bridge.fitting.rules import TRANSFERS as RULE_TRANSFERS
from bridge.fitting.rules import Dynamics, Rule
from bridge.fitting.scaling import fit_scaling
from bridge.fitting.transfer import fit_transfer


def resolve_run(run: str | Path, store: Store) -> Path:
    """A run file given as a path or as a run id (or unique prefix of one) in ``store``."""
    path = Path(run)
    if path.exists() or path.suffix == ".h5":
        return path
    matches = [info.path for info in store.list_runs() if info.run_id.startswith(str(run))]
    if len(matches) != 1:
        what = "no" if not matches else f"{len(matches)}"
        raise FitError(f"{what} run file or run id matching {str(run)!r} in {store.root}")
    return matches[0]


@dataclass(frozen=True)
class ModelInfo:
    model: str
    transfer: str
    equations: str
    params: dict
    targets: dict


def _attr(run: Run, key: str, default=None):
    """``key`` from the run's ``model`` group, its root attributes or its config, in that order."""
    for source in (run.h5["model"].attrs if "model" in run.h5 else {}, run.h5.attrs, run.config):
        if key in source:
            value = source[key]
            return value.decode() if isinstance(value, bytes) else value
    return default


def _json_attr(run: Run, key: str) -> dict:
    value = _attr(run, key, {})
    try:
        return json.loads(value) if isinstance(value, str) else dict(value)
    except (json.JSONDecodeError, TypeError, ValueError):
        raise FitError(f"{run.path}: model attribute {key!r} is not a JSON object") from None


SIM_MODELS = {"scaling": "synaptic-scaling"}  # the model of a sim that has only one


def model_info(run: Run) -> ModelInfo:
    """The model behind a run: registry name, transfer, equations, parameters and targets."""
    model = _attr(run, "model", SIM_MODELS.get(run.name))
    if not model:
        raise FitError(f"{run.path}: the run does not name its model")
    transfer = str(_attr(run, "transfer", "lif"))
    if transfer not in RULE_TRANSFERS:
        raise FitError(f"{run.path}: transfer {transfer!r} is not one of {', '.join(RULE_TRANSFERS)}")
    return ModelInfo(str(model), transfer, str(_attr(run, "equations", "")),
                     _json_attr(run, "params"), _json_attr(run, "targets"))


def _required_float(run: Run, key: str) -> float:
    value = _attr(run, key)
    if value is None:
        raise FitError(f"{run.path}: the run records no {key!r}")
    return float(value)


def sample_dt(run: Run) -> float:
    """Biological seconds per training sample: the run's ``sample_dt``, else its step ``dt``.

    The rate models take one rule step per ``dt`` in Brian2 and one per sample in torch
    (eta_sample = eta_Brian2 * dt, models/rate_ip.py), so one sample is one step (docs/fitting.md).
    """
    value = _attr(run, "sample_dt", _attr(run, "dt"))
    if value is None:
        raise FitError(f"{run.path}: the run records neither sample_dt nor dt (seconds per sample)")
    return float(value)


def _column(run: Run, key: str) -> np.ndarray:
    return np.asarray(run.array(key), dtype=float)


class SweepFinal(NamedTuple):
    """A sweep's final gain and bias per condition, and the traces their time constants come from."""

    gain: np.ndarray
    bias: np.ndarray
    gain_traces: np.ndarray
    bias_traces: np.ndarray


def usable_conditions(run: Run, gain: np.ndarray) -> np.ndarray:
    """Conditions whose neuron settled: final gain finite and > 0, and (when stored) not silent.

    A silent spiking neuron has no rate to regulate, so its gain runs away; a sign-symmetric
    rule (tanh with a zero-mean target) may settle at -gain, which the map's log cannot take.
    """
    keep = np.isfinite(gain) & (gain > 0)
    if "final/output_mean" in run.h5 and "final/output_var" in run.h5:
        silent = (_column(run, "final/output_mean") == 0) & (_column(run, "final/output_var") == 0)
        keep &= ~silent
    if keep.sum() < len(keep) / 2:
        raise FitError(f"{run.path}: only {keep.sum()} of {len(keep)} conditions settled with gain > 0 "
                       "and a non-silent neuron: the sweep is mostly degenerate")
    return keep


def sweep_bias(run: Run) -> np.ndarray:
    """The bias b of y = f(a x + b): ``final/bias``, or minus ``final/threshold`` for a spiking neuron.

    A LIF neuron's drive relative to threshold is gain * I - theta, so its bias is -theta.
    """
    if "final/threshold" in run.h5:
        return -_column(run, "final/threshold")
    return _column(run, "final/bias")


def sweep_final(run: Run, own_transfer: str) -> SweepFinal:
    """The built-in models' stored gain and bias, or a model file's measured from its f-I curves
    with its own transfer (``bridge.fitting.effective``; its run stores ``traces/state``)."""
    if "traces/state" not in run.h5:
        return SweepFinal(_column(run, "final/gain"), sweep_bias(run),
                          _column(run, "traces/gain"), _column(run, "traces/bias"))
    effective = effective_gain_bias(own_transfer, _column(run, "fi/input"), _column(run, "fi/before"),
                                    _column(run, "fi/response"), _column(run, "conditions/mu"))
    state = _column(run, "traces/state")
    return SweepFinal(effective.gain, effective.bias, state, state)


def fit_sweep(run: Run, name: str | None = None) -> Rule:
    """An intrinsic rule from a homeostasis-sweep run: transfer, equilibrium map and dynamics.

    Fitted on the :func:`usable_conditions` only; the number left out is in ``fit_quality``.
    """
    info = model_info(run)
    final = sweep_final(run, info.transfer)
    keep = usable_conditions(run, final.gain)
    mu, sigma = _column(run, "conditions/mu")[keep], _column(run, "conditions/sigma")[keep]
    t = _column(run, "traces/t")
    tau_gain = fit_time_constant(t, final.gain_traces[:, keep], "gain")
    tau_bias = fit_time_constant(t, final.bias_traces[:, keep], "bias")
    transfer = fit_transfer(_column(run, "fi/input"), _column(run, "fi/response")[keep], mu, info.transfer)
    equilibrium = fit_equilibrium(mu, sigma, final.gain[keep], final.bias[keep])
    quality = {
        "n_conditions": int(keep.sum()), "n_excluded": int((~keep).sum()),
        "r2_gain": equilibrium.r2_gain, "r2_bias": equilibrium.r2_bias,
        "tau_gain_p16_p84": [tau_gain.p16, tau_gain.p84],
        "tau_bias_p16_p84": [tau_bias.p16, tau_bias.p84],
        "r2_tau_gain": tau_gain.r2, "r2_tau_bias": tau_bias.r2,
        "n_tau_gain": tau_gain.used, "n_tau_bias": tau_bias.used,
        "transfer_best": transfer.function,
        "transfer_r2_median": transfer.candidates[transfer.function],
    }
    return Rule(
        name=name or info.model, kind="intrinsic", model=info.model, transfer=info.transfer,
        targets=info.targets, dynamics=Dynamics(tau_gain=tau_gain.tau, tau_bias=tau_bias.tau, sample_dt=sample_dt(run)),
        fit_quality=quality, source_runs=[run.run_id], model_params=info.params,
        equations=info.equations, equilibrium=equilibrium, transfer_fit=transfer,
        model_file=_json_attr(run, "model_file") or None,
    )


def fit_scaling_run(run: Run, name: str | None = None) -> Rule:
    """A scaling rule from a ``scaling`` run: rate and target of the relaxation, weight factors."""
    info = model_info(run)
    scaling, tau = fit_scaling(
        _column(run, "traces/t"), _column(run, "traces/rate"), _column(run, "initial/weights"),
        _column(run, "final/weights"), _required_float(run, "target_rate"),
        float(_attr(run, "settle", 0.0)),
    )
    quality = {"r2_rate": scaling.r2, "weight_ratio_cv": scaling.weight_ratio_cv}
    return Rule(
        name=name or info.model, kind="scaling", model=info.model,
        transfer=info.transfer, targets=info.targets,
        dynamics=Dynamics(tau_gain=tau, tau_bias=tau, sample_dt=sample_dt(run)), fit_quality=quality,
        source_runs=[run.run_id], model_params=info.params, equations=info.equations,
        scaling=scaling,
    )


def fit_run(run: str | Path, store: Store, name: str | None = None) -> Rule:
    """The rule fitted to a run (path or run id): intrinsic from a sweep, scaling from a scaling run."""
    with open_run(resolve_run(run, store), "sims") as opened:
        if "conditions/sigma" in opened.h5:
            fit = fit_sweep
        elif "final/weights" in opened.h5:
            fit = fit_scaling_run
        else:
            raise FitError(f"{opened.path}: neither a homeostasis sweep (conditions/sigma) "
                           "nor a scaling run (final/weights)")
        try:
            return fit(opened, name)
        except ValidationError as err:  # a fitted value outside the rule schema (e.g. a NaN gain law)
            raise FitError(f"{opened.path}: the fit gives no valid rule: {validation_message(err)}") from None
