"""Paired statistics of a study: one exact test for every p-value and every interval.

Each test compares a treatment arm with a baseline arm on the same seeds (same initial weights
where the shapes allow, same data order): the per-seed differences d_i = t_i - b_i give

    effect = mean(d)
    p(mu0) = exact sign-flip permutation test of mean(d - mu0) (Fisher's randomisation test:
             under H0 each d_i - mu0 is symmetric about 0, so all 2^n sign vectors are equally
             likely; ``scipy.stats.permutation_test``, permutation_type "samples", n_resamples inf)
    95% CI = {mu0 : two-sided p(mu0) >= 0.05}   (the test inverted: the same method as p)

Differences within :data:`TIE_TOLERANCE` of 0 (relative to the metric's scale) are 0, so the
verdict of a constant difference never depends on rounding. The method needs no normality and
treats ties (every seed the same difference, e.g. a count) like any other data: n equal signs
give p = 2 / 2^n (0.0625 at 5 seeds: nothing can reach p < 0.05 with 5 seeds, and the CI is then
unbounded; 0.002 at 10 seeds). scipy's permutation test returns no interval, so its inversion
(bisection on mu0 between min(d) and mean(d), and mean(d) and max(d)) is written here.

Every hypothesis is judged at the same level: two-sided 0.05, i.e. one-sided 0.025. One-sided
p-values are reported doubled (capped at 1), so each p reads against 0.05 and is exactly dual
to the 95% CI above:

- superiority, the claim:   p = two-sided p(0);   reversed when the effect has the other sign;
- equivalence, refutation:  p = 2 max(p(d > -m), p(d < +m)) (TOST, band +/-m): "the effect is
  inside the negligible band, measured";
- non-inferiority, claim:   p = 2 p(d > -m);  inferiority, refutation: p = 2 p(d < -m).

Within a study, Holm (1979) adjusts the claim and the refutation p-values together, as one
family, so the study's familywise error is 0.05; a test's claim null and refutation null exclude
each other, so of the 2m nulls at most m can be true and each multiplier is capped at m
(Shaffer 1986). scipy has no Holm step-down (``false_discovery_control`` is Benjamini-Hochberg,
another error rate); it is a few lines. Verdict of one test:

- superiority: ``refuted`` when the Holm equivalence p < 0.05 (negligible, precisely; first, so
  a significant but negligible effect is no support), or the Holm claim p < 0.05 with the effect
  of the opposite sign; ``reproduced`` when the Holm claim p < 0.05 with the claimed sign;
- non-inferiority: ``reproduced`` when the Holm claim p < 0.05, ``refuted`` when the Holm
  inferiority p < 0.05;
- ``inconclusive`` otherwise (and with fewer than 2 seeds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from scipy import stats

ALPHA = 0.05
TIE_TOLERANCE = 1e-9  # |d| <= TIE_TOLERANCE * max(1, |values|) is a tie: d = 0
MAX_SEEDS = 16  # 2^16 sign vectors: the exact test stays fast
VERDICTS = ("reproduced", "refuted", "inconclusive")
Kind = Literal["superiority", "non-inferiority"]
BISECTIONS = 40


class PairedEffect(NamedTuple):
    """Mean paired difference, its 95% CI (the inverted test; infinite where no shift can be
    rejected) and n."""

    effect: float
    low: float
    high: float
    n: int


class PValues(NamedTuple):
    """The unadjusted p of a test's claim and of its refutation (both read against 0.05)."""

    claim: float
    refutation: float


