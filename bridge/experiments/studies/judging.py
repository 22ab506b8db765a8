"""Judging a study: per-seed values of each arm, learning rates chosen on the validation split,
paired tests, Holm within the study, and the verdict of each test, condition and claim.

A diverged run takes its metric's worst value (``metrics.METRICS``: the one declared policy,
for every metric), so a failure counts against the arm that failed. Every choice (an arm's best
learning rate, the best of several baselines) reads validation accuracy; where the stored runs
hold no validation split, the choice falls back to test accuracy and the test says "selected on
test". Effects read the test set.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict

from bridge.experiments.metrics import CHANCE, arm_values, metric_value
from bridge.experiments.statistics import (
    PairedEffect,
    PValues,
    claim_verdict,
    holm,
    p_values_of,
    paired_differences,
    paired_effect,
    verdict,
)
from bridge.experiments.studies.cells import CellKey, declared_lr, present_arms
from bridge.experiments.studies.declaration import Comparison, Study

Histories = Mapping[CellKey, dict]
SelectedOn = Literal["validation", "test", "declared"]
NOT_RECORDED = "n/a: not recorded in the stored runs (trained before this metric existed: rerun them)"
COUNT_FLOORS = {  # count threshold: the accuracy a learning rate must reach, from the seed's best
    "within 90% of best": lambda best: 0.9 * best,
    "halfway from chance": lambda best: CHANCE + 0.5 * (best - CHANCE),
}


class Selection(NamedTuple):
    """The learning rate an arm is judged at, and what chose it."""

    lr: float
    on: SelectedOn


class Labels(NamedTuple):
    """Which pair a test compares, under which variant and condition."""

    variant: str
    condition: str
    treatment: str
    baseline: str


class PairedTest(BaseModel):
    """One paired test: its declaration, per-seed values, effect and CI, p-values and verdict.
    Frozen: :meth:`judged` returns a copy with the Holm-adjusted p-values and the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str
    condition: str
    treatment: str
    baseline: str
    metric: str
    kind: Literal["superiority", "non-inferiority"]
    sign: Literal[1, -1]
    negligible: float
    any_treatment: bool
    lrs: tuple[float, float] | None
    selected_on: SelectedOn
    treatment_values: tuple[float, ...]
    baseline_values: tuple[float, ...]
    diverged: tuple[int, int]  # runs of (treatment, baseline) that diverged: they took the worst value
    effect: float
    low: float
    high: float
    n: int
    p: float
    p_refutation: float
    note: str = ""
    p_holm: float = math.nan
    p_refutation_holm: float = math.nan
    verdict: str = "inconclusive"

    def judged(self, p_holm: float, p_refutation_holm: float) -> PairedTest:
        effect = PairedEffect(self.effect, self.low, self.high, self.n)
        outcome = verdict(self.kind, effect, PValues(p_holm, p_refutation_holm), self.sign)
        return self.model_copy(update={"p_holm": p_holm, "p_refutation_holm": p_refutation_holm, "verdict": outcome})


