"""Make a third real table: a linear model (scikit-learn's SGDClassifier) trained epoch by epoch on digits.

Another model family than the two MLP tables, on scikit-learn's bundled digits (1 797 8x8 images,
standardised, split 70/30 with a fixed permutation). For every configuration of the grid below and each
seed it runs ``partial_fit`` for 27 epochs over a seed-shuffled training set and records, per epoch,
the validation accuracy, the training log loss where the loss gives probabilities (else 1 - training
accuracy) and the elapsed seconds (measured). Large constant step sizes learn fast and then oscillate,
small ones look poor early and end best: a table whose first epochs mislead in places.

    bench/tabular/.venv/bin/python bench/mf/make_sgd_table.py [--out bench/tabular/data/sgd_digits.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from table_maker import tabulate  # noqa: E402

GRID = {
    "alpha": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
    "eta0": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0],
    "learning_rate": ["constant", "optimal", "invscaling"],
    "loss": ["hinge", "log_loss", "modified_huber"],
    "penalty": ["l2", "l1", "elasticnet"],
}
EPOCHS, SEEDS = 27, 2


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    cut = int(0.7 * len(y))
    mean, std = x[:cut].mean(axis=0), x[:cut].std(axis=0) + 1e-6
    return (x[:cut] - mean) / std, y[:cut], (x[cut:] - mean) / std, y[cut:]


def curve(params: dict, seed: int, xs: tuple) -> tuple[list[float], list[float], list[float]]:
    from sklearn.linear_model import SGDClassifier

    x_tr, y_tr, x_va, y_va = xs
    model = SGDClassifier(random_state=seed, **params)
    rng = np.random.default_rng(seed)
    classes = np.unique(y_tr)
    acc, loss, elapsed = [], [], []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = rng.permutation(len(y_tr))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_tr[order], y_tr[order], classes=classes)
        acc.append(float((model.predict(x_va) == y_va).mean()))
        loss.append(float(1.0 - (model.predict(x_tr) == y_tr).mean()))
        elapsed.append(time.perf_counter() - start)
    return acc, loss, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                                      "tabular", "data", "sgd_digits.npz"))
    args = parser.parse_args()
    meta = {"dataset": "digits (scikit-learn), 70/30 split, standardised",
            "model": "SGDClassifier, partial_fit per epoch", "command": "bench/mf/make_sgd_table.py"}
    tabulate(GRID, curve, data(), meta, args.out, seeds=SEEDS, epochs=EPOCHS)


if __name__ == "__main__":
    main()
