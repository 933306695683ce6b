"""What a run came to, as :func:`~.run_loop.run_trials` returns it to the adapter's caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..trial import Status


@dataclass
class RunSummary:
    """What a run came to (counts cover the whole run, earlier sessions of a resumed one included)."""

    save_path: str
    finished: bool
    trials_done: int
    trials_failed: int
    trials_retried: int
    trials_oom: int
    best_trial_id: int | None
    best_config: dict[str, Any] | None
    best_score: float | None
    elapsed_s: float
    kept_artifacts: list[str] = field(default_factory=list)


def summarize(hpo: Any, elapsed: float, keep: Callable[[list[dict[str, Any]]], list[str]] | None) -> RunSummary:
    """The summary of ``hpo``'s run; ``keep(entries)`` prunes the artifact folders of a finished run and
    returns those kept (None: the run keeps no files)."""
    best_config = hpo.get_best_config()  # also writes a checkpoint
    status = hpo.get_current_status()
    entries = status["config_list"]
    finished = hpo.is_finished()
    kept = keep(entries) if finished and keep is not None else []
    stopped = [e for e in entries if e["status"] == Status.STOP]
    return RunSummary(
        save_path=hpo.save_path,
        finished=finished,
        trials_done=sum(1 for e in stopped if e.get("score") is not None),
        trials_failed=sum(1 for e in stopped if e.get("score") is None),
        trials_retried=sum(int(e.get("retries", 0)) for e in entries),
        trials_oom=sum(int(e.get("oom_count", 0)) for e in entries),
        best_trial_id=status.get("best_config_id"),
        best_config=best_config,
        best_score=hpo.get_best_score(),
        elapsed_s=elapsed,
        kept_artifacts=kept,
    )
