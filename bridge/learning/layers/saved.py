"""Layers that write themselves to a file and read back ready to use (``homeobridge export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bridge.core.errors import UserError


class Saved:
    """Mixin: ``self.config`` holds the constructor arguments; :meth:`from_config` rebuilds from them."""

    config: dict

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def save(self, path: str | Path, rule: Any = None) -> Path:
        """Write the layer (its constructor arguments, state_dict and optionally the full rule) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": self.config, "state_dict": self.state_dict(),
                    "rule": rule.to_dict() if rule is not None else None}, path)
        return path

    @classmethod
    def load(cls, path: str | Path):
        """The layer written by :meth:`save`, e.g. ``FittedHomeostasis.load("rule.pt")``."""
        try:
            saved = torch.load(Path(path), map_location="cpu", weights_only=True)
            layer = cls.from_config(saved["config"])
            layer.load_state_dict(saved["state_dict"])
        except (OSError, KeyError, TypeError, RuntimeError) as err:
            raise UserError(f"{path}: not a saved {cls.__name__} layer ({err})") from None
        return layer
