"""Runs written by hpopt 0.4 (before the core redesign), killed with a trial mid-training, resume under the
current code, lose no acknowledged score and finish (fixtures: tests/fixtures/old_runs/, made by
make_old_runs.py there against the 0.4 code)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import hpopt

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"
NAMES = ("random", "bayes_median", "asha")


def objective(params: dict, epoch: int) -> float:
    """make_old_runs.py's objective (kept in step with it)."""
    import math

    level = 1.0 - 0.15 * (math.log10(params["lr"]) + 2.5) ** 2 - 0.001 * abs(params["bs"] - 64)
    level -= 0.05 if params["opt"] == "sgd" else 0.0
    return round(level * (1.0 - 0.6 * 0.5 ** (epoch + 1)), 6)


def copy_run(name: str, dest: Path) -> Path:
    """The fixture as a save_path (git keeps no file modes: hpopt's own are restored)."""
    save = dest / name
    shutil.copytree(FIXTURES / name, save)
    for root, _dirs, files in os.walk(save):
        os.chmod(root, 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)
    return save


@pytest.mark.parametrize("name", NAMES)
def test_a_run_of_hpopt_0_4_resumes_loses_nothing_and_finishes(tmp_path, name):
    manifest = json.loads((FIXTURES / f"{name}.manifest.json").read_text())
    save = copy_run(name, tmp_path)
    stored = hpopt.load_json(save / "hpopt_status.json")
    assert stored["format_version"] == 1 and "run_id" in stored  # 0.4's status file, as written then
    space = {k: hpopt.search_space(t, r) for k, (t, r) in manifest["search_space"].items()}
    hpo = hpopt.create(search_space=space, save_path=str(save), resume=True, **manifest["create"])
    issued = []
    while not hpo.is_finished():
        cfg = hpo.get_next_sample()
        assert cfg is not None  # one process: nothing runs elsewhere
        issued.append((cfg["trial_id"], cfg["attempt"]))
        for epoch in range(cfg["iterations"]):
            if hpopt.report(cfg, objective(cfg["params"], epoch)) == hpopt.Status.STOP:
                break
    best = hpo.get_best_config()
    hpo.close()

    status = hpopt.load_json(save / "hpopt_status.json")
    entries = status["config_list"]
    assert all(e["status"] == int(hpopt.Status.STOP) for e in entries)
    if name != "asha":  # ASHA's epoch budget may end it before num_trials
        assert len(entries) == manifest["create"]["num_trials"]
    # No acknowledged score is lost: each is in its trial's file, in the attempt it was reported in.
    for ack in manifest["acknowledged"]:
        doc = hpopt.load_json(save / f"hpopt_trial_{ack['trial_id']}.json")
        attempts = {int(doc.get("attempt", 0)): doc["scores"]}
        attempts.update({int(a["attempt"]): a["scores"] for a in doc.get("previous_attempts", [])})
        scores = attempts[ack["attempt"]]
        assert len(scores) >= ack["epoch"] and scores[ack["epoch"] - 1] == ack["score"], (ack, scores)
    # The trial that was mid-training ran again; one that had finished (collected or not) did not.
    was_running = {int(p.stem.rsplit("_", 1)[1]) for p in (FIXTURES / name).glob("hpopt_trial_*.json")
                   if json.loads(p.read_text())["status"] == int(hpopt.Status.RUNNING)}
    reissued = {tid for tid, attempt in issued if attempt >= 1}
    assert was_running and reissued == was_running
    assert all(entries[tid]["attempt"] >= 1 for tid in reissued)
    # The best config is the best finished trial's.
    scored = [e for e in entries if e["score"] is not None]
    top = max(scored, key=lambda e: e["score"])
    assert best == top["config"] and status["best_config_id"] == top["trial_id"]
