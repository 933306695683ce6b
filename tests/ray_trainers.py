"""Trainers for the Ray adapter tests: importable by the cluster's workers (the tests folder is on their
PYTHONPATH), configured through functools.partial, recording what they did to files on this machine."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from workloads import objective

import hpopt


def append(path: str, rec: dict[str, Any]) -> None:
    """One JSON line, fsynced: what a trainer saw survives any crash of the controller."""
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def where() -> dict[str, Any]:
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "pid": os.getpid(), "mark": os.environ.get("TRIAL_MARK")}


def recording_trainer(config: dict[str, Any], record: str, sleep: float = 0.0, kill_attempt0_of: int = -1,
                      ignore_stop: float = 0.0, stall_on_node: str = "") -> None:
    """Report objective(params, epoch) each epoch; append each acknowledged report to ``record``.

    ``kill_attempt0_of``: that trial's first attempt SIGKILLs its own worker after its first report.
    ``ignore_stop``: after STOP, go on sleeping this long (a trainer that does not listen).
    ``stall_on_node``: on that node, never end (until the node is taken away).
    """
    tid, attempt = config["trial_id"], config["attempt"]
    here = where()
    append(record + ".starts", {"trial_id": tid, "attempt": attempt, "time": time.time(), **here})
    while here["node"] == stall_on_node:
        time.sleep(1)
    print(f"trial {tid} attempt {attempt} starts", flush=True)
    for epoch in range(config["iterations"]):
        time.sleep(sleep)
        score = objective(config["params"], epoch)
        status = hpopt.report(config, score)
        append(record, {"trial_id": tid, "attempt": attempt, "epoch": epoch, "score": score, "status": int(status)})
        if tid == kill_attempt0_of and attempt == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        if status == hpopt.Status.STOP:
            if ignore_stop:
                time.sleep(ignore_stop)
            break
    with open(os.path.join(config["artifact_dir"], "model.json"), "w") as f:
        json.dump({"trial_id": tid, "params": config["params"]}, f)


def script_main() -> None:
    """A command trainer: ``python ray_trainers.py RECORD [--deaf]``; reports through its Ray task's relay."""
    from hpopt.adapters.local import load_train_config

    config = load_train_config()
    record = sys.argv[1]
    for epoch in range(config["iterations"]):
        status = hpopt.report(config, objective(config["params"], epoch))
        append(record, {"trial_id": config["trial_id"], "attempt": config["attempt"], "epoch": epoch,
                        "status": int(status), "pid": os.getpid()})
        if status == hpopt.Status.STOP:
            break
    print(f"trial {config['trial_id']} done", flush=True)
    if "--deaf" in sys.argv:  # does not end after STOP: the Ray task stops it with SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(143)))
        time.sleep(120)


if __name__ == "__main__":
    script_main()
