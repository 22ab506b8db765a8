"""Least squares with confidence intervals: the one fitting primitive of every fit.

``scipy.optimize.curve_fit``; 95% confidence intervals from the parameter covariance
(Student t), R^2 = 1 - SS_res / SS_tot stated with each (docs/fitting.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bridge.core.errors import UserError

CI_LEVEL = 0.95
FULL_MAXFEV = 20000  # calls per fit (the transfer fit screens candidates with fewer)


class FitError(UserError):
    """A run that cannot be fitted (too few conditions, no convergence, a degenerate sweep)."""



def r_squared(y: np.ndarray, y_hat: np.ndarray) -> float:
    """R^2 = 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 (1 when both sums vanish)."""
    ss_res = float(np.sum((y - y_hat) ** 2))
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


@dataclass(frozen=True)
class LeastSquares:
    """Parameters, 95% CI half-widths and R^2 of one ``curve_fit``."""

    params: np.ndarray
    half_width: np.ndarray
    r2: float


def least_squares(
    model: Callable, x: np.ndarray, y: np.ndarray, p0, what: str, maxfev: int = FULL_MAXFEV
) -> LeastSquares:
    """``curve_fit(model, x, y, p0)`` with t-based CI half-widths; FitError if it cannot fit."""
    dof = len(y) - len(p0)
    if dof <= 0:
        raise FitError(f"{what}: {len(y)} points cannot fit {len(p0)} parameters")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        try:
            params, cov = optimize.curve_fit(model, x, y, p0=p0, maxfev=maxfev)
        except (RuntimeError, ValueError) as err:
            raise FitError(f"{what}: least squares failed ({str(err).splitlines()[0]})") from None
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, dof) * np.sqrt(np.abs(np.diag(cov)))
    return LeastSquares(params, half, r_squared(y, model(x, *params)))


def interval(value: float, half: float) -> tuple[float, float]:
    return (float(value - half), float(value + half))
