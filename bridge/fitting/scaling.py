"""Synaptic scaling: the population rate's damped response to a perturbation (rate 1/tau,
target r_inf) and the spread of the weights' scale factors (docs/fitting.md).
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from bridge.fitting.dynamics import final_level
from bridge.fitting.least_squares import FitError, LeastSquares, interval, least_squares
from bridge.fitting.rules import Scaling


def weight_ratio_cv(initial: np.ndarray, final: np.ndarray) -> float:
    """Mean over neurons (rows) of the coefficient of variation of w_final / w_initial.

    0 for purely multiplicative scaling (every synapse of a neuron scaled by one factor).
    """
    initial, final = np.atleast_2d(initial), np.atleast_2d(final)
    with np.errstate(all="ignore"):
        ratio = np.where(initial != 0, final / initial, np.nan)
    return float(np.nanmean(np.nanstd(ratio, axis=1) / np.abs(np.nanmean(ratio, axis=1))))


def _damped(t, r_inf, amp_cos, amp_sin, log_tau, omega):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # trial steps of the fit; FitError if none fits
        envelope = np.exp(-t / np.exp(log_tau))
    return r_inf + envelope * (amp_cos * np.cos(omega * t) + amp_sin * np.sin(omega * t))


def fit_scaling_rate(t: np.ndarray, rate: np.ndarray, start: float = 0.0) -> LeastSquares:
    """Damped response of the population mean rate (T, N) after the perturbation at ``start``:

        r(t) = r_inf + exp(-t/tau) (A cos(omega t) + B sin(omega t)),    t from ``start``

    (params r_inf, A, B, log tau, omega). Scaling with a proportional and an integral term
    (van Rossum et al. 2000) is a PI controller of the rate, whose response is this damped
    oscillation (omega -> 0: a plain relaxation). Started from a small grid of (tau, omega),
    the best fit by R^2 is kept.
    """
    t, rate = np.asarray(t, dtype=float), np.asarray(rate, dtype=float)
    after = t >= start
    t_fit, mean = t[after] - start, rate[after].mean(axis=1)
    level = final_level(mean).mean()
    fits = []
    for tau0, omega0 in itertools.product(t_fit[-1] * np.array([0.02, 0.1, 0.4]), (0.0, 0.5, 1.5, 4.0)):
        p0 = (level, mean[0] - level, 0.0, np.log(tau0), omega0)
        with contextlib.suppress(FitError):
            fits.append(least_squares(_damped, t_fit, mean, p0, "scaling response"))
    if not fits:
        raise FitError("the rate's response to the perturbation could not be fitted")
    return max(fits, key=lambda fit: fit.r2)


def fit_scaling(
    t, rate, initial, final, configured_target: float, start: float = 0.0
) -> tuple[Scaling, float]:
    """The scaling rate (1/tau, 1/s) and target (r_inf, Hz) with 95% CIs; also returns tau (s)."""
    fit = fit_scaling_rate(t, rate, start)
    (target, _, _, log_tau, omega), (h_target, _, _, h_log_tau, _) = fit.params, fit.half_width
    tau = float(np.exp(log_tau))
    rate_ci = tuple(sorted(float(np.exp(-v)) for v in interval(log_tau, h_log_tau)))
    scaling = Scaling(
        rate=1.0 / tau, rate_ci=rate_ci, target=float(target), target_ci=interval(target, h_target),
        omega=abs(float(omega)), r2=fit.r2, weight_ratio_cv=weight_ratio_cv(initial, final),
        configured_target=float(configured_target),
    )
    return scaling, tau
