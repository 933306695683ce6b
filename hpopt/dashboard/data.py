"""What the dashboard serves about one run, read through the state store and the views, never written.

``RunSource(save_path).payload()`` is the JSON of ``/api/run/<i>``: a summary (algorithm, mode, metric, the
plan of :mod:`hpopt.views.plan_view`, the best trial so far), one row per trial as
:mod:`hpopt.views.results` gives it, each trial's scores (learning curves), ASHA's rungs, and the
hyperparameter importances when they can be computed. Nothing here takes a lock or writes under save_path.

Refreshes are cheap: trials are read through :class:`TrialCache`, which asks the file store's
``poll_trial`` whether a trial's files changed since the last read (their stat: inode, mtime_ns, size of
the ``.json`` and the size of its report log) and re-reads only those, replaying only the log's new lines.
The status is read again only when the checkpoint or the journal changed (their stat); each trial's row
and its JSON are kept until its status entry or its files change; a trial the controller collected and
whose file says it ended is not polled again until its entry changes; when nothing changed the last
answer's bytes are served again. The importances are computed again in a background thread (only the
first ones of a small run are computed in the refresh), so a refresh never waits for the random forest,
and at most once per ``IMPORTANCE_REST`` seconds or ten times the last fit's duration.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

from ..errors import StateFileError
from ..search_space import space_from_json
from ..state import FileStore, TrialRecord, load_status
from ..state.files import JOURNAL_FILE, STATUS_FILE
from ..state.journal import Journal, apply_records
from ..trial import Status
from ..views.plan_view import format_plan, plan_view
from ..views.results import PARAM_PREFIX, TAIL_COLUMNS, RunResults, best_rule, trial_row
from ..views.trial_docs import current_doc


class TrialCache:
    """A read-only store for the views: ``read_trial`` answers from memory unless the trial's files
    changed (``FileStore.poll_trial`` compares their stat with the last read and reads only what is new).
    ``versions`` counts each trial's changes, so callers can keep what they derived from a trial."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.records: dict[int, TrialRecord] = {}
        self.versions: dict[int, int] = {}
        self.reads = 0  # trials read from disk (tests check refreshes re-read only changed trials)

    def read_trial(self, trial_id: int) -> TrialRecord | None:
        try:
            record = self.store.poll_trial(trial_id)
        except FileNotFoundError:
            if self.records.pop(trial_id, None) is not None:
                self.versions[trial_id] = self.versions.get(trial_id, 0) + 1
            return None
        if record is None:  # unchanged since the last read
            return self.records.get(trial_id)
        self.reads += 1
        self.records[trial_id] = record
        self.versions[trial_id] = self.versions.get(trial_id, 0) + 1
        return record


def clean(value: Any) -> Any:
    """Plain JSON: NaN and infinities become None (JSON has no such numbers), tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _space_json(results: RunResults) -> dict[str, Any]:
    """Each parameter's type and range (the charts' axes: log scale, choice order)."""
    out: dict[str, Any] = {}
    for name, sp in results.space.items():
        out[name] = {"type": getattr(sp, "type", None), "range": clean(list(getattr(sp, "range", []) or []))}
    return out


def _best(results: RunResults, names: list[str]) -> dict[str, Any] | None:
    """The best config by the controller's rule (epochs reached first in a multi-fidelity run)."""
    row = results.best()
    if row is None:
        return None
    params = {n: row.get(PARAM_PREFIX + n) for n in names}
    return {"trial_id": row["trial_id"], "score": row["best_score"], "params": params}


def _file_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _dump(value: Any) -> str:
    return json.dumps(clean(value), allow_nan=False)


class _Row:
    """What one trial gives the page, kept while its status entry and its files are unchanged: the row,
    its scores, and both already serialized."""

    __slots__ = ("entry", "version", "row", "scores", "row_json", "scores_json", "doc", "final", "extra")

    def __init__(self, entry: dict[str, Any], version: int, doc: dict[str, Any], mode: str, names: list[str],
                 rungs: list[list[int]] | None) -> None:
        self.entry, self.version, self.doc = entry, version, doc
        self.row = trial_row(entry, doc, mode, names, rungs)
        self.extra = [k for k in entry.get("config", {}) if k not in names]  # parameters outside the space
        self.scores = list(doc.get("scores", []))
        self.row_json = _dump(self.row)
        self.scores_json = _dump(self.scores)
        # Collected by the controller and ended in its own file: no report writes to this attempt any
        # more, so its files are not polled again until its status entry changes (a re-issue).
        self.final = int(entry["status"]) == Status.STOP and doc.get("status") == Status.STOP


