"""Hyperparameter types, sampling, validation and the encoding to and from the unit box [0, 1]^d.

Every optimizer (random search, GP Bayesian optimization, ASHA) works in the unit box, so each
hyperparameter maps a value to a coordinate ``u`` in [0, 1] (``encode``) and any real ``u`` back to a
valid value (``decode``). The maps are built so that drawing ``u`` uniformly from [0, 1] and decoding it
gives the same distribution as ``sample``: an optimizer that explores the box evenly explores the prior.

Quantized types and ``choice`` split [0, 1] into one cell per value; ``encode`` returns the centre of the
value's cell and ``decode`` returns the value whose cell contains ``u``, so ``decode(encode(v)) == v``
holds exactly and a GP proposal anywhere in a cell maps to that cell's value.

``SearchSpace`` keeps the original hpopt call form ``hpopt.search_space(type, range)`` and its JSON
form ``{"type": ..., "range": [...]}`` (plus ``"choice_list"`` for choices), but fixes the original's
defects: quantized values are never rounded half-to-even off the grid, every choice is reachable, and a
quantized log-uniform space really has log-uniform weights.

This module is the public face; the work is split by job: ``space_parsing`` checks a definition and says
what is wrong with it, ``space_grid`` holds the grid and unit-box arithmetic, ``space_values`` how single
values are shown and compared, and ``space_params`` maps whole hyperparameter dicts to and from points.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .space_grid import count_values, decode_unit, encode_index, encode_number, in_range, unit_cell_edges
from .space_params import decode_params, encode_params, sample_params
from .space_parsing import (
    DEFAULT_BASE,
    SPACE_TYPES,
    check_name,
    check_rng,
    check_unit,
    location,
    lowered_range,
    parse_space,
    read_space_dict,
)
from .space_values import is_bad_number, json_value, show, strict_key

__all__ = [
    "SPACE_TYPES",
    "SearchSpace",
    "search_space",
    "normalize_space",
    "sample_params",
    "encode_params",
    "decode_params",
    "space_to_json",
    "space_from_json",
]


class SearchSpace:
    """One hyperparameter: its type, range and the maps between values and the unit interval.

    Types and their ``range``:

    - ``uniform [lo, hi]``: float in [lo, hi].
    - ``quniform [lo, hi, q]``: the grid lo + k*q (k = 0..K) inside [lo, hi], each point equally likely.
      If lo and q are both ``int``, values are ``int`` (batch sizes); otherwise floats.
    - ``loguniform [lo, hi(, base)]``: float in [lo, hi] with uniform density of log(x); lo > 0.
    - ``qloguniform [lo, hi, q(, base)]``: the grid of ``quniform`` with log-uniform weights; lo > 0. A draw
      is log-uniform on [lo, last grid point] snapped to the nearest grid point, so each point's weight is
      the log-width of its cell (cells split at midpoints; the first and last cells are half cells).
    - ``choice [v1, v2, ...]``: one of the JSON values, each equally likely.

    ``base`` is accepted only for compatibility with the original hpopt: it does NOT change the
    distribution, because log-uniform is base independent (log_b x = ln x / ln b, and the constant factor
    cancels when the interval is mapped to [0, 1]). Without it, ``base`` reports 2 but ``range`` stays
    as given.

    Instances are immutable; ``named`` and ``with_upper`` return new ones.
    """

    def __init__(self, type: str, range: Sequence[Any], name: str | None = None) -> None:
        self._name = check_name(name)
        self._spec = parse_space(type, range, self._name)

    def _where(self) -> str:
        """Error-message prefix: the hyperparameter's name if known, else the call that built it."""
        return location(self._name, self._spec.kind, self._spec.range)

    # ------------------------------------------------------------------ public attributes

    @property
    def type(self) -> str:
        """One of ``SPACE_TYPES``: uniform, quniform, loguniform, qloguniform, choice."""
        return self._spec.kind

    @property
    def range(self) -> list[Any]:
        """A copy of the normalized range; changing it cannot change the space."""
        return copy.deepcopy(self._spec.range)

    @property
    def name(self) -> str | None:
        """The hyperparameter's name once the space is part of a search space (None before)."""
        return self._name

    @property
    def lower(self) -> int | float:
        """Smallest value (choice: index 0)."""
        if self._spec.grid is not None:
            return self._spec.grid.point(0)
        return self._spec.lo if self.is_choice else float(self._spec.lo)

    @property
    def upper(self) -> int | float:
        """Largest value: the last grid point for quantized types (choice: index n - 1)."""
        if self._spec.grid is not None:
            return self._spec.grid.point(self._spec.grid.k_max)
        return self._spec.hi if self.is_choice else float(self._spec.hi)

    @property
    def q(self) -> int | float | None:
        """The grid step of the quantized types (None for the others)."""
        return self._spec.q

    @property
    def base(self) -> float | None:
        """The log base given (2 if none was); informational only, it does not change the distribution."""
        if not self.is_log:
            return None
        return float(self._spec.base) if self._spec.base is not None else DEFAULT_BASE

    @property
    def choices(self) -> list[Any] | None:
        """A copy of a choice's values (None for the numeric types)."""
        return copy.deepcopy(self._spec.choices)

    @property
    def is_log(self) -> bool:
        return self._spec.kind in ("loguniform", "qloguniform")

    @property
    def is_quantized(self) -> bool:
        return self._spec.kind in ("quniform", "qloguniform")

    @property
    def is_choice(self) -> bool:
        return self._spec.kind == "choice"

    @property
    def is_integer(self) -> bool:
        """True when values are python ints: quantized with int lo and int q."""
        return self._spec.grid is not None and self._spec.grid.integer

    @property
    def num_values(self) -> int | None:
        """Number of distinct values (grid points or choices); None for continuous types."""
        return count_values(self._spec)

    # ------------------------------------------------------------------ copies

    def named(self, name: str) -> SearchSpace:
        """Copy with ``name`` set, so later error messages say which hyperparameter is wrong."""
        return SearchSpace(self._spec.kind, self._spec.range, name=name)

    def with_upper(self, new_upper: float) -> SearchSpace:
        """Copy with the upper bound lowered to ``new_upper`` (e.g. after CUDA OOM on a batch size).

        Only for ``uniform`` and the quantized types; raises ValueError when the bound cannot shrink that
        far (below ``lower``, or leaving a single grid point) so the caller can stop retrying.
        """
        rng = lowered_range(self._spec, new_upper, self.lower, self._where)
        try:
            return SearchSpace(self._spec.kind, rng, name=self._name)
        except ValueError:
            raise ValueError(
                f"{self._where()}: upper bound cannot shrink further: new_upper={rng[1]!r} would leave only "
                f"the single value {self.lower!r} in {show(rng)}"
            ) from None

    # ------------------------------------------------------------------ sampling and encoding

    def sample(self, rng: np.random.Generator) -> Any:
        """One value from the prior: python int/float, or the choice value itself."""
        check_rng(rng)
        spec = self._spec
        if self.is_choice:
            return copy.deepcopy(spec.range[int(rng.integers(len(spec.range)))])
        if spec.kind == "quniform" and spec.grid.k_max < 2**62:
            return spec.grid.point(int(rng.integers(spec.grid.k_max + 1)))
        # For the other types decoding a uniform u is exactly the prior (see the module docstring).
        return self.decode(float(rng.random()))

    def _choice_index(self, value: Any) -> int | None:
        """Position of ``value`` among the choices (True is not 1, 1 is not 1.0), or None."""
        try:
            return self._spec.index.get(strict_key(json_value(value)))
        except (TypeError, ValueError):
            return None

    def contains(self, value: Any) -> bool:
        """True if ``value`` is a valid value: in range and on the grid (1e-9 relative), or a choice."""
        if self.is_choice:
            return self._choice_index(value) is not None
        if self._spec.grid is not None:
            return self._spec.grid.index(value) is not None
        if is_bad_number(value):
            return False
        x = float(value)
        return math.isfinite(x) and in_range(self._spec, x)

    def _outside(self, value: Any) -> ValueError:
        spec = self._spec
        if self.is_choice:
            allowed = f"one of {show(spec.range)}"
        elif self.is_quantized:
            allowed = f"on the grid {spec.lo!r} + k*{spec.q!r} from {self.lower!r} to {self.upper!r}"
        else:
            allowed = f"a number in [{spec.lo!r}, {spec.hi!r}]"
        return ValueError(f"{self._where()}: value {show(value)} is not in this space; it must be {allowed}")

    def encode(self, value: Any) -> float:
        """Map a valid value to u in [0, 1] (cell centre for discrete types); ValueError if not valid."""
        if self.is_choice or self.is_quantized:
            k = self._choice_index(value) if self.is_choice else self._spec.grid.index(value)
            if k is None:
                raise self._outside(value)
            return encode_index(self._spec, k)
        if not self.contains(value):
            raise self._outside(value)
        return encode_number(self._spec, float(value))

    def cell_edges(self) -> np.ndarray | None:
        """The u-interval of each discrete value: ``edges[k] <= u < edges[k + 1]`` decodes to value k.

        None for the continuous types. A model that optimizes over the unit box can snap a point to
        ``encode(decode(u))`` with these, vectorised: the centre of its cell (the midpoint of the two
        edges, which is what ``encode`` gives). Needs one array entry per value, so only call it on a
        space whose ``num_values`` is of a size you are willing to hold.
        """
        return unit_cell_edges(self._spec)

    def decode(self, u: float) -> Any:
        """Map any real u (clipped to [0, 1]) to a valid value; ValueError for NaN."""
        value = decode_unit(self._spec, check_unit(u, self._where))
        return copy.deepcopy(value) if self.is_choice else value

    # ------------------------------------------------------------------ JSON form

    def to_dict(self) -> dict[str, Any]:
        """JSON form as the original stored it; choices keep the original ``range: [0, n]`` layout."""
        if self.is_choice:
            return {"type": "choice", "range": [0, len(self._spec.range)], "choice_list": self.range}
        return {"type": self._spec.kind, "range": self.range}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> SearchSpace:
        """Inverse of ``to_dict``; also reads ``{"type": "choice", "range": [v1, v2]}`` (no choice_list)."""
        kind, rng = read_space_dict(d, name)
        return cls(kind, rng, name=name)

    # ------------------------------------------------------------------ comparison and pickling

    def _key(self) -> tuple[Any, ...]:
        if self.is_choice:
            return ("choice", strict_key(self._spec.range))
        return (self._spec.kind, self.is_integer, tuple(self._spec.range))

    def __eq__(self, other: object) -> bool:
        """Same type and range (numbers compared by value, choices by type and value); name ignored."""
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        named = f", name={self._name!r}" if self._name is not None else ""
        return f"SearchSpace({self._spec.kind!r}, {self._spec.range!r}{named})"

    def __getstate__(self) -> dict[str, Any]:
        """The attributes the one-module SearchSpace pickled, so pickles read the same in either version."""
        return self._spec.legacy_attributes(self._name)

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        """Rebuild from the pickled type, range and name (derived fields are recomputed, not trusted)."""
        self._name = state["_name"]
        self._spec = parse_space(state["_type"], state["_range"], self._name)


