"""baye_opt's searcher: GP-UCB with bayes_opt's acquisition (``UpperConfidenceBound.base_acq``: mean + kappa
* std) on a GP of its own set-up. The observations are kept here as arrays: registering them one by one in a
bayes_opt ``TargetSpace`` cost O(n^2) (0.44 s per suggestion at 200 observations). The GP is scikit-learn's
``GaussianProcessRegressor`` set up for small noisy budgets (:mod:`.gp_model`): a Matérn-5/2 kernel with
one length scale per dimension, a learned signal variance and a learned noise term, fitted as a MAP
estimate under weak priors, on standardised targets that are first warped by a monotone transform (so
the argmax is unchanged): for each suggestion the warp under which the GP explains the scores best, by
marginal likelihood with the warp's Jacobian (so the four compete on the scores' own scale): identity,
Yeo-Johnson, or minus the log of the gap below the best score (two offsets). Scores spanning orders of magnitude
(ill-conditioned bowls, Rosenbrock-like valleys) then no longer let a few outliers set the whole GP, and
smooth ones keep their shape. ASHA's rung sampler keeps Yeo-Johnson. The GP works in the unit box of
:mod:`.gp_box`.

The acquisition is maximized inside a trust region around the best point (:mod:`.trust_region`, TuRBO's
rule: it grows after improvements and shrinks when they stop, and it closes in around the best point as
the run's planned trials run out; the UCB and kappa stay what they are), over
points the search can really issue (snapped, see :mod:`.gp_box`), in batched rounds: bayes_opt's own
search runs L-BFGS-B with finite-difference gradients, one predict call per probe (~2 s per suggestion
here); instead every round scores a few thousand points in one predict
call: uniform points plus points around the best observations, then three rounds of shrinking
perturbations around the best points so far. Perturbations that leave the box are reflected back in, not
clipped onto its faces: clipping put most candidates of a round on the faces, where the GP is least sure,
and the search piled up on the boundary (79 % of the evaluations on a 4-D ellipsoid; 0 % now).

Kappa decay (the seed's rule, not bayes_opt 3.x's per-suggest one): after n finished trials,
``kappa_n = kappa * kappa_decay ** max(0, n - kappa_decay_delay)``. It is derived from the count of
finished trials, so it continues unchanged across a resume.

Initial design: the controller issues ``default_hyper_parameters`` first; then Latin-hypercube points
until ``num_init_trials`` trials exist; the GP takes over after that. Trials running elsewhere are
pending points, each registered with a "constant liar" value (the worst score seen), so parallel workers
get distinct configs. A suggestion that decodes to a config already tried is replaced by the best untried
point of a random candidate set under the same acquisition.

After auto config re-planned the fidelity (epochs x subset) mid-run, results of several fidelities do not
compare as raw scores: the GP then takes each result's fidelity (log scale, in [0, 1]) as one more input,
is asked at the new trial's fidelity, and names the best config as the trial it rates best at the highest
fidelity used (:meth:`GpUcbSearcher.best_trial`). With one fidelity throughout, nothing of this applies.

With a deadline in seconds (auto config's ``full_train_seconds``, re-planning on) the controller also tells
each trial's epoch cost over the plan's (:meth:`GpUcbSearcher.on_cost`, :mod:`.epoch_cost`): the trust
region centres on the cheapest observed point whose posterior mean is within the GP's standard deviation
of the best one's, and of every point the acquisition search scored, the cheapest whose UCB is within the
GP's standard deviation (at the top point) of the top's is proposed. Without costs nothing changes.

The model is rebuilt from the observations for every suggestion (fitting the GP dominates the cost
anyway), so resume and OOM-shrunk bounds need no extra state: same observations and seed, same suggestion.
Cost: the warp candidates are fitted on at most ``WARP_SUBSET`` observations (evenly spaced); Yeo-Johnson
from the default start, the three others from its fitted kernel in at most ``WARP_RIVAL_STEPS`` steps; the
chosen warp's fit is reused when it saw exactly the GP's points, else it is the start of a short final
fit; so a suggestion takes 0.12-0.14 s at 50 observations and 0.30-0.35 s at 200 (5-10-D, quiet machine;
docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..search_space import SearchSpace
from . import trust_region
from .epoch_cost import CostModel, EpochCosts, prefer_cheap
from .gp_box import GpBox
from .gp_model import make_kernel, map_optimizer
from .scores import config_key, signed
from .searcher import SuggestRequest

logger = logging.getLogger("hpopt")

_CANDIDATES = 2048
GP_RESTARTS = 0  # extra kernel fits from random starts: with the priors one L-BFGS-B run from the default
# start did as well as one restart (20 seeds x 4 functions, docs/benchmarks.md) in half the time
_ACQ_RANDOM = 4000  # uniform points scored by UCB in the first round of the acquisition search
_ACQ_LOCAL = 1000  # perturbed points per round of the batched local search
_ACQ_SEEDS = 8  # best points that each round perturbs


class Fidelity(NamedTuple):
    """Each observation's fidelity and the new trial's, as one extra GP input in [0, 1] (log scale)."""

    observed: np.ndarray  # one value per observation
    now: float  # the fidelity the suggested trial will run at


class Model(NamedTuple):
    """A fitted GP and the UCB it defines (bayes_opt's acquisition at the current kappa).

    ``ucb`` and ``mean`` take points of the search box; with a fidelity input they are asked at the new
    trial's fidelity, and ``xs`` / ``ys`` are the training points' configs and their predicted (warped)
    values at that fidelity, so the search seeds from what is best now.
    """

    gp: Any
    ucb: Any  # points -> UCB values
    xs: np.ndarray  # the GP's training inputs (configs)
    ys: np.ndarray  # and (warped) targets
    mean: Any  # points -> posterior mean (warped scale)
    std: Any  # points -> posterior standard deviation (warped scale)


class GpUcbSearcher:
    """GP-UCB with kappa decay, a space-filling start and pending points (constant liar)."""

    def __init__(self, original_space: Mapping[str, SearchSpace], *, mode: str, seed: int,
                 num_init_trials: int = 5, num_defaults: int = 0, kappa: float = 2.576, kappa_decay: float = 1.0,
                 kappa_decay_delay: int = 0, gp_restarts: int = GP_RESTARTS, select_warp: bool = True,
                 use_trust_region: bool = True) -> None:
        self.box = GpBox(original_space)
        self.mode = mode
        self.seed = int(seed)
        self.num_init_trials = int(num_init_trials)
        self.num_defaults = int(num_defaults)
        self.kappa0 = float(kappa)
        self.kappa_decay = float(kappa_decay)
        self.kappa_decay_delay = int(kappa_decay_delay)
        self.gp_restarts = int(gp_restarts)
        self.select_warp = bool(select_warp)
        self.use_trust_region = bool(use_trust_region)  # ASHA's rung sampler: off (its scores are not a sequence)
        # every parameter continuous: the trust region starts smaller (trust_region.initial_length)
        self.continuous = all(s.num_values is None for s in original_space.values())
        self.finished = 0
        self._configs: dict[int, dict[str, Any]] = {}  # trial id -> its current params
        self._results: dict[int, float] = {}  # trial id -> signed final score (valid results only)
        self._fidelity: dict[int, float] = {}  # trial id -> the training its result came from (full-data epochs)
        self._best: tuple[int, int | None] = (-1, None)  # (results seen, trial the GP rates best) of the last fit
        self._costs = EpochCosts(len(self.box.space) + 2)  # each trial's epoch cost over the plan's (a deadline run)

    # --- events --------------------------------------------------------------------------------

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        self._configs[trial_id] = dict(params)

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        pass

    def on_cost(self, trial_id: int, epoch_scale: float) -> None:
        """The trial's epochs cost ``epoch_scale`` times what the run's plan gives an epoch (a run with a
        deadline in seconds measures it): among the points whose UCB the GP cannot tell from the best, the
        cheapest is proposed, so the deadline buys more trials (:mod:`.epoch_cost`)."""
        self._costs.add(trial_id, epoch_scale)

    def on_count_at_risk(self, at_risk: bool) -> None:
        """The run's forecast count of trials falls short of auto config's promise: ties widen."""
        self._costs.at_risk = bool(at_risk)

    def params_of(self, trial_id: int) -> dict[str, Any]:
        """The params trial ``trial_id`` holds now."""
        return self._configs[trial_id]

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        self.finished += 1
        if score is not None:
            self._results[trial_id] = signed(score, self.mode)
            if fidelity is not None and fidelity > 0:
                self._fidelity[trial_id] = float(fidelity)

    # --- kappa and state -----------------------------------------------------------------------

    @property
    def kappa(self) -> float:
        """Current kappa: decayed once per finished trial after the first ``kappa_decay_delay``."""
        return self.kappa0 * self.kappa_decay ** max(0, self.finished - self.kappa_decay_delay)

    def state(self) -> dict[str, Any]:
        return {"kappa": self.kappa, "num_init_trials": self.num_init_trials, "kappa_decay": self.kappa_decay,
                "kappa_decay_delay": self.kappa_decay_delay}

    @functools.cached_property
    def _init_points(self) -> np.ndarray:
        """The Latin-hypercube start, drawn from the run's seed (so it is the same after a resume)."""
        from scipy.stats import qmc  # imported here: scipy.stats takes ~0.9 s to import, trainers never need it

        return qmc.LatinHypercube(d=len(self.box.space), seed=self.seed).random(max(1, self.num_init_trials))

    # --- suggestions ---------------------------------------------------------------------------

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and max-mode targets of the trials that ended with a valid score."""
        ids = sorted(self._results)
        xs = [self.box.encode(self._configs[i]) for i in ids]
        return np.array(xs).reshape(-1, self.box.dims), np.array([self._results[i] for i in ids], dtype=float)

    def fidelity_input(self, now: float | None) -> Fidelity | None:
        """The observations' fidelities (and ``now``, the new trial's) as a GP input, or None when every
        result came from one fidelity and the new trial gets it too: the usual run, whose GP stays plain.

        Auto config's re-planning lowers a run's epochs or subset when trials cost more than planned; the
        scores before and after a re-plan then differ by how much training they got, not only by config.
        As an input (log of epochs x subset, scaled to [0, 1]) the GP learns that difference instead of
        reading it as noise, and it is asked at the fidelity the trial will really run at.
        """
        ids = sorted(self._results)
        values = [self._fidelity.get(i) for i in ids]
        if not FIDELITY_INPUT or not values or any(v is None for v in values):
            return None
        logs = np.log(np.array([*values, values[-1] if now is None else now], dtype=float))
        if np.ptp(logs) == 0:
            return None
        scaled = (logs - logs.min()) / np.ptp(logs)
        return Fidelity(scaled[:-1], float(scaled[-1]))

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        x_obs, y_obs = self.observations()
        return self.propose(request, x_obs, y_obs, self.fidelity_input(request.fidelity))

    def best_trial(self) -> int | None:
        """The trial whose config the GP rates best, when results came from several fidelities (None
        otherwise: then the best score is the best config, the usual rule).

        A score after a re-plan that lowered the fidelity cannot beat one from before it, however good its
        config: the best-score rule would return one of the first trials whatever the search found later.
        So the trials are compared by the GP's posterior mean at a high fidelity the run used (its
        fidelity input learns what the training difference is worth), among the trials that did well at
        their own fidelity (:func:`best_candidates`). The last fit's answer is reused until a new result
        arrives.
        """
        count = len(self._results)
        if self._best[0] == count:
            return self._best[1]
        x_obs, y_obs = self.observations()
        fidelity = self.fidelity_input(None)
        if fidelity is None or count < _MIN_FOR_SELECTION:
            self._best = (count, None)
            return None
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            model = self.fit(x_obs, y_obs, SuggestRequest(-1, 0, self.box.space), self.seed, fidelity)
        self._remember_best(model, x_obs, y_obs, fidelity)
        return self._best[1]

    def _remember_best(self, model: Model, x_obs: np.ndarray, y_obs: np.ndarray, fidelity: Fidelity) -> None:
        """Of the trials :func:`best_candidates` allows, the one with the best posterior mean at
        :func:`comparison_fidelity`, for :meth:`best_trial`; from the suggestion's own fit when there is one
        (no fit of its own). With parallel workers that fit also holds the running trials as lies, which can
        lower the means near them a little; the answer is the same fit's either way, so the run stays
        reproducible."""
        ids = sorted(self._results)
        at = comparison_fidelity(fidelity.observed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            means = model.gp.predict(np.column_stack([x_obs, np.full(len(x_obs), at)]))
        allowed = best_candidates(y_obs, fidelity.observed)
        self._best = (len(ids), ids[int(np.argmax(np.where(allowed, means, -np.inf)))])

    def propose(self, request: SuggestRequest, x_obs: np.ndarray, y_obs: np.ndarray,
                fidelity: Fidelity | None = None) -> dict[str, Any]:
        """A config from the observations ``x_obs`` (GP box) with max-mode targets ``y_obs`` (and their
        fidelities, see :meth:`fidelity_input`)."""
        from threadpoolctl import threadpool_limits

        # The GP's matrices are tiny (n <= a few hundred): one BLAS thread is faster, and it does not fight
        # the user's training for cores.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._propose(request, x_obs, y_obs, fidelity)

    def _propose(self, request: SuggestRequest, x_obs: np.ndarray, y_obs: np.ndarray,
                 fidelity: Fidelity | None) -> dict[str, Any]:
        tid, space = request.trial_id, request.space
        rng = np.random.default_rng([self.seed, tid, request.attempt])
        tried = {config_key(p) for i, p in self._configs.items() if i != tid}
        model = None
        if self.num_defaults <= tid < self.num_init_trials and request.attempt == 0:
            params = self.box.decode_unit(self._init_points[tid % len(self._init_points)], space)
        elif len(y_obs) < 2:
            params = self.box.decode_unit(rng.random(len(self.box.space)), space)
        else:
            model = self.fit(x_obs, y_obs, request, int(rng.integers(2**31 - 1)), fidelity)
            if fidelity is not None and len(y_obs) == len(self._results):
                self._remember_best(model, x_obs, y_obs, fidelity)
            left = trust_region.share_left(tid, request.planned)
            cost = self._costs.model(self._encoded)  # under a deadline in seconds (:mod:`.epoch_cost`)
            params = self.box.decode(self._maximize(model, space, rng, x_obs, y_obs, fidelity is not None, left,
                                                    cost), space)
        if config_key(params) in tried:
            if model is None and len(y_obs) >= 2:  # a repeat from the initial design: model it now
                model = self.fit(x_obs, y_obs, request, int(rng.integers(2**31 - 1)), fidelity)
            params = self._untried(tried, rng, model, space)
        return params

    def fit(self, x_obs: np.ndarray, y_obs: np.ndarray, request: SuggestRequest, seed: int,
            fidelity: Fidelity | None = None) -> Model:
        """The GP fitted on the observations (warped) and the pending points, and bayes_opt's UCB on it;
        with ``fidelity``, over config and fidelity, asked at ``fidelity.now``."""
        from bayes_opt.acquisition import UpperConfidenceBound

        ub = self.box.upper(request.space)
        if fidelity is not None:  # the fidelity is one more input; pending trials run at the new one
            x_obs, ub = np.column_stack([x_obs, fidelity.observed]), np.append(ub, 1.0)
        d = x_obs.shape[1]
        name, fitted = self.choose_warp(x_obs, y_obs, seed)
        y = warp(y_obs, name)
        lie = float(np.min(y)) if len(y) else 0.0
        # One GP point per distinct input: repeated observations are averaged, and a pending point that was
        # already observed adds nothing.
        points: dict[tuple[float, ...], list[float]] = {}
        for x, target in zip(np.minimum(x_obs, ub), y, strict=True):
            points.setdefault(tuple(x.tolist()), []).append(float(target))
        for p in request.pending:
            encoded = self.box.encode(p) if fidelity is None else np.append(self.box.encode(p), fidelity.now)
            points.setdefault(tuple(np.minimum(encoded, ub).tolist()), [lie])
        xs = np.array(list(points), dtype=float).reshape(-1, d)
        ys = np.array([float(np.mean(t)) for t in points.values()])
        if fitted is not None and fitted[1].shape == xs.shape and np.array_equal(fitted[1], xs) \
                and np.array_equal(fitted[2], ys):
            gp = fitted[0]  # the warp's own fit was on exactly these points and targets: reuse it
        else:
            # Start from the chosen warp's fitted kernel (on all or a subset of the observations): close to
            # the optimum, so L-BFGS-B needs few steps.
            gp = self._gp(d, seed, None if fitted is None else fitted[0].kernel_,
                          None if fitted is None else WARM_FIT_STEPS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's convergence chatter on tiny data sets
                gp.fit(xs, ys)
        acquisition = UpperConfidenceBound(kappa=self.kappa, exploration_decay=None)

        def inputs(candidates: np.ndarray) -> np.ndarray:
            if fidelity is None:
                return candidates
            return np.column_stack([candidates, np.full(len(candidates), fidelity.now)])

        def ucb(candidates: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return acquisition.base_acq(*gp.predict(inputs(candidates), return_std=True))

        def mean(candidates: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return gp.predict(inputs(candidates))

        def std(candidates: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return gp.predict(inputs(candidates), return_std=True)[1]

        if fidelity is not None:  # the training points' configs, valued at the new trial's fidelity
            xs = xs[:, :-1]
            ys = mean(xs)
        return Model(gp, ucb, xs, ys, mean, std)

    def _gp(self, d: int, seed: int, kernel: Any = None, max_steps: int | None = None) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor

        optimizer = map_optimizer if max_steps is None else functools.partial(map_optimizer, max_steps=max_steps)
        return GaussianProcessRegressor(kernel=make_kernel(d) if kernel is None else kernel, alpha=1e-8,
                                        normalize_y=True, optimizer=optimizer,
                                        n_restarts_optimizer=self.gp_restarts, random_state=seed)

    def choose_warp(self, x_obs: np.ndarray, y_obs: np.ndarray, seed: int
                    ) -> tuple[str, tuple[Any, np.ndarray, np.ndarray] | None]:
        """The warp of the targets under which the GP explains them best: the largest marginal likelihood of
        the scores themselves (the GP's, plus the warp's log-Jacobian); with the winner's fitted GP and the
        inputs and targets it was fitted on (None when nothing was fitted).

        Beyond ``WARP_SUBSET`` observations the warps compete on that many, evenly spaced in observation
        order: the fits cost O(n^3) each, and a subset tells the warps apart as well.
        """
        if not (WARP_SELECTION and self.select_warp) or len(y_obs) < _MIN_FOR_SELECTION:
            return "yeo-johnson", None
        if len(y_obs) > WARP_SUBSET:
            keep = np.unique(np.linspace(0, len(y_obs) - 1, WARP_SUBSET).round().astype(int))
            x_obs, y_obs = x_obs[keep], y_obs[keep]
        best, best_ll, best_fit = "yeo-johnson", -math.inf, None
        # Yeo-Johnson is fitted first from the default start and its fitted kernel starts the other warps'
        # fits, capped at WARP_RIVAL_STEPS L-BFGS-B steps (their length scales are close to its own: the
        # inputs are the same): the four fits from the default start took 94 % of a suggestion.
        order = WARPS if WARP_RIVAL_STEPS is None else ("yeo-johnson", *(w for w in WARPS if w != "yeo-johnson"))
        first = None
        for name in order:
            z, log_jacobian = warp_with_jacobian(y_obs, name)
            gp = self._gp(x_obs.shape[1], seed, first, None if first is None else WARP_RIVAL_STEPS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gp.fit(x_obs, z)
            if WARP_RIVAL_STEPS is not None and first is None:
                first = gp.kernel_
            ll = float(gp.log_marginal_likelihood_value_) + log_jacobian
            if ll > best_ll:
                best, best_ll, best_fit = name, ll, (gp, x_obs, z)
        return best, best_fit

    def _maximize(self, model: Model, space: Mapping[str, SearchSpace], rng: np.random.Generator,
                  x_obs: np.ndarray, y_obs: np.ndarray, by_mean: bool = False, left: float | None = None,
                  cost: CostModel | None = None) -> np.ndarray:
        """The point of the search region with the largest UCB, found in batched rounds of snapped points
        (``left``: the share of the run still to come; ``cost``: the epoch-cost model of a deadline run; see
        :meth:`search_region`)."""
        ub = self.box.upper(space)
        d = len(ub)
        # With results of several fidelities the trust region follows the GP's values at the new trial's
        # fidelity: raw scores fall after a re-plan lowers the fidelity, which is no failure of the search.
        lo, hi = self.search_region(model, x_obs, model.mean(x_obs) if by_mean else y_obs, ub, left, cost)
        top = model.xs[np.argsort(-model.ys)[:_ACQ_SEEDS]]
        near = top[rng.integers(len(top), size=_ACQ_LOCAL)] + rng.normal(0.0, 0.1, (_ACQ_LOCAL, d))
        points = self.box.snap(np.vstack([lo + rng.random((_ACQ_RANDOM, d)) * (hi - lo), _into_box(near, lo, hi)]))
        scores = model.ucb(points)
        scored = [(points, scores)]
        for sigma in (0.05, 0.015, 0.004):
            best = points[np.argsort(-scores)[:_ACQ_SEEDS]]
            near = best[rng.integers(len(best), size=_ACQ_LOCAL)] + rng.normal(0.0, sigma, (_ACQ_LOCAL, d))
            points = np.vstack([best, self.box.snap(_into_box(near, lo, hi))])
            scores = model.ucb(points)
            scored.append((points, scores))
        top = points[int(np.argmax(scores))]
        if cost is None:
            return top
        # A deadline run: among every point scored whose UCB is within the GP's standard deviation at the
        # top of the top's, the cheapest by the epoch-cost model.
        every = np.vstack([p for p, _ in scored])
        ranked = prefer_cheap(np.concatenate([s for _, s in scored]), float(model.std(top[None, :])[0]), cost(every),
                              self._costs.tie_spread)
        return every[int(np.argmax(ranked))]

    def search_region(self, model: Model, x_obs: np.ndarray, y_obs: np.ndarray, ub: np.ndarray,
                      left: float | None = None, cost: CostModel | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Corners of the box the acquisition is maximized over: the trust region of :mod:`.trust_region`
        around the observed point with the best GP mean, or the whole box. With ``left``, the share of the
        run's planned trials still to come, the region closes in as the run nears its end; with ``cost``
        (the epoch-cost model of a deadline run), it centres on the cheapest of the points rated best."""
        d = len(ub)
        if not (TRUST_REGION and self.use_trust_region) or len(y_obs) < 2:
            return np.zeros(d), ub
        length = trust_region.side_length(y_obs, d, self.num_init_trials,
                                          trust_region.initial_length(self.continuous), left)
        means = model.mean(x_obs)
        if cost is not None:  # a deadline run: the cheapest of the observed points the GP rates as good as the best
            means = prefer_cheap(means, float(model.std(x_obs[int(np.argmax(means))][None, :])[0]), cost(x_obs),
                                 self._costs.tie_spread)
        center = x_obs[int(np.argmax(means))]
        free = np.repeat([w > 1 for w in self.box.widths], self.box.widths)
        return trust_region.region(center, _length_scales(model.gp, d), length, ub, free)

    def _encoded(self, trial_id: int) -> np.ndarray | None:
        """Trial ``trial_id``'s config in the GP box, None for a trial this searcher has not seen."""
        config = self._configs.get(trial_id)
        return None if config is None else self.box.encode(config)

    def _untried(self, tried: set[str], rng: np.random.Generator, model: Model | None,
                 space: Mapping[str, SearchSpace]) -> dict[str, Any]:
        """Best untried candidate under the fitted model's UCB (random order when there is none)."""
        cands = self.box.snap(rng.random((_CANDIDATES, self.box.dims)) * self.box.upper(space))
        if model is not None:
            cands = cands[np.argsort(-model.ucb(cands))]
        for u in cands:
            params = self.box.decode(u, space)
            if config_key(params) not in tried:
                return params
        logger.warning("no untried config found among %d candidates; the space looks exhausted", _CANDIDATES)
        return self.box.decode(cands[0], space)


