"""Controller and trainer overhead of hpopt's ask/tell loop by run size, side by side with Optuna.

For each run size N it runs N trials in one process (get_next_sample, then report() every epoch until
STOP) and times the calls made while the run already holds about N trials (the last ``--window``
trials), so a cost that grows with the number of trials shows up as a growing figure. Every call does
real, fsynced file I/O in a temp folder on the same disk.

* ``random``: random search, one-epoch trials (the core loop's cost).
* ``asha``: ASHA, max 9 epochs, rf 3 (rungs 1, 3, 9), scores drawn at random, so trials stop at rungs.
* ``optuna``: the same ASHA-shaped loop with Optuna ask/tell, its SuccessiveHalvingPruner (min resource
  1, rf 3) and a file-backed JournalStorage (one fsynced append per change, like hpopt's journal).
  "get_next_sample" is ``study.ask()`` plus the three ``suggest_*`` calls; "report" is
  ``trial.report()`` plus ``trial.should_prune()``, plus ``study.tell()`` on the trial's last epoch.

    python bench/overhead.py [--algs random asha optuna] [--sizes 100 1000 10000] [--window 200]

``optuna`` needs Optuna installed (bench/bo_quality/setup.sh makes a venv that has it).

Two versions of hpopt side by side (``--impl LABEL=PATH``, repeatable: PATH goes first on the
``PYTHONPATH`` of a child process, an empty PATH is the installed hpopt): every measurement then runs in
its own child process, the versions take turns, ``--rounds`` times, and the table gives the median of
the rounds, so the disk's changing fsync latency hits all versions alike::

    python bench/overhead.py --algs random asha --impl now= --impl 0.4=/tmp/hpopt-0.4 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import hpopt

MAX_EPOCHS, RF = 9, 3


def _space() -> dict[str, hpopt.SearchSpace]:
    return {"x": hpopt.search_space("uniform", [0, 1]), "bs": hpopt.search_space("quniform", [8, 512, 8]),
            "opt": hpopt.search_space("choice", ["sgd", "adam"])}


def _curve(rng: np.random.Generator) -> list[float]:
    """A random learning curve: trials differ in level, so the rungs really stop some."""
    level = rng.random()
    return [level * (1 - 0.5 ** (e + 1)) for e in range(MAX_EPOCHS)]


def measure_hpopt(alg: str, n: int, window: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        if alg == "random":
            hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=1, search_space=_space(), save_path=tmp,
                               search_alg="random", num_trials=n, max_iterations=1, subset_ratio=1.0, seed=0)
        else:
            hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=MAX_EPOCHS, search_space=_space(),
                               save_path=tmp, search_alg="asha", num_trials=n, max_iterations=MAX_EPOCHS,
                               min_iterations=1, reduction_factor=RF, num_brackets=1, subset_ratio=1.0, seed=0)
            hpo.epoch_budget = 1e18  # measure the calls, not when the budget ends the run
        ask, tell = [], []
        for i in range(n):
            t0 = time.perf_counter()
            cfg = hpo.get_next_sample()
            t1 = time.perf_counter()
            if i >= n - window:
                ask.append(t1 - t0)
            for score in _curve(rng)[: cfg["iterations"]]:
                t0 = time.perf_counter()
                status = hpopt.report(cfg, score)
                if i >= n - window:
                    tell.append(time.perf_counter() - t0)
                if status == hpopt.Status.STOP:
                    break
        assert hpo.get_next_sample() is None and hpo.is_finished()
        hpo.close()
    return statistics.mean(ask) * 1e6, statistics.mean(tell) * 1e6


def measure_optuna(n: int, window: int) -> tuple[float, float]:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        storage = optuna.storages.JournalStorage(JournalFileBackend(os.path.join(tmp, "journal.log")))
        study = optuna.create_study(
            storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=RF,
                                                          min_early_stopping_rate=0))
        ask, tell = [], []
        for i in range(n):
            t0 = time.perf_counter()
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            trial.suggest_int("bs", 8, 512, step=8)
            trial.suggest_categorical("opt", ["sgd", "adam"])
            t1 = time.perf_counter()
            if i >= n - window:
                ask.append(t1 - t0)
            curve = _curve(rng)
            for epoch, score in enumerate(curve, 1):
                t0 = time.perf_counter()
                trial.report(score, epoch)
                pruned = trial.should_prune()
                if pruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                elif epoch == MAX_EPOCHS:
                    study.tell(trial, score)
                if i >= n - window:
                    tell.append(time.perf_counter() - t0)
                if pruned:
                    break
    return statistics.mean(ask) * 1e6, statistics.mean(tell) * 1e6


MEASURES: dict[str, Callable[[int, int], tuple[float, float]]] = {
    "random": lambda n, w: measure_hpopt("random", n, w),
    "asha": lambda n, w: measure_hpopt("asha", n, w),
    "optuna": measure_optuna,
}


def side_by_side(impls: list[tuple[str, str]], algs: list[str], sizes: list[int], window: int, rounds: int) -> None:
    """Each (version, loop, size) measured in a child process, versions in turn, median of the rounds."""
    print(f"| hpopt | loop | trials | µs per get_next_sample (median of {rounds}) | µs per report (median) |")
    print("|---|---|---:|---:|---:|")
    for n in sizes:
        for alg in algs:
            seen: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in impls}
            for _ in range(rounds):
                for label, path in impls:
                    env = dict(os.environ)
                    if path:
                        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
                    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", alg, str(n),
                                          str(min(window, n))], env=env, capture_output=True, text=True, check=True)
                    seen[label].append(tuple(json.loads(out.stdout.strip().splitlines()[-1])))
            for label, results in seen.items():
                ask = statistics.median(a for a, _ in results)
                tell = statistics.median(t for _, t in results)
                print(f"| {label} | {alg} | {n} | {ask:.0f} | {tell:.0f} |", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        alg, n, window = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(MEASURES[alg](n, window)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algs", nargs="+", choices=list(MEASURES), default=["random", "asha", "optuna"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--impl", action="append", default=[], help="LABEL=PATH: compare hpopt versions")
    parser.add_argument("--rounds", type=int, default=3, help="with --impl: rounds per measurement (median)")
    args = parser.parse_args()
    if args.impl:
        side_by_side([tuple(i.split("=", 1)) for i in args.impl], args.algs, args.sizes, args.window, args.rounds)
        return
    print("| loop | trials | µs per get_next_sample (ask) | µs per report |")
    print("|---|---:|---:|---:|")
    for n in args.sizes:
        for alg in args.algs:
            ask, tell = MEASURES[alg](n, min(args.window, n))
            print(f"| {alg} | {n} | {ask:.0f} | {tell:.0f} |", flush=True)


if __name__ == "__main__":
    main()
