"""Optuna's visualizations of an hpopt run, for the side-by-side table in docs/guide/results.md.

Reads a finished (or running) hpopt run through hpopt's public API (``hpopt.load_results``, the trial
files' ``scores`` and the search space in ``hpopt_status.json``), rebuilds it as an in-memory Optuna study
(``optuna.create_study`` + ``study.add_trial(optuna.trial.create_trial(...))``) and draws Optuna's
matplotlib visualizations of it into ``docs/img/results/optuna/``, so both libraries draw the same
trials. It also prints Optuna's parameter importances (fANOVA, Optuna's default evaluator) next to
hpopt's (``hpopt.views.importance.importances``).

    bench/tabular/.venv/bin/python bench/optuna_views.py /work/scratch/digits_run

How the run maps to a study:

* trial -> ``FrozenTrial``: params, ``value`` = the trial's ``best_score``, ``intermediate_values`` =
  {epoch (1-based): score} from the trial file, and the trial's wall-clock span (``issued_at`` to
  ``issued_at + seconds``) as ``datetime_start`` / ``datetime_complete`` (``create_trial`` stamps "now",
  which would make the timeline meaningless);
* status: ``done`` with a score -> COMPLETE; ``stopped`` (ASHA, median stop) -> PRUNED; ``failed``,
  ``oom`` or finished without a score -> FAIL; ``running`` and ``queued`` trials are left out;
* search space: ``uniform`` / ``loguniform`` -> ``FloatDistribution`` (``log=True`` for log types);
  ``quniform`` -> ``IntDistribution(step=q)`` (or ``FloatDistribution(step=q)`` for a float grid);
  ``qloguniform`` -> ``IntDistribution(log=True)`` with step 1 (or a log ``FloatDistribution``), because
  Optuna refuses ``step`` together with ``log``: the log axis is kept, the grid is not; ``choice`` ->
  ``CategoricalDistribution`` (values Optuna cannot hold, such as lists, as their ``repr``).

Each picture is saved at ``--dpi`` (80) and reduced to a 128-colour palette with Pillow, as hpopt's
pictures in docs/img/results/ were. A view that fails is reported and skipped.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the bench venv may not have hpopt installed
    sys.path.insert(0, str(ROOT))

import hpopt  # noqa: E402
from hpopt.views.importance import importances as hpopt_importances  # noqa: E402

DEFAULT_RUN = Path("/work/scratch/digits_run")
OUT = ROOT / "docs" / "img" / "results" / "optuna"
MAX_BYTES = 150_000
COLOURS = 128


def distribution(sp: Any) -> Any:
    """The Optuna distribution for one hpopt ``SearchSpace``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind = sp.type
    if kind == "choice":
        allowed = (type(None), bool, int, float, str)
        return CategoricalDistribution([c if isinstance(c, allowed) else repr(c) for c in sp.choices])
    log = kind in ("loguniform", "qloguniform")
    if kind in ("quniform", "qloguniform"):
        if sp.is_integer:
            if log:  # Optuna: "step is 1 when log is True"
                return IntDistribution(int(sp.lower), int(sp.upper), log=True)
            return IntDistribution(int(sp.lower), int(sp.upper), step=int(sp.q))
        if log:
            return FloatDistribution(float(sp.lower), float(sp.upper), log=True)
        return FloatDistribution(float(sp.lower), float(sp.upper), step=float(sp.q))
    return FloatDistribution(float(sp.lower), float(sp.upper), log=log)


def param_value(sp: Any, value: Any) -> Any:
    if sp.type == "choice":
        return value if isinstance(value, (type(None), bool, int, float, str)) else repr(value)
    return int(value) if sp.is_integer else float(value)


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def build_study(save_path: Path) -> tuple[Any, dict[str, Any], dict[str, int]]:
    """(the study, hpopt's search space by name, how many trials went in per Optuna state)."""
    import optuna
    from optuna.trial import TrialState

    status = hpopt.load_json(save_path / "hpopt_status.json")
    space = {name: hpopt.SearchSpace.from_dict(d, name=name) for name, d in status["search_space"].items()}
    dists = {name: distribution(sp) for name, sp in space.items()}
    direction = "maximize" if status.get("mode", "max") == "max" else "minimize"
    study = optuna.create_study(direction=direction, study_name=f"hpopt {save_path.name}")
    counts: dict[str, int] = {}
    for rec in hpopt.load_results(save_path, as_records=True):
        st, best = rec["status"], rec["best_score"]
        if st in ("running", "queued"):
            counts["left out (" + st + ")"] = counts.get("left out (" + st + ")", 0) + 1
            continue
        trial_file = save_path / f"hpopt_trial_{rec['trial_id']}.json"
        scores = hpopt.load_json(trial_file).get("scores", []) if trial_file.exists() else []
        inter = {epoch: float(s) for epoch, s in enumerate(scores, start=1) if finite(s)}
        if st == "done" and finite(best):
            state, value = TrialState.COMPLETE, float(best)
        elif st == "stopped":
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.FAIL, None
        params = {n: param_value(space[n], rec[f"params_{n}"]) for n in space if rec.get(f"params_{n}") is not None}
        trial = optuna.trial.create_trial(state=state, value=value, params=params,
                                          distributions={n: dists[n] for n in params},
                                          intermediate_values=inter,
                                          user_attrs={"hpopt_trial_id": rec["trial_id"], "hpopt_status": st})
        if finite(rec.get("issued_at")):
            start = datetime.datetime.fromtimestamp(rec["issued_at"])
            trial.datetime_start = start
            trial.datetime_complete = start + datetime.timedelta(seconds=float(rec.get("seconds") or 0.0))
        study.add_trial(trial)
        counts[state.name] = counts.get(state.name, 0) + 1
    return study, space, counts


