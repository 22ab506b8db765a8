"""``homeobridge export``: a fitted rule written as a ready torch layer.

An intrinsic rule becomes a ``FittedHomeostasis`` of ``units`` units; a scaling rule a
``SynapticScaling`` around ``nn.Linear(inputs, units)`` (``SynapticScaling.from_rule``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PositiveInt
from torch import nn

from bridge.core.config import Config
from bridge.core.store import atomic_output
from bridge.fitting.rules import Rule
from bridge.learning.layers import FittedHomeostasis, SynapticScaling
from bridge.learning.layers.fitted import MODES


class ExportConfig(Config):
    """What ``export`` writes: the target (``torch``: a rule's layer; ``nir``: a trained spiking
    net, :mod:`bridge.experiments.interchange`), the layer's width, how it runs an intrinsic
    rule (``mode``) and the input width of a scaling rule's Linear layer (``inputs``)."""

    to: Literal["torch", "nir"] = "torch"
    units: PositiveInt = 128
    mode: Literal[MODES] = "equilibrium"
    inputs: PositiveInt = 784


def export_torch(rule: Rule, output: str | Path, config: ExportConfig) -> list[str]:
    """Write the rule's layer (see the module docstring) atomically to ``output``.

    Returns the two Python lines that load it.
    """
    if rule.kind == "scaling":
        layer = SynapticScaling.from_rule(rule, nn.Linear(config.inputs, config.units))
    else:
        layer = FittedHomeostasis.from_rule(rule, config.units, config.mode)
    output = Path(output)
    with atomic_output(output) as tmp:
        layer.save(tmp, rule)
    cls = type(layer).__name__
    return [f"from bridge.learning.layers import {cls}", f"layer = {cls}.load({str(output)!r})"]
