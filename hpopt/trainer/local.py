"""The trainer side on a store this process can reach (files under save_path, or a memory store).

Each call is one update of one trial's record under that trial's lock: its cost depends neither on how
many trials exist nor on how many scores the trial holds (the file store appends one log line). When the
train_config names a stop rule, the rule decides from the rank summary the store keeps for that rung or
step (taken under the summary's own lock, always after the trial's lock, so two reporters cannot
deadlock).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from ..algorithms.scores import best_of, is_better
from ..algorithms.stoppers import Progress, stopper_for
from ..errors import TrialFileMissingError
from ..state import StateStore, TrialRecord
from ..trial import Status

logger = logging.getLogger("hpopt")


def missing(config: Mapping[str, Any], caller: str) -> TrialFileMissingError:
    path = os.fspath(config["file_path"])
    return TrialFileMissingError(
        f"{caller}(config=...): config['file_path'] {path!r} does not exist: the config was not issued by "
        "get_next_sample() for this save_path, or the folder was moved or cleared (a controller that finds "
        "a running trial's file gone runs the trial again)"
    )


def is_current(record: TrialRecord, config: Mapping[str, Any], caller: str) -> bool:
    """Whether the record is the attempt this config was issued for (a stale config is ignored, with a
    warning: the controller re-issued or re-ran the trial since)."""
    doc = record.doc
    if doc.get("trial_id", config["trial_id"]) != config["trial_id"]:
        raise ValueError(f"{caller}(config=...): {config['file_path']} holds trial {doc.get('trial_id')!r}, not "
                         f"config['trial_id'] = {config['trial_id']!r}; the config does not belong to this file")
    run_id, attempt = config.get("run_id"), config.get("attempt")
    if (run_id is not None and doc.get("run_id") not in (None, run_id)) or (
            attempt is not None and doc.get("attempt", attempt) != attempt):
        logger.warning("%s(): trial %s was re-issued (now attempt %s of run %s; this config is attempt %s of run "
                       "%s); the call is ignored and the trainer should stop", caller, config["trial_id"],
                       doc.get("attempt"), doc.get("run_id"), attempt, run_id)
        return False
    return True


class StoreChannel:
    """report(), reportOOM() and finalize_trial() applied to a store's trial record."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def _locked(self, config: Mapping[str, Any], caller: str) -> _Entered:
        return _Entered(self.store.locked_trial(int(config["trial_id"])), config, caller)

    def report(self, config: Mapping[str, Any], value: float | None) -> Status:
        with self._locked(config, "report") as record:
            return self._report(record, config, value)

    def _report(self, record: TrialRecord, config: Mapping[str, Any], value: float | None) -> Status:
        if not is_current(record, config, "report") or record.status != Status.RUNNING:
            return Status.STOP
        record.add_score(value, round(time.time(), 4))
        k = len(record.scores)
        if k >= record.last_epoch(int(config["iterations"])):
            record.set_status(Status.STOP)
            return Status.STOP
        stopper = stopper_for(config)
        name = None if stopper is None else stopper.summary_at(config, k)
        if stopper is not None and name is not None:
            mode = str(config["mode"])
            progress = Progress(k, record.best(mode), record.mean, record.longest_previous >= k)
            run_id = config.get("run_id") if isinstance(config.get("run_id"), str) else None
            if self.store.judge_summary(stopper.kind, name, run_id, lambda s: stopper.judge(config, progress, s)):
                record.set_status(Status.STOP, early_stopped=1)
        return Status(record.status)

    def reportOOM(self, config: Mapping[str, Any]) -> None:  # noqa: N802 - mirrors hpopt.reportOOM
        with self._locked(config, "reportOOM") as record:
            if is_current(record, config, "reportOOM"):
                record.set_status(Status.CUDAOOM)

    def finalize_trial(self, config: Mapping[str, Any]) -> None:
        """``early_stopped`` is 1 when the last 5 scores did not improve on the best before them (original rule)."""
        with self._locked(config, "finalize_trial") as record:
            if not is_current(record, config, "finalize_trial") or record.status == Status.STOP:
                return
            scores, mode = record.scores, str(config["mode"])
            before, last = best_of(scores[:-5], mode), best_of(scores[-5:], mode)
            improved = before is None or (last is not None and is_better(last, before, mode))
            status = Status.STOP if record.status == Status.RUNNING else Status(record.status)
            record.set_status(status, early_stopped=int(len(scores) > 5 and not improved))


class _Entered:
    """A store's locked-trial context whose missing record is the config's fault (named as such)."""

    __slots__ = ("inner", "config", "caller")

    def __init__(self, inner: Any, config: Mapping[str, Any], caller: str) -> None:
        self.inner, self.config, self.caller = inner, config, caller

    def __enter__(self) -> TrialRecord:
        try:
            return self.inner.__enter__()
        except FileNotFoundError:
            raise missing(self.config, self.caller) from None

    def __exit__(self, *exc: Any) -> Any:
        return self.inner.__exit__(*exc)
