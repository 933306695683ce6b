"""The memory store: a run's state in dicts of this process, for the simulator, notebooks and unit tests.

Same records and the same behaviour as the file store (the contract tests run against both), without
durability: nothing survives the process, and nothing is written anywhere. Trainers find the store
through the ``file_path`` of their train_config, ``memory://{name}/hpopt_trial_{id}.json``, in this
process's registry; a trainer in another process cannot reach it (use the file store there).
"""

from __future__ import annotations

import copy
import itertools
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from ..algorithms.rank_summary import RankSummary
from .store import SummaryJudge
from .trial_record import TrialRecord, new_attempt

SCHEME = "memory"
_REGISTRY: weakref.WeakValueDictionary[str, MemoryStore] = weakref.WeakValueDictionary()
_NAMES = itertools.count()


def find_memory_store(name: str) -> MemoryStore | None:
    """The live memory store called ``name`` in this process, if any."""
    return _REGISTRY.get(name)


class MemoryStore:
    """A run's state in dicts (see the module doc). ``save_path`` only names the run in messages."""

    durable = False

    def __init__(self, save_path: str = "memory") -> None:
        self.save_path = str(save_path)
        self.name = f"{next(_NAMES)}-{id(self):x}"
        _REGISTRY[self.name] = self
        self._owner: Any = None
        self._status: dict[str, Any] | None = None
        self._trials: dict[int, TrialRecord] = {}
        self._changed: set[int] = set()
        self._summaries: dict[tuple[str, str], tuple[RankSummary, str | None]] = {}
        self._lock = threading.RLock()
        self.archived: list[dict[str, Any]] = []

    # --- the controller ------------------------------------------------------------------------

    def open_controller(self, owner: object) -> None:
        """A newer controller takes the store over, as a newer create() in one process does on files."""
        self._owner = weakref.ref(owner)

    def owned_by(self, owner: object) -> bool:
        return self._owner is not None and self._owner() is owner

    def close_controller(self, owner: object) -> None:
        if self.owned_by(owner):
            self._owner = None

    def load_status(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._status)

    def checkpoint(self, status: Mapping[str, Any]) -> None:
        """Keep the status the controller built (fresh dicts of JSON values: a shallow copy suffices; a full
        copy per checkpoint was most of a simulation's time)."""
        self._status = dict(status)
        self._status["config_list"] = [_entry_copy(e) for e in status.get("config_list", [])]

    def journal(self, record: Mapping[str, Any], sync: bool) -> None:
        """Apply the change to the stored status at once (there is no checkpoint to catch up with)."""
        if self._status is None:
            return
        entry = record.get("trial")
        if entry is not None:
            trials = self._status["config_list"]
            entry = _entry_copy(entry)
            if entry["trial_id"] < len(trials):
                trials[entry["trial_id"]] = entry
            else:
                trials.append(entry)
        self._status.update(record.get("fields", {}))
        self._status["journal_seq"] = record.get("seq", self._status.get("journal_seq"))

    def run_files(self) -> list[str]:
        return ["status"] if self._status is not None else []

    def archive_run(self) -> str | None:
        if self._status is None:
            return None
        self.archived.append({"status": self._status, "trials": self._trials})
        self._status, self._trials, self._summaries = None, {}, {}
        return f"{self.save_path} (archived run {len(self.archived)} in memory)"

    # --- trial records -------------------------------------------------------------------------

    def trial_address(self, trial_id: int) -> str:
        return f"{SCHEME}://{self.name}/hpopt_trial_{int(trial_id)}.json"

    def begin_attempt(self, trial_id: int, attempt: int, run_id: str, params: Mapping[str, Any],
                      iterations: int) -> None:
        with self._lock:
            old = self._trials.get(trial_id)
            self._trials[trial_id] = TrialRecord(
                new_attempt(trial_id, attempt, run_id, params, iterations, None if old is None else old.doc))
            self._changed.add(trial_id)

    def poll_trial(self, trial_id: int) -> TrialRecord | None:
        with self._lock:
            if trial_id not in self._trials:
                raise FileNotFoundError(self.trial_address(trial_id))
            if trial_id not in self._changed:
                return None
            self._changed.discard(trial_id)
            return self._trials[trial_id]

    def read_trial(self, trial_id: int) -> TrialRecord | None:
        return self._trials.get(trial_id)

    def locked_trial(self, trial_id: int) -> _LockedRecord:
        """A plain context manager rather than a generator one: a simulation takes thousands a second."""
        return _LockedRecord(self, trial_id)

    # --- rank summaries ------------------------------------------------------------------------

    def read_summary(self, kind: str, name: str, run_id: str | None = None) -> RankSummary:
        summary, owner = self._summaries.get((kind, name), (RankSummary(), None))
        if run_id is not None and owner not in (None, run_id):
            return RankSummary()
        return summary

    def judge_summary(self, kind: str, name: str, run_id: str | None, judge: SummaryJudge) -> bool:
        with self._lock:
            summary = self.read_summary(kind, name, run_id)
            verdict = bool(judge(summary))
            self._summaries[(kind, name)] = (summary, run_id)
            return verdict

    def replace_summaries(self, kind: str, summaries: Mapping[str, RankSummary], run_id: str) -> None:
        with self._lock:
            for key in [k for k in self._summaries if k[0] == kind]:
                del self._summaries[key]
            for name, summary in summaries.items():
                self._summaries[(kind, name)] = (summary, run_id)


def _entry_copy(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A config_list entry that the controller's later changes to its trial cannot reach."""
    out = dict(entry)
    if isinstance(out.get("config"), dict):
        out["config"] = dict(out["config"])
    return out


class _LockedRecord:
    """``with store.locked_trial(id) as record``: the record under the store's lock; its changes count as
    made when the block ends normally (the controller's next poll sees them)."""

    __slots__ = ("store", "trial_id", "record")

    def __init__(self, store: MemoryStore, trial_id: int) -> None:
        self.store, self.trial_id = store, trial_id

    def __enter__(self) -> TrialRecord:
        self.store._lock.acquire()
        record = self.store._trials.get(self.trial_id)
        if record is None:
            self.store._lock.release()
            raise FileNotFoundError(self.store.trial_address(self.trial_id))
        self.record = record
        return record

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None and self.record.pending:
                self.record.take_changes()
                self.store._changed.add(self.trial_id)
        finally:
            self.store._lock.release()
