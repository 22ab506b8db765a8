"""Fit simulation runs to the gain/bias form and build :class:`bridge.rules.Rule` s.

Four fits, each by least squares with ``scipy.optimize.curve_fit``; 95% confidence intervals
from the parameter covariance (Student t), R^2 = 1 - SS_res / SS_tot stated with each
(the forms and their sources are in docs/fitting.md):

1. transfer: y = A f(a x + b) per neuron on its f-I curve (plasticity frozen), f in
   :data:`TRANSFERS`; the effective gain is dy/dx at the neuron's operating point;
2. equilibrium map: log gain = log c - p log sigma, bias = d - s * gain * mu, over a
   homeostasis sweep's final (gain, bias); the BatchNorm map (p = s = 1) gives (gamma, beta)
   and the BN-correspondence score;
3. dynamics: x(t) = x_inf + (x_0 - x_inf) exp(-t / tau) per neuron for gain and bias;
4. synaptic scaling: the population rate's damped response to a perturbation (rate 1/tau,
   target r_inf), and the spread of the weights' scale factors.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

from bridge.errors import UserError
from bridge.rules import TRANSFERS as RULE_TRANSFERS
from bridge.rules import Dynamics, Equilibrium, Rule, Scaling, TransferFit
from bridge.store import Run, Store, open_run

CI_LEVEL = 0.95
BN_EQUIVALENT, BN_PARTIAL = 0.95, 0.5
MIN_MOVE = 5.0  # a trajectory is fitted only when it moved this many noise s.d. (tail)
SCREEN_MAXFEV = 2000  # candidates are screened with this many calls per f-I curve ...
FULL_MAXFEV = 20000  # ... and the chosen one refitted with this many where screening failed
RELAX_WINDOW = 5.0  # a relaxation's R^2 is taken over its first RELAX_WINDOW * tau


class FitError(UserError):
    """A run that cannot be fitted (too few conditions, no convergence, a degenerate sweep)."""


# ---- least squares -------------------------------------------------------------------------

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


def _interval(value: float, half: float) -> tuple[float, float]:
    return (float(value - half), float(value + half))


# ---- 2. equilibrium map --------------------------------------------------------------------

def _log_power_law(log_sigma, log_c, p):
    return log_c - p * log_sigma


def _bias_map(gain_mu, d, s):
    return d - s * gain_mu


def _check_sweep(mu: np.ndarray, sigma: np.ndarray, gain: np.ndarray) -> None:
    bad = np.flatnonzero((sigma <= 0) | (gain <= 0) | ~np.isfinite(gain))
    if bad.size:
        i = bad[0]
        raise FitError(
            f"the equilibrium map needs sigma > 0 and a finite final gain > 0; {bad.size} condition(s) "
            f"fail, e.g. mu={mu[i]:.3g}, sigma={sigma[i]:.3g}: gain={gain[i]:.3g}"
        )
    if len(np.unique(sigma)) < 2:
        raise FitError("the sweep has fewer than 2 distinct sigma: p is not identifiable")
    if np.ptp(gain * mu) == 0:
        raise FitError("gain * mu does not vary across the sweep: s is not identifiable")


def bn_map(
    mu: np.ndarray, sigma: np.ndarray, gain: np.ndarray, bias: np.ndarray
) -> tuple[float, float, float, float]:
    """The best BatchNorm map (p = s = 1): gamma, beta, and its R^2 on log gain and on bias.

    gain = gamma / sigma and bias = beta - gain * mu; least squares in log gain and in bias
    give gamma = exp(mean log(gain sigma)) and beta = mean(bias + gain mu).
    """
    log_gamma = float(np.mean(np.log(gain * sigma)))
    beta = float(np.mean(bias + gain * mu))
    r2_gain = r_squared(np.log(gain), log_gamma - np.log(sigma))
    r2_bias = r_squared(bias, _bias_map(gain * mu, beta, 1.0))
    return float(np.exp(log_gamma)), beta, r2_gain, r2_bias


def bn_verdict(score: float) -> str:
    """Words for the BN-correspondence score (thresholds in docs/fitting.md)."""
    if score >= BN_EQUIVALENT:
        return "acts as BatchNorm"
    if score >= BN_PARTIAL:
        return "partly BatchNorm-like"
    return "not BatchNorm-like"


def fit_equilibrium(
    mu: np.ndarray, sigma: np.ndarray, gain: np.ndarray, bias: np.ndarray
) -> Equilibrium:
    """gain = c sigma^(-p) (fitted as log gain) and bias = d - s gain mu over the sweep's conditions.

    The BN-correspondence score is the mean of the BatchNorm map's two R^2 (log gain, bias),
    clipped to [0, 1]: 1 when a BatchNorm with fixed (gamma, beta) explains the final gains
    and biases as well as they can be explained (docs/fitting.md).
    """
    mu, sigma, gain, bias = (np.asarray(v, dtype=float) for v in (mu, sigma, gain, bias))
    _check_sweep(mu, sigma, gain)
    log_sigma, log_gain = np.log(sigma), np.log(gain)
    g = least_squares(_log_power_law, log_sigma, log_gain, (float(log_gain.mean()), 1.0), "gain law")
    b = least_squares(_bias_map, gain * mu, bias, (float(bias.mean()), 1.0), "bias map")
    (log_c, p), (h_log_c, h_p) = g.params, g.half_width
    (d, s), (h_d, h_s) = b.params, b.half_width
    gamma, beta, r2_bn_gain, r2_bn_bias = bn_map(mu, sigma, gain, bias)
    score = float(np.clip((r2_bn_gain + r2_bn_bias) / 2, 0.0, 1.0))
    return Equilibrium(
        p=float(p), c=float(np.exp(log_c)), s=float(s), d=float(d),
        p_ci=_interval(p, h_p), c_ci=tuple(float(v) for v in np.exp(_interval(log_c, h_log_c))),
        s_ci=_interval(s, h_s), d_ci=_interval(d, h_d),
        r2_gain=g.r2, r2_bias=b.r2, r2=min(g.r2, b.r2),
        bn_gamma=gamma, bn_beta=beta, bn_score=score, verdict=bn_verdict(score),
    )


# ---- 3. dynamics ---------------------------------------------------------------------------

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


# ---- 1. transfer ---------------------------------------------------------------------------

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


# ---- 4. synaptic scaling -------------------------------------------------------------------

def weight_ratio_cv(initial: np.ndarray, final: np.ndarray) -> float:
    """Mean over neurons (rows) of the coefficient of variation of w_final / w_initial.

    0 for purely multiplicative scaling (every synapse of a neuron scaled by one factor).
    """
    initial, final = np.atleast_2d(initial), np.atleast_2d(final)
    with np.errstate(all="ignore"):
        ratio = np.where(initial != 0, final / initial, np.nan)
    return float(np.nanmean(np.nanstd(ratio, axis=1) / np.abs(np.nanmean(ratio, axis=1))))


def _damped(t, r_inf, amp_cos, amp_sin, log_tau, omega):
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
    rate_ci = tuple(sorted(float(np.exp(-v)) for v in _interval(log_tau, h_log_tau)))
    scaling = Scaling(
        rate=1.0 / tau, rate_ci=rate_ci, target=float(target), target_ci=_interval(target, h_target),
        omega=abs(float(omega)), r2=fit.r2, weight_ratio_cv=weight_ratio_cv(initial, final),
        configured_target=float(configured_target),
    )
    return scaling, tau


# ---- runs ----------------------------------------------------------------------------------

def resolve_run(run: str | Path, store: Store) -> Path:
    """A run file given as a path or as a run id (or unique prefix of one) in ``store``."""
    path = Path(run)
    if path.exists() or path.suffix == ".h5":
        return path
    matches = [info.path for info in store.list_runs() if info.run_id.startswith(str(run))]
    if len(matches) != 1:
        what = "no" if not matches else f"{len(matches)}"
        raise FitError(f"{what} run file or run id matching {str(run)!r} in {store.root}")
    return matches[0]


@dataclass(frozen=True)
class ModelInfo:
    model: str
    transfer: str
    equations: str
    params: dict
    targets: dict


def _attr(run: Run, key: str, default=None):
    """``key`` from the run's ``model`` group, its root attributes or its config, in that order."""
    for source in (run.h5["model"].attrs if "model" in run.h5 else {}, run.h5.attrs, run.config):
        if key in source:
            value = source[key]
            return value.decode() if isinstance(value, bytes) else value
    return default