def paired_differences(treatment: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    """t - b per seed, with ties (within :data:`TIE_TOLERANCE` of the values' scale) set to 0."""
    t, b = np.asarray(treatment, dtype=float), np.asarray(baseline, dtype=float)
    d = t - b
    scale = max(1.0, float(np.max(np.abs(np.concatenate([t, b])), initial=0.0)))
    d[np.abs(d) <= TIE_TOLERANCE * scale] = 0.0
    return d


def sign_flip_p(d: np.ndarray, shift: float = 0.0,
                alternative: Literal["two-sided", "greater", "less"] = "two-sided") -> float:
    """Exact sign-flip p of H0 "d - shift is symmetric about 0" against ``alternative``; 1 below 2 seeds."""
    if d.size < 2:
        return 1.0
    if d.size > MAX_SEEDS:
        raise ValueError(f"the exact sign-flip test enumerates 2^n sign vectors; n = {d.size} > {MAX_SEEDS}")
    centred = d - shift
    if not np.any(centred):
        return 1.0
    result = stats.permutation_test((centred,), np.mean, permutation_type="samples", vectorized=True,
                                    n_resamples=np.inf, alternative=alternative)
    return float(min(1.0, result.pvalue))


def _boundary(d: np.ndarray, inside: float, outside: float) -> float:
    """The shift between ``inside`` (not rejected) and ``outside`` (rejected) where p crosses ALPHA."""
    for _ in range(BISECTIONS):
        middle = 0.5 * (inside + outside)
        if sign_flip_p(d, middle) >= ALPHA:
            inside = middle
        else:
            outside = middle
    return inside


def paired_effect(differences: np.ndarray) -> PairedEffect:
    """Mean and inverted-test 95% CI of per-seed differences (NaN with none, unbounded when n is too small)."""
    d = np.asarray(differences, dtype=float)
    n = d.size
    if n == 0:
        return PairedEffect(math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if n < 2 or 2.0 / 2**n >= ALPHA:  # no shift can be rejected: the CI is the whole line
        return PairedEffect(mean, -math.inf, math.inf, n)
    low = mean if d.min() == mean else _boundary(d, mean, float(d.min()) - (mean - float(d.min())))
    high = mean if d.max() == mean else _boundary(d, mean, float(d.max()) + (float(d.max()) - mean))
    return PairedEffect(mean, low, high, n)


def _doubled(p: float) -> float:
    return min(1.0, 2.0 * p)


def p_values_of(d: np.ndarray, kind: Kind, margin: float) -> PValues:
    """The claim's and the refutation's p (module docstring) of one test; ``margin``: the
    negligible band of a superiority test, the margin of a non-inferiority one."""
    if kind == "superiority":
        equivalence = max(sign_flip_p(d, -margin, "greater"), sign_flip_p(d, margin, "less"))
        return PValues(sign_flip_p(d), _doubled(equivalence))
    return PValues(_doubled(sign_flip_p(d, -margin, "greater")), _doubled(sign_flip_p(d, -margin, "less")))


def holm(p_values: Sequence[float], true_at_most: int | None = None) -> list[float]:
    """Holm step-down adjusted p-values, in the input order: the k-th smallest times the number of
    hypotheses left, capped at ``true_at_most`` where no more of the nulls can be true together
    (Shaffer 1986: a study's claim and refutation nulls of one test exclude each other, so of its
    2m nulls at most m are true), made monotone, capped at 1."""
    m = len(p_values)
    cap = m if true_at_most is None else true_at_most
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, min(cap, m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def verdict(kind: Kind, effect: PairedEffect, holm_ps: PValues, sign: int, alpha: float = ALPHA) -> str:
    """``reproduced`` / ``refuted`` / ``inconclusive`` of one test (see the module docstring)."""
    if effect.n < 2:
        return "inconclusive"
    if kind == "non-inferiority":
        if holm_ps.claim < alpha:
            return "reproduced"
        return "refuted" if holm_ps.refutation < alpha else "inconclusive"
    if holm_ps.refutation < alpha:
        return "refuted"
    if holm_ps.claim < alpha:
        return "reproduced" if effect.effect * sign > 0 else "refuted"
    return "inconclusive"


def claim_verdict(verdicts: Sequence[str]) -> str:
    """A claim over several tests or conditions: reproduced if every one reproduces it, refuted
    if every one refutes it, otherwise inconclusive (mixed or open)."""
    if verdicts and all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if verdicts and all(v == "refuted" for v in verdicts):
        return "refuted"
    return "inconclusive"
