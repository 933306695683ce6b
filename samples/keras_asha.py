"""ASHA over a Keras 3 MLP on scikit-learn's bundled digits, through hpopt's Keras callback.

The trainer is plain Keras (the torch backend: no TensorFlow needed): ``HpoptCallback`` reports
``val_accuracy`` at the end of every epoch and sets ``model.stop_training`` when ASHA stops the trial at a
rung (or the trial reached its iterations); ``oom_guard`` turns a CUDA out-of-memory error into
``hpopt.reportOOM``. Offline, well under a minute on a 2-core CPU.

    pip install -e ".[keras,samples]"
    python samples/keras_asha.py [--epochs 8] [--trials 12] [--save-path hpo_keras_asha] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported

import keras  # noqa: E402 - the backend is chosen by the line above
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import hpopt  # noqa: E402
from hpopt.integrations import oom_guard  # noqa: E402
from hpopt.integrations.keras import HpoptCallback  # noqa: E402

SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-3, 0.5]),
    "units": hpopt.search_space("qloguniform", [16, 256, 16]),
    "batch_size": hpopt.search_space("qloguniform", [16, 256, 16]),
}


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    x, y = digits.data.astype(np.float32) / 16.0, digits.target
    return tuple(train_test_split(x, y, test_size=0.25, random_state=0, stratify=y))  # type: ignore[return-value]


def train(cfg: dict[str, Any], data: tuple[np.ndarray, ...], max_epochs: int) -> None:
    """One trial: ``model.fit`` as usual, with hpopt's callback; hpopt decides when it stops."""
    params = cfg["params"]
    x_train, x_val, y_train, y_val = data
    keep = int(len(x_train) * cfg["subset_ratio"])  # the trial's share of the training data
    keras.utils.set_random_seed(cfg["trial_id"])
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(int(params["units"]), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=params["lr"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with oom_guard(cfg):
        model.fit(x_train[:keep], y_train[:keep], validation_data=(x_val, y_val), epochs=max_epochs,
                  batch_size=int(params["batch_size"]), verbose=0, callbacks=[HpoptCallback(cfg)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs of a full trial (the top rung)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--save-path", default="hpo_keras_asha")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_data()
    hpo = hpopt.create(full_dataset_size=len(data[0]), num_full_iterations=args.epochs, search_space=SPACE,
                       search_alg="asha", save_path=args.save_path, num_trials=args.trials, subset_ratio=1.0,
                       min_iterations=1, reduction_factor=2, metric="val_accuracy", batch_size_name="batch_size",
                       seed=args.seed)
    while (cfg := hpo.get_next_sample()) is not None:
        train(cfg, data, max_epochs=args.epochs)
    hpo.print_results()
    print(f"best config: {hpo.get_best_config()}  val_accuracy {hpo.get_best_score():.4f}")


if __name__ == "__main__":
    main()
