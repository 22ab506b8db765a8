"""Shape helpers shared by the per-unit layers: unit axis 1, every other axis a sample axis."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

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


_IN_PLACE: dict[Callable, Callable[[torch.Tensor], torch.Tensor]] = {
    torch.sigmoid: torch.sigmoid_, torch.tanh: torch.tanh_, torch.relu: torch.relu_,
}


def gain_bias_transfer(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor,
                       fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """f(gain x + bias) per unit (axis 1), the gain and bias held (no gradient to them): one
    addcmul and f in place, so autograd keeps two nodes whose backward needs only the gain and
    the output (y (1 - y) for sigmoid, 1 - y^2 for tanh), nothing recomputed."""
    u = torch.addcmul(bias, gain, x) if x.dim() == 2 else torch.addcmul(per_unit(bias, x), per_unit(gain, x), x)
    return _IN_PLACE[fn](u) if fn in _IN_PLACE else fn(u)


def rebind_buffers(module: nn.Module, **tensors: torch.Tensor) -> None:
    """Point ``module``'s buffers at new tensors (its gain and bias after a local update: new
    tensors, since an earlier forward, e.g. a previous time step, may have saved the old ones for
    its backward), skipping nn.Module.__setattr__'s checks, which cost more than the update's
    own ops at small sizes."""
    module._buffers.update(tensors)


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
