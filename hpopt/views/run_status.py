"""A read-only view of a run for people and tools (``hpopt status``): its trials and the best one.

Built from ``load_status`` (the checkpoint plus the journal) and the trial files, without taking any
lock or writing anything, so it works on a finished run, a killed one, and one whose controller is
still running. A running trial's score is the best it has reported so far.
"""

from __future__ import annotations

import os
from typing import Any

from ..algorithms.scores import best_of, fidelity_cap, rank_key, score_up_to
from ..state import FileStore
from ..state.journal import load_status
from ..trial import Status
from .plan_view import format_plan, plan_view
from .results import best_rule
from .trial_docs import current_doc, trial_label


def _load(save_path: str) -> dict[str, Any]:
    """The stored state (load_status is safe to call while a controller writes it)."""
    status = load_status(save_path)
    if status is None:
        raise FileNotFoundError(f"{save_path!r} holds no hpopt run (no hpopt_status.json there)")
    return status


def run_status(save_path: str) -> dict[str, Any]:
    """The run as plain JSON: settings, one row per trial, and the best trial (or None)."""
    status = _load(save_path)
    mode = str(status.get("mode", "max"))
    trials = []
    docs = []
    store = FileStore(save_path)
    for entry in status["config_list"]:
        tid = int(entry["trial_id"])
        doc = current_doc(store, entry)
        docs.append(doc)
        scores = doc.get("scores", [])
        label = trial_label(entry, doc, mode)
        collected = Status(int(entry["status"])) == Status.STOP
        score = entry.get("score") if collected else best_of(scores, mode)
        trials.append({
            "trial_id": tid,
            "status": label,
            "iterations_run": int(entry.get("num_iterations_run", len(scores))),
            "iterations": int(entry.get("iterations", 0)),
            "score": score,
            "params": entry.get("config", {}),
            "attempt": int(entry.get("attempt", 0)),
            "error": entry.get("error"),
            "bracket": entry.get("bracket"),
            "scores": scores,
        })
    # The best among finished trials, those not yet collected included (status' best_config_id may lag).
    finished = [t for t in trials if t["status"] in ("done", "stopped") and t["score"] is not None]
    rule = best_rule(status)  # the controller's rule: its model's choice, or epochs reached first, or score
    chosen = [t for t in finished if t["trial_id"] == rule["model_best"]]
    cap = fidelity_cap(t["iterations"] for t in finished)
    best = chosen[0] if chosen else max(
        finished, key=lambda t: rank_key(t["score"], t["iterations_run"], mode, rule["by_fidelity"], cap,
                                         score_up_to(t["scores"], cap)), default=None)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {
        "save_path": os.path.abspath(save_path),
        "search_algorithm": status.get("search_algorithm"),
        "mode": mode,
        "metric": status.get("metric"),
        "num_trials": status.get("num_trials"),
        "max_iterations": status.get("max_iterations"),
        "rungs_in_brackets": status.get("rungs_in_brackets"),
        "reduction_factor": status.get("reduction_factor"),
        "counts": counts,
        "plan": plan_view(status, docs),
        "trials": trials,
        "best": None if best is None else {k: best[k] for k in ("trial_id", "score", "params", "iterations_run")},
    }


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(view: dict[str, Any]) -> str:
    """The view as an aligned text table, then the best trial."""
    names: list[str] = []
    for t in view["trials"]:
        names += [n for n in t["params"] if n not in names]
    header = ["id", "status", "iters", "score", *names]
    rows = [[str(t["trial_id"]), t["status"], f"{t['iterations_run']}/{t['iterations']}",
             "-" if t["score"] is None else f"{t['score']:.6g}", *(_short(t["params"].get(n, "")) for n in names)]
            for t in view["trials"]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"hpopt run in {view['save_path']} ({view['search_algorithm']}, mode={view['mode']}, "
             f"metric={view['metric']}): {len(view['trials'])} of {view['num_trials']} trials; "
             + ", ".join(f"{n} {k}" for k, n in sorted(view["counts"].items())), format_plan(view["plan"])]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for t in view["trials"]:
        if t["error"]:
            lines.append(f"trial {t['trial_id']} error: {t['error']}")
    best = view["best"]
    if best is None:
        lines.append("best: none yet (no trial has a valid score)")
    else:
        lines.append(f"best: trial {best['trial_id']}, score {best['score']:.6g}, params {best['params']}")
    return "\n".join(lines)
