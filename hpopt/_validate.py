"""Argument checks shared by create() and auto config: errors name the argument and the bad value."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable


def check_int(name: str, value: object, minimum: int) -> int:
    """Reject bools and non-integers: a silently truncated 2.7 trials or True epochs hides a bug."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    result = int(value)
    if result < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def check_real(name: str, value: object) -> float:
    """Accept ints and floats (numpy scalars too) but not bools, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_time_ratio(value: object) -> float:
    r = check_real("expected_time_ratio", value)
    if r <= 1.0:
        raise ValueError(
            "expected_time_ratio must be > 1 (HPO needs r > 1; r = 2 means HPO takes as long as the "
            f"final training), got {value!r}"
        )
    return r


def check_non_pure_ratio(value: object) -> float:
    p = check_real("non_pure_train_ratio", value)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"non_pure_train_ratio must be in [0, 1), got {value!r}")
    return p


def check_subset_ratio(value: object) -> float:
    s = check_real("subset_ratio", value)
    if not 0.0 < s <= 1.0:
        raise ValueError(f"subset_ratio must be in (0, 1], got {value!r}")
    return s


def env_problem(name: object, value: object) -> str | None:
    """What keeps ``name=value`` out of a child process's environment, or None when nothing does."""
    if not isinstance(name, str) or not isinstance(value, str):
        return f"must map a str to a str, got {name!r}: {value!r}"
    if not name:
        return "has an empty variable name ''"
    if "=" in name:
        return f"has the variable name {name!r}, which holds '=' (the separator of NAME=value)"
    if "\0" in name or "\0" in value:
        return f"has the variable {name!r}, whose name or value holds a NUL byte, which no environment can carry"
    return None
