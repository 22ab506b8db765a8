"""Convergence dynamics: x(t) = x_inf + (x_0 - x_inf) exp(-t / tau) per trajectory, and the
median time constant over a sweep's neurons (docs/fitting.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.fitting.least_squares import FitError, LeastSquares, least_squares, r_squared

MIN_MOVE = 5.0  # a trajectory is fitted only when it moved this many noise s.d. (tail)
RELAX_WINDOW = 5.0  # a relaxation's R^2 is taken over its first RELAX_WINDOW * tau



def _relaxation(t, x_inf, delta, log_tau):
    return x_inf + delta * np.exp(-t / np.exp(log_tau))


@dataclass(frozen=True)
class Relaxation:
    """x(t) = x_inf + (x_0 - x_inf) exp(-t/tau) fitted to one trajectory; R^2 over t <= 5 tau."""

    tau: float
    x_inf: float
    r2: float


def final_level(x: np.ndarray) -> np.ndarray:
    """The last fifth of a trajectory (at least 2 samples): its mean is the final level."""
    return x[-max(2, len(x) // 5):]


def farthest_stretch(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The trajectory from its point farthest from its final level (t from 0 there), and the noise.

    The final level and the noise are the mean and s.d. of the last fifth. The farthest point
    is the start for a monotonic approach, the turning point after an overshoot, the jump
    right after a perturbation.
    """
    t, x = np.asarray(t, dtype=float), np.asarray(x, dtype=float)
    tail = final_level(x)
    start = int(np.argmax(np.abs(x - tail.mean())))
    return t[start:] - t[start], x[start:], float(tail.std())


def relaxation_least_squares(t: np.ndarray, x: np.ndarray, what: str) -> LeastSquares:
    """Least squares of x(t) = x_inf + delta exp(-t/tau) (params x_inf, delta, log tau) from t = 0."""
    level = final_level(x).mean()
    inside = np.abs(x - level) < abs(x[0] - level) / np.e
    tau0 = t[np.argmax(inside)] if inside.any() and t[np.argmax(inside)] > 0 else t[-1] / 3
    return least_squares(_relaxation, t, x, (level, x[0] - level, np.log(tau0)), what)


def fit_relaxation(t: np.ndarray, x: np.ndarray) -> Relaxation | None:
    """The exponential relaxation of one trajectory from its :func:`farthest_stretch`, or None.

    None (unresolved): it moved less than ``MIN_MOVE`` times its final noise, or tau came out
    shorter than one sampling interval or longer than twice the fitted stretch.
    """
    t, x, noise = farthest_stretch(t, x)
    if len(x) < 4 or abs(x[0] - final_level(x).mean()) <= MIN_MOVE * noise:
        return None
    try:
        fit = relaxation_least_squares(t, x, "relaxation")
    except FitError:
        return None
    tau = float(np.exp(fit.params[2]))
    if not (np.min(np.diff(t)) <= tau <= 2 * t[-1]):
        return None
    transient = t <= max(RELAX_WINDOW * tau, t[3])
    r2 = r_squared(x[transient], _relaxation(t[transient], *fit.params))
    return Relaxation(tau, float(fit.params[0]), r2)


@dataclass(frozen=True)
class TimeConstant:
    """Median tau over the neurons whose trajectory was resolved, with spread and fit quality."""

    tau: float
    p16: float
    p84: float
    r2: float
    used: int


def fit_time_constant(t: np.ndarray, traces: np.ndarray, what: str) -> TimeConstant:
    """:func:`fit_relaxation` on every column of ``traces`` (T, N); FitError if none resolves."""
    fits = [f for f in (fit_relaxation(t, traces[:, i]) for i in range(traces.shape[1])) if f]
    if not fits:
        raise FitError(f"no {what} trajectory relaxed visibly: cannot fit its time constant")
    taus = np.array([f.tau for f in fits])
    p16, median, p84 = np.percentile(taus, [16, 50, 84])
    return TimeConstant(float(median), float(p16), float(p84),
                        float(np.median([f.r2 for f in fits])), len(fits))