class VariantVerdict(BaseModel):
    """A claim's verdict (one variant of it): per condition, and overall (every condition agreeing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    overall: str
    conditions: dict[str, str]


def pair(comparison: Comparison, labels: Labels, treatment: Sequence[float], baseline: Sequence[float],
         diverged: tuple[int, int] = (0, 0), lrs: tuple[float, float] | None = None,
         selected_on: SelectedOn = "declared") -> PairedTest:
    """The paired test of two arms' per-seed values under ``comparison``'s rule."""
    t, b = np.asarray(treatment, dtype=float), np.asarray(baseline, dtype=float)
    recorded = bool(np.isfinite(t).all() and np.isfinite(b).all())
    d = paired_differences(t, b) if recorded else np.array([])
    effect = paired_effect(d)
    ps = p_values_of(d, comparison.kind, comparison.negligible) if recorded else PValues(1.0, 1.0)
    return PairedTest(
        **labels._asdict(), metric=comparison.metric, kind=comparison.kind, sign=comparison.sign,
        negligible=comparison.negligible, any_treatment=comparison.any_treatment, lrs=lrs, selected_on=selected_on,
        treatment_values=tuple(t.tolist()), baseline_values=tuple(b.tolist()), diverged=diverged,
        effect=effect.effect, low=effect.low, high=effect.high, n=effect.n, p=ps.claim, p_refutation=ps.refutation,
        note="" if recorded else NOT_RECORDED)


def seed_values(histories: Histories, cell: CellKey, seeds: Sequence[int], metric: str) -> tuple[np.ndarray, int]:
    """``metric`` of the cells ``cell`` with each seed (the diverged policy applied), and how many diverged."""
    values = arm_values(histories, cell.arm, cell.value, cell.lr, seeds, lambda h: metric_value(h, metric))
    return values, sum(histories[cell._replace(seed=seed)]["status"] != "ok" for seed in seeds)


def _score(histories: Histories, cell: CellKey, seeds: Sequence[int]) -> tuple[float, SelectedOn]:
    """Seed-mean validation accuracy of a cell, or its test accuracy where its runs hold no
    validation split (trained before it existed, or declared without one)."""
    if all(histories[cell._replace(seed=seed)].get("n_val", 0) for seed in seeds):
        return float(seed_values(histories, cell, seeds, "val_accuracy")[0].mean()), "validation"
    return float(seed_values(histories, cell, seeds, "accuracy")[0].mean()), "test"


def own_best(study: Study, histories: Histories, arm: str, value, seeds: Sequence[int]) -> Selection:
    """The arm's best learning rate of the grid at ``value`` (validation accuracy)."""
    if len(study.lrs) <= 1:
        return Selection(study.lrs[0] if study.lrs else declared_lr(study, arm), "declared")
    scores = {lr: _score(histories, CellKey(arm, value, lr, seeds[0]), seeds) for lr in study.lrs}
    best = max(study.lrs, key=lambda lr: scores[lr][0])
    return Selection(best, "test" if any(on == "test" for _, on in scores.values()) else "validation")


def lr_of(study: Study, comparison: Comparison, histories: Histories, arm: str, value, seeds) -> Selection:
    """The learning rate ``comparison`` judges ``arm`` at (its declared ``lr_policy``)."""
    if comparison.lr_policy == "shared":
        return Selection(study.shared_lr, "declared")
    if comparison.lr_policy == "declared":
        return Selection(declared_lr(study, arm), "declared")
    return own_best(study, histories, arm, value, seeds)


def _worse(first: SelectedOn, second: SelectedOn) -> SelectedOn:
    return "test" if "test" in (first, second) else ("validation" if "validation" in (first, second) else "declared")


def _baselines(study: Study, comparison: Comparison, histories: Histories, value,
               seeds) -> list[tuple[str, str, SelectedOn]]:
    """(arm, label, what chose it) of each baseline at ``value``: the declared ones, or the best of
    ``best_of`` by validation accuracy."""
    if not comparison.best_of:
        return [(b, b, "declared") for b in comparison.baselines]
    scored = {}
    for arm in comparison.best_of:
        chosen = lr_of(study, comparison, histories, arm, value, seeds)
        scored[arm] = (*_score(histories, CellKey(arm, value, chosen.lr, seeds[0]), seeds), chosen.on)
    best = max(comparison.best_of, key=lambda arm: scored[arm][0])
    on = "test" if any("test" in (score_on, lr_on) for _, score_on, lr_on in scored.values()) else "validation"
    return [(best, f"{best} (best of {', '.join(comparison.best_of)})", on)]


