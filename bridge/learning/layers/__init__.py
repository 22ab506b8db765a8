"""torch / snntorch layers of homeostatic plasticity, drop-in where a normalisation layer goes.

- :class:`IntrinsicPlasticity`, :class:`IntrinsicPlasticity2d`: y = f(a x + b), a local IP rule.
- :class:`FittedHomeostasis`: a fitted rule, online or at equilibrium.
- :class:`SynapticScaling`, :class:`OjaLinear`, :class:`DaleLinear`, :class:`ColumnEiLinear`: weight layers with a
  plastic step applied after each optimiser step (:func:`after_step`).
- :class:`HomeostaticLeaky`: a LIF layer (pure step, explicit state) with homeostatic threshold and input gain;
  :class:`AdaptiveThresholdLeaky`: Diehl & Cook's adaptive threshold; :class:`GeneratedLeaky`: a model file's
  neuron, stepped by the torch code generated from its Brian2 equations; :class:`GeneratedRate` a rate one's.

Plastic state lives in buffers, changes under no_grad in training mode only, is saved by
``state_dict`` and frozen in eval mode.
"""

from __future__ import annotations

from torch import nn

from bridge.learning.layers.fitted import FittedHomeostasis
from bridge.learning.layers.generated import GeneratedLeaky, GeneratedRate
from bridge.learning.layers.ip import IntrinsicPlasticity, IntrinsicPlasticity2d
from bridge.learning.layers.spiking import AdaptiveThresholdLeaky, HomeostaticLeaky
from bridge.learning.layers.weights import ColumnEiLinear, DaleLinear, OjaLinear, SynapticScaling


def plastic_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that have a plastic step to run after each optimiser step."""
    return [m for m in model.modules() if callable(getattr(m, "after_step", None))]


def after_step(modules: list[nn.Module]) -> None:
    """Run each module's post-optimiser plastic step (scaling, Oja term, Dale projection)."""
    for module in modules:
        module.after_step()


__all__ = [
    "AdaptiveThresholdLeaky", "ColumnEiLinear", "DaleLinear", "FittedHomeostasis", "GeneratedLeaky", "GeneratedRate",
    "HomeostaticLeaky",
    "IntrinsicPlasticity",
    "IntrinsicPlasticity2d", "OjaLinear", "SynapticScaling", "after_step", "plastic_modules",
]
