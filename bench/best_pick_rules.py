"""Which config should a re-planned run return? Best-config rules on the same kept runs, by test accuracy.

A re-plan may cut ASHA's last epoch or subset, so a run holds trials trained for different amounts. Rule
``longest`` (hpopt's until 2026-12-06, ``hpopt.algorithms.scores.rank_key``) ranks by the epochs reached up to
the smallest last epoch, then by the trial's best score of all its epochs, so a trial trained longer before a
cut keeps what its later epochs bought. Rule ``last`` (hpopt's since) ranks the same way but by the score at
the last epoch each trial reported (``rank_key``'s ``last``). Rule ``capped`` (tried, not kept) compares every
trial at the most training all finished trials could reach: the smallest last epoch x subset, in epochs of the
first subset, by the share of it reached and then by its best score up to it; ``capped-last`` by its last
score up to it. Rule ``epochs-capped`` (new 2026-12-07) is rule ``last`` with a trial trained past the
smallest last epoch ranked by its last score up to that epoch (``hpopt.algorithms.scores.score_up_to``):
epochs alone, whatever the subset. Rule ``last-group`` (not in hpopt) is rule ``last`` among the trials of the
run's last rung group alone: a re-plan that cuts the subset starts a group whose trials all train on the new
subset, so they compare with each other, while the first group's larger subset lifts its scores above every
later trial's whatever their configs. Rule ``forest`` (not in hpopt) asks a model: the forest ASHA's sampler
fits over (config, epoch), refitted to every reported epoch of the run, predicts each finished trial's score
at the last epoch on the first subset, and the best prediction wins, as baye_opt's GP chooses across
fidelities. For each run kept by ``bench/auto_config_time.py --keep-runs DIR``, this reads the trials, picks a
config by each rule, trains each pick as the digits sample trains its final model (all the data, the sample's
epochs, seed 0) and prints the test accuracy of each.

    python bench/best_pick_rules.py DIR [--epochs 12]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch
from sklearn.ensemble import ExtraTreesRegressor

from hpopt.algorithms.forest_searcher import FOREST, FidelityForestSearcher
from hpopt.algorithms.random_search import RandomSearcher
from hpopt.algorithms.scores import best_of, fidelity_cap, last_valid, rank_key, score_up_to, signed
from hpopt.search_space import space_from_json
from hpopt.state import FileStore, load_status

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "samples"))
import digits_mlp  # noqa: E402  (the sample's data, model and training)


def share_of(subset_ratio: object, first: object) -> float:
    """A trial's subset over the run's first (1.0 when unknown)."""
    try:
        return float(subset_ratio) / float(first)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return 1.0


def capped_key(score: float, epochs: int, scores: list, share: float, cap: float, mode: str) -> tuple[float, float]:
    """The capped rule's sort key: share of the capped epochs reached, then the best score up to them."""
    limit = max(1, math.floor(cap / share + 1e-9))
    if epochs > limit:
        score = best_of(scores[:limit], mode) or score
    return (min(epochs, limit) / limit, signed(score, mode))


def capped_last_key(scores: list, epochs: int, share: float, cap: float, mode: str) -> tuple[float, float]:
    """Rule ``capped-last``: the capped rule, ranked by the score at the last epoch up to the cap (hpopt's
    ``last``) instead of the best up to it."""
    limit = max(1, math.floor(cap / share + 1e-9))
    score = last_valid(scores[:limit])
    return (min(epochs, limit) / limit, -math.inf if score is None else signed(score, mode))


def forest_pick(status: dict, curves: dict[int, list], first: object, mode: str, seeds: int = 5) -> int:
    """The finished trial the forest over (config, epoch) predicts best at the last epoch on the first
    subset, averaged over ``seeds`` fits (the trees are random)."""
    space = space_from_json(status["original_search_space"])
    top = max(int(e["iterations"]) for e in status["config_list"])
    searcher = FidelityForestSearcher(space, RandomSearcher(0), top, mode, 0)
    finished = []
    for e in status["config_list"]:
        tid = int(e["trial_id"])
        searcher.on_config(tid, int(e.get("attempt", 0)), e["config"])
        if tid in curves:
            searcher.on_scores(tid, int(e.get("attempt", 0)), curves[tid])
            searcher.on_subset(tid, share_of(e.get("subset_ratio"), first))
            if e.get("score") is not None:
                finished.append((tid, e["config"]))
    grid = np.array([np.append(searcher.box.encode(c), 1.0) for _, c in finished])
    predicted = np.zeros(len(finished))
    for seed in range(seeds):
        xs, ys, _ = searcher.observations(np.random.default_rng(seed))
        trees = ExtraTreesRegressor(**FOREST, random_state=seed).fit(xs, ys)
        predicted += trees.predict(grid)
    return finished[int(np.argmax(predicted))][0]


