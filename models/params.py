"""Model parameters: dataclasses whose fields carry their Brian2 unit in ``metadata["unit"]``.

Values are plain floats in SI base units of that unit (``second``, ``volt``, ``hertz``) or in
the named unit itself (``mV``); :func:`brian2_values` multiplies each by its unit, so the same
dataclass feeds the Brian2 builder and the torch step (which works on the plain floats).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


def param(default: float, unit: str = "1", doc: str = "") -> Any:
    """A dataclass field with its Brian2 unit (``"1"``: dimensionless) and a one-line description."""
    return dataclasses.field(default=default, metadata={"unit": unit, "doc": doc})


def unit_of(params: Any, name: str) -> str:
    return next(f.metadata.get("unit", "1") for f in dataclasses.fields(params) if f.name == name)


def brian2_values(params: Any) -> dict[str, Any]:
    """``{name: value * unit}`` for every field: a Brian2 namespace or per-neuron values."""
    import brian2  # brian2 is heavy: imported only to build or run a network

    out = {}
    for f in dataclasses.fields(params):
        unit = f.metadata.get("unit", "1")
        value = getattr(params, f.name)
        out[f.name] = value if unit == "1" else value * eval(unit, vars(brian2))
    return out


def file_parameters(params: Any, exclude: tuple[str, ...] = ()) -> dict[str, dict]:
    """The fields as a model file's ``[parameters]`` (``bridge.core.model_file``): value, unit, and
    the field's description as its source."""
    return {name: {"value": float(row["value"]), "unit": row["unit"], "source": row["doc"]}
            for name, row in describe(params).items() if name not in exclude}


def describe(params: Any) -> dict[str, dict]:
    """``{name: {"value", "unit", "doc"}}`` for listings (``homeobridge models``)."""
    return {
        f.name: {"value": getattr(params, f.name), "unit": f.metadata.get("unit", "1"),
                 "doc": f.metadata.get("doc", "")}
        for f in dataclasses.fields(params)
    }


def batch_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over the batch of per-sample drives: (batch, n) -> (n,); with a leading member
    axis (members, batch, n) -> (members, 1, n), each member's own batch (the ensemble engine)."""
    return x.mean(-2, keepdim=x.dim() == 3)


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Spike when ``x > 0`` (Brian2's ``v > theta``); no gradient. Pass snntorch's surrogate to train."""
    return (x > 0).to(x.dtype)
