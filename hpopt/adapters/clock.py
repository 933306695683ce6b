"""The run loop's sense of time: the wall clock, or a simulated clock that jumps from event to event.

The loop (:mod:`.run_loop`) asks its clock two things: ``now()`` (for trial timeouts, the kill grace
period and the elapsed time it reports) and ``wait(waitables, timeout)`` (block until a trial ends, a
signal arrives or ``timeout`` seconds pass). :class:`WallClock` does that with ``time.monotonic`` and
``multiprocessing.connection.wait``. :class:`SimulatedClock` keeps a heap of timed actions (a simulated
trial finishing an epoch); its ``wait`` never sleeps: it jumps to the next action and runs it, so a run
that would take hours of training replays in the time its reports take. Once its ``horizon`` passes it
says ``over`` and the loop ends as at a deadline.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from multiprocessing.connection import wait as wait_for
from typing import Any, Protocol


class Clock(Protocol):
    """What the run loop needs of time (see the module doc)."""

    @property
    def over(self) -> bool:
        """The clock's horizon has passed: the loop stops its trials and returns."""

    def now(self) -> float: ...

    def wait(self, waitables: list[Any], timeout: float | None) -> None: ...


class WallClock:
    """Real time: the loop blocks on the trials' exit descriptors and the signal pipe."""

    over = False

    def now(self) -> float:
        return time.monotonic()

    def wait(self, waitables: list[Any], timeout: float | None) -> None:
        wait_for(waitables, timeout)


class SimulatedClock:
    """Discrete-event time: ``schedule(at, action)``; each ``wait`` runs the next action due (see the module doc)."""

    def __init__(self, horizon: float | None = None) -> None:
        if horizon is not None and not horizon >= 0:
            raise ValueError(f"the simulated horizon must be >= 0 seconds, got {horizon!r}")
        self.horizon = horizon
        self.over = False
        self._now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal times run in the order they were scheduled

    def now(self) -> float:
        return self._now

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        """Run ``action`` when simulated time reaches ``at`` (never earlier than now)."""
        heapq.heappush(self._queue, (max(float(at), self._now), next(self._order), action))

    def wait(self, waitables: list[Any], timeout: float | None) -> None:
        """Advance to the next action and run it, or by ``timeout`` if that comes first.

        With nothing scheduled nothing can ever happen (a simulated trial always has its next epoch
        scheduled), so waiting would never end: a RuntimeError says so.
        """
        if not self._queue:
            raise RuntimeError("the simulation is stuck: no simulated trial runs and the algorithm issues none, "
                               "yet the run is not finished")
        at = self._queue[0][0]
        if timeout is not None and self._now + timeout < at:
            self._advance(self._now + timeout)
            return
        if not self._advance(at):
            return
        _, _, action = heapq.heappop(self._queue)
        action()

    def _advance(self, to: float) -> bool:
        """Move time to ``to``, or to the horizon and say ``over`` when ``to`` lies beyond it."""
        if self.horizon is not None and to > self.horizon:
            self._now = max(self._now, float(self.horizon))
            self.over = True
            return False
        self._now = to
        return True
