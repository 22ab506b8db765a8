"""Triesch's intrinsic plasticity for a sigmoid neuron (exponential output target).

    y = 1 / (1 + exp(-(a x + b)))
    db = eta * (1 - (2 + 1/mu) y + y^2/mu)
    da = eta / a + x * db

The rule follows the gradient of the Kullback-Leibler divergence between the neuron's output
distribution and an exponential distribution of mean ``mu``. At equilibrium on Gaussian input
N(m, sigma^2) it depends on a*sigma and a*m + b only, so a = c/sigma and b = d - a*m: a
BatchNorm with fixed (gamma, beta).

Source: J. Triesch, "A gradient rule for the plasticity of a neuron's intrinsic excitability",
ICANN 2005, LNCS 3696, 65-70 (target mean mu = 0.1, eta = 0.001 per sample).
"""

from __future__ import annotations

import torch

from models.rate_ip import RateIPRule


def triesch_bias_drive(y: torch.Tensor, mu_target: float) -> torch.Tensor:
    """B(y) with db = eta*B (and da = eta*(1/a + x B)): 1 - (2 + 1/mu) y, then + y^2/mu in place
    (two ops; the 1 a 0-dim tensor, which torch takes as a scalar on any device, so that no
    Python number is wrapped into a tensor on each call)."""
    return torch.add(_ONE, y, alpha=-(2 + 1 / mu_target)).addcmul_(y, y, value=1 / mu_target)


_ONE = torch.ones(())


RULE = RateIPRule(
    name="triesch",
    transfer="sigmoid",
    bias_drive="1 - (2 + 1/mu_target) * y + y**2 / mu_target",
    torch_bias_drive=triesch_bias_drive,
    targets={"mu_target": 0.1},
    eta=1e-3,
    source="Triesch 2005, ICANN, LNCS 3696:65-70",
)
