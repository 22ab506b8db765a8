"""Fitted homeostasis rules: a pydantic schema of NIR-style parts, stored as HDF5 at ``<results>/rules/<name>.h5``.

A :class:`Rule` is what ``homeobridge fit`` extracts from a simulation run (see
``docs/fitting.md``): the equilibrium map

    gain = c * sigma^(-p),     bias = d - s * gain * mu

with its confidence intervals, R^2 and BatchNorm correspondence (:class:`Equilibrium`), the
convergence time constants and their per-sample rates (:class:`Dynamics`), the scaling rate
and target of a synaptic-scaling run (:class:`Scaling`), the per-neuron transfer fits
(:class:`TransferFit`), and the model it came from.

File layout: a store run (``bridge.core.store``: root attributes ``type="homeobridge.run"``,
provenance, ``complete``; kind ``rules``) holding one group ``rule`` with ``type =
"homeobridge.rule"`` and ``schema_version``. Each nested part is a subgroup with its own
``type``; numbers and strings are attributes, confidence intervals 2-element attributes,
per-neuron lists datasets, free-form dicts and string lists JSON text attributes. Reading
goes through :meth:`Rule.from_dict`, which validates every field (finite equilibrium and
BatchNorm parameters, positive gains and time constants, known kinds and transfers), so every
malformed file is one :class:`RuleError` line naming the file and the field. The run's
``inputs`` attribute holds the rule's content hash (:meth:`Rule.content_hash`), which every
training run that uses the rule records in its own identity.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import h5py
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from bridge.core.config import validation_message
from bridge.core.model_file import ModelFile
from bridge.core.store import Stopwatch, Store, StoreError, canonical_json, content_hash, open_run
from bridge.core.tables import markdown_table

RULE_TYPE = "homeobridge.rule"
RULE_SCHEMA_VERSION = 1
RULES_KIND = "rules"
KINDS = ("intrinsic", "scaling")
TRANSFERS = ("sigmoid", "tanh", "softplus", "rectifier", "lif")

Positive = Annotated[float, Field(gt=0)]
Interval = tuple[float, float]  # a 95% confidence interval; may be infinite where a fit has no covariance
Loose = Annotated[float, Field(allow_inf_nan=True)]  # per-neuron diagnostics: NaN where a fit failed


class RuleError(StoreError):
    """A rule that cannot be built, saved or read: one line naming the file and the field."""


class Part(BaseModel):
    """A part of a rule file: frozen, unknown fields rejected, finite floats unless declared loose."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Equilibrium(Part):
    """gain = c * sigma^(-p), bias = d - s * gain * mu, fitted to a sweep's final (gain, bias).

    ``*_ci`` are 95% confidence intervals; ``r2_gain`` is R^2 of log gain, ``r2_bias`` of
    bias, ``r2`` the smaller of the two. ``bn_gamma``, ``bn_beta`` are the best BatchNorm
    (p = s = 1) map and ``bn_score`` its R^2 (docs/fitting.md); ``verdict`` states it in words.
    """

    type: Literal["homeobridge.rule.equilibrium"] = "homeobridge.rule.equilibrium"
    p: float
    c: Positive
    s: float
    d: float
    p_ci: tuple[Loose, Loose]
    c_ci: tuple[Loose, Loose]
    s_ci: tuple[Loose, Loose]
    d_ci: tuple[Loose, Loose]
    r2_gain: float
    r2_bias: float
    r2: float
    bn_gamma: Positive
    bn_beta: float
    bn_score: Annotated[float, Field(ge=0, le=1)]
    verdict: str


