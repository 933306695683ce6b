"""Train every configuration of a grid for each seed and save the learning curves as a simulator table."""

from __future__ import annotations

import itertools
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hpopt.adapters.table import Table

Curve = Callable[[dict[str, Any], int, Any], tuple[list[float], list[float], list[float]]]


def tabulate(grid: dict[str, list[Any]], curve: Curve, data: Any, meta: dict[str, Any], out: str, *,
             seeds: int, epochs: int, label: str = "") -> None:
    """``curve(params, seed, data)`` gives per epoch the validation accuracy, the training loss (or error)
    and the elapsed seconds; ``meta`` (dataset, model, command) gains the grid, sizes, machine and time."""
    names = list(grid)
    configs = list(itertools.product(*(range(len(grid[n])) for n in names)))
    acc = np.zeros((len(configs), seeds, epochs), dtype=np.float32)
    loss, elapsed = np.zeros_like(acc), np.zeros_like(acc)
    started = time.perf_counter()
    for i, row in enumerate(configs):
        params = {n: grid[n][j] for n, j in zip(names, row, strict=True)}
        for s in range(seeds):
            acc[i, s], loss[i, s], elapsed[i, s] = curve(params, s, data)
        if i % 50 == 0:
            print(f"{label}{i}/{len(configs)} configs, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    meta = {**meta, "grid": grid, "epochs": epochs, "seeds": seeds, "machine": platform.platform(),
            "seconds": round(time.perf_counter() - started, 1)}
    Table(values=dict(grid), configs=np.array(configs), val_acc=acc, train_loss=loss, elapsed=elapsed,
          meta=meta).save(out)
    print(f"wrote {out}", file=sys.stderr)
