"""Dale's-principle E/I layer (Cornford et al. 2021) as a rate circuit.

An excitatory population E and an inhibitory population I both receive the input x through
non-negative weights; I inhibits E through non-negative W_EI, subtractively and divisively
(shunting)::

    z_E = W_EX x,   z_I = W_IX x                         (I units linear)
    gamma = W_EI (exp(alpha) * z_I) + eps                 (shunt; alpha one per I unit)
    z   = g * (z_E - W_EI z_I) / gamma + b

``alpha`` has one value per inhibitory unit (it scales column j of W_EI by exp(alpha_j)),
``g`` and ``b`` one per E unit, ``eps = 1e-8`` is added to the shunt after the sum: all as in
the reference code, ``EiDenseWithShunt`` of linclab/ltlwdp (ariamis/ei_models.py).

Source: J. Cornford, D. Kalajdzievski, M. Leite, A. Lamarquette, D. M. Kullmann & B. Richards,
"Learning to live with Dale's principle: ANNs with separate excitatory and inhibitory units",
ICLR 2021 (feedforward inhibition after Pouille et al. 2009; shunting after Mitchell &
Silver 2003). The Brian2 circuit computes every sum as a ``(summed)`` synaptic variable;
the output is instantaneous (no rate dynamics), like the ANN layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.params import param

EPS = 1e-8


@dataclass(frozen=True)
class DaleParams:
    n_e: int = param(10, doc="excitatory units")
    n_i: int = param(1, doc="inhibitory units (Cornford et al. use 10% of n_e)")
    alpha: float = param(0.0, doc="log scale of each I unit's divisive inhibition (initial)")
    g: float = param(1.0, doc="output gain (initial)")
    b: float = param(0.0, doc="output bias (initial)")


def dale_forward(x: torch.Tensor, w_ex: torch.Tensor, w_ix: torch.Tensor, w_ei: torch.Tensor,
                 alpha: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z for x (batch, in), W_EX (out, in), W_IX (n_i, in), W_EI (out, n_i); alpha (n_i,); g, b (out,)."""
    z_i = x @ w_ix.T
    shunt = (z_i * torch.exp(alpha)) @ w_ei.T + EPS
    return g * (x @ w_ex.T - z_i @ w_ei.T) / shunt + b


I_EQUATIONS = """
z_i : 1
alpha : 1 (constant)
"""
E_EQUATIONS = """
z = g * (z_e - inhibition) / (shunt + eps) + b : 1
z_e : 1
inhibition : 1
shunt : 1
g : 1 (constant)
b : 1 (constant)
"""


def build(x_in, w_ex, w_ix, w_ei, alpha, g, b, dt=None):
    """The circuit (input, I, E and four synapse groups) for weight arrays shaped as in :func:`dale_forward`.

    The input group reads the TimedArray ``x_in(t, i)``.
    """
    from brian2 import NeuronGroup, Synapses  # brian2 is heavy: imported only to build or run a network

    n_e, n_in = np.shape(w_ex)
    n_i = np.shape(w_ix)[0]
    inputs = NeuronGroup(n_in, "x = x_in(t, i) : 1", namespace={"x_in": x_in}, dt=dt, name="dale_x")
    inhib = NeuronGroup(n_i, I_EQUATIONS, dt=dt, name="dale_i")
    inhib.alpha = alpha
    excit = NeuronGroup(n_e, E_EQUATIONS, namespace={"eps": EPS}, dt=dt, name="dale_e")
    excit.g, excit.b = g, b

    def dense(source, target, model, weights, name):
        syn = Synapses(source, target, model + "\nw : 1", namespace={"x_in": x_in}, dt=dt, name=name)
        syn.connect()  # all-to-all, i (pre) major: w[i_pre, j_post]
        syn.w = np.asarray(weights).T.ravel()
        return syn

    syns = [
        dense(inputs, excit, "z_e_post = w * x_pre : 1 (summed)", w_ex, "dale_ex"),
        dense(inputs, inhib, "z_i_post = w * x_pre : 1 (summed)", w_ix, "dale_ix"),
        dense(inhib, excit, "inhibition_post = w * z_i_pre : 1 (summed)", w_ei, "dale_ei"),
        dense(inhib, excit, "shunt_post = w * exp(alpha_pre) * z_i_pre : 1 (summed)", w_ei, "dale_shunt"),
    ]
    return inputs, inhib, excit, syns
