"""Shared test workloads: a small search space, a deterministic objective and trainer loops."""

from __future__ import annotations

import json
import os
from typing import Any

import hpopt

OOM_BATCH = 96  # the simulated GPU fits batch sizes below this


def space() -> dict[str, hpopt.SearchSpace]:
    return {
        "x": hpopt.search_space("uniform", [-5, 5]),
        "lr": hpopt.search_space("loguniform", [1e-4, 1e-1]),
        "bs": hpopt.search_space("quniform", [8, 128, 8]),
        "opt": hpopt.search_space("choice", ["sgd", "adam"]),
    }


def objective(params: dict[str, Any], epoch: int) -> float:
    """Peaks at x = 1, improves a little with every epoch."""
    bonus = 0.1 if params["opt"] == "adam" else 0.0
    return -((params["x"] - 1.0) ** 2) + bonus + 0.01 * epoch


class SimulatedOOM(RuntimeError):
    pass


def train(cfg: dict[str, Any], log_path: str | None = None, oom: bool = False) -> int:
    """The seed's trainer: report every epoch, stop on STOP; OOM above OOM_BATCH when ``oom``.

    Every report that returned is appended (and fsynced) to ``log_path`` as "trial,attempt,epoch,score".
    """
    if oom and cfg["params"]["bs"] >= OOM_BATCH:
        raise SimulatedOOM("CUDA out of memory. Tried to allocate 2.00 GiB")
    n = 0
    for epoch in range(cfg["iterations"]):
        score = objective(cfg["params"], epoch)
        status = hpopt.report(config=cfg, score=score)
        n += 1
        if log_path is not None:
            with open(log_path, "a") as f:
                f.write(f"{cfg['trial_id']},{cfg['attempt']},{epoch},{score!r}\n")
                f.flush()
                os.fsync(f.fileno())
        if status == hpopt.Status.STOP:
            break
    return n


def run_loop(hpo: Any, log_path: str | None = None, oom: bool = False) -> None:
    """The seed's user loop, in one process."""
    while (cfg := hpo.get_next_sample()) is not None:
        try:
            train(cfg, log_path, oom)
        except SimulatedOOM as err:
            assert str(err).startswith("CUDA out of memory")
            hpopt.reportOOM(cfg)


def recorded_scores(save_path: str, trial_id: int, attempt: int) -> list[float | None] | None:
    """The scores one attempt of a trial has on disk (the current one, or one kept in previous_attempts)."""
    doc = hpopt.load_json(hpopt.get_trial_path(save_path, trial_id))
    if doc.get("attempt") == attempt:
        return doc["scores"]
    for old in doc.get("previous_attempts", []):
        if old.get("attempt") == attempt:
            return old["scores"]
    return None


def reports_on_disk(save_path: str, log_lines: list[str]) -> list[str]:
    """The lines of ``train``'s log ("trial,attempt,epoch,score") whose report is NOT on disk."""
    missing = []
    for line in log_lines:
        tid, attempt, epoch, score = line.strip().split(",")
        scores = recorded_scores(save_path, int(tid), int(attempt))
        if scores is None or len(scores) <= int(epoch) or scores[int(epoch)] != float(score):
            missing.append(line)
    return missing


def make_random(tmp_path: Any, name: str = "hpo", **kw: Any) -> Any:
    """A small random-search run in ``tmp_path/name`` (the adapters' tests start from it)."""
    args = dict(full_dataset_size=1000, num_full_iterations=6, search_space=space(), save_path=str(tmp_path / name),
                search_alg="random", num_trials=4, max_iterations=3, seed=11)
    args.update(kw)
    return hpopt.create(**args)


def jsonl(path: str) -> list[dict[str, Any]]:
    """The records of a JSON-lines file a trainer appended to (none when it does not exist yet)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def entries(hpo: Any) -> list[dict[str, Any]]:
    return hpo.get_current_status()["config_list"]
