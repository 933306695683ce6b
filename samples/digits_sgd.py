"""A real, offline HPO run: random search over a linear classifier on scikit-learn's bundled digits.

The user loop of hpopt, with auto config from ``expected_time_ratio``, ``subset_ratio`` honoured through
``createHpoDataset``, and ``resume`` (run it again with ``--resume`` after stopping it with Ctrl-C).
It ends by training the final model with the best config and comparing it with the default config.

    python samples/digits_sgd.py [--save-path hpo_digits] [--ratio 4] [--resume]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import hpopt

EPOCHS = 30
DEFAULTS = {"alpha": 1e-4, "eta0": 0.01, "batch_size": 64, "loss": "hinge"}


def load() -> tuple:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0,
                                                      stratify=y_train)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_val), y_val, scaler.transform(x_test), y_test


def train(params: dict, x, y, x_val, y_val, epochs: int, config: dict | None = None) -> tuple[SGDClassifier, float]:
    """Mini-batch SGD, one ``hpopt.report`` per epoch when a train_config is given."""
    model = SGDClassifier(loss=params["loss"], alpha=params["alpha"], learning_rate="constant", eta0=params["eta0"],
                          random_state=0)
    rng = np.random.default_rng(0)
    classes = np.unique(y)
    accuracy = 0.0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), params["batch_size"]):
            batch = order[start:start + params["batch_size"]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.partial_fit(x[batch], y[batch], classes=classes)
        accuracy = float(model.score(x_val, y_val))
        if config is not None and hpopt.report(config=config, score=accuracy) == hpopt.Status.STOP:
            break
    return model, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save-path", default="hpo_digits")
    parser.add_argument("--ratio", type=float, default=4.0, help="expected_time_ratio")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x_train, y_train, x_val, y_val, x_test, y_test = load()
    start = time.perf_counter()
    train(DEFAULTS, x_train, y_train, x_val, y_val, EPOCHS)
    full_time = time.perf_counter() - start

    space = {
        "alpha": hpopt.search_space("loguniform", [1e-6, 1e-1]),
        "eta0": hpopt.search_space("loguniform", [1e-4, 1.0]),
        "batch_size": hpopt.search_space("qloguniform", [8, 256, 8]),
        "loss": hpopt.search_space("choice", ["hinge", "log_loss", "modified_huber"]),
    }
    hpo = hpopt.create(full_dataset_size=len(x_train), num_full_iterations=EPOCHS, search_space=space,
                       save_path=args.save_path, search_alg="random", expected_time_ratio=args.ratio,
                       resume=args.resume, seed=args.seed, metric="accuracy")
    print(f"auto config: {hpo.num_trials} trials x {hpo.max_iterations} epochs on {hpo.subset_ratio:.0%} of the data")
    indices = list(range(len(x_train)))
    hpo_start = time.perf_counter()
    while (config := hpo.get_next_sample()) is not None:
        subset = np.array(list(hpopt.createHpoDataset(indices, config)))
        train(config["params"], x_train[subset], y_train[subset], x_val, y_val, config["iterations"], config)
    hpo_time = time.perf_counter() - hpo_start
    best = hpo.get_best_config()
    hpo.print_results()

    best_model, _ = train(best, x_train, y_train, x_val, y_val, EPOCHS)
    default_model, _ = train(DEFAULTS, x_train, y_train, x_val, y_val, EPOCHS)
    print(f"test accuracy: best config {best_model.score(x_test, y_test):.4f}, "
          f"default config {default_model.score(x_test, y_test):.4f}")
    print(f"HPO took {hpo_time:.1f} s; asked for (ratio - 1) x full training = "
          f"{(args.ratio - 1) * full_time:.1f} s")


if __name__ == "__main__":
    main()
