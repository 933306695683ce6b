"""Checking what a user hands a search space: its definition (type, range, name) and method arguments.

A user's range arrives as whatever they typed or loaded from JSON; every check and every error message
about it lives here, each message naming the hyperparameter and saying how to fix it. What comes out, a
``CheckedSpace``, is known good, so ``SearchSpace`` and the grid math never validate again. The checks of
``sample``'s rng, ``decode``'s u and ``with_upper``'s new bound live here for the same reason.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .space_grid import CheckedSpace, Grid, make_grid
from .space_values import as_python_number, is_bad_number, json_value, show, strict_key

__all__ = [
    "SPACE_TYPES",
    "DEFAULT_BASE",
    "Where",
    "location",
    "check_name",
    "check_number",
    "check_rng",
    "check_unit",
    "lowered_range",
    "parse_space",
    "read_space_dict",
]

SPACE_TYPES = ("uniform", "quniform", "loguniform", "qloguniform", "choice")
# The base a log type reports when none was given (informational: it does not change the distribution).
DEFAULT_BASE = 2.0

# Written form of each type's range, used in error messages so the fix is visible.
_FORMS = {
    "uniform": "[lo, hi]",
    "quniform": "[lo, hi, q]",
    "loguniform": "[lo, hi] or [lo, hi, base]",
    "qloguniform": "[lo, hi, q] or [lo, hi, q, base]",
    "choice": "[value1, value2, ...]",
}
# (minimum, maximum) number of range entries per numeric type.
_LENGTHS = {"uniform": (2, 2), "quniform": (3, 3), "loguniform": (2, 3), "qloguniform": (3, 4)}

# Builds an error message's prefix on demand, so a valid definition never pays for formatting one.
Where = Callable[[], str]


def location(name: str | None, kind: Any, rng: Any) -> str:
    """Error-message prefix: the hyperparameter's name if known, else the call that built it."""
    if name is not None:
        return f"search space {name!r}"
    return f"search_space({show(kind)}, {show(rng)})"


def check_name(name: Any) -> str | None:
    """The name, if given, as a non-empty str."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"search space name must be a str, got {show(name)} ({type(name).__name__})")
    if not name:
        raise ValueError("search space name must not be empty")
    return name


def check_number(value: Any, what: str, where: Where) -> int | float:
    """``value`` as a finite python int or float; ``what`` names it in the message (lo, hi, q, ...)."""
    if is_bad_number(value):
        hint = ""
        if isinstance(value, str):
            hint = "; write it as a number without quotes"
        elif isinstance(value, (bool, np.bool_)):
            hint = "; booleans are not numbers here (use a 'choice' for True/False)"
        raise TypeError(
            f"{where()}: {what} must be a number, got {show(value)} ({type(value).__name__}){hint}"
        )
    number = as_python_number(value)
    try:
        float(number)  # bounds meet float arithmetic (sampling, the unit box): an int no float holds cannot
    except OverflowError:
        raise ValueError(f"{where()}: {what} must be a number a float can hold (below 1.8e308 in size), got "
                         f"{show(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{where()}: {what} must be a finite number, got {number!r}; give a finite bound")
    return number


def check_rng(rng: Any) -> None:
    """Sampling takes a numpy Generator only, so a seed or the legacy RandomState fails loudly."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {show(rng)} ({type(rng).__name__}); "
            "pass np.random.default_rng(seed)"
        )


def check_unit(u: Any, where: Where) -> float:
    """``u`` as a float clipped to [0, 1]; TypeError if it is no number, ValueError for NaN."""
    try:
        u = float(u)
    except (TypeError, ValueError):
        raise TypeError(
            f"{where()}: cannot decode u={show(u)} ({type(u).__name__}); u must be a number in [0, 1]"
        ) from None
    if math.isnan(u):
        raise ValueError(f"{where()}: cannot decode u=nan; u must be a number in [0, 1]")
    return min(max(u, 0.0), 1.0)


def lowered_range(spec: CheckedSpace, new_upper: Any, lower: int | float, where: Where) -> list[Any]:
    """``spec``'s range with hi replaced by ``new_upper``, which must be a number in [lower, hi].

    Only ``uniform`` and the quantized types can shrink (see ``SearchSpace.with_upper``); whether the new
    range still holds more than one value is for the caller to find out by building it.
    """
    if spec.kind not in ("uniform", "quniform", "qloguniform"):
        raise ValueError(
            f"{where()}: with_upper works only for 'uniform', 'quniform' and 'qloguniform', not {spec.kind!r}"
        )
    bound = check_number(new_upper, "new_upper", where)
    if bound > spec.hi:
        raise ValueError(
            f"{where()}: with_upper can only lower the bound; new_upper={bound!r} is above hi={spec.hi!r}"
        )
    if bound < lower:
        raise ValueError(
            f"{where()}: upper bound cannot shrink further: new_upper={bound!r} is below the "
            f"lower bound {lower!r}"
        )
    rng = list(spec.range)
    rng[1] = bound
    return rng


