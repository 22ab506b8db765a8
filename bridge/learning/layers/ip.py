"""Intrinsic plasticity as a torch layer: y = f(a x + b), gain a and bias b set by a local rule.

    y = f(a x + b)                          (plain IP)
    y = f(gamma (a x + b) + beta)           (IP with a learned affine, ``affine=True``)

The form with a learned affine is the one of N. Shaw, T. Jackson & J. Orchard, "Biological
batch normalisation: how intrinsic plasticity improves learning in deep neural networks",
PLoS ONE 15(9), 2020. ``a`` and ``b`` are per-unit buffers. In training mode each forward
computes y with the current (a, b) held (the gradient flows through the activation only),
then applies one step of the rule to the same x and y = f(a x + b), with its drives averaged
over the batch (and over the positions of a feature map: one unit per channel), under
``torch.no_grad()``:

    a <- max(a + eta <A(x, y, a)>, min_gain),   b <- b + eta <B(x, y, a)>

exactly ``RateIPRule.torch_step`` (one forward-Euler step of the Brian2 model), with y reused
from the forward pass. A rule named ``<rule>-adam`` takes Adam steps on the same drives instead
(the "Adamised" IP updates Shaw et al. 2020 also describe; Adam: D. P. Kingma & J. Ba, ICLR
2015), the drives as the ascent direction of the rule's local objective, eta Adam's rate:

    m <- b1 m + (1 - b1) D,  v <- b2 v + (1 - b2) D^2,  p <- p + eta m^ / (sqrt(v^) + eps)

with m^ = m / (1 - b1^t), v^ = v / (1 - b2^t) (torch.optim.Adam's defaults b1 = 0.9,
b2 = 0.999, eps = 1e-8), for D = <A> (gain, kept >= min_gain) and D = <B> (bias). In eval mode
(a, b) are frozen. The rules (Triesch 2005, infomax after
Bell & Sejnowski 1995, Schrauwen et al. 2008) are those of ``models/``; see each module for
its equations.
"""

from __future__ import annotations

import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers._units import gain_bias_transfer, per_unit, rebind_buffers, transfer
from models import ip_gaussian, ip_infomax, ip_triesch
from models.rate_ip import RateIPRule

RATE_RULES: dict[str, RateIPRule] = {
    module.RULE.name: module.RULE for module in (ip_triesch, ip_infomax, ip_gaussian)
}
ADAM = "-adam"  # a rule name's suffix: its gain and bias take Adam steps (module docstring)
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults


def rate_rule(name: str) -> RateIPRule:
    """The rate IP rule of ``models/`` by name (triesch, infomax, gaussian)."""
    try:
        return RATE_RULES[name]
    except KeyError:
        raise UserError(f"unknown IP rule {name!r}; choose one of {', '.join(RATE_RULES)}") from None


class IntrinsicPlasticity(nn.Module):
    """y = f(a x + b) with a, b adapted by a local IP rule; drop-in where BatchNorm1d goes.

    ``n`` units on axis 1 of (batch, n) or (batch, n, *spatial) input. ``rule`` names the rule
    in ``models/``; ``eta`` its rate per update (default: the rule's per-sample rate);
    ``targets`` override the rule's target parameters (e.g. ``mu_target=0.2``).
    """

    def __init__(
        self, n: int, rule: str = "triesch", eta: float | None = None, affine: bool = False,
        init_gain: float = 1.0, init_bias: float = 0.0, min_gain: float = 1e-3,
        **targets: float,
    ):
        super().__init__()
        self.adam = rule.endswith(ADAM)
        self.rule = rate_rule(rule.removesuffix(ADAM))
        unknown = set(targets) - set(self.rule.targets)
        if unknown:
            raise UserError(f"IP rule {rule!r} has no target parameter {', '.join(sorted(unknown))}")
        self.n = n
        self.eta = self.rule.eta if eta is None else eta
        self.targets = {**self.rule.targets, **targets}
        self.min_gain = min_gain
        self.transfer = transfer(self.rule.transfer)
        self.register_buffer("gain", torch.full((n,), float(init_gain)))
        self.register_buffer("bias", torch.full((n,), float(init_bias)))
        if self.adam:
            for name in ("gain_m", "gain_v", "bias_m", "bias_v"):
                self.register_buffer(name, torch.zeros(n))
            self.register_buffer("adam_steps", torch.zeros((), dtype=torch.long))
        self.affine = affine
        if affine:
            self.gamma = nn.Parameter(torch.ones(n))
            self.beta = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.affine:
            y = gain_bias_transfer(x, self.gain, self.bias, self.transfer)
            if self.training:
                self.adapt(x, y)
            return y
        u = per_unit(self.gain, x) * x + per_unit(self.bias, x)
        if self.training:
            self.adapt(x, self.transfer(u.detach()))
        return self.transfer(per_unit(self.gamma, x) * u + per_unit(self.beta, x))

    def adapt(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One step of the rule on the batch ``x`` with outputs y = f(a x + b) (an Euler step, or
        Adam's: module docstring)."""
        if self.adam:
            self._adam_step(x, y)
            return
        gain, bias = self.rule.torch_step(x, y, self.gain, self.bias, self.eta, self.eta, self.min_gain, **self.targets)
        rebind_buffers(self, gain=gain, bias=bias)

    @torch.no_grad()
    def _adam_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        weighted, bias_sum, samples = self.rule.torch_drive_sums(x, y, **self.targets)
        self.adam_steps += 1
        t = int(self.adam_steps)
        (b1, b2), new = ADAM_BETAS, {}
        for name, drive in (("gain", weighted / samples + self.gain.reciprocal()), ("bias", bias_sum / samples)):
            m = getattr(self, f"{name}_m").mul_(b1).add_(drive, alpha=1 - b1)
            v = getattr(self, f"{name}_v").mul_(b2).addcmul_(drive, drive, value=1 - b2)
            step = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt_().add_(ADAM_EPS))
            new[name] = torch.add(getattr(self, name), step, alpha=self.eta)
        rebind_buffers(self, gain=new["gain"].clamp_min_(self.min_gain), bias=new["bias"])

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-unit tensors the divergence check reads: (gain, bias)."""
        return self.gain, self.bias

    def extra_repr(self) -> str:
        return f"{self.n}, rule={self.rule.name}{ADAM if self.adam else ''}, eta={self.eta}, affine={self.affine}"


class IntrinsicPlasticity2d(IntrinsicPlasticity):
    """IntrinsicPlasticity for conv feature maps (batch, channels, H, W): one (a, b) per channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"IntrinsicPlasticity2d expects (batch, C, H, W), got {tuple(x.shape)}")
        return super().forward(x)
