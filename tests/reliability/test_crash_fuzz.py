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


RESUME_CHILD = """
import os, sys
sys.path[:0] = [{here!r}, {tests!r}]
import fuzz_child
fuzz_child._install_kill_point(os.environ["FUZZ_KILL"])
fuzz_child.create({save!r}, {alg!r}).close()
"""


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_kill_at_every_write_of_a_resume(tmp_path, alg):
    """Deterministic complement to the fuzz: a resume is killed at its 1st, 2nd, ... write (half written)
    and before each rename, each time resumed again; nothing reported is lost, and the run then completes."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import fuzz_child
    from workloads import reports_on_disk, run_loop

    import hpopt
    from hpopt.state.journal import load_status

    save = str(tmp_path / "save")
    hpo = fuzz_child.create(save, alg)
    lines = []
    for i, cfg in enumerate(hpo.get_next_samples(4)):
        for epoch in range(i):  # trial 0 reports nothing, trial 3 finishes (3 of 4 epochs: not yet)
            score = float(10 * i + epoch)
            hpopt.report(cfg, score)
            lines.append(f"{cfg['trial_id']},{cfg['attempt']},{epoch},{score!r}")
    hpo.store.close_controller(hpo)  # the controller dies without a final checkpoint
    here = Path(__file__).parent
    code = RESUME_CHILD.format(here=str(here), tests=str(here.parent), save=save, alg=alg)
    env = dict(os.environ, PYTHONPATH=str(here.parent.parent))
    kills = 0
    for operation, most in (("write", 8), ("replace", 3)):
        for n in range(1, most + 1):
            proc = subprocess.run([sys.executable, "-c", code], env={**env, "FUZZ_KILL": f"resume:{operation}:{n}"},
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode == 0:
                break  # this resume has fewer such operations: it ran to its end
            assert proc.returncode == -signal.SIGKILL, proc.stderr
            kills += 1
            state = load_status(save)
            assert [e["trial_id"] for e in state["config_list"]] == list(range(len(state["config_list"])))
            assert reports_on_disk(save, lines) == []
    assert kills >= 4
    hpo = fuzz_child.create(save, alg)
    run_loop(hpo, oom=True)
    assert hpo.is_finished()
    assert reports_on_disk(save, lines) == []
    assert all(e["status"] == hpopt.Status.STOP for e in hpo.get_current_status()["config_list"])