REFLECT = True  # perturbations that leave the box are reflected back in (else clipped onto its faces)
TRUST_REGION = True  # maximize the UCB over a trust region around the best point (else the whole box)
FIDELITY_INPUT = True  # results of several fidelities: the fidelity is a GP input (else the plain GP, best score)


def _length_scales(gp: Any, d: int) -> np.ndarray:
    """The fitted Matern length scales of :func:`.gp_model.make_kernel` (signal x Matern + noise) of the
    first ``d`` inputs (the config's; a fidelity input comes after them)."""
    scales = np.asarray(gp.kernel_.k1.k2.length_scale, dtype=float).reshape(-1)
    return np.broadcast_to(scales[:d] if scales.size > 1 else scales, (d,))


def _into_box(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Perturbed points brought back into [lo, hi]: reflected at the faces, not clipped onto them.

    Clipping puts every perturbation that leaves the box exactly on a face, so faces get far more candidate
    points than any other place of the box, and where the GP is unsure (at the faces, far from the data)
    the UCB then picks them: the search piles up on the boundary. Reflection keeps the perturbations'
    density even up to the faces. It folds as often as needed (a triangle wave of period twice the width):
    in a narrow trust region a perturbation overshoots by several widths, and a single reflection followed
    by a clip put 12 % of a 4-D ellipsoid's evaluations back on the faces.
    """
    if not REFLECT:
        return np.clip(points, lo, hi)
    width = np.broadcast_to(hi - lo, points.shape)
    period = np.where(width > 0, 2 * width, 1.0)
    t = np.mod(points - lo, period)
    t = np.where(t > width, period - t, t)
    return np.clip(lo + np.where(width > 0, t, 0.0), lo, hi)


WARPS = ("identity", "yeo-johnson", "log-gap", "log-gap-fine")
WARP_SELECTION = True  # choose the warp per suggestion by marginal likelihood (else always Yeo-Johnson)
WARM_FIT_STEPS = 8  # L-BFGS-B steps of a fit that starts from the chosen warp's fitted kernel
WARP_SUBSET = 64  # observations the warps compete on (evenly spaced), beyond which the fits get slow
# Steps of the other warps' fits, started from Yeo-Johnson's (None: four fits from the default start). 10 cut
# a suggestion at 50 observations from 0.24 to 0.15 s (10-D) with the development half of the suite still
# <= Optuna GP on 14 of 16 problems (13 with full fits); docs/benchmarks.md.
WARP_RIVAL_STEPS: int | None = 10
_MIN_FOR_SELECTION = 5  # fewer observations say nothing about which warp fits
# Choosing the best config across fidelities (docs/benchmarks.md, "The best config across fidelities"):
COMPARE_AT_LEAST = 3  # compared at the highest fidelity this many results reached or passed
BEST_SHARE = 0.25  # only a trial in this top share of the results at its own fidelity can be returned


def comparison_fidelity(observed: np.ndarray) -> float:
    """The fidelity input (scaled, :meth:`GpUcbSearcher.fidelity_input`) at which the best config is chosen:
    the highest that :data:`COMPARE_AT_LEAST` results reached or passed (the highest when there are fewer).

    Not simply the highest: a lone trial above the rest (the last one, given the time a late re-plan had
    left) is then the GP's only evidence there, and its mean at every other config reverts towards the
    prior. On the digits sample's wide space at r = 4 that returned the twin of a config whose own trial
    had scored 0.10, over trials that had scored 0.87."""
    ranked = np.sort(np.asarray(observed, dtype=float))[::-1]
    return float(ranked[min(len(ranked), COMPARE_AT_LEAST) - 1])


def best_candidates(y_obs: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Which results may be returned as the best config: those in the top :data:`BEST_SHARE` of the
    results at their own fidelity (max-mode targets ``y_obs``; ``observed``: their fidelity inputs).

    The GP's mean far from its data depends on the fit (a warm-started fit chose a config whose trial had
    scored 0.34 where a fresh fit of the same results chose one at 0.98): a config that did worse than most
    trials trained as much as it was is not returned, however the model extrapolates it."""
    y, f = np.asarray(y_obs, dtype=float), np.asarray(observed, dtype=float)
    allowed = np.zeros(len(y), dtype=bool)
    for level in np.unique(f):
        same = f == level
        allowed |= same & (y >= np.quantile(y[same], 1.0 - BEST_SHARE))
    return allowed


def warp(y: np.ndarray, name: str = "yeo-johnson") -> np.ndarray:
    """A monotone warp of the targets (identity when too few or constant): see :func:`warp_with_jacobian`."""
    return warp_with_jacobian(y, name)[0]


def warp_with_jacobian(y: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    """Warped targets and the log-Jacobian sum of the warp followed by standardisation.

    Adding the log-Jacobian to a GP's log marginal likelihood of the standardised warped targets gives the
    likelihood of the targets themselves, so warps can be compared (Snelson et al. 2004, warped GPs):

    - ``identity``: the scores as they are;
    - ``yeo-johnson``: the power transform fitted by maximum likelihood (scipy), on standardised scores;
    - ``log-gap``: minus the log of the distance below the best score (plus 1 % of the range), which
      turns a bowl whose values span orders of magnitude (ill-conditioned, Rosenbrock-like) into a
      gentle one, and resolves the small differences between the best points;
    - ``log-gap-fine``: the same with an offset of 1 % of the *median* gap: a few very bad scores inflate
      the range, and then an offset of 1 % of it hides every difference among the good points (a 4-D
      ellipsoid of condition 1e4 stalled at regret 184 with one coordinate pinned to a face, because
      the 185 it would gain there was invisible next to an offset of ~5 000).
    """
    if name not in WARPS:
        raise ValueError(f"unknown warp {name!r}; one of {WARPS}")
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 3 or np.ptp(y) == 0:
        return y, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if name == "identity":
                out, log_grad = y, np.zeros(n)
            elif name == "yeo-johnson":
                from scipy.stats import yeojohnson

                mu, sd = float(np.mean(y)), float(np.std(y))
                x = (y - mu) / sd
                out, lam = yeojohnson(x)
                log_grad = np.where(x >= 0, (lam - 1) * np.log1p(np.abs(x)), (1 - lam) * np.log1p(np.abs(x)))
                log_grad = log_grad - np.log(sd)
            else:  # log-gap, log-gap-fine
                gap = float(np.max(y)) - y
                reference = float(np.median(gap)) if name == "log-gap-fine" else 0.0
                gap = gap + 0.01 * (reference if reference > 0 else float(np.ptp(y)))
                out, log_grad = -np.log(gap), -np.log(gap)
        except (ValueError, FloatingPointError):
            return y, -n * math.log(float(np.std(y)))
    spread = float(np.std(out))
    if not (np.all(np.isfinite(out)) and np.all(np.isfinite(log_grad)) and spread > 0):
        return y, -n * math.log(float(np.std(y)))
    return out, float(np.sum(log_grad)) - n * math.log(spread)