def comparison_tests(study: Study, comparison: Comparison, histories: Histories, seeds: Sequence[int],
                     rule: str) -> list[PairedTest]:
    """The paired tests of one declared comparison."""
    if comparison.lr_policy == "count":
        return count_tests(study, comparison, histories, seeds, rule)
    present = present_arms(study, rule)
    tests = []
    for value, treatment in itertools.product(study.tested, [t for t in comparison.treatments if t in present]):
        for baseline, label, chose_baseline in _baselines(study, comparison, histories, value, seeds):
            if baseline not in present:
                continue
            lr_t = lr_of(study, comparison, histories, treatment, value, seeds)
            lr_b = lr_of(study, comparison, histories, baseline, value, seeds)
            t, t_diverged = seed_values(histories, CellKey(treatment, value, lr_t.lr, 0), seeds, comparison.metric)
            b, b_diverged = seed_values(histories, CellKey(baseline, value, lr_b.lr, 0), seeds, comparison.metric)
            tests.append(pair(comparison, Labels(comparison.variant, study.condition(value), treatment, label),
                              t, b, (t_diverged, b_diverged), (lr_t.lr, lr_b.lr),
                              _worse(_worse(lr_t.on, lr_b.on), chose_baseline)))
    return tests


def lr_counts(study: Study, histories: Histories, seeds: Sequence[int], rule: str,
              threshold: str) -> dict[str, tuple[np.ndarray, int]]:
    """Per arm and seed: how many learning rates of the axis reach ``threshold``'s floor of that
    seed's best test accuracy in the study (any arm, any rate); and the arm's diverged runs."""
    floor = COUNT_FLOORS[threshold]
    arms = present_arms(study, rule)
    runs = {arm: [seed_values(histories, CellKey(arm, lr, lr, 0), seeds, "accuracy") for lr in study.values]
            for arm in arms}
    accuracy = {arm: np.array([values for values, _ in per_lr]) for arm, per_lr in runs.items()}
    best = np.max([a.max(axis=0) for a in accuracy.values()], axis=0)  # per seed
    return {arm: ((a >= floor(best)).sum(axis=0).astype(float), sum(d for _, d in runs[arm]))
            for arm, a in accuracy.items()}


def count_tests(study: Study, comparison: Comparison, histories: Histories, seeds: Sequence[int],
                rule: str) -> list[PairedTest]:
    """Count over rates (Shaw's claim b): each treatment's count minus the baseline's, per seed."""
    counts = lr_counts(study, histories, seeds, rule, comparison.count_threshold)
    baseline = comparison.baselines[0]
    return [pair(comparison, Labels(comparison.variant, "", t, baseline), counts[t][0], counts[baseline][0],
                 (counts[t][1], counts[baseline][1])) for t in comparison.treatments if t in counts]


def judge(tests: Sequence[PairedTest]) -> list[PairedTest]:
    """Holm over the study's claim and refutation p-values as one family (at most one null of
    each test can be true: ``statistics.holm``'s ``true_at_most``); each test judged."""
    m = len(tests)
    adjusted = holm([t.p for t in tests] + [t.p_refutation for t in tests], true_at_most=m)
    return [test.judged(adjusted[i], adjusted[m + i]) for i, test in enumerate(tests)]


def condition_verdict(tests: Sequence[PairedTest]) -> str:
    """The claim's verdict at one condition: every test agreeing, or with ``any_treatment`` one
    reproducing treatment (refuted only if all refute)."""
    verdicts = [t.verdict for t in tests]
    if tests and tests[0].any_treatment and "reproduced" in verdicts:
        return "reproduced"
    return claim_verdict(verdicts)


def variant_verdicts(tests: Sequence[PairedTest]) -> dict[str, VariantVerdict]:
    """Each variant's verdict per condition and overall (every condition must agree)."""
    verdicts = {}
    for variant in dict.fromkeys(t.variant for t in tests):
        mine = [t for t in tests if t.variant == variant]
        conditions = {c: condition_verdict([t for t in mine if t.condition == c])
                      for c in dict.fromkeys(t.condition for t in mine)}
        verdicts[variant] = VariantVerdict(overall=claim_verdict(list(conditions.values())), conditions=conditions)
    return verdicts
