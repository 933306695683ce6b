"""Replay a tabulated benchmark in simulated time, driving any hpopt object through its ordinary calls.

``simulate(hpo, table, n_workers=4)`` plays n workers that each train one trial at a time. Instead of
training, a worker looks the epoch up in the table: the score it reports and how many (simulated)
seconds the epoch took. Events (a worker finishing an epoch) are processed in the order of their
simulated time from a heap, so parallel trials interleave exactly as they would have on real workers,
and nothing ever sleeps. For each event the simulator calls ``hpopt.report(config, score)``; a STOP (or
the trial's last epoch) frees that worker at that simulated moment, and the free worker immediately asks
``hpo.get_next_sample()`` for its next trial. The run ends when the algorithm is finished, or at
``max_time`` simulated seconds.

Which of the table's seeds a trial replays is drawn from ``(seed, trial_id, attempt)``, so the same seed
gives the same trace. ``worker_speeds`` scales each worker's epoch times (heterogeneous machines).
Create the hpopt object with ``storage="memory"`` (its state in dicts of this process, no files, no
fsync) for a fast simulation; on the file store every report is a durable write.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..algorithms.scores import is_better
from ..trainer import finalize_trial, report
from ..trial import Status
from .table import Table


class Event(NamedTuple):
    """One reported epoch: when (simulated seconds), which worker, trial and epoch, and the score."""

    time: float
    worker: int
    trial_id: int
    epoch: int
    score: float


@dataclass
class SimResult:
    """What a simulation produced: every reported epoch, the best score over simulated time, and its cost."""

    trace: list[Event] = field(default_factory=list)
    best_curve: list[tuple[float, float]] = field(default_factory=list)  # (time, best score so far)
    trials: int = 0
    sim_time: float = 0.0
    wall_seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        """Reported epochs per real second: the simulator's throughput."""
        return len(self.trace) / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def best_at(self, t: float) -> float | None:
        """Best score reported up to simulated time ``t`` (None before the first report)."""
        best = None
        for when, score in self.best_curve:
            if when > t:
                break
            best = score
        return best


@dataclass
class _Running:
    config: dict[str, Any]
    row: int
    seed: int
    epochs_done: int = 0


def simulate(
    hpo: Any,
    table: Table,
    *,
    n_workers: int = 4,
    max_time: float | None = None,
    seed: int = 0,
    worker_speeds: Sequence[float] | None = None,
) -> SimResult:
    """Run ``hpo`` against ``table`` with ``n_workers`` simulated workers; see the module doc."""
    if not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    speeds = [1.0] * n_workers if worker_speeds is None else [float(s) for s in worker_speeds]
    if len(speeds) != n_workers or any(not s > 0 for s in speeds):
        raise ValueError(f"worker_speeds must be {n_workers} positive factors, got {worker_speeds!r}")
    mode = str(getattr(hpo, "mode", "max"))
    hpo.measure_overhead = False  # simulated epochs against real suggestion seconds would not compare
    result = SimResult()
    heap: list[tuple[float, int, int]] = []  # (time, sequence number, worker)
    running: dict[int, _Running] = {}
    free = list(range(n_workers))
    seq = 0
    now = 0.0
    best: float | None = None
    started = time.perf_counter()

    def epoch_seconds(r: _Running, worker: int) -> float:
        e = r.epochs_done  # the epoch about to run, 0-based
        cum = table.elapsed[r.row, r.seed]
        return float(cum[e] - (cum[e - 1] if e > 0 else 0.0)) * speeds[worker]

    while True:
        while free:  # every free worker asks for work at the current simulated time
            config = hpo.get_next_sample()
            if config is None:
                break
            worker = free.pop(0)
            rng = np.random.default_rng([seed, int(config["trial_id"]), int(config.get("attempt", 0))])
            r = _Running(config, table.index_of(config["params"]), int(rng.integers(table.num_seeds)))
            running[worker] = r
            result.trials += 1
            heapq.heappush(heap, (now + epoch_seconds(r, worker), seq, worker))
            seq += 1
        if not heap:
            if not hpo.is_finished():
                raise RuntimeError("the algorithm issued nothing while no trial runs, yet is not finished")
            break
        when, _, worker = heap[0]
        if max_time is not None and when > max_time:
            now = float(max_time)
            break
        heapq.heappop(heap)
        now = when
        r = running[worker]
        score = float(table.val_acc[r.row, r.seed, r.epochs_done])
        r.epochs_done += 1
        status = report(r.config, score)
        result.trace.append(Event(now, worker, int(r.config["trial_id"]), r.epochs_done, score))
        if is_better(score, best, mode):
            best = score
            result.best_curve.append((now, score))
        last = r.epochs_done >= min(int(r.config["iterations"]), table.num_epochs)
        if status == Status.STOP or last:
            if status != Status.STOP:  # the table ends before the trial's iterations
                finalize_trial(r.config)
            del running[worker]
            free.append(worker)
            free.sort()
        else:
            heapq.heappush(heap, (now + epoch_seconds(r, worker), seq, worker))
            seq += 1
    result.sim_time = now
    result.wall_seconds = time.perf_counter() - started
    return result
