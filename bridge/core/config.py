"""Validated configurations (pydantic v2), overridden from the command line with ``key=value``.

Every configuration a user can set derives from :class:`Config`: frozen, unknown keys
rejected, finite floats only (``allow_inf_nan=False``), ranges and choices declared on the
fields. :func:`apply_overrides` parses ``--set key=value`` items (lists comma-separated or as
JSON ``[...]``) and validates the result; any problem is one :class:`UserError` line naming the
field and what it allows, raised before any work starts.
"""

from __future__ import annotations

import json
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bridge.core.errors import UserError

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base of every user-settable configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True)

    def to_dict(self) -> dict:
        """The configuration as a plain JSON-ready dict (tuples as lists)."""
        return self.model_dump(mode="json")


def validation_message(err: ValidationError, prefix: str = "") -> str:
    """The first error of a pydantic ValidationError as one line: ``field: problem (got value)``."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    given = first.get("input")
    shown = "" if not where or isinstance(given, dict) else f" (got {given!r})"
    head = f"{prefix}{where}: " if where else f"{prefix.rstrip()}: " if prefix else ""
    return f"{head}{message}{shown}"


def validate(cls: type[C], data: dict, prefix: str = "") -> C:
    """``cls`` built from ``data``; a UserError of one line when it does not validate."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise UserError(validation_message(err, prefix)) from None


def _is_sequence(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, tuple)


def _parse(text: str, annotation: Any, key: str) -> Any:
    if not _is_sequence(annotation):
        return text
    if text.strip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise UserError(f"--set {key}: {text!r} is not a JSON list") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def apply_overrides(config: C, overrides: list[str] | None) -> C:
    """A copy of ``config`` with each ``key=value`` applied and the whole validated again.

    Raises UserError for a malformed item, an unknown key or a value out of its range.
    """
    fields = type(config).model_fields
    data = config.model_dump()
    for item in overrides or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {item!r}")
        if key not in fields:
            raise UserError(f"--set {key}: unknown key; valid keys: {', '.join(fields)}")
        data[key] = _parse(text.strip(), fields[key].annotation, key)
    return validate(type(config), data, "--set ")
