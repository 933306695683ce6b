"""The entry script of the SageMaker adapter tests' training jobs (shipped to the job as sourcedir.tar.gz).

It reads its train_config from the job's hyperparameters and its data from the "train" channel, reports
one score per epoch to hpopt (which uploads it to S3), and saves a model in $SM_MODEL_DIR. Set through the
job's Environment: EPOCH_S seconds per epoch; CRASH_TRIAL a trial id whose first attempt crashes;
NO_REPORT=1 ends without reporting; OOM_FROM a batch size from which the job dies of CUDA out of memory.
"""

from __future__ import annotations

import json
import os
import sys
import time

import hpopt
from hpopt.adapters.sagemaker import load_train_config


def main() -> None:
    config = load_train_config()
    params, tid = config["params"], config["trial_id"]
    assert json.loads(os.environ["SM_HP_LR"]) == params["lr"]  # the params came as hyperparameters too
    with open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.json")) as f:
        offset = json.load(f)["offset"]
    if str(tid) == os.environ.get("CRASH_TRIAL") and config["attempt"] == 0:
        raise RuntimeError(f"trial {tid}: simulated crash of its first job")
    if os.environ.get("OOM_FROM") and params["bs"] >= int(os.environ["OOM_FROM"]):
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("NO_REPORT"):
        return
    for epoch in range(config["iterations"]):
        time.sleep(float(os.environ.get("EPOCH_S", "0")))
        score = offset - (params["x"] - 1.0) ** 2 + 0.05 * epoch
        if hpopt.report(config, score) == hpopt.Status.STOP:
            break
    with open(os.path.join(config["artifact_dir"], "model.json"), "w") as f:
        json.dump({"trial_id": tid, "params": params}, f)


if __name__ == "__main__":
    main()
