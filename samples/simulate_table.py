"""Replay a tabulated benchmark in simulated time: ASHA against random search, in seconds instead of hours.

``bench/tabular/data/digits.npz`` holds what training a two-layer MLP gave for 1 296 configurations
(validation accuracy and elapsed seconds per epoch). The simulator plays ``--workers`` workers that look
each epoch up in the table instead of training, so a run of several simulated hours takes seconds and
shows how an algorithm would have spent a real budget. Both runs get the same budget from auto config
(``--ratio``: HPO time = (ratio - 1) x one full training per worker).

    python samples/simulate_table.py [--table bench/tabular/data/digits.npz] [--workers 4] [--ratio 12]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import hpopt
from hpopt.adapters.progress import format_duration
from hpopt.adapters.simulator import simulate
from hpopt.adapters.table import Table

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "bench", "tabular", "data",
                     "digits.npz")


def run(alg: str, table: Table, workers: int, ratio: float, seed: int) -> dict[str, Any]:
    # The memory store: a simulation needs no files (and pays no fsync per simulated epoch).
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=table.num_epochs, search_space=table.search_space(),
                       search_alg=alg, storage="memory", expected_time_ratio=ratio, num_workers=workers,
                       subset_ratio=1.0, seed=seed, metric="accuracy",
                       **({"reduction_factor": 3} if alg == "asha" else {}))
    result = simulate(hpo, table, n_workers=workers, seed=seed)
    best = hpo.get_best_config()
    hpo.close()
    return {"alg": alg, "trials": result.trials, "epochs": len(result.trace), "sim_seconds": result.sim_time,
            "best": result.best_curve[-1][1] if result.best_curve else float("nan"), "config": best,
            "wall": result.wall_seconds}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=TABLE)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ratio", type=float, default=12.0, help="expected_time_ratio (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    table = Table.load(args.table)
    print(f"table: {table.num_configs} configurations x {table.num_epochs} epochs; best seed-averaged last-epoch "
          f"accuracy {table.best_score():.4f}, best single score {float(table.val_acc.max()):.4f}; one full "
          f"training takes {table.elapsed[:, :, -1].mean():.1f} s on average")
    results = [run(alg, table, args.workers, args.ratio, args.seed) for alg in ("asha", "random")]
    for r in results:
        print(f"{r['alg']:>6}: {r['trials']} trials, {r['epochs']} epochs in {format_duration(r['sim_seconds'])} "
              f"of simulated time ({r['wall']:.1f} s real): best validation accuracy {r['best']:.4f}")
    return results


if __name__ == "__main__":
    main()
