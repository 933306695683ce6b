"""Quality and speed of every algorithm on the tabulated MLP benchmarks, in simulated time, beside peers.

Quality: on each table, n workers (4) and the same simulated wall-clock budget, for each seed:

* ``hpopt-random``: random search, full 27-epoch trials;
* ``hpopt-bo-median``: baye_opt (GP-UCB) with median stop;
* ``hpopt-asha``, ``hpopt-asha-bayes``: ASHA (min 1, max 27 epochs, rf 3) with the random / GP sampler;
* ``syne-asha``, ``syne-bohb``: Syne Tune's ASHA and BOHB (its model-based ASHA; MOBSTER is no longer
  part of Syne Tune 0.16) through Syne Tune's own simulator backend on the same table;
* ``optuna-tpe-hb``: Optuna TPE with its HyperbandPruner (min 1, max 27, rf 3), driven through ask/tell by
  the same kind of event loop in simulated time (Optuna has no simulator).

hpopt runs through ``hpopt.adapters.simulator.simulate`` with its state in the memory store
(``create(storage="memory")``). The score is
the validation accuracy; regret at time t = the best accuracy anywhere in the table minus the best
accuracy the method has observed by t. The budget is ``--budget`` times the mean time of one full
training (so 4 workers could run 4 x budget full trainings).

Throughput (``--throughput``): events (reported epochs) per real second of hpopt's simulator driving ASHA
(on the memory store, and on the file store in a RAM-disk folder) against Syne Tune's simulator backend
driving its ASHA, same table, same budget, one run.

    bench/tabular/.venv/bin/python bench/simulated_quality.py --tables digits mnist --seeds 20
    bench/tabular/.venv/bin/python bench/simulated_quality.py --throughput --tables digits mnist --repeat 5

``HPOPT_TABLES`` may name another folder of tables. Per-run results are cached in
``bench/results/simulated/`` (rerunning skips finished runs); the summary table is printed as Markdown
and the anytime plots go to ``docs/img/sim_<table>.png``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import hpopt
from hpopt.adapters.simulator import simulate
from hpopt.adapters.table import Table

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "bench" / "tabular" / "data"
RESULTS = ROOT / "bench" / "results" / "simulated"
METHODS = ("hpopt-random", "hpopt-bo-median", "hpopt-asha", "hpopt-asha-bayes", "syne-asha", "syne-bohb",
           "optuna-tpe-hb")
N_WORKERS, RF, MIN_EPOCHS = 4, 3, 1
SYNE_POLL_SECONDS = 0.005
RAM = "/dev/shm" if os.path.isdir("/dev/shm") else None


def load(name: str) -> Table:
    return Table.load(Path(os.environ.get("HPOPT_TABLES", TABLES)) / f"{name}.npz")


def budget_seconds(table: Table, full_trainings: float) -> float:
    return float(full_trainings * table.elapsed[:, :, -1].mean())


# --- hpopt ---------------------------------------------------------------------------------------------


# One bracket each (what these methods were measured with before brackets were chosen by evidence);
# "hpopt-default" is ASHA as create() gives it: the forest sampler and every bracket, chosen by evidence.
ASHA_SAMPLERS = {"hpopt-asha": "random", "hpopt-asha-bayes": "bayes", "hpopt-asha-forest": "forest",
                 "hpopt-default": None}


def create_hpopt(method: str, table: Table, seed: int, folder: str, workers: int = N_WORKERS,
                 storage: str = "memory") -> Any:
    """The hpopt run of ``method`` (hpopt-random, hpopt-bo-median or a key of ASHA_SAMPLERS) over the
    table's grid, full 27-epoch trials unless ASHA stops them; the caller sets the budget that ends it."""
    args: dict[str, Any] = dict(full_dataset_size=1000, num_full_iterations=table.num_epochs,
                                search_space=table.search_space(), save_path=folder, num_trials=100_000,
                                max_iterations=table.num_epochs, subset_ratio=1.0, seed=seed,
                                num_workers=workers, storage=storage)
    if method == "hpopt-random":
        args.update(search_alg="random")
    elif method == "hpopt-bo-median":
        args.update(search_alg="bayes_opt", early_stop="median_stop")
    else:
        args.update(search_alg="asha", min_iterations=MIN_EPOCHS, reduction_factor=RF)
        if ASHA_SAMPLERS[method] is not None:
            args.update(sampler=ASHA_SAMPLERS[method], num_brackets=1)
    return hpopt.create(**args)