def save(ax: Any, path: Path, dpi: int) -> int:
    """Save the figure of ``ax`` (an Axes or an array of them), palette-reduce it; its size in bytes."""
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    first = ax.flat[0] if isinstance(ax, np.ndarray) else ax
    fig = first.figure
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(COLOURS)
    small.save(path, optimize=True)
    n = path.stat().st_size
    if n > MAX_BYTES:
        with Image.open(path) as im:
            im.convert("RGB").quantize(32).save(path, optimize=True)
        n = path.stat().st_size
    return n


def fmt_imp(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("save_path", nargs="?", default=str(DEFAULT_RUN), help=f"an hpopt run (default {DEFAULT_RUN})")
    ap.add_argument("--out", default=str(OUT), help="folder for the PNGs (default docs/img/results/optuna)")
    ap.add_argument("--dpi", type=int, default=80)
    ap.add_argument("--seeds", type=int, default=5, help="importance seeds for the spread printed (default 5)")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import optuna
    import optuna.visualization.matplotlib as ov
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # plot_intermediate_values asks for tight_layout, which its 50-entry legend cannot fit; the PNG is fine
    warnings.filterwarnings("ignore", message="Tight layout not applied")

    save_path = Path(args.save_path)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    study, space, counts = build_study(save_path)
    print(f"optuna {optuna.__version__}; study from {save_path}: "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for name, sp in space.items():
        print(f"  {name}: hpopt {sp.type} {sp.range} -> {study.trials[0].distributions.get(name, '?')}")

    # importances: hpopt's permutation importance of a random forest, Optuna's fANOVA (default evaluator)
    ours = hpopt_importances(save_path)
    theirs = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    print(f"hpopt importance (seed 0):         {fmt_imp(ours)}")
    print(f"optuna fANOVA importance (seed 0): {fmt_imp(theirs)}")
    if args.seeds > 1:
        runs_h = [hpopt_importances(save_path, seed=s) for s in range(args.seeds)]
        runs_o = [get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=s))
                  for s in range(args.seeds)]
        for label, runs in (("hpopt", runs_h), ("optuna fANOVA", runs_o)):
            spread = ", ".join(f"{n} {min(r[n] for r in runs):.3f}-{max(r[n] for r in runs):.3f}" for n in runs[0])
            print(f"{label} over seeds 0-{args.seeds - 1}: {spread}")
    top2 = list(ours)[:2]

    # Optuna's own figure sizes (matplotlib's default 6.4 x 4.8 inches; plot_slice: half that per parameter),
    # except the parallel coordinates, whose six axes are given the width of hpopt's (840 pixels at dpi 80)
    default = tuple(matplotlib.rcParamsDefault["figure.figsize"])
    views: list[tuple[str, Any, tuple[float, float]]] = [
        ("history", lambda: ov.plot_optimization_history(study), default),
        ("intermediate", lambda: ov.plot_intermediate_values(study), default),
        ("slice", lambda: ov.plot_slice(study), default),
        ("contour", lambda: ov.plot_contour(study, params=top2), default),
        ("parallel", lambda: ov.plot_parallel_coordinate(study), (10.5, 4.8)),
        ("importance", lambda: ov.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0)),
         default),
        ("edf", lambda: ov.plot_edf(study), default),
        ("timeline", lambda: ov.plot_timeline(study), default),
    ]
    failed = []
    for name, draw, size in views:
        path = out / f"{name}.png"
        matplotlib.rcParams["figure.figsize"] = size
        try:
            n = save(draw(), path, args.dpi)
        except Exception as exc:  # a view Optuna cannot draw for this study: say so, go on
            failed.append(name)
            print(f"  {name}: skipped ({type(exc).__name__}: {exc})")
            continue
        extra = f" ({', '.join(top2)})" if name == "contour" else ""
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}{extra}: {n / 1000:.0f} kB")
    return 1 if len(failed) == len(views) else 0


if __name__ == "__main__":
    sys.exit(main())
