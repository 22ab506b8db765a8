"""Oja's rule: a linear rate neuron whose input weights converge to the first principal component.

    y = sum_i w_i x_i
    dw_i/dt = eta * (y x_i - y^2 w_i)

The Brian2 model computes ``y`` as a ``(summed)`` variable of the input synapses and
integrates ``w`` per synapse (clock-driven, forward Euler). For several output units the
torch form :func:`oja_delta` is the subspace rule dW = y^T x - y^T y W (batch-averaged), which
reduces to the rule above for one output unit.

Sources: E. Oja, "A simplified neuron model as a principal component analyzer", J. Math. Biol.
15:267-273, 1982; subspace form E. Oja, Int. J. Neural Systems 1(1):61-68, 1989; used
alongside backprop by N. Shervani-Tabar, M. Mirhoseini & R. Rosenbaum, 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.params import brian2_values, param


@dataclass(frozen=True)
class OjaParams:
    eta: float = param(1.0, "Hz", "learning rate (per second; eta * dt per step)")


def oja_delta_t(x: torch.Tensor, y: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """The subspace Oja update (y^T x - y^T y W) / batch, transposed, for x (..., batch, in),
    y (..., batch, out) and weights stored as W^T (..., in, out) (the ensemble engine's layout):
    (x - y W)^T y / batch, two (batch x out x in) products, where (y^T y) W costs an
    (out x out x in) one (12.8 M multiply-adds a step for a 784 -> 128 layer, against 0.2 M at batch 1)."""
    batch = x.shape[-2]
    return (x - y @ weight_t.mT).mT @ y / batch


def oja_step_t_(weight_t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eta: float) -> None:
    """W^T <- W^T + eta (x - y W)^T y / batch in place (:func:`oja_delta_t`'s update, weights (E, in,
    out)): the outer products added into the weights as they are formed (``addcmul`` at batch 1,
    else ``baddbmm``), no update matrix of the weights' size formed; rounds otherwise than adding
    :func:`oja_delta_t` (the ensemble engine's step, ``bridge.learning.ensemble``)."""
    batch = x.shape[-2]
    residual_t = (x - y @ weight_t.mT).mT
    if batch == 1:
        weight_t.addcmul_(residual_t, y, value=eta)
    else:
        weight_t.baddbmm_(residual_t, y, alpha=eta / batch)


def oja_delta(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The subspace Oja update (y^T x - y^T y W) / batch for weights W (out, in): :func:`oja_delta_t`
    transposed (one home of the equation)."""
    return oja_delta_t(x, y, weight.mT).mT


INPUT_EQUATIONS = "x = x_in(t, i) : 1"
OUTPUT_EQUATIONS = "y : 1"
SYNAPSE_MODEL = """
dw/dt = eta * (y_post * x_pre - y_post**2 * w) : 1 (clock-driven)
y_post = w * x_pre : 1 (summed)
"""


def build(n_in: int, params: OjaParams, x_in, weights, dt=None):
    """(inputs, output, synapses): ``n_in`` inputs reading the TimedArray ``x_in(t, i)``, one output.

    ``weights`` (n_in,) are the initial w; integration by forward Euler.
    """
    from brian2 import NeuronGroup, Synapses  # brian2 is heavy: imported only to build or run a network

    values = brian2_values(params)
    inputs = NeuronGroup(n_in, INPUT_EQUATIONS, namespace={"x_in": x_in}, dt=dt, name="oja_in")
    output = NeuronGroup(1, OUTPUT_EQUATIONS, dt=dt, name="oja_out")
    synapses = Synapses(inputs, output, SYNAPSE_MODEL, method="euler", namespace={**values, "x_in": x_in},
                        dt=dt, name="oja_syn")
    synapses.connect()
    synapses.w = weights
    return inputs, output, synapses
