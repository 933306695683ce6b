"""How search-space code shows, checks and keys single values.

Shared by parsing (which validates a range), ``SearchSpace`` (which tests and encodes values) and the
dict-level helpers (which report bad arguments), so every message shows values the same way and a choice
value is recognised the same way everywhere.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["show", "is_bad_number", "as_python_number", "json_value", "strict_key"]

_SHORT = reprlib.Repr()
_SHORT.maxlist = 12
_SHORT.maxdict = 8
_SHORT.maxstring = 60
_SHORT.maxother = 60


def show(value: Any) -> str:
    """Short repr for error messages, so a long choice list does not flood the message."""
    return _SHORT.repr(value)


def is_bad_number(value: Any) -> bool:
    """True for anything that is not a real number, and for booleans (which Python counts as ints)."""
    return isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)


def as_python_number(value: Any) -> int | float:
    """Plain ``int`` or ``float`` (numpy scalars included) so ranges and values stay JSON-friendly."""
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def json_value(value: Any) -> Any:
    """Validate a choice value and return its plain-JSON form (numpy scalars unwrapped, tuples as lists).

    Raises TypeError for values JSON cannot hold and ValueError for NaN/inf, which JSON cannot hold either
    but whose fix (use a finite number) differs.
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(f"{value!r} is not finite, which JSON cannot store")
        return out
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        out_dict = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict key {key!r} ({type(key).__name__}) is not a str, which JSON requires")
            out_dict[str(key)] = json_value(v)
        return out_dict
    raise TypeError(f"type {type(value).__name__} is not JSON-serializable")


def strict_key(value: Any) -> Any:
    """Hashable key that tells True from 1 and 1 from 1.0 (plain ``==`` does not)."""
    if isinstance(value, list):
        return ("list", tuple(strict_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, strict_key(v)) for k, v in value.items())))
    return (type(value).__name__, value)