class Dynamics(Part):
    """Convergence time constants (biological seconds) and their per-sample counterparts.

    One training sample stands for ``sample_dt`` seconds of biological time (docs/fitting.md),
    so a relaxation with time constant tau takes tau / sample_dt samples: ``eta_* =
    sample_dt / tau_*`` per sample, and running statistics average over ``tau_samples =
    max(1, max(tau_gain, tau_bias) / sample_dt)`` samples.
    """

    type: Literal["homeobridge.rule.dynamics"] = "homeobridge.rule.dynamics"
    tau_gain: Positive
    tau_bias: Positive
    sample_dt: Positive

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        """The derived rates written by :meth:`to_dict` are recomputed, not read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("eta_gain", "eta_bias", "tau_samples")}
        return data

    @computed_field
    @property
    def eta_gain(self) -> float:
        return self.sample_dt / self.tau_gain

    @computed_field
    @property
    def eta_bias(self) -> float:
        return self.sample_dt / self.tau_bias

    @computed_field
    @property
    def tau_samples(self) -> float:
        return max(1.0, max(self.tau_gain, self.tau_bias) / self.sample_dt)


class Scaling(Part):
    """Synaptic scaling fitted from the population rate's damped response r(t) -> ``target``.

    ``rate`` = 1/tau in 1/s (biological) of the response's envelope, ``omega`` its angular
    frequency (rad/s; 0: no oscillation), ``*_ci`` 95% intervals, ``r2`` of the fit,
    ``weight_ratio_cv`` the spread of w_final/w_initial over one neuron's synapses (0: purely
    multiplicative), ``configured_target`` the run's own target rate.
    """

    type: Literal["homeobridge.rule.scaling"] = "homeobridge.rule.scaling"
    rate: Positive
    rate_ci: tuple[Loose, Loose]
    target: float
    target_ci: tuple[Loose, Loose]
    omega: float
    r2: float
    weight_ratio_cv: Annotated[float, Field(ge=0)]
    configured_target: float


class TransferFit(Part):
    """Per-neuron fit y = A f(a x + b) of the f-I curve, ``function`` the best candidate.

    ``slope`` is dy/dx at each neuron's operating point (its mean input): the effective gain.
    ``candidates`` maps every tried function to its median R^2 over neurons (None: fitted none).
    Per-neuron values are NaN where that neuron's curve could not be fitted.
    """

    type: Literal["homeobridge.rule.transfer_fit"] = "homeobridge.rule.transfer_fit"
    function: Literal[TRANSFERS]
    amplitude_free: bool
    a: list[Loose]
    b: list[Loose]
    amplitude: list[Loose]
    r2: list[Loose]
    slope: list[Loose]
    candidates: dict[str, float | None]


class Rule(Part):
    """One fitted rule; see the module docstring and docs/fitting.md."""

    type: Literal["homeobridge.rule"] = RULE_TYPE
    name: Annotated[str, Field(min_length=1, pattern=r"^[^/.][^/]*$")]
    kind: Literal[KINDS]
    model: str
    transfer: Literal[TRANSFERS]
    targets: dict[str, float]
    dynamics: Dynamics
    fit_quality: dict[str, Any]
    source_runs: list[str]
    model_params: dict[str, Any]
    equations: str
    equilibrium: Equilibrium | None = None
    scaling: Scaling | None = None
    transfer_fit: TransferFit | None = None
    model_file: dict[str, Any] | None = None  # a model file's content (issue 26), hashed with the rule
    schema_version: Annotated[int, Field(ge=1, le=RULE_SCHEMA_VERSION)] = RULE_SCHEMA_VERSION

    @model_validator(mode="after")
    def _has_its_part(self) -> Rule:
        needed = "equilibrium" if self.kind == "intrinsic" else "scaling"
        if getattr(self, needed) is None:
            raise ValueError(f"a {self.kind} rule needs its {needed} part")
        return self

    def to_dict(self) -> dict:
        """Plain JSON-ready dict with a ``type`` per part (Dynamics also lists its derived rates)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: Any) -> Rule:
        """The rule from :meth:`to_dict`'s form; RuleError naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise RuleError(validation_message(err, "rule.")) from None

    def content_hash(self) -> str:
        """sha256 of the rule's canonical content: what a training run's identity records."""
        return content_hash(self.to_dict())


# ---- HDF5 codec: one group per part (``type`` attribute), numbers and strings as attributes,
# per-neuron lists as datasets, free-form dicts and string lists as JSON text attributes --------

def _is_json_field(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):  # X | None: as X
        return any(_is_json_field(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin is dict or (origin is list and typing.get_args(annotation) == (str,))


def _part_class(annotation: Any) -> type[Part] | None:
    """The Part class of a field annotated ``X`` or ``X | None``."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Part):
            return candidate
    return None


def _write_group(group: h5py.Group, part: Part) -> None:
    for name, field in type(part).model_fields.items():
        value = getattr(part, name)
        if value is None:
            continue
        if isinstance(value, Part):
            _write_group(group.create_group(name), value)
        elif _is_json_field(field.annotation):
            group.attrs[name] = canonical_json(value)
        elif isinstance(value, list):
            group.create_dataset(name, data=np.asarray(value, dtype=np.float64))
        else:
            group.attrs[name] = value


