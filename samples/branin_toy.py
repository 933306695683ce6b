"""The original hpopt toy: minimize the Branin function with baye_opt (or random search).

Each trial "trains" for one iteration and reports -- nothing to install beyond hpopt. Branin has three
global minima of 0.397887 on x1 in [-5, 10], x2 in [0, 15]; baye_opt gets close in about 30 trials.

    python samples/branin_toy.py [--alg baye_opt|random] [--trials 30] [--save-path hpo_branin]
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import hpopt

BRANIN_MIN = 0.397887


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alg", default="baye_opt", choices=["baye_opt", "random"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--save-path", default="hpo_branin")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    hpo = hpopt.create(full_dataset_size=1, num_full_iterations=1, num_trials=args.trials, max_iterations=1,
                       search_space={"x1": hpopt.search_space("uniform", [-5, 10]),
                                     "x2": hpopt.search_space("uniform", [0, 15])},
                       save_path=args.save_path, search_alg=args.alg, mode="min", metric="branin",
                       seed=args.seed, expected_time_ratio=args.trials + 1)  # each trial is a whole "training"
    while (config := hpo.get_next_sample()) is not None:
        hpopt.report(config=config, score=branin(**config["params"]))
    best = hpo.get_best_config()
    value = branin(**best)
    print(f"best x = ({best['x1']:.4f}, {best['x2']:.4f}), branin = {value:.6f} (global minimum {BRANIN_MIN})")
    return {"best": best, "value": value}


if __name__ == "__main__":
    main()