def run_hpopt(method: str, table: Table, seed: int, budget: float, storage: str = "memory"
              ) -> tuple[list[list[float]], int, float]:
    folder = tempfile.mkdtemp(dir=RAM)
    try:
        hpo = create_hpopt(method, table, seed, folder, storage=storage)
        if method in ASHA_SAMPLERS:
            hpo.epoch_budget = 1e18  # the simulated wall-clock budget ends the run, as for every contender
        res = simulate(hpo, table, n_workers=N_WORKERS, max_time=budget, seed=seed)
        hpo.close()
        return [list(p) for p in res.best_curve], len(res.trace), res.wall_seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- Syne Tune -----------------------------------------------------------------------------------------


def syne_blackbox(table: Table) -> Any:
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.config_space import choice, randint

    names = list(table.values)
    hp = pd.DataFrame([{n: table.values[n][i] for n, i in zip(names, row, strict=True)}
                       for row in table.configs.tolist()])
    space = {n: choice(table.values[n]) for n in names}
    e = table.num_epochs
    objectives = np.stack([table.val_acc, table.elapsed], axis=-1)
    return BlackboxTabular(hyperparameters=hp, configuration_space=space, fidelity_space={"epoch": randint(1, e)},
                           objectives_evaluations=objectives, fidelity_values=np.arange(1, e + 1),
                           objectives_names=["val_acc", "elapsed"])


def syne_tuning(method: str, table: Table, seed: int, *, workers: int, stop_criterion: Any,
                on_result: Callable[[Any, dict[str, Any]], None], poll: float = SYNE_POLL_SECONDS) -> None:
    """Run Syne Tune's ``method`` (syne-asha, syne-bohb, syne-cqr) on ``table`` through its simulator backend,
    calling ``on_result(trial, result)`` for every reported epoch."""
    from syne_tune import Tuner
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository import UserBlackboxBackend
    from syne_tune.optimizer.baselines import ASHA, ASHACQR, BOHB

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    blackbox = syne_blackbox(table)

    class Record(SimulatorCallback):
        def on_trial_result(self, trial: Any, status: str, result: dict[str, Any], decision: str) -> None:
            super().on_trial_result(trial, status, result, decision)
            on_result(trial, result)

    cls = {"syne-asha": ASHA, "syne-bohb": BOHB, "syne-cqr": ASHACQR}[method]
    scheduler = cls(config_space=blackbox.configuration_space, metric="val_acc", do_minimize=False,
                    time_attr="epoch", max_t=table.num_epochs, grace_period=MIN_EPOCHS, reduction_factor=RF,
                    random_seed=seed)
    out = tempfile.mkdtemp(dir=RAM)
    os.environ["SYNETUNE_FOLDER"] = out
    try:
        # No simulated start/stop/report delays: hpopt's simulator has none, so both replay the same times.
        no_delays = SimulatorConfig(delay_on_trial_result=0, delay_complete_after_final_report=0,
                                    delay_complete_after_stop=0, delay_start=0, delay_stop=0)
        # seed=None: each trial replays a table seed drawn at random (Syne Tune's ``seed`` would pin one
        # table seed for all trials); numpy's global generator, which it draws from, is seeded per run.
        np.random.seed(seed)
        # Syne Tune's tuner polls every ``tuner_sleep_time`` simulated seconds (default 5 s, made for epochs
        # of minutes): here epochs last 10-280 ms, so it polls every 5 ms, or workers would sit idle.
        backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr="elapsed", seed=None,
                                      simulator_config=no_delays, tuner_sleep_time=poll)
        tuner = Tuner(trial_backend=backend, scheduler=scheduler, stop_criterion=stop_criterion,
                      n_workers=workers, sleep_time=0, callbacks=[Record()], results_update_interval=1e9,
                      print_update_interval=1e9, save_tuner=False)
        tuner.run()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_syne(method: str, table: Table, seed: int, budget: float) -> tuple[list[list[float]], int, float]:
    from syne_tune import StoppingCriterion

    curve: list[list[float]] = []
    events = [0]

    def record(trial: Any, result: dict[str, Any]) -> None:
        events[0] += 1
        t, score = float(result["st_tuner_time"]), float(result["val_acc"])
        if t <= budget and (not curve or score > curve[-1][1]):
            curve.append([t, score])

    started = time.perf_counter()
    syne_tuning(method, table, seed, workers=N_WORKERS, stop_criterion=StoppingCriterion(max_wallclock_time=budget),
                on_result=record)
    return curve, events[0], time.perf_counter() - started


