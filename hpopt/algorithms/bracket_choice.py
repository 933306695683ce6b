"""Which bracket a new ASHA trial joins: chosen by how well each bracket's first rung has ranked trials so far.

Why. A bracket whose first rung is epoch r stops most of its trials on their epoch-r scores. Where early
epochs rank configs as the last epoch does, the most aggressive bracket (r = min_iterations) buys the most
trials for the budget; where they mislead, it stops the configs that end best, and a bracket that starts
later pays off (Hyperband's argument). Dealing trials to brackets in turn pays for the safe brackets on
every problem; trusting bracket 0 alone loses where epoch 1 lies. The chooser measures instead.

Evidence. Every trial reports every epoch up to where it stops, so any trial that reached a later rung
also holds a score at each earlier one, whatever its bracket. For the first rung r of each bracket, rho
is the Spearman rank correlation, over the trials that reached the *reference* level (the highest rung
level at least ``MIN_PAIRS`` current trials reached, above r), between their best-so-far scores at r and
at the reference. The correlation counts for what it is sure to be: one standard error (``DOUBT /
sqrt(n - 1)`` over n trials) is taken off it first, so five long trials that happen to agree with their
early scores cannot buy full trust. The rung's measured trust is then ``0.5 + rho / (2 * SPAN)`` clipped
to [0, 1]: a correlation of +SPAN or more trusts it fully, -SPAN or less not at all. Over n such trials it is averaged
with a prior of full trust worth ``PRIOR_WEIGHT`` trials: ``(n * measured + PRIOR_WEIGHT) / (n +
PRIOR_WEIGHT)``. So a run starts as one aggressive bracket (what auto config plans, and what does best
wherever early epochs rank configs roughly right) and moves trials to later brackets only as the
evidence that early rungs mislead comes in.

Why these numbers: on the development problems of ``bench/mf_suite.py --dev`` (synthetic tables whose
epoch-1 correlation with the last epoch runs from 0.9 to -0.5), one bracket did best wherever that
correlation was positive, and later brackets only where it was negative. Trust proportional to the
correlation sent too many trials to costly brackets on moderately correlated problems; a prior of half
trust (half the trials to later brackets from the start) did well with 4 workers and worse than one
bracket with 1 worker. Without the doubt, a run on a problem whose epoch 1 tells nothing trusted rung 1
fully for most of its trials: the first trials to reach the last epoch had been promoted from a thin rung,
and five of them agreed with their epoch-1 ranks by chance. docs/benchmarks.md has the measurements.

Choice. A cascade from the most aggressive bracket: bracket 0 with probability trust_0, else bracket 1
with trust_1, ..., the last bracket takes what is left. Faithful early epochs send nearly every trial to
bracket 0; misleading ones move the budget to brackets that judge later. The draw for trial i comes from
the run's seed and i alone, so a resumed run that saw the same results draws the same bracket; the
bracket is stored in the trial's entry at issue and restored from there, never drawn again.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from .level_scores import LevelScores
from .rung_math import bracket_for

MIN_PAIRS = 5  # trials at a level before it serves as the reference that earlier rungs are judged against
SPAN = 0.3  # a rank correlation of +SPAN or more trusts a rung fully, -SPAN or less not at all
PRIOR = 1.0  # trust without evidence: every new trial goes to bracket 0 until early rungs are caught misleading
PRIOR_WEIGHT = 2.0  # trials' worth of evidence the prior counts as
DOUBT = 1.0  # standard errors taken off a measured rank correlation before it buys trust
MAX_PAIRS = 256  # the most recent trials at the reference level that a trust is measured on (cost per issue)


def cascade(trust: Sequence[float]) -> list[float]:
    """Share of new trials per bracket: bracket b is taken with probability trust[b] if no earlier one was;
    the last bracket takes the rest."""
    shares, left = [], 1.0
    for b, t in enumerate(trust):
        take = left if b == len(trust) - 1 else left * min(1.0, max(0.0, float(t)))
        shares.append(take)
        left -= take
    return shares


def trust_of(rho: float, n: int) -> float:
    """A rung's trust from the rank correlation ``rho`` its scores showed over ``n`` trials (see module doc)."""
    if n > 1:
        rho -= DOUBT / math.sqrt(n - 1)  # the standard error of a rank correlation over n pairs, roughly
    measured = min(1.0, max(0.0, 0.5 + rho / (2.0 * SPAN)))
    return (n * measured + PRIOR_WEIGHT * PRIOR) / (n + PRIOR_WEIGHT)


def prior_shares(num_brackets: int) -> list[float]:
    """The shares before any evidence."""
    return cascade([PRIOR] * num_brackets)


def planned_shares(num_brackets: int) -> tuple[float, ...] | None:
    """The shares auto config's time model deals trials by (None: one bracket, nothing to deal)."""
    return None if num_brackets <= 1 else tuple(prior_shares(num_brackets))


class BracketChooser:
    """Picks a new trial's bracket from the rank correlation its first rung has shown so far."""

    def __init__(self, brackets: Sequence[Sequence[int]], mode: str, seed: int) -> None:
        self.starts = [int(rungs[0]) for rungs in brackets]
        self.seed = int(seed)
        self.scores = LevelScores([r for rungs in brackets for r in rungs], mode)

    def on_config(self, trial_id: int, attempt: int) -> None:
        self.scores.on_config(trial_id, attempt)

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        self.scores.on_scores(trial_id, attempt, scores)

    def trust(self) -> list[float]:
        """Per bracket, how well its first rung has ranked trials like the reference level (see module doc)."""
        ref_level, ref = self._reference()
        out = []
        for start in self.starts:
            rho, n = (0.0, 0) if ref_level is None or start >= ref_level else _rank_correlation(
                self.scores.current(start), ref)
            out.append(trust_of(rho, n))
        return out

    def shares(self) -> list[float]:
        return cascade(self.trust())

    def choose(self, trial_id: int) -> int:
        """The bracket for new trial ``trial_id``: a seeded draw from the current shares."""
        if len(self.starts) == 1:
            return 0
        u = random.Random(f"{self.seed}:bracket:{int(trial_id)}").random()
        return bracket_for(u, list(itertools.accumulate(self.shares())))

    def _reference(self) -> tuple[int | None, dict[int, float]]:
        for level in self.scores.reached():
            at = self.scores.current(level)
            if len(at) >= MIN_PAIRS and level > self.starts[0]:
                recent = sorted(at)[-MAX_PAIRS:]
                return level, {tid: at[tid] for tid in recent}
        return None, {}


def _rank_correlation(low: Mapping[int, float], ref: Mapping[int, float]) -> tuple[float, int]:
    """Spearman correlation of the two levels' scores over the trials holding both, and how many do."""
    common = [tid for tid in ref if tid in low]
    if len(common) < 3:
        return 0.0, 0
    a = np.array([low[t] for t in common])
    b = np.array([ref[t] for t in common])
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0, len(common)
    return float(spearmanr(a, b).statistic), len(common)
