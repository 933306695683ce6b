"""ASHA's rung geometry: the rungs of each bracket and how many epochs a trial is expected to run.

Pure arithmetic shared by the rung schedule (:mod:`.asha`), which stops trials at these rungs, and by
auto config (:mod:`hpopt.auto_config`), which costs trials by the epochs they are expected to run. A
trial that reaches a rung goes on with probability 1/reduction_factor (the top 1/rf of each rung).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Sequence
from typing import overload

from .._validate import check_int, check_real

__all__ = ["EpochsCurve", "asha_bracket_epochs", "asha_epochs_curve", "asha_expected_epochs", "asha_rungs",
           "bracket_for", "cut_rungs", "check_asha", "expected_epochs_after", "max_brackets", "round_robin_shares"]

def check_asha(
    min_iterations: object, max_iterations: object, reduction_factor: object
) -> tuple[int, int, int]:
    lo = check_int("min_iterations", min_iterations, 1)
    hi = check_int("max_iterations", max_iterations, 1)
    rf = check_int("reduction_factor", reduction_factor, 2)
    if lo > hi:
        raise ValueError(f"min_iterations must be <= max_iterations={hi}, got {min_iterations!r}")
    return lo, hi, rf


def asha_rungs(
    min_iterations: int, max_iterations: int, reduction_factor: int, bracket: int = 0
) -> list[int]:
    """Rung epochs of one bracket: ``min * rf**(bracket + k)`` while below max, then max itself.

    Bracket 0 with ``min == max`` is plain full-length training, ``[max]``; any other bracket that
    leaves no rung below max is not a distinct ASHA bracket, so it raises ValueError.
    """
    lo, hi, rf = check_asha(min_iterations, max_iterations, reduction_factor)
    b = check_int("bracket", bracket, 0)
    rung = lo * rf**b
    if b > 0 and rung >= hi:
        raise ValueError(
            f"bracket={bracket!r} leaves no rung below max_iterations={hi} "
            f"(min_iterations={lo}, reduction_factor={rf}); at most {max_brackets(lo, hi, rf)} bracket(s)"
        )
    rungs: list[int] = []
    while rung < hi:
        rungs.append(rung)
        rung *= rf
    rungs.append(hi)
    return rungs


def cut_rungs(rungs: Sequence[int], top: int | None) -> list[int]:
    """A bracket's rungs (ascending) for a trial whose last epoch is ``top``: the rungs below it, then
    ``top`` itself. ``top`` None or at least the last rung leaves them as they are. A re-plan under a
    deadline cuts ASHA's last epoch for the trials still to start, once its subset cannot shrink further;
    their rungs below the cut are the run's own, so their scores still compare with everyone's there."""
    if top is None or top >= rungs[-1]:
        return list(rungs)
    return [r for r in rungs if r < top] + [int(top)]


def max_brackets(min_iterations: int, max_iterations: int, reduction_factor: int) -> int:
    """Number of brackets with distinct schedules: one per rung of bracket 0 below max (at least 1)."""
    lo, hi, rf = check_asha(min_iterations, max_iterations, reduction_factor)
    count = 0
    rung = lo
    while rung < hi:
        count += 1
        rung *= rf
    return max(1, count)


def asha_bracket_epochs(
    min_iterations: int, max_iterations: int, reduction_factor: int, bracket: int = 0
) -> float:
    """Expected epochs one trial runs in a bracket when the top 1/rf of each rung continue.

    A trial stops at rung k < K with probability ``q**k * (1 - q)`` (q = 1/rf) having run r_k epochs,
    and reaches the last rung r_K = max with probability ``q**K``.
    """
    rungs = asha_rungs(min_iterations, max_iterations, reduction_factor, bracket)
    return expected_epochs_after(rungs, 0, reduction_factor)


def expected_epochs_after(rungs: Sequence[int], done: int, reduction_factor: int) -> float:
    """Expected total epochs of a trial that has run ``done`` epochs and is still going.

    ``rungs`` is ascending with max last. The trial surely runs to the next rung above ``done``; from
    there, as in :func:`asha_bracket_epochs`, each rung lets it go on with probability 1/rf.
    """
    q = 1.0 / reduction_factor
    ahead = [r for r in rungs if r > done]
    if not ahead:
        return float(done)
    last = len(ahead) - 1
    stops = sum(q**k * (1.0 - q) * rung for k, rung in enumerate(ahead[:last]))
    return stops + q**last * ahead[last]


def bracket_for(u: float, cumulative: Sequence[float]) -> int:
    """The bracket a uniform draw ``u`` in [0, 1) picks from cumulative shares (the last one if rounding
    leaves the total short of 1): how the bracket chooser and the time model's simulation deal trials."""
    return min(len(cumulative) - 1, bisect.bisect_right(cumulative, u))


def round_robin_shares(num_brackets: int) -> list[float]:
    """Share of new trials each bracket gets when trials are dealt to brackets in turn: all equal.

    Kept separate so that a refined spreading rule can be passed to asha_expected_epochs instead.
    """
    k = check_int("num_brackets", num_brackets, 1)
    return [1.0 / k] * k


