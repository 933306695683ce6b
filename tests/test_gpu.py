"""On a real GPU: the local adapter hands each trial its GPU, and a real CUDA OOM becomes ``reportOOM``.

Skipped where torch sees no CUDA device (CI here); run on a GPU machine with ``pytest tests/test_gpu.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from workloads import entries, jsonl

import hpopt
from hpopt.adapters.local import run_local

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SCRIPT = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_trial_script.py")]
OOM_FROM = 128  # gpu_trial_script.py's batch of bs takes bs/128 of the GPU's memory


def gpu_run(tmp_path: Any, num_trials: int = 6) -> Any:
    # seed 0 draws bs = 144 first: the first trial runs out of memory for real
    return hpopt.create(full_dataset_size=4096, num_full_iterations=3, save_path=str(tmp_path / "hpo"),
                        search_alg="random", num_trials=num_trials, max_iterations=3, seed=0, batch_size_name="bs",
                        search_space={"bs": hpopt.search_space("quniform", [16, 160, 16]),
                                      "lr": hpopt.search_space("loguniform", [1e-3, 1e-1])})


@pytest.mark.parametrize("guard", ["0", "1"], ids=["dies-of-oom", "oom_guard"])
def test_each_trial_gets_the_gpu_and_a_real_oom_shrinks_the_batch_size(tmp_path, guard):
    rec = tmp_path / "rec"
    rec.mkdir()
    hpo = gpu_run(tmp_path)
    summary = run_local(hpo, SCRIPT, resources="gpu", progress=False, job_retries=0,
                        env={"TRIAL_RECORD": str(rec), "GPU_OOM_GUARD": guard, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert summary.finished and summary.trials_failed == 0 and summary.trials_retried == 0
    starts, ends = jsonl(rec / "starts.jsonl"), jsonl(rec / "ends.jsonl")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    for start in starts:  # one GPU per trial, named by the adapter
        assert start["count"] == 1 and start["cuda"] and "," not in start["cuda"], start
        assert visible is None or start["cuda"] in visible.split(",")
    assert summary.trials_oom >= 1 and starts[0]["bs"] >= OOM_FROM
    oomed = {s["bs"] for s in starts} - {e["bs"] for e in ends}
    assert oomed and min(oomed) >= OOM_FROM - 16, (starts, ends)  # only batches near or above the limit failed
    assert hpo.search_space["bs"].upper < OOM_FROM
    assert len(ends) == 6 and all(e["device"].startswith("cuda") for e in ends)
    for entry in entries(hpo):
        assert entry["status"] == hpopt.Status.STOP and entry["config"]["bs"] < OOM_FROM
        assert 0.5 < entry["score"] <= 1.0  # the model really trained
    logs = "".join(p.read_text() for p in (tmp_path / "hpo" / "logs").iterdir())
    assert "CUDA out of memory" in logs  # torch's traceback, or the line oom_guard writes when it reports
    print(f"GPU {starts[0]['names']}: {summary.trials_oom} OOMs, bs upper bound now {hpo.search_space['bs'].upper}")


def test_lightning_on_the_gpu_reports_a_real_oom(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    from hpopt.integrations import oom_guard
    from hpopt.integrations.lightning import HpoptCallback

    class Net(pl.LightningModule):
        def __init__(self, bs: int, lr: float) -> None:
            super().__init__()
            self.bs, self.lr, self.activations = bs, lr, None
            self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

        def training_step(self, batch: Any, _: int) -> Any:
            if self.activations is None:  # held for the whole fit, like a model's memory, so none fragments
                total = torch.cuda.get_device_properties(0).total_memory
                try:
                    self.activations = torch.empty(self.bs * (total // 128), dtype=torch.uint8, device=self.device)
                except torch.OutOfMemoryError:
                    memory.append((self.bs, *(round(v / 2**30, 1) for v in torch.cuda.mem_get_info()),
                                   round(torch.cuda.memory_reserved() / 2**30, 1)))
                    raise
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def on_train_end(self) -> None:
            self.activations = None

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    data = DataLoader(TensorDataset(x, y), batch_size=64)
    hpo = gpu_run(tmp_path, num_trials=3)
    results, memory = [], []  # memory: (bs, free GiB, total GiB, reserved by torch GiB) at each OOM
    while (cfg := hpo.get_next_sample()) is not None:
        trainer = pl.Trainer(max_epochs=5, accelerator="gpu", devices=1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             default_root_dir=str(tmp_path), callbacks=[HpoptCallback(cfg)])
        with oom_guard(cfg):
            trainer.fit(Net(cfg["params"]["bs"], cfg["params"]["lr"]), data, data)
        status = hpopt.load_json(cfg["file_path"])["status"]
        results.append((cfg["params"]["bs"], status))
        torch.cuda.empty_cache()
    assert results[0] == (144, hpopt.Status.CUDAOOM), results
    assert all(status == hpopt.Status.CUDAOOM for bs, status in results if bs >= OOM_FROM), results
    assert all(bs >= OOM_FROM - 16 for bs, status in results if status == hpopt.Status.CUDAOOM), (results, memory)
    done = [bs for bs, status in results if status == hpopt.Status.STOP]
    assert len(done) == 3 and max(done) < OOM_FROM and hpo.search_space["bs"].upper < OOM_FROM
    assert hpo.is_finished() and hpo.get_best_config() is not None
