"""Infomax intrinsic plasticity for a tanh neuron.

    y = tanh(a x + b)
    da = eta * (1/a - 2 x y)
    db = eta * (-2 y)

Stochastic gradient ascent on the output entropy (Bell & Sejnowski 1995) for one unit with
gain and bias; at equilibrium on Gaussian input E[y] = 0 and a*sigma is constant.

Sources: A. J. Bell & T. J. Sejnowski, "An information-maximization approach to blind
separation and blind deconvolution", Neural Computation 7(6), 1995; the form with a tanh unit
as in N. Shaw, T. Jackson & J. Orchard, "Biological batch normalisation: how intrinsic
plasticity improves learning in deep neural networks", PLoS ONE 15(9), 2020.
"""

from __future__ import annotations

import torch

from models.rate_ip import RateIPRule


def infomax_bias_drive(y: torch.Tensor) -> torch.Tensor:
    """B(y) = -2 y with db = eta*B (and da = eta*(1/a + x B) = eta*(1/a - 2 x y))."""
    return y * -2.0


RULE = RateIPRule(
    name="infomax",
    transfer="tanh",
    bias_drive="-2 * y",
    torch_bias_drive=infomax_bias_drive,
    targets={},
    eta=1e-3,
    source="Bell & Sejnowski 1995; Shaw, Jackson & Orchard 2020",
)
