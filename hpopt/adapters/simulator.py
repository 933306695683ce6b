"""Replay a tabulated benchmark in simulated time, driving any hpopt object through the shared run loop.

``simulate(hpo, table, n_workers=4)`` runs ``hpo`` through :func:`~.run_loop.run_trials`, the loop the
local, Ray and SageMaker adapters use (same issue, retry, timeout, OOM and stop handling), with two
parts swapped: a :class:`TableLauncher` whose "trials" look each epoch up in the table (the score they
report and how many simulated seconds the epoch took) instead of training, and a
:class:`~.clock.SimulatedClock` that jumps from one epoch's end to the next instead of waiting, so
parallel trials interleave exactly as they would on real workers and nothing ever sleeps. At each
epoch's end the trial calls ``hpopt.report(config, score)``; a STOP (or the trial's last epoch) frees its
worker at that simulated moment, and the loop asks ``hpo.get_next_sample()`` for the next trial. The run
ends when the algorithm is finished, or at ``max_time`` simulated seconds.

Which of the table's seeds a trial replays is drawn from ``(seed, trial_id, attempt)``, so the same seed
gives the same trace. ``worker_speeds`` scales each worker's epoch times (heterogeneous machines).
Create the hpopt object with ``storage="memory"`` (its state in dicts of this process, no files, no
fsync) for a fast simulation; on the file store every report is a durable write. The simulation writes
no log or artifact folders either way.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..algorithms.scores import is_better
from ..trainer import finalize_trial, report
from ..trial import Status
from .clock import SimulatedClock
from .run_loop import run_trials
from .run_summary import RunSummary
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
    summary: RunSummary | None = None  # the run loop's summary (elapsed_s in simulated seconds)

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


class _TableTrial:
    """A trial attempt replaying one table row on one simulated worker (a run-loop trial handle)."""

    poll_interval = 0.0
    end_reason: str | None = None

    def __init__(self, launcher: TableLauncher, config: dict[str, Any], worker: int, row: int, seed: int) -> None:
        self.launcher, self.config, self.worker, self.row, self.seed = launcher, config, worker, row, seed
        self.label = f"simulated worker {worker}"
        self.waitable = self  # the simulated clock wakes the loop when an epoch ends
        self.epochs_done = 0
        self.code: int | None = None

    def next_epoch(self) -> None:
        """Schedule the end of the next epoch on the simulated clock."""
        cum = self.launcher.table.elapsed[self.row, self.seed]
        e = self.epochs_done
        took = float(cum[e] - (cum[e - 1] if e > 0 else 0.0)) * self.launcher.speeds[self.worker]
        self.launcher.clock.schedule(self.launcher.clock.now() + took, self.epoch_ended)

    def epoch_ended(self) -> None:
        if self.code is not None:
            return  # stopped meanwhile (a timeout, or the end of the run)
        launcher = self.launcher
        score = float(launcher.table.val_acc[self.row, self.seed, self.epochs_done])
        self.epochs_done += 1
        status = report(self.config, score)
        launcher.record(self, score)
        if status == Status.STOP:
            self.end(0)
        elif self.epochs_done >= min(int(self.config["iterations"]), launcher.table.num_epochs):
            finalize_trial(self.config)  # the table ends before the trial's iterations
            self.end(0)
        else:
            self.next_epoch()

    def end(self, code: int) -> None:
        if self.code is None:
            self.code = code
            self.launcher.free(self.worker)

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.end(-signal.SIGTERM)

    def kill(self) -> None:
        self.end(-signal.SIGKILL)

    def close(self) -> None:
        pass


class TableLauncher:
    """Starts simulated trials on ``n_workers`` workers, each replaying table rows on ``clock``."""

    def __init__(self, table: Table, clock: SimulatedClock, *, n_workers: int, seed: int, speeds: Sequence[float],
                 mode: str) -> None:
        self.table, self.clock, self.seed, self.speeds, self.mode = table, clock, seed, list(speeds), mode
        self._free = list(range(n_workers))
        self.result = SimResult()
        self._best: float | None = None

    def start(self, config: dict[str, Any], log_path: str | None, env: dict[str, str]) -> _TableTrial:
        if not self._free:
            raise RuntimeError("every simulated worker is busy")  # the loop starts at most n_workers trials
        worker = self._free.pop(0)
        rng = np.random.default_rng([self.seed, int(config["trial_id"]), int(config.get("attempt", 0))])
        trial = _TableTrial(self, config, worker, self.table.index_of(config["params"]),
                            int(rng.integers(self.table.num_seeds)))
        self.result.trials += 1
        trial.next_epoch()
        return trial

    def free(self, worker: int) -> None:
        self._free.append(worker)
        self._free.sort()

    def record(self, trial: _TableTrial, score: float) -> None:
        now = self.clock.now()
        self.result.trace.append(Event(now, trial.worker, int(trial.config["trial_id"]), trial.epochs_done, score))
        if is_better(score, self._best, self.mode):
            self._best = score
            self.result.best_curve.append((now, score))


def simulate(
    hpo: Any,
    table: Table,
    *,
    n_workers: int = 4,
    max_time: float | None = None,
    seed: int = 0,
    worker_speeds: Sequence[float] | None = None,
    timeout: float | None = None,
) -> SimResult:
    """Run ``hpo`` against ``table`` with ``n_workers`` simulated workers; see the module doc.

    ``timeout`` (simulated seconds) stops a trial that runs longer, as ``run_local``'s does: the loop
    retries it or marks it failed.
    """
    if not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    speeds = [1.0] * n_workers if worker_speeds is None else [float(s) for s in worker_speeds]
    if len(speeds) != n_workers or any(not s > 0 for s in speeds):
        raise ValueError(f"worker_speeds must be {n_workers} positive factors, got {worker_speeds!r}")
    hpo.measure_overhead = False  # simulated epochs against real suggestion seconds would not compare
    clock = SimulatedClock(horizon=max_time)
    launcher = TableLauncher(table, clock, n_workers=n_workers, seed=seed, speeds=speeds,
                             mode=str(getattr(hpo, "mode", "max")))
    started = time.perf_counter()
    summary = run_trials(hpo, launcher, n_parallel=n_workers, timeout=timeout, ignore_fail=True, progress=False,
                         keep_top_k=None, clock=clock, keep_files=False)
    result = launcher.result
    result.wall_seconds = time.perf_counter() - started
    result.sim_time = clock.now()
    result.summary = summary
    return result
