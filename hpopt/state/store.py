"""The state store interface: everything that keeps a run's state goes through one of these.

Two implementations: :class:`~.file_store.FileStore` (JSON files under save_path, crash safe, shared by
processes and machines) and :class:`~.memory_store.MemoryStore` (dicts in this process: the simulator,
notebooks, unit tests). The controller (``hpopt.run``) and the trainer side (``hpopt.trainer``) see only
this interface; ``tests/test_state_store.py`` runs one contract against both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..algorithms.rank_summary import RankSummary
from .trial_record import TrialRecord

SummaryJudge = Callable[[RankSummary], bool]


class StateStore(Protocol):
    """Run status, trial records, rank summaries, locks and archiving for one run."""

    save_path: str  # where the run lives (for messages; the memory store's name)
    durable: bool  # whether the state survives this process

    # --- the controller ----------------------------------------------------------------------
    def open_controller(self, owner: object) -> None:
        """Become the run's one controller (ControllerBusyError when another one is)."""

    def owned_by(self, owner: object) -> bool: ...

    def close_controller(self, owner: object) -> None: ...

    def load_status(self) -> dict[str, Any] | None:
        """The stored run (checkpoint plus journal), or None when there is none."""

    def checkpoint(self, status: Mapping[str, Any]) -> None:
        """Store the whole run status and forget the journal."""

    def journal(self, record: Mapping[str, Any], sync: bool) -> None:
        """Record one change of the run status (``sync``: durable before returning)."""

    def run_files(self) -> list[str]:
        """Names of what a run left here (empty: no run)."""

    def archive_run(self) -> str | None:
        """Move the run here aside (never delete a user's results); where it went, or None."""

    # --- trial records -------------------------------------------------------------------------
    def trial_address(self, trial_id: int) -> str:
        """The train_config's ``file_path`` of the trial: how a trainer finds this store and the trial."""

    def begin_attempt(self, trial_id: int, attempt: int, run_id: str, params: Mapping[str, Any],
                      iterations: int) -> None:
        """Lay out a new attempt of a trial; the earlier attempt's scores move to previous_attempts."""

    def poll_trial(self, trial_id: int) -> TrialRecord | None:
        """The trial's record if it changed since the last poll, else None (FileNotFoundError: gone)."""

    def read_trial(self, trial_id: int) -> TrialRecord | None:
        """The trial's record (None when there is none); never cached, for views and resume."""

    def locked_trial(self, trial_id: int) -> contextlib.AbstractContextManager[TrialRecord]:
        """The trial's record under its lock; changes made to it are persisted when the block ends.
        FileNotFoundError when the trial has no record (and the store creates nothing then, not even a lock)."""

    # --- rank summaries (stoppers) -------------------------------------------------------------
    def judge_summary(self, kind: str, name: str, run_id: str | None, judge: SummaryJudge) -> bool:
        """Run ``judge`` on a summary under its lock; save the summary if it changed; return the verdict."""

    def replace_summaries(self, kind: str, summaries: Mapping[str, RankSummary], run_id: str) -> None:
        """Replace every summary of ``kind`` (resume rebuilds them from the trial records)."""

    def read_summary(self, kind: str, name: str, run_id: str | None = None) -> RankSummary:
        """A summary (empty when there is none or it belongs to another run)."""