def _read_group(group: h5py.Group, cls: type[Part]) -> dict:
    """The dict form of ``cls`` stored in ``group`` (validated afterwards by :meth:`Rule.from_dict`)."""
    data: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        part = _part_class(field.annotation)
        if name in group and isinstance(group[name], h5py.Group) and part is not None:
            data[name] = _read_group(group[name], part)
        elif name in group and isinstance(group[name], h5py.Dataset):
            data[name] = group[name][()].tolist()
        elif name in group.attrs:
            data[name] = _read_attr(group.attrs[name], _is_json_field(field.annotation), name)
    return data


def _read_attr(value: Any, is_json: bool, where: str) -> Any:
    value = _plain(value)
    if not is_json:
        return value
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        raise RuleError(f"rule.{where}: not valid JSON text") from None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


# ---- the store -----------------------------------------------------------------------------

def rules_dir(store: Store) -> Path:
    """``<results>/rules`` of ``store``."""
    return store.root / RULES_KIND


def save_rule(rule: Rule, store: Store, clock: Stopwatch | None = None) -> Path:
    """Write ``rule`` atomically to ``<results>/rules/<name>.h5`` (replacing it) as a store run.

    ``clock`` times the fit that made the rule; its content hash is the run's input.
    """
    path = rules_dir(store) / f"{rule.name}.h5"
    config = {"rule": rule.name, "model": rule.model, "source_runs": rule.source_runs}
    inputs = {"rule_sha256": rule.content_hash()}
    with store.write(RULES_KIND, rule.name, config, 0, clock or Stopwatch(), inputs, path=path) as h5:
        group = h5.create_group("rule")
        _write_group(group, rule)
    return path


def rule_path(name_or_path: str | Path, store: Store) -> Path:
    """A rule file: ``name_or_path`` itself when it is a file or ends in .h5, else the store's."""
    given = Path(name_or_path)
    if given.suffix == ".h5" or given.exists():
        return given
    path = rules_dir(store) / f"{name_or_path}.h5"
    if not path.exists():
        known = ", ".join(p.stem for p in _rule_files(store)) or "none"
        raise RuleError(f"no rule {str(name_or_path)!r} in {rules_dir(store)} (rules: {known})")
    return path


def load_rule(name_or_path: str | Path, store: Store) -> Rule:
    """The rule stored under a name (in ``store``) or at a path; RuleError/StoreError when malformed."""
    path = rule_path(name_or_path, store)
    with open_run(path, RULES_KIND) as run:
        group = run.require("rule")
        if not isinstance(group, h5py.Group):
            raise RuleError(f"{path}: 'rule' is not a group")
        try:
            return Rule.from_dict(_read_group(group, Rule))
        except RuleError as err:
            raise RuleError(f"{path}: {err}") from None


def _rule_files(store: Store) -> list[Path]:
    directory = rules_dir(store)
    return sorted(directory.glob("[!.]*.h5"), key=lambda path: path.stem) if directory.is_dir() else []


def list_rules(store: Store) -> list[Rule]:
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
    rows = [rule_summary(rule) for rule in rules]
    headers = list(dict.fromkeys(key for row in rows for key in row))
    return markdown_table(headers, [[row.get(key, "") for key in headers] for row in rows])


def rule_report(rule: Rule) -> str:
    """One rule's fitted numbers as a markdown table: value and 95% CI per parameter."""
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
                 ["oscillation omega (rad/s)", f"{sc.omega:.4g}", "0: a plain relaxation"],
                 ["R2 (rate relaxation)", f"{sc.r2:.4f}", ""]]
    rows += [["tau_gain, tau_bias (s)", f"{dyn.tau_gain:.4g}, {dyn.tau_bias:.4g}", ""],
             ["eta_gain, eta_bias (/sample)", f"{dyn.eta_gain:.4g}, {dyn.eta_bias:.4g}",
              f"sample_dt = {dyn.sample_dt:.4g} s"]]
    if rule.model_file is not None:
        rows.append(["model file", ModelFile(**rule.model_file).content_hash(),
                     "gain and bias measured from its f-I curves (bridge/fitting/effective.py)"])
    return markdown_table(["parameter", "value", "95% CI / note"], rows)


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4g}, {interval[1]:.4g}]"
