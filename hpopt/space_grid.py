"""The numbers behind the unit-box encoding: grids, log cells, and the maps between values and u in [0, 1].

Functions over a ``CheckedSpace``, the fields of a definition that ``space_parsing`` has already checked,
so nothing here validates or raises for bad input. Keeping the arithmetic here keeps ``SearchSpace`` about
what a space is and this module about where its values sit in [0, 1]; ``hpopt.search_space`` documents
the rules (cells, centres, log-width weights).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .space_values import as_python_number, is_bad_number

__all__ = [
    "Grid",
    "make_grid",
    "CheckedSpace",
    "count_values",
    "in_range",
    "encode_index",
    "encode_number",
    "decode_unit",
    "unit_cell_edges",
]

# Relative slack when a value is tested against a range or a grid point (float round-off, not user error).
_REL_TOL = 1e-9
# Grid arithmetic runs in decimal so that 0.1 + 2 * 0.1 gives 0.3 and not 0.30000000000000004.
_DEC = decimal.Context(prec=50)
_DEC_TOL = decimal.Decimal("1e-9")


def _to_decimal(value: int | float) -> decimal.Decimal:
    # repr() of a float is the shortest string that round-trips: the number the user wrote.
    return decimal.Decimal(value) if isinstance(value, int) else decimal.Decimal(repr(value))


@dataclass(frozen=True)
class Grid:
    """The points lo + k*q, k = 0..k_max, of a quantized type; ints when lo and q are both ints."""

    lo: int | float
    hi: int | float
    q: int | float
    integer: bool
    dlo: decimal.Decimal
    dq: decimal.Decimal
    k_max: int

    def point(self, k: int) -> int | float:
        """Grid point k, computed in decimal so float grids carry no 0.30000000000000004 drift."""
        if self.integer:
            return self.lo + k * self.q
        value = float(_DEC.add(self.dlo, _DEC.multiply(decimal.Decimal(k), self.dq)))
        return min(value, float(self.hi))  # the 1e-9 tolerance in K may put the last point a hair above hi

    def index(self, value: Any) -> int | None:
        """Index of the grid point equal to ``value`` (within tolerance), or None if off the grid."""
        if is_bad_number(value):
            return None
        x = as_python_number(value)
        if self.integer and isinstance(x, int):
            k, rest = divmod(x - self.lo, self.q)
            return k if rest == 0 and 0 <= k <= self.k_max else None
        if not math.isfinite(x):
            return None
        k = math.floor((x - self.lo) / self.q + 0.5)
        k = min(max(k, 0), self.k_max)
        point = self.point(k)
        tol = _REL_TOL * self.q + 4 * math.ulp(max(abs(x), abs(point)))
        return k if abs(x - point) <= tol else None


def make_grid(lo: int | float, hi: int | float, q: int | float) -> Grid:
    """The grid of [lo, hi] with step q > 0; ``k_max`` may come out 0 (the caller decides if that is ok)."""
    dlo, dq = _to_decimal(lo), _to_decimal(q)
    ratio = _DEC.divide(_DEC.subtract(_to_decimal(hi), dlo), dq)
    k_max = int(_DEC.add(ratio, _DEC_TOL).to_integral_value(rounding=decimal.ROUND_FLOOR))
    integer = isinstance(lo, int) and isinstance(q, int)
    return Grid(lo=lo, hi=hi, q=q, integer=integer, dlo=dlo, dq=dq, k_max=k_max)


@dataclass(frozen=True)
class CheckedSpace:
    """A valid definition: the normalized range and what follows from it (made by ``space_parsing``).

    ``range`` holds plain python values. ``lo``/``hi`` are the bounds (choice: 0 and n - 1); ``grid`` is
    set for the quantized types, ``log_lo``/``log_hi`` for the log types (qloguniform: log of the last grid
    point), ``choices`` and ``index`` (strict key -> position) for choice.
    """

    kind: str
    range: list[Any]
    lo: int | float
    hi: int | float
    q: int | float | None = None
    base: int | float | None = None
    grid: Grid | None = None
    log_lo: float | None = None
    log_hi: float | None = None
    choices: list[Any] | None = None
    index: dict[Any, int] | None = None

    def legacy_attributes(self, name: str | None) -> dict[str, Any]:
        """The instance dict of the one-module SearchSpace (hpopt before the split), key order included.

        ``SearchSpace`` pickles this, so a pickle reads the same in either version.
        """
        state = {"_name": name, "_raw": (self.kind, self.range), "_type": self.kind, "_q": self.q,
                 "_base": self.base, "_choices": self.choices}
        if self.index is not None:
            state["_index"] = self.index
        state.update(_range=self.range, _lo=self.lo, _hi=self.hi)
        if self.log_lo is not None:
            state["_log_lo"] = self.log_lo
        if self.grid is not None:
            state.update(_integer=self.grid.integer, _dlo=self.grid.dlo, _dq=self.grid.dq, _k_max=self.grid.k_max)
        if self.log_hi is not None:
            state["_log_hi"] = self.log_hi
        return state


def count_values(spec: CheckedSpace) -> int | None:
    """Number of discrete values (grid points or choices); None for the continuous types."""
    if spec.choices is not None:
        return len(spec.choices)
    return spec.grid.k_max + 1 if spec.grid is not None else None


def in_range(spec: CheckedSpace, x: float) -> bool:
    """For the continuous types: finite x in [lo, hi] up to round-off (relative for loguniform)."""
    lo, hi = spec.lo, spec.hi
    if spec.log_lo is not None:
        return lo * (1 - _REL_TOL) <= x <= hi * (1 + _REL_TOL)
    tol = _REL_TOL * (hi - lo) + 4 * math.ulp(max(abs(lo), abs(hi)))
    return lo - tol <= x <= hi + tol


# ---------------------------------------------------------------- value -> u


def encode_index(spec: CheckedSpace, k: int) -> float:
    """u at the centre of discrete value k's cell (qloguniform: the centre in log space)."""
    if spec.kind == "qloguniform":
        centre = 0.5 * (_log_edge(spec, k) + _log_edge(spec, k + 1))
        return (centre - spec.log_lo) / (spec.log_hi - spec.log_lo)
    return (k + 0.5) / count_values(spec)


