"""Weight layers with a plastic step run after each optimiser step (``after_step``).

The training loop calls ``after_step()`` on every module that has one, right after
``optimizer.step()`` (``bridge.learning.layers.after_step``); each does its update under no_grad and
only in training mode. The rules are those of ``models/``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.learning.layers._units import as_units
from bridge.learning.layers.saved import Saved
from models.dale import dale_forward
from models.oja import oja_delta
from models.synaptic_scaling import closed_loop_gains, integrated_error, scaling_factor


class SynapticScaling(Saved, nn.Module):
    """A Linear or Conv layer whose units' incoming weights scale toward a target activity.

    Activity of unit i: the running mean of |z_i| (z the layer's output, averaged over the batch
    and, for conv layers, positions), an exponential average with time constant ``tau_samples``
    samples. After each optimiser step on a batch of B samples every incoming weight row is
    multiplied by

        f_i = max(0, 1 + B gain (target - activity_i) + B integral_gain error_i),
        error_i <- error_i + B (target - activity_i)              (models/synaptic_scaling.py)

    the forward-Euler step (one step = B samples) of van Rossum, Bi & Turrigiano 2000's
    proportional and integral terms, in the between-steps form of Shen, Wang & Navlakha 2021.
    ``gain`` and ``integral_gain`` are per sample (and per sample squared), so the rule runs at
    the same speed per sample at any batch size. Multiplicative: a unit's relative weights are
    kept; the bias is not scaled. :meth:`from_rule` sets target, gains and time constant from a
    fitted scaling rule.
    """

    def __init__(self, layer: nn.Module, target: float = 1.0, gain: float = 1e-3,
                 tau_samples: float = 100.0, integral_gain: float = 0.0, name: str = ""):
        super().__init__()
        if tau_samples < 1:
            raise UserError(f"tau_samples must be >= 1, got {tau_samples}")
        self.layer, self.target, self.gain, self.tau_samples = layer, target, gain, tau_samples
        self.integral_gain, self.name = integral_gain, name
        self.register_buffer("activity", torch.full((layer.weight.shape[0],), float(target)))
        self.register_buffer("error", torch.zeros(layer.weight.shape[0]))
        self._samples = 0

    @classmethod
    def from_rule(cls, rule: Any, layer: nn.Module, target: float = 1.0) -> SynapticScaling:
        """``layer`` with the scaling of a fitted ``scaling`` rule (``bridge.fitting.rules.Rule``).

        The rule's response r(t) = r_inf + exp(-t/tau)(A cos omega t + B sin omega t) (biological
        seconds, ``homeobridge fit`` of a ``scaling`` run) becomes, with one sample standing for
        ``sample_dt`` seconds (the run's step, as for the intrinsic rules: docs/fitting.md):

        - target: ``target`` (mean |z|) times r_inf / configured goal, the fitted set point
          relative to the goal the neuron was given;
        - gains: the pole placement of :func:`models.synaptic_scaling.closed_loop_gains` at
          tau / sample_dt samples and omega sample_dt rad per sample, divided by the target
          (the error is absolute, the loop acts on the relative error): the layer's activity
          then relaxes with the fitted time constant and oscillation;
        - activity: the batch's own (tau_samples = 1), since the fitted response already holds
          the neuron's rate-sensor lag.
        """
        if rule.kind != "scaling":
            raise UserError(f"rule {rule.name!r} is a {rule.kind} rule, not a scaling rule")
        fit, sample_dt = rule.scaling, rule.dynamics.sample_dt
        set_point = target * fit.target / fit.configured_target
        k_p, k_i = closed_loop_gains(1.0 / (fit.rate * sample_dt), fit.omega * sample_dt)
        return cls(layer, set_point, k_p / set_point, 1.0, k_i / set_point, rule.name)

    @property
    def config(self) -> dict:
        return {"in_features": self.layer.weight.shape[1], "out_features": self.layer.weight.shape[0],
                "target": self.target, "gain": self.gain, "tau_samples": self.tau_samples,
                "integral_gain": self.integral_gain, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SynapticScaling:
        """A saved layer (always a Linear one: ``export`` writes Linear layers)."""
        config = dict(config)
        linear = nn.Linear(config.pop("in_features"), config.pop("out_features"))
        return cls(linear, **config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.layer(x)
        if self.training:
            with torch.no_grad():
                units = as_units(z.detach().abs())
                weight = 1.0 - (1.0 - 1.0 / self.tau_samples) ** units.shape[0]
                self.activity.lerp_(units.mean(0), weight)
                self._samples = x.shape[0]
        return z

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training and self._samples:
            steps = self._samples
            factor = scaling_factor(self.activity, self.target, steps * self.gain,
                                    steps * self.integral_gain, self.error)
            self.error = integrated_error(self.error, self.activity, self.target, steps)
            weight = self.layer.weight
            weight.mul_(factor.view((-1,) + (1,) * (weight.dim() - 1)))
            self._samples = 0

    def extra_repr(self) -> str:
        return (f"target={self.target:.4g}, gain={self.gain:.4g}/sample, integral_gain={self.integral_gain:.4g}"
                f"/sample^2, tau_samples={self.tau_samples:.4g}" + (f", rule={self.name!r}" if self.name else ""))


class OjaLinear(nn.Linear):
    """A Linear layer whose weights also take the Oja subspace step after each gradient step.

        W <- W - lr * dL/dW                      (the optimiser)
        W <- W + eta_oja (y^T x - y^T y W) / B    (models/oja.py, y = x W^T of the last batch)

    Oja's subspace rule (Oja 1989) alongside backprop, after Shervani-Tabar, Mirhoseini &
    Rosenbaum 2024. With ``post`` (the block's activation f), the rule reads the neuron's output
    y = f(x W^T + b) instead of the linear drive (norm ``oja-post``: the bounded activity a
    neuron has).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, eta_oja: float = 1e-3,
                 post: nn.Module | None = None):
        super().__init__(in_features, out_features, bias)
        self.eta_oja, self.post = eta_oja, post
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def wrap(cls, linear: nn.Linear, eta_oja: float = 1e-3, post: nn.Module | None = None) -> OjaLinear:
        """An OjaLinear with ``linear``'s shape and parameters, drawing no random numbers.

        ``nn.Linear.__init__`` draws a weight and bias from torch's generator; drawn here they
        would shift every later layer's draws, so that an oja net built from a seed would share
        only its first layer with the plain net of that seed (arms paired by seed, issue 23).
        It runs on a fork of the generator, and ``linear``'s own parameters replace its draws."""
        with torch.random.fork_rng(devices=[]):
            layer = cls(linear.in_features, linear.out_features, linear.bias is not None, eta_oja, post)
        layer.load_state_dict(linear.state_dict())
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            self._last = (x.detach(), self.oja_output(y.detach()))
        return y

    def oja_output(self, y: torch.Tensor) -> torch.Tensor:
        """The output Oja's rule reads from the layer's output ``y``: f(y), or the drive x W^T."""
        if self.post is not None:
            return self.post(y)
        return y - self.bias if self.bias is not None else y

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training and self._last is not None:
            x, y = self._last
            self.weight.add_(oja_delta(x, y, self.weight), alpha=self.eta_oja)
            self._last = None

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eta_oja={self.eta_oja}" + (f", post={self.post}" if self.post else "")


def _exponential(shape: tuple[int, ...], scale: float) -> torch.Tensor:
    """i.i.d. Exponential draws of mean (= std) ``scale`` from torch's generator."""
    return torch.empty(shape).exponential_(1.0 / scale)


class DaleLinear(nn.Module):
    """Cornford et al. 2021's Dale's-principle layer (DANN): ``EiDenseWithShunt`` of linclab/ltlwdp.

        z_E = W_EX x,  z_I = W_IX x,  z = g (z_E - W_EI z_I) / (W_EI (exp(alpha) z_I) + 1e-8) + b

    (``models/dale.py``; alpha one per inhibitory unit). As the reference code does:

    - initialisation: W_EX ~ Exponential of scale sqrt(1/(2 d)) in the first layer (``first``),
      sqrt(2 pi / (d (2 pi - 1))) in every later one (d inputs); W_IX from the same
      distribution, or with a single inhibitory unit (the output layer) the mean of W_EX's rows;
      W_EI = 1/n_i; alpha = log sqrt((2 pi - 1)/d) for every I unit; g = 1; b = 0;
    - corrected SGD (``corrected``): the gradients of W_IX are divided by sqrt(n_e), of W_EI by
      d, of alpha by sqrt(n_e) d (hooks on the parameters: with plain SGD, as in the reference,
      the same step as its rescaling of ``.grad``);
    - projection after each optimiser step: W_EX, W_IX, W_EI and g clamped at 0 (alpha and b free).

    ``n_inhibitory`` defaults to 10% of the outputs (at least 1). The draws use torch's
    generator (the reference uses numpy's): the same distributions, not the same numbers.
    Source: J. Cornford, D. Kalajdzievski, M. Leite, A. Lamarquette, D. M. Kullmann &
    B. Richards, "Learning to live with Dale's principle: ANNs with separate excitatory and
    inhibitory units", ICLR 2021. The inputs are assumed non-negative (pixels, ReLU units).
    """

    def __init__(self, in_features: int, out_features: int, n_inhibitory: int | None = None,
                 first: bool = False, corrected: bool = True):
        super().__init__()
        n_e, d = out_features, in_features
        n_i = n_inhibitory or max(1, round(0.1 * n_e))
        self.in_features, self.out_features, self.n_inhibitory = d, n_e, n_i
        self.first, self.corrected = first, corrected
        self.w_ex = nn.Parameter(torch.empty(n_e, d))
        self.w_ix = nn.Parameter(torch.empty(n_i, d))
        self.w_ei = nn.Parameter(torch.empty(n_e, n_i))
        self.alpha = nn.Parameter(torch.empty(n_i))
        self.g = nn.Parameter(torch.empty(n_e))
        self.b = nn.Parameter(torch.empty(n_e))
        self.reset_parameters()
        if corrected:
            for param, scale in ((self.w_ix, 1 / math.sqrt(n_e)), (self.w_ei, 1 / d),
                                 (self.alpha, 1 / (math.sqrt(n_e) * d))):
                param.register_hook(lambda grad, scale=scale: grad * scale)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        d = self.in_features
        scale = math.sqrt(1 / (2 * d)) if self.first else math.sqrt(2 * math.pi / (d * (2 * math.pi - 1)))
        self.w_ex.copy_(_exponential(self.w_ex.shape, scale))
        if self.n_inhibitory == 1:
            self.w_ix.copy_(self.w_ex.mean(0, keepdim=True))
        else:
            self.w_ix.copy_(_exponential(self.w_ix.shape, scale))
        self.w_ei.fill_(1.0 / self.n_inhibitory)
        self.alpha.fill_(math.log(math.sqrt((2 * math.pi - 1) / d)))
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
        return (f"in={self.in_features}, excitatory={self.out_features}, inhibitory={self.n_inhibitory}, "
                f"first={self.first}, corrected={self.corrected}")


class ColumnEiLinear(nn.Module):
    """Sign-constrained columns (Cornford et al. 2021's ColumnEI baseline, ``ColummEiDense`` of
    linclab/ltlwdp): z = (W_+ D) x + b, W_+ >= 0 learned, D a fixed diagonal of +-1 over the
    inputs.

    A hidden or output layer splits its d inputs E:I = ``ratio``:1 (n_i = ceil(d/(ratio+1)),
    the last n_i inputs inhibitory) and draws W_+ from Exponentials of scale
    sigma_e = sqrt(1 / ((2 pi - 1)/(2 pi) (n_e + n_e^2/n_i))) (E columns) and
    sigma_i = (n_e/n_i) sigma_e (I columns), b = 0. The first layer (``first``) has every input
    excitatory, W_+ ~ Exponential of scale sqrt(1/d) and b = -d sqrt(1/d) ``input_mean`` (the
    mean pixel), which centres its output. After each optimiser step W_+ is clamped at 0.
    """

    def __init__(self, in_features: int, out_features: int, ratio: int = 10, first: bool = False,
                 input_mean: float = 0.0):
        super().__init__()
        d = in_features
        self.in_features, self.out_features, self.first = d, out_features, first
        n_i = 0 if first else math.ceil(d / (ratio + 1))
        self.n_inhibitory = n_i
        self.weight = nn.Parameter(torch.empty(out_features, d))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("sign", torch.cat([torch.ones(d - n_i), -torch.ones(n_i)]))
        with torch.no_grad():
            if first:
                self.weight.copy_(_exponential((out_features, d), math.sqrt(1 / d)))
                self.bias.fill_(-d * math.sqrt(1 / d) * input_mean)
            else:
                n_e = d - n_i
                sigma_e = math.sqrt(1 / ((2 * math.pi - 1) / (2 * math.pi) * (n_e + n_e**2 / n_i)))
                self.weight.copy_(torch.cat([_exponential((out_features, n_e), sigma_e),
                                             _exponential((out_features, n_i), n_e / n_i * sigma_e)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.sign, self.bias)

    @torch.no_grad()
    def after_step(self) -> None:
        if self.training:
            self.weight.clamp_(min=0)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, inhibitory inputs={self.n_inhibitory}"
