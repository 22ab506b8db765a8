"""Intrinsic plasticity for a tanh neuron toward a Gaussian output distribution N(mu, s^2).

    y = tanh(a x + b)
    db = -eta * (-mu/s^2 + (y/s^2) (2 s^2 + 1 - y^2 + mu y))
    da = eta / a + x * db

Gradient descent on the Kullback-Leibler divergence between the output distribution and the
Gaussian target.

Source: B. Schrauwen, M. Wardermann, D. Verstraeten, J. J. Steil & D. Stroobandt, "Improving
reservoirs using intrinsic plasticity", Neurocomputing 71(7-9), 1159-1171, 2008
(mu = 0, s = 0.2, eta = 0.001).
"""

from __future__ import annotations

import torch

from models.rate_ip import RateIPRule


def gaussian_bias_drive(y: torch.Tensor, mu_target: float, sigma_target: float) -> torch.Tensor:
    """B(y) with db = eta*B (and da = eta*(1/a + x B))."""
    var = sigma_target**2
    return mu_target / var - (y / var) * (2 * var + 1 - y * y + mu_target * y)


_BIAS = (
    "mu_target / sigma_target**2"
    " - (y / sigma_target**2) * (2 * sigma_target**2 + 1 - y**2 + mu_target * y)"
)
RULE = RateIPRule(
    name="gaussian",
    transfer="tanh",
    bias_drive=_BIAS,
    torch_bias_drive=gaussian_bias_drive,
    targets={"mu_target": 0.0, "sigma_target": 0.2},
    eta=1e-3,
    source="Schrauwen et al. 2008, Neurocomputing 71:1159-1171",
)
