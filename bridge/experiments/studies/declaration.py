"""What a study declares before its runs: budgets, comparisons, cuts and amendments, the study.

A :class:`Study` is data, validated when built: the claim and its source, the date it was
declared, the arms (normalisations, or any training fields per arm: ``arm_fields``) and the
swept axis (a training field such as depth, learning rate or init scale, or named
``settings``), the :class:`Comparison` families that test the claim (each with its metric, its
treatments and baselines, its claimed sign and negligible band or margin, and how each arm's
learning rate is chosen), per budget the data size, validation split, epochs, width and seeds,
and every :class:`Cut` and :class:`Amendment`, typed and dated. The criterion sentence is
generated from these fields (:func:`criterion`), never typed beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from bridge.core.config import Config
from bridge.experiments.metrics import METRICS
from bridge.experiments.statistics import MAX_SEEDS

BUDGETS = ("smoke", "quick", "full")
RULE_MODELS = ("rate-ip", "lif-ip", "synaptic-scaling")  # the models whose fitted rules fitted arms run
COUNT_THRESHOLDS = ("within 90% of best", "halfway from chance")
# declared: each arm's own rate (arm_fields lr) or the shared one; shared: the study's shared rate;
# own-best: each arm's best rate of the grid, chosen on validation accuracy; count: how many rates
# of the lr axis train (the metric is a count over rates)
LR_POLICIES = ("declared", "shared", "own-best", "count")


class Budget(Config):
    """What one budget trains: data size, validation split, epochs, width, seeds (and the Brian2
    run's length); ``values`` / ``lrs``: a smaller grid of the study's axis / learning rates."""

    n_train: PositiveInt
    n_test: PositiveInt
    n_val: NonNegativeInt = 0
    epochs: PositiveInt
    width: PositiveInt
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=2, max_length=MAX_SEEDS)]
    sim_duration: PositiveFloat = 60.0
    values: tuple[float | str, ...] | None = None
    lrs: tuple[PositiveFloat, ...] | None = None


class Comparison(BaseModel):
    """A declared family of paired tests: every treatment against the baseline (each arm of
    ``baselines``, or the arm of ``best_of`` with the best validation accuracy at that value) at
    every tested value. ``negligible``: the negligible band of a superiority test, the margin of
    a non-inferiority test (in the metric's units). ``any_treatment``: the claim holds at a value
    if any treatment shows it (e.g. any declared Oja rate)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str
    metric: Literal[tuple(METRICS)]
    treatments: tuple[str, ...]
    baselines: tuple[str, ...] = ()
    best_of: tuple[str, ...] = ()
    kind: Literal["superiority", "non-inferiority"] = "superiority"
    sign: Literal[1, -1] = 1
    negligible: float
    lr_policy: Literal[LR_POLICIES] = "own-best"
    count_threshold: Literal[COUNT_THRESHOLDS] | None = None
    any_treatment: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Comparison:
        if bool(self.baselines) == bool(self.best_of):
            raise ValueError(f"comparison {self.variant!r}: give baselines or best_of, not both or neither")
        if self.kind == "non-inferiority" and self.sign != 1:
            raise ValueError(f"comparison {self.variant!r}: non-inferiority is for metrics where higher is better")
        if self.sign != METRICS[self.metric].better:
            raise ValueError(f"comparison {self.variant!r}: {self.metric} is better when "
                             f"{'higher' if METRICS[self.metric].better > 0 else 'lower'}; the claimed sign must "
                             "agree, so that a diverged run's worst value counts against its arm")
        if (self.lr_policy == "count") != (self.count_threshold is not None):
            raise ValueError(f"comparison {self.variant!r}: a count over rates needs a count_threshold, and only it")
        return self


class Cut(BaseModel):
    """A part of the declared grid or budget not run: what, when, why, and whether it was cut
    before any run of the study (a cut after a look is flagged wherever the study is shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: dt.date
    what: str
    reason: str
    before_runs: bool


class Amendment(BaseModel):
    """A change of the declaration after it was made (a new arm, threshold or variant): what,
    when, why, and whether it followed a look at results (post hoc: flagged in every table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: dt.date
    what: str
    reason: str
    after_look: bool


class Study(BaseModel):
    """One declared protocol (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    claim: str
    source: str
    declared: dt.date
    protocol: str  # the setting in words: what the typed fields do not say
    comparisons: Annotated[tuple[Comparison, ...], Field(min_length=1)]
    arms: tuple[str, ...]
    arm_fields: dict[str, dict[str, Any]] = {}
    axis: str
    values: tuple[float | str, ...]
    tested: tuple[float | str, ...]
    settings: dict[str, dict[str, Any]] = {}
    lrs: tuple[float, ...] = ()
    shared_lr: float | None = None
    rule_model: Literal[RULE_MODELS] = "rate-ip"
    sim_test: Literal["information"] | None = None  # a Brian2 test beside the trained nets (claim d)
    fixed: dict[str, Any]
    budgets: dict[Literal[BUDGETS], Budget]
    cuts: tuple[Cut, ...] = ()
    amendments: tuple[Amendment, ...] = ()

    def condition(self, value: float | str) -> str:
        """A value of the study's axis in words: a setting's name, or e.g. 'depth 10'."""
        return str(value) if self.axis == "setting" else f"{self.axis} {value:g}"

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        problem = _study_problem(self)
        if problem:
            raise ValueError(f"study {self.name!r}: {problem}")
        return self


def _study_problem(study: Study) -> str | None:
    """Why a declaration does not hold together, or None."""
    for comparison in study.comparisons:
        unknown = set(comparison.treatments + comparison.baselines + comparison.best_of) - set(study.arms)
        if unknown:
            return f"comparison {comparison.variant!r} names {sorted(unknown)}, which are not arms"
        if comparison.lr_policy == "count" and study.axis != "lr":
            return f"comparison {comparison.variant!r} counts over rates but the axis is {study.axis!r}"
        if comparison.lr_policy == "shared" and study.shared_lr is None:
            return f"comparison {comparison.variant!r} uses the shared rate but none is declared"
    if not set(study.tested) <= set(study.values):
        return f"tested values {sorted(set(study.tested) - set(study.values))} are not in the sweep"
    if study.axis == "setting" and set(study.settings) != set(study.values):
        return "the settings must be the values of the 'setting' axis"
    if set(study.budgets) != set(BUDGETS):
        return f"every budget ({', '.join(BUDGETS)}) must be declared"
    for name, budget in study.budgets.items():
        if budget.values and not set(budget.values) <= set(study.values):
            return f"budget {name}: values outside the sweep"
        if budget.lrs and not set(budget.lrs) <= set(study.lrs):
            return f"budget {name}: learning rates outside the grid"
    if any(cut.on < study.declared for cut in study.cuts) or any(a.on < study.declared for a in study.amendments):
        return "a cut or amendment is dated before the declaration"
    return None


def at_budget(study: Study, budget: str) -> Study:
    """The study as run at ``budget``: its axis values and learning-rate grid cut where the budget
    says so (a smoke run tests the machinery, not the claim), tested values kept in the grid."""
    cut = study.budgets[budget]
    values = cut.values or study.values
    return study.model_copy(update={"values": values, "tested": tuple(v for v in study.tested if v in values),
                                    "lrs": cut.lrs or study.lrs})


def _comparison_sentence(study: Study, comparison: Comparison) -> str:
    baseline = (f"the best of {'/'.join(comparison.best_of)} (chosen on validation accuracy)"
                if comparison.best_of else " and ".join(comparison.baselines))
    metric = comparison.metric + (f" ('{comparison.count_threshold}')" if comparison.count_threshold else "")
    where = f" at {study.axis} {', '.join(f'{v:g}' if isinstance(v, float | int) else str(v) for v in study.tested)}" \
        if study.tested else ""
    lr = {"declared": "each arm at its declared rate", "shared": f"every arm at the shared rate {study.shared_lr}",
          "own-best": "each arm at its best rate of the grid, chosen on validation accuracy",
          "count": "counted over the rates of the axis"}[comparison.lr_policy]
    treatments = ", ".join(comparison.treatments)
    if comparison.kind == "non-inferiority":
        return (f"{comparison.variant}: {treatments} minus {baseline} in {metric}{where} ({lr}) not below "
                f"-{comparison.negligible:g}: reproduced when the non-inferiority p (Holm) < 0.05, refuted when "
                "the inferiority p (Holm) < 0.05")
    direction = ">" if comparison.sign > 0 else "<"
    anyone = "; the claim holds at a condition if any treatment shows it" if comparison.any_treatment else ""
    return (f"{comparison.variant}: {treatments} minus {baseline} {direction} 0 in {metric}{where} ({lr}): "
            f"reproduced when the Holm p < 0.05 with that sign; refuted when reversed (Holm p < 0.05) or inside "
            f"+/-{comparison.negligible:g} (equivalence p, Holm, < 0.05){anyone}")


def criterion(study: Study) -> str:
    """The criterion in words, generated from the typed comparisons."""
    return "; ".join(_comparison_sentence(study, c) for c in study.comparisons)


def describe(study: Study) -> dict:
    """The declaration as shown by ``study show`` (JSON-ready), with its generated criterion."""
    return {**study.model_dump(mode="json"), "criterion": criterion(study)}
