"""The benchmark suite: problems tagged with family, dimension and a fixed development / held-out split.

**Split rule** (fixed here, never random at run time): within each family, the problems are listed in
the order of :data:`FAMILIES`; the 1st, 3rd, 5th, ... are ``dev`` and the 2nd, 4th, ... ``heldout``. The
order inside a family was chosen once so that both halves get a spread of dimensions and variants (e.g.
a separable and a rotated ellipsoid on each side). Tune on ``dev``; quote ``heldout``.

**Boundary** (:func:`on_boundary`): each parameter is encoded to [0, 1] -- ``float`` linearly,
``logfloat`` linearly in log(value), ``qint`` and ``choice`` to the centre of their value's cell,
(k + 0.5) / n for the k-th of n values, as hpopt encodes them -- and a point is *on the boundary* if any
encoded coordinate is within ``BOUNDARY_TOL`` = 1e-6 of 0 or 1. So only the continuous parameters can
put a point on the boundary; a problem without one has no boundary share.

Noisy problems add Gaussian noise of standard deviation ``Problem.noise_sd`` to what the optimizer sees,
from a generator seeded with the run's seed (run.py); their regret is measured on the noiseless function.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from functions import PROBLEMS as BASE
from functions import Param, Problem
from suite_hpo import hpo_problems
from suite_synth import synthetic_problems

BOUNDARY_TOL = 1e-6

# family -> problem names, in the order that fixes the split (odd positions dev, even heldout)
FAMILIES: dict[str, list[str]] = {
    "smooth": ["sphere5", "branin", "hartmann3", "hartmann6"],
    "ill-conditioned": ["ellipsoid_sep4", "ellipsoid_rot4", "ellipsoid_rot8", "ellipsoid_sep8"],
    "valley": ["rosenbrock2", "rosenbrock4", "rosenbrock6", "rosenbrock10", "dixonprice5"],
    "multimodal": ["ackley5", "rastrigin4", "rastrigin_rot6", "levy4", "schwefel3", "styblinski5", "levy8",
                   "ackley10"],
    "plateau": ["step5", "step_ellipsoid3"],
    "noisy": ["noisy_hartmann6", "noisy_branin"],
    "mixed": ["mixed", "mixed5"],
    "real-hpo": ["table_digits", "table_mnist", "svc_digits", "gb_wine"],
}

# noisy variants: name -> (base problem, noise standard deviation)
NOISY = {"noisy_hartmann6": ("hartmann6", 0.1), "noisy_branin": ("branin", 1.0)}


def _build() -> dict[str, Problem]:
    pool: dict[str, Problem] = dict(BASE)
    pool.update(synthetic_problems())
    pool.update(hpo_problems())
    for name, (base, sd) in NOISY.items():
        p = pool[base]
        pool[name] = dataclasses.replace(p, name=name, title=f"{p.title} + Gaussian noise (sd {sd})", noise_sd=sd)
    out: dict[str, Problem] = {}
    for family, names in FAMILIES.items():
        for i, name in enumerate(names):
            p = pool[name]
            tags: dict[str, Any] = {"family": family, "split": "dev" if i % 2 == 0 else "heldout"}
            if p.noise_sd:
                tags["min_source"] = f"noiseless minimum of {NOISY[name][0]} ({pool[NOISY[name][0]].min_source})"
            out[name] = dataclasses.replace(p, **tags)
    return out


SUITE: dict[str, Problem] = _build()
SPLITS = ("dev", "heldout")


def names(split: str) -> list[str]:
    """Problem names of ``dev``, ``heldout`` or ``all``, in suite order."""
    if split == "all":
        return list(SUITE)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return [n for n, p in SUITE.items() if p.split == split]


def encode(p: Param, value: Any) -> float:
    """A parameter value on [0, 1] (see the module doc)."""
    if p.kind == "float":
        return (float(value) - p.lo) / (p.hi - p.lo)
    if p.kind == "logfloat":
        return (math.log(float(value)) - math.log(p.lo)) / (math.log(p.hi) - math.log(p.lo))
    if p.kind == "qint":
        n = int((p.hi - p.lo) // p.q) + 1
        k = round((float(value) - p.lo) / p.q)
    else:
        n = len(p.choices)
        k = list(p.choices).index(p.snap(value))
    return (k + 0.5) / n


def on_boundary(problem: Problem, point: Mapping[str, Any]) -> bool:
    """True if any encoded coordinate of ``point`` is within BOUNDARY_TOL of 0 or 1."""
    for p in problem.params:
        u = encode(p, point[p.name])
        if u <= BOUNDARY_TOL or u >= 1.0 - BOUNDARY_TOL:
            return True
    return False


def has_continuous(problem: Problem) -> bool:
    return any(p.kind in ("float", "logfloat") for p in problem.params)


if __name__ == "__main__":  # print the problems table (README)
    print("| name | family | dims | split | f* | how f* is known |")
    print("|---|---|---:|---|---:|---|")
    for name, p in SUITE.items():
        print(f"| `{name}` | {p.family} | {p.dims} | {p.split} | {p.optimum:.6g} | {p.min_source} |")
    print(f"\n{len(SUITE)} problems: {len(names('dev'))} dev, {len(names('heldout'))} heldout")