class RunSource:
    """One run served by the dashboard: its save_path, the trial cache, the last answer and importances.

    A refresh stats the status checkpoint and journal (``load_status`` runs again only when one of them
    changed) and polls each trial once; rows and their JSON are rebuilt only for trials whose status
    entry or files changed, and when nothing changed the last answer is served as it was.
    """

    #: The first importances of a run with at most this many finished trials are computed in the refresh;
    #: later ones, and any over more trials, in a background thread (a random forest takes about half a
    #: second over a few hundred trials, tens of seconds over 10 000): the page shows the last values.
    SYNC_IMPORTANCE_MAX = 500
    IMPORTANCE_REST = 10.0

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.save_path = os.path.abspath(os.fspath(save_path))
        self.cache = TrialCache(FileStore(self.save_path))
        self._lock = threading.Lock()  # one refresh at a time per run (the server is threaded)
        self._status_key: Any = None
        self._status: dict[str, Any] | None = None
        self._context: Any = None
        self._rows: dict[int, _Row] = {}
        self._body: bytes | None = None
        self._body_key: Any = None
        self._importance_key: Any = None
        self._importance: dict[str, Any] = {}
        self._importance_job: threading.Thread | None = None
        self._importance_next = 0.0
        self._importance_stale = False
        self._pending_count = 0
        self.rebuilt_rows = 0  # rows rebuilt (tests check a refresh rebuilds only changed trials)

    def describe(self) -> dict[str, Any]:
        return {"save_path": self.save_path, "name": os.path.basename(self.save_path) or self.save_path}

    def payload(self) -> dict[str, Any]:
        """The run as JSON; a run that cannot be read gives ``{"error": ...}`` (and the server stays up)."""
        return json.loads(self.body())

    def body(self) -> bytes:
        """``payload()`` serialized: what ``/api/run/<i>`` answers."""
        try:
            with self._lock:
                return self._read()
        except Exception as exc:  # noqa: BLE001 - any damage is shown in the page, never a crash
            self._status_key = self._body = None
            return json.dumps({"save_path": self.save_path, "error": f"{type(exc).__name__}: {exc}"}).encode()

    def _load_status(self) -> dict[str, Any]:
        # Stat the journal before the checkpoint, as load_status reads them: a change after the stat shows
        # as a different key at the next refresh. The checkpoint is replaced (new inode), the journal
        # appended to (new size) or replaced when emptied (new inode).
        journal = os.path.join(self.save_path, JOURNAL_FILE)
        key = (_file_key(journal), _file_key(os.path.join(self.save_path, STATUS_FILE)))
        if key == self._status_key and self._status is not None:
            return self._status
        old = self._status_key
        if (self._status is not None and old is not None and key[1] == old[1] and key[0] is not None
                and old[0] is not None and key[0][0] == old[0][0] and key[0][2] > old[0][2]):
            try:  # same checkpoint, the same journal grown: replay only its new records
                self._replay(journal, old[0][2])
                self._status_key = key
                return self._status
            except (OSError, ValueError, StateFileError, KeyError, TypeError):
                pass  # e.g. the offset fell inside a line being written: read it all again
        status = load_status(self.save_path)
        if status is None:
            raise FileNotFoundError(f"{self.save_path!r} holds no hpopt run (no hpopt_status.json there)")
        self._status, self._status_key = status, key
        return status

    def _replay(self, journal: str, offset: int) -> None:
        """Apply the journal's records after ``offset`` to the status (the store's ``apply_records``, as
        ``load_status`` does); records it already holds are skipped."""
        with open(journal, "rb") as f:  # the last read must have stopped at a line's end, not inside one
            f.seek(offset - 1)
            if f.read(1) != b"\n":
                raise ValueError("the journal's last read ended inside a line")
        status = dict(self._status or {})
        status["config_list"] = list(status["config_list"])
        apply_records(status, Journal(self.save_path).records(offset), journal)
        self._status = status

    def _read(self) -> bytes:
        status = self._load_status()
        mode = str(status.get("mode", "max"))
        space = space_from_json(status.get("original_search_space") or status.get("search_space") or {})
        names = list(space)
        rungs = status.get("rungs_in_brackets")
        context = (mode, tuple(names), json.dumps(rungs))
        if context != self._context:
            self._rows.clear()
            self._context = context
        rows: list[_Row] = []
        changed = False
        for entry in status["config_list"]:
            tid = int(entry["trial_id"])
            kept = self._rows.get(tid)
            if kept is not None and kept.final and (kept.entry is entry or kept.entry == entry):
                rows.append(kept)
                continue
            doc = current_doc(self.cache, entry)  # polls the trial's files: re-read only when they changed
            version = self.cache.versions.get(tid, 0)
            if kept is None or kept.version != version or (kept.entry is not entry and kept.entry != entry):
                kept = self._rows[tid] = _Row(entry, version, doc, mode, names, rungs)
                self.rebuilt_rows += 1
                changed = True
            rows.append(kept)
        for tid in [t for t in self._rows if t >= len(rows)]:
            del self._rows[tid]
            changed = True
        body_key = (self._status_key, len(rows))
        job = self._importance_job
        importance_pending = ((job is not None and not job.is_alive())  # done since the last answer: show it
                              or (self._importance_stale and time.monotonic() >= self._importance_next))
        if self._body is not None and not changed and body_key == self._body_key and not importance_pending:
            return self._body
        results = RunResults(records=[r.row for r in rows], scores={int(r.entry["trial_id"]): r.scores for r in rows},
                             space=space, mode=mode, metric=status.get("metric"),
                             algorithm=status.get("search_algorithm"), rungs_in_brackets=rungs,
                             reduction_factor=None if status.get("reduction_factor") is None
                             else int(status["reduction_factor"]), where=self.save_path, **best_rule(status))
        plan = plan_view(status, [r.doc for r in rows])
        param_names = list(names)  # as RunResults.columns, from each row's parameters kept with it
        for r in rows:
            param_names += [k for k in r.extra if k not in param_names]
        columns = ["trial_id", *(PARAM_PREFIX + n for n in param_names), *TAIL_COLUMNS]
        history = results.history()
        if len(param_names) == len(names):
            rows_json = ",".join(r.row_json for r in rows)
        else:  # parameters outside the space (rare): every row gets every column
            rows_json = ",".join(_dump(row) for row in results.as_records())
        head = _dump({
            "save_path": self.save_path,
            "error": None,
            "summary": {"algorithm": results.algorithm, "mode": results.mode, "metric": results.metric,
                        "trials": len(rows), "plan": plan, "plan_line": format_plan(plan),
                        "best": _best(results, param_names)},
            "columns": columns,
            "params": param_names,
            "space": _space_json(results),
        })
        tail = _dump({
            "rungs_in_brackets": results.rungs_in_brackets,
            "history": history,
            "importance": self._importances(results),
        })
        scores_json = ",".join(f'"{int(r.entry["trial_id"])}":{r.scores_json}' for r in rows)
        body = f'{head[:-1]},"rows":[{rows_json}],"scores":{{{scores_json}}},{tail[1:]}'.encode()
        self._body, self._body_key = body, body_key
        return body

    def _importances(self, results: RunResults) -> dict[str, Any]:
        """hpopt.views.importance once MIN_TRIALS trials finished and scikit-learn is there; computed again
        only when the finished trials change, in a background thread for large runs."""
        from ..views import importance

        rows = results.finished()
        if len(rows) < importance.MIN_TRIALS:
            return {"values": None, "note": f"importance needs at least {importance.MIN_TRIALS} finished trials "
                                            f"with a score ({len(rows)} so far)"}
        key = tuple((r["trial_id"], r["best_score"]) for r in rows)
        job = self._importance_job
        if job is not None and not job.is_alive():
            self._importance_job = job = None
        resting = time.monotonic() < self._importance_next  # a background fit ended a short while ago
        # Stale values served while resting: the answer is built again once the rest is over.
        self._importance_stale = (key != self._importance_key and job is None and resting
                                  and self._importance_key is not None)
        if key == self._importance_key or job is not None or (resting and self._importance_key is not None):
            if job is not None:
                note = f"computing the importances over {self._pending_count} finished trials"
                return {"values": self._importance.get("values"), "note": note}
            return self._importance
        if self._importance_key is None and len(rows) <= self.SYNC_IMPORTANCE_MAX:
            self._importance = _compute_importances(results)
            self._importance_key = key
            return self._importance
        self._pending_count = len(rows)

        def work() -> None:
            t0 = time.monotonic()
            value = _compute_importances(results)
            value["note"] = value["note"] or f"over {len(rows)} finished trials"
            self._importance, self._importance_key = value, key
            # The forest competes with the refreshes for the CPU (and the GIL): rest ten times as long as
            # it took, at least IMPORTANCE_REST seconds, before the next one.
            self._importance_next = time.monotonic() + max(self.IMPORTANCE_REST, 10 * (time.monotonic() - t0))

        self._importance_job = threading.Thread(target=work, name="hpopt-dashboard-importance", daemon=True)
        self._importance_job.start()
        return {"values": self._importance.get("values"),
                "note": f"computing the importances over {len(rows)} finished trials"}


def _compute_importances(results: RunResults) -> dict[str, Any]:
    from ..views import importance

    try:
        return {"values": importance.importances(results), "note": None}
    except (ImportError, ValueError) as exc:
        return {"values": None, "note": str(exc)}
