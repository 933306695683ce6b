"""A run's trials as data: one flat row per trial, as a pandas DataFrame or as plain dicts.

``hpopt.load_results(save_path)`` reads a run from its files without a lock and without writing, so it
works on a finished run, a killed one, and one whose controller (or trainers) are writing right now;
``hpo.trials_dataframe()`` reads the controller's own state (any store, the memory store included). Both
read through the state store, so a trial file being rewritten or a report log with a torn last line reads
as the trial stood before that write.

Columns (one row per trial id, in the order issued):

    trial_id      the trial's id
    params_NAME   one per hyperparameter (the search space's order)
    status        done, stopped (early), failed, running, queued (to be issued again) or oom (as hpopt status)
    epochs        epochs (reports) the current attempt has run
    max_epochs    epochs the trial was allowed (its ``iterations``)
    best_score    its best score: the result for a finished trial, the best so far for a running one
    last_score    the latest valid score it reported (a NaN/inf report is skipped; None before any)
    bracket       ASHA: the trial's bracket; None for other algorithms
    rung          ASHA: the highest rung (an epoch) the trial reached in its bracket; None otherwise
    attempts      attempts made (1 + re-issues after a crash, an OOM or a resume)
    retries       re-runs after its trainer crashed (adapters' ``retry_trial``)
    oom_count     CUDA out-of-memory re-samples
    seconds       wall seconds from the attempt's issue to its latest report (the controller's measured
                  cost where the stamps are missing); None before a first report
    issued_at     when the current attempt was issued (Unix time), None in runs that did not record it
    error         why it failed, else None

Without pandas, ``as_records=True`` gives the same rows as a list of dicts; asking for a DataFrame
without pandas raises an ImportError naming ``pip install 'hpopt[results]'`` (a silent change of the
return type would break the caller later, further from the cause).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..algorithms.algorithm import BEST_BY_MODEL
from ..algorithms.scores import best_of, fidelity_cap, last_valid, rank_key, score_up_to
from ..search_space import SearchSpace, space_from_json
from ..state import FileStore, StateStore, load_status
from ..trial import Status
from .trial_docs import current_doc, trial_label

PARAM_PREFIX = "params_"
TAIL_COLUMNS = ("status", "epochs", "max_epochs", "best_score", "last_score", "bracket", "rung", "attempts",
                "retries", "oom_count", "seconds", "issued_at", "error")
INT_COLUMNS = ("trial_id", "epochs", "max_epochs", "bracket", "rung", "attempts", "retries", "oom_count")
FLOAT_COLUMNS = ("best_score", "last_score", "seconds", "issued_at")
FINISHED = ("done", "stopped")


@dataclass(frozen=True)
class RunResults:
    """One read of a run: a row per trial, and what pictures need beside the table (the space, the mode,
    each trial's scores per epoch, ASHA's rungs)."""

    records: list[dict[str, Any]]
    scores: dict[int, list[float | None]]
    space: dict[str, SearchSpace]
    mode: str
    metric: str | None
    algorithm: str | None
    rungs_in_brackets: list[list[int]] | None
    reduction_factor: int | None
    where: str
    by_fidelity: bool = False  # early stopping was on: the best config is ranked by epochs reached first
    model_best: int | None = None  # the controller's searcher chose the best config (status' best_rule)

    @property
    def param_names(self) -> list[str]:
        return [c[len(PARAM_PREFIX):] for c in self.columns if c.startswith(PARAM_PREFIX)]

    @property
    def columns(self) -> list[str]:
        names = list(self.space)
        for row in self.records:
            names += [c[len(PARAM_PREFIX):] for c in row if c.startswith(PARAM_PREFIX)
                      and c[len(PARAM_PREFIX):] not in names]
        return ["trial_id", *(PARAM_PREFIX + n for n in names), *TAIL_COLUMNS]

    def finished(self) -> list[dict[str, Any]]:
        """Rows of finished trials with a valid score (done, or stopped early): what models learn from."""
        return [r for r in self.records if r["status"] in FINISHED and r["best_score"] is not None]

    def history(self) -> list[dict[str, Any]]:
        """Each finished trial's score and the best score so far, in the order trials were issued (the
        optimization history the plots and the dashboard draw)."""
        out: list[dict[str, Any]] = []
        best = None
        for row in self.finished():
            score = row["best_score"]
            best = score if best is None else best_of([best, score], self.mode)
            out.append({"trial_id": row["trial_id"], "score": score, "best": best})
        return out

    def best(self) -> dict[str, Any] | None:
        """The row of the best config (None when no finished trial has a score): the controller's rule,
        ``hpopt.algorithms.scores.rank_key`` (epochs reached first in a multi-fidelity run)."""
        rows = self.finished()
        if not rows:
            return None
        chosen = [r for r in rows if r["trial_id"] == self.model_best]
        if chosen:  # scores of several fidelities: the controller's model compared them (best_trial)
            return chosen[0]
        cap = fidelity_cap(r["max_epochs"] for r in rows if r.get("max_epochs"))
        return max(rows, key=lambda r: rank_key(r["best_score"], r["epochs"] or 0, self.mode, self.by_fidelity, cap,
                                                self._ranked_score(r, cap)))

    def _ranked_score(self, row: dict[str, Any], cap: int | None) -> float | None:
        """A row's score for the best-config rule: its latest up to the cap (scores.score_up_to)."""
        scores = self.scores.get(row["trial_id"])
        return row["last_score"] if scores is None else score_up_to(scores, cap)

    def as_records(self) -> list[dict[str, Any]]:
        """The rows as dicts with every column (None where a value is missing)."""
        cols = self.columns
        return [{c: row.get(c) for c in cols} for row in self.records]

    def frame(self) -> Any:
        """The rows as a pandas DataFrame (nullable Int64 for the integer columns, NaN for missing floats)."""
        return to_frame(self.as_records(), self.columns)


