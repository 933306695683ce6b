"""The crash-fuzz driver: run a controller and 4 trainers, SIGKILL one of them, resume, check nothing is lost.

A round is a seed. It runs up to three "generations" in which one process is killed, then one that runs
to completion. The victim is the controller or a trainer; it is killed either at a random moment or at
a chosen point inside hpopt (``FUZZ_KILL``, see fuzz_child.py): inside ``report``, inside a state write,
during an OOM shrink, during resume. A killed trainer's trial could only be run again by an adapter's
retry or by a resume, so after the kill the survivors run on for a random moment and are then killed
too; the next generation resumes the run.

After the round, :func:`check_round` verifies the promises of docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads import reports_on_disk

import hpopt
from hpopt.algorithms.scores import best_of
from hpopt.state.files import remove_stale_temp_files

HERE = Path(__file__).parent
CHILD = HERE / "fuzz_child.py"
TRAINERS = 4
GENERATION_TIMEOUT = 120.0

# Kill points: (FUZZ_KILL context, operation, largest n); n is drawn per generation. Each hpopt call does
# a few of each operation, so small n keep the point likely to be reached before the run ends.
CONTROLLER_POINTS = [("issue", "write", 6), ("issue", "fsync", 4), ("issue", "link", 4), ("issue", "replace", 4),
                     ("collect", "write", 4), ("oom", "write", 2), ("checkpoint", "write", 2),
                     ("checkpoint", "replace", 2)]
RESUME_POINTS = [("resume", "write", 6), ("resume", "fsync", 3), ("resume", "replace", 3), ("resume", "link", 3)]
TRAINER_POINTS = [("report", "write", 6), ("report", "fsync", 6), ("report", "link", 6), ("report", "replace", 6),
                  ("report_oom", "write", 1), ("report_oom", "replace", 1), ("rung", "pwrite", 3)]


@dataclass
class RoundStats:
    kills: int = 0
    kill_points: list[str] = field(default_factory=list)
    generations: int = 0
    reports_checked: int = 0
    trials: int = 0
    lost: int = 0
    done_before_kill: bool = False  # the run completed while a killing generation's victim still ran


def _env(kill: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("FUZZ_KILL", None)
    if kill:
        env["FUZZ_KILL"] = kill
    return env


def _start(work: Path, alg: str, kill_for: int | None, kill: str | None) -> list[subprocess.Popen]:
    """Process 0 is the controller, 1..4 the trainers; ``kill_for`` gets the FUZZ_KILL point."""
    procs = [subprocess.Popen([sys.executable, str(CHILD), "controller", str(work), alg],
                              env=_env(kill if kill_for == 0 else None), stderr=subprocess.PIPE)]
    for i in range(1, TRAINERS + 1):
        procs.append(subprocess.Popen([sys.executable, str(CHILD), "trainer", str(work), str(i)],
                                      env=_env(kill if kill_for == i else None), stderr=subprocess.PIPE))
    return procs


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def _fresh_dirs(work: Path) -> None:
    """Each generation starts with an empty inbox: the configs of the killed one die with their trainers."""
    for name in ("inbox", "claimed"):
        shutil.rmtree(work / name, ignore_errors=True)
        (work / name).mkdir()
    (work / "stop").unlink(missing_ok=True)


def _fail(procs: list[subprocess.Popen], why: str) -> AssertionError:
    for p in procs:
        _kill(p)
    errors = "\n".join(p.stderr.read().decode(errors="replace")[-3000:] for p in procs if p.stderr)
    return AssertionError(f"{why}\n{errors}")


def _wait_all(procs: list[subprocess.Popen], deadline: float) -> None:
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise _fail(procs, "a process did not end in time") from None


def run_round(seed: int, alg: str, work: Path) -> RoundStats:
    """One fuzz round in the empty folder ``work``; raises AssertionError when a promise is broken."""
    rng = random.Random(seed)
    stats = RoundStats()
    for name in ("save", "issued", "logs"):
        (work / name).mkdir(parents=True, exist_ok=True)
    kills = rng.randint(1, 3)
    for gen in range(kills + 1):
        _fresh_dirs(work)
        stats.generations += 1
        final = gen == kills
        victim = rng.randrange(TRAINERS + 1)
        kill = None
        if not final and rng.random() < 0.6:
            points = (CONTROLLER_POINTS + RESUME_POINTS * (gen > 0)) if victim == 0 else TRAINER_POINTS
            context, operation, most = rng.choice(points)
            kill = f"{context}:{operation}:{rng.randint(1, most)}"
        procs = _start(work, alg, victim, kill)
        controller = procs[0]
        deadline = time.monotonic() + GENERATION_TIMEOUT
        if final:
            try:
                controller.wait(timeout=GENERATION_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise _fail(procs, f"seed {seed}: the run did not complete (generation {gen})") from None
            (work / "stop").touch()
            _wait_all(procs, deadline)
            if controller.returncode != 0:
                raise _fail(procs, f"seed {seed}: the final controller failed with {controller.returncode}")
            break
        # A killing generation: the victim dies at its kill point, or at a random moment.
        target = procs[victim]
        wait_until = time.monotonic() + (rng.uniform(0.05, 1.5) if kill is None else 15.0)
        while target.poll() is None and time.monotonic() < wait_until and controller.poll() is None:
            time.sleep(0.005)
        if target.poll() is None and controller.poll() is None:
            _kill(target)
            stats.kills += 1
            stats.kill_points.append("random")
        elif target.returncode == -signal.SIGKILL:
            stats.kills += 1
            stats.kill_points.append(str(kill))
        elif target.poll() is not None and target.returncode != 0:
            raise _fail(procs, f"seed {seed}: process {victim} failed with {target.returncode} (kill {kill})")
        time.sleep(rng.uniform(0.0, 0.3))  # the survivors run on a little
        for p in procs:
            _kill(p)
        bad = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGKILL)]
        if bad:
            raise _fail(procs, f"seed {seed}: a process failed with {bad}")
        for p in procs:
            if p.stderr:
                p.stderr.close()
        if (work / "result.json").exists():  # the run completed before the kill
            stats.done_before_kill = True
            break
    if not (work / "result.json").exists():
        raise AssertionError(f"seed {seed}: the run did not complete")
    check_round(work, alg, stats)
    return stats


def _log_lines(work: Path) -> list[str]:
    """Every report that returned; a line torn by a kill of its trainer is dropped (its report returned
    but the trainer died while logging it, so the test cannot know of it)."""
    out = []
    for log in (work / "logs").iterdir():
        out.extend(line for line in log.read_text().split("\n") if line.count(",") == 3 and line[-1].isdigit())
    return out


def check_round(work: Path, alg: str, stats: RoundStats) -> None:
    save = str(work / "save")
    result = json.loads((work / "result.json").read_text())
    entries = result["status"]["config_list"]
    stats.trials = len(entries)
    # No trial id lost or duplicated, and every trial ended.
    assert [e["trial_id"] for e in entries] == list(range(len(entries))), [e["trial_id"] for e in entries]
    if alg == "bayes_opt":
        assert len(entries) == result["status"]["num_trials"]
    assert entries and all(e["status"] == hpopt.Status.STOP for e in entries)
    # A (trial, attempt) was given out once: a resume never hands out an attempt twice.
    issued: dict[tuple[int, int], dict[str, Any]] = {}
    for path in (work / "issued").iterdir():
        if path.name.endswith(".part"):
            continue  # the controller was killed while this test's bookkeeping wrote it
        cfg = json.loads(path.read_text())
        key = (cfg["trial_id"], cfg["attempt"])
        assert key not in issued or issued[key]["params"] == cfg["params"], f"{key} issued twice with other params"
        issued[key] = cfg
    # Every report that returned is on disk.
    lines = _log_lines(work)
    missing = reports_on_disk(save, lines)
    stats.reports_checked += len(lines)
    stats.lost += len(missing)
    assert not missing, f"reports that returned but are not on disk: {missing[:5]}"
    # The controller's score of each trial is the best of its last attempt's file.
    for e in entries:
        doc = hpopt.load_json(hpopt.get_trial_path(save, e["trial_id"]))
        assert doc["attempt"] == e["attempt"], (e, doc)
        assert e["score"] == best_of(doc["scores"], result["status"]["mode"]), (e, doc)
    # The best config is the best over the trials that completed.
    scored = [e for e in entries if e["score"] is not None]
    if scored:
        top = max(e["score"] for e in scored)
        assert result["best"] in [e["config"] for e in scored if e["score"] == top]
    else:
        assert result["best"] is None
    # No temp file left behind in save_path. Where the run completed while the victim still ran, a trainer
    # killed mid-write after the controller closed can leave one that no controller has seen yet: it must
    # then be a dead writer's, which the next controller to start removes.
    leftovers = [p.name for p in Path(save).iterdir() if p.name.endswith(".tmp")]
    if leftovers and stats.done_before_kill:
        removed = remove_stale_temp_files(save)
        assert sorted(removed) == sorted(leftovers), f"temp files of live writers: {set(leftovers) - set(removed)}"
    else:
        assert not leftovers, f"temp files left behind: {leftovers}"