# --- Optuna --------------------------------------------------------------------------------------------


def optuna_steps(table: Table, seed: int, workers: int = N_WORKERS) -> Iterator[tuple[float, int, int, int, float]]:
    """TPE + HyperbandPruner through ask/tell, ``workers`` workers in simulated time (an event heap, like
    ours): yields each reported epoch as (time, trial number, table row, epoch, score), in time order,
    before Optuna hears of it, so a consumer that stops at a budget leaves Optuna where it would stop."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A fixed study name: HyperbandPruner deals trials to brackets by a hash of the study's name, which is
    # random by default, so without it the same seed gave other runs.
    study = optuna.create_study(
        study_name=f"bench-{seed}", direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=MIN_EPOCHS, max_resource=table.num_epochs,
                                              reduction_factor=RF))
    names = list(table.values)
    rng = np.random.default_rng(seed)
    heap: list[tuple[float, int, int]] = []
    state: dict[int, tuple[Any, int, int, int]] = {}  # worker -> (trial, row, seed, epochs done)
    seq, now = 0, 0.0

    def start(worker: int) -> None:
        nonlocal seq
        trial = study.ask()
        params = {n: table.values[n][trial.suggest_int(n, 0, len(table.values[n]) - 1)] for n in names}
        row, s = table.index_of(params), int(rng.integers(table.num_seeds))
        state[worker] = (trial, row, s, 0)
        heapq.heappush(heap, (now + float(table.elapsed[row, s, 0]), seq, worker))
        seq += 1

    for w in range(workers):
        start(w)
    while heap:
        now, _, w = heapq.heappop(heap)
        trial, row, s, done = state[w]
        score = float(table.val_acc[row, s, done])
        done += 1
        yield now, trial.number, row, done, score
        trial.report(score, done)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif done == table.num_epochs:
            study.tell(trial, score)
        else:
            state[w] = (trial, row, s, done)
            heapq.heappush(heap, (now + float(table.elapsed[row, s, done] - table.elapsed[row, s, done - 1]), seq, w))
            seq += 1
            continue
        start(w)


def run_optuna(table: Table, seed: int, budget: float) -> tuple[list[list[float]], int, float]:
    """Optuna's best score over simulated time, until ``budget`` simulated seconds."""
    curve: list[list[float]] = []
    events = 0
    started = time.perf_counter()
    for now, _, _, _, score in optuna_steps(table, seed):
        if now > budget:
            break
        events += 1
        if not curve or score > curve[-1][1]:
            curve.append([now, score])
    return curve, events, time.perf_counter() - started


# --- driver --------------------------------------------------------------------------------------------


def one_run(job: tuple[str, str, int, float]) -> dict[str, Any]:
    method, name, seed, budget_full = job
    path = RESULTS / f"{name}_{method}_{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    table = load(name)
    budget = budget_seconds(table, budget_full)
    if method.startswith("hpopt"):
        curve, events, wall = run_hpopt(method, table, seed, budget)
    elif method.startswith("syne"):
        curve, events, wall = run_syne(method, table, seed, budget)
    else:
        curve, events, wall = run_optuna(table, seed, budget)
    out = {"method": method, "table": name, "seed": seed, "budget": budget, "curve": curve, "events": events,
           "wall_seconds": wall}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    print(f"{name} {method} seed {seed}: best {curve[-1][1] if curve else None:.4f}, {events} events, "
          f"{wall:.1f} s", flush=True)
    return out


