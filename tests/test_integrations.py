"""Framework callbacks, end to end on CPU with real hpopt runs: Lightning, Transformers, Keras.

Each framework's tests skip where its extra is not installed. What they check, per framework: the scores
hpopt received are the metric values the framework logged; a STOP really stops training (ASHA stops some
trials at a low rung; a trial stops at its ``iterations`` although the framework would train longer); a
training that ends before ``iterations`` is finalized, so the run finishes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpopt
from hpopt.integrations import MissingMetricError, is_cuda_oom, oom_guard
from hpopt.integrations._common import TrialReporter

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [  # noise from the frameworks' own internals (numpy 2 / torch pytree), not from hpopt
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance\\(treespec, LeafSpec\\)"),
]
MAX_EPOCHS = 4


def asha(save: Path, mode: str = "max", num_trials: int = 6) -> Any:
    """ASHA with rungs 1, 2, 4: with reduction factor 2, a trial behind another at a rung stops there."""
    return hpopt.create(full_dataset_size=256, num_full_iterations=MAX_EPOCHS, save_path=str(save),
                        search_space={"lr": hpopt.search_space("loguniform", [1e-4, 1.0])}, search_alg="asha",
                        num_trials=num_trials, max_iterations=MAX_EPOCHS, min_iterations=1, reduction_factor=2,
                        subset_ratio=1.0, expected_time_ratio=20, mode=mode, seed=0)


def random_run(save: Path, num_trials: int, iterations: int, **kw: Any) -> Any:
    return hpopt.create(full_dataset_size=256, num_full_iterations=iterations, save_path=str(save),
                        search_space={"lr": hpopt.search_space("loguniform", [1e-3, 1e-1])}, search_alg="random",
                        num_trials=num_trials, max_iterations=iterations, subset_ratio=1.0, seed=0, **kw)


def stored_scores(cfg: dict) -> list[float]:
    return hpopt.load_json(cfg["file_path"])["scores"]


def check_asha_run(hpo: Any, epochs_run: dict[int, int]) -> None:
    assert hpo.is_finished() and hpo.get_best_config() is not None
    assert len(epochs_run) >= 3
    assert max(epochs_run.values()) == MAX_EPOCHS, epochs_run
    assert min(epochs_run.values()) < MAX_EPOCHS, f"ASHA stopped no trial early: {epochs_run}"


def toy_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy linear rule on 8 features: learnable in a few epochs, not perfectly."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=n)) > 0).astype(np.int64)
    return x, y


# --- without any framework ---------------------------------------------------------------------------

def test_importing_hpopt_and_integrations_imports_no_framework():
    code = ("import sys, hpopt, hpopt.integrations\n"
            "bad = [m for m in ('lightning', 'pytorch_lightning', 'transformers', 'keras', 'tensorflow', 'torch')"
            " if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    assert done.returncode == 0, done.stderr


def test_a_missing_framework_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras now raises ImportError
    monkeypatch.delitem(sys.modules, "hpopt.integrations.keras", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'hpopt\[keras\]'"):
        import hpopt.integrations.keras  # noqa: F401


def test_oom_guard_reports_a_cuda_oom_and_passes_other_errors(tmp_path):
    hpo = random_run(tmp_path, num_trials=1, iterations=2)
    cfg = hpo.get_next_sample()
    with pytest.raises(ValueError, match="not an OOM"), oom_guard(cfg):
        raise ValueError("not an OOM")
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.RUNNING
    with oom_guard(cfg):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.CUDAOOM
    assert is_cuda_oom(RuntimeError("x")) is False
    with pytest.raises(TypeError, match="train_config"), oom_guard("not a config"):
        pass


def test_an_oom_after_the_trial_ended_leaves_its_result(tmp_path):
    """The callbacks' shared part, without a framework: STOP at iterations, then an OOM (in a test phase,
    say) is not reported over the finished trial; it propagates."""
    hpo = random_run(tmp_path, num_trials=1, iterations=2)
    cfg = hpo.get_next_sample()
    trial = TrialReporter(cfg, "acc", "test")
    assert [trial.report(0.5), trial.report(0.7), trial.report(0.9)] == [False, True, True]
    assert trial.scores == stored_scores(cfg) == [0.5, 0.7]
    with pytest.raises(RuntimeError, match="CUDA out of memory"), oom_guard(cfg):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.STOP
    assert hpo.get_next_sample() is None and hpo.is_finished() and hpo.get_best_score() == 0.7


# --- PyTorch Lightning ---------------------------------------------------------------------------------

def lightning_parts() -> tuple[Any, Any, Any]:
    pl = pytest.importorskip("lightning.pytorch")
    torch = pytest.importorskip("torch")
    from hpopt.integrations.lightning import HpoptCallback

    class Net(pl.LightningModule):
        def __init__(self, lr: float, oom: bool = False) -> None:
            super().__init__()
            self.lr, self.oom = lr, oom
            self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

        def training_step(self, batch: Any, _: int) -> Any:
            if self.oom:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB (simulated)")
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    class Recorder(pl.Callback):
        """What Lightning itself logged at each validation of fit(), to compare with hpopt's scores."""

        def __init__(self) -> None:
            self.values: list[float] = []

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                self.values.append(float(trainer.callback_metrics["val_acc"]))

    return pl, Net, (HpoptCallback, Recorder)


