"""A fitted homeostasis rule as a torch layer, executed online or at equilibrium.

The fitting step (``bridge.fit``) summarises what a simulated neuron's homeostasis does as

    gain = c * sigma^(-p),     bias = d - s * gain * mu          (equilibrium map)

for input of mean mu and standard deviation sigma, plus the rates at which the neuron gets
there (``eta_gain``, ``eta_bias`` per sample) and the time constant of the statistics it
tracks (``tau_samples``). :class:`FittedHomeostasis` computes y = f(gain x + bias) with
per-unit buffers and runs the rule one of two ways in training mode (under no_grad):

- ``"online"``: the source model's own rule (``models/ip_*.py``) at the fitted rates,
  a <- a + eta_gain <A>, b <- b + eta_bias <B>, drives averaged over the batch;
- ``"equilibrium"``: exponential running averages of x and x^2 with time constant
  ``tau_samples`` (per sample: m <- m + (x - m)/tau; a batch of B samples moves by
  1 - (1 - 1/tau)^B), then the equilibrium map with mu = m, sigma = sqrt(m2 - m^2).

Both use running per-unit state only, so both work at batch size 1 (where BatchNorm has no
batch); the gradient flows through the activation with (gain, bias) held, frozen in eval mode.
Cf. the Triesch-IP / BatchNorm equivalence a = c/sigma, b = d - a*mu (Triesch 2005).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers._units import gain_bias_transfer, per_unit, rebind_buffers, transfer
from bridge.learning.layers.ip import RATE_RULES
from bridge.learning.layers.saved import Saved
from models.rate_ip import sample_axes

MODES = ("online", "equilibrium")
_EPS = 1e-5


class FittedHomeostasis(Saved, nn.Module):
    """y = f(gain x + bias) with (gain, bias) from a fitted rule; see the module docstring.

    Build it with :meth:`from_rule`; :meth:`save` / :meth:`load` write and read a ready layer.
    """

    def __init__(
        self, n: int, transfer_name: str, p: float, c: float, s: float, d: float,
        tau_samples: float, mode: str = "equilibrium", eta_gain: float = 0.0,
        eta_bias: float = 0.0, model: str = "", targets: dict | None = None, name: str = "",
        affine: bool = False,
    ):
        super().__init__()
        if mode not in MODES:
            raise UserError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if tau_samples < 1:
            raise UserError(f"tau_samples must be >= 1, got {tau_samples}")
        self.config = {
            "n": n, "transfer_name": transfer_name, "p": p, "c": c, "s": s, "d": d, "tau_samples": tau_samples,
            "mode": mode, "eta_gain": eta_gain, "eta_bias": eta_bias, "model": model,
            "targets": dict(targets or {}), "name": name, "affine": affine,
        }
        self.n, self.mode, self.name = n, mode, name
        self.p, self.c, self.s, self.d = p, c, s, d
        self.tau_samples, self.eta_gain, self.eta_bias = tau_samples, eta_gain, eta_bias
        self.transfer = transfer(transfer_name)
        self.source = self._source_rule(model) if mode == "online" else None
        self.targets = {k: v for k, v in (targets or {}).items() if self.source and k in self.source.targets}
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_sq", torch.ones(n))
        self.register_buffer("gain", torch.full((n,), float(c)))
        self.register_buffer("c_tensor", torch.tensor(float(c)), persistent=False)
        self.register_buffer("d_tensor", torch.tensor(float(d)), persistent=False)
        self.register_buffer("bias", torch.full((n,), float(d)))
        self.affine = affine
        if affine:  # Shaw et al. 2020's y = f(gamma (gain x + bias) + beta), gamma and beta by backprop
            self.gamma = nn.Parameter(torch.ones(n))
            self.beta = nn.Parameter(torch.zeros(n))

    @staticmethod
    def _source_rule(model: str):
        key = model.removeprefix("rate-ip-")
        if key not in RATE_RULES:
            raise UserError(
                f"online execution needs a rate-IP source model ({', '.join('rate-ip-' + k for k in RATE_RULES)}), "
                f"got {model!r}; use mode='equilibrium' (a model file's own neuron runs online in a net, "
                "norm fitted-online:<rule>)"
            )
        return RATE_RULES[key]

    @classmethod
    def from_rule(
        cls, rule: Any, n: int, mode: str = "equilibrium", transfer_name: str | None = None,
        affine: bool = False,
    ) -> FittedHomeostasis:
        """The layer of ``n`` units executing a fitted ``bridge.fitting.rules.Rule`` (or any object with its fields).

        ``transfer_name`` replaces the rule's transfer: ``"identity"`` makes the layer a
        normaliser of the current that a spiking neuron then integrates.
        """
        if rule.equilibrium is None:
            raise UserError(f"rule {rule.name!r} is a {rule.kind} rule with no equilibrium map")
        eq, dyn = rule.equilibrium, rule.dynamics
        return cls(
            n, transfer_name or rule.transfer, float(eq.p), float(eq.c), float(eq.s), float(eq.d),
            float(dyn.tau_samples), mode, float(dyn.eta_gain), float(dyn.eta_bias),
            rule.model, dict(rule.targets), rule.name, affine,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.mode == "equilibrium":
            self._equilibrium(x.detach())
        if self.affine:
            u = per_unit(self.gain, x) * x + per_unit(self.bias, x)
            y = self.transfer(per_unit(self.gamma, x) * u + per_unit(self.beta, x))
        else:
            y = gain_bias_transfer(x, self.gain, self.bias, self.transfer)
        if self.training and self.mode == "online":
            own = self.transfer(u.detach()) if self.affine else y  # the rule sees the neuron's own output f(a x + b)
            gain, bias = self.source.torch_step(x, own, self.gain, self.bias, self.eta_gain, self.eta_bias, _EPS,
                                                **self.targets)
            rebind_buffers(self, gain=gain, bias=bias)
        return y

    def _equilibrium(self, x: torch.Tensor) -> None:
        """The running moments of x (each position of a feature map a sample of its channel;
        x detached), then the equilibrium map gain = c max(var, eps)^(-p/2), bias = d - s gain mu.
        c and d are 0-dim tensors, so that no Python number is wrapped into a tensor each step."""
        self._track_moments(x)
        var = torch.addcmul(self.running_sq, self.running_mean, self.running_mean, value=-1).clamp_min_(_EPS)
        gain = var.pow_(-self.p / 2).mul_(self.c_tensor)
        rebind_buffers(self, gain=gain, bias=torch.addcmul(self.d_tensor, gain, self.running_mean, value=-self.s))

    def _track_moments(self, x: torch.Tensor) -> None:
        """m <- (1 - w) m + w <x>, m2 <- (1 - w) m2 + w <x^2> with w = 1 - (1 - 1/tau)^samples:
        (samples, units) as one matrix-vector product per moment, a feature map by sums."""
        dims, samples = sample_axes(x)
        weight = 1.0 - (1.0 - 1.0 / self.tau_samples) ** samples
        if x.dim() == 2:
            ones = x.new_ones(samples)
            self.running_mean.addmv_(x.T, ones, beta=1 - weight, alpha=weight / samples)
            self.running_sq.addmv_(torch.mul(x, x).T, ones, beta=1 - weight, alpha=weight / samples)
            return
        self.running_mean.lerp_(x.sum(dims).div_(samples), weight)
        self.running_sq.lerp_(torch.mul(x, x).sum(dims).div_(samples), weight)

    def homeostatic_values(self) -> tuple[torch.Tensor, ...]:
        """The adapted per-unit tensors the divergence check reads: (gain, bias)."""
        return self.gain, self.bias

    def extra_repr(self) -> str:
        return (f"{self.n}, rule={self.name!r}, mode={self.mode}, gain=c*sigma^-p "
                f"(c={self.c:.4g}, p={self.p:.4g}), bias=d-s*gain*mu (d={self.d:.4g}, s={self.s:.4g})")
