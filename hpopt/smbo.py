"""baye_opt: GP-UCB Bayesian optimization through the ``bayesian-optimization`` package.

How the GP sees the search space. The GP works in a unit box built from the search-space module's
encoding of the ORIGINAL space: log types on a log scale, quantized types by the centre of their grid
cell. Choices: a choice among numbers only (e.g. learning rates [1e-4, 1e-3, 1e-2]) is ordered, so it is
one coordinate, the centre of its sorted rank's cell, (rank + 0.5)/n; a choice of two values is one
coordinate, (i + 0.5)/2; any other choice (strings or mixed JSON values, three or more) is one-hot, one
coordinate per value, decoded to the largest, so no false order is imposed on unordered categories.
So string (or any JSON) choices work, and the GP never sees a value outside [0, 1]. A suggestion is
decoded back (snapped to the grid / choice).

The GP (scikit-learn's, held by bayes_opt) is set up for small noisy budgets (``gp_model``): a Matérn-5/2
kernel with one length scale per dimension, a learned signal variance and a learned noise term, fitted as
a MAP estimate under weak priors (dimension-scaled log-normal length scales), on standardised targets
that are first warped by a Yeo-Johnson transform (monotone, so the argmax is unchanged, but a run whose
scores span orders of magnitude no longer lets a few outliers set the whole GP). The acquisition stays
GP-UCB with the user's kappa.

The acquisition is maximized over points the search can really issue: every candidate is snapped to
``encode(decode(u))`` (a grid cell's or ordered choice's centre, a one-hot vector) before the GP scores
it. Scored between grid points instead, the UCB's maximum sits where the GP is unsure because nothing can
be observed there (between batch sizes 104 and 112, say), decodes to a neighbour already tried, and the
run re-issues the same configs instead of learning.

Kappa decay (the seed's rule, not bayes_opt 3.x's per-suggest one): after n finished trials,
``kappa_n = kappa * kappa_decay ** max(0, n - kappa_decay_delay)``. It is derived from the count of
finished trials, so it continues unchanged across a resume.

Initial design: ``default_hyper_parameters`` first, then Latin-hypercube points until
``num_init_trials`` trials exist; the GP takes over after that. Trials running elsewhere are pending
points: each is registered with a "constant liar" value (the worst score seen), so parallel workers get
distinct configs. A suggestion that decodes to a config already tried is replaced by the best untried
point of a random candidate set under the same acquisition.

The optimizer is rebuilt from the stored observations for every suggestion (fitting the GP dominates the
cost anyway), so resume and OOM-shrunk bounds need no extra state: same observations and seed, same
suggestion.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import numpy as np

from .base import HpoBase, config_key
from .gp_model import make_kernel, map_optimizer
from .search_space import decode_params
from .trial import Status, Trial

logger = logging.getLogger("hpopt")

_CANDIDATES = 2048
_GP_RESTARTS = 0  # extra kernel fits from random starts: with the priors one L-BFGS-B run from the default
# start did as well as one restart (20 seeds x 4 functions, docs/benchmarks.md) in half the time
_MAX_SNAP_CELLS = 1 << 16  # grids finer than this are treated as continuous by the acquisition search
_ACQ_RANDOM = 4000  # uniform points scored by UCB in the first round of the acquisition search
_ACQ_LOCAL = 1000  # perturbed points per round of the batched local search
_ACQ_SEEDS = 8  # best points that each round perturbs


class BayesOpt(HpoBase):
    """GP-UCB with kappa decay, a space-filling start, pending points and median stop."""

    algorithm_name = "smbo"
    gp_restarts = _GP_RESTARTS  # kernel refits from random starts per suggestion

    def __init__(self, *, num_init_trials: int = 5, kappa: float = 2.576, kappa_decay: float = 1.0,
                 kappa_decay_delay: int = 0, **kwargs: Any) -> None:
        self.num_init_trials = num_init_trials
        self.kappa0 = kappa
        self.kappa_decay = kappa_decay
        self.kappa_decay_delay = kappa_decay_delay
        super().__init__(**kwargs)

    @functools.cached_property
    def _init_points(self) -> np.ndarray:
        """The Latin-hypercube start, drawn from the run's seed (so it is the same after a resume)."""
        from scipy.stats import qmc  # imported here: scipy.stats takes ~0.9 s to import, trainers never need it

        return qmc.LatinHypercube(d=len(self._original_space), seed=self.seed).random(max(1, self.num_init_trials))

    # --- kappa ---------------------------------------------------------------------------------

    @property
    def kappa(self) -> float:
        """Current kappa: decayed once per finished trial after the first ``kappa_decay_delay``."""
        return self.kappa0 * self.kappa_decay ** max(0, self._finished - self.kappa_decay_delay)

    # --- suggestions ---------------------------------------------------------------------------

    @functools.cached_property
    def _gp_widths(self) -> list[int]:
        """GP coordinates per parameter: one, or one per value (one-hot) for a choice of three or more
        values that are not all numbers."""
        return [sp.num_values if sp.is_choice and sp.num_values > 2 and name not in self._ordered_choices else 1
                for name, sp in self._original_space.items()]

    @functools.cached_property
    def _ordered_choices(self) -> dict[str, list[Any]]:
        """Choices among numbers only (e.g. [1e-4, 1e-3, 1e-2]): one ordinal coordinate, by sorted rank."""
        out: dict[str, list[Any]] = {}
        for name, sp in self._original_space.items():
            if sp.is_choice and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sp.range):
                out[name] = sorted(sp.range)
        return out

    def _upper_box(self) -> np.ndarray:
        """Per-coordinate upper bound of the GP box: below 1 where OOM shrank a batch size."""
        ub: list[float] = []
        for (name, sp), width in zip(self._original_space.items(), self._gp_widths, strict=True):
            current = self._space[name]
            ub.extend([1.0] * width if width > 1 else [sp.encode(current.upper) if current != sp else 1.0])
        return np.array(ub)

    def _gp_encode(self, params: dict[str, Any]) -> np.ndarray:
        out: list[float] = []
        for (name, sp), width in zip(self._original_space.items(), self._gp_widths, strict=True):
            if name in self._ordered_choices:
                order = self._ordered_choices[name]
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
        """(first GP coordinate, width, cell edges) of each parameter the acquisition must snap: choices
        and discrete types on one coordinate (edges; an ordered choice's rank cells are the choice's own
        equal cells), one-hot choices (edges None)."""
        out: list[tuple[int, int, np.ndarray | None]] = []
        i = 0
        for sp, width in zip(self._original_space.values(), self._gp_widths, strict=True):
            if width > 1:
                out.append((i, width, None))
            elif sp.is_choice or (sp.num_values is not None and sp.num_values <= _MAX_SNAP_CELLS):
                out.append((i, 1, sp.cell_edges()))
            i += width
        return out

    def _snap(self, points: np.ndarray) -> np.ndarray:
        """Points of the GP box moved to the encoding of the config they decode to (vectorised)."""
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

    def _decode(self, u: np.ndarray) -> dict[str, Any]:
        """Params for a point of the GP box (one-hot slices decode to their largest coordinate)."""
        u = np.minimum(u, self._upper_box())
        params: dict[str, Any] = {}
        i = 0
        for (name, sp), width in zip(self._original_space.items(), self._gp_widths, strict=True):
            if name in self._ordered_choices:
                order = self._ordered_choices[name]
                params[name] = order[min(len(order) - 1, max(0, int(float(u[i]) * len(order))))]
            elif width > 1:
                params[name] = sp.decode((int(np.argmax(u[i:i + width])) + 0.5) / width)
            else:
                params[name] = sp.decode(float(u[i]))
            i += width
        for name, value in params.items():  # guard: stay inside shrunk bounds whatever the rounding
            if not self._space[name].contains(value):
                params[name] = self._space[name].decode(1.0)
        return params

    def _decode_unit(self, u: np.ndarray) -> dict[str, Any]:
        """Params for a point of the plain unit box (one coordinate per parameter): the initial design."""
        params = decode_params(self._original_space, u)
        return self._decode(self._gp_encode(params))

    def _observations(self) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for t in self._trials:
            if t.status == Status.STOP and t.score is not None:
                xs.append(self._gp_encode(t.config))
                ys.append(t.score if self.mode == "max" else -t.score)
        return np.array(xs).reshape(-1, sum(self._gp_widths)), np.array(ys, dtype=float)

    def _suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        from threadpoolctl import threadpool_limits

        # The GP's matrices are tiny (n <= a few hundred): one BLAS thread is faster, and it does not fight
        # the user's training for cores.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._suggest_unlimited(trial_id, attempt)

    def _suggest_unlimited(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        rng = np.random.default_rng([self.seed, trial_id, attempt])
        tried = {config_key(t.config) for t in self._trials if t.trial_id != trial_id}
        n_defaults = len(self._default_configs)
        x_obs, y_obs = self._observations()
        optimizer = None
        if trial_id < self.num_init_trials and attempt == 0 and trial_id >= n_defaults:
            params = self._decode_unit(self._init_points[trial_id % len(self._init_points)])
        elif len(y_obs) < 2:
            params = self._decode_unit(rng.random(len(self._original_space)))
        else:
            params, optimizer = self._gp_suggest(x_obs, y_obs, rng)
        if config_key(params) in tried:
            if optimizer is None and len(y_obs) >= 2:  # a repeat from the initial design: model it now
                optimizer = self._fit_optimizer(x_obs, y_obs, int(rng.integers(2**31 - 1)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    optimizer._gp.fit(optimizer.space.params, optimizer.space.target)
            params = self._untried(tried, rng, optimizer)
        return params

    def _pending(self) -> np.ndarray:
        pts = [self._gp_encode(self._trials[tid].config) for tid in sorted(self._running)]
        return np.array(pts).reshape(-1, sum(self._gp_widths))

    def _fit_optimizer(self, x_obs: np.ndarray, y_obs: np.ndarray, seed: int) -> Any:
        from bayes_opt import BayesianOptimization
        from bayes_opt.acquisition import UpperConfidenceBound

        d = x_obs.shape[1]
        ub = self._upper_box()
        optimizer = BayesianOptimization(
            f=None, pbounds={f"x{i:03d}": (0.0, float(ub[i])) for i in range(d)},
            acquisition_function=UpperConfidenceBound(kappa=self.kappa, exploration_decay=None),
            random_state=seed, verbose=0, allow_duplicate_points=True,
        )
        optimizer.set_gp_params(kernel=make_kernel(d), alpha=1e-8, normalize_y=True, optimizer=map_optimizer,
                                n_restarts_optimizer=self.gp_restarts)
        y = _warp(y_obs)
        pending = self._pending()
        lie = float(np.min(y)) if len(y) else 0.0
        # One GP point per distinct input: repeated observations are averaged, and a pending point that was
        # already observed adds nothing (bayes_opt would print a warning for each duplicate).
        points: dict[tuple[float, ...], list[float]] = {}
        for x, target in zip(x_obs, y, strict=True):
            points.setdefault(tuple(float(min(x[i], ub[i])) for i in range(d)), []).append(float(target))
        for p in pending:
            points.setdefault(tuple(float(min(p[i], ub[i])) for i in range(d)), [lie])
        for x, targets in points.items():
            optimizer.register(params={f"x{i:03d}": x[i] for i in range(d)}, target=float(np.mean(targets)))
        return optimizer

    def _gp_suggest(self, x_obs: np.ndarray, y_obs: np.ndarray, rng: np.random.Generator
                    ) -> tuple[dict[str, Any], Any]:
        """GP-UCB's point and the optimizer whose fitted GP proposed it."""
        optimizer = self._fit_optimizer(x_obs, y_obs, int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's convergence chatter on tiny data sets
            optimizer._gp.fit(optimizer.space.params, optimizer.space.target)
            u = self._maximize_ucb(optimizer._gp, optimizer.space.params, optimizer.space.target, rng)
        return self._decode(u), optimizer

    def _maximize_ucb(self, gp: Any, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The point of the GP box with the largest UCB = mean + kappa * std, found in batches.

        bayes_opt's own search runs L-BFGS-B with finite-difference gradients, one scikit-learn predict
        call per probe: ~2 s per suggestion here. Instead every round scores a few thousand points in one
        predict call: uniform points plus points around the best observations, then three rounds of
        shrinking perturbations around the best points so far (a batched local search). Every point is
        snapped to an issuable config first (see the module docstring).
        """
        ub = self._upper_box()
        d = len(ub)

        def ucb(points: np.ndarray) -> np.ndarray:
            mean, std = gp.predict(points, return_std=True)
            return mean + self.kappa * std

        top = xs[np.argsort(-ys)[:_ACQ_SEEDS]]
        near = top[rng.integers(len(top), size=_ACQ_LOCAL)] + rng.normal(0.0, 0.1, (_ACQ_LOCAL, d))
        points = self._snap(np.clip(np.vstack([rng.random((_ACQ_RANDOM, d)) * ub, near]), 0.0, ub))
        scores = ucb(points)
        for sigma in (0.05, 0.015, 0.004):
            best = points[np.argsort(-scores)[:_ACQ_SEEDS]]
            near = best[rng.integers(len(best), size=_ACQ_LOCAL)] + rng.normal(0.0, sigma, (_ACQ_LOCAL, d))
            points = np.vstack([best, self._snap(np.clip(near, 0.0, ub))])
            scores = ucb(points)
        return points[int(np.argmax(scores))]

    def _untried(self, tried: set[str], rng: np.random.Generator, optimizer: Any | None) -> dict[str, Any]:
        """Best untried candidate under UCB of the already fitted GP (random order when there is none)."""
        cands = self._snap(rng.random((_CANDIDATES, sum(self._gp_widths))) * self._upper_box())
        if optimizer is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mean, std = optimizer._gp.predict(cands, return_std=True)
            cands = cands[np.argsort(-(mean + self.kappa * std))]
        for u in cands:
            params = self._decode(u)
            if config_key(params) not in tried:
                return params
        logger.warning("no untried config found among %d candidates; the space looks exhausted", _CANDIDATES)
        return self._decode(cands[0])

    def _extra_train_config(self, trial: Trial) -> dict[str, Any]:
        # As the original: the first num_init_trials run to the end (median stop needs a reference).
        return {"early_stop": None} if trial.trial_id < self.num_init_trials else {}

    def _algorithm_state(self) -> dict[str, Any]:
        return {"kappa": self.kappa, "num_init_trials": self.num_init_trials, "kappa_decay": self.kappa_decay,
                "kappa_decay_delay": self.kappa_decay_delay}


def _warp(y: np.ndarray) -> np.ndarray:
    """Monotone Yeo-Johnson warp of the targets (identity when too few or constant)."""
    if len(y) < 3 or np.ptp(y) == 0:
        return y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from scipy.stats import yeojohnson

            out, _ = yeojohnson((y - np.mean(y)) / np.std(y))
        except (ValueError, FloatingPointError):
            return y
    return out if np.all(np.isfinite(out)) else y
