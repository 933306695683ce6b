"""The file store: a run's state as JSON files under save_path, crash safe and shared across processes.

Layout (names kept from the original hpopt so its tooling can read them; keys are only ever added)::

    save_path/hpopt_status.json        the controller's state (a checkpoint, see journal.py)
    save_path/hpopt_journal.jsonl      controller changes since that checkpoint
    save_path/hpopt_trial_{id}.json    one per trial: its current attempt (trial_record.py has the keys)
    save_path/hpopt_trial_{id}.jsonl   that trial's reports since the .json was last written
    save_path/hpopt_asha/              ASHA's rung summaries, hpopt_median_stop/ median stop's step summaries
    save_path/.locks/                  lock files
    save_path/archive/                 earlier runs moved aside by resume=False

Reports. Rewriting the trial file on every ``report()`` would cost O(scores already reported). A report
appends one line to the trial's ``.jsonl`` log instead (one write, one fsync) and the ``.json`` is
rewritten only when the log has grown as long as the trial's scores (amortised O(1)) and when the
attempt ends, so a finished trial's ``.json`` holds all of it. Readers replay the log over the ``.json``
(:meth:`FileStore.read_trial`). A process keeps the records it touched in memory and checks under the
trial's lock, by ``stat``, that nobody else changed the files since: then it needs to read nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..algorithms.rank_summary import RankSummary
from ..errors import StateFileError
from ..trial import Status
from .file_summaries import FileSummaries
from .files import (
    STATUS_FILE,
    atomic_write_json,
    ensure_dir,
    make_dir,
    parse_json_file,
    read_bytes_and_key,
    remove_stale_temp_files,
    status_path,
    trial_path,
)
from .journal import Journal, load_status
from .jsonl import JsonLines
from .locks import ControllerLock, trial_lock
from .trial_record import TRIAL_REMEDY, TrialRecord, check_trial_doc, new_attempt

logger = logging.getLogger("hpopt")

_MIN_LOG_BEFORE_CHECKPOINT = 64
RUN_NAMES = ("hpopt_journal.jsonl", "hpopt_median_stop", "hpopt_asha")


def log_path(save_path: str, trial_id: int) -> str:
    return os.path.join(save_path, f"hpopt_trial_{int(trial_id)}.jsonl")


@dataclass
class _Seen:
    """A trial's record as this process last saw or wrote it, and the files' state at that moment."""

    record: TrialRecord
    json_key: tuple[int, int, int] | None  # (inode, mtime ns, size) of the .json
    log_end: int  # bytes of the .jsonl the record holds
    log_lines: int  # lines in the .jsonl


class FileStore:
    """A run's state in the files under ``save_path`` (see the module doc)."""

    durable = True

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.save_path = os.fspath(save_path)
        self._lock = ControllerLock(self.save_path)
        self._journal: Journal | None = None
        self._seen: dict[int, _Seen] = {}
        self._polled: dict[int, tuple[tuple[int, int, int] | None, int]] = {}  # what poll_trial last returned
        self._summaries = FileSummaries(self.save_path)
        self._paths: dict[int, tuple[str, str]] = {}  # trial id -> (.json, .jsonl): made once

    # --- the controller ------------------------------------------------------------------------

    def open_controller(self, owner: object) -> None:
        ensure_dir(self.save_path)
        self._lock.acquire(owner)
        try:
            self._journal = Journal(self.save_path)
            self._remove_stale_temp_files()
        except BaseException:
            self._lock.release(owner)
            raise

    def _remove_stale_temp_files(self) -> None:
        """A writer killed between linking its temp file and renaming it leaves the temp file behind (a
        trainer's can appear at any time, so this runs when a controller starts and when it closes)."""
        for folder in [self.save_path] + [e.path for e in os.scandir(self.save_path)
                                          if e.is_dir(follow_symlinks=False) and e.name != "archive"]:
            for name in remove_stale_temp_files(folder):
                logger.info("removed %s, a temp file left by a killed writer", os.path.join(folder, name))

    def owned_by(self, owner: object) -> bool:
        return self._lock.owned_by(owner)

    def close_controller(self, owner: object) -> None:
        if self._lock.owned_by(owner):
            if self._journal is not None:
                self._journal.close()
            with contextlib.suppress(OSError):
                self._remove_stale_temp_files()
            self._lock.release(owner)

    def load_status(self) -> dict[str, Any] | None:
        return load_status(self.save_path)

    def checkpoint(self, status: Mapping[str, Any]) -> None:
        atomic_write_json(status_path(self.save_path), dict(status))
        self._controller_journal().reset()

    def journal(self, record: Mapping[str, Any], sync: bool) -> None:
        self._controller_journal().append(dict(record), sync=sync)

    def _controller_journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("the store is not opened by a controller")
        return self._journal

    def run_files(self) -> list[str]:
        names = [n for n in os.listdir(self.save_path)
                 if n == STATUS_FILE or n.startswith("hpopt_trial_") or n in RUN_NAMES]
        return sorted(names, key=lambda n: n != STATUS_FILE)

    def archive_run(self) -> str | None:
        """The status file goes first: a kill part-way leaves no status file next to the rest, which
        resume=True refuses and resume=False archives in turn."""
        names = self.run_files()
        if not names:
            return None
        dest = os.path.join(self.save_path, "archive", time.strftime("run-%Y%m%d-%H%M%S") + f"-{os.getpid()}")
        make_dir(dest)
        for n in names:
            os.replace(os.path.join(self.save_path, n), os.path.join(dest, n))
        self._seen.clear()
        self._polled.clear()
        return dest

    # --- trial records -------------------------------------------------------------------------

    def trial_address(self, trial_id: int) -> str:
        return self._trial_path(trial_id)

    def begin_attempt(self, trial_id: int, attempt: int, run_id: str, params: Mapping[str, Any],
                      iterations: int) -> None:
        path = self._trial_path(trial_id)
        with trial_lock(self.save_path, trial_id):
            previous = None
            try:
                old = self._load(trial_id)
                previous = None if old is None else old.record.doc
            except StateFileError as exc:  # kept aside, not overwritten: it may be restored by hand
                os.replace(path, path + ".damaged")
                log = self._log_path(trial_id)
                if os.path.lexists(log):  # the record is the pair: its log goes aside with it (or is the damage)
                    os.replace(log, log + ".damaged")
                logger.warning("trial %d runs again; its damaged file was moved to %s.damaged: %s",
                               trial_id, path, exc)
            doc = new_attempt(trial_id, attempt, run_id, params, iterations, previous)
            self._seen.pop(trial_id, None)
            # Not fsynced: the journal record of the issue is the truth; after a power cut a missing or stale
            # file only makes resume re-issue the trial.
            self._write_json(trial_id, doc, durable=False)

    def poll_trial(self, trial_id: int) -> TrialRecord | None:
        key = self._json_key(trial_id)
        if key is None:
            self._seen.pop(trial_id, None)
            raise FileNotFoundError(self._trial_path(trial_id))
        size = self._log_size(trial_id)
        if self._polled.get(trial_id) == (key, size):
            return None
        seen = self._refresh(trial_id, key, size)
        if seen is None:
            raise FileNotFoundError(self._trial_path(trial_id))
        self._polled[trial_id] = (seen.json_key, seen.log_end)
        return seen.record

    def read_trial(self, trial_id: int) -> TrialRecord | None:
        seen = self._load(trial_id)
        return None if seen is None else seen.record

    def locked_trial(self, trial_id: int) -> _LockedTrial:
        return _LockedTrial(self, trial_id)

    def _persist(self, trial_id: int, seen: _Seen) -> None:
        """Append the record's change to its log (one fsync). When the log has grown as long as the scores,
        the .json is rewritten durably and the log emptied (amortised O(1)). When the attempt ended, the
        .json is rewritten to hold the whole trial, without fsync: the log line just synced is the durable
        truth, so the log stays (readers skip what the .json already holds), and a report that ends a trial
        costs one fsync like any other."""
        record = seen.record
        changes = record.take_changes()
        if not changes:
            return
        if record.status != Status.RUNNING and seen.log_end == 0:
            # The attempt ends and its log is empty (a trial stopped at its first report, or right after a
            # checkpoint): the .json written durably holds all of it, and no log file need be created.
            atomic_write_json(self._trial_path(trial_id), record.doc, durable=True, indent=None)
            seen.json_key = self._json_key(trial_id)
            return
        if record.status == Status.RUNNING and seen.log_lines + len(changes) >= max(_MIN_LOG_BEFORE_CHECKPOINT,
                                                                       len(record.scores)):
            self._write_json(trial_id, record.doc, durable=True)
            seen.json_key, seen.log_end, seen.log_lines = self._json_key(trial_id), 0, 0
            return
        log = JsonLines(self._log_path(trial_id))
        try:
            seen.log_end = log.append(changes, sync=True, valid_end=seen.log_end)
        finally:
            log.close()
        seen.log_lines += len(changes)
        if record.status != Status.RUNNING:
            atomic_write_json(self._trial_path(trial_id), record.doc, durable=False, indent=None)
            seen.json_key = self._json_key(trial_id)

    # --- reading and caching -------------------------------------------------------------------

    def _refresh(self, trial_id: int, key: tuple[int, int, int] | None = None, size: int | None = None
                 ) -> _Seen | None:
        """The trial's current record: the cached one brought up to date, or read anew (``key`` and
        ``size``: the .json's stat key and the log's size, when the caller has them already)."""
        seen = self._seen.get(trial_id)
        if seen is not None and seen.json_key == (key if key is not None else self._json_key(trial_id)):
            size = size if size is not None else self._log_size(trial_id)
            if size == seen.log_end:
                return seen  # nobody else wrote since: nothing to read
            if size > seen.log_end:
                lines, end = self._read_log(trial_id, seen.log_end)
                self._apply(trial_id, seen.record, lines)
                seen.log_end, seen.log_lines = end, seen.log_lines + len(lines)
                return seen
        seen = self._load(trial_id)
        if seen is None:
            self._seen.pop(trial_id, None)
        else:
            self._seen[trial_id] = seen
        return seen

    def _load(self, trial_id: int) -> _Seen | None:
        """Read the .json and replay the .jsonl; None when there is no .json."""
        path = self._trial_path(trial_id)
        try:
            raw, key = read_bytes_and_key(path, TRIAL_REMEDY)
        except FileNotFoundError:
            return None
        doc = check_trial_doc(parse_json_file(path, raw, TRIAL_REMEDY), path)
        record = TrialRecord(doc)
        lines, end = self._read_log(trial_id, 0)
        self._apply(trial_id, record, lines)
        return _Seen(record, key, end, len(lines))

    def _apply(self, trial_id: int, record: TrialRecord, lines: list[dict[str, Any]]) -> None:
        for i, line in enumerate(lines):
            try:
                record.apply(line)
            except (ValueError, TypeError) as exc:
                raise StateFileError(f"{self._log_path(trial_id)} line {i + 1} is damaged ({exc}); "
                                     f"{TRIAL_REMEDY}") from None

    def _read_log(self, trial_id: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        path = self._log_path(trial_id)
        try:
            return JsonLines(path).read_from(offset)
        except ValueError as exc:
            raise StateFileError(f"{path} {exc}; {TRIAL_REMEDY}") from None

    def _log_size(self, trial_id: int) -> int:
        try:
            return os.stat(self._log_path(trial_id)).st_size
        except FileNotFoundError:
            return 0

    def _json_key(self, trial_id: int) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._trial_path(trial_id))
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _trial_path(self, trial_id: int) -> str:
        paths = self._paths.get(trial_id)
        if paths is None:
            paths = self._paths[trial_id] = (trial_path(self.save_path, trial_id), log_path(self.save_path, trial_id))
        return paths[0]

    def _log_path(self, trial_id: int) -> str:
        self._trial_path(trial_id)
        return self._paths[trial_id][1]

    def _write_json(self, trial_id: int, doc: Mapping[str, Any], durable: bool) -> None:
        """The trial's .json, atomically; compact JSON (the C encoder); the log is emptied after it."""
        atomic_write_json(self._trial_path(trial_id), doc, durable=durable, indent=None)
        log = JsonLines(self._log_path(trial_id))
        try:
            log.truncate()
        finally:
            log.close()

    # --- rank summaries (kept in their own files, see file_summaries.py) ------------------------

    def read_summary(self, kind: str, name: str, run_id: str | None = None) -> RankSummary:
        return self._summaries.read(kind, name, run_id)

    def judge_summary(self, kind: str, name: str, run_id: str | None, judge: Any) -> bool:
        return self._summaries.judge(kind, name, run_id, judge)

    def replace_summaries(self, kind: str, summaries: Mapping[str, RankSummary], run_id: str) -> None:
        self._summaries.replace(kind, summaries, run_id)


