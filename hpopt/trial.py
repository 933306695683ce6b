"""The Status enum (values fixed by the original hpopt) and the controller's record of one trial."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Status(IntEnum):
    """Trial and run states; stored as plain ints in the JSON files, as the original did."""

    UNKNOWN = -1
    READY = 0
    RUNNING = 1
    STOP = 2
    CUDAOOM = 3
    NORESULT = 4
    PARTIALRESULT = 5
    COMPLETERESULT = 6


@dataclass
class Trial:
    """One entry of ``config_list`` in ``hpopt_status.json``.

    ``config`` is the hyperparameter dict (the original's key name). ``attempt`` grows each time the same
    trial id is re-issued (after a CUDA OOM or a resume), so reports from an older attempt are told apart.
    """

    trial_id: int
    config: dict[str, Any]
    status: Status = Status.READY
    score: float | None = None
    attempt: int = 0
    iterations: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "trial_id": self.trial_id,
            "config": self.config,
            "status": int(self.status),
            "score": self.score,
            "attempt": self.attempt,
            "iterations": self.iterations,
        }
        if self.error is not None:
            entry["error"] = self.error
        entry.update(self.extra)
        return entry

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Trial:
        known = {"trial_id", "config", "status", "score", "attempt", "iterations", "error"}
        return cls(
            trial_id=int(entry["trial_id"]),
            config=dict(entry["config"]),
            status=Status(int(entry["status"])),
            score=entry.get("score"),
            attempt=int(entry.get("attempt", 0)),
            iterations=int(entry.get("iterations", 0)),
            error=entry.get("error"),
            extra={k: v for k, v in entry.items() if k not in known},
        )
