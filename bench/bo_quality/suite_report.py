"""The per-half summary of a suite run (run.py --suite): regret, wins, ratios, boundary share, timing.

For one half (dev or heldout) and one budget, from the runs stored in the results JSON:

1. median and interquartile range (q25 - q75) of the final simple regret, per problem and contender;
2. per-problem wins: the contender(s) with the lowest median final regret (ties, within 1e-12 relative,
   all count as wins);
3. the geometric mean over the half's problems of the ratio of hpopt-bo's median final regret to each
   peer's, each regret floored at ``RATIO_FLOOR`` (1e-6) so that problems solved exactly (regret 0, e.g.
   on a table) do not give 0 or infinity; below 1 means hpopt-bo is better;
4. the share of evaluations on the box boundary (suite.on_boundary: an encoded continuous coordinate
   within 1e-6 of 0 or 1) per problem, for hpopt-bo and optuna-gp; "–" for a problem without
   continuous parameters;
5. mean and 95th percentile of the seconds per suggestion, per contender.

Only problems where both contenders of a comparison have runs enter a ratio.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from suite import SUITE, has_continuous, names, on_boundary

RATIO_FLOOR = 1e-6
HPOPT = "hpopt-bo"
BOUNDARY_CONTENDERS = ("hpopt-bo", "optuna-gp")


def complete_runs(data: dict[str, Any], budget: int, contender: str, seeds: list[int]) -> list[dict[str, Any]]:
    """The stored runs of ``contender`` at ``budget`` for those of ``seeds`` that ran to the end."""
    by_seed = data["runs"].get(str(budget), {}).get(contender, {})
    return [r for s in seeds if (r := by_seed.get(str(s))) and len(r.get("regret", [])) == budget]


def log_ratio(a: float, b: float) -> float:
    """log(a / b) of two regrets, each floored at ``RATIO_FLOOR``: below 0 when ``a`` is better."""
    return math.log(max(a, RATIO_FLOOR) / max(b, RATIO_FLOOR))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def half_report(half: str, datas: dict[str, dict[str, Any]], budget: int, contenders: list[str],
                seeds: list[int]) -> str:
    problems = [n for n in names(half) if n in datas]
    if not problems:
        return f"## {half}: no problems of this half were run\n"
    med: dict[tuple[str, str], float] = {}
    lines = [f"## Suite, {half} half: budget {budget}, seeds {seeds[0]}..{seeds[-1]} ({len(problems)} problems)",
             "", "### Final simple regret: median [q25 – q75] over seeds", "",
             "| problem | family | D | " + " | ".join(contenders) + " | best |",
             "|---|---|---:|" + "---:|" * len(contenders) + "---|"]
    wins = dict.fromkeys(contenders, 0)
    for name in problems:
        p = SUITE[name]
        cells = []
        for c in contenders:
            runs = complete_runs(datas[name], budget, c, seeds)
            if not runs:
                cells.append("–")
                continue
            final = np.array([r["regret"][-1] for r in runs], dtype=float)
            q25, q50, q75 = np.percentile(final, [25, 50, 75])
            med[(name, c)] = float(q50)
            cells.append(f"{_fmt(q50)} [{_fmt(q25)} – {_fmt(q75)}]" + ("" if len(runs) == len(seeds) else
                                                                         f" (n={len(runs)})"))
        have = [c for c in contenders if (name, c) in med]
        best = []
        if have:
            lo = min(med[(name, c)] for c in have)
            best = [c for c in have if med[(name, c)] <= lo + 1e-12 * max(abs(lo), 1.0)]
            for c in best:
                wins[c] += 1
        lines.append(f"| {name} | {p.family} | {p.dims} | " + " | ".join(cells) + f" | {', '.join(best)} |")

    lines += ["", "### Wins (lowest median final regret; ties count for each)", "",
              "| " + " | ".join(contenders) + " |", "|" + "---:|" * len(contenders),
              "| " + " | ".join(str(wins[c]) for c in contenders) + " |"]

    if HPOPT in contenders:
        lines += ["", f"### Geometric-mean ratio of median final regret, {HPOPT} / peer (< 1: {HPOPT} better; "
                  f"regrets floored at {RATIO_FLOOR:g})", "", "| peer | problems | ratio | hpopt better / worse |",
                  "|---|---:|---:|---|"]
        for c in contenders:
            if c == HPOPT:
                continue
            both = [n for n in problems if (n, HPOPT) in med and (n, c) in med]
            if not both:
                continue
            logs = [log_ratio(med[(n, HPOPT)], med[(n, c)]) for n in both]
            better = sum(x < 0 for x in logs)
            worse = sum(x > 0 for x in logs)
            lines.append(f"| {c} | {len(both)} | {math.exp(sum(logs) / len(logs)):.3g} | {better} / {worse} |")

    shown = [c for c in BOUNDARY_CONTENDERS if c in contenders]
    if shown:
        lines += ["", "### Share of evaluations on the box boundary (any encoded continuous coordinate within "
                  "1e-6 of 0 or 1)", "", "| problem | " + " | ".join(shown) + " |", "|---|" + "---:|" * len(shown)]
        for name in problems:
            p = SUITE[name]
            cells = []
            for c in shown:
                runs = complete_runs(datas[name], budget, c, seeds)
                if not has_continuous(p) or not runs:
                    cells.append("–")
                    continue
                flags = [on_boundary(p, pt) for r in runs for pt in r["params"]]
                cells.append(f"{100 * sum(flags) / len(flags):.0f} %")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")

    lines += ["", "### Seconds per suggestion (all suggestions of the half's runs)", "",
              "| contender | suggestions | mean s | p95 s |", "|---|---:|---:|---:|"]
    for c in contenders:
        asks = [t for n in problems for r in complete_runs(datas[n], budget, c, seeds) for t in r["ask_s"]]
        if asks:
            lines.append(f"| {c} | {len(asks)} | {np.mean(asks):.4f} | {np.percentile(asks, 95):.4f} |")
    return "\n".join(lines) + "\n"
