"""Transfer fits: y = A f(a x + b) per neuron on its f-I curve (plasticity frozen); the
effective gain is dy/dx at the neuron's operating point (docs/fitting.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from bridge.fitting.least_squares import FULL_MAXFEV, FitError, least_squares
from bridge.fitting.rules import TransferFit

SCREEN_MAXFEV = 2000  # candidates are screened with this many calls per f-I curve ...



@dataclass(frozen=True)
class Transfer:
    """f and its inverse on the open range where it is invertible (for starting values)."""

    f: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    low: float
    high: float


def lif_rate(u: np.ndarray) -> np.ndarray:
    """LIF f-I curve in threshold units: 1 / ln(u / (u - 1)) for u > 1, else 0.

    A neuron tau_m dv/dt = -v + I, reset to 0 at threshold theta, no refractory period, fires
    at rate (1/tau_m) f(I/theta) (e.g. Gerstner et al., Neuronal Dynamics, 2014, sec. 1.3).
    """
    u = np.asarray(u, dtype=float)
    out = np.zeros_like(u)
    above = u > 1
    out[above] = 1.0 / np.log(u[above] / (u[above] - 1.0))
    return out


TRANSFERS: dict[str, Transfer] = {
    "lif": Transfer(lif_rate, lambda z: 1.0 / -np.expm1(-1.0 / z), 0.0, np.inf),
    "sigmoid": Transfer(special.expit, special.logit, 0.0, 1.0),
    "tanh": Transfer(np.tanh, np.arctanh, -1.0, 1.0),
    "softplus": Transfer(lambda u: np.logaddexp(0.0, u), lambda z: np.log(np.expm1(z)), 0.0, np.inf),
    "rectifier": Transfer(lambda u: np.clip(u, 0.0, 1.0), lambda z: z, 0.0, 1.0),
}
RATE_TRANSFERS = ("sigmoid", "tanh")


def _starting_values(fn: Transfer, x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """(a, b) from a line through f^-1(z) where z is inside f's range; (1, 0) otherwise."""
    ok = (z > fn.low) & (z < fn.high)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return 1.0, 0.0
    with np.errstate(all="ignore"):
        u = fn.inverse(z[ok])
    finite = np.isfinite(u)
    if finite.sum() < 2:
        return 1.0, 0.0
    a, b = np.polyfit(x[ok][finite], u[finite], 1)
    return float(a), float(b)


@dataclass(frozen=True)
class CurveFit:
    a: float
    b: float
    amplitude: float
    r2: float
    slope: float


def fit_curve(
    name: str, x: np.ndarray, y: np.ndarray, operating_point: float, amplitude_free: bool,
    maxfev: int = SCREEN_MAXFEV,
) -> CurveFit:
    """y = A f(a x + b) (A = 1 unless ``amplitude_free``) and dy/dx at ``operating_point``."""
    fn = TRANSFERS[name]
    amp0 = float(np.max(np.abs(y))) * 1.05 if amplitude_free else 1.0
    a0, b0 = _starting_values(fn, x, y / amp0 if amp0 > 0 else y)
    if amplitude_free:
        def model(xs, a, b, amp):
            return amp * fn.f(a * xs + b)
        p0 = (a0, b0, amp0 or 1.0)
    else:
        def model(xs, a, b):
            return fn.f(a * xs + b)
        p0 = (a0, b0)
    try:
        fit = least_squares(model, x, y, p0, f"{name} transfer", maxfev=maxfev)
    except FitError:
        return CurveFit(np.nan, np.nan, np.nan, np.nan, np.nan)
    h = 1e-4 * max(1.0, float(np.ptp(x)))
    ends = model(np.array([operating_point - h, operating_point + h]), *fit.params)
    slope = (ends[1] - ends[0]) / (2 * h)
    amplitude = float(fit.params[2]) if amplitude_free else 1.0
    return CurveFit(float(fit.params[0]), float(fit.params[1]), amplitude, fit.r2, float(slope))


def _median_r2(fits: list[CurveFit]) -> float | None:
    """Median R^2 over the neurons a candidate could fit; None when it fitted none."""
    r2 = [f.r2 for f in fits if np.isfinite(f.r2)]
    return float(np.median(r2)) if r2 else None


def fit_transfer(
    x: np.ndarray, response: np.ndarray, operating_points: np.ndarray, own: str
) -> TransferFit:
    """Every candidate f on every neuron's f-I curve ``response`` (N, M); keeps the best by median R^2.

    The amplitude A is free unless the model's own transfer ``own`` is a rate transfer
    (sigmoid, tanh), whose output is y itself; spiking rates (Hz) need it.
    """
    amplitude_free = own not in RATE_TRANSFERS
    x = np.asarray(x, dtype=float)
    fits = {
        name: [fit_curve(name, x, row, mu, amplitude_free)
               for row, mu in zip(response, operating_points)]
        for name in TRANSFERS
    }
    medians = {name: _median_r2(rows) for name, rows in fits.items()}
    best = max(medians, key=lambda name: -np.inf if medians[name] is None else medians[name])
    rows = [
        f if np.isfinite(f.r2) else fit_curve(best, x, row, mu, amplitude_free, FULL_MAXFEV)
        for f, row, mu in zip(fits[best], response, operating_points)
    ]
    return TransferFit(
        function=best, amplitude_free=amplitude_free, a=[f.a for f in rows], b=[f.b for f in rows],
        amplitude=[f.amplitude for f in rows], r2=[f.r2 for f in rows], slope=[f.slope for f in rows],
        candidates=medians,
    )
