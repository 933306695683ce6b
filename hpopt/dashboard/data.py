"""What the dashboard serves about one run, read through the state store and the views, never written.

``RunSource(save_path).payload()`` is the JSON of ``/api/run/<i>``: a summary (algorithm, mode, metric, the
plan of :mod:`hpopt.views.plan_view`, the best trial so far), one row per trial as
:mod:`hpopt.views.results` gives it, each trial's scores (learning curves), ASHA's rungs, and the
hyperparameter importances when they can be computed. Nothing here takes a lock or writes under save_path.

Refreshes are cheap: trials are read through :class:`TrialCache`, which asks the file store's
``poll_trial`` whether a trial's files changed since the last read (their stat: inode, mtime_ns, size of
the ``.json`` and the size of its report log) and re-reads only those, replaying only the log's new lines.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

from ..algorithms.scores import best_of
from ..state import FileStore, TrialRecord, load_status
from ..views.plan_view import format_plan, plan_view
from ..views.results import RunResults, results_from_status
from ..views.trial_docs import current_doc


class TrialCache:
    """A read-only store for the views: ``read_trial`` answers from memory unless the trial's files
    changed (``FileStore.poll_trial`` compares their stat with the last read and reads only what is new)."""

    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.records: dict[int, TrialRecord] = {}
        self.reads = 0  # trials read from disk (tests check refreshes re-read only changed trials)

    def read_trial(self, trial_id: int) -> TrialRecord | None:
        try:
            record = self.store.poll_trial(trial_id)
        except FileNotFoundError:
            self.records.pop(trial_id, None)
            return None
        if record is None:  # unchanged since the last read
            return self.records.get(trial_id)
        self.reads += 1
        self.records[trial_id] = record
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


def _best(results: RunResults) -> dict[str, Any] | None:
    rows = results.finished()
    if not rows:
        return None
    score = best_of([r["best_score"] for r in rows], results.mode)
    row = next(r for r in rows if r["best_score"] == score)
    return {"trial_id": row["trial_id"], "score": score,
            "params": {n: row.get("params_" + n) for n in results.param_names}}


def _history(results: RunResults) -> list[dict[str, Any]]:
    """The best finished score after each finished trial, in the order trials were issued."""
    out, best = [], None
    for row in results.finished():
        score = row["best_score"]
        best = score if best is None else best_of([best, score], results.mode)
        out.append({"trial_id": row["trial_id"], "score": score, "best": best})
    return out


class RunSource:
    """One run served by the dashboard: its save_path, the trial cache, the last importances."""

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.save_path = os.path.abspath(os.fspath(save_path))
        self.cache = TrialCache(FileStore(self.save_path))
        self._lock = threading.Lock()  # one refresh at a time per run (the server is threaded)
        self._importance_key: Any = None
        self._importance: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        return {"save_path": self.save_path, "name": os.path.basename(self.save_path) or self.save_path}

    def payload(self) -> dict[str, Any]:
        """The run as JSON; a run that cannot be read gives ``{"error": ...}`` (and the server stays up)."""
        try:
            with self._lock:
                return clean(self._read())
        except Exception as exc:  # noqa: BLE001 - any damage is shown in the page, never a crash
            return {"save_path": self.save_path, "error": f"{type(exc).__name__}: {exc}"}

    def _read(self) -> dict[str, Any]:
        status = load_status(self.save_path)
        if status is None:
            raise FileNotFoundError(f"{self.save_path!r} holds no hpopt run (no hpopt_status.json there)")
        results = results_from_status(status, self.cache, self.save_path)
        docs = [current_doc(self.cache, entry) for entry in status["config_list"]]  # from the cache: no re-read
        plan = plan_view(status, docs)
        return {
            "save_path": self.save_path,
            "error": None,
            "summary": {"algorithm": results.algorithm, "mode": results.mode, "metric": results.metric,
                        "trials": len(results.records), "plan": plan, "plan_line": format_plan(plan),
                        "best": _best(results)},
            "columns": results.columns,
            "params": results.param_names,
            "space": _space_json(results),
            "rows": results.as_records(),
            "scores": {str(k): v for k, v in results.scores.items()},
            "rungs_in_brackets": results.rungs_in_brackets,
            "history": _history(results),
            "importance": self._importances(results),
        }

    def _importances(self, results: RunResults) -> dict[str, Any]:
        """hpopt.views.importance once MIN_TRIALS trials finished and scikit-learn is there; computed again
        only when the finished trials change."""
        from ..views import importance

        rows = results.finished()
        if len(rows) < importance.MIN_TRIALS:
            return {"values": None, "note": f"importance needs at least {importance.MIN_TRIALS} finished trials "
                                            f"with a score ({len(rows)} so far)"}
        key = tuple((r["trial_id"], r["best_score"]) for r in rows)
        if key != self._importance_key:
            try:
                self._importance = {"values": importance.importances(results), "note": None}
            except ImportError as exc:
                self._importance = {"values": None, "note": str(exc)}
            except ValueError as exc:
                self._importance = {"values": None, "note": str(exc)}
            self._importance_key = key
        return self._importance
