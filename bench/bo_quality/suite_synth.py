"""Synthetic problems of the suite: vector functions on boxes, shifted and rotated with fixed seeds.

Every function here is written for a vector ``z`` with its global minimum at a known point; a problem
evaluates it at ``z = R (x - s)`` (rotation ``R``, shift ``s``) or ``z = x - s``, both drawn once from
``numpy.random.default_rng(<fixed seed>)``, so the minimum value is unchanged and its location is neither
the box centre nor a corner. Shifts are drawn per coordinate in ``[-0.6, -0.2] u [0.2, 0.6]`` of the half
width of the box (so every coordinate of the argmin lies 20 % to 80 % of the way from the centre to
a face), with a random sign.

Problems are built by :func:`vector_problem`; ``suite.py`` lists them and tags family and split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from functions import Param, Problem

VecFn = Callable[[np.ndarray], float]


def shift_vector(dims: int, half_width: float, seed: int) -> np.ndarray:
    """A fixed shift: per coordinate 0.2 to 0.6 of the half width, random sign (seeded)."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(0.2, 0.6, dims) * half_width
    return mag * rng.choice([-1.0, 1.0], dims)


def rotation(dims: int, seed: int) -> np.ndarray:
    """A fixed random orthogonal matrix (QR of a seeded Gaussian matrix, signs fixed)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dims, dims)))
    return q * np.sign(np.diag(r))


def vector_problem(name: str, title: str, fn: VecFn, dims: int, lo: float, hi: float, optimum: float,
                   argmin: np.ndarray, *, shift_seed: int | None = None, rotate_seed: int | None = None,
                   **tags: Any) -> Problem:
    """A problem on [lo, hi]^dims from ``fn(z)``; with a shift seed, z = R (x - s) (R = I unless rotated).

    ``argmin`` is the minimizer of ``fn`` itself (in z); the problem's argmin is moved with the shift.
    """
    names = [f"x{i}" for i in range(1, dims + 1)]
    centre = 0.5 * (lo + hi)
    s = shift_vector(dims, 0.5 * (hi - lo), shift_seed) if shift_seed is not None else None
    rot = rotation(dims, rotate_seed) if rotate_seed is not None else None
    if s is not None:
        # minimum of fn(R (x - c - s) + z*) is at x = c + s, with value fn(z*)
        offset = centre + s
        x_star = offset
    else:
        offset = None
        x_star = np.asarray(argmin, dtype=float)
    z_star = np.asarray(argmin, dtype=float)

    def objective(x: Mapping[str, Any]) -> float:
        v = np.array([float(x[n]) for n in names])
        if offset is not None:
            d = v - offset
            if rot is not None:
                d = rot @ d
            v = d + z_star
        return float(fn(v))

    params = tuple(Param(n, "float", lo, hi) for n in names)
    return Problem(name, title, params, objective, float(optimum),
                   {n: float(x) for n, x in zip(names, x_star, strict=True)}, **tags)


# --- the functions (minimum value / location in the docstrings) -------------------------------------

def sphere(z: np.ndarray) -> float:
    """sum z_i^2; 0 at 0."""
    return float(np.sum(z**2))


def ellipsoid(cond: float) -> VecFn:
    """sum cond^((i-1)/(d-1)) z_i^2; 0 at 0. Condition number ``cond``."""

    def f(z: np.ndarray) -> float:
        w = cond ** (np.arange(len(z)) / max(len(z) - 1, 1))
        return float(np.sum(w * z**2))

    return f


def rosenbrock(z: np.ndarray) -> float:
    """sum 100 (z_{i+1} - z_i^2)^2 + (1 - z_i)^2; 0 at (1, ..., 1)."""
    return float(np.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))


def dixon_price(z: np.ndarray) -> float:
    """(z_1 - 1)^2 + sum_{i>=2} i (2 z_i^2 - z_{i-1})^2; 0 at z_i = 2^(-(2^i - 2) / 2^i)."""
    i = np.arange(2, len(z) + 1)
    return float((z[0] - 1.0) ** 2 + np.sum(i * (2.0 * z[1:] ** 2 - z[:-1]) ** 2))


def dixon_price_argmin(dims: int) -> np.ndarray:
    i = np.arange(1, dims + 1)
    return 2.0 ** (-(2.0**i - 2.0) / 2.0**i)


def ackley(z: np.ndarray) -> float:
    """-20 exp(-0.2 sqrt(mean z^2)) - exp(mean cos(2 pi z)) + 20 + e; 0 at 0."""
    a = -20.0 * math.exp(-0.2 * math.sqrt(float(np.mean(z**2))))
    b = -math.exp(float(np.mean(np.cos(2.0 * math.pi * z))))
    return a + b + 20.0 + math.e


def rastrigin(z: np.ndarray) -> float:
    """10 d + sum z_i^2 - 10 cos(2 pi z_i); 0 at 0."""
    return float(10.0 * len(z) + np.sum(z**2 - 10.0 * np.cos(2.0 * math.pi * z)))


def levy(z: np.ndarray) -> float:
    """Levy; 0 at (1, ..., 1)."""
    w = 1.0 + (z - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * np.sin(math.pi * w[:-1] + 1.0) ** 2))
    tail = (w[-1] - 1.0) ** 2 * (1.0 + math.sin(2.0 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


SCHWEFEL_X = 420.9687463


def schwefel(z: np.ndarray) -> float:
    """418.9829 d - sum z_i sin(sqrt|z_i|) on [-500, 500]^d; about 0 at z_i = 420.9687."""
    return float(418.9828872724339 * len(z) - np.sum(z * np.sin(np.sqrt(np.abs(z)))))


def _st1(x: float) -> float:
    return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x)


# Styblinski-Tang's 1-D minimizer: the smallest real root of 4x^3 - 32x + 5 = 0.
STYBLINSKI_X = float(min(r.real for r in np.roots([4.0, 0.0, -32.0, 5.0]) if abs(r.imag) < 1e-12))


def styblinski_tang(z: np.ndarray) -> float:
    """0.5 sum z_i^4 - 16 z_i^2 + 5 z_i; -39.16617 d at z_i = -2.903534."""
    return float(np.sum(0.5 * (z**4 - 16.0 * z**2 + 5.0 * z)))


def step(z: np.ndarray) -> float:
    """sum floor(|z_i| + 0.5)^2: flat plateaus; 0 on the unit cube around 0."""
    return float(np.sum(np.floor(np.abs(z) + 0.5) ** 2))


def step_ellipsoid(z: np.ndarray) -> float:
    """sum 100^((i-1)/(d-1)) floor(|z_i| + 0.5)^2 + 1e-3 sum z_i^2: plateaus with a faint slope; 0 at 0."""
    w = 100.0 ** (np.arange(len(z)) / max(len(z) - 1, 1))
    return float(np.sum(w * np.floor(np.abs(z) + 0.5) ** 2) + 1e-3 * np.sum(z**2))


_H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
HARTMANN3_ARGMIN = np.array([0.114614, 0.555649, 0.852547])


def hartmann3(z: np.ndarray) -> float:
    """Hartmann-3 on [0, 1]^3; -3.86278 at (0.114614, 0.555649, 0.852547)."""
    inner = np.sum(_H3_A * (z - _H3_P) ** 2, axis=1)
    return float(-np.sum(_H3_ALPHA * np.exp(-inner)))


# --- the problems -----------------------------------------------------------------------------------

def synthetic_problems() -> dict[str, Problem]:
    """The synthetic problems by name (suite.py orders them into families and halves)."""
    out: dict[str, Problem] = {}

    def add(p: Problem) -> None:
        out[p.name] = p

    z = np.zeros
    add(vector_problem("sphere5", "Shifted sphere (5-D, [-5, 5]^5)", sphere, 5, -5, 5, 0.0, z(5),
                                 shift_seed=101))
    add(vector_problem("hartmann3", "Hartmann-3 (3-D)", hartmann3, 3, 0, 1, hartmann3(HARTMANN3_ARGMIN),
                                 HARTMANN3_ARGMIN, min_source="known (literature argmin, value computed)"))
    add(vector_problem("ellipsoid_sep4", "Shifted ellipsoid, cond 1e4 (4-D)", ellipsoid(1e4), 4,
                                          -5, 5, 0.0, z(4), shift_seed=201))
    add(vector_problem("ellipsoid_rot4", "Shifted rotated ellipsoid, cond 1e4 (4-D)",
                                          ellipsoid(1e4), 4, -5, 5, 0.0, z(4), shift_seed=202, rotate_seed=203))
    add(vector_problem("ellipsoid_rot8", "Shifted rotated ellipsoid, cond 1e3 (8-D)",
                                          ellipsoid(1e3), 8, -5, 5, 0.0, z(8), shift_seed=204, rotate_seed=205))
    add(vector_problem("ellipsoid_sep8", "Shifted ellipsoid, cond 1e3 (8-D)", ellipsoid(1e3), 8,
                                          -5, 5, 0.0, z(8), shift_seed=206))
    one = np.ones
    add(vector_problem("rosenbrock2", "Rosenbrock (2-D, [-5, 10]^2)", rosenbrock, 2, -5, 10, 0.0, one(2)))
    add(vector_problem("rosenbrock6", "Rosenbrock (6-D, [-5, 10]^6)", rosenbrock, 6, -5, 10, 0.0, one(6)))
    add(vector_problem("rosenbrock10", "Rosenbrock (10-D, [-5, 10]^10)", rosenbrock, 10, -5, 10, 0.0,
                                 one(10)))
    add(vector_problem("dixonprice5", "Dixon-Price (5-D, [-4, 10]^5)", dixon_price, 5, -4, 10, 0.0,
                                 dixon_price_argmin(5)))
    add(vector_problem("ackley5", "Shifted Ackley (5-D, [-5, 5]^5)", ackley, 5, -5, 5, 0.0, z(5),
                                     shift_seed=301))
    add(vector_problem("rastrigin4", "Shifted Rastrigin (4-D, [-5.12, 5.12]^4)", rastrigin, 4,
                                     -5.12, 5.12, 0.0, z(4), shift_seed=302))
    add(vector_problem("rastrigin_rot6", "Shifted rotated Rastrigin (6-D, [-5.12, 5.12]^6)",
                                     rastrigin, 6, -5.12, 5.12, 0.0, z(6), shift_seed=303, rotate_seed=304))
    add(vector_problem("levy4", "Shifted Levy (4-D, [-10, 10]^4)", levy, 4, -10, 10, 0.0, one(4),
                                     shift_seed=305))
    sch = np.full(3, SCHWEFEL_X)
    add(vector_problem("schwefel3", "Schwefel (3-D, [-500, 500]^3)", schwefel, 3, -500, 500,
                                     schwefel(sch), sch, min_source="known (literature argmin, value computed)"))
    st = np.full(5, STYBLINSKI_X)
    add(vector_problem("styblinski5", "Styblinski-Tang (5-D, [-5, 5]^5)", styblinski_tang, 5, -5, 5,
                                     styblinski_tang(st), st, min_source="known (argmin a cubic's root)"))
    add(vector_problem("ackley10", "Shifted Ackley (10-D, [-5, 5]^10)", ackley, 10, -5, 5, 0.0, z(10),
                                     shift_seed=306))
    add(vector_problem("levy8", "Shifted Levy (8-D, [-10, 10]^8)", levy, 8, -10, 10, 0.0, one(8),
                                     shift_seed=307))
    add(vector_problem("step5", "Shifted step function (5-D, [-5, 5]^5)", step, 5, -5, 5, 0.0, z(5),
                                  shift_seed=401))
    add(vector_problem("step_ellipsoid3", "Shifted step ellipsoid (3-D, [-5, 5]^3)", step_ellipsoid, 3,
                                  -5, 5, 0.0, z(3), shift_seed=402))
    return out
