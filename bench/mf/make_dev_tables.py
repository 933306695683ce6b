"""Make the development half's real tables: real models trained epoch by epoch on data the suite never uses.

The multi-fidelity suite (``bench/mf_suite.py``) chooses changes on a development half and reports on a
held-out half. The held-out half has three real tables (MLPs on digits and MNIST, a linear model on
digits); before these tables the development half had only synthetic ones, and a rule chosen there lost
on the real tables. These two are real training runs on other data and other model families:

* ``hgb_cancer``: scikit-learn's HistGradientBoostingClassifier on the bundled breast-cancer set
  (569 samples, 50/50 split with a fixed permutation); an "epoch" is 4 more boosting rounds
  (``warm_start``), so a small learning rate looks poor early and may end best.
* ``mlp_synthetic``: scikit-learn's MLPClassifier (one hidden layer, ``partial_fit`` per epoch) on a
  generated 5-class problem (``make_classification``, 3 000 samples, 30 features, 5 % flipped labels,
  70/30 split).

For every configuration of the grid and each of 2 seeds it records 27 epochs of validation accuracy,
training error (1 - accuracy) and elapsed seconds (measured, so another process beside it stretches them).

    bench/tabular/.venv/bin/python bench/mf/make_dev_tables.py [--tables hgb_cancer mlp_synthetic]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from table_maker import tabulate  # noqa: E402

EPOCHS, SEEDS = 27, 2
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tabular", "data")
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

GRIDS: dict[str, dict[str, list[Any]]] = {
    "hgb_cancer": {
        "learning_rate": [0.01, 0.03, 0.1, 0.3, 1.0],
        "max_leaf_nodes": [3, 7, 31],
        "min_samples_leaf": [2, 10, 40],
        "l2_regularization": [0.0, 10.0],
        "max_features": [0.2, 0.5, 1.0],
    },
    "mlp_synthetic": {
        "hidden_layer_sizes": [16, 64, 256],
        "learning_rate_init": [1e-4, 1e-3, 1e-2, 1e-1],
        "alpha": [1e-5, 1e-3, 1e-1],
        "batch_size": [16, 64, 256],
        "activation": ["relu", "tanh"],
        "solver": ["adam", "sgd"],
    },
}


def split(x: np.ndarray, y: np.ndarray, train_share: float) -> Split:
    """A fixed permutation, then the first share for training; standardised on the training part."""
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    cut = int(train_share * len(y))
    mean, std = x[:cut].mean(axis=0), x[:cut].std(axis=0) + 1e-6
    return (x[:cut] - mean) / std, y[:cut], (x[cut:] - mean) / std, y[cut:]


def cancer() -> Split:
    from sklearn.datasets import load_breast_cancer

    return split(*load_breast_cancer(return_X_y=True), 0.5)


def synthetic() -> Split:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=3000, n_features=30, n_informative=12, n_redundant=6, n_classes=5,
                               flip_y=0.05, class_sep=0.8, random_state=0)
    return split(x, y, 0.7)


def hgb_curve(params: dict[str, Any], seed: int, xs: Split) -> tuple[list[float], list[float], list[float]]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x_tr, y_tr, x_va, y_va = xs
    model = HistGradientBoostingClassifier(max_iter=4, warm_start=True, early_stopping=False, random_state=seed,
                                           **params)
    acc, err, elapsed = [], [], []
    start = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        model.set_params(max_iter=4 * epoch)
        model.fit(x_tr, y_tr)
        acc.append(float((model.predict(x_va) == y_va).mean()))
        err.append(float(1.0 - (model.predict(x_tr) == y_tr).mean()))
        elapsed.append(time.perf_counter() - start)
    return acc, err, elapsed


def mlp_curve(params: dict[str, Any], seed: int, xs: Split) -> tuple[list[float], list[float], list[float]]:
    from sklearn.neural_network import MLPClassifier

    x_tr, y_tr, x_va, y_va = xs
    kwargs = dict(params, hidden_layer_sizes=(int(params["hidden_layer_sizes"]),))
    model = MLPClassifier(random_state=seed, momentum=0.9, **kwargs)
    classes = np.unique(y_tr)
    acc, err, elapsed = [], [], []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_tr, y_tr, classes=classes)  # shuffles the samples itself (random_state)
        acc.append(float((model.predict(x_va) == y_va).mean()))
        err.append(float(1.0 - (model.predict(x_tr) == y_tr).mean()))
        elapsed.append(time.perf_counter() - start)
    return acc, err, elapsed


MAKERS: dict[str, tuple[Callable[[], Split], Callable[..., tuple[list[float], list[float], list[float]]], str]] = {
    "hgb_cancer": (cancer, hgb_curve, "breast cancer (scikit-learn), 50/50 split, standardised; "
                                      "HistGradientBoostingClassifier, 4 boosting rounds per epoch"),
    "mlp_synthetic": (synthetic, mlp_curve, "make_classification (3 000 x 30, 5 classes, random_state 0), 70/30 "
                                            "split; MLPClassifier, partial_fit per epoch"),
}


def make(name: str, out: str) -> None:
    load, curve, description = MAKERS[name]
    meta = {"dataset": name, "model": description, "command": "bench/mf/make_dev_tables.py"}
    tabulate(GRIDS[name], curve, load(), meta, out, seeds=SEEDS, epochs=EPOCHS, label=f"{name}: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(MAKERS), choices=list(MAKERS))
    parser.add_argument("--out", default=DATA, help="folder of the tables (default bench/tabular/data)")
    args = parser.parse_args()
    for name in args.tables:
        make(name, os.path.join(args.out, f"{name}.npz"))


if __name__ == "__main__":
    main()
