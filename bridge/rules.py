"""Fitted homeostasis rules: NIR-style dataclasses, stored as HDF5 at ``<results>/rules/<name>.h5``.

A :class:`Rule` is what ``homeobridge fit`` extracts from a simulation run (see
``docs/fitting.md``): the equilibrium map

    gain = c * sigma^(-p),     bias = d - s * gain * mu

with its confidence intervals, R^2 and BatchNorm correspondence (:class:`Equilibrium`), the
convergence time constants and their per-sample rates (:class:`Dynamics`), the scaling rate
and target of a synaptic-scaling run (:class:`Scaling`), the per-neuron transfer fits
(:class:`TransferFit`), and the model it came from.

File layout: a store run (``bridge.store``: root attributes ``type="homeobridge.run"``,
provenance, ``complete``; kind ``rules``) holding one group ``rule`` with ``type =
"homeobridge.rule"`` and ``schema_version``. Each nested dataclass is a subgroup with its own
``type``; numbers and strings are attributes, confidence intervals 2-element attributes,
per-neuron lists datasets, free-form dicts and string lists JSON text attributes. Reading
goes through :meth:`Rule.from_dict`, which checks every field, so every malformed file is one
:class:`RuleError` line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bridge.store import Store, StoreError, atomic_output, canonical_json, open_run

RULE_TYPE = "homeobridge.rule"
RULE_SCHEMA_VERSION = 1
RULES_KIND = "rules"
KINDS = ("intrinsic", "scaling")
TRANSFERS = ("sigmoid", "tanh", "softplus", "rectifier", "lif")


class RuleError(StoreError):
    """A rule that cannot be built, saved or read: one line naming the file and the field."""


def _positive_finite(value: float, what: str) -> None:
    if not math.isfinite(value) or value <= 0:
        raise RuleError(f"{what} must be finite and > 0, got {value!r}")


@dataclass(frozen=True)
class Equilibrium:
    """gain = c * sigma^(-p), bias = d - s * gain * mu, fitted to a sweep's final (gain, bias).

    ``*_ci`` are 95% confidence intervals; ``r2_gain`` is R^2 of log gain, ``r2_bias`` of
    bias, ``r2`` the smaller of the two. ``bn_gamma``, ``bn_beta`` are the best BatchNorm
    (p = s = 1) map and ``bn_score`` its R^2 (docs/fitting.md); ``verdict`` states it in words.
    """

    TYPE = "homeobridge.rule.equilibrium"
    p: float
    c: float
    s: float
    d: float
    p_ci: tuple[float, float]
    c_ci: tuple[float, float]
    s_ci: tuple[float, float]
    d_ci: tuple[float, float]
    r2_gain: float
    r2_bias: float
    r2: float
    bn_gamma: float
    bn_beta: float
    bn_score: float
    verdict: str


@dataclass(frozen=True)
class Dynamics:
    """Convergence time constants (biological seconds) and their per-sample counterparts.

    One training sample stands for ``sample_dt`` seconds of biological time (docs/fitting.md),
    so a relaxation with time constant tau takes tau / sample_dt samples: ``eta_* =
    sample_dt / tau_*`` per sample, and running statistics average over ``tau_samples =
    max(1, max(tau_gain, tau_bias) / sample_dt)`` samples.
    """

    TYPE = "homeobridge.rule.dynamics"
    DERIVED = ("eta_gain", "eta_bias", "tau_samples")
    tau_gain: float
    tau_bias: float
    sample_dt: float

    def __post_init__(self) -> None:
        for name in ("tau_gain", "tau_bias", "sample_dt"):
            _positive_finite(getattr(self, name), f"dynamics.{name}")

    @property
    def eta_gain(self) -> float:
        return self.sample_dt / self.tau_gain

    @property
    def eta_bias(self) -> float:
        return self.sample_dt / self.tau_bias

    @property
    def tau_samples(self) -> float:
        return max(1.0, max(self.tau_gain, self.tau_bias) / self.sample_dt)


@dataclass(frozen=True)
class Scaling:
    """Synaptic scaling fitted from the population rate's damped response r(t) -> ``target``.

    ``rate`` = 1/tau in 1/s (biological) of the response's envelope, ``omega`` its angular
    frequency (rad/s; 0: no oscillation), ``*_ci`` 95% intervals, ``r2`` of the fit,
    ``weight_ratio_cv`` the spread of w_final/w_initial over one neuron's synapses (0: purely
    multiplicative), ``configured_target`` the run's own target rate.
    """

    TYPE = "homeobridge.rule.scaling"
    rate: float
    rate_ci: tuple[float, float]
    target: float
    target_ci: tuple[float, float]
    omega: float
    r2: float
    weight_ratio_cv: float
    configured_target: float


@dataclass(frozen=True)
class TransferFit:
    """Per-neuron fit y = A f(a x + b) of the f-I curve, ``function`` the best candidate.

    ``slope`` is dy/dx at each neuron's operating point (its mean input): the effective gain.
    ``candidates`` maps every tried function to its median R^2 over neurons (None: fitted none).
    """

    TYPE = "homeobridge.rule.transfer_fit"
    function: str
    amplitude_free: bool
    a: list[float]
    b: list[float]
    amplitude: list[float]
    r2: list[float]
    slope: list[float]
    candidates: dict


@dataclass(frozen=True)
class Rule:
    """One fitted rule; see the module docstring and docs/fitting.md."""

    TYPE = RULE_TYPE
    name: str
    kind: str
    model: str
    transfer: str
    targets: dict
    dynamics: Dynamics
    fit_quality: dict
    source_runs: list[str]
    model_params: dict
    equations: str
    equilibrium: Equilibrium | None = None
    scaling: Scaling | None = None
    transfer_fit: TransferFit | None = None
    schema_version: int = RULE_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise RuleError(f"rule name {self.name!r} is not a plain file name")
        if self.kind not in KINDS:
            raise RuleError(f"rule kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.transfer not in TRANSFERS:
            raise RuleError(f"transfer {self.transfer!r} is not one of {', '.join(TRANSFERS)}")
        needed = "equilibrium" if self.kind == "intrinsic" else "scaling"
        if getattr(self, needed) is None:
            raise RuleError(f"a {self.kind} rule needs its {needed} part")
        if self.schema_version > RULE_SCHEMA_VERSION:
            raise RuleError(
                f"rule schema version {self.schema_version} is newer than this homeobridge "
                f"understands ({RULE_SCHEMA_VERSION}); upgrade homeobridge"
            )

    def to_dict(self) -> dict:
        """Plain JSON-ready dict with a ``type`` per part (Dynamics also lists its derived rates)."""
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Rule:
        """The rule from :meth:`to_dict`'s form; RuleError naming the first bad field."""
        return _from_dict(cls, data, "rule")