def picks(save_path: str, with_forest: bool = True) -> dict[str, int]:
    """The trial each rule returns, for a run with early stopping (ASHA)."""
    status = load_status(save_path)
    if status is None:
        raise SystemExit(f"{save_path}: no hpopt run there")
    store, mode = FileStore(save_path), str(status.get("mode", "max"))
    first = (status.get("auto_plan") or {}).get("subset_ratio")
    rows, curves, groups = [], {}, {}
    for e in status["config_list"]:
        record = store.read_trial(int(e["trial_id"]))
        scores = [] if record is None else list(record.scores)
        if scores:
            curves[int(e["trial_id"])] = scores
        if e.get("score") is None:
            continue
        groups[int(e["trial_id"])] = int(e.get("rung_group") or 0)
        rows.append((int(e["trial_id"]), float(e["score"]), int(e.get("num_iterations_run") or len(scores)),
                     int(e["iterations"]), share_of(e.get("subset_ratio"), first), scores))
    old_cap = fidelity_cap(r[3] for r in rows)
    cap = min(r[3] * r[4] for r in rows)
    last_group = [r for r in rows if groups[r[0]] == max(groups.values())]
    group_cap = fidelity_cap(r[3] for r in last_group)
    return {
        "longest": max(rows, key=lambda r: rank_key(r[1], r[2], mode, True, old_cap))[0],
        "last": max(rows, key=lambda r: rank_key(r[1], r[2], mode, True, old_cap, last_valid(r[5])))[0],
        "epochs-capped": max(rows, key=lambda r: rank_key(r[1], r[2], mode, True, old_cap,
                                                          score_up_to(r[5], old_cap)))[0],
        "capped": max(rows, key=lambda r: capped_key(r[1], r[2], r[5], r[4], cap, mode))[0],
        "capped-last": max(rows, key=lambda r: capped_last_key(r[5], r[2], r[4], cap, mode))[0],
        "last-group": max(last_group, key=lambda r: rank_key(r[1], r[2], mode, True, group_cap,
                                                            last_valid(r[5])))[0],
        "controller": int(status["best_config_id"]),
        **({"forest": forest_pick(status, curves, first, mode)} if with_forest else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="the folder given to bench/auto_config_time.py --keep-runs")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--rules", nargs="+", default=["longest", "last", "capped", "forest"],
                        choices=["longest", "last", "epochs-capped", "capped", "capped-last", "forest", "last-group"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_set, val_set, test_set = digits_mlp.load_data()
    device = torch.device("cpu")
    rules = tuple(args.rules)
    print("| run | " + " | ".join(f"pick, {r}" for r in rules) + " | " + " | ".join(f"test acc., {r}" for r in rules)
          + " |")
    print("|---" * (1 + 2 * len(rules)) + "|")
    for name in sorted(os.listdir(args.runs)):
        path = os.path.join(args.runs, name)
        status = load_status(path)
        if status is None or status.get("early_stop") is None:
            continue  # no early stopping: both rules rank by score alone
        chosen = picks(path, "forest" in rules)
        if chosen["controller"] not in (chosen["longest"], chosen["last"], chosen["epochs-capped"]):  # runs made
            # before or since each change
            raise SystemExit(f"{name}: the controller returned trial {chosen['controller']}, the rules "
                             f"{chosen['longest']}, {chosen['last']} and {chosen['epochs-capped']}")
        acc = {}
        for rule in rules:
            tid = chosen[rule]
            if tid not in acc:
                config = status["config_list"][tid]["config"]
                model = digits_mlp.train(config, train_set, val_set, args.epochs, device)
                acc[tid] = digits_mlp.accuracy(model, test_set, device)
        print(f"| {name} | " + " | ".join(str(chosen[r]) for r in rules) + " | "
              + " | ".join(f"{acc[chosen[r]]:.4f}" for r in rules) + " |", flush=True)


if __name__ == "__main__":
    main()
