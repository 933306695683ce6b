"""Pictures of a run (``hpopt plot``): learning curves per trial and the best score so far.

matplotlib comes from the ``plot`` extra and is imported only here, when a plot is asked for. The
figure is drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global backend change).
For ASHA the rung epochs are drawn as vertical lines, and at each rung a short horizontal bar marks the
score a trial had to reach there to go on (the top 1/rf of the results at that rung, as they stand now).
"""

from __future__ import annotations

from typing import Any

from ..algorithms.scores import best_of
from .run_status import run_status


def _require_matplotlib() -> Any:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError("hpopt plot needs matplotlib: pip install 'hpopt[plot]' (or pip install matplotlib)") from exc
    return Figure, FigureCanvasAgg, MaxNLocator


def _rung_cutoffs(view: dict[str, Any]) -> list[tuple[int, float]]:
    """(rung epoch, score needed to go on there) for every ASHA rung below a bracket's last epoch."""
    rungs_by_bracket = view.get("rungs_in_brackets") or []
    rf = int(view.get("reduction_factor") or 2)
    better_first = view["mode"] == "max"
    out = []
    for bracket, rungs in enumerate(rungs_by_bracket):
        trials = [t for t in view["trials"] if t.get("bracket") == bracket]
        for rung in sorted(rungs)[:-1]:
            results = [best_of(t["scores"][:rung], view["mode"]) for t in trials if len(t["scores"]) >= rung]
            results = sorted((r for r in results if r is not None), reverse=better_first)
            if len(results) // rf >= 1:
                out.append((rung, results[len(results) // rf - 1]))
    return out


def plot_run(save_path: str, out: str) -> str:
    """Write a PNG (or any format matplotlib knows by the suffix) of the run in ``save_path`` to ``out``."""
    figure_cls, canvas_cls, MaxNLocator = _require_matplotlib()  # noqa: N806 - a class
    view = run_status(save_path)
    mode, best = view["mode"], view["best"]
    fig = figure_cls(figsize=(12, 4.8), layout="constrained")
    canvas_cls(fig)
    curves, progress = fig.subplots(1, 2)

    for t in view["trials"]:
        points = [(i + 1, s) for i, s in enumerate(t["scores"]) if s is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        is_best = best is not None and t["trial_id"] == best["trial_id"]
        curves.plot(xs, ys, color="tab:red" if is_best else "tab:blue", alpha=1.0 if is_best else 0.35,
                    linewidth=2.2 if is_best else 1.0, marker="." if len(xs) < 30 else None, zorder=3 if is_best else 2,
                    label=f"best: trial {t['trial_id']}" if is_best else None)
    rungs = sorted({r for rs in (view.get("rungs_in_brackets") or []) for r in rs[1:]})
    for i, rung in enumerate(rungs):
        curves.axvline(rung, color="grey", linestyle="--", linewidth=0.8, label="ASHA rungs" if i == 0 else None)
    for i, (rung, cutoff) in enumerate(_rung_cutoffs(view)):
        curves.hlines(cutoff, rung - 0.35, rung + 0.35, color="black", linewidth=2,
                      label="score to go on at a rung" if i == 0 else None)
    curves.set_xlabel("epoch (iteration)")
    curves.set_ylabel(f"score ({view['metric']}, {'higher' if mode == 'max' else 'lower'} is better)")
    curves.set_title(f"learning curves: {len(view['trials'])} trials ({view['search_algorithm']})")
    if curves.get_legend_handles_labels()[0]:
        curves.legend(loc="best", fontsize="small")

    finished = [(t["trial_id"], t["score"]) for t in view["trials"] if t["score"] is not None
                and t["status"] in ("done", "stopped")]
    if finished:
        ids, scores = zip(*finished, strict=True)
        running_best: list[float] = []
        for s in scores:
            prev = running_best[-1] if running_best else s
            running_best.append(max(prev, s) if mode == "max" else min(prev, s))
        progress.scatter(ids, scores, s=14, color="tab:blue", alpha=0.6, label="trial score")
        progress.step(ids, running_best, where="post", color="tab:red", linewidth=2, label="best so far")
        progress.legend(loc="best", fontsize="small")
    failed = [t["trial_id"] for t in view["trials"] if t["status"] == "failed"]
    progress.set_xlabel("trial (in the order issued)" + (f"; failed: {failed[:10]}" if failed else ""))
    progress.set_ylabel("best score of the trial")
    progress.set_title("best score so far")
    for axis in (curves.xaxis, progress.xaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(out, dpi=100)
    return out
