"""``homeobridge export``: a fitted rule written as a ready torch layer (``FittedHomeostasis``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PositiveInt

from bridge.core.config import Config
from bridge.core.errors import UserError
from bridge.core.store import atomic_output
from bridge.fitting.rules import Rule
from bridge.learning.layers import FittedHomeostasis
from bridge.learning.layers.fitted import MODES


class ExportConfig(Config):
    """What ``export`` writes: the target framework, the layer's width and how it runs the rule."""

    to: Literal["torch"] = "torch"
    units: PositiveInt = 128
    mode: Literal[MODES] = "equilibrium"


def export_torch(rule: Rule, output: str | Path, config: ExportConfig) -> list[str]:
    """Write ``FittedHomeostasis.from_rule(rule, units, mode)`` atomically to ``output``.

    Returns the two Python lines that load it.
    """
    if rule.equilibrium is None:
        raise UserError(f"rule {rule.name!r} is a {rule.kind} rule: only intrinsic rules export")
    layer = FittedHomeostasis.from_rule(rule, config.units, config.mode)
    output = Path(output)
    with atomic_output(output) as tmp:
        layer.save(tmp, rule)
    return ["from bridge.learning.layers import FittedHomeostasis",
            f"layer = FittedHomeostasis.load({str(output)!r})"]
