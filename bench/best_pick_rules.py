"""Which config should a re-planned run return? Two best-config rules on the same kept runs, by test accuracy.

A re-plan may cut ASHA's last epoch or subset, so a run holds trials trained for different amounts. Rule
``capped`` (hpopt's, ``hpopt.algorithms.scores.rank_key``) compares every trial at the most training all
finished trials could reach; rule ``longest`` (hpopt before it) let a trial trained longer before the cut
keep the best score of all its epochs. For each run kept by ``bench/auto_config_time.py --keep-runs DIR``,
this reads the trials, picks a config by each rule, trains each pick as the digits sample trains its
final model (all the data, the sample's epochs, seed 0) and prints the test accuracy of both.

    python bench/best_pick_rules.py DIR [--epochs 12]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from hpopt.algorithms.scores import fidelity_cap, rank_key, subset_share
from hpopt.state import FileStore, load_status

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "samples"))
import digits_mlp  # noqa: E402  (the sample's data, model and training)


def picks(save_path: str) -> dict[str, int]:
    """The trial each rule returns, for a run with early stopping (ASHA)."""
    status = load_status(save_path)
    if status is None:
        raise SystemExit(f"{save_path}: no hpopt run there")
    store, mode = FileStore(save_path), str(status.get("mode", "max"))
    first = (status.get("auto_plan") or {}).get("subset_ratio")
    rows = []
    for e in status["config_list"]:
        if e.get("score") is None:
            continue
        record = store.read_trial(int(e["trial_id"]))
        scores = [] if record is None else list(record.scores)
        rows.append((int(e["trial_id"]), float(e["score"]), int(e.get("num_iterations_run") or len(scores)),
                     int(e["iterations"]), subset_share(e.get("subset_ratio"), first), scores))
    old_cap = min(r[3] for r in rows)
    cap = fidelity_cap((r[3], r[4]) for r in rows)
    return {
        # before: epochs reached up to the smallest last epoch, then the best score of all the trial's epochs
        "longest": max(rows, key=lambda r: rank_key(r[1], r[2], mode, True, old_cap))[0],
        "capped": max(rows, key=lambda r: rank_key(r[1], r[2], mode, True, cap, r[4], r[5]))[0],
        "controller": int(status["best_config_id"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="the folder given to bench/auto_config_time.py --keep-runs")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_set, val_set, test_set = digits_mlp.load_data()
    device = torch.device("cpu")
    print("| run | pick, longest rule | pick, capped rule | test acc., longest | test acc., capped |")
    print("|---|---|---|---|---|")
    for name in sorted(os.listdir(args.runs)):
        path = os.path.join(args.runs, name)
        status = load_status(path)
        if status is None or status.get("early_stop") is None:
            continue  # no early stopping: both rules rank by score alone
        chosen = picks(path)
        if chosen["capped"] != chosen["controller"]:
            raise SystemExit(f"{name}: the controller returned trial {chosen['controller']}, the capped rule "
                             f"{chosen['capped']}")
        acc = {}
        for rule in ("longest", "capped"):
            tid = chosen[rule]
            if tid not in acc:
                config = status["config_list"][tid]["config"]
                model = digits_mlp.train(config, train_set, val_set, args.epochs, device)
                acc[tid] = digits_mlp.accuracy(model, test_set, device)
        print(f"| {name} | {chosen['longest']} | {chosen['capped']} | {acc[chosen['longest']]:.4f} | "
              f"{acc[chosen['capped']]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
