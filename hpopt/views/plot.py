"""Pictures of a run (``hpopt plot``), and the one entry point that picks a kind.

Kinds: ``overview`` (the default, as before: learning curves beside the best score so far), ``curves``,
``history``, ``slice``, ``parallel``, ``contour``, ``importance`` (see ``plot_params`` and ``importance``),
and ``all`` (every kind but the overview, one file each in a folder). For ASHA the curves mark the rung
epochs and, at each rung, a short bar for the score a trial had to reach there to go on (the top 1/rf of
the results at that rung, as they stand now).

Every function takes a save_path, a controller (``hpopt.create()``'s object) or
:class:`~hpopt.views.results.RunResults`, and writes a file whose format matplotlib takes from its suffix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from ..algorithms.scores import best_of
from .figures import DEFAULT_DPI, best_row, new_figure, require_matplotlib, resolve, save, score_label
from .importance import plot_importance
from .plot_params import plot_contour, plot_parallel, plot_slice
from .results import RunResults

logger = logging.getLogger("hpopt")
KINDS = ("overview", "curves", "history", "slice", "parallel", "contour", "importance", "all")


def _rung_cutoffs(res: RunResults) -> list[tuple[int, float]]:
    """(rung epoch, score needed to go on there) for every ASHA rung below a bracket's last epoch."""
    rf = res.reduction_factor or 2
    out = []
    for bracket, rungs in enumerate(res.rungs_in_brackets or []):
        trials = [res.scores[r["trial_id"]] for r in res.records if r["bracket"] == bracket]
        for rung in sorted(rungs)[:-1]:
            results = [best_of(s[:rung], res.mode) for s in trials if len(s) >= rung]
            results = sorted((r for r in results if r is not None), reverse=res.mode == "max")
            if len(results) // rf >= 1:
                out.append((rung, results[len(results) // rf - 1]))
    return out


def _draw_curves(ax: Any, res: RunResults) -> None:
    from matplotlib.ticker import MaxNLocator

    best = best_row(res)
    for row in res.records:
        points = [(i + 1, s) for i, s in enumerate(res.scores[row["trial_id"]]) if s is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        is_best = best is not None and row["trial_id"] == best["trial_id"]
        ax.plot(xs, ys, color="tab:red" if is_best else "tab:blue", alpha=1.0 if is_best else 0.35,
                linewidth=2.2 if is_best else 1.0, marker="." if len(xs) < 30 else None, zorder=3 if is_best else 2,
                label=f"best: trial {row['trial_id']}" if is_best else None)
    rungs = sorted({r for rs in (res.rungs_in_brackets or []) for r in rs[1:]})
    for i, rung in enumerate(rungs):
        ax.axvline(rung, color="grey", linestyle="--", linewidth=0.8, label="ASHA rungs" if i == 0 else None)
    for i, (rung, cutoff) in enumerate(_rung_cutoffs(res)):
        ax.hlines(cutoff, rung - 0.35, rung + 0.35, color="black", linewidth=2,
                  label="score to go on at a rung" if i == 0 else None)
    ax.set_xlabel("epoch (iteration)")
    ax.set_ylabel(score_label(res))
    ax.set_title(f"learning curves: {len(res.records)} trials ({res.algorithm})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


def _draw_history(ax: Any, res: RunResults) -> None:
    from matplotlib.ticker import MaxNLocator

    history = res.history()
    if history:
        ids = [p["trial_id"] for p in history]
        ax.scatter(ids, [p["score"] for p in history], s=14, color="tab:blue", alpha=0.6, label="trial score")
        ax.step(ids, [p["best"] for p in history], where="post", color="tab:red", linewidth=2, label="best so far")
        ax.legend(loc="best", fontsize="small")
    failed = [r["trial_id"] for r in res.records if r["status"] == "failed"]
    ax.set_xlabel("trial (in the order issued)" + (f"; failed: {failed[:10]}" if failed else ""))
    ax.set_ylabel("best score of the trial")
    ax.set_title("best score so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _check_any_trial(res: RunResults, what: str) -> None:
    if not res.records:
        raise ValueError(f"the {what} needs trials; {res.where} has none yet")


def plot_run(source: Any, out: str, *, dpi: int = DEFAULT_DPI) -> str:
    """The overview: learning curves per trial beside the best score so far (``hpopt plot``'s default)."""
    require_matplotlib()
    res = resolve(source)
    fig = new_figure("overview")
    curves, progress = fig.subplots(1, 2)
    _draw_curves(curves, res)
    _draw_history(progress, res)
    return save(fig, out, dpi)


def plot_curves(source: Any, out: str, *, dpi: int = DEFAULT_DPI) -> str:
    """Each trial's score per epoch (the intermediate values), the best trial in red."""
    require_matplotlib()
    res = resolve(source)
    _check_any_trial(res, "learning curves plot")
    fig = new_figure("curves")
    _draw_curves(fig.subplots(), res)
    return save(fig, out, dpi)


def plot_history(source: Any, out: str, *, dpi: int = DEFAULT_DPI) -> str:
    """Each finished trial's score in the order issued, and the best so far (the optimization history)."""
    require_matplotlib()
    res = resolve(source)
    _check_any_trial(res, "history plot")
    fig = new_figure("history")
    _draw_history(fig.subplots(), res)
    return save(fig, out, dpi)


PLOTTERS: dict[str, Callable[..., str]] = {
    "overview": plot_run, "curves": plot_curves, "history": plot_history, "slice": plot_slice,
    "parallel": plot_parallel, "contour": plot_contour, "importance": plot_importance,
}


def plot(source: Any, kind: str = "overview", out: str | os.PathLike[str] = ".", *, dpi: int = DEFAULT_DPI
         ) -> list[str]:
    """Draw one kind (``out``: a file, or a folder that gets ``{kind}.png``), or ``all`` of them into the
    folder ``out`` (made if missing). Returns the files written. A kind that cannot be drawn yet (too few
    trials) is skipped under ``all`` with a warning; asked for alone, it raises ValueError."""
    if kind not in KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; the kinds are {', '.join(KINDS)}")
    require_matplotlib()
    res = resolve(source)
    out = os.fspath(out)
    if kind != "all":
        path = os.path.join(out, f"{kind}.png") if os.path.isdir(out) or out.endswith(os.sep) else out
        return [PLOTTERS[kind](res, path, dpi=dpi)]
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--kind all writes one file per kind into a folder, and {out!r} is a file")
    os.makedirs(out, exist_ok=True)
    written = []
    for name in KINDS[1:-1]:
        try:
            written.append(PLOTTERS[name](res, os.path.join(out, f"{name}.png"), dpi=dpi))
        except ValueError as exc:
            logger.warning("skipped the %s plot: %s", name, exc)
    if not written:
        raise ValueError(f"no picture could be drawn from {res.where}: it has no trial with a score yet")
    return written