def _json_attr(run: Run, key: str) -> dict:
    value = _attr(run, key, {})
    try:
        return json.loads(value) if isinstance(value, str) else dict(value)
    except (json.JSONDecodeError, TypeError, ValueError):
        raise FitError(f"{run.path}: model attribute {key!r} is not a JSON object") from None


SIM_MODELS = {"scaling": "synaptic-scaling"}  # the model of a sim that has only one


def model_info(run: Run) -> ModelInfo:
    """The model behind a run: registry name, transfer, equations, parameters and targets."""
    model = _attr(run, "model", SIM_MODELS.get(run.name))
    if not model:
        raise FitError(f"{run.path}: the run does not name its model")
    transfer = str(_attr(run, "transfer", "lif"))
    if transfer not in RULE_TRANSFERS:
        raise FitError(f"{run.path}: transfer {transfer!r} is not one of {', '.join(RULE_TRANSFERS)}")
    return ModelInfo(str(model), transfer, str(_attr(run, "equations", "")),
                     _json_attr(run, "params"), _json_attr(run, "targets"))


def _required_float(run: Run, key: str) -> float:
    value = _attr(run, key)
    if value is None:
        raise FitError(f"{run.path}: the run records no {key!r}")
    return float(value)


def sample_dt(run: Run) -> float:
    """Biological seconds per training sample: the run's ``sample_dt``, else its step ``dt``.

    The rate models take one rule step per ``dt`` in Brian2 and one per sample in torch
    (eta_sample = eta_Brian2 * dt, models/rate_ip.py), so one sample is one step (docs/fitting.md).
    """
    value = _attr(run, "sample_dt", _attr(run, "dt"))
    if value is None:
        raise FitError(f"{run.path}: the run records neither sample_dt nor dt (seconds per sample)")
    return float(value)


