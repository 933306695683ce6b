"""What every picture of a run shares: matplotlib on demand, the run read once, sizes, unit-box axes.

matplotlib comes from the ``plot`` extra and is imported only when a picture is drawn. Figures are drawn
on matplotlib's Agg canvas directly (no pyplot, no display, no global backend change), so plotting works
on a headless machine and in a process that uses another backend.

Parameters are drawn on their unit-box coordinate (the search space's ``encode``), with ticks labelled by
the values they decode to: a log parameter then gets a log axis, a quantized one its grid, a choice one
tick per value, and every algorithm's "distance" between configs is the one shown.
"""

from __future__ import annotations

import os
from typing import Any

from ..search_space import SearchSpace
from .results import RunResults, controller_results, read_run

PLOT_EXTRA = "pip install 'hpopt[plot]' (or pip install matplotlib scikit-learn)"
DEFAULT_DPI = 100
_COLS = 3  # slice panels per row


def require_matplotlib() -> tuple[Any, Any]:
    """(Figure, FigureCanvasAgg), or an ImportError naming the extra."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator  # noqa: F401 - the curves use it; fail here, not later
    except ImportError as exc:
        raise ImportError(f"hpopt plot needs matplotlib: {PLOT_EXTRA}") from exc
    return Figure, FigureCanvasAgg


def figure_inches(kind: str, num_params: int) -> tuple[float, float]:
    """The figure size of a kind of picture, in inches (pixels: times the dpi)."""
    if kind == "overview":
        return 12.0, 4.8
    if kind == "slice":
        cols = max(1, min(num_params, _COLS))
        return 3.6 * cols + 1.2, 3.0 * max(1, -(-num_params // _COLS))
    if kind == "parallel":
        return max(6.0, 1.5 * (num_params + 1) + 1.5), 4.5
    if kind == "importance":
        return 6.5, max(2.5, 0.45 * num_params + 1.4)
    return 6.5, 4.5


def new_figure(kind: str, num_params: int = 0) -> Any:
    """A figure of the kind's size on an Agg canvas."""
    figure_cls, canvas_cls = require_matplotlib()
    fig = figure_cls(figsize=figure_inches(kind, num_params), layout="constrained")
    canvas_cls(fig)
    return fig


def save(fig: Any, out: str | os.PathLike[str], dpi: int) -> str:
    """Write the figure (PNG, or any format matplotlib knows by the suffix) and return its path."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 1000:
        raise ValueError(f"dpi must be an int in [10, 1000], got {dpi!r}")
    fig.savefig(os.fspath(out), dpi=dpi)
    return os.fspath(out)


def resolve(source: Any) -> RunResults:
    """A run's results from a save_path, a controller (``hpopt.create()``'s object) or RunResults."""
    if isinstance(source, RunResults):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_run(source)
    if hasattr(source, "store") and hasattr(source, "get_current_status"):
        return controller_results(source)
    raise TypeError(f"expected a save_path, an hpopt controller or hpopt.views.results.RunResults, got "
                    f"{type(source).__name__}")


def score_label(res: RunResults) -> str:
    return f"score ({res.metric or 'score'}, {'higher' if res.mode == 'max' else 'lower'} is better)"


def score_cmap(res: RunResults) -> str:
    """A colormap where the better scores are the brighter colours, whichever the mode."""
    return "viridis" if res.mode == "max" else "viridis_r"


def best_row(res: RunResults) -> dict[str, Any] | None:
    """The best finished trial's row (None when none has a score), by the controller's rule."""
    return res.best()


def fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def unit_ticks(sp: SearchSpace) -> tuple[list[float], list[str]]:
    """Tick positions on a parameter's unit-box axis and the values they stand for."""
    choices = sp.choices
    if choices is not None:
        step = max(1, len(choices) // 12)
        picked = choices[::step]
        return [sp.encode(c) for c in picked], [fmt(c) for c in picked]
    n = sp.num_values
    if n is not None and n <= 6:  # a short grid: a tick on each value (the centre of its cell)
        edges = sp.cell_edges()
        us = [float(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    else:
        us = [0.0, 0.25, 0.5, 0.75, 1.0]
    return us, [fmt(sp.decode(u)) for u in us]


def encoded(res: RunResults, rows: list[dict[str, Any]]) -> tuple[list[str], Any]:
    """The rows' params in the unit box (a numpy array, rows x params); a ValueError naming the trial and
    parameter when a value is not in the run's search space."""
    import numpy as np

    names = [n for n in res.param_names if n in res.space]
    out = np.empty((len(rows), len(names)))
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            value = row.get("params_" + name)
            try:
                out[i, j] = res.space[name].encode(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"trial {row['trial_id']} of {res.where}: {name}={value!r} is not in the run's "
                                 f"search space ({exc})") from None
    return names, out