def best_at(curve: list[list[float]], t: float) -> float:
    best = 0.0
    for when, score in curve:
        if when > t:
            break
        best = score
    return best


def summarise(runs: list[dict[str, Any]], names: list[str], methods: list[str], plot: bool) -> None:
    print("\n| table | method | median regret at budget | IQR | runs | mean real s per run |")
    print("|---|---|---:|---|---:|---:|")
    for name in names:
        table = load(name)
        ref = float(table.val_acc.max())
        curves: dict[str, list[list[list[float]]]] = {}
        for method in methods:
            mine = [r for r in runs if r["table"] == name and r["method"] == method]
            if not mine:
                continue
            regrets = [ref - best_at(r["curve"], r["budget"]) for r in mine]
            q1, med, q3 = np.percentile(regrets, [25, 50, 75])
            wall = np.mean([r["wall_seconds"] for r in mine])
            print(f"| {name} | {method} | {med:.4f} | {q1:.4f}–{q3:.4f} | {len(mine)} | {wall:.1f} |")
            curves[method] = [r["curve"] for r in mine]
        if plot and curves:
            plot_anytime(name, ref, curves, mine[0]["budget"])


def plot_anytime(name: str, ref: float, curves: dict[str, list[list[list[float]]]], budget: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(budget / 100, budget, 100)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, runs in curves.items():
        regret = np.array([[ref - best_at(c, t) for t in grid] for c in runs])
        ax.plot(grid, np.median(regret, axis=0), label=method)
        ax.fill_between(grid, *np.percentile(regret, [25, 75], axis=0), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("simulated seconds (4 workers)")
    ax.set_ylabel("regret (best accuracy in table − best seen)")
    ax.set_title(f"{name}: median and IQR over seeds")
    ax.legend(fontsize=8)
    out = ROOT / "docs" / "img" / f"sim_{name}.png"
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def throughput(names: list[str], budget_full: float, repeat: int) -> None:
    """Events per real second, each simulator run ``repeat`` times in turn (so load changes hit all alike);
    the median of the runs, and the ratio of the medians."""
    runs = (("hpopt ASHA, memory store", "hpopt-asha", "memory"),
            ("hpopt ASHA, file store on a RAM disk", "hpopt-asha", "file"),
            ("Syne Tune ASHA", "syne-asha", None))
    print(f"\n| table | simulator | events | real seconds (median of {repeat}) | events per second (median) |")
    print("|---|---|---:|---:|---:|")
    for name in names:
        table = load(name)
        budget = budget_seconds(table, budget_full)
        seen: dict[str, list[tuple[int, float]]] = {label: [] for label, _, _ in runs}
        for _ in range(repeat):
            for label, method, storage in runs:
                if storage is None:
                    _, events, wall = run_syne(method, table, 0, budget)
                else:
                    _, events, wall = run_hpopt(method, table, 0, budget, storage)
                seen[label].append((events, wall))
        rates = {}
        for label, results in seen.items():
            events = results[0][0]
            wall = statistics.median(w for _, w in results)
            rates[label] = statistics.median(e / w for e, w in results)
            print(f"| {name} | {label} | {events} | {wall:.2f} | {rates[label]:.0f} |", flush=True)
        for label in list(rates)[:2]:
            print(f"| {name} | {label} / Syne Tune | | | {rates[label] / rates['Syne Tune ASHA']:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["digits", "mnist"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=float, default=20.0, help="simulated budget in mean full trainings")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="throughput: runs of each simulator (median)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    if args.throughput:
        throughput(args.tables, args.budget, args.repeat)
        return
    jobs = [(m, n, s, args.budget) for n in args.tables for m in args.methods for s in range(args.seeds)]
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            runs = pool.map(one_run, jobs, chunksize=1)
    else:
        runs = [one_run(j) for j in jobs]
    summarise(runs, args.tables, args.methods, not args.no_plot)


if __name__ == "__main__":
    main()
