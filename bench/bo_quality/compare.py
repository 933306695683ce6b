"""Compare two sets of stored runs problem by problem: a variant of hpopt's GP against the code as shipped,
or hpopt against a peer, on the same seeds.

    bench/bo_quality/.venv/bin/python bench/bo_quality/compare.py --suite dev --budget 30 --seeds 10 \
        VARIANT_RESULTS:hpopt-bo BASE_RESULTS:hpopt-bo [--peer BASE_RESULTS:optuna-gp]

Each side is ``FOLDER:CONTENDER`` (a ``--results`` folder of run.py and a contender stored there). For
every problem of the half that both sides ran on all the seeds, it prints the median final simple regret
of each side and their ratio (regrets floored at ``suite_report.RATIO_FLOOR``, as the suite's summary
does); then better / worse / tied counts and the geometric mean of the ratio. With ``--peer``, both sides
are also counted against that peer (how many problems each is <= the peer on, and the geometric mean), the
figures the issue's targets are stated in.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from run import load_results
from suite import names
from suite_report import complete_runs, log_ratio

TIE = 1e-9  # |log ratio| under which two medians count as tied


def side(spec: str) -> tuple[Path, str]:
    """``FOLDER:CONTENDER`` split into its parts."""
    folder, sep, contender = spec.rpartition(":")
    if not sep or not folder or not contender:
        raise argparse.ArgumentTypeError(f"expected FOLDER:CONTENDER, got {spec!r}")
    return Path(folder), contender


def medians(folder: Path, contender: str, problems: list[str], budget: int, seeds: list[int]) -> dict[str, float]:
    """Median final regret per problem, for the problems with a run of every seed."""
    out = {}
    for name in problems:
        runs = complete_runs(load_results(folder, name), budget, contender, seeds)
        if len(runs) == len(seeds):
            out[name] = float(np.median([r["regret"][-1] for r in runs]))
    return out


def tally(a: dict[str, float], b: dict[str, float]) -> tuple[int, int, int, float]:
    """(better, worse, tied, geometric mean of a / b) over the problems both have."""
    common = sorted(set(a) & set(b))
    if not common:
        return 0, 0, 0, math.nan
    logs = [log_ratio(a[p], b[p]) for p in common]
    tied = sum(abs(x) <= TIE for x in logs)
    better = sum(x < -TIE for x in logs)
    return better, len(logs) - better - tied, tied, math.exp(float(np.mean(logs)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", type=side, help="FOLDER:CONTENDER of the runs to judge")
    parser.add_argument("base", type=side, help="FOLDER:CONTENDER to judge them against")
    parser.add_argument("--peer", type=side, help="FOLDER:CONTENDER both are also counted against")
    parser.add_argument("--suite", choices=("dev", "heldout", "all"), default="dev")
    parser.add_argument("--functions", nargs="+", help="these problems instead of a half")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    problems = args.functions or names(args.suite)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    v = medians(*args.variant, problems, args.budget, seeds)
    b = medians(*args.base, problems, args.budget, seeds)
    p = medians(*args.peer, problems, args.budget, seeds) if args.peer else {}
    if not set(v) & set(b):
        print("no problem has runs of every seed on both sides", file=sys.stderr)
        return 1
    header = "| problem | variant | base | variant / base |" + (" peer |" if p else "")
    print(header)
    print("|---|---:|---:|---:|" + ("---:|" if p else ""))
    for name in problems:
        if name in v and name in b:
            row = f"| {name} | {v[name]:.3g} | {b[name]:.3g} | {math.exp(log_ratio(v[name], b[name])):.3g} |"
            print(row + (f" {p[name]:.3g} |" if p and name in p else (" – |" if p else "")))
    better, worse, tied, geo = tally(v, b)
    print(f"\nvariant against base: better {better}, worse {worse}, tied {tied}; geometric mean {geo:.3g}")
    if p:
        for label, runs in (("variant", v), ("base", b)):
            better, worse, tied, geo = tally(runs, p)
            print(f"{label} <= peer on {better + tied} of {better + worse + tied} "
                  f"({better} better, {tied} tied); geometric mean {geo:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
