"""Does auto config keep its promise? Real HPO wall time against (r - 1) x the measured full training.

Runs ``samples/digits_mlp.py`` (a torch MLP on scikit-learn's digits) once per expected_time_ratio and
algorithm, each in a fresh process and save_path, and prints a markdown table of the HPO time over the
time asked for. Target: within +-15 %.

    python bench/auto_config_time.py [--ratios 2 4 8] [--algs baye_opt asha] [--out bench/results/auto_config]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "samples", "digits_mlp.py")


def run_one(alg: str, ratio: float, out_dir: str, seed: int, threads: int | None) -> dict:
    result = os.path.join(out_dir, f"{alg}_r{ratio:g}_s{seed}.json")
    if not os.path.exists(result):
        with tempfile.TemporaryDirectory() as save_path:
            extra = ["--threads", str(threads)] if threads else []
            subprocess.run([sys.executable, SAMPLE, "--alg", alg, "--ratio", str(ratio), "--seed", str(seed),
                            "--save-path", save_path, "--json", result, *extra], check=True,
                           stdout=subprocess.DEVNULL)
    with open(result) as f:
        return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=float, nargs="+", default=[2, 4, 8])
    parser.add_argument("--algs", nargs="+", default=["baye_opt", "asha"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the sample")
    parser.add_argument("--out", default=os.path.join("bench", "results", "auto_config"),
                        help="folder for each run's figures (a run already there is not repeated)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    print("| algorithm | r | trials run (planned) x epochs, subset, p | full training (s) |"
          " asked: (r - 1) x full (s) | HPO took (s) | HPO / asked | same in CPU time | test acc. best / default |")
    print("|---|---|---|---|---|---|---|---|---|")
    for alg in args.algs:
        for ratio in args.ratios:
            f = run_one(alg, ratio, args.out, args.seed, args.threads)
            cpu = f["hpo_cpu_s"] / ((ratio - 1) * f["full_training_cpu_s"])
            print(f"| {alg} | {ratio:g} | {f['trials_run']} ({f['num_trials']}) x {f['max_iterations']}, "
                  f"{f['subset_ratio']:.0%}, p={f['non_pure_train_ratio']:.2f} | "
                  f"{f['full_training_s']:.1f} | {f['asked_s']:.1f} | {f['hpo_s']:.1f} | "
                  f"{f['hpo_s'] / f['asked_s']:.2f} | {cpu:.2f} | {f['test_accuracy_best']:.4f} / "
                  f"{f['test_accuracy_default']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
