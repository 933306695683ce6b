"""A trial script for the adapter tests: reads its train_config from $HPOPT_TRAIN_CONFIG, reports every epoch.

Behaviour is set through environment variables (run_local's ``env``):
TRIAL_RECORD   a folder: each start appends a JSON line (trial, attempt, pid, CUDA_VISIBLE_DEVICES, time) to
               starts.jsonl, each clean end a line to ends.jsonl
TRIAL_SLEEP    seconds to sleep per epoch
CRASH_UNTIL    crash (exit 3) while this trial has started at most this many times
CRASH_TRIAL    crash every attempt of this trial id
OOM_FROM       print torch's "CUDA out of memory" to stderr and exit 1 when params["bs"] >= this

Starts, crashes and OOMs happen before hpopt is imported, so they cost a fraction of a second.
"""

from __future__ import annotations

import json
import os
import sys
import time


def record(name: str, **fields: object) -> None:
    folder = os.environ.get("TRIAL_RECORD")
    if folder:
        with open(os.path.join(folder, name), "a") as f:
            f.write(json.dumps(fields) + "\n")


def main() -> None:
    with open(os.environ["HPOPT_TRAIN_CONFIG"]) as f:
        config = json.load(f)
    tid, params = config["trial_id"], config["params"]
    record("starts.jsonl", trial_id=tid, attempt=config["attempt"], pid=os.getpid(),
           cuda=os.environ.get("CUDA_VISIBLE_DEVICES"), time=time.time())
    if "CRASH_UNTIL" in os.environ:
        with open(os.path.join(os.environ["TRIAL_RECORD"], "starts.jsonl")) as f:
            starts = sum(1 for line in f if json.loads(line)["trial_id"] == tid)
        if starts <= int(os.environ["CRASH_UNTIL"]):
            print(f"trial {tid}: crashing on start {starts}", file=sys.stderr)
            sys.exit(3)
    if str(tid) == os.environ.get("CRASH_TRIAL"):
        raise RuntimeError(f"trial {tid} always crashes")
    oom_from = os.environ.get("OOM_FROM")
    if oom_from and params["bs"] >= int(oom_from):
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
        sys.exit(1)

    from workloads import objective

    import hpopt
    from hpopt.adapters.local import load_train_config

    assert load_train_config() == config
    sleep = float(os.environ.get("TRIAL_SLEEP", "0"))
    for epoch in range(config["iterations"]):
        time.sleep(sleep)
        if hpopt.report(config, objective(params, epoch)) == hpopt.Status.STOP:
            break
    with open(os.path.join(config["artifact_dir"], "model.json"), "w") as f:
        json.dump({"trial_id": tid, "params": params}, f)
    record("ends.jsonl", trial_id=tid, attempt=config["attempt"], time=time.time())


if __name__ == "__main__":
    main()
