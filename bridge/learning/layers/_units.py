"""Shape helpers shared by the per-unit layers: unit axis 1, every other axis a sample axis."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from bridge.core.errors import UserError

TRANSFERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "rectifier": torch.relu,
    "relu": torch.relu,
    "lif": torch.relu,  # a LIF neuron's f-I curve is rectified: zero below rheobase
    "identity": lambda u: u,
}


def as_units(x: torch.Tensor) -> torch.Tensor:
    """(batch, n, *spatial) viewed as (samples, n): every position of every example is a sample."""
    if x.dim() == 2:
        return x
    return x.movedim(1, -1).reshape(-1, x.shape[1])


def per_unit(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-unit vector shaped to broadcast against ``like`` (batch, n, *spatial)."""
    return values.view((1, -1) + (1,) * (like.dim() - 2))


def transfer(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return TRANSFERS[name]
    except KeyError:
        raise UserError(f"unknown transfer {name!r}; choose one of {', '.join(TRANSFERS)}") from None


def from_units(units: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of :func:`as_units`: (samples, n) back to ``shape`` (batch, n, *spatial)."""
    if len(shape) == 2:
        return units
    return units.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1)
