"""How many more epochs ASHA's trials run than the plan's rung simulation expects, by sampler.

Auto config plans an ASHA run with :func:`hpopt.algorithms.rung_math.asha_epochs_curve`: the stopping rule
simulated on trial qualities drawn independently, as a random sampler draws them. A model-based sampler
proposes better configs as the run goes on, and a new config that beats half of the earlier ones (dead
configs included) goes on at every rung, so its trials run more epochs than that simulation says. This
measures the ratio (epochs run / epochs the curve expects) in simulated time on tabulated problems, for the
rungs auto config gives a 12-epoch training (min 1, rf 2, every bracket, each new trial's bracket chosen by
evidence), one worker, at several run sizes.

Problems: the development half of the multi-fidelity suite (``bench/mf_suite.py --dev``: eight synthetic
tables and two real ones on other data and model families), where planning constants are chosen; the
digits workloads of ``bench/auto_config_time.py`` stay held out. ``--held-out`` runs the suite's other half
(five synthetic tables and three real ones), which reports how well the factors carry over.

    python bench/asha_epoch_excess.py [--seeds 5] [--trials 15 30 50] [--samplers random forest] [--held-out]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from mf import synthetic  # noqa: E402

import hpopt  # noqa: E402
from hpopt.adapters.simulator import simulate  # noqa: E402
from hpopt.adapters.table import Table  # noqa: E402
from hpopt.algorithms.bracket_choice import planned_shares  # noqa: E402
from hpopt.algorithms.rung_math import asha_epochs_curve, max_brackets  # noqa: E402

TABLES = ROOT / "bench" / "tabular" / "data"
DEV_PROBLEMS = (*synthetic.DEV_PROBLEMS, "hgb_cancer", "mlp_synthetic")
TOP, RF = 12, 2  # auto config's rungs for the digits workloads' 12-epoch training


HELD_OUT = (*synthetic.PROBLEMS, "digits", "mnist", "sgd_digits")  # the suite's reporting half (--held-out)


def load(name: str) -> Table:
    synthetic_names = (*synthetic.PROBLEMS, *synthetic.DEV_PROBLEMS)
    return synthetic.make(name) if name in synthetic_names else Table.load(TABLES / f"{name}.npz")


def epochs_run(table: Table, sampler: str, trials: int, seed: int) -> int:
    """Epochs one sequential ASHA run of ``trials`` trials spends on ``table``."""
    with tempfile.TemporaryDirectory() as folder:
        hpo = hpopt.create(search_alg="asha", search_space=table.search_space(), full_dataset_size=1000,
                           num_full_iterations=table.num_epochs, num_trials=trials, max_iterations=TOP,
                           min_iterations=1, reduction_factor=RF, subset_ratio=1.0, sampler=sampler, seed=seed,
                           save_path=folder, storage="memory")
        simulate(hpo, table, n_workers=1, seed=seed)
        ran = sum(int(e.get("num_iterations_run", 0)) for e in hpo.get_current_status()["config_list"])
        hpo.close()
        return ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, nargs="+", default=[15, 30, 50])
    parser.add_argument("--samplers", nargs="+", default=["random", "forest"])
    parser.add_argument("--problems", nargs="+", default=None, help="default: the development half")
    parser.add_argument("--held-out", action="store_true",
                        help="the suite's held-out half, which reports how well the factors chosen on the "
                             "development half carry over")
    args = parser.parse_args()
    problems = args.problems or list(HELD_OUT if args.held_out else DEV_PROBLEMS)
    brackets = max_brackets(1, TOP, RF)
    ratios: dict[tuple[str, int], list[float]] = {}
    print("| problem | sampler | trials | epochs run / expected (median over seeds) |")
    print("|---|---|---|---|")
    for name in problems:
        table = load(name)
        for sampler in args.samplers:
            for n in args.trials:
                expected = asha_epochs_curve(1, TOP, RF, brackets, n, planned_shares(brackets))[n]
                got = [epochs_run(table, sampler, n, seed) / expected for seed in range(args.seeds)]
                ratios.setdefault((sampler, n), []).extend(got)
                print(f"| {name} | {sampler} | {n} | {statistics.median(got):.2f} |", flush=True)
    print("\n| sampler | trials | median | quartiles | runs |")
    print("|---|---|---|---|---|")
    for (sampler, n), got in sorted(ratios.items()):
        q = statistics.quantiles(got, n=4)
        print(f"| {sampler} | {n} | {statistics.median(got):.2f} | {q[0]:.2f}-{q[2]:.2f} | {len(got)} |")
    for sampler in args.samplers:
        pooled = [r for (s, _), got in ratios.items() if s == sampler for r in got]
        print(f"\n{sampler}: pooled median {statistics.median(pooled):.2f} over {len(pooled)} runs")


if __name__ == "__main__":
    main()
