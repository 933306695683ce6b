"""Multi-fidelity suite: the config each method would return, on 8 tabulated problems, same epoch budget.

Problems (``--problems``): the two shipped MLP tables (``digits``, ``mnist``), a linear model trained by
SGD on digits (``sgd_digits``, made by ``bench/mf/make_sgd_table.py``), and five synthetic tables whose
epoch-1 scores rank configurations from faithfully to the wrong way round (``bench/mf/synthetic.py``).
That is the held-out half, which reports. ``--dev`` runs the development half instead, where changes are
chosen: eight synthetic tables from other seeds, and two real tables on other data and model families
(``hgb_cancer``, ``mlp_synthetic``, made by ``bench/mf/make_dev_tables.py``).

Every method gets the same budget in epochs (``--budget`` full trainings, x 27 epochs) and runs in
simulated time with ``--workers`` workers (1 and 4 in the issue's protocol). Each run records its trace of
reported epochs (simulated time, trial, table row, epoch, score), cut at the budget's last epoch. The
**config the method would return** at that point is chosen by the method's own rule:

* hpopt (every algorithm) and Optuna: the highest fidelity reached first, then the score at the last
  epoch reported (hpopt's documented rule since 2026-12-06, before which it took the trial's best score;
  Optuna's best trial is a completed one, and its value is the last epoch's score);
* Syne Tune and DEHB: the best score reported at any epoch or fidelity (Syne Tune's ``best_config`` over
  the results; DEHB's incumbent, which any fidelity's result may replace).

Regret = the best seed-averaged last-epoch accuracy of the table minus that of the returned config.

Methods: ``hpopt-default`` (ASHA as ``create(search_alg="asha")`` gives it: the forest sampler, every
bracket, each new trial's bracket chosen by evidence), ``hpopt-random`` (full trials), and with one
bracket each: ``hpopt-asha`` (random sampler, the default before), ``hpopt-asha-forest`` (the
forest over config and epoch), ``hpopt-asha-bayes`` (GP on one rung); ``hpopt-bo-median`` (GP-UCB + median
stop), ``optuna-tpe-hb`` (TPE + HyperbandPruner), ``syne-asha``, ``syne-bohb``, ``syne-cqr`` (Syne Tune's
ASHA with conformal quantile regression), ``dehb``. ASHA-type methods: min 1, max 27 epochs, rf 3.

    bench/tabular/.venv/bin/python bench/mf_suite.py --workers 4 --seeds 20 [--problems ...] [--methods ...]

Runs are cached in ``bench/results/mf/`` (rerunning skips finished ones); the summary table is printed
as Markdown (median and IQR of the final regret, seconds per trial) and the anytime curves (median regret
of the returned config after each tenth of the budget) go to ``docs/img/mf_w<workers>.png``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from mf import synthetic  # noqa: E402
from simulated_quality import MIN_EPOCHS, RF, create_hpopt, optuna_steps, syne_tuning  # noqa: E402
from simulated_quality import load as load_table  # noqa: E402

from hpopt.adapters.simulator import simulate  # noqa: E402
from hpopt.adapters.table import Table  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "mf"
PROBLEMS = ("digits", "mnist", "sgd_digits", *synthetic.PROBLEMS)  # the held-out half: reported
# the development half, where changes are chosen (``--dev``): synthetic tables of the same family from other
# seeds, and two real tables on other data and model families (``bench/mf/make_dev_tables.py``)
DEV_PROBLEMS = (*synthetic.DEV_PROBLEMS, "hgb_cancer", "mlp_synthetic")
METHODS = ("hpopt-default", "hpopt-random", "hpopt-asha", "hpopt-asha-forest", "hpopt-asha-bayes", "hpopt-bo-median",
           "optuna-tpe-hb", "syne-asha", "syne-bohb", "syne-cqr", "dehb")
RAM = "/dev/shm" if os.path.isdir("/dev/shm") else None


class Step(NamedTuple):
    """One reported epoch (or, for DEHB, one finished job at its fidelity)."""

    time: float
    trial: int
    row: int
    epoch: int
    score: float


def load(name: str) -> Table:
    """A synthetic problem, or a table of bench/tabular/data (simulated_quality's loader)."""
    return synthetic.make(name) if name.startswith(("synth-", "dev-")) else load_table(name)


# --- hpopt ---------------------------------------------------------------------------------------------


def run_hpopt(method: str, table: Table, seed: int, workers: int, budget: int) -> tuple[list[Step], int]:
    folder = tempfile.mkdtemp(dir=RAM)
    try:
        hpo = create_hpopt(method, table, seed, folder, workers=workers)
        hpo.epoch_budget = float(budget)  # no new trial once the epochs are spent; the trace is cut there too
        res = simulate(hpo, table, n_workers=workers, seed=seed)
        rows = {int(e["trial_id"]): table.index_of(e["config"]) for e in hpo.get_current_status()["config_list"]}
        hpo.close()
        steps = [Step(ev.time, ev.trial_id, rows[ev.trial_id], ev.epoch, float(ev.score)) for ev in res.trace
                 if ev.score is not None]
        return steps, len(rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- Syne Tune -----------------------------------------------------------------------------------------


def run_syne(method: str, table: Table, seed: int, workers: int, budget: int) -> tuple[list[Step], int]:
    """Syne Tune through its simulator backend (simulated_quality's), until the budget's epochs are reported."""
    from syne_tune import StoppingCriterion

    names = list(table.values)
    steps: list[Step] = []
    trials: set[int] = set()

    def record(trial: Any, result: dict[str, Any]) -> None:
        row = table.index_of({n: trial.config[n] for n in names})
        trials.add(int(trial.trial_id))
        steps.append(Step(float(result["st_tuner_time"]), int(trial.trial_id), row, int(result["epoch"]),
                          float(result["val_acc"])))

    poll = float(table.elapsed[:, :, 0].mean()) / 20  # Syne Tune polls; much finer than one epoch
    syne_tuning(method, table, seed, workers=workers, poll=poll,
                stop_criterion=StoppingCriterion(max_num_evaluations=budget + workers), on_result=record)
    return sorted(steps), len(trials)


# --- Optuna (simulated_quality's driver) and DEHB: ask/tell in an event loop of simulated time --------


def run_optuna(table: Table, seed: int, workers: int, budget: int) -> tuple[list[Step], int]:
    """TPE + HyperbandPruner, as in bench/simulated_quality.py, until the budget's last epoch."""
    steps: list[Step] = []
    trials: set[int] = set()
    for now, number, row, epoch, score in optuna_steps(table, seed, workers):
        if len(steps) >= budget:
            break
        steps.append(Step(now, number, row, epoch, score))
        trials.add(number)
    return steps, len(trials)


def run_dehb(table: Table, seed: int, workers: int, budget: int) -> tuple[list[Step], int]:
    """DEHB (ask/tell): a job trains a config from scratch for its fidelity; it costs that many epochs."""
    import ConfigSpace as CS
    from dehb import DEHB

    names = list(table.values)
    cs = CS.ConfigurationSpace(seed=seed)
    for n in names:
        cs.add(CS.UniformIntegerHyperparameter(n, 0, len(table.values[n]) - 1))
    folder = tempfile.mkdtemp(dir=RAM)
    try:
        opt = DEHB(cs=cs, dimensions=len(names), min_fidelity=MIN_EPOCHS, max_fidelity=table.num_epochs, eta=RF,
                   n_workers=1, output_path=folder, seed=seed, save_freq="end", log_level="ERROR")
        rng = np.random.default_rng(seed)
        heap: list[tuple[float, int, int]] = []
        jobs: dict[int, tuple[Any, int, int]] = {}
        steps: list[Step] = []
        spent, seq, now = 0, 0, 0.0

        def start(worker: int) -> None:
            nonlocal seq, spent
            job = opt.ask()
            fidelity = int(round(job["fidelity"]))
            config = job["config"]
            row = table.index_of({n: table.values[n][int(config[n])] for n in names})
            s = int(rng.integers(table.num_seeds))
            jobs[seq] = (job, row, s)
            spent += fidelity
            heapq.heappush(heap, (now + float(table.elapsed[row, s, fidelity - 1]), seq, worker))
            seq += 1

        for w in range(workers):
            start(w)
        while heap:
            now, key, w = heapq.heappop(heap)
            job, row, s = jobs.pop(key)
            fidelity = int(round(job["fidelity"]))
            score = float(table.val_acc[row, s, fidelity - 1])
            steps.extend(Step(now, key, row, e, score if e == fidelity else float("nan"))
                         for e in range(1, fidelity + 1))  # the epochs it cost; only the last one scored
            opt.tell(job, {"fitness": -score, "cost": fidelity})
            if spent < budget:
                start(w)
        return steps, seq
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the returned config and its regret ----------------------------------------------------------------


def returned_row(steps: list[Step], rule: str) -> int | None:
    """The table row the method would return after ``steps``: by fidelity first, or by any score.

    ``fidelity``: the most epochs reached, then the best score of the trial (hpopt's rule); ``fidelity-last``:
    the most epochs reached, then the score at the last epoch reported (what retraining the config for that
    many epochs gives; Optuna's value of a completed trial); ``any``: the best score at any epoch."""
    best: dict[int, tuple[int, float, int, float]] = {}  # trial -> (epochs reached, best score, row, last score)
    for st in sorted(steps, key=lambda st: (st.trial, st.epoch)):
        if st.score != st.score:  # NaN: an epoch DEHB paid for without a score
            continue
        epochs, score, _, _ = best.get(st.trial, (0, -np.inf, st.row, -np.inf))
        best[st.trial] = (max(epochs, st.epoch), max(score, st.score), st.row, st.score)
    if not best:
        return None
    if rule == "any":
        return max(best.values(), key=lambda v: v[1])[2]
    if rule == "fidelity-last":
        return max(best.values(), key=lambda v: (v[0], v[3]))[2]
    return max(best.values(), key=lambda v: (v[0], v[1]))[2]


def regret(table: Table, row: int | None) -> float:
    final = table.val_acc[:, :, -1].mean(axis=1)
    return float(final.max() - (final[row] if row is not None else final.min()))


def one_run(job: tuple[str, str, int, int, float, str]) -> dict[str, Any]:
    method, name, seed, workers, budget_full, folder = job
    path = Path(folder) / f"{name}_{method}_w{workers}_b{budget_full:g}_{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    table = load(name)
    budget = int(round(budget_full * table.num_epochs))
    started = time.perf_counter()
    if method.startswith("hpopt"):
        steps, trials = run_hpopt(method, table, seed, workers, budget)
    elif method.startswith("syne"):
        steps, trials = run_syne(method, table, seed, workers, budget)
    elif method == "dehb":
        steps, trials = run_dehb(table, seed, workers, budget)
    else:
        steps, trials = run_optuna(table, seed, workers, budget)
    wall = time.perf_counter() - started
    steps = sorted(steps)[:budget]
    rule = "any" if method.startswith("syne") or method == "dehb" else "fidelity-last"
    anytime = []  # regret of the returned config after each tenth of the budget
    for k in range(1, 11):
        anytime.append(regret(table, returned_row(steps[:budget * k // 10], rule)))
    by_rule = {r: regret(table, returned_row(steps, r)) for r in ("fidelity", "fidelity-last", "any")}
    out = {"method": method, "problem": name, "seed": seed, "workers": workers, "budget_epochs": budget,
           "regret": anytime[-1], "regret_by_rule": by_rule, "anytime": anytime, "trials": trials, "epochs": len(steps),
           "wall_seconds": wall, "seconds_per_trial": wall / max(1, trials)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    print(f"{name} {method} w{workers} seed {seed}: regret {out['regret']:.4f}, {trials} trials, {wall:.1f} s",
          flush=True)
    return out


def summarize(results: list[dict[str, Any]], problems: list[str], methods: list[str]) -> str:
    def q(values: list[float]) -> tuple[float, float, float]:
        a = np.array(values)
        return float(np.median(a)), float(np.percentile(a, 25)), float(np.percentile(a, 75))

    lines = ["| method | " + " | ".join(problems) + " | s per trial |",
             "|---|" + "---|" * len(problems) + "---:|"]
    medians: dict[tuple[str, str], float] = {}
    for m in methods:
        cells = []
        for p in problems:
            rs = [r["regret"] for r in results if r["method"] == m and r["problem"] == p]
            if not rs:
                cells.append("–")
                continue
            med, lo, hi = q(rs)
            medians[m, p] = med
            cells.append(f"{med:.4f} ({lo:.4f}–{hi:.4f})")
        per = [r["seconds_per_trial"] for r in results if r["method"] == m]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {statistics.median(per) if per else float('nan'):.4f} |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], problems: list[str], methods: list[str], path: Path) -> None:
    """Anytime curves: the median regret of the returned config after each tenth of the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(problems) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        for m in methods:
            curves = [r["anytime"] for r in results if r["method"] == m and r["problem"] == p]
            if curves:
                style = "-" if m.startswith("hpopt") else "--"
                ax.plot(np.arange(1, 11) / 10, np.median(np.array(curves), axis=0), style, label=m)
        ax.set_title(p)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xlabel("share of the epoch budget")
    axes.flat[0].set_ylabel("median regret")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=None, choices=PROBLEMS + DEV_PROBLEMS)
    parser.add_argument("--dev", action="store_true", help="the development problems (default: the suite's)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=20.0, help="full trainings of epochs (default 20)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"where runs are cached (default {RESULTS.relative_to(ROOT)}; another folder keeps a "
                             "variant of the code apart)")
    parser.add_argument("--no-plot", action="store_true", help="do not redraw docs/img/mf_w<workers>.png")
    args = parser.parse_args()
    args.problems = args.problems or list(DEV_PROBLEMS if args.dev else PROBLEMS)
    jobs = [(m, p, s, args.workers, args.budget, str(args.results)) for p in args.problems for m in args.methods
            for s in range(args.first_seed, args.first_seed + args.seeds)]
    with mp.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(one_run, jobs, chunksize=1)
    print(f"\nworkers {args.workers}, budget {args.budget:g} full trainings, seeds "
          f"{args.first_seed}..{args.first_seed + args.seeds - 1}\n")
    print(summarize(results, args.problems, args.methods))
    if not args.no_plot:
        plot(results, args.problems, args.methods, ROOT / "docs" / "img" / f"mf_w{args.workers}.png")


if __name__ == "__main__":
    main()
