"""Which config should a re-planned baye_opt run return? The GP's best-config rules on kept runs, by test accuracy.

A re-plan that changes the epochs or subset leaves a baye_opt run with results of several fidelities, and the
GP (which takes the fidelity as an input) chooses the best config (``GpUcbSearcher.best_trial``). Rules:
``run`` is the trial the run returned (its status' ``best_config_id``; the GP fit behind it was warm-started
along the run, so it can differ from a fresh fit of the same results); ``highest`` is the rule until
2026-12-07, refitted here: the best posterior mean at the highest fidelity any result reached, among all
trials; ``guarded`` is today's rule: the best posterior mean at the highest fidelity three results reached
(``gp_ucb.COMPARE_AT_LEAST``), among the trials in the top quarter of the results at their own fidelity
(``gp_ucb.BEST_SHARE``); ``score`` is the best score, whatever its fidelity. For each baye_opt run kept by
``bench/auto_config_time.py --keep-runs DIR`` with results of several fidelities, this picks a trial by each
rule, trains each pick as the digits sample trains its final model (all the data, the sample's epochs, seed
0) and prints the pick, its own trial's score and the test accuracy.

    python bench/gp_best_rules.py DIR [DIR ...] [--epochs 12]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from hpopt.algorithms import gp_ucb
from hpopt.search_space import space_from_json
from hpopt.state import load_status

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "samples"))
import digits_mlp  # noqa: E402  (the sample's data, model and training)

RULES = {"highest": (1, 1.0), "guarded": (gp_ucb.COMPARE_AT_LEAST, gp_ucb.BEST_SHARE)}


@contextmanager
def rule(compare_at_least: int, best_share: float) -> Iterator[None]:
    """gp_ucb's two constants of the best-config rule, set for the block."""
    saved = gp_ucb.COMPARE_AT_LEAST, gp_ucb.BEST_SHARE
    gp_ucb.COMPARE_AT_LEAST, gp_ucb.BEST_SHARE = compare_at_least, best_share
    try:
        yield
    finally:
        gp_ucb.COMPARE_AT_LEAST, gp_ucb.BEST_SHARE = saved


def picks(status: dict) -> dict[str, int] | None:
    """The trial each rule returns, or None for a run whose results share one fidelity."""
    done = [e for e in status["config_list"] if e.get("score") is not None]
    out = {"run": int(status["best_config_id"]), "score": max(done, key=lambda e: e["score"])["trial_id"]}
    if status.get("mode", "max") != "max":
        raise SystemExit("the rules here compare max-mode scores")
    for name, constants in RULES.items():
        with rule(*constants):
            searcher = gp_ucb.GpUcbSearcher(space_from_json(status["original_search_space"]), mode="max",
                                            seed=int(status.get("seed") or 0), num_defaults=1)
            for e in done:
                searcher.on_config(int(e["trial_id"]), int(e.get("attempt", 0)), e["config"])
                searcher.on_result(int(e["trial_id"]), float(e["score"]),
                                   int(e["iterations"]) * float(e.get("subset_ratio") or 1.0))
            best = searcher.best_trial()
        if best is None:
            return None
        out[name] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="folders given to bench/auto_config_time.py --keep-runs")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_set, val_set, test_set = digits_mlp.load_data()
    device = torch.device("cpu")
    names = ["run", "highest", "guarded", "score"]
    print("| run | " + " | ".join(f"{n}: pick (its score) test acc." for n in names) + " |")
    print("|---" * (1 + len(names)) + "|")
    for folder in args.runs:
        for name in sorted(os.listdir(folder)):
            status = load_status(os.path.join(folder, name))
            if status is None or status.get("search_algorithm") != "smbo" or (chosen := picks(status)) is None:
                continue  # not baye_opt, or every result of one fidelity (the best score is the best config)
            entries = {int(e["trial_id"]): e for e in status["config_list"]}
            acc: dict[int, float] = {}
            for tid in chosen.values():
                if tid not in acc:
                    model = digits_mlp.train(entries[tid]["config"], train_set, val_set, args.epochs, device)
                    acc[tid] = digits_mlp.accuracy(model, test_set, device)
            print(f"| {name} | " + " | ".join(f"{chosen[n]} ({entries[chosen[n]]['score']:.3f}) {acc[chosen[n]]:.4f}"
                                              for n in names) + " |", flush=True)


if __name__ == "__main__":
    main()
