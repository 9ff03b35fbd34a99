"""Frozen settings dataclasses filled from a config section."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def settings_from_mapping(cls: type[T], mapping: Any, what: str) -> T:
    """`cls(**mapping)` for a ConfigDict or dict; an unknown key is a ValueError naming `what`
    (e.g. "ScaNN settings") and the fields it accepts."""
    fields = {field.name for field in dataclasses.fields(cls)}
    given = dict(mapping.items() if hasattr(mapping, "items") else mapping)
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {sorted(fields)}")
    return cls(**given)
