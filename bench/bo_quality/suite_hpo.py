"""Real hyperparameter-optimization objectives of the suite, and a second mixed-space function.

* **Tabulated** (``table_digits``, ``table_mnist``): the project's tables ``bench/tabular/data/*.npz``
  (an MLP trained on every point of a 7-parameter grid, 2 seeds, 27 epochs; see bench/tabular/README.md),
  loaded with :class:`hpopt.adapters.table.Table`. The search space is the table's grid as
  ``Table.search_space()`` gives it (``quniform`` for an evenly spaced integer grid, else ``choice`` over
  the values), so every proposed point is a grid point; the objective is 1 - the final-epoch validation
  accuracy averaged over the table's seeds. Minimum: the best table entry (exact).
* **scikit-learn** (``svc_digits``, ``gb_wine``): cross-validated error, precomputed on a grid by
  ``make_ml_grids.py`` into ``data/ml_grids.json`` (one evaluation costs 0.1 to 2.5 s) and interpolated
  multilinearly along the continuous (log) axes; the integer parameters are on the grid exactly. A
  multilinear interpolant takes its extremes at grid vertices, so the minimum is the best grid value
  (exact for the interpolated objective; the true CV error between grid points may differ).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from functions import Param, Problem, mixed

HERE = Path(__file__).resolve().parent
TABLES = HERE.parent / "tabular" / "data"
ML_GRIDS = HERE / "data" / "ml_grids.json"


# --- tabulated benchmarks ---------------------------------------------------------------------------

def table_problem(dataset: str) -> Problem:
    from hpopt.adapters.table import Table

    table = Table.load(TABLES / f"{dataset}.npz")
    params = []
    for name, space in table.search_space().items():
        if space.is_choice:
            params.append(Param(name, "choice", choices=tuple(space.choices or ())))
        elif space.type == "quniform":
            params.append(Param(name, "qint", int(space.lower), int(space.upper), int(space.q or 1)))
        else:  # pragma: no cover - Table.search_space() gives only quniform and choice
            raise ValueError(f"{dataset}: unexpected table space {space.type} for {name}")
    final = 1.0 - table.val_acc[:, :, -1].astype(float).mean(axis=1)  # per config, seed-averaged

    def objective(x: Mapping[str, Any]) -> float:
        return float(final[table.index_of(dict(x))])

    best = int(np.argmin(final))
    argmin = {name: table.values[name][i] for name, i in zip(table.values, table.configs[best], strict=True)}
    return Problem(f"table_{dataset}", f"Tabulated MLP on {dataset} (7-D grid, {table.num_configs} configs)",
                   tuple(params), objective, float(final[best]), argmin,
                   min_source=f"exact: best of the {table.num_configs} table entries")


# --- scikit-learn objectives on precomputed grids ---------------------------------------------------

def _interpolator(axes: list[list[float]], values: np.ndarray) -> Any:
    from scipy.interpolate import RegularGridInterpolator

    return RegularGridInterpolator([np.asarray(a, dtype=float) for a in axes], values, method="linear")


def _grids() -> dict[str, Any]:
    if not ML_GRIDS.exists():
        raise FileNotFoundError(f"{ML_GRIDS} is missing: run bench/bo_quality/make_ml_grids.py")
    return json.loads(ML_GRIDS.read_text())


def svc_problem(grids: dict[str, Any]) -> Problem:
    g = grids["svc_digits"]
    axes = [g["axes"]["log10_C"], g["axes"]["log10_gamma"]]
    err = np.asarray(g["error"], dtype=float)
    interp = _interpolator(axes, err)
    params = (Param("C", "logfloat", 10.0 ** axes[0][0], 10.0 ** axes[0][-1]),
              Param("gamma", "logfloat", 10.0 ** axes[1][0], 10.0 ** axes[1][-1]))

    def objective(x: Mapping[str, Any]) -> float:
        pt = [min(max(math.log10(float(x["C"])), axes[0][0]), axes[0][-1]),
              min(max(math.log10(float(x["gamma"])), axes[1][0]), axes[1][-1])]
        return float(interp([pt])[0])

    i, j = np.unravel_index(int(np.argmin(err)), err.shape)
    return Problem("svc_digits", "SVC(C, gamma) on digits, 3-fold CV error (2-D, log axes)", params, objective,
                   float(err.min()), {"C": 10.0 ** axes[0][i], "gamma": 10.0 ** axes[1][j]},
                   min_source=f"exact for the interpolant: best of {err.size} precomputed grid points")


def gb_problem(grids: dict[str, Any]) -> Problem:
    g = grids["gb_wine"]
    a = g["axes"]
    axes = [a["n_estimators"], a["max_depth"], a["log10_learning_rate"], a["subsample"]]
    err = np.asarray(g["error"], dtype=float)
    interp = _interpolator(axes, err)
    n, d = a["n_estimators"], a["max_depth"]
    params = (Param("n_estimators", "qint", n[0], n[-1], n[1] - n[0]),
              Param("max_depth", "qint", d[0], d[-1], d[1] - d[0]),
              Param("learning_rate", "logfloat", 10.0 ** axes[2][0], 10.0 ** axes[2][-1]),
              Param("subsample", "float", axes[3][0], axes[3][-1]))

    def objective(x: Mapping[str, Any]) -> float:
        lr = min(max(math.log10(float(x["learning_rate"])), axes[2][0]), axes[2][-1])
        ss = min(max(float(x["subsample"]), axes[3][0]), axes[3][-1])
        return float(interp([[float(x["n_estimators"]), float(x["max_depth"]), lr, ss]])[0])

    idx = np.unravel_index(int(np.argmin(err)), err.shape)
    argmin = {"n_estimators": n[idx[0]], "max_depth": d[idx[1]], "learning_rate": 10.0 ** axes[2][idx[2]],
              "subsample": axes[3][idx[3]]}
    return Problem("gb_wine", "GradientBoosting on wine, 3-fold CV error (4-D: 2 int, log, float)", params,
                   objective, float(err.min()), argmin,
                   min_source=f"exact for the interpolant: best of {err.size} precomputed grid points")


# --- a wider mixed space ----------------------------------------------------------------------------

def mixed5(x: Mapping[str, Any]) -> float:
    """``mixed`` plus a log weight decay and an integer depth that interact; 0 at the point below.

    f = mixed(lr, bs, opt) + 0.4 (log10(wd) + 4.3 - 0.2 (depth - 5))^2 + 0.08 (depth - 5)^2, with wd
    log-uniform in [1e-6, 1e-2] and depth on 1..8: minimum 0 at adam, bs 96, lr 10^-3.2, wd 10^-4.3,
    depth 5.
    """
    depth = int(x["depth"])
    wd = float(x["wd"])
    return mixed(x) + 0.4 * (math.log10(wd) + 4.3 - 0.2 * (depth - 5)) ** 2 + 0.08 * (depth - 5) ** 2


def hpo_problems() -> dict[str, Problem]:
    out = {p.name: p for p in (table_problem("digits"), table_problem("mnist"))}
    grids = _grids()
    out["svc_digits"] = svc_problem(grids)
    out["gb_wine"] = gb_problem(grids)
    out["mixed5"] = Problem(
        "mixed5", "Mixed, wider (log lr, int bs, 3-way choice, log wd, int depth; 5-D)",
        (Param("lr", "logfloat", 1e-5, 1e-1), Param("bs", "qint", 8, 256, 8),
         Param("opt", "choice", choices=("sgd", "adam", "rmsprop")), Param("wd", "logfloat", 1e-6, 1e-2),
         Param("depth", "qint", 1, 8, 1)),
        mixed5, 0.0, {"lr": 10**-3.2, "bs": 96, "opt": "adam", "wd": 10**-4.3, "depth": 5},
    )
    return out
