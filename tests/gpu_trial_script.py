"""A trial script for the GPU tests: trains a small model on the GPU it was given, OOMs for real when asked.

It records (in $TRIAL_RECORD/starts.jsonl) what the trial saw: CUDA_VISIBLE_DEVICES, how many devices torch
sees and their names. The "activations" of a batch take ``bs / 128`` of the GPU's memory, so batch sizes of
128 and above raise torch's real ``OutOfMemoryError``. With GPU_OOM_GUARD=1 the trial reports the OOM itself
through ``hpopt.integrations.oom_guard``; otherwise it dies of it and the adapter reads the error off stderr.
"""

from __future__ import annotations

import json
import os

import torch

import hpopt
from hpopt.adapters.local import load_train_config
from hpopt.integrations import oom_guard


def record(name: str, **fields: object) -> None:
    with open(os.path.join(os.environ["TRIAL_RECORD"], name), "a") as f:
        f.write(json.dumps(fields) + "\n")


def train(config: dict) -> None:
    bs = int(config["params"]["bs"])
    total = torch.cuda.get_device_properties(0).total_memory
    activations = torch.empty(bs * (total // 128), dtype=torch.uint8, device="cuda")  # OOM from bs=128 on
    torch.manual_seed(config["trial_id"])
    x = torch.randn(4096, 32, device="cuda")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=config["params"]["lr"])
    for _ in range(config["iterations"]):
        for i in range(0, len(x), bs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i:i + bs]), y[i:i + bs]).backward()
            opt.step()
        accuracy = float((model(x).argmax(1) == y).float().mean())
        if hpopt.report(config, accuracy) == hpopt.Status.STOP:
            break
    del activations
    record("ends.jsonl", trial_id=config["trial_id"], bs=bs, device=str(next(model.parameters()).device))


def main() -> None:
    config = load_train_config()
    record("starts.jsonl", trial_id=config["trial_id"], bs=config["params"]["bs"],
           cuda=os.environ.get("CUDA_VISIBLE_DEVICES"), count=torch.cuda.device_count(),
           names=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
    if os.environ.get("GPU_OOM_GUARD") == "1":
        with oom_guard(config):
            train(config)
    else:
        train(config)


if __name__ == "__main__":
    main()
