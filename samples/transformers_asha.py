"""ASHA over a tiny Hugging Face Transformers classifier, through hpopt's ``TrainerCallback``.

Offline: the model is built from a ``BertConfig`` (nothing is downloaded) and learns a synthetic task
(is the first token's id above the middle of the vocabulary?). ``HpoptCallback`` reports ``eval_loss``
(the run's mode is "min") after every evaluation and sets ``control.should_training_stop`` when ASHA stops
the trial at a rung. Under a minute on a 2-core CPU.

    pip install -e ".[transformers]"
    python samples/transformers_asha.py [--epochs 6] [--trials 8] [--save-path hpo_transformers_asha]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model comes from a config: never reach the hub

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import hpopt  # noqa: E402
from hpopt.integrations import oom_guard  # noqa: E402
from hpopt.integrations.transformers import HpoptCallback  # noqa: E402

VOCAB = 50
SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-5, 1e-2]),
    "weight_decay": hpopt.search_space("loguniform", [1e-6, 1e-1]),
    "dropout": hpopt.search_space("uniform", [0.0, 0.3]),
}


def make_data(n: int = 320, length: int = 8, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Token sequences labelled by their first token: learnable by a one-layer model in a few epochs."""
    ids = np.random.default_rng(seed).integers(1, VOCAB, size=(n, length))
    labels = (ids[:, 0] > VOCAB // 2).astype(np.int64)
    rows = [{"input_ids": torch.tensor(r), "labels": torch.tensor(int(lab))}
            for r, lab in zip(ids, labels, strict=True)]
    return rows[: n * 3 // 4], rows[n * 3 // 4:]


def train(cfg: dict[str, Any], train_rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]], epochs: int,
          out_dir: str) -> None:
    """One trial: ``Trainer.train()`` as usual, with hpopt's callback; hpopt decides when it stops."""
    params = cfg["params"]
    torch.manual_seed(cfg["trial_id"])
    model = transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=16, num_labels=2, hidden_dropout_prob=params["dropout"],
        attention_probs_dropout_prob=params["dropout"]))
    args = transformers.TrainingArguments(
        output_dir=out_dir, eval_strategy="epoch", save_strategy="no", logging_strategy="no",
        num_train_epochs=epochs, per_device_train_batch_size=16, per_device_eval_batch_size=64,
        learning_rate=params["lr"], weight_decay=params["weight_decay"],
        report_to="none", use_cpu=True, disable_tqdm=True, seed=cfg["trial_id"], dataloader_num_workers=0)
    keep = train_rows[: int(len(train_rows) * cfg["subset_ratio"])]
    trainer = transformers.Trainer(model=model, args=args, train_dataset=keep, eval_dataset=eval_rows,
                                   callbacks=[HpoptCallback(cfg, metric="eval_loss")])
    with oom_guard(cfg):
        trainer.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs of a full trial (the top rung)")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--save-path", default="hpo_transformers_asha")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()

    train_rows, eval_rows = make_data()
    hpo = hpopt.create(full_dataset_size=len(train_rows), num_full_iterations=args.epochs, search_space=SPACE,
                       search_alg="asha", save_path=args.save_path, num_trials=args.trials, subset_ratio=1.0,
                       min_iterations=1, reduction_factor=2, mode="min", metric="eval_loss", seed=args.seed)
    with tempfile.TemporaryDirectory() as out_dir:
        while (cfg := hpo.get_next_sample()) is not None:
            train(cfg, train_rows, eval_rows, args.epochs, out_dir)
    hpo.print_results()
    print(f"best config: {hpo.get_best_config()}  eval_loss {hpo.get_best_score():.4f}")


if __name__ == "__main__":
    main()
