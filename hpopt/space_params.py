"""Whole hyperparameter dicts and points of the unit box: one draw, ``{name: value}`` -> u, u -> values.

These work over an already normalized ``{name: SearchSpace}`` (see ``hpopt.search_space.normalize_space``)
and only call each space's own ``sample``/``encode``/``decode``; what they add is the key order (the
space's), the check that a dict has exactly the space's names, and the hyperparameter's name in errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .space_parsing import check_rng
from .space_values import show

if TYPE_CHECKING:  # only for the annotations: search_space imports this module
    from .search_space import SearchSpace

__all__ = ["sample_params", "check_keys", "encode_params", "decode_params"]


def sample_params(space: Mapping[str, SearchSpace], rng: np.random.Generator) -> dict[str, Any]:
    """One draw of every hyperparameter from its prior, in the space's key order."""
    check_rng(rng)
    return {name: sp.sample(rng) for name, sp in space.items()}


def check_keys(space: Mapping[str, SearchSpace], params: Mapping[str, Any]) -> None:
    """ValueError naming the missing and unknown names unless ``params`` has exactly the space's names."""
    missing = [k for k in space if k not in params]
    extra = [k for k in params if k not in space]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unknown {extra}")
        raise ValueError(
            f"hyperparameters do not match the search space: {'; '.join(parts)} "
            f"(search space has {list(space)})"
        )


def encode_params(space: Mapping[str, SearchSpace], params: Mapping[str, Any]) -> np.ndarray:
    """Point of the unit box for ``params``: shape (d,), in the space's key order."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> value, got {show(params)}")
    check_keys(space, params)
    out = np.empty(len(space), dtype=float)
    for i, (name, sp) in enumerate(space.items()):
        try:
            out[i] = sp.encode(params[name])
        except ValueError as err:
            if sp.name is not None:
                raise
            raise ValueError(f"hyperparameter {name!r}: {err}") from None
    return out


def decode_params(space: Mapping[str, SearchSpace], u: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Valid hyperparameters for the unit-box point ``u`` (any reals; clipped to the box)."""
    point = np.asarray(u, dtype=float)
    if point.shape != (len(space),):
        raise ValueError(
            f"point has shape {point.shape}, but the search space has {len(space)} hyperparameters "
            f"{list(space)}; expected shape ({len(space)},)"
        )
    out: dict[str, Any] = {}
    for (name, sp), x in zip(space.items(), point, strict=True):
        try:
            out[name] = sp.decode(float(x))
        except ValueError as err:
            if sp.name is not None:
                raise
            raise ValueError(f"hyperparameter {name!r}: {err}") from None
    return out