def _column(run: Run, key: str) -> np.ndarray:
    return np.asarray(run.array(key), dtype=float)


def usable_conditions(run: Run) -> np.ndarray:
    """Conditions whose neuron settled: final gain finite and > 0, and (when stored) not silent.

    A silent spiking neuron has no rate to regulate, so its gain runs away; a sign-symmetric
    rule (tanh with a zero-mean target) may settle at -gain, which the map's log cannot take.
    """
    gain = _column(run, "final/gain")
    keep = np.isfinite(gain) & (gain > 0)
    if "final/output_mean" in run.h5 and "final/output_var" in run.h5:
        silent = (_column(run, "final/output_mean") == 0) & (_column(run, "final/output_var") == 0)
        keep &= ~silent
    if keep.sum() < len(keep) / 2:
        raise FitError(f"{run.path}: only {keep.sum()} of {len(keep)} conditions settled with gain > 0 "
                       "and a non-silent neuron: the sweep is mostly degenerate")
    return keep


def sweep_bias(run: Run) -> np.ndarray:
    """The bias b of y = f(a x + b): ``final/bias``, or minus ``final/threshold`` for a spiking neuron.

    A LIF neuron's drive relative to threshold is gain * I - theta, so its bias is -theta.
    """
    if "final/threshold" in run.h5:
        return -_column(run, "final/threshold")
    return _column(run, "final/bias")


def fit_sweep(run: Run, name: str | None = None) -> Rule:
    """An intrinsic rule from a homeostasis-sweep run: transfer, equilibrium map and dynamics.

    Fitted on the :func:`usable_conditions` only; the number left out is in ``fit_quality``.
    """
    info = model_info(run)
    keep = usable_conditions(run)
    mu, sigma = _column(run, "conditions/mu")[keep], _column(run, "conditions/sigma")[keep]
    t = _column(run, "traces/t")
    tau_gain = fit_time_constant(t, _column(run, "traces/gain")[:, keep], "gain")
    tau_bias = fit_time_constant(t, _column(run, "traces/bias")[:, keep], "bias")
    response = _column(run, "fi/response")[keep]
    transfer = fit_transfer(_column(run, "fi/input"), response, mu, info.transfer)
    equilibrium = fit_equilibrium(mu, sigma, _column(run, "final/gain")[keep], sweep_bias(run)[keep])
    quality = {
        "n_conditions": int(keep.sum()), "n_excluded": int((~keep).sum()),
        "r2_gain": equilibrium.r2_gain, "r2_bias": equilibrium.r2_bias,
        "tau_gain_p16_p84": [tau_gain.p16, tau_gain.p84],
        "tau_bias_p16_p84": [tau_bias.p16, tau_bias.p84],
        "r2_tau_gain": tau_gain.r2, "r2_tau_bias": tau_bias.r2,
        "n_tau_gain": tau_gain.used, "n_tau_bias": tau_bias.used,
        "transfer_best": transfer.function,
        "transfer_r2_median": transfer.candidates[transfer.function],
    }
    return Rule(
        name=name or info.model, kind="intrinsic", model=info.model, transfer=info.transfer,
        targets=info.targets, dynamics=Dynamics(tau_gain.tau, tau_bias.tau, sample_dt(run)),
        fit_quality=quality, source_runs=[run.run_id], model_params=info.params,
        equations=info.equations, equilibrium=equilibrium, transfer_fit=transfer,
    )


def fit_scaling_run(run: Run, name: str | None = None) -> Rule:
    """A scaling rule from a ``scaling`` run: rate and target of the relaxation, weight factors."""
    info = model_info(run)
    scaling, tau = fit_scaling(
        _column(run, "traces/t"), _column(run, "traces/rate"), _column(run, "initial/weights"),
        _column(run, "final/weights"), _required_float(run, "target_rate"),
        float(_attr(run, "settle", 0.0)),
    )
    quality = {"r2_rate": scaling.r2, "weight_ratio_cv": scaling.weight_ratio_cv}
    return Rule(
        name=name or info.model, kind="scaling", model=info.model,
        transfer=info.transfer, targets=info.targets,
        dynamics=Dynamics(tau, tau, sample_dt(run)), fit_quality=quality,
        source_runs=[run.run_id], model_params=info.params, equations=info.equations,
        scaling=scaling,
    )


def fit_run(run: str | Path, store: Store, name: str | None = None) -> Rule:
    """The rule fitted to a run (path or run id): intrinsic from a sweep, scaling from a scaling run."""
    with open_run(resolve_run(run, store), "sims") as opened:
        if "conditions/sigma" in opened.h5:
            return fit_sweep(opened, name)
        if "final/weights" in opened.h5:
            return fit_scaling_run(opened, name)
        raise FitError(f"{opened.path}: neither a homeostasis sweep (conditions/sigma) "
                       "nor a scaling run (final/weights)")
