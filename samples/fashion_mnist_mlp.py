"""Tune a two-layer MLP on FashionMNIST: seven hyperparameters, baye_opt or ASHA.

The classic HPO tutorial problem (two hidden layers with dropout, Adam with weight decay), its seven
hyperparameters written in hpopt's types: ``randint(4, 1024)`` -> ``quniform [4, 1024, 1]``,
``uniform(0, 0.99)`` -> ``uniform``, ``loguniform`` -> ``loguniform``. The data is loaded through
``torchvision.datasets.FashionMNIST``; pass ``--download`` to fetch it into ``--data-dir`` the first time.
The last sixth of the training images is the validation set; the test set is used once, at the end.

    python samples/fashion_mnist_mlp.py --data-dir data --download [--alg asha] [--ratio 4] [--epochs 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms

import hpopt

SPACE = {
    "n_units_1": hpopt.search_space("quniform", [4, 1024, 1]),
    "n_units_2": hpopt.search_space("quniform", [4, 1024, 1]),
    "batch_size": hpopt.search_space("quniform", [8, 128, 1]),
    "dropout_1": hpopt.search_space("uniform", [0, 0.99]),
    "dropout_2": hpopt.search_space("uniform", [0, 0.99]),
    "learning_rate": hpopt.search_space("loguniform", [1e-6, 1]),
    "weight_decay": hpopt.search_space("loguniform", [1e-8, 1]),
}
DEFAULTS: dict[str, Any] = {"n_units_1": 256, "n_units_2": 128, "batch_size": 64, "dropout_1": 0.2,
                            "dropout_2": 0.2, "learning_rate": 1e-3, "weight_decay": 1e-5}


def load(data_dir: str, download: bool) -> tuple[Dataset, Dataset, Dataset]:
    """(train, validation, test) from torchvision's FashionMNIST under ``data_dir``."""
    to_tensor = transforms.ToTensor()
    train_full = datasets.FashionMNIST(root=data_dir, train=True, download=download, transform=to_tensor)
    test = datasets.FashionMNIST(root=data_dir, train=False, download=download, transform=to_tensor)
    n_train = len(train_full) - len(train_full) // 6
    return Subset(train_full, range(n_train)), Subset(train_full, range(n_train, len(train_full))), test


def make_model(p: Mapping[str, Any]) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, int(p["n_units_1"])), nn.Dropout(p["dropout_1"]), nn.ReLU(),
        nn.Linear(int(p["n_units_1"]), int(p["n_units_2"])), nn.Dropout(p["dropout_2"]), nn.ReLU(),
        nn.Linear(int(p["n_units_2"]), 10),
    )


def evaluate(model: nn.Module, data: Dataset, device: torch.device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(data, batch_size=1024):
            correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
            total += len(y)
    return correct / max(total, 1)


def train(p: Mapping[str, Any], train_set: Dataset, val_set: Dataset, epochs: int, device: torch.device,
          config: Mapping[str, Any] | None = None) -> nn.Module:
    """Adam; with a train_config, one ``hpopt.report`` of the validation accuracy per epoch."""
    torch.manual_seed(0)
    model = make_model(p).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(train_set, batch_size=int(p["batch_size"]), shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x.to(device)), y.to(device)).backward()
            optimizer.step()
        if config is not None and hpopt.report(config=config, score=evaluate(model, val_set, device)) \
                == hpopt.Status.STOP:
            break
    return model


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="folder that holds (or gets) FashionMNIST/raw")
    parser.add_argument("--download", action="store_true", help="download FashionMNIST if it is not there")
    parser.add_argument("--alg", default="baye_opt", choices=["baye_opt", "asha"])
    parser.add_argument("--ratio", type=float, default=4.0, help="expected_time_ratio (default 4)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the full training")
    parser.add_argument("--num-trials", type=int, default=None, help="fix the number of trials (default: auto)")
    parser.add_argument("--save-path", default="hpo_fashion_mnist")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set, val_set, test_set = load(args.data_dir, args.download)
    hpo = hpopt.create(full_dataset_size=len(train_set), num_full_iterations=args.epochs, search_space=SPACE,
                       save_path=args.save_path, search_alg=args.alg, expected_time_ratio=args.ratio,
                       num_trials=args.num_trials, batch_size_name="batch_size",
                       default_hyper_parameters=DEFAULTS, resume=args.resume, metric="accuracy")
    print(f"auto config: {hpo.num_trials} trials x up to {hpo.max_iterations} epochs "
          f"on {hpo.subset_ratio:.0%} of {len(train_set)} training images")
    start = time.perf_counter()
    while (config := hpo.get_next_sample()) is not None:
        try:
            train(config["params"], hpopt.createHpoDataset(train_set, config), val_set, config["iterations"],
                  device, config)
        except torch.cuda.OutOfMemoryError:
            hpopt.reportOOM(config)
    print(f"HPO took {time.perf_counter() - start:.1f} s")
    hpo.print_results()
    best = hpo.get_best_config()
    model = train(best, train_set, val_set, args.epochs, device)
    result = {"best_config": best, "test_accuracy": evaluate(model, test_set, device),
              "sizes": (len(train_set), len(val_set), len(test_set)), "num_trials": hpo.num_trials}
    print(f"best config {best}: test accuracy {result['test_accuracy']:.4f}")
    return result


if __name__ == "__main__":
    main()