def normalize_space(space: Mapping[str, Any]) -> dict[str, SearchSpace]:
    """Validate a user's search space for create(); returns a new dict of named copies in key order.

    Values may be ``SearchSpace`` objects or dicts ``{"type", "range"}`` as read from JSON files.
    """
    if not isinstance(space, Mapping):
        raise TypeError(
            f"search space must be a dict of name -> search_space(...), got {show(space)} "
            f"({type(space).__name__})"
        )
    if len(space) == 0:
        raise ValueError(
            "search space is empty; give at least one hyperparameter, e.g. "
            "{'lr': search_space('loguniform', [1e-4, 1e-1])}"
        )
    out: dict[str, SearchSpace] = {}
    for key, value in space.items():
        if not isinstance(key, str):
            raise TypeError(
                f"search space keys must be str hyperparameter names, got {show(key)} "
                f"({type(key).__name__})"
            )
        if not key:
            raise ValueError("search space keys must be non-empty hyperparameter names, got ''")
        if isinstance(value, SearchSpace):
            out[key] = value.named(key)
        elif isinstance(value, Mapping):
            out[key] = SearchSpace.from_dict(value, name=key)
        else:
            raise TypeError(
                f"search space {key!r}: expected search_space(type, range) or a dict "
                f"{{'type': ..., 'range': [...]}}, got {show(value)} ({type(value).__name__})"
            )
    return out


def space_to_json(space: Mapping[str, SearchSpace]) -> dict[str, dict[str, Any]]:
    """``{name: to_dict()}``, the form stored in the JSON state files."""
    return {name: sp.to_dict() for name, sp in space.items()}


def space_from_json(d: Mapping[str, Mapping[str, Any]]) -> dict[str, SearchSpace]:
    """Inverse of ``space_to_json``: named ``SearchSpace`` objects in the stored key order."""
    return normalize_space(d)


# Compatibility with the original API: ``hpopt.search_space(type, range)``.
search_space = SearchSpace
