"""Paired statistics of a study: effect = mean paired difference, its 95% CI, Holm, a verdict.

Each test compares a treatment arm with the baseline arm on the same seeds (same initial
weights where the shapes allow, same data order): the per-seed differences d_i give

    effect = mean(d),  95% CI = effect +/- t_{0.975, n-1} * sd(d) / sqrt(n)     (scipy.stats.t)
    p      = two-sided one-sample t-test of d against 0                      (scipy.stats.ttest_1samp)

When every difference is the same (sd = 0, e.g. counts), the t-test is undefined: p is then the
exact two-sided sign test of n equal signs (scipy.stats.binomtest; 0.0625 for n = 5), and the
interval is the point.

With several tests in one study, the p-values are Holm-adjusted (Holm 1979): sorted
ascending, p_(k) * (m - k + 1), made monotone, capped at 1. scipy has no Holm step-down (its
``false_discovery_control`` is Benjamini-Hochberg/Yekutieli, which controls another error rate),
and the step-down is five lines, so it is written here.

Verdict of one test, given the claimed sign of the effect and a declared negligible band
[-negligible, +negligible]:

- ``refuted``: the whole 95% CI lies inside the negligible band (an effect too small to matter,
  measured precisely; this comes first, so a significant but negligible effect is no support),
  or Holm-adjusted p < alpha with the effect of the opposite sign;
- ``reproduced``: Holm-adjusted p < alpha and the effect has the claimed sign (and is not
  negligible);
- ``inconclusive``: anything else (including fewer than 2 seeds).

A non-inferiority test (a claim that the treatment is "competitive", "as good as" the
baseline within a declared margin) is the lower one-sided test of TOST: p of H0 "mean
difference <= -margin" (``ttest_1samp(d, -margin, alternative="greater")``; the exact sign
test when every difference is the same). Its verdict: ``reproduced`` when the Holm-adjusted p <
alpha, ``refuted`` when the whole 95% CI lies below -margin (worse by more than the margin,
measured), otherwise ``inconclusive``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
CI_LEVEL = 0.95
VERDICTS = ("reproduced", "refuted", "inconclusive")


@dataclass(frozen=True)
class PairedEffect:
    """Mean paired difference, its 95% CI, n and the unadjusted two-sided p-value."""

    effect: float
    low: float
    high: float
    n: int
    p: float


def paired_effect(differences: np.ndarray) -> PairedEffect:
    """The t-interval and t-test of per-seed differences (NaN CI and p = 1 with fewer than 2)."""
    d = np.asarray(differences, dtype=float)
    n = d.size
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return PairedEffect(mean, math.nan, math.nan, n, 1.0)
    sd = float(d.std(ddof=1))
    if sd == 0:  # identical differences: no t-test; the exact sign test of n equal signs instead
        p = float(stats.binomtest(n, n, 0.5).pvalue) if mean != 0 else 1.0
        return PairedEffect(mean, mean, mean, n, p)
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_1samp(d, 0.0).pvalue)
    return PairedEffect(mean, mean - half, mean + half, n, p)


def non_inferiority_p(differences: np.ndarray, margin: float) -> float:
    """One-sided p of H0: mean(d) <= -margin (see the module docstring); 1 with fewer than 2."""
    d = np.asarray(differences, dtype=float)
    n = d.size
    if n < 2:
        return 1.0
    if float(d.std(ddof=1)) == 0:
        return float(stats.binomtest(n, n, 0.5, alternative="greater").pvalue) if d[0] > -margin else 1.0
    return float(stats.ttest_1samp(d, -margin, alternative="greater").pvalue)


def non_inferiority_verdict(effect: PairedEffect, p_adjusted: float, margin: float, alpha: float = ALPHA) -> str:
    """``reproduced`` / ``refuted`` / ``inconclusive`` of one non-inferiority test."""
    if effect.n < 2:
        return "inconclusive"
    if p_adjusted < alpha:
        return "reproduced"
    if effect.high < -margin:
        return "refuted"
    return "inconclusive"


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def verdict(effect: PairedEffect, p_adjusted: float, sign: int, negligible: float,
            alpha: float = ALPHA) -> str:
    """``reproduced`` / ``refuted`` / ``inconclusive`` of one test (see the module docstring)."""
    if effect.n < 2:
        return "inconclusive"
    if -negligible <= effect.low and effect.high <= negligible:
        return "refuted"
    if p_adjusted < alpha:
        return "reproduced" if effect.effect * sign > 0 else "refuted"
    return "inconclusive"


def claim_verdict(verdicts: list[str]) -> str:
    """A claim tested under several conditions: reproduced if every test reproduces it, refuted
    if every test refutes it, otherwise inconclusive (mixed or open)."""
    if verdicts and all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if verdicts and all(v == "refuted" for v in verdicts):
        return "refuted"
    return "inconclusive"
