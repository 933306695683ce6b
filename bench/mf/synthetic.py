"""Synthetic multi-fidelity problems as tables, whose early epochs range from faithful to misleading.

Each problem is a grid of 8 values for each of 4 parameters (4 096 configurations), 2 seeds and 27
epochs, in the format the simulator replays (:class:`hpopt.adapters.table.Table`). A configuration's
learning curve starts at an epoch-1 score and approaches its final score at its own pace:

    acc(e) = final - (final - early) * exp(-(e - 1) / tau) + noise

``final`` and ``early`` are smooth functions of the configuration (a random quadratic bowl plus
ripples); ``early`` mixes the standardised final score with an independent function, with weight rho:
rho near 1 makes epoch 1 rank configurations like the last epoch, rho = 0 tells nothing, rho < 0
ranks them the wrong way (fast learners that plateau low, as a too-large learning rate does).
``tau`` (1-10 epochs) and the epoch time (0.5-2 s) depend on the configuration too. Everything is drawn
from the problem's seed, so a problem is the same table on every machine.
"""

from __future__ import annotations

import itertools

import numpy as np

from hpopt.adapters.table import Table

LEVELS, PARAMS, SEEDS, EPOCHS = 8, 4, 2, 27
NOISE = 0.004
# name -> (rho between the epoch-1 and the final score, problem seed)
PROBLEMS = {"synth-faithful": (0.9, 11), "synth-good": (0.6, 12), "synth-weak": (0.3, 13),
            "synth-blind": (0.0, 14), "synth-misleading": (-0.5, 15)}
# The development half: other random problems of the same family, on which bench changes are chosen, so that
# the suite's problems (PROBLEMS and the real tables) stay a held-out half that reports what a new user gets.
DEV_PROBLEMS = {"dev-faithful": (0.9, 21), "dev-strong": (0.75, 22), "dev-good": (0.6, 23),
                "dev-weak": (0.3, 24), "dev-faint": (0.15, 25), "dev-blind": (0.0, 26), "dev-astray": (-0.25, 27),
                "dev-misleading": (-0.5, 28)}


def _smooth(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random smooth function of the unit-box points ``u``: a rotated quadratic bowl plus ripples."""
    d = u.shape[1]
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    centre = rng.uniform(0.15, 0.85, d)
    scales = rng.uniform(0.5, 3.0, d)
    z = (u - centre) @ rot
    bowl = (scales * z ** 2).sum(axis=1)
    ripples = 0.15 * np.sin(2 * np.pi * u @ rng.uniform(0.5, 1.5, d) + rng.uniform(0, 2 * np.pi))
    return bowl + ripples


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def _unit(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min())


def make(name: str) -> Table:
    """The synthetic problem ``name`` (a key of PROBLEMS or DEV_PROBLEMS) as a table."""
    rho, seed = PROBLEMS[name] if name in PROBLEMS else DEV_PROBLEMS[name]
    rng = np.random.default_rng(seed)
    configs = np.array(list(itertools.product(range(LEVELS), repeat=PARAMS)), dtype=np.int64)
    u = (configs + 0.5) / LEVELS
    final_z = _standard(-_smooth(u, rng))
    other_z = _standard(-_smooth(u, rng))
    other_z = _standard(other_z - (other_z @ final_z) / len(final_z) * final_z)  # uncorrelated with the final
    final = 0.60 + 0.35 * _unit(final_z)
    early = 0.40 + 0.35 * _unit(rho * final_z + np.sqrt(1 - rho ** 2) * other_z)
    tau = 1.0 + 9.0 * _unit(_smooth(u, rng))
    epoch_s = 0.5 + 1.5 * u[:, -1]
    e = np.arange(EPOCHS)[None, None, :]
    curve = final[:, None, None] - (final - early)[:, None, None] * np.exp(-e / tau[:, None, None])
    val_acc = np.clip(curve + rng.normal(0.0, NOISE, (len(configs), SEEDS, EPOCHS)), 0.0, 1.0)
    elapsed = np.cumsum(np.broadcast_to(epoch_s[:, None, None], val_acc.shape), axis=2)
    values = {f"x{i}": list(range(LEVELS)) for i in range(PARAMS)}
    meta = {"dataset": name, "model": "synthetic learning curves (bench/mf/synthetic.py)", "rho": rho,
            "seed": seed}
    return Table(values=values, configs=configs, val_acc=val_acc, train_loss=1.0 - val_acc, elapsed=elapsed,
                 meta=meta)
