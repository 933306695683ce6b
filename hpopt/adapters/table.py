"""A tabulated benchmark: per configuration of a grid, per seed and per epoch, what training produced.

The simulator replays such a table instead of training. The file is a numpy ``.npz`` archive:

* ``param_names`` (str, P) and, per parameter, ``values__{name}`` (the grid's values, sorted);
* ``configs`` (int, C x P): each configuration as indices into its parameters' values;
* ``val_acc``, ``train_loss`` (float32, C x S x E): per configuration, seed and epoch;
* ``elapsed`` (float32, C x S x E): seconds from the start of training to the end of each epoch;
* ``meta`` (a JSON string): where the table came from (data set, command, machine, duration).

The search space of a table is its grid (:meth:`Table.search_space`): a ``quniform`` parameter where the
values are an evenly spaced run, else a ``choice``; so every config an optimizer proposes is a grid point.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..search_space import SearchSpace, search_space

METRICS = ("val_acc", "train_loss", "elapsed")


@dataclass
class Table:
    """A grid of configurations and their learning curves (see the module doc for the arrays)."""

    values: dict[str, list[Any]]
    configs: np.ndarray
    val_acc: np.ndarray
    train_loss: np.ndarray
    elapsed: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.configs = np.asarray(self.configs, dtype=np.int64)
        c, p = self.configs.shape
        if p != len(self.values):
            raise ValueError(f"configs has {p} columns but the table names {len(self.values)} parameters")
        for name, column in zip(self.values, self.configs.T, strict=True):
            if column.min(initial=0) < 0 or column.max(initial=0) >= len(self.values[name]):
                raise ValueError(f"configs indexes values of {name!r} outside its {len(self.values[name])} values")
        for metric in METRICS:
            arr = np.asarray(getattr(self, metric), dtype=np.float32)
            if arr.ndim != 3 or arr.shape[0] != c:
                raise ValueError(f"{metric} must be configs x seeds x epochs ({c} x S x E), got {arr.shape}")
            setattr(self, metric, arr)
        if not self.val_acc.shape == self.train_loss.shape == self.elapsed.shape:
            raise ValueError("val_acc, train_loss and elapsed must have the same shape")
        self._index = {tuple(row): i for i, row in enumerate(self.configs.tolist())}
        if len(self._index) != c:
            raise ValueError("configs holds the same configuration twice")
        self._lookup = {name: {_key(v): i for i, v in enumerate(vals)} for name, vals in self.values.items()}

    # --- shape -----------------------------------------------------------------------------------

    @property
    def num_configs(self) -> int:
        return int(self.configs.shape[0])

    @property
    def num_seeds(self) -> int:
        return int(self.val_acc.shape[1])

    @property
    def num_epochs(self) -> int:
        return int(self.val_acc.shape[2])

    def best_score(self, epochs: int | None = None) -> float:
        """Best seed-averaged validation accuracy at the last (or the given) epoch: regret's reference."""
        e = self.num_epochs if epochs is None else int(epochs)
        return float(self.val_acc[:, :, e - 1].mean(axis=1).max())

    # --- the grid as a search space ---------------------------------------------------------------

    def search_space(self) -> dict[str, SearchSpace]:
        """quniform for an evenly spaced numeric grid (integers), else choice over the values."""
        out: dict[str, SearchSpace] = {}
        for name, vals in self.values.items():
            out[name] = _grid_space(vals)
        return out

    def index_of(self, params: Mapping[str, Any]) -> int:
        """Row of the configuration ``params``; an error names the first parameter that does not fit."""
        row = []
        for name in self.values:
            if name not in params:
                raise ValueError(f"config lacks the table's parameter {name!r}")
            i = self._lookup[name].get(_key(params[name]))
            if i is None:
                raise ValueError(f"{name}={params[name]!r} is not in the table (its values: {self.values[name]})")
            row.append(i)
        extra = set(params) - set(self.values)
        if extra:
            raise ValueError(f"config has parameters the table does not know: {sorted(extra)}")
        found = self._index.get(tuple(row))
        if found is None:
            raise ValueError(f"the combination {dict(params)} is not a row of the table")
        return found

    # --- files -----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        arrays: dict[str, Any] = {"param_names": np.array(list(self.values)), "configs": self.configs,
                                  "meta": np.array(json.dumps(self.meta))}
        for name, vals in self.values.items():
            arrays[f"values__{name}"] = np.array(vals)
        for metric in METRICS:
            arrays[metric] = getattr(self, metric)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Table:
        with np.load(path, allow_pickle=False) as data:
            names = [str(n) for n in data["param_names"]]
            values = {n: [_plain(v) for v in data[f"values__{n}"].tolist()] for n in names}
            return cls(values=values, configs=data["configs"], val_acc=data["val_acc"],
                       train_loss=data["train_loss"], elapsed=data["elapsed"],
                       meta=json.loads(str(data["meta"])) if "meta" in data else {})


def _plain(v: Any) -> Any:
    """numpy scalars to JSON-friendly Python values; integral floats stay floats (grids keep their type)."""
    return v.item() if hasattr(v, "item") else v


def _key(v: Any) -> Any:
    """Lookup key: numbers compare by value (64 == 64.0), strings by themselves."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return ("s", str(v))
    return ("n", round(float(v), 12))


def _grid_space(vals: Sequence[Any]) -> SearchSpace:
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    if numeric and len(vals) >= 2 and all(float(v).is_integer() for v in vals):
        steps = {round(float(b) - float(a), 9) for a, b in zip(vals, vals[1:], strict=False)}
        if len(steps) == 1:
            q = steps.pop()
            lo, hi = int(vals[0]), int(vals[-1])
            return search_space("quniform", [lo, hi, int(q)])
    if numeric and any(not math.isfinite(float(v)) for v in vals):
        raise ValueError(f"a table grid holds a non-finite value: {list(vals)}")
    return search_space("choice", list(vals))