# ---- dict codec, driven by the dataclasses' type hints -------------------------------------

def _to_dict(obj: Any) -> dict:
    out: dict[str, Any] = {"type": obj.TYPE}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = _to_dict(value) if dataclasses.is_dataclass(value) else value
    for name in getattr(obj, "DERIVED", ()):
        out[name] = getattr(obj, name)
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_inner(hint: Any) -> Any:
    """``X`` for ``Optional[X]``, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return None


def _from_dict(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RuleError(f"{where}: expected a mapping, got {type(data).__name__}")
    if data.get("type") != cls.TYPE:
        raise RuleError(f"{where}: type {data.get('type')!r}, expected {cls.TYPE!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields) - {"type", *getattr(cls, "DERIVED", ())}
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    hints, kwargs = _hints(cls), {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING:
                raise RuleError(f"{where}: missing field {name!r}")
            continue
        kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except RuleError as err:
        raise RuleError(f"{where}: {err}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    inner = _optional_inner(hint)
    if inner is not None:
        return None if value is None else _coerce(value, inner, where)
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        items = _sequence(value, where)
        if len(items) != len(args):
            raise RuleError(f"{where}: expected {len(args)} values, got {len(items)}")
        return tuple(_coerce(v, a, where) for v, a in zip(items, args))
    if origin is list:
        return [_coerce(v, args[0], where) for v in _sequence(value, where)]
    if hint is dict:
        if not isinstance(value, dict):
            raise RuleError(f"{where}: expected a mapping, got {type(value).__name__}")
        return value
    return _scalar(value, hint, where)


def _sequence(value: Any, where: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise RuleError(f"{where}: expected a list, got {type(value).__name__}")
    return list(value)


def _scalar(value: Any, hint: type, where: str) -> Any:
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise RuleError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")


# ---- HDF5 codec ----------------------------------------------------------------------------

def _is_json_field(hint: Any) -> bool:
    return hint is dict or typing.get_args(hint) == (str,)


def _write_group(group: h5py.Group, obj: Any) -> None:
    group.attrs["type"] = obj.TYPE
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            _write_group(group.create_group(f.name), value)
        elif _is_json_field(hint):
            group.attrs[f.name] = canonical_json(value)
        elif typing.get_origin(hint) is list:
            group.create_dataset(f.name, data=np.asarray(value, dtype=np.float64))
        else:
            group.attrs[f.name] = value


def _read_group(group: h5py.Group, cls: type, where: str) -> dict:
    """The dict form of ``cls`` stored in ``group`` (checked afterwards by :func:`_from_dict`)."""
    data: dict[str, Any] = {"type": _plain(group.attrs.get("type"))}
    for name, hint in _hints(cls).items():
        hint = _optional_inner(hint) or hint
        if name in group and isinstance(group[name], h5py.Group) and dataclasses.is_dataclass(hint):
            data[name] = _read_group(group[name], hint, f"{where}.{name}")
        elif name in group and isinstance(group[name], h5py.Dataset):
            data[name] = group[name][()].tolist()
        elif name in group.attrs:
            data[name] = _read_attr(group.attrs[name], _is_json_field(hint), f"{where}.{name}")
    return data


def _read_attr(value: Any, is_json: bool, where: str) -> Any:
    value = _plain(value)
    if not is_json:
        return value
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise RuleError(f"{where}: not valid JSON text") from None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


# ---- the store -----------------------------------------------------------------------------

def rules_dir(store: Store | None = None) -> Path:
    """``<results>/rules`` of ``store`` (default: ``Store()``, i.e. $HOMEOBRIDGE_RESULTS or ./results)."""
    return (store or Store()).root / RULES_KIND


def save_rule(rule: Rule, store: Store | None = None) -> Path:
    """Write ``rule`` atomically to ``<results>/rules/<name>.h5`` (replacing it) as a store run."""
    path = rules_dir(store) / f"{rule.name}.h5"
    config = {"rule": rule.name, "model": rule.model, "source_runs": rule.source_runs}
    with (store or Store()).write(RULES_KIND, rule.name, config, seed=0, path=path) as h5:
        _write_group(h5.create_group("rule"), rule)
    return path


def rule_path(name_or_path: str | Path, store: Store | None = None) -> Path:
    """A rule file: ``name_or_path`` itself when it is a file or ends in .h5, else the store's."""
    given = Path(name_or_path)
    if given.suffix == ".h5" or given.exists():
        return given
    path = rules_dir(store) / f"{name_or_path}.h5"
    if not path.exists():
        known = ", ".join(p.stem for p in _rule_files(store)) or "none"
        raise RuleError(f"no rule {str(name_or_path)!r} in {rules_dir(store)} (rules: {known})")
    return path


