"""Re-planning with parallel workers: the count and the deadline of a two-process run, re-planned and static.

The case of ``tests/test_replan.py``'s two-process test, run several times per setting: two uniform
hyperparameters, a score that rises with one of them (x + 0.01 per epoch), auto config with a full training
of 20 epochs measured at ``--full-s`` seconds on 10 000 samples (non_pure_train_ratio 0.2), and the local
adapter with two trainer processes (``num_workers=2``) whose epochs sleep ``slowdown`` times what the plan
gives them. Prints, per searcher, r and slowdown, the trials run of the plan at the start and HPO's wall time
(from before ``create()``, which times the searcher's suggestions to plan) over the time asked, for the
re-planned and the static plan (``create(replan=False)``).

    python bench/parallel_replan.py [--runs 5] [--algs random asha] [--ratios 2.5 4] [--slowdowns 1 2]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import hpopt
from hpopt.adapters.local import run_local


def train(cfg: dict, slowdown: float, full_s: float) -> None:
    """Epochs that sleep ``slowdown`` times what the plan gives an epoch on the trial's subset."""
    planned_epoch = full_s / 20 * (0.8 * cfg["subset_ratio"] + 0.2)
    for epoch in range(cfg["iterations"]):
        time.sleep(slowdown * planned_epoch)
        if hpopt.report(cfg, cfg["params"]["x"] + 0.01 * epoch) == hpopt.Status.STOP:
            break


def one_run(alg: str, ratio: float, slowdown: float, replan: bool, full_s: float, seed: int) -> tuple[int, int, float]:
    """(trials planned at the start, trials run, HPO wall time over the time asked) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()  # before create(): it times the searcher's suggestions, on the run's clock
        hpo = hpopt.create(full_dataset_size=10_000, num_full_iterations=20, save_path=str(Path(tmp) / "hpo"),
                           search_space={"x": hpopt.search_space("uniform", [0, 1]),
                                         "y": hpopt.search_space("uniform", [0, 1])},
                           search_alg=alg, expected_time_ratio=ratio, full_train_seconds=full_s,
                           non_pure_train_ratio=0.2, num_workers=2, replan=replan, seed=seed)
        planned = hpo.num_trials
        summary = run_local(hpo, functools.partial(train, slowdown=slowdown, full_s=full_s), n_parallel=2,
                            resources="cpu", progress=False, start_method="fork")
        wall = time.monotonic() - start
        hpo.close()
    return planned, summary.trials_done, wall / ((ratio - 1.0) * full_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--algs", nargs="+", default=["random", "asha"])
    parser.add_argument("--ratios", type=float, nargs="+", default=[2.5, 4.0])
    parser.add_argument("--slowdowns", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--full-s", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=3, help="the run's seed (the same in every run: what differs "
                        "between runs is which trial reports first)")
    args = parser.parse_args()
    print("| searcher | r | epoch cost | planned | trials run, re-planned | median | HPO / asked | trials run, static "
          "| median | HPO / asked |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for alg in args.algs:
        for ratio in args.ratios:
            for slowdown in args.slowdowns:
                cells = [alg, f"{ratio:g}", f"{slowdown:g}x"]
                planned = None
                for replan in (True, False):
                    runs = [one_run(alg, ratio, slowdown, replan, args.full_s, args.seed) for _ in range(args.runs)]
                    planned = runs[0][0]
                    done, ratios = [r[1] for r in runs], [r[2] for r in runs]
                    cells += [", ".join(map(str, done)), f"{statistics.median(done) / planned:.0%}",
                              f"{min(ratios):.2f}-{max(ratios):.2f}"]
                print("| " + " | ".join(cells[:3] + [str(planned)] + cells[3:]) + " |", flush=True)


if __name__ == "__main__":
    main()