def lightning_fit(pl: Any, model: Any, callbacks: list, max_epochs: int, root: Path) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y = toy_data()
    train = DataLoader(TensorDataset(torch.from_numpy(x[:192]), torch.from_numpy(y[:192])), batch_size=64)
    val = DataLoader(TensorDataset(torch.from_numpy(x[192:]), torch.from_numpy(y[192:])), batch_size=64)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=1, default_root_dir=str(root), callbacks=callbacks)
    trainer.fit(model, train, val)
    return trainer


def test_lightning_asha_end_to_end(tmp_path):
    pl, Net, (HpoptCallback, Recorder) = lightning_parts()
    import torch

    hpo = asha(tmp_path / "hpo")
    epochs_run: dict[int, int] = {}
    while (cfg := hpo.get_next_sample()) is not None:
        torch.manual_seed(cfg["trial_id"])
        recorder, callback = Recorder(), HpoptCallback(cfg, monitor="val_acc")
        trainer = lightning_fit(pl, Net(cfg["params"]["lr"]), [recorder, callback], MAX_EPOCHS + 2, tmp_path)
        assert stored_scores(cfg) == pytest.approx(recorder.values) == callback.scores
        assert trainer.current_epoch == len(recorder.values)  # training stopped at the last report
        epochs_run[cfg["trial_id"]] = len(recorder.values)
    check_asha_run(hpo, epochs_run)


def test_lightning_stops_at_iterations_and_finalizes_a_short_fit(tmp_path):
    pl, Net, (HpoptCallback, _) = lightning_parts()
    hpo = random_run(tmp_path / "hpo", num_trials=2, iterations=3)
    long_fit, short_fit = hpo.get_next_samples(2)
    for cfg, max_epochs in ((long_fit, 10), (short_fit, 1)):
        callback = HpoptCallback(cfg)
        trainer = lightning_fit(pl, Net(cfg["params"]["lr"]), [callback], max_epochs, tmp_path)
        assert len(callback.scores) == trainer.current_epoch == min(max_epochs, cfg["iterations"])
        assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.STOP
    assert hpo.get_next_sample() is None and hpo.is_finished() and hpo.get_best_config() is not None


def test_lightning_reports_a_cuda_oom_and_names_a_missing_metric(tmp_path):
    pl, Net, (HpoptCallback, _) = lightning_parts()
    hpo = random_run(tmp_path / "hpo", num_trials=2, iterations=2)
    cfg = hpo.get_next_sample()
    with oom_guard(cfg):
        lightning_fit(pl, Net(0.01, oom=True), [HpoptCallback(cfg)], 2, tmp_path)
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.CUDAOOM

    cfg = hpo.get_next_sample()
    with pytest.raises(MissingMetricError, match=r"'val_loss'.*\['val_acc'\]"):
        lightning_fit(pl, Net(0.01), [HpoptCallback(cfg, monitor="val_loss")], 2, tmp_path)
    with pytest.raises(TypeError, match="train_config"):
        HpoptCallback("trial 1")
    with pytest.raises(ValueError, match="train_config"):
        HpoptCallback(cfg["params"])


# --- Hugging Face Transformers -------------------------------------------------------------------------

