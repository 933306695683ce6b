"""How the GP sees the search space: a unit box built from the ORIGINAL space's encoding.

Log types sit on a log scale and quantized types at the centre of their grid cell. Choices: a choice
among numbers only (e.g. learning rates [1e-4, 1e-3, 1e-2]) is ordered, so it is one coordinate, the
centre of its sorted rank's cell, (rank + 0.5)/n; a choice of two values is one coordinate, (i + 0.5)/2;
any other choice (strings or mixed JSON values, three or more) is one-hot, one coordinate per value,
decoded to the largest, so no false order is imposed on unordered categories. So string (or any JSON)
choices work, and the GP never sees a value outside [0, 1].

Snapping: the acquisition is maximised over points the search can really issue. ``snap`` moves a point
to ``encode(decode(u))`` (a grid cell's or ordered choice's centre, a one-hot vector). Scored between grid
points instead, the UCB's maximum sits where the GP is unsure only because nothing can be observed there,
decodes to a neighbour already tried, and the run re-issues the same configs instead of learning.

A CUDA OOM shrinks a batch size's upper bound; the box keeps the original encoding (so observations stay
where they were) and ``upper`` caps that coordinate below 1.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..search_space import SearchSpace, decode_params

MAX_SNAP_CELLS = 1 << 16  # grids finer than this are treated as continuous by the acquisition search


class GpBox:
    """Encode, decode and snap configs of one original search space in the GP's unit box."""

    def __init__(self, original_space: Mapping[str, SearchSpace]) -> None:
        self.space = dict(original_space)

    @functools.cached_property
    def ordered_choices(self) -> dict[str, list[Any]]:
        """Choices among numbers only (e.g. [1e-4, 1e-3, 1e-2]): one ordinal coordinate, by sorted rank."""
        out: dict[str, list[Any]] = {}
        for name, sp in self.space.items():
            if sp.is_choice and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sp.range):
                out[name] = sorted(sp.range)
        return out

    @functools.cached_property
    def widths(self) -> list[int]:
        """GP coordinates per parameter: one, or one per value (one-hot) for a choice of three or more
        values that are not all numbers."""
        return [sp.num_values if sp.is_choice and sp.num_values > 2 and name not in self.ordered_choices else 1
                for name, sp in self.space.items()]

    @property
    def dims(self) -> int:
        return sum(self.widths)

    def upper(self, current: Mapping[str, SearchSpace]) -> np.ndarray:
        """Per-coordinate upper bound of the box: below 1 where a CUDA OOM shrank a batch size."""
        ub: list[float] = []
        for (name, sp), width in zip(self.space.items(), self.widths, strict=True):
            now = current[name]
            ub.extend([1.0] * width if width > 1 else [sp.encode(now.upper) if now != sp else 1.0])
        return np.array(ub)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        out: list[float] = []
        for (name, sp), width in zip(self.space.items(), self.widths, strict=True):
            if name in self.ordered_choices:
                order = self.ordered_choices[name]
                out.append((order.index(params[name]) + 0.5) / len(order))
            elif width > 1:
                hot = [0.0] * width
                hot[int(sp.encode(params[name]) * width)] = 1.0
                out.extend(hot)
            else:
                out.append(sp.encode(params[name]))
        return np.array(out)

    @functools.cached_property
    def _snap_cells(self) -> list[tuple[int, int, np.ndarray | None]]:
        """(first coordinate, width, cell edges) of each parameter the acquisition must snap: choices and
        discrete types on one coordinate (edges; an ordered choice's rank cells are the choice's own equal
        cells), one-hot choices (edges None)."""
        out: list[tuple[int, int, np.ndarray | None]] = []
        i = 0
        for sp, width in zip(self.space.values(), self.widths, strict=True):
            if width > 1:
                out.append((i, width, None))
            elif sp.is_choice or (sp.num_values is not None and sp.num_values <= MAX_SNAP_CELLS):
                out.append((i, 1, sp.cell_edges()))
            i += width
        return out

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Points of the box moved to the encoding of the config they decode to (vectorised)."""
        points = np.array(points, dtype=float)
        rows = np.arange(len(points))
        for i, width, edges in self._snap_cells:
            if edges is None:
                hot = np.argmax(points[:, i:i + width], axis=1)
                points[:, i:i + width] = 0.0
                points[rows, i + hot] = 1.0
            else:
                cell = np.clip(np.searchsorted(edges, points[:, i], side="right") - 1, 0, len(edges) - 2)
                points[:, i] = 0.5 * (edges[cell] + edges[cell + 1])
        return points

    def decode(self, u: np.ndarray, current: Mapping[str, SearchSpace]) -> dict[str, Any]:
        """Params for a point of the box (one-hot slices decode to their largest coordinate), inside the
        ``current`` (possibly OOM-shrunk) space."""
        u = np.minimum(u, self.upper(current))
        params: dict[str, Any] = {}
        i = 0
        for (name, sp), width in zip(self.space.items(), self.widths, strict=True):
            if name in self.ordered_choices:
                order = self.ordered_choices[name]
                params[name] = order[min(len(order) - 1, max(0, int(float(u[i]) * len(order))))]
            elif width > 1:
                params[name] = sp.decode((int(np.argmax(u[i:i + width])) + 0.5) / width)
            else:
                params[name] = sp.decode(float(u[i]))
            i += width
        for name, value in params.items():  # guard: stay inside shrunk bounds whatever the rounding
            if not current[name].contains(value):
                params[name] = current[name].decode(1.0)
        return params

    def decode_unit(self, u: np.ndarray, current: Mapping[str, SearchSpace]) -> dict[str, Any]:
        """Params for a point of the plain unit box (one coordinate per parameter): the initial design."""
        return self.decode(self.encode(decode_params(self.space, u)), current)
