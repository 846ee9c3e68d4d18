"""Settings dataclasses filled from plain values (JSON, ``KEY=VALUE`` options): names and types checked, so
a misspelt or mistyped setting is one error line, not a traceback from deep inside the code that uses it."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any, TypeVar

from arrhythmia.errors import ArrhythmiaError

T = TypeVar("T")


def settings_from(cls: type[T], values: dict, what: str) -> T:
    """``cls(**values)`` for a dataclass ``cls``, after checking that every key is one of its fields and
    every value fits the field's type (``fits``); a list becomes a tuple where the field is one. ``what``
    names the settings in the error (e.g. ``"adaptation setting"``)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ArrhythmiaError(f"unknown {what}(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    hints = typing.get_type_hints(cls)
    chosen = {}
    for key, value in values.items():
        if not fits(value, hints[key]):
            written = cls.__dataclass_fields__[key].type  # as written: "float | None"
            raise ArrhythmiaError(f"{what} {key}={value!r}: expected {written}")
        chosen[key] = tuple(value) if isinstance(value, list) else value
    return cls(**chosen)


def fits(value: Any, kind: Any) -> bool:
    """Whether ``value`` (read from JSON) fits the type ``kind``: an int is a float, a bool is neither, a
    list fits a tuple of its length (or of any length for ``tuple[X, ...]``), and ``list[X]`` when each of its
    items fits ``X``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(kind))
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return isinstance(value, list) and all(fits(part, item) for part in value)
    if typing.get_origin(kind) is tuple:
        parts = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            return False
        if len(parts) == 2 and parts[1] is Ellipsis:
            return all(fits(item, parts[0]) for item in value)
        return len(value) == len(parts) and all(map(fits, value, parts))
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is type(None):
        return value is None
    return isinstance(value, kind)
