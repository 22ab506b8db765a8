"""Information-theoretic measures of a layer's activity (Principe's information-theoretic learning).

Information potential of N samples y_1..y_N with a Gaussian (Parzen) kernel of width s:

    V(y) = 1/N^2 * sum_i sum_j G(y_i - y_j, 2 s^2),   G(d, v) = exp(-d^2 / (2 v)) / sqrt(2 pi v)

and Renyi's quadratic entropy H2(y) = -log V(y) (the pairwise kernel of variance 2 s^2 is the
convolution of two Parzen kernels of variance s^2, so V is the exact integral of the squared
Parzen density estimate).

Source: J. C. Principe, "Information Theoretic Learning: Renyi's Entropy and Kernel
Perspectives", Springer 2010, ch. 2 (eq. 2.14); D. Xu & J. C. Principe 1999.

Every function treats ``y`` as (samples,) or (samples, units): each unit is one 1-D variable,
and the result has one value per unit (a scalar for 1-D input).
"""

from __future__ import annotations

import math

import torch

_PAIR_BUDGET = 1 << 20  # elements of the (units, N, N) difference block held at once (4 MB in float32: cached)


def information_potential(y: torch.Tensor, kernel_sigma: float) -> torch.Tensor:
    """V(y) per unit: the mean over all sample pairs of G(y_i - y_j, 2 s^2) (Principe 2010, eq. 2.14).

    Every pair, exactly: the kernel in float32 (in place, block by block), summed in float64.
    """
    if kernel_sigma <= 0:
        raise ValueError(f"kernel_sigma must be positive, got {kernel_sigma}")
    columns = y.reshape(y.shape[0], -1).T.float()  # (units, N)
    variance = 2.0 * kernel_sigma**2
    chunk = max(1, _PAIR_BUDGET // max(1, columns.shape[1] ** 2))
    parts = []
    for start in range(0, columns.shape[0], chunk):
        block = columns[start:start + chunk]
        kernel = (block[:, :, None] - block[:, None, :]).square_().mul_(-1 / (2 * variance)).exp_()
        parts.append(kernel.mean(dim=(1, 2), dtype=torch.float64))
    potential = torch.cat(parts) / math.sqrt(2 * math.pi * variance)
    return potential.reshape(y.shape[1:]).to(y.dtype if y.dtype.is_floating_point else torch.float64)


def renyi_entropy(y: torch.Tensor, kernel_sigma: float) -> torch.Tensor:
    """Renyi's quadratic entropy H2 = -log V(y) per unit (Principe 2010, eq. 2.15)."""
    return -torch.log(information_potential(y, kernel_sigma))


def histogram_entropy(y: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """Shannon entropy (nats) of each unit's histogram over its own range: a plug-in check on H2."""
    columns = y.reshape(y.shape[0], -1).T
    low = columns.min(dim=1, keepdim=True).values
    width = (columns.max(dim=1, keepdim=True).values - low).clamp_min(1e-12)
    index = ((columns - low) / width * bins).long().clamp(0, bins - 1)
    counts = torch.zeros(columns.shape[0], bins, dtype=columns.dtype, device=columns.device)
    counts.scatter_add_(1, index, torch.ones_like(columns))
    prob = counts / columns.shape[1]
    entropy = -(prob * torch.log(prob.clamp_min(1e-30))).sum(dim=1)
    return entropy.reshape(y.shape[1:])
