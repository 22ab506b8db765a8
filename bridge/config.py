"""Experiment configurations: dataclasses, overridden from the command line with ``key=value``."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from bridge.errors import UserError

C = TypeVar("C")


def _coerce(text: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        try:
            items = json.loads(text) if text.strip().startswith("[") else text.split(",")
        except json.JSONDecodeError:
            raise UserError(f"--set {key}: {text!r} is not a list") from None
        (inner, *_) = typing.get_args(kind) or (str,)
        values = [_coerce(str(item), inner, key) for item in items]
        return tuple(values) if origin is tuple else values
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UserError(f"--set {key}: {text!r} is not a boolean")
    if kind in (int, float, str):
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"--set {key}: {text!r} is not a valid {kind.__name__}") from None
    return text


def apply_overrides(config: C, overrides: list[str] | None) -> C:
    """A copy of the dataclass ``config`` with each ``key=value`` applied, types from the fields.

    Raises UserError for a malformed item, an unknown key or a value of the wrong type.
    """
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for item in overrides or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {item!r}")
        if key not in names:
            raise UserError(f"--set {key}: unknown key; valid keys: {', '.join(names)}")
        changes[key] = _coerce(text.strip(), hints[key], key)
    try:
        return dataclasses.replace(config, **changes)
    except (ValueError, TypeError) as err:
        raise UserError(f"--set: {err}") from None


def to_dict(config: Any) -> dict:
    """The dataclass as a plain JSON-ready dict (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