def to_frame(records: list[dict[str, Any]], columns: list[str]) -> Any:
    """Records as a DataFrame with stable dtypes; ImportError naming the extra when pandas is missing."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("a DataFrame of the results needs pandas: pip install 'hpopt[results]' (or pip "
                          "install pandas), or pass as_records=True for a list of dicts") from exc
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in INT_COLUMNS:
        frame[name] = frame[name].astype("Int64")
    for name in FLOAT_COLUMNS:
        frame[name] = frame[name].astype("float64")
    return frame


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _seconds(entry: dict[str, Any], doc: dict[str, Any]) -> float | None:
    """Issue to latest report of the current attempt; else the controller's measured cost."""
    stamps, issued = doc.get("t"), _number(entry.get("issued_at"))
    if isinstance(stamps, list) and len(stamps) == 2 and _number(stamps[1]) is not None and issued is not None:
        return round(max(0.0, float(stamps[1]) - issued), 4)
    return _number(entry.get("cost_s"))


def _rung(bracket: Any, epochs: int, rungs_in_brackets: list[list[int]] | None) -> int | None:
    if bracket is None or not rungs_in_brackets or not 0 <= int(bracket) < len(rungs_in_brackets):
        return None
    reached = [int(r) for r in rungs_in_brackets[int(bracket)] if int(r) <= epochs]
    return max(reached) if reached else None


def trial_row(entry: dict[str, Any], doc: dict[str, Any], mode: str, names: list[str],
              rungs: list[list[int]] | None) -> dict[str, Any]:
    """One trial's row from its status entry and its current document (the dashboard caches these)."""
    scores = list(doc.get("scores", []))
    collected = Status(int(entry["status"])) == Status.STOP
    epochs = int(entry.get("num_iterations_run", len(scores))) if collected else len(scores)
    params = entry.get("config", {})
    bracket = entry.get("bracket")
    return {
        "trial_id": int(entry["trial_id"]),
        **{PARAM_PREFIX + n: params.get(n) for n in [*names, *(k for k in params if k not in names)]},
        "status": trial_label(entry, doc, mode),
        "epochs": epochs,
        "max_epochs": int(entry.get("iterations", 0)),
        "best_score": entry.get("score") if collected else best_of(scores, mode),
        "last_score": last_valid(scores),
        "bracket": None if bracket is None else int(bracket),
        "rung": _rung(bracket, epochs, rungs),
        "attempts": int(entry.get("attempt", 0)) + 1,
        "retries": int(entry.get("retries", 0)),
        "oom_count": int(entry.get("oom_count", 0)),
        "seconds": _seconds(entry, doc),
        "issued_at": _number(entry.get("issued_at")),
        "error": entry.get("error") or doc.get("error"),
    }


def results_from_status(status: dict[str, Any], store: StateStore, where: str) -> RunResults:
    """The results of a stored status dict (``load_status`` or a controller's), trial docs read from ``store``."""
    mode = str(status.get("mode", "max"))
    space = space_from_json(status.get("original_search_space") or status.get("search_space") or {})
    rungs = status.get("rungs_in_brackets")
    records, scores = [], {}
    for entry in status["config_list"]:
        doc = current_doc(store, entry)
        records.append(trial_row(entry, doc, mode, list(space), rungs))
        scores[int(entry["trial_id"])] = list(doc.get("scores", []))
    rf = status.get("reduction_factor")
    return RunResults(records=records, scores=scores, space=space, mode=mode, metric=status.get("metric"),
                      algorithm=status.get("search_algorithm"), rungs_in_brackets=rungs,
                      reduction_factor=None if rf is None else int(rf), where=where, **best_rule(status))


def best_rule(status: dict[str, Any]) -> dict[str, Any]:
    """How the run's status says the best config is chosen: RunResults' ``by_fidelity`` and ``model_best``."""
    chosen = status.get("best_config_id") if status.get("best_rule") == BEST_BY_MODEL else None
    return {"by_fidelity": status.get("early_stop") is not None,
            "model_best": chosen if isinstance(chosen, int) else None}


def read_run(save_path: str | os.PathLike[str]) -> RunResults:
    """The results of the run stored in ``save_path`` (read only; safe while the run goes on)."""
    path = os.fspath(save_path)
    status = load_status(path)
    if status is None:
        raise FileNotFoundError(f"{path!r} holds no hpopt run (no hpopt_status.json there)")
    return results_from_status(status, FileStore(path), os.path.abspath(path))


def controller_results(controller: Any) -> RunResults:
    """The results of a controller's run: its current state while it drives the store (collecting what
    finished first), the stored state once it was closed."""
    store = controller.store
    status = controller.get_current_status() if store.owned_by(controller) else store.load_status()
    if status is None:
        raise ValueError(f"{store.save_path!r} holds no hpopt run any more (it was archived)")
    return results_from_status(status, store, str(store.save_path))


def load_results(save_path: str | os.PathLike[str], *, as_records: bool = False) -> Any:
    """The trials of the run in ``save_path``, one row each: a pandas DataFrame, or with
    ``as_records=True`` a list of dicts (no pandas needed). Read only: the run may be live.

    Raises FileNotFoundError when save_path holds no run, ImportError (naming ``hpopt[results]``) when a
    DataFrame is asked for without pandas installed.
    """
    results = read_run(save_path)
    return results.as_records() if as_records else results.frame()