class _LockedTrial:
    """``with store.locked_trial(id) as record``: the trial's lock held, its record up to date; the change
    made in the block is persisted when it ends normally (a plain context manager: a report takes one)."""

    __slots__ = ("store", "trial_id", "lock", "seen")

    def __init__(self, store: FileStore, trial_id: int) -> None:
        self.store, self.trial_id = store, trial_id

    def __enter__(self) -> TrialRecord:
        store, tid = self.store, self.trial_id
        if tid not in store._seen and not os.path.exists(store._trial_path(tid)):
            # Checked before the lock: taking it would create .locks/ in a folder that holds no run (a
            # config from another save_path, a cleared folder), and nothing may be created there.
            raise FileNotFoundError(store._trial_path(tid))
        self.lock = trial_lock(store.save_path, tid)
        self.lock.__enter__()
        try:
            seen = self.store._refresh(self.trial_id)
            if seen is None:
                raise FileNotFoundError(self.store._trial_path(self.trial_id))
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        self.seen = seen
        return seen.record

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.store._persist(self.trial_id, self.seen)
            else:
                self.store._seen.pop(self.trial_id, None)  # memory may hold a change the files do not
        except BaseException:
            self.store._seen.pop(self.trial_id, None)
            raise
        finally:
            self.lock.__exit__(None, None, None)
