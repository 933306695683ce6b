"""Synthetic test problems with known global minima, in one neutral search-space description.

Each problem is a list of parameters plus an objective that takes a dict of native values (floats, ints,
strings) and returns the value to MINIMIZE. The contenders' adapters translate the parameter list into
their own space types; the objective never sees anything library-specific.

Parameter kinds:

- ``float``:  uniform real in [lo, hi]
- ``logfloat``: real in [lo, hi], searched on a log scale
- ``qint``:  integer on the grid lo, lo + q, ..., hi
- ``choice``: one of a list of values (strings, or the numbers of a tabulated grid)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "logfloat" | "qint" | "choice"
    lo: float = 0.0
    hi: float = 1.0
    q: int = 1
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("float", "logfloat", "qint", "choice"):
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice parameter {self.name!r} needs choices")
        if self.kind == "qint" and (self.hi - self.lo) % self.q:
            raise ValueError(f"qint parameter {self.name!r}: range must be a multiple of q")

    def snap(self, value: Any) -> Any:
        """Bring a value an optimizer returned onto this parameter's domain (grid / bounds / choice)."""
        if self.kind == "choice":
            if value in self.choices:
                return self.choices[self.choices.index(value)]
            for c in self.choices:  # e.g. a library that hands numeric categories back as strings
                if str(c) == str(value):
                    return c
            raise ValueError(f"{self.name}: {value!r} is not one of {self.choices}")
        v = float(value)
        if self.kind == "qint":
            k = round((v - self.lo) / self.q)
            k = min(max(k, 0), int((self.hi - self.lo) // self.q))
            return int(self.lo + k * self.q)
        return min(max(v, self.lo), self.hi)


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    params: tuple[Param, ...]
    objective: Callable[[Mapping[str, Any]], float]
    optimum: float
    argmin: dict[str, Any] = field(default_factory=dict)
    # Suite tags (suite.py): family, half ("dev" / "heldout") and how the minimum is known.
    family: str = ""
    split: str = ""
    min_source: str = "known analytically"
    # Standard deviation of the Gaussian noise the harness adds to each observed value (0: noiseless).
    # The objective itself stays noiseless; regret is measured on it (see run.py).
    noise_sd: float = 0.0

    @property
    def dims(self) -> int:
        return len(self.params)

    def __call__(self, params: Mapping[str, Any]) -> float:
        missing = {p.name for p in self.params} - set(params)
        if missing:
            raise ValueError(f"{self.name}: missing parameters {sorted(missing)}")
        return float(self.objective({p.name: p.snap(params[p.name]) for p in self.params}))


# --- Branin -----------------------------------------------------------------------------------------

def branin(x: Mapping[str, Any]) -> float:
    """Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; three global minima, f* = 0.397887."""
    x1, x2 = float(x["x1"]), float(x["x2"])
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


# --- Hartmann-6 -------------------------------------------------------------------------------------

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
])
_H6_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])


def hartmann6(x: Mapping[str, Any]) -> float:
    """Hartmann-6 on [0, 1]^6; f* = -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)."""
    v = np.array([float(x[f"x{i}"]) for i in range(1, 7)])
    inner = np.sum(_H6_A * (v - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


# --- Rosenbrock-4 -----------------------------------------------------------------------------------

def rosenbrock4(x: Mapping[str, Any]) -> float:
    """Rosenbrock in 4-D on [-5, 10]^4; f* = 0 at (1, 1, 1, 1)."""
    v = [float(x[f"x{i}"]) for i in range(1, 5)]
    return float(sum(100 * (v[i + 1] - v[i] ** 2) ** 2 + (1 - v[i]) ** 2 for i in range(3)))


# --- Mixed ------------------------------------------------------------------------------------------

# Per optimizer: (best log10(lr) at bs = 96, floor of the loss)
_MIXED_OPT = {"sgd": (-1.5, 0.6), "adam": (-3.2, 0.0), "rmsprop": (-2.5, 0.3)}
_MIXED_BS0 = 96


def mixed(x: Mapping[str, Any]) -> float:
    """A training-loss-like surface over a log-scale float, a quantized integer and a 3-way choice.

    Parameters: ``lr`` log-uniform in [1e-5, 1e-1], ``bs`` on the grid 8, 16, ..., 256 and
    ``opt`` in {"sgd", "adam", "rmsprop"}. With ``(c_opt, d_opt)`` =
    sgd: (-1.5, 0.6), adam: (-3.2, 0.0), rmsprop: (-2.5, 0.3), and ``b = log2(bs / 96)``::

        f = d_opt + (log10(lr) - c_opt - 0.3 * b) ** 2 + 0.5 * b ** 2

    The best learning rate grows with the batch size (the ``0.3 * b`` shift, a linear-scaling-rule-like
    interaction), each optimizer has its own best learning rate and its own floor ``d_opt``. The global
    minimum is f* = 0 at opt = "adam", bs = 96 (on the grid), lr = 10 ** -3.2 (about 6.31e-4); the best
    sgd and rmsprop points are local minima at 0.6 and 0.3.
    """
    lr, bs, opt = float(x["lr"]), int(x["bs"]), str(x["opt"])
    c, d = _MIXED_OPT[opt]
    b = math.log2(bs / _MIXED_BS0)
    return d + (math.log10(lr) - c - 0.3 * b) ** 2 + 0.5 * b**2


PROBLEMS: dict[str, Problem] = {
    "branin": Problem(
        "branin", "Branin (2-D)",
        (Param("x1", "float", -5.0, 10.0), Param("x2", "float", 0.0, 15.0)),
        branin, 0.39788735772973816, {"x1": math.pi, "x2": 2.275},
    ),
    "hartmann6": Problem(
        "hartmann6", "Hartmann-6 (6-D)",
        tuple(Param(f"x{i}", "float", 0.0, 1.0) for i in range(1, 7)),
        hartmann6, -3.3223680114155116,
        {"x1": 0.20168952, "x2": 0.15001069, "x3": 0.47687398, "x4": 0.27533243, "x5": 0.31165162,
         "x6": 0.65730054},
    ),
    "rosenbrock4": Problem(
        "rosenbrock4", "Rosenbrock (4-D, [-5, 10]^4)",
        tuple(Param(f"x{i}", "float", -5.0, 10.0) for i in range(1, 5)),
        rosenbrock4, 0.0, {f"x{i}": 1.0 for i in range(1, 5)},
    ),
    "mixed": Problem(
        "mixed", "Mixed (log float, quantized int, 3-way choice)",
        (Param("lr", "logfloat", 1e-5, 1e-1), Param("bs", "qint", 8, 256, 8),
         Param("opt", "choice", choices=("sgd", "adam", "rmsprop"))),
        mixed, 0.0, {"lr": 10**-3.2, "bs": 96, "opt": "adam"},
    ),
}
