"""The controller's run state on disk: ``hpopt_status.json`` (a checkpoint) plus ``hpopt_journal.jsonl``.

Rewriting the whole status file on every ``get_next_sample`` would cost O(number of trials), so the
controller appends each change to the journal (one fsynced line) and rewrites the status file only when
the journal has grown as long as the trial list: amortised O(1) per change. Loading replays the journal
over the checkpoint; a torn last line (a crash mid-append) is dropped, as that change never returned.
Each record is ``{"seq": n, "trial": {...}?, "fields": {...}?}``; the checkpoint stores the last ``seq``
it contains, so records that a checkpoint already holds (a crash between the checkpoint and the
truncation) are skipped.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import StateFileError
from ..search_space import space_from_json
from ..trial import Status
from .files import JOURNAL_FILE, atomic_write_bytes, read_json_dict, status_path
from .jsonl import JsonLines

JOURNAL_REMEDY = ("delete the journal to fall back to the last checkpoint in hpopt_status.json (changes after it "
                  "are lost; finished trials are collected again from their trial files)")
STATUS_REMEDY = ("restore it from a backup, or start over with resume=False (the damaged run is then moved to "
                 "save_path/archive, nothing is deleted)")
# Statuses a config_list entry can hold: hpopt never stores CUDAOOM (3) or the run-level values there.
ENTRY_STATES = frozenset({int(Status.READY), int(Status.RUNNING), int(Status.STOP)})


class Journal:
    """Append-only log of controller changes since the last status checkpoint."""

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.path = os.path.join(os.fspath(save_path), JOURNAL_FILE)
        self._file = JsonLines(self.path)

    def records(self, offset: int = 0) -> list[dict[str, Any]]:
        """The records from byte ``offset`` (a line's start) on, each checked; StateFileError if damaged."""
        try:
            records, _ = self._file.read_from(offset)
        except ValueError as exc:
            raise StateFileError(f"{self.path} {exc}; {JOURNAL_REMEDY}") from exc
        for i, rec in enumerate(records):
            problem = _record_problem(rec)
            if problem is not None:
                raise StateFileError(f"{self.path} record {i + 1} is damaged ({problem}); {JOURNAL_REMEDY}")
        return records

    def append(self, record: dict[str, Any], sync: bool = True) -> None:
        """Append one record; ``sync`` makes it (and every earlier one) durable before returning.

        ``sync=False`` suits changes that can be derived again from durable files (collecting a trial
        whose file says it finished): a power cut may drop them, and resume re-derives them.
        """
        self._file.append(record, sync=sync)

    def reset(self) -> None:
        """Empty the journal after a checkpoint (atomically replaced by an empty file)."""
        self._file.close()
        atomic_write_bytes(self.path, b"")

    def close(self) -> None:
        self._file.close()


def _record_problem(rec: dict[str, Any]) -> str | None:
    if not _is_int(rec.get("seq")):
        return "no int seq"
    if not isinstance(rec.get("trial", {}), dict) or not isinstance(rec.get("fields", {}), dict):
        return "its trial or fields are not objects"
    return None


def load_status(save_path: str) -> dict[str, Any] | None:
    """The stored run state (checkpoint plus journal), or None when save_path holds no run.

    Safe while a controller runs: the journal is read BEFORE the checkpoint. The controller writes a new
    checkpoint before it empties the journal, so a journal read first holds only records that the
    checkpoint read after it either contains (skipped by ``journal_seq``) or directly precedes.
    A damaged checkpoint or journal raises StateFileError naming the file and the way out.
    """
    path = status_path(save_path)
    if not os.path.exists(path):
        return None
    journal = Journal(save_path)
    records = journal.records()
    status = read_json_dict(path, ("search_algorithm", "search_space", "config_list"), remedy=STATUS_REMEDY)
    config_list = status["config_list"]
    if not isinstance(config_list, list):
        raise StateFileError(f"{path}: config_list is not a list; the file is damaged; {STATUS_REMEDY}")
    for i, entry in enumerate(config_list):
        check_entry(entry, i, f"{path}: config_list[{i}]", STATUS_REMEDY)
    _check_settings(path, status)
    apply_records(status, records, journal.path)
    _check_settings(path, status)
    return status


def apply_records(status: dict[str, Any], records: list[dict[str, Any]], journal_path: str) -> None:
    """Apply journal records to a status dict in place; records it already holds (``journal_seq``) are
    skipped, so a record read twice changes nothing. Shared by ``load_status`` and readers that replay
    only the records appended since their last read (the dashboard)."""
    config_list = status["config_list"]
    done = int(status.get("journal_seq", 0))
    for rec in records:
        if rec["seq"] <= done:
            continue
        where = f"{journal_path}: record seq {rec['seq']}"
        if "trial" in rec:
            entry = rec["trial"]
            tid = entry.get("trial_id")
            if _is_int(tid) and 0 <= tid < len(config_list):
                config_list[tid] = entry
            elif tid == len(config_list):
                config_list.append(entry)
            else:
                raise StateFileError(f"{where} names trial {tid!r} but only {len(config_list)} exist; "
                                     f"{JOURNAL_REMEDY}")
            check_entry(entry, tid, where, JOURNAL_REMEDY)
        status.update(rec.get("fields", {}))
        status["journal_seq"] = done = rec["seq"]


def check_entry(entry: Any, index: int, where: str, remedy: str) -> None:
    """One config_list entry, as the controller needs it; a damaged one is named, not half-loaded."""
    problem = None
    if not isinstance(entry, dict):
        problem = f"is a {type(entry).__name__}, not an object"
    elif entry.get("trial_id") != index or isinstance(entry.get("trial_id"), bool):
        problem = f"has trial_id {entry.get('trial_id')!r} at position {index}"
    elif not isinstance(entry.get("config"), dict) or not entry["config"]:
        problem = f"has no config object (got {entry.get('config')!r})"
    elif not _is_int(entry.get("status")) or entry["status"] not in ENTRY_STATES:
        problem = (f"has the status {entry.get('status')!r}, which hpopt never stores there (READY 0, RUNNING 1 "
                   "or STOP 2)")
    elif entry.get("score") is not None and not _is_real(entry["score"]):
        problem = f"has the score {entry['score']!r}, not a number or null"
    elif not all(_is_int(entry.get(k, 0)) and entry.get(k, 0) >= 0 for k in ("attempt", "iterations")):
        problem = f"has attempt {entry.get('attempt')!r} and iterations {entry.get('iterations')!r}, not ints >= 0"
    if problem is not None:
        raise StateFileError(f"{where} {problem}; {remedy}")


def _check_settings(path: str, status: dict[str, Any]) -> None:
    """The run-wide keys that resume reads; a damaged one is named rather than failing deep in resume."""
    for key in ("num_trials", "max_iterations", "journal_seq", "seed", "full_dataset_size", "num_full_iterations"):
        if key in status and status[key] is not None and not (_is_int(status[key]) and status[key] >= 0):
            raise StateFileError(f"{path}: {key} is {status[key]!r}, not an int >= 0; {STATUS_REMEDY}")
    for key in ("epoch_budget", "time_budget_s"):
        if status.get(key) is not None and not (_is_real(status[key]) and status[key] >= 0):
            raise StateFileError(f"{path}: {key} is {status[key]!r}, not a number >= 0; {STATUS_REMEDY}")
    for key in ("search_space", "original_search_space"):
        if key in status:
            try:
                space_from_json(status[key])
            except (TypeError, ValueError) as exc:
                raise StateFileError(f"{path}: {key} is damaged ({exc}); {STATUS_REMEDY}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