def load_rule(name_or_path: str | Path, store: Store | None = None) -> Rule:
    """The rule stored under a name (in ``store``) or at a path; RuleError/StoreError when malformed."""
    path = rule_path(name_or_path, store)
    with open_run(path, RULES_KIND) as run:
        group = run.require("rule")
        if not isinstance(group, h5py.Group):
            raise RuleError(f"{path}: 'rule' is not a group")
        try:
            return Rule.from_dict(_read_group(group, Rule, "rule"))
        except RuleError as err:
            raise RuleError(f"{path}: {err}") from None


def _rule_files(store: Store | None) -> list[Path]:
    directory = rules_dir(store)
    return sorted(directory.glob("[!.]*.h5"), key=lambda path: path.stem) if directory.is_dir() else []


def list_rules(store: Store | None = None) -> list[Rule]:
    """Every rule in the store, by name; a malformed rule file is a RuleError naming it."""
    return [load_rule(path, store) for path in _rule_files(store)]


def rule_summary(rule: Rule) -> dict[str, Any]:
    """The numbers of one rule that a listing shows."""
    eq, dyn = rule.equilibrium, rule.dynamics
    row = {"name": rule.name, "kind": rule.kind, "model": rule.model, "transfer": rule.transfer}
    if eq is not None:
        row.update(p=eq.p, c=eq.c, s=eq.s, d=eq.d, r2=eq.r2, bn_score=eq.bn_score, verdict=eq.verdict)
    if rule.scaling is not None:
        row.update(scaling_rate=rule.scaling.rate, scaling_target=rule.scaling.target)
    row.update(tau_gain=dyn.tau_gain, tau_bias=dyn.tau_bias, eta_gain=dyn.eta_gain,
               source_runs=",".join(rule.source_runs))
    return row


