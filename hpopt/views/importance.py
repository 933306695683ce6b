"""Which hyperparameters mattered: permutation importance of a random forest fitted to the run's trials.

The model is scikit-learn's ``RandomForestRegressor`` fitted to (the params of each finished trial,
encoded to the unit box by the search space's ``encode``) -> (its best score). A parameter's importance is
how much the forest's fit (R²) drops when that parameter's column is shuffled
(``sklearn.inspection.permutation_importance``), clipped at 0 and scaled so the importances sum to 1.
A forest needs no scaling or kernel choice, handles choices (as ordered cells) and interactions, and
permutation importance does not favour parameters with many distinct values, as the forest's own
impurity importance does. Optuna's default (fANOVA) also fits a forest; it splits the variance instead.

Stopped trials (ASHA, median stop) count with the best score they reached before they were stopped; that
score is lower-fidelity, which the forest cannot tell apart from a worse config. scikit-learn comes from
the ``plot`` extra and is imported only here, when an importance or a contour is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .figures import PLOT_EXTRA, encoded, fmt, new_figure, resolve, save
from .results import RunResults

MIN_TRIALS = 5
_TREES = 100
_REPEATS = 10


@dataclass(frozen=True)
class ForestFit:
    """A forest fitted to a run's finished trials, and each parameter's permutation importance."""

    names: list[str]
    model: Any
    x: Any  # rows x params, unit box
    y: Any
    mean: Any  # importance per parameter, as scikit-learn gives it (drop in R²)
    std: Any
    rows: list[dict[str, Any]]


def _require_sklearn() -> tuple[Any, Any]:
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.inspection import permutation_importance
    except ImportError as exc:
        raise ImportError(f"hyperparameter importance needs scikit-learn: {PLOT_EXTRA}") from exc
    return RandomForestRegressor, permutation_importance


def fit_forest(res: RunResults, *, what: str = "hyperparameter importance", seed: int = 0) -> ForestFit:
    """Fit the forest and the permutation importances; a ValueError with the count when the run has fewer
    than MIN_TRIALS finished trials with a score, or no parameter."""
    import numpy as np

    forest_cls, permutation_importance = _require_sklearn()
    rows = res.finished()
    if len(rows) < MIN_TRIALS:
        raise ValueError(f"{what} needs at least {MIN_TRIALS} finished trials with a score; {res.where} has "
                         f"{len(rows)} (of {len(res.records)} trials): wait for more trials, or use --kind slice")
    names, x = encoded(res, rows)
    if not names:
        raise ValueError(f"{what} needs hyperparameters; the search space of {res.where} is empty")
    y = np.array([float(r["best_score"]) for r in rows])
    if np.ptp(y) == 0.0:  # nothing to explain: every trial scored the same
        zeros = np.zeros(len(names))
        return ForestFit(names, None, x, y, zeros, zeros, rows)
    model = forest_cls(n_estimators=_TREES, random_state=seed, n_jobs=1).fit(x, y)
    perm = permutation_importance(model, x, y, n_repeats=_REPEATS, random_state=seed, n_jobs=1)
    return ForestFit(names, model, x, y, perm.importances_mean, perm.importances_std, rows)


def _shares(fit: ForestFit) -> tuple[Any, Any]:
    """Importances clipped at 0 and scaled to sum to 1 (all 0 when nothing explained the score)."""
    import numpy as np

    mean = np.clip(np.asarray(fit.mean, dtype=float), 0.0, None)
    total = float(mean.sum())
    scale = 1.0 / total if total > 0 else 0.0
    return mean * scale, np.asarray(fit.std, dtype=float) * scale


def importances(source: Any, *, seed: int = 0) -> dict[str, float]:
    """Each hyperparameter's share of the permutation importance (summing to 1; all 0 when every trial
    scored the same), largest first. ``source``: a save_path, a controller or RunResults."""
    fit = fit_forest(resolve(source), seed=seed)
    shares, _ = _shares(fit)
    order = sorted(range(len(fit.names)), key=lambda i: -shares[i])
    return {fit.names[i]: float(shares[i]) for i in order}


def plot_importance(source: Any, out: str, *, dpi: int = 100, seed: int = 0) -> str:
    """A bar per hyperparameter: its share of the importance, with the spread over the shuffles."""
    res = resolve(source)
    fit = fit_forest(res, seed=seed)
    shares, spread = _shares(fit)
    order = sorted(range(len(fit.names)), key=lambda i: shares[i])  # largest on top
    fig = new_figure("importance", len(fit.names))
    ax = fig.subplots()
    ax.barh([fit.names[i] for i in order], [shares[i] for i in order], xerr=[spread[i] for i in order],
            color="tab:blue", alpha=0.8, capsize=3)
    for pos, i in enumerate(order):
        ax.text(shares[i] + spread[i], pos, f"  {shares[i]:.2f}", va="center", fontsize="small")
    ax.set_xlim(0, max(1.0, float(max(shares + spread, default=0)) * 1.1))
    ax.set_xlabel("share of permutation importance (random forest on the trials)")
    note = "" if fit.model is not None else "; every trial scored the same"
    ax.set_title(f"hyperparameter importance: {len(fit.rows)} finished trials{note}")
    return save(fig, out, dpi)


def partial_dependence_grid(fit: ForestFit, i: int, j: int, size: int = 40) -> tuple[Any, Any, Any]:
    """The forest's mean prediction over the trials, with parameters i and j set to each point of a
    size x size grid of the unit square (the others keep the trials' values): (u_i, u_j, grid)."""
    import numpy as np

    u = np.linspace(0.0, 1.0, size)
    if fit.model is None:
        return u, u, np.full((size, size), float(fit.y[0]))
    gi, gj = np.meshgrid(u, u)  # rows follow j (the y axis), columns i
    x = np.repeat(fit.x[None, :, :], size * size, axis=0)
    x[:, :, i] = gi.reshape(-1, 1)
    x[:, :, j] = gj.reshape(-1, 1)
    pred = fit.model.predict(x.reshape(-1, x.shape[2])).reshape(size * size, -1).mean(axis=1)
    return u, u, pred.reshape(size, size)


def describe(source: Any, seed: int = 0) -> str:
    """The importances as one line of text (for the command line)."""
    return ", ".join(f"{name} {fmt(share)}" for name, share in importances(source, seed=seed).items())
