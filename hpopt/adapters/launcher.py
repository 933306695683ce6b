"""What the shared run loop (:mod:`.run_loop`) asks of an adapter: a launcher that starts trial attempts,
the handle of a running attempt, and the two ways a run ends early (a failed trial, a stop signal).

A launcher's ``start(config, log_path, env)`` starts one trial attempt and returns a :class:`TrialHandle`:

- ``poll()`` -> None while it runs, then its exit code: 0 ended by itself, > 0 crashed, < 0 killed by
  that signal (a remote launcher maps its job's end onto these); ``wait(timeout)`` blocks up to timeout;
- ``terminate()`` asks it to stop (SIGTERM, or stop the remote job), ``kill()`` insists (SIGKILL);
  ``close()`` frees what was held for waiting;
- ``waitable``: an object the loop's clock can block on until it ends (an exit descriptor), or None:
  then the loop polls it every ``poll_interval`` seconds (a remote handle rate-limits its own API calls);
- ``label`` names it in logs ("pid 1234", "job hpopt-…"); ``end_reason``, once it ended, may say why it
  failed better than an exit code (it becomes the trial's error).

``log_path`` is the attempt's output file (created empty by the loop; the launcher appends to it), or
None when the run keeps no files (a simulation on the memory store).
"""

from __future__ import annotations

import signal
from typing import Any, Protocol

from ..errors import HpoptError


class TrialFailedError(HpoptError, RuntimeError):
    """A trial failed for good (after its retries) and ``ignore_fail`` is False: the run was stopped."""

    def __init__(self, trial_id: int, error: str, log_path: str | None) -> None:
        self.trial_id, self.error, self.log_path = trial_id, error, log_path
        super().__init__(self.describe())

    def describe(self, go_on: str = "pass ignore_fail=True", resume: str = "resume=True") -> str:
        """The message, with the ways out worded for the caller: Python arguments by default; the command
        line passes its own (the experiment file's ``"ignore_fail": true``, ``hpopt run ... --resume``)."""
        where = f"; its output is in {self.log_path}" if self.log_path else ""
        return (f"trial {self.trial_id} failed: {self.error}{where}. The run was stopped ({go_on} to go on "
                f"without it); {resume} continues the other trials")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached the controller: every child was stopped and the state is resumable."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class TrialHandle(Protocol):
    """One running trial attempt, wherever it runs (see the module doc)."""

    label: str
    waitable: Any
    poll_interval: float
    end_reason: str | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int | None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


class Launcher(Protocol):
    """Starts trial attempts for :func:`~.run_loop.run_trials`."""

    def start(self, config: dict[str, Any], log_path: str | None, env: dict[str, str]) -> TrialHandle: ...
