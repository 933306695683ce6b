"""Pictures of how the score depends on the hyperparameters: slice, parallel coordinates, contour.

- slice: the score of every trial against each hyperparameter on its own (a log axis for log parameters,
  a strip per value, with jitter, for choices); colour tells the order the trials were issued in.
- parallel: one line per finished trial through one axis per hyperparameter and a last one for the
  score, coloured by the score, so the ranges good trials share stand out.
- contour: the score a random forest fitted to the trials predicts over the two most important
  hyperparameters (the others averaged over the trials: partial dependence), with the trials on top.
"""

from __future__ import annotations

import math
from typing import Any

from .figures import best_row, encoded, fmt, new_figure, resolve, save, score_cmap, score_label, unit_ticks
from .importance import fit_forest, partial_dependence_grid
from .results import PARAM_PREFIX, RunResults


def _scored(res: RunResults, what: str) -> list[dict[str, Any]]:
    rows = [r for r in res.records if r["best_score"] is not None]
    if not rows:
        raise ValueError(f"the {what} needs trials with a score; {res.where} has none yet "
                         f"({len(res.records)} trials)")
    return rows


def _strip_positions(sp: Any, values: list[Any]) -> tuple[list[float], list[str]]:
    """Categorical values as strip indices, and the labels (a choice's own order, else first seen)."""
    labels = list(sp.choices) if sp is not None and sp.choices is not None else []
    for v in values:
        if v not in labels:
            labels.append(v)
    return [float(labels.index(v)) for v in values], [fmt(v) for v in labels]


def plot_slice(source: Any, out: str, *, dpi: int = 100) -> str:
    """Score against each hyperparameter (every trial with a score; running ones hollow)."""
    import numpy as np
    from matplotlib import cm, colors
    from matplotlib.ticker import MaxNLocator, NullFormatter

    res = resolve(source)
    rows = _scored(res, "slice plot")
    names = res.param_names
    fig = new_figure("slice", len(names))
    cols = max(1, min(len(names), 3))
    axes = np.atleast_1d(fig.subplots(max(1, math.ceil(len(names) / cols)), cols, squeeze=False)).ravel()
    norm = colors.Normalize(0, max(1, max(r["trial_id"] for r in res.records)))
    rng = np.random.default_rng(0)
    best = best_row(res)
    ys = [r["best_score"] for r in rows]
    done = np.array([r["status"] in ("done", "stopped") for r in rows])
    ids = np.array([r["trial_id"] for r in rows], dtype=float)
    for ax, name in zip(axes, names, strict=False):
        sp = res.space.get(name)
        values = [r.get(PARAM_PREFIX + name) for r in rows]
        categorical = (sp is not None and sp.is_choice) or not all(isinstance(v, (int, float)) for v in values)
        if categorical:
            xs, labels = _strip_positions(sp, values)
            xs = np.array(xs) + rng.uniform(-0.18, 0.18, len(xs))
            ax.set_xticks(range(len(labels)), labels)
        else:
            xs = np.array(values, dtype=float)
            if sp is not None and sp.is_log:  # ticks at the values a quarter of the log range apart
                ax.set_xscale("log")
                ticks = sorted({sp.decode(u) for u in (0.0, 0.25, 0.5, 0.75, 1.0)})
                ax.set_xticks(ticks, [fmt(t) for t in ticks])
                ax.xaxis.set_minor_formatter(NullFormatter())
        y = np.array(ys, dtype=float)
        ax.scatter(xs[done], y[done], c=ids[done], cmap="viridis", norm=norm, s=22, alpha=0.85,
                   edgecolors="none")
        if (~done).any():
            ax.scatter(xs[~done], y[~done], facecolors="none", edgecolors="grey", s=22, label="running")
        if best is not None:
            k = [r["trial_id"] for r in rows].index(best["trial_id"])
            ax.scatter([xs[k]], [y[k]], marker="*", s=160, color="tab:red", edgecolors="black", zorder=5,
                       label=f"best: trial {best['trial_id']}")
        ax.set_xlabel(name + (" (log)" if sp is not None and sp.is_log else ""))
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    axes[0].set_ylabel(score_label(res))
    axes[0].legend(loc="best", fontsize="x-small")
    bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap="viridis"), ax=list(axes[:max(1, len(names))]),
                       label="trial id (order issued)")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    fig.suptitle(f"slice: best score of each trial against each hyperparameter ({len(rows)} trials)")
    return save(fig, out, dpi)


