"""ASHA with parallel trainer processes: the original hpopt's ``samples/asha.py`` pattern.

A controller loop keeps up to ``--workers`` ``multiprocessing.Process`` trainers busy. Each trainer gets
a train_config, "trains" (a synthetic learning curve, so the sample runs anywhere in seconds), calls
``hpopt.report`` every epoch and stops when told. ``get_next_sample()`` returning None while
``is_finished()`` is False means "nothing to issue now, trials are still running": the loop waits for a
trainer to end and asks again.

    python samples/asha_parallel.py [--trials 100] [--workers 4] [--save-path hpo_asha] [--sampler bayes]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import time
from typing import Any

import hpopt

SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-4, 1.0]),
    "width": hpopt.search_space("quniform", [16, 256, 16]),
    "optimizer": hpopt.search_space("choice", ["sgd", "adam", "rmsprop"]),
}


def accuracy(params: dict[str, Any], epoch: int) -> float:
    """A learning curve: rises with the epochs toward a ceiling set by the hyperparameters (best lr 0.01)."""
    ceiling = 0.95 - 0.08 * (math.log10(params["lr"]) + 2) ** 2 - 0.0005 * abs(params["width"] - 128) / 16
    ceiling -= {"adam": 0.0, "rmsprop": 0.02, "sgd": 0.05}[params["optimizer"]]
    speed = 0.05 + 0.5 * params["lr"] ** 0.5
    return ceiling * (1.0 - math.exp(-speed * epoch))


def trainer(config: dict[str, Any], log_path: str | None) -> None:
    """One trial in its own process: report every epoch until hpopt says STOP."""
    for epoch in range(1, config["iterations"] + 1):
        score = accuracy(config["params"], epoch)
        status = hpopt.report(config=config, score=score)
        if log_path is not None:  # a record of every report that returned, for the tests
            with open(log_path, "a") as f:
                f.write(f"{config['trial_id']},{config['attempt']},{epoch},{score!r}\n")
        if status == hpopt.Status.STOP:
            break


def run(save_path: str, trials: int, workers: int, sampler: str, log_dir: str | None = None,
        start_method: str | None = None) -> Any:
    hpo = hpopt.create(
        full_dataset_size=50_000, num_full_iterations=100, search_space=SPACE, save_path=save_path,
        search_alg="asha", num_trials=trials, reduction_factor=3, num_brackets=5, min_iterations=1,
        max_iterations=100, subset_ratio=1.0, num_workers=workers, sampler=sampler, seed=0,
    )
    print("rungs per bracket:", hpo.rungs_in_brackets)
    ctx = mp.get_context(start_method)  # use "spawn" when trainers use CUDA
    running: list[Any] = []
    while True:
        running = [p for p in running if p.is_alive()]
        if len(running) < workers and (config := hpo.get_next_sample()) is not None:
            log = None if log_dir is None else os.path.join(log_dir, f"trainer_{config['trial_id']}.log")
            proc = ctx.Process(target=trainer, args=(config, log))
            proc.start()
            running.append(proc)
            continue
        if hpo.is_finished():
            break
        time.sleep(0.01)  # all workers busy, or nothing to issue until a trial ends
    hpo.print_results()
    budget = "" if hpo.epoch_budget is None else f" of {round(hpo.epoch_budget)}"
    print("best config:", hpo.get_best_config(), f"epochs used: {hpo.epochs_used:g}{budget}")
    return hpo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--save-path", default="hpo_asha")
    parser.add_argument("--sampler", choices=["forest", "random", "bayes"], default="forest")
    parser.add_argument("--start-method", choices=mp.get_all_start_methods(), default=None,
                        help="how trainer processes start (default: the platform's; spawn for CUDA)")
    parser.add_argument("--log-dir", default=None, help="write each trainer's returned reports here (tests)")
    args = parser.parse_args()
    hpo = run(args.save_path, args.trials, args.workers, args.sampler, args.log_dir, args.start_method)
    hpo.close()


if __name__ == "__main__":
    main()