def test_transformers_asha_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the model is built from a config: nothing to download
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    pytest.importorskip("accelerate")
    from hpopt.integrations.transformers import HpoptCallback

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, size=(96, 8))
    labels = (ids[:, 0] > 25).astype(np.int64)  # the class is in the first token: learnable
    rows = [{"input_ids": torch.tensor(row), "labels": torch.tensor(int(lab))}
            for row, lab in zip(ids, labels, strict=True)]
    train, evaluation = rows[:64], rows[64:]

    hpo = asha(tmp_path / "hpo", mode="min", num_trials=5)
    epochs_run: dict[int, int] = {}
    while (cfg := hpo.get_next_sample()) is not None:
        torch.manual_seed(cfg["trial_id"])
        model = transformers.BertForSequenceClassification(transformers.BertConfig(
            vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16, num_labels=2))
        args = transformers.TrainingArguments(
            output_dir=str(tmp_path / "out"), eval_strategy="epoch", save_strategy="no", logging_strategy="no",
            num_train_epochs=MAX_EPOCHS + 2, per_device_train_batch_size=16, per_device_eval_batch_size=32,
            learning_rate=cfg["params"]["lr"], report_to="none", use_cpu=True, disable_tqdm=True,
            seed=cfg["trial_id"], dataloader_num_workers=0)
        callback = HpoptCallback(cfg, metric="loss")  # finds "eval_loss"; the run's mode is "min"
        trainer = transformers.Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                                       callbacks=[callback])
        trainer.train()
        logged = [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]
        assert stored_scores(cfg) == pytest.approx(logged) == callback.scores
        assert trainer.state.epoch == pytest.approx(len(logged))  # training stopped at the last report
        epochs_run[cfg["trial_id"]] = len(logged)
    check_asha_run(hpo, epochs_run)


# --- Keras 3 -----------------------------------------------------------------------------------------

def keras_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    if "keras" not in sys.modules:
        monkeypatch.setenv("KERAS_BACKEND", "torch")  # no TensorFlow needed
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def keras_model(keras: Any, lr: float) -> Any:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_keras_asha_end_to_end(tmp_path, monkeypatch):
    keras = keras_module(monkeypatch)
    from hpopt.integrations.keras import HpoptCallback

    x, y = toy_data()
    hpo = asha(tmp_path / "hpo")
    epochs_run: dict[int, int] = {}
    while (cfg := hpo.get_next_sample()) is not None:
        keras.utils.set_random_seed(cfg["trial_id"])
        callback = HpoptCallback(cfg, monitor="val_accuracy")
        history = keras_model(keras, cfg["params"]["lr"]).fit(
            x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=MAX_EPOCHS + 2, batch_size=64,
            verbose=0, callbacks=[callback])
        logged = history.history["val_accuracy"]
        assert stored_scores(cfg) == pytest.approx(logged) == callback.scores
        epochs_run[cfg["trial_id"]] = len(logged)  # one history entry per epoch trained
    check_asha_run(hpo, epochs_run)


def test_keras_finalizes_a_short_fit_and_names_a_missing_metric(tmp_path, monkeypatch):
    keras = keras_module(monkeypatch)
    from hpopt.integrations.keras import HpoptCallback

    x, y = toy_data(64)
    hpo = random_run(tmp_path / "hpo", num_trials=2, iterations=3)
    cfg = hpo.get_next_sample()
    history = keras_model(keras, 0.01).fit(x, y, epochs=2, verbose=0, callbacks=[HpoptCallback(cfg, "accuracy")])
    assert stored_scores(cfg) == pytest.approx(history.history["accuracy"])
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.STOP

    cfg = hpo.get_next_sample()
    with pytest.raises(MissingMetricError, match=r"'val_accuracy'.*'accuracy'.*validation_data"):
        keras_model(keras, 0.01).fit(x, y, epochs=1, verbose=0, callbacks=[HpoptCallback(cfg)])


def test_the_lightning_sample_runs(tmp_path):
    pytest.importorskip("lightning.pytorch")
    pytest.importorskip("sklearn")
    save = tmp_path / "hpo"
    done = subprocess.run([sys.executable, str(ROOT / "samples" / "lightning_asha.py"), "--epochs", "4",
                           "--trials", "4", "--save-path", str(save)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best config: {'lr'" in done.stdout
    assert 2 <= len(list(save.glob("hpopt_trial_*.json"))) <= 4  # num_trials, or fewer when the budget ends it


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "needs", "metric"), [
    ("keras_asha.py", ("keras", "sklearn"), "val_accuracy"),
    ("transformers_asha.py", ("transformers", "accelerate"), "eval_loss"),
])
def test_the_keras_and_transformers_samples_run(tmp_path, sample, needs, metric):
    missing = [m for m in needs if importlib.util.find_spec(m) is None]  # not imported here: keras picks
    if missing:                                                          # its backend once, at import
        pytest.skip(f"needs {missing}")
    save = tmp_path / "hpo"
    done = subprocess.run([sys.executable, str(ROOT / "samples" / sample), "--epochs", "2", "--trials", "3",
                           "--save-path", str(save)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", KERAS_BACKEND="torch"),
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{metric} " in done.stdout.splitlines()[-1] and "best config: {" in done.stdout
    assert len(list(save.glob("hpopt_trial_*.json"))) == 3  # the num_trials asked for, all of them
