"""Controller and trainer overhead of hpopt's ask/tell loop with random search, by run size.

For each run size N it runs N one-epoch trials (get_next_sample, then one report) and times the calls
made while the run already holds about N trials (the last 200), so a cost that grows with the number
of trials shows up as a growing figure. Every call does real, fsynced file I/O in a temp folder.

    python bench/overhead.py [--sizes 100 1000 10000] [--window 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import hpopt


def measure(n: int, window: int) -> tuple[float, float]:
    space = {"x": hpopt.search_space("uniform", [0, 1]), "bs": hpopt.search_space("quniform", [8, 512, 8]),
             "opt": hpopt.search_space("choice", ["sgd", "adam"])}
    with tempfile.TemporaryDirectory() as tmp:
        hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=1, search_space=space, save_path=tmp,
                           search_alg="random", num_trials=n, max_iterations=1, subset_ratio=1.0, seed=0)
        ask, tell = [], []
        for i in range(n):
            t0 = time.perf_counter()
            cfg = hpo.get_next_sample()
            t1 = time.perf_counter()
            hpopt.report(cfg, cfg["params"]["x"])
            t2 = time.perf_counter()
            if i >= n - window:
                ask.append(t1 - t0)
                tell.append(t2 - t1)
        assert hpo.get_next_sample() is None and hpo.is_finished()
        hpo.close()
    return statistics.mean(ask) * 1e6, statistics.mean(tell) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    print("| trials | µs per get_next_sample | µs per report |")
    print("|---:|---:|---:|")
    for n in args.sizes:
        ask, tell = measure(n, min(args.window, n))
        print(f"| {n} | {ask:.0f} | {tell:.0f} |", flush=True)


if __name__ == "__main__":
    main()
