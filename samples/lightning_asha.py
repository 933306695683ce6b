"""ASHA over a PyTorch Lightning MLP on scikit-learn's bundled digits, through hpopt's Lightning callback.

The trainer is plain Lightning: ``HpoptCallback`` reports ``val_acc`` after every validation epoch and
stops ``fit()`` when ASHA stops the trial at a rung (or the trial reached its iterations);
``oom_guard`` turns a CUDA out-of-memory error into ``hpopt.reportOOM``, which shrinks the batch-size
range. Offline, under a minute on a 2-core CPU.

    pip install -e ".[lightning,samples]"
    python samples/lightning_asha.py [--epochs 8] [--trials 12] [--save-path hpo_lightning_asha] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hpopt
from hpopt.integrations import oom_guard
from hpopt.integrations.lightning import HpoptCallback

SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-3, 0.5]),
    "momentum": hpopt.search_space("uniform", [0.0, 0.95]),
    "batch_size": hpopt.search_space("qloguniform", [16, 256, 16]),
}


class DigitsMLP(pl.LightningModule):
    """A one-hidden-layer MLP that logs ``val_acc``, the metric the callback reports."""

    def __init__(self, lr: float, momentum: float) -> None:
        super().__init__()
        self.lr, self.momentum = lr, momentum
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, _: int) -> None:
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)


def load_data() -> tuple[TensorDataset, TensorDataset]:
    digits = load_digits()
    x, y = digits.data.astype(np.float32) / 16.0, digits.target
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return (TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)),
            TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val)))


def train(cfg: dict[str, Any], train_set: TensorDataset, val_set: TensorDataset, max_epochs: int) -> None:
    """One trial: the Lightning loop as usual, with hpopt's callback; hpopt decides when it stops."""
    params = cfg["params"]
    torch.manual_seed(cfg["trial_id"])
    loader = DataLoader(hpopt.createHpoDataset(train_set, cfg), batch_size=int(params["batch_size"]), shuffle=True)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="auto", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[HpoptCallback(cfg, monitor="val_acc")])
    with oom_guard(cfg):  # a CUDA OOM: reported, the trial is re-sampled with a smaller batch-size bound
        trainer.fit(DigitsMLP(params["lr"], params["momentum"]), loader, DataLoader(val_set, batch_size=512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs of a full trial (the top rung)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--save-path", default="hpo_lightning_asha")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one "GPU available" line per trial

    train_set, val_set = load_data()
    hpo = hpopt.create(full_dataset_size=len(train_set), num_full_iterations=args.epochs, search_space=SPACE,
                       search_alg="asha", save_path=args.save_path, num_trials=args.trials, subset_ratio=1.0,
                       min_iterations=1, reduction_factor=2, expected_time_ratio=10, metric="val_acc",
                       batch_size_name="batch_size", seed=args.seed)
    while (cfg := hpo.get_next_sample()) is not None:
        train(cfg, train_set, val_set, max_epochs=args.epochs)
    hpo.print_results()
    print(f"best config: {hpo.get_best_config()}  val_acc {hpo.get_best_score():.4f}")


if __name__ == "__main__":
    main()
