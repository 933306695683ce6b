"""Crash fuzzing: a controller and 4 trainers on one save_path, SIGKILLed at random moments and at chosen
points inside hpopt, then resumed; after each round nothing that returned is lost (see fuzz.py).

The default suite runs 20 rounds (10 per algorithm). The long run is opt-in, as it takes about 12 minutes:

    HPOPT_FUZZ_ROUNDS=200 python -m pytest -m slow tests/reliability/test_crash_fuzz.py
"""

from __future__ import annotations

import collections
import json
import os

import pytest
from fuzz import run_round

ALGORITHMS = ("bayes_opt", "asha")
DEFAULT_ROUNDS = 20


@pytest.mark.parametrize("seed", range(DEFAULT_ROUNDS // len(ALGORITHMS)))
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_crash_fuzz_round(tmp_path, alg, seed):
    stats = run_round(1000 * ALGORITHMS.index(alg) + seed, alg, tmp_path)
    assert stats.lost == 0 and stats.reports_checked > 0 and stats.trials > 0


@pytest.mark.slow
def test_crash_fuzz_long(tmp_path):
    rounds = int(os.environ.get("HPOPT_FUZZ_ROUNDS", "0"))
    if rounds <= 0:
        pytest.skip("set HPOPT_FUZZ_ROUNDS (e.g. 200) to run the long crash fuzz")
    totals: dict[str, int] = collections.Counter()
    points: dict[str, int] = collections.Counter()
    for i in range(rounds):
        alg = ALGORITHMS[i % len(ALGORITHMS)]
        work = tmp_path / f"round-{i}"
        work.mkdir()
        stats = run_round(100_000 + i, alg, work)
        totals.update(rounds=1, kills=stats.kills, generations=stats.generations,
                      reports_checked=stats.reports_checked, trials=stats.trials, lost=stats.lost)
        points.update(p.rsplit(":", 1)[0] for p in stats.kill_points)
        if os.environ.get("HPOPT_FUZZ_REPORT"):
            with open(os.environ["HPOPT_FUZZ_REPORT"], "w") as f:
                json.dump({"totals": totals, "kill_points": points}, f, indent=1, sort_keys=True)
    assert totals["lost"] == 0 and totals["rounds"] == rounds
