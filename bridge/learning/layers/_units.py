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


_BACKWARD_FROM_OUTPUT: dict[Callable, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    torch.sigmoid: torch.ops.aten.sigmoid_backward,  # grad * y (1 - y)
    torch.tanh: torch.ops.aten.tanh_backward,  # grad * (1 - y^2)
}


class _GainBiasTransfer(torch.autograd.Function):
    """y = f(a x + b), a and b per-unit constants: forward in one addcmul and f in place; the
    backward from the saved output alone, dL/dx = a f'(u) dL/dy with f'(u) from y."""

    @staticmethod
    def forward(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor, fn: Callable) -> torch.Tensor:
        y = torch.addcmul(per_unit(bias, x), per_unit(gain, x), x)
        return fn(y, out=y)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output, inputs[1])
        ctx.fn = inputs[3]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, gain = ctx.saved_tensors
        return _BACKWARD_FROM_OUTPUT[ctx.fn](grad, y).mul_(per_unit(gain, y)), None, None, None


def gain_bias_transfer(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor,
                       fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """f(gain x + bias) per unit (axis 1), the gain and bias held (no gradient to them); fused
    for sigmoid and tanh (:class:`_GainBiasTransfer`), plain autograd for other f."""
    if fn in _BACKWARD_FROM_OUTPUT:
        return _GainBiasTransfer.apply(x, gain, bias, fn)
    return fn(per_unit(gain, x) * x + per_unit(bias, x))


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
