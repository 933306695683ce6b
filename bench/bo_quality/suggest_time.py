"""Seconds per suggestion at a given number of observations (hpopt's targets: ≤ 0.2 s at 50, ≤ 0.5 s at 200).

The benchmark's mean seconds per suggestion averages over a whole run (5 to 50 observations) and is
inflated when other jobs share the machine; this measures the suggestion at one run size directly. Per
function it runs hpopt's bayes_opt through the benchmark's adapter for ``--observations`` evaluations,
then times ``--suggestions`` more asks (each told its value, so the run size grows by one per ask) and
prints their median, min and max wall time, and the median CPU time of the process. BLAS is limited to one
thread, as in run.py, so on a quiet machine the two agree; under load the wall time grows and the CPU time
much less (it still grows somewhat: shared caches and cores).

    bench/bo_quality/.venv/bin/python bench/bo_quality/suggest_time.py                  # branin, hartmann6
    bench/bo_quality/.venv/bin/python bench/bo_quality/suggest_time.py --functions mixed --observations 100
    bench/bo_quality/.venv/bin/python bench/bo_quality/suggest_time.py --observations 200 --suggestions 20 \
        --contenders hpopt-bo optuna-gp ax

Prints the mean, 95th percentile and median wall time per suggestion (the issue's figures are the mean and
the 95th percentile).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from contenders import CONTENDERS  # noqa: E402
from suite import SUITE as PROBLEMS  # noqa: E402 - the original four functions and the suite


def suggestion_times(function: str, observations: int, suggestions: int, seed: int, contender: str = "hpopt-bo"
                     ) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each ask after ``observations`` evaluations of ``function``."""
    problem = PROBLEMS[function]
    cls = CONTENDERS[contender]
    cls.load()
    opt = cls(problem, seed=seed, budget=observations + suggestions)
    wall: list[float] = []
    cpu: list[float] = []
    try:
        for i in range(observations + suggestions):
            t0, c0 = time.perf_counter(), time.process_time()
            params = opt.ask()
            if i >= observations:
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            opt.tell(problem(params))
    finally:
        opt.close()
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", nargs="+", default=["branin", "hartmann6"], choices=list(PROBLEMS))
    parser.add_argument("--observations", type=int, default=50)
    parser.add_argument("--suggestions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contenders", nargs="+", default=["hpopt-bo"], choices=list(CONTENDERS))
    args = parser.parse_args(argv)
    if args.observations < 1 or args.suggestions < 1:
        parser.error("--observations and --suggestions must be >= 1")
    warnings.filterwarnings("ignore")
    for function in args.functions:
        for contender in args.contenders:
            wall, cpu = suggestion_times(function, args.observations, args.suggestions, args.seed, contender)
            print(f"{function:<15s} {contender:<11s} {len(PROBLEMS[function].params)}-D, {args.observations} "
                  f"observations: mean {statistics.fmean(wall):.3f} s per suggestion, "
                  f"p95 {np.percentile(wall, 95):.3f}, "
                  f"median {statistics.median(wall):.3f} (min {min(wall):.3f}, max {max(wall):.3f}, "
                  f"{len(wall)} suggestions); CPU median {statistics.median(cpu):.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