def rule_table(rules: list[Rule]) -> str:
    """A markdown table of :func:`rule_summary` rows (blank where a rule has no such part)."""
    from bridge.cli import markdown_table

    rows = [rule_summary(rule) for rule in rules]
    headers = list(dict.fromkeys(key for row in rows for key in row))
    return markdown_table(headers, [[row.get(key, "") for key in headers] for row in rows])


def rule_report(rule: Rule) -> str:
    """One rule's fitted numbers as a markdown table: value and 95% CI per parameter."""
    from bridge.cli import markdown_table

    rows: list[list[Any]] = []
    eq, dyn, sc = rule.equilibrium, rule.dynamics, rule.scaling
    if eq is not None:
        rows += [[k, getattr(eq, k), _ci(getattr(eq, f"{k}_ci"))] for k in "pcsd"]
        rows += [["R2 (log gain, bias)", f"{eq.r2_gain:.4f}, {eq.r2_bias:.4f}", ""],
                 ["BN gamma, beta", f"{eq.bn_gamma:.4g}, {eq.bn_beta:.4g}", ""],
                 ["BN-correspondence score", f"{eq.bn_score:.4f}", eq.verdict]]
    if sc is not None:
        rows += [["scaling rate (1/s)", sc.rate, _ci(sc.rate_ci)],
                 ["scaling target (Hz)", sc.target, _ci(sc.target_ci)],
                 ["R2 (rate relaxation)", f"{sc.r2:.4f}", ""]]
    rows += [["tau_gain, tau_bias (s)", f"{dyn.tau_gain:.4g}, {dyn.tau_bias:.4g}", ""],
             ["eta_gain, eta_bias (/sample)", f"{dyn.eta_gain:.4g}, {dyn.eta_bias:.4g}",
              f"sample_dt = {dyn.sample_dt:.4g} s"]]
    return markdown_table(["parameter", "value", "95% CI / note"], rows)


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4g}, {interval[1]:.4g}]"


def export_torch(rule: Rule, output: str | Path, units: int, mode: str = "equilibrium") -> list[str]:
    """Write ``bridge.layers.FittedHomeostasis.from_rule(rule, units, mode)`` atomically to ``output``.

    Returns the two Python lines that load it.
    """
    from bridge.layers import FittedHomeostasis

    if rule.equilibrium is None:
        raise RuleError(f"rule {rule.name!r} is a {rule.kind} rule: only intrinsic rules export")
    output = Path(output)
    with atomic_output(output) as tmp:
        FittedHomeostasis.from_rule(rule, units, mode).save(tmp, rule)
    return ["from bridge.layers import FittedHomeostasis",
            f"layer = FittedHomeostasis.load({str(output)!r})"]