def parse_space(kind: Any, rng: Any, name: str | None) -> CheckedSpace:
    """Check ``search_space(kind, rng)`` (``name`` already checked) and return its fields."""

    def where() -> str:
        return location(name, kind, rng)

    valid = ", ".join(repr(t) for t in SPACE_TYPES)
    if not isinstance(kind, str):
        raise TypeError(
            f"{where()}: type must be a str, one of {valid}; got {show(kind)} ({type(kind).__name__})"
        )
    if kind not in SPACE_TYPES:
        close = difflib.get_close_matches(kind.lower(), SPACE_TYPES, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TypeError(f"{where()}: unknown type {kind!r}; {hint}valid types are {valid}")
    if not isinstance(rng, (list, tuple)):
        raise TypeError(
            f"{where()}: range must be a list or tuple such as {_FORMS[kind]}, "
            f"got {show(rng)} ({type(rng).__name__})"
        )
    return _parse_choice(rng, where) if kind == "choice" else _parse_numeric(kind, rng, where)


def _parse_numeric(kind: str, rng: Sequence[Any], where: Where) -> CheckedSpace:
    least, most = _LENGTHS[kind]
    if len(rng) < least:
        raise ValueError(f"{where()}: {kind} needs {_FORMS[kind]}, got {show(list(rng))} ({len(rng)} values)")
    if len(rng) > most:
        raise ValueError(
            f"{where()}: {kind} takes {_FORMS[kind]}, got {len(rng)} values {show(list(rng))}; "
            "remove the extra values"
        )
    names = ["lo", "hi", "q", "base"] if kind in ("quniform", "qloguniform") else ["lo", "hi", "base"]
    values = [check_number(v, what, where) for v, what in zip(rng, names, strict=False)]
    lo, hi = values[0], values[1]
    if lo >= hi:
        fix = f"; swap them ({show([hi, lo] + values[2:])})" if lo > hi else "; widen the range"
        raise ValueError(f"{where()}: lower bound lo={lo!r} must be less than upper bound hi={hi!r}{fix}")
    is_log = kind in ("loguniform", "qloguniform")
    if is_log and lo <= 0:
        raise ValueError(
            f"{where()}: {kind} needs lo > 0 (log of {lo!r} is undefined); "
            f"use a small positive lo such as 1e-06, or type 'uniform'"
        )
    base = log_lo = log_hi = None
    if is_log:
        base = values[names.index("base")] if len(values) > names.index("base") else None
        if base is not None and (base <= 0 or base == 1):
            raise ValueError(
                f"{where()}: base must be > 0 and != 1, got base={base!r}; "
                "omit it (the base does not change a log-uniform distribution)"
            )
        log_lo = math.log(lo)
    q = grid = None
    if kind in ("quniform", "qloguniform"):
        q = values[2]
        grid = _parse_grid(lo, hi, q, where)
        if kind == "qloguniform":
            log_hi = math.log(float(grid.point(grid.k_max)))
    elif kind == "loguniform":
        log_hi = math.log(hi)
    return CheckedSpace(kind, values, lo, hi, q=q, base=base, grid=grid, log_lo=log_lo, log_hi=log_hi)


def _parse_grid(lo: int | float, hi: int | float, q: int | float, where: Where) -> Grid:
    if q <= 0:
        raise ValueError(
            f"{where()}: q must be > 0, got q={q!r}; q is the step between values, e.g. 1 for integers"
        )
    grid = make_grid(lo, hi, q)
    if grid.k_max < 1:
        raise ValueError(
            f"{where()}: q={q!r} is larger than hi - lo = {show(hi - lo)}, so the only value is "
            f"lo={lo!r}; use the fixed value {lo!r} instead of a search space, or a smaller q "
            f"(at most {show(hi - lo)})"
        )
    return grid


def _parse_choice(rng: Sequence[Any], where: Where) -> CheckedSpace:
    if len(rng) == 0:
        raise ValueError(f"{where()}: choice needs at least one value, e.g. ['adam', 'sgd']; got []")
    values: list[Any] = []
    index: dict[Any, int] = {}
    for i, raw in enumerate(rng):
        try:
            value = json_value(raw)
        except TypeError as err:
            raise TypeError(
                f"{where()}: choice value {show(raw)} at position {i} cannot be stored in JSON "
                f"({err}); use str, int, float, bool, None, or lists/dicts of them"
            ) from None
        except ValueError as err:
            raise ValueError(
                f"{where()}: choice value {show(raw)} at position {i} is invalid ({err}); use a finite number"
            ) from None
        key = strict_key(value)
        if key in index:
            raise ValueError(
                f"{where()}: duplicate choice value {show(value)} at positions {index[key]} and {i}; "
                "list each value once"
            )
        index[key] = i
        values.append(value)
    return CheckedSpace("choice", values, 0, len(values) - 1, choices=values, index=index)


def read_space_dict(d: Any, name: str | None) -> tuple[Any, Any]:
    """``(type, range)`` of a JSON-form dict ``{"type", "range"(, "choice_list")}``, checked for its keys."""
    where = f"search space {name!r}" if name is not None else "search space dict"
    if not isinstance(d, Mapping):
        raise TypeError(
            f"{where}: expected a dict like {{'type': 'uniform', 'range': [0, 1]}}, got {show(d)} "
            f"({type(d).__name__})"
        )
    missing = [key for key in ("type", "range") if key not in d]
    if missing:
        raise ValueError(
            f"{where}: missing key(s) {missing} in {show(dict(d))}; expected {{'type': ..., 'range': [...]}}"
        )
    extra = sorted(str(key) for key in d if key not in ("type", "range", "choice_list"))
    if extra:
        raise ValueError(
            f"{where}: unknown key(s) {extra} in {show(dict(d))}; allowed keys are 'type', 'range' "
            "and, for choices, 'choice_list'"
        )
    kind, rng = d["type"], d["range"]
    if "choice_list" in d:
        if kind != "choice":
            raise ValueError(f"{where}: 'choice_list' is only valid with type 'choice', got type {kind!r}")
        rng = d["choice_list"]
    return kind, rng