def _parallel_axes(res: RunResults, rows: list[dict[str, Any]]) -> list[tuple[Any, list[float], list[str]]]:
    """Per parameter: its coordinates in [0, 1] for the rows (the unit box; a strip index for a key
    outside the space), and its ticks (positions, labels)."""
    import numpy as np

    space_names, u = encoded(res, rows)
    out = []
    for name in res.param_names:
        if name in res.space:
            out.append((u[:, space_names.index(name)], *unit_ticks(res.space[name])))
            continue
        pos, labels = _strip_positions(None, [r.get(PARAM_PREFIX + name) for r in rows])
        top = max(1.0, len(labels) - 1.0)
        out.append((np.array(pos) / top, [i / top for i in range(len(labels))], labels))
    return out


def plot_parallel(source: Any, out: str, *, dpi: int = 100) -> str:
    """One line per finished trial across an axis per hyperparameter and the score, coloured by score."""
    import numpy as np
    from matplotlib import cm, colormaps, colors
    from matplotlib.collections import LineCollection

    res = resolve(source)
    rows = res.finished()
    if not rows:
        raise ValueError(f"the parallel coordinate plot needs finished trials with a score; {res.where} has none "
                         f"yet ({len(res.records)} trials)")
    names = res.param_names
    scores = np.array([r["best_score"] for r in rows], dtype=float)
    lo, hi = float(scores.min()), float(scores.max())
    span = hi - lo or 1.0
    columns, ticks = [], []
    for coord, pos, labels in _parallel_axes(res, rows):
        columns.append(coord)
        ticks.append((pos, labels))
    columns.append((scores - lo) / span)
    score_ticks = np.linspace(lo, hi, 5) if hi > lo else np.array([lo])
    ticks.append((list((score_ticks - lo) / span), [fmt(float(s)) for s in score_ticks]))
    ys = np.column_stack(columns)
    xs = np.arange(ys.shape[1], dtype=float)
    order = np.argsort(scores if res.mode == "max" else -scores)  # the best drawn last, on top
    norm = colors.Normalize(lo, hi)
    fig = new_figure("parallel", len(names))
    ax = fig.subplots()
    cmap = colormaps[score_cmap(res)].resampled(10)  # ten shades: clear steps, and a small PNG
    lines = LineCollection([np.column_stack([xs, ys[k]]) for k in order], cmap=cmap, norm=norm,
                           linewidths=1.3)
    lines.set_array(scores[order])
    ax.add_collection(lines)
    for x, (pos, labels) in zip(xs, ticks, strict=True):
        ax.axvline(x, color="black", linewidth=0.8)
        for p, label in zip(pos, labels, strict=True):
            ax.text(x + 0.03, p, label, fontsize="x-small", va="center", ha="left",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.5})
    ax.set_xlim(-0.2, xs[-1] + 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, [*names, "score"])
    ax.set_yticks([])
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=score_label(res))
    ax.set_title(f"parallel coordinates: {len(rows)} finished trials, coloured by score")
    return save(fig, out, dpi)


def plot_contour(source: Any, out: str, *, dpi: int = 100, seed: int = 0) -> str:
    """The forest's predicted score over the two most important hyperparameters, the trials on top."""
    import numpy as np

    res = resolve(source)
    space_names = [n for n in res.param_names if n in res.space]
    if len(space_names) < 2:
        raise ValueError(f"a contour needs two hyperparameters; the search space of {res.where} has "
                         f"{len(space_names)} ({', '.join(space_names) or 'none'}): use --kind slice")
    fit = fit_forest(res, what="a contour", seed=seed)
    top = sorted(range(len(fit.names)), key=lambda k: -fit.mean[k])[:2]
    i, j = top
    ui, uj, grid = partial_dependence_grid(fit, i, j)
    fig = new_figure("contour")
    ax = fig.subplots()
    levels = 14 if np.ptp(grid) > 0 else 1
    filled = ax.contourf(ui, uj, grid, levels=levels, cmap=score_cmap(res))
    fig.colorbar(filled, ax=ax, label=f"predicted {score_label(res)}")
    ax.scatter(fit.x[:, i], fit.x[:, j], c="white", edgecolors="black", s=22, label="finished trials")
    best = best_row(res)
    if best is not None:
        k = [r["trial_id"] for r in fit.rows].index(best["trial_id"])
        ax.scatter([fit.x[k, i]], [fit.x[k, j]], marker="*", s=180, color="tab:red", edgecolors="black",
                   label=f"best: trial {best['trial_id']}")
    for set_ticks, name in ((ax.set_xticks, fit.names[i]), (ax.set_yticks, fit.names[j])):
        set_ticks(*unit_ticks(res.space[name]))
    log = {n: " (log)" if res.space[n].is_log else "" for n in (fit.names[i], fit.names[j])}
    ax.set_xlabel(fit.names[i] + log[fit.names[i]])
    ax.set_ylabel(fit.names[j] + log[fit.names[j]])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="best", fontsize="x-small")
    ax.set_title(f"contour: the two most important of {len(fit.names)} hyperparameters\n"
                 "(random forest on the trials; the others averaged)", fontsize="medium")
    return save(fig, out, dpi)
