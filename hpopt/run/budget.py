"""When the run may start another trial: ``num_trials``, the epoch budget and the time budget.

The epoch budget (auto config's; None: ``num_trials`` alone ends the run) is charged with the epochs of
collected trials plus, when the number of trials was auto config's to choose, their measured overhead
(:mod:`.overhead`); a new trial starts only while that, the running trials' expected remaining epochs and
the new trial's expected epochs fit. When the user told how long a full training takes, the budget is
seconds of measured trial cost instead (an epoch of one config may cost 3x another's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .overhead import OverheadLedger
from .replanner import InFlight, Replanner

ExpectedEpochs = Callable[[int, int], float]  # (trial id, epochs done) -> expected total epochs


class Budget:
    """What the collected and running trials have used, and whether one more trial fits."""

    def __init__(self, epoch_budget: float | None, time_budget_s: float | None, charge_overhead: bool,
                 replanner: Replanner | None = None, num_workers: int = 1) -> None:
        self.epoch_budget = None if epoch_budget is None else float(epoch_budget)
        self.time_budget_s = None if time_budget_s is None else float(time_budget_s)
        # Overhead counts against the epoch budget only when the number of trials was auto config's to
        # choose: a num_trials the user set is run in full (ASHA's budget then covers exactly those trials).
        self.charge_overhead = bool(charge_overhead)
        self.ledger = OverheadLedger()
        self.epochs_charged = 0.0
        self.seconds_charged = 0.0
        self.partial: dict[int, int] = {}  # running trial id -> epochs reported so far
        self.partial_epoch_s: dict[int, float | None] = {}  # running trial id -> its own epoch time
        self.replanner = replanner  # re-plans auto config's values against time_budget_s (None: never)
        self.num_workers = max(1, int(num_workers))
        self.wall_before = 0.0  # wall seconds earlier sessions of the run spent between their first issue and exit
        self._session_start: float | None = None  # monotonic time of this session's first issued trial
        # The run said it was over: journaled, so that a resume with the same plan stays over whatever the
        # budget's forecast says then (resume.restore clears it when the user asks for more trials).
        self.ended = False

    def state(self) -> dict[str, Any]:
        state = {"epoch_budget": self.epoch_budget, "time_budget_s": self.time_budget_s,
                 "charge_overhead": self.charge_overhead}
        if self.replanner is not None:
            state.update(self.replanner.state())
        return {**state, **self.live_state()}

    def live_state(self) -> dict[str, Any]:
        """What changes with every trial, not only at a checkpoint, so it goes with every journal record: a
        resumed run's deadline counts the wall clock up to the last change (the last checkpoint may be a
        whole trial list behind), and its re-planner looks when the first session would have."""
        live: dict[str, Any] = {"wall_used_s": round(self.wall_used(), 3)}
        if self.ended:
            live["ended"] = True
        if self.replanner is not None:
            live.update(self.replanner.live_state())
        return live

    def restore(self, stored: Mapping[str, Any]) -> None:
        if stored.get("epoch_budget") is not None:
            self.epoch_budget = float(stored["epoch_budget"])
        if stored.get("time_budget_s") is not None:
            self.time_budget_s = float(stored["time_budget_s"])
        self.charge_overhead = bool(stored.get("charge_overhead", self.charge_overhead))
        self.wall_before = float(stored.get("wall_used_s") or 0.0)
        self.ended = bool(stored.get("ended", False))
        if self.replanner is not None:
            self.replanner.restore(stored)

    def epochs_used(self, running: Iterable[int]) -> float:
        """Epochs (plus measured overhead) of collected trials, and epochs seen so far from running ones."""
        return self.epochs_charged + sum(self.partial.get(tid, 0) for tid in running)

    def charge(self, extra: Mapping[str, Any], iterations: int | None = None) -> None:
        """Count a collected trial (its entry's ``num_iterations_run``, ``overhead_epochs``, ``cost_s``;
        ``iterations``: its last epoch)."""
        self.epochs_charged += float(extra.get("num_iterations_run", 0))
        if self.charge_overhead:
            self.epochs_charged += float(extra.get("overhead_epochs", 0.0))
        self.seconds_charged += float(extra.get("cost_s", 0.0))
        if self.replanner is not None:
            self.replanner.count(extra, iterations)

    def replan(self, started: int, running: Iterable[int], expected: ExpectedEpochs,
               in_flight: Sequence[InFlight] = ()) -> bool:
        """Let the replanner re-fit auto config's values to the seconds left; True when they changed."""
        if self.replanner is None or self.time_budget_s is None:
            return False
        left = self.time_budget_s - self.seconds_committed(list(running), expected)
        return self.replanner.check(started, left, in_flight)

    def forget(self, trial_id: int) -> None:
        self.partial.pop(trial_id, None)
        self.partial_epoch_s.pop(trial_id, None)

    def allows_new(self, new_id: int, running: Iterable[int], expected: ExpectedEpochs) -> bool:
        """Whether the running trials' expected rest and one more trial fit in the epoch and time budgets."""
        running = list(running)
        return self._epochs_allow(new_id, running, expected) and self._seconds_allow(new_id, running, expected)

    def note_issue(self) -> None:
        """A trial was issued: this session's wall clock runs from the first one."""
        if self._session_start is None:
            self._session_start = time.monotonic()

    def wall_used(self) -> float:
        """Wall seconds the run has spent issuing and running trials, over all its sessions (time between
        sessions, with no controller running, is not counted)."""
        now = 0.0 if self._session_start is None else time.monotonic() - self._session_start
        return self.wall_before + now

    def seconds_committed(self, running: list[int], expected: ExpectedEpochs) -> float:
        """Trial seconds used, plus what the running trials will still take.

        Used is the larger of what the collected and running trials were measured to cost and the wall time
        spent times the workers: what the measurements miss (the trainer's work after its last report, the
        controller's between trials, a start-up above the low quantile the overhead ledger charges) is
        small on a quiet machine and large on a loaded one, and the deadline is on the wall clock.
        """
        pending = remaining = 0.0
        for tid in running:
            done, own = self.partial.get(tid, 0), self.partial_epoch_s.get(tid)
            pending += self._forecast(expected(tid, done), own)
            remaining += self._forecast(max(0.0, expected(tid, done) - done), own)
        return max(self.seconds_charged + pending, self.wall_used() * self.num_workers + remaining)

    def _forecast(self, epochs: float, own: float | None) -> float:
        """Seconds a running trial's ``epochs`` take: the overhead ledger's forecast, or before any trial was
        collected its own epoch time (0 when unknown too)."""
        seconds = self.ledger.forecast_seconds(epochs, own)
        if seconds is None:
            seconds = 0.0 if own is None else epochs * own
        return seconds

    def _seconds_allow(self, new_id: int, running: list[int], expected: ExpectedEpochs) -> bool:
        if self.time_budget_s is None:
            return True
        new = self.ledger.forecast_seconds(expected(new_id, 0))
        if new is None:
            return True  # nothing measured yet: the first trials tell what a trial costs
        return self.seconds_committed(running, expected) + new <= self.time_budget_s * (1 + 1e-9)

    def _epochs_allow(self, new_id: int, running: list[int], expected: ExpectedEpochs) -> bool:
        if self.epoch_budget is None or self.time_budget_s is not None:
            return True  # seconds, when known, are the budget
        overhead = self.ledger.forecast() if self.charge_overhead else 0.0
        pending = sum(expected(tid, self.partial.get(tid, 0)) - self.partial.get(tid, 0) + overhead for tid in running)
        new = expected(new_id, 0) + overhead
        return self.epochs_used(running) + pending + new <= self.epoch_budget * (1 + 1e-9)
