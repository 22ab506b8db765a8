"""What a model file's homeostasis does to its response, measured from its f-I curves (issue 26).

A built-in model names its gain and bias variables; a model file names only the variable that
adapts (``homeostasis.variable``: a threshold shift, a conductance, ...), whose effect on
y = f(gain x + bias) depends on the rest of its equations. So the effect is measured: with f
the model's own transfer (``lif`` for a spiking neuron: f(u) = 1/ln(u/(u - 1)) above u = 1,
``bridge.fitting.transfer``), the curve before adaptation is fitted as

    before(x) = A f(a0 x + b0)                      (A, a0, b0 free)

and the curve after it with the amplitude held at A:

    after(x) = A f(gain x + b1)                     (gain, b1 free),   bias = b1 - onset

x in the sweep's normalised input units (``sims.model_neuron``). Holding A puts what the
homeostasis does into the argument of f. ``onset`` is where f starts to respond (1 for the LIF
curve, which fires above u = 1; 0 for the others), so that gain x + bias is the drive above
the neuron's rheobase, as the built-in lif-ip's gain I - theta is, and a network's layer reads
it the same way: a rectifier of it in a rate net, the current of a LIF layer in a spiking one.
Before adaptation gain = a0 and bias = b0 - onset. The time constants of gain and bias are both the relaxation time of
the adapting variable's trace (``traces/state``): the response is read from that one variable.
A condition whose curve responds at fewer than three test inputs (a neuron silenced by its
homeostasis: any curve below onset fits it) or cannot be fitted gets NaN and is left out of the
fit like any unsettled condition.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bridge.fitting.transfer import fit_curve

ONSET = {"lif": 1.0}  # the argument at which f starts to respond (others: 0)
MIN_RESPONDING = 3  # test inputs with a response: fewer leave the curve's gain and bias undetermined


class EffectiveGainBias(NamedTuple):
    gain: np.ndarray
    bias: np.ndarray


def effective_gain_bias(function: str, x: np.ndarray, before: np.ndarray, after: np.ndarray,
                        operating_points: np.ndarray) -> EffectiveGainBias:
    """gain and bias per condition (rows of ``before`` and ``after``, (N, M) on inputs ``x``) of
    the transfer ``function`` (module docstring)."""
    gains, biases = [], []
    for row_before, row_after, mu in zip(before, after, operating_points):
        responding = min(np.count_nonzero(row_before), np.count_nonzero(row_after))
        enough = responding >= MIN_RESPONDING
        reference = fit_curve(function, x, row_before, mu, amplitude_free=True) if enough else None
        if reference is None or not (np.isfinite(reference.amplitude) and reference.amplitude > 0):
            gains.append(np.nan)
            biases.append(np.nan)
            continue
        adapted = fit_curve(function, x, row_after / reference.amplitude, mu, amplitude_free=False)
        gains.append(adapted.a)
        biases.append(adapted.b - ONSET.get(function, 0.0))
    return EffectiveGainBias(np.asarray(gains, dtype=float), np.asarray(biases, dtype=float))
