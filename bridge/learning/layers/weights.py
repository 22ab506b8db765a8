"""Weight layers with a plastic step run after each optimiser step (``after_step``).

The training loop calls ``after_step()`` on every module that has one, right after
``optimizer.step()`` (``bridge.learning.layers.after_step``); each does its update under no_grad and
only in training mode. The rules are those of ``models/``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.dale import dale_forward
from models.oja import oja_delta
from models.synaptic_scaling import scaling_factor


class SynapticScaling(nn.Module):
    """A Linear or Conv layer whose units' incoming weights scale toward a target activity.

    Activity of unit i: the running mean of |z_i| (z the layer's output, averaged over the batch
    and, for conv layers, positions), an exponential average with time constant ``tau_samples``
    samples. After each optimiser step every incoming weight row is multiplied by

        f_i = max(0, 1 + gain * (target - activity_i))          (models/synaptic_scaling.py)

    the forward-Euler step of van Rossum, Bi & Turrigiano 2000's proportional term, in the
    between-steps form of Shen, Wang & Navlakha 2021. Multiplicative: a unit's relative
    weights are kept; the bias is not scaled.
    """

    def __init__(self, layer: nn.Module, target: float = 1.0, gain: float = 0.05,
                 tau_samples: float = 100.0):
        super().__init__()
        self.layer, self.target, self.gain, self.tau_samples = layer, target, gain, tau_samples
        self.register_buffer("activity", torch.full((layer.weight.shape[0],), float(target)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.layer(x)
        if self.training:
            with torch.no_grad():
                units = z.detach().abs().movedim(1, -1).reshape(-1, z.shape[1])
                weight = 1.0 - (1.0 - 1.0 / self.tau_samples) ** units.shape[0]
                self.activity.lerp_(units.mean(0), weight)
        return z

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training:
            factor = scaling_factor(self.activity, self.target, self.gain)
            weight = self.layer.weight
            weight.mul_(factor.view((-1,) + (1,) * (weight.dim() - 1)))

    def extra_repr(self) -> str:
        return f"target={self.target}, gain={self.gain}, tau_samples={self.tau_samples}"


class OjaLinear(nn.Linear):
    """A Linear layer whose weights also take the Oja subspace step after each gradient step.

        W <- W - lr * dL/dW                      (the optimiser)
        W <- W + eta_oja (y^T x - y^T y W) / B    (models/oja.py, y = x W^T of the last batch)

    Oja's subspace rule (Oja 1989) alongside backprop, after Shervani-Tabar, Mirhoseini &
    Rosenbaum 2024.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, eta_oja: float = 1e-3):
        super().__init__(in_features, out_features, bias)
        self.eta_oja = eta_oja
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def wrap(cls, linear: nn.Linear, eta_oja: float = 1e-3) -> OjaLinear:
        """An OjaLinear with ``linear``'s shape and parameters."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, eta_oja)
        layer.load_state_dict(linear.state_dict())
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            self._last = (x.detach(), (y - self.bias if self.bias is not None else y).detach())
        return y

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training and self._last is not None:
            x, y = self._last
            self.weight.add_(oja_delta(x, y, self.weight), alpha=self.eta_oja)
            self._last = None

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eta_oja={self.eta_oja}"


class DaleLinear(nn.Module):
    """Cornford et al. 2021's Dale's-principle layer (DANN) with subtractive and divisive inhibition.

        z_E = W_EX x,  z_I = W_IX x,  z = g (z_E - W_EI z_I) / ((exp(alpha) W_EI) z_I) + b

    (``models/dale.py``). W_EX, W_IX, W_EI and g are kept non-negative by projection (clamping
    at 0) after each optimiser step. Initialisation as in the paper: W_EX and W_IX drawn from an
    exponential distribution of scale sqrt(2 pi / (d (2 pi - 1))) (d inputs), W_EI = 1/n_i
    (n_i = 10% of the outputs, at least 1), alpha = log sqrt((2 pi - 1)/d), g = 1, b = 0. The
    gradients of the inhibitory parameters are scaled as in their corrected SGD: W_IX by
    1/sqrt(n_e), W_EI by 1/d, alpha by 1/(sqrt(n_e) d).

    Source: J. Cornford, D. Kalajdzievski, M. Leite, A. Lamarquette, D. M. Kullmann &
    B. Richards, "Learning to live with Dale's principle: ANNs with separate excitatory and
    inhibitory units", ICLR 2021. The inputs are assumed non-negative (ReLU units).
    """

    def __init__(self, in_features: int, out_features: int, n_inhibitory: int | None = None):
        super().__init__()
        n_e, d = out_features, in_features
        n_i = n_inhibitory or max(1, round(0.1 * n_e))
        self.in_features, self.out_features, self.n_inhibitory = d, n_e, n_i
        self.w_ex = nn.Parameter(torch.empty(n_e, d))
        self.w_ix = nn.Parameter(torch.empty(n_i, d))
        self.w_ei = nn.Parameter(torch.empty(n_e, n_i))
        self.alpha = nn.Parameter(torch.empty(n_e))
        self.g = nn.Parameter(torch.empty(n_e))
        self.b = nn.Parameter(torch.empty(n_e))
        self.reset_parameters()
        for param, scale in ((self.w_ix, 1 / math.sqrt(n_e)), (self.w_ei, 1 / d),
                             (self.alpha, 1 / (math.sqrt(n_e) * d))):
            param.register_hook(lambda grad, scale=scale: grad * scale)

    @classmethod
    def like(cls, linear: nn.Linear) -> DaleLinear:
        """A DaleLinear with ``linear``'s shape (Cornford et al.'s own initialisation)."""
        return cls(linear.in_features, linear.out_features)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        scale = math.sqrt(2 * math.pi / (self.in_features * (2 * math.pi - 1)))
        exponential = torch.distributions.Exponential(torch.tensor(1.0 / scale))
        self.w_ex.copy_(exponential.sample(self.w_ex.shape))
        if self.n_inhibitory == 1:
            self.w_ix.copy_(self.w_ex.mean(0, keepdim=True))
        else:
            self.w_ix.copy_(exponential.sample(self.w_ix.shape))
        self.w_ei.fill_(1.0 / self.n_inhibitory)
        self.alpha.fill_(0.5 * math.log((2 * math.pi - 1) / self.in_features))
        self.g.fill_(1.0)
        self.b.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dale_forward(x, self.w_ex, self.w_ix, self.w_ei, self.alpha, self.g, self.b)

    @torch.no_grad()
    def after_step(self) -> None:
        """Projection onto the constraint set: non-negative W_EX, W_IX, W_EI and g."""
        if self.training:
            for param in (self.w_ex, self.w_ix, self.w_ei, self.g):
                param.clamp_(min=0)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, excitatory={self.out_features}, inhibitory={self.n_inhibitory}"