def asha_expected_epochs(
    min_iterations: int,
    max_iterations: int,
    reduction_factor: int,
    num_brackets: int,
    shares: Sequence[float] | None = None,
) -> float:
    """Expected epochs per new trial: bracket epochs weighted by the share of trials each bracket gets.

    ``shares`` defaults to round robin (the mean over brackets); it must have num_brackets
    non-negative entries summing to 1.
    """
    lo, hi, rf = check_asha(min_iterations, max_iterations, reduction_factor)
    k = check_int("num_brackets", num_brackets, 1)
    limit = max_brackets(lo, hi, rf)
    if k > limit:
        raise ValueError(
            f"num_brackets must be <= {limit} for min_iterations={lo}, max_iterations={hi}, "
            f"reduction_factor={rf}, got {num_brackets!r}"
        )
    weights = round_robin_shares(k) if shares is None else [check_real("shares", w) for w in shares]
    if len(weights) != k or any(w < 0 for w in weights) or not math.isclose(sum(weights), 1.0):
        raise ValueError(f"shares must be {k} non-negative numbers summing to 1, got {shares!r}")
    return sum(w * asha_bracket_epochs(lo, hi, rf, b) for b, w in enumerate(weights))


_CURVE_SIMULATED = 2000  # trials simulated at most; later ones cost what the last fifth of those did
_CURVE_WORK = 10_000  # trials simulated in all (over the repeats): about a hundredth of a second


class EpochsCurve(Sequence[float]):
    """Expected cumulative epochs after m = 0 .. n trials: simulated values, then a straight line.

    Held as the simulated head and the rate beyond it, so a plan of millions of trials (a long budget of
    cheap trials) costs the same few kilobytes as one of a thousand.
    """

    def __init__(self, head: Sequence[float], num_trials: int, rate: float) -> None:
        self.head = tuple(head)
        self.num_trials = int(num_trials)
        self.rate = float(rate)

    def __len__(self) -> int:
        return self.num_trials + 1

    @overload
    def __getitem__(self, m: int) -> float: ...
    @overload
    def __getitem__(self, m: slice) -> list[float]: ...
    def __getitem__(self, m: int | slice) -> float | list[float]:
        if isinstance(m, slice):
            return [self[i] for i in range(*m.indices(len(self)))]
        if m < 0:
            m += len(self)
        if not 0 <= m < len(self):
            raise IndexError(f"trial count {m} is outside 0..{self.num_trials}")
        last = len(self.head) - 1
        return self.head[m] if m <= last else self.head[last] + self.rate * (m - last)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EpochsCurve):
            return (self.head, self.num_trials, self.rate) == (other.head, other.num_trials, other.rate)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.head, self.num_trials, self.rate))


@functools.lru_cache(maxsize=256)
def asha_epochs_curve(min_iterations: int, max_iterations: int, reduction_factor: int, num_brackets: int,
                      num_trials: int, shares: tuple[float, ...] | None = None,
                      top: int | None = None) -> EpochsCurve:
    """Expected epochs run by the first m trials of a run, m = 0 .. num_trials (cumulative).

    :func:`asha_expected_epochs` is the long-run rate, where 1/rf of a rung's trials go on. A run of a few
    dozen trials spends far more: asynchronous ASHA lets a trial on while the rung holds fewer than rf
    results, and a trial that reaches a high rung late in a run has beaten the many before it, so it tends
    to beat the few that reached the rung before it too (measured: 50 trials, rungs 1 .. 30, rf 2 run 5-7
    epochs each, not 3.4). This simulates the stopping rule, one trial after another, with trial qualities
    that rank the same at every rung, averaged over seeded repeats: deterministic, and pure. Trials are
    dealt to brackets in turn, or, given ``shares``, drawn with those probabilities (the bracket chooser).
    ``top``: every trial's last epoch, cut below max_iterations by a re-plan (:func:`cut_rungs`).
    """
    lo, hi, rf = check_asha(min_iterations, max_iterations, reduction_factor)
    k = check_int("num_brackets", num_brackets, 1)
    n = check_int("num_trials", num_trials, 0)
    brackets = [cut_rungs(asha_rungs(lo, hi, rf, b), top) for b in range(k)]
    if shares is not None and (len(shares) != k or any(w < 0 for w in shares) or not math.isclose(sum(shares), 1.0)):
        raise ValueError(f"shares must be {k} non-negative numbers summing to 1, got {shares!r}")
    bounds = list(itertools.accumulate(shares)) if shares is not None else []
    only = next((b for b, w in enumerate(shares) if w == 1.0), None) if shares is not None else None
    simulated = min(n, _CURVE_SIMULATED)
    repeats = max(4, _CURVE_WORK // max(1, simulated))
    totals = [0.0] * (simulated + 1)
    rng = random.Random(0)
    for _ in range(repeats):
        results: list[list[list[float]]] = [[[] for _ in rungs] for rungs in brackets]
        spent = 0.0
        for i in range(simulated):
            quality = rng.random()
            if shares is None:
                bracket = i % k
            elif only is not None:  # one bracket takes every trial: no draw, the same run as that bracket alone
                bracket = only
            else:
                bracket = bracket_for(rng.random(), bounds)
            before = 0
            for j, rung in enumerate(brackets[bracket]):
                spent += rung - before
                before = rung
                held = results[bracket][j]
                bisect.insort(held, quality)
                better, top = len(held) - bisect.bisect_right(held, quality), len(held) // rf
                if top and better >= top:
                    break
            totals[i + 1] += spent
    curve = [t / repeats for t in totals]
    rate = 0.0
    if n > simulated:
        tail = max(1, simulated // 5)
        rate = (curve[simulated] - curve[simulated - tail]) / tail
    return EpochsCurve(curve, n, rate)