def encode_number(spec: CheckedSpace, x: float) -> float:
    """u of x for the continuous types, clipped to [0, 1]."""
    if spec.log_lo is not None:
        u = (math.log(x) - spec.log_lo) / (spec.log_hi - spec.log_lo)
    else:
        u = (x - spec.lo) / (spec.hi - spec.lo)
    return min(max(u, 0.0), 1.0)


# ---------------------------------------------------------------- u -> value


def decode_unit(spec: CheckedSpace, u: float) -> Any:
    """The value whose cell contains u in [0, 1] (choice: the stored value itself, not a copy)."""
    if spec.choices is not None:
        return spec.choices[_cell_of(u, len(spec.choices))]
    if spec.kind == "quniform":
        return spec.grid.point(_cell_of(u, spec.grid.k_max + 1))
    if spec.kind == "qloguniform":
        return spec.grid.point(_log_cell(spec, spec.log_lo + u * (spec.log_hi - spec.log_lo)))
    lo, hi = float(spec.lo), float(spec.hi)
    if u == 0.0 or u == 1.0:
        return lo if u == 0.0 else hi
    x = lo * math.exp(u * (spec.log_hi - spec.log_lo)) if spec.log_lo is not None else lo + u * (hi - lo)
    return min(max(x, lo), hi)


def unit_cell_edges(spec: CheckedSpace) -> np.ndarray | None:
    """Edges in u of each discrete value's cell (n + 1 of them); None for the continuous types."""
    n = count_values(spec)
    if n is None:
        return None
    if spec.kind == "qloguniform":
        span = spec.log_hi - spec.log_lo
        return np.array([(_log_edge(spec, k) - spec.log_lo) / span for k in range(n + 1)])
    return np.arange(n + 1, dtype=float) / n


def _cell_of(u: float, n: int) -> int:
    """Which of n equal cells of [0, 1] holds u; u = 1 belongs to the last."""
    return min(math.floor(u * n), n - 1)


def _log_edge(spec: CheckedSpace, k: int) -> float:
    """Left edge, in log space, of qloguniform cell k (cells split at midpoints between grid points).

    Cell 0 starts at log(lo) and cell K ends at log(last grid point); inside, the boundary between
    points g[k-1] and g[k] is log((g[k-1] + g[k]) / 2). Snapping a log-uniform draw on [lo, g[K]] to the
    nearest grid point therefore gives each point a probability proportional to its cell's log-width.
    """
    grid = spec.grid
    if k <= 0:
        return spec.log_lo
    if k > grid.k_max:
        return spec.log_hi
    return math.log((float(grid.point(k - 1)) + float(grid.point(k))) / 2.0)


def _log_cell(spec: CheckedSpace, t: float) -> int:
    """qloguniform cell containing log-space point ``t``: nearest grid point, then fixed up at edges."""
    grid = spec.grid
    guess = (math.exp(t) - grid.lo) / grid.q
    k = min(max(math.floor(guess + 0.5), 0), grid.k_max)
    while k < grid.k_max and t >= _log_edge(spec, k + 1):
        k += 1
    while k > 0 and t < _log_edge(spec, k):
        k -= 1
    return k
