"""Runs written by the pre-redesign hpopt (commit f8585b3) and killed mid-run resume under the current code,
lose no acknowledged score and finish.

Fixtures: tests/fixtures/old_runs/<name>/ (the save_path as the old code left it at the SIGKILL of its
controller) and <name>.manifest.json (the create() arguments, the search space, the objective, the state at
the kill and every score whose report() had returned), made by make_old_runs.py there, against the old
code: never regenerate them with the current one.

Only the public API and the JSON keys of the state files are used: the internals may change.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

import hpopt

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"
NAMES = ("random", "bayes_median", "asha")
MAX_SAMPLES = 200  # far more than any fixture needs: a loop that never ends fails instead


def objective(params: dict, epoch: int, p: dict) -> float:
    """make_old_runs.py's learning curve (``epoch`` counts from 1), with the manifest's parameters."""
    level = (1.0 - p["lr_width"] * (math.log10(params["lr"]) - p["lr_best_log10"]) ** 2
             - p["bs_slope"] * abs(params["bs"] - p["bs_best"]) - (p["sgd_penalty"] if params["opt"] == "sgd" else 0.0))
    return round(level * (1.0 - p["start_gap"] * p["decay"] ** epoch), p["digits"])


def copy_run(name: str, dest: Path) -> str:
    """The fixture as a save_path, with the modes the old hpopt gave it (0600 files, 0700 folders): git
    keeps no file modes. (Neither version needs them to resume; this keeps the copy as it was written.)"""
    save = dest / name
    shutil.copytree(FIXTURES / name, save)
    for root, _dirs, files in os.walk(save):
        os.chmod(root, 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)
    return str(save)


def scores_by_attempt(doc: dict) -> dict[int, list]:
    """A trial file's scores for each attempt: the current one and those in ``previous_attempts``."""
    attempts = {int(a["attempt"]): a["scores"] for a in doc.get("previous_attempts") or []}
    attempts[int(doc.get("attempt", 0))] = doc["scores"]
    return attempts


@pytest.mark.parametrize("name", NAMES)
def test_an_old_run_resumes_loses_no_acknowledged_score_and_finishes(tmp_path, name):
    manifest = json.loads((FIXTURES / f"{name}.manifest.json").read_text())
    args, at_kill, curve = manifest["create"], manifest["at_kill"], manifest["objective"]
    running = {int(tid) for tid in at_kill["running"]}
    for tid in running:  # the fixture is what it says: this trial was mid-training at the kill
        doc = json.loads((FIXTURES / name / f"hpopt_trial_{tid}.json").read_text())
        assert doc["status"] == int(hpopt.Status.RUNNING) and len(doc["scores"]) == at_kill["running"][str(tid)]

    save = copy_run(name, tmp_path)
    space = {k: hpopt.search_space(t, r) for k, (t, r) in manifest["search_space"].items()}
    hpo = hpopt.create(search_space=space, save_path=save, resume=True, **args)
    issued = []
    for _ in range(MAX_SAMPLES):
        cfg = hpo.get_next_sample()
        if cfg is None:  # every trial is trained here, so nothing runs elsewhere: the run is over
            break
        issued.append((cfg["trial_id"], cfg["attempt"]))
        for epoch in range(1, cfg["iterations"] + 1):
            if hpopt.report(config=cfg, score=objective(cfg["params"], epoch, curve)) == hpopt.Status.STOP:
                break
    else:
        pytest.fail(f"get_next_sample() still gave configs after {MAX_SAMPLES} trials")
    assert hpo.is_finished()  # (a)
    best = hpo.get_best_config()
    hpo.close()

    entries = hpopt.load_json(hpopt.get_status_path(save))["config_list"]
    by_id = {e["trial_id"]: e for e in entries}
    # (c) every trial ended; none of the old run's is lost; as many trials as asked.
    assert sorted(by_id) == list(range(len(entries)))
    assert all(e["status"] == int(hpopt.Status.STOP) for e in entries), [(e["trial_id"], e["status"]) for e in entries]
    assert set(at_kill["issued"]) <= set(by_id)
    if args["search_alg"] == "asha":
        # ASHA also ends when its epoch budget (num_trials x the epochs a trial is expected to cost) is
        # spent; with 2 trainers its first two trials run to max_iterations, so it ends before num_trials.
        assert len(entries) <= args["num_trials"]
    else:
        assert len(entries) == args["num_trials"]

    # (b) no acknowledged score is lost: each is in its trial's file, in the attempt that reported it.
    for ack in manifest["acknowledged"]:
        assert objective(by_id[ack["trial_id"]]["config"], ack["epoch"], curve) == ack["score"], ack  # same curve
        attempts = scores_by_attempt(hpopt.load_json(hpopt.get_trial_path(save, ack["trial_id"])))
        scores = attempts.get(ack["attempt"], [])
        assert len(scores) >= ack["epoch"] and scores[ack["epoch"] - 1] == ack["score"], (ack, attempts)

    # (d) the best config is that of the best score in config_list.
    scored = [e for e in entries if e["score"] is not None]
    pick = max if args["mode"] == "max" else min
    top = pick(e["score"] for e in scored)
    assert best in [e["config"] for e in scored if e["score"] == top]

    # (e) the trial mid-training at the kill ran again (a new attempt); the finished ones, collected or
    # not, kept their result and did not.
    assert running
    for tid in running:
        assert by_id[tid]["attempt"] >= 1 and (tid, by_id[tid]["attempt"]) in issued, (by_id[tid], issued)
    for tid in at_kill["collected"] + at_kill["finished_not_collected"]:
        assert by_id[tid]["attempt"] == 0 and all(t != tid for t, _ in issued), (by_id[tid], issued)
