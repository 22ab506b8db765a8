"""The equilibrium map of a homeostasis sweep: gain = c sigma^(-p), bias = d - s gain mu.

Fitted as log gain and bias over the sweep's final (gain, bias); the BatchNorm map (p = s = 1)
gives (gamma, beta) and the BN-correspondence score (docs/fitting.md).
"""

from __future__ import annotations

import numpy as np

from bridge.fitting.least_squares import FitError, interval, least_squares, r_squared
from bridge.fitting.rules import Equilibrium

BN_EQUIVALENT, BN_PARTIAL = 0.95, 0.5



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
        p_ci=interval(p, h_p), c_ci=tuple(float(v) for v in np.exp(interval(log_c, h_log_c))),
        s_ci=interval(s, h_s), d_ci=interval(d, h_d),
        r2_gain=g.r2, r2_bias=b.r2, r2=min(g.r2, b.r2),
        bn_gamma=gamma, bn_beta=beta, bn_score=score, verdict=bn_verdict(score),
    )
