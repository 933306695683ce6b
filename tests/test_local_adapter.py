"""hpopt.adapters.local end to end: real child processes, real files, a fake nvidia-smi for the GPU logic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workloads import entries, jsonl, make_random, objective

import hpopt
from hpopt.adapters import run_loop
from hpopt.adapters.gpus import GpuAllocator, GpuInfo, parse_query
from hpopt.adapters.local import RunInterrupted, TrialFailedError, run_local
from hpopt.adapters.workers import is_cuda_oom

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = [sys.executable, os.path.join(HERE, "trial_script.py")]




def alive(pid):
    """Whether a process still runs (a zombie waiting to be reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- scripts ---------------------------------------------------------------------------------------


def test_four_parallel_script_trials_keep_the_best_artifacts(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    hpo = make_random(tmp_path)
    summary = run_local(hpo, SCRIPT, n_parallel=4, resources="cpu", progress=False,
                        env={"TRIAL_RECORD": str(rec), "TRIAL_SLEEP": "0.2"})
    assert summary.finished and summary.trials_done == 4 and summary.trials_failed == 0
    starts, ends = jsonl(rec / "starts.jsonl"), jsonl(rec / "ends.jsonl")
    assert sorted(s["trial_id"] for s in starts) == [0, 1, 2, 3]
    assert max(s["time"] for s in starts) < min(e["time"] for e in ends)  # all four ran at once
    assert all(s["cuda"] == "" for s in starts)  # resources="cpu" hides the GPUs
    for e in entries(hpo):
        assert e["status"] == hpopt.Status.STOP
        assert e["score"] == pytest.approx(objective(e["config"], 2))
        assert (tmp_path / "hpo" / "logs" / f"trial_{e['trial_id']}_attempt_0.log").is_file()
    best = max(entries(hpo), key=lambda e: e["score"])
    assert summary.best_trial_id == best["trial_id"] and summary.best_config == best["config"]
    # keep_top_k=1: only the best trial's artifact folder survives, holding what that trial saved
    kept = sorted(os.listdir(tmp_path / "hpo" / "artifacts"))
    assert kept == [".run_id", f"trial_{best['trial_id']}"]
    with open(summary.kept_artifacts[0] + "/model.json") as f:
        assert json.load(f)["params"] == best["config"]


def test_crash_twice_then_succeed_with_two_retries(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    hpo = make_random(tmp_path, num_trials=1)
    summary = run_local(hpo, SCRIPT, n_parallel=1, resources="cpu", job_retries=2, progress=False,
                        env={"TRIAL_RECORD": str(rec), "CRASH_UNTIL": "2"})
    assert summary.finished and summary.trials_done == 1 and summary.trials_failed == 0
    assert summary.trials_retried == 2
    assert [(s["trial_id"], s["attempt"]) for s in jsonl(rec / "starts.jsonl")] == [(0, 0), (0, 1), (0, 2)]
    (entry,) = entries(hpo)
    assert entry["retries"] == 2 and entry["attempt"] == 2 and "error" not in entry
    assert entry["score"] == pytest.approx(objective(entry["config"], 2))  # same params as the crashed attempts
    logs = tmp_path / "hpo" / "logs"
    assert "crashing on start 1" in (logs / "trial_0_attempt_0.log").read_text()
    assert "crashing on start 2" in (logs / "trial_0_attempt_1.log").read_text()


def test_failed_trial_stops_the_run_then_resume_goes_on(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    hpo = make_random(tmp_path, num_trials=4)
    with pytest.raises(TrialFailedError) as info:
        run_local(hpo, SCRIPT, n_parallel=2, resources="cpu", job_retries=1, progress=False,
                  env={"TRIAL_RECORD": str(rec), "CRASH_TRIAL": "1", "TRIAL_SLEEP": "0.3"})
    err = info.value
    assert err.trial_id == 1 and "exit code 1 (after 1 retry)" in str(err)
    assert err.log_path.endswith("trial_1_attempt_1.log") and "always crashes" in Path(err.log_path).read_text()
    assert not hpo.is_finished()
    assert not [s["pid"] for s in jsonl(rec / "starts.jsonl") if alive(s["pid"])]  # every child was stopped
    failed = entries(hpo)[1]
    assert failed["score"] is None and failed["error"].startswith("exit code 1 (after 1 retry); log: ")
    hpo.close()
    again = make_random(tmp_path, num_trials=4, resume=True)
    summary = run_local(again, SCRIPT, n_parallel=2, resources="cpu", progress=False, env={"TRIAL_RECORD": str(rec)})
    assert summary.finished and summary.trials_done == 3 and summary.trials_failed == 1
    assert [e["score"] is None for e in entries(again)] == [False, True, False, False]


def test_ignore_fail_goes_on_without_the_failed_trial(tmp_path):
    hpo = make_random(tmp_path, num_trials=4)
    summary = run_local(hpo, SCRIPT, n_parallel=2, resources="cpu", ignore_fail=True, progress=False,
                        env={"CRASH_TRIAL": "2"})
    assert summary.finished and summary.trials_done == 3 and summary.trials_failed == 1
    assert summary.best_trial_id != 2
    entry = entries(hpo)[2]
    assert entry["score"] is None and entry["error"].endswith("trial_2_attempt_0.log")


def test_cuda_oom_on_a_script_stderr_shrinks_the_batch_size(tmp_path):
    hpo = make_random(tmp_path, num_trials=5, batch_size_name="bs", max_iterations=1)
    # job_retries=0 and ignore_fail=False: an OOM counted as a crash would raise
    summary = run_local(hpo, SCRIPT, n_parallel=2, resources="cpu", progress=False, env={"OOM_FROM": "64"})
    assert summary.finished and summary.trials_failed == 0 and summary.trials_retried == 0
    assert summary.trials_oom >= 1
    assert all(e["config"]["bs"] < 64 for e in entries(hpo))
    assert hpo.search_space["bs"].upper < 64
    assert any("CUDA out of memory" in p.read_text() for p in (tmp_path / "hpo" / "logs").iterdir())


# --- callables --------------------------------------------------------------------------------------


def torch_trainer(config):
    """Raises torch's CUDA OOM error (on CPU) for large batches, as a too-big model on a GPU would."""
    import torch

    if config["params"]["bs"] >= 64:
        raise torch.cuda.OutOfMemoryError("simulated: allocation of the activations failed")
    x = torch.full((config["params"]["bs"], 4), config["params"]["x"])
    for epoch in range(config["iterations"]):
        if hpopt.report(config, float(-((x.mean() - 1.0) ** 2)) + 0.01 * epoch) == hpopt.Status.STOP:
            break


def test_torch_oom_in_a_callable_shrinks_the_batch_size(tmp_path):
    pytest.importorskip("torch")  # imported here, so forked trial processes start with it loaded
    hpo = make_random(tmp_path, num_trials=6, batch_size_name="bs", max_iterations=2)
    summary = run_local(hpo, torch_trainer, n_parallel=2, resources="cpu", progress=False, start_method="fork")
    assert summary.finished and summary.trials_done == 6 and summary.trials_failed == 0
    assert summary.trials_retried == 0 and summary.trials_oom >= 1
    assert all(e["config"]["bs"] < 64 for e in entries(hpo))
    assert hpo.search_space["bs"].upper < 64 and hpo.search_space["bs"].upper <= 128 - 8
    logs = [p.read_text() for p in (tmp_path / "hpo" / "logs").iterdir()]
    assert any("OutOfMemoryError: simulated" in text for text in logs)


def stubborn_trainer(config):
    """Ignores SIGTERM and never reports: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(os.path.join(config["artifact_dir"], "..", "..", "..", "pids"), "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(60)


def test_timeout_sigterm_then_sigkill_counts_as_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(run_loop, "KILL_GRACE_S", 0.5)
    hpo = make_random(tmp_path, num_trials=1)
    t0 = time.monotonic()
    summary = run_local(hpo, stubborn_trainer, n_parallel=1, resources="cpu", timeout=0.5, job_retries=1,
                        ignore_fail=True, progress=False, start_method="fork", keep_top_k=None)
    assert time.monotonic() - t0 < 10
    assert summary.finished and summary.trials_failed == 1 and summary.trials_retried == 1
    (entry,) = entries(hpo)
    assert entry["error"].startswith("timed out after 0.5 s (after 1 retry)")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2 and not [p for p in pids if alive(p)]
    assert summary.kept_artifacts == [str(tmp_path / "hpo" / "artifacts" / "trial_0")]  # keep_top_k=None keeps all


def slow_trainer(config):
    with open(os.path.join(config["artifact_dir"], "..", "..", "..", "pids"), "a") as f:
        f.write(f"{os.getpid()}\n")
    for _ in range(config["iterations"]):
        time.sleep(0.5)
        hpopt.report(config, 1.0)


def test_ctrl_c_stops_the_children_and_leaves_a_resumable_run(tmp_path):
    hpo = make_random(tmp_path, num_trials=3, max_iterations=60)
    handler = signal.getsignal(signal.SIGINT)
    # SIGINT to ourselves once both trials run: the controller stops them and raises RunInterrupted
    timer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1.0); os.kill({os.getpid()}, 2)"])
    with pytest.raises(RunInterrupted) as info:
        run_local(hpo, slow_trainer, n_parallel=2, resources="cpu", progress=False, start_method="fork")
    timer.wait()
    assert info.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is handler  # the controller's handler was removed
    assert hpo.running_trials() == [0, 1]  # still RUNNING in the state: resume re-issues them
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2 and not [p for p in pids if alive(p)]
    hpo.close()
    again = make_random(tmp_path, num_trials=3, max_iterations=60, resume=True)
    assert again.get_next_sample()["attempt"] == 1


# --- GPUs -------------------------------------------------------------------------------------------

FAKE_SMI = """#!/bin/sh
echo "$@" >> "{log}"
cat <<'EOF'
0, 5000, 90
1, 100, 0
2, 100, 50
3, 3000, 10
EOF
"""


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    """A fake nvidia-smi first on PATH listing four GPUs: least busy 1, then 2, 3, 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI.format(log=tmp_path / "smi_calls.log"))
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "smi_calls.log"


def gpu_trainer(config, wait_for=0):
    """Record the GPUs given; hold them until ``wait_for`` trials have started (at most 10 s), then report."""
    path = os.path.join(os.path.dirname(config["file_path"]), "..", "gpus.jsonl")
    with open(path, "a") as f:
        f.write(json.dumps({"trial_id": config["trial_id"], "cuda": os.environ["CUDA_VISIBLE_DEVICES"]}) + "\n")
    deadline = time.monotonic() + 10
    while len(jsonl(path)) < wait_for and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    hpopt.report(config, float(config["trial_id"]))


def six_at_once(config):
    gpu_trainer(config, wait_for=6)


def test_gpus_least_busy_first_and_rotation(tmp_path, fake_gpus):
    hpo = make_random(tmp_path, num_trials=6, max_iterations=1)
    summary = run_local(hpo, six_at_once, n_parallel=6, resources="gpu", progress=False, start_method="fork")
    assert summary.finished and summary.trials_done == 6
    got = {r["trial_id"]: r["cuda"] for r in jsonl(tmp_path / "gpus.jsonl")}
    # six trials on four GPUs: one each, least busy first (1, 2, 3, 0), then the two least busy again
    assert got == {0: "1", 1: "2", 2: "3", 3: "0", 4: "1", 5: "2"}
    calls = fake_gpus.read_text().splitlines()
    assert calls and all("--query-gpu=index,memory.used,utilization.gpu" in c for c in calls)


def test_two_gpus_per_trial(tmp_path, fake_gpus):
    hpo = make_random(tmp_path, num_trials=4, max_iterations=1)
    summary = run_local(hpo, gpu_trainer, gpus_per_trial=2, resources="auto", progress=False, start_method="fork")
    assert summary.finished and summary.trials_done == 4
    got = [r["cuda"] for r in sorted(jsonl(tmp_path / "gpus.jsonl"), key=lambda r: r["trial_id"])]
    assert got[:2] == ["1,2", "3,0"]  # n_parallel defaults to 4 GPUs // 2 = 2 trials at once
    assert set(got[2:]) <= {"1,2", "3,0"}  # later trials take a freed pair, never half of a busy one


def test_no_gpu_found(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    hpo = make_random(tmp_path)
    with pytest.raises(RuntimeError, match="resources='gpu' but nvidia-smi lists no GPU"):
        run_local(hpo, SCRIPT, resources="gpu", progress=False)
    with pytest.raises(ValueError, match="gpus_per_trial must be an int >= 1"):
        run_local(hpo, SCRIPT, gpus_per_trial=0)
    with pytest.raises(ValueError, match="n_parallel must be an int >= 1"):
        run_local(hpo, SCRIPT, n_parallel=0)


def test_allocator_and_query_parsing():
    assert parse_query("0, 10, [N/A]\nbad line\n1, 5, 3\n") == [GpuInfo(0, 10.0, 0.0), GpuInfo(1, 5.0, 3.0)]
    alloc = GpuAllocator([GpuInfo(0, 0, 0), GpuInfo(1, 0, 0)], refresh=False)
    assert [alloc.acquire(1) for _ in range(3)] == [[0], [1], [0]]  # equal GPUs: rotate
    alloc.release([0])
    alloc.release([0])
    assert alloc.acquire(1) == [0] and alloc.trials_on(1) == 1
    with pytest.raises(ValueError, match="cannot use 3 GPUs"):
        alloc.acquire(3)


def test_cuda_oom_detection():
    class OutOfMemoryError(RuntimeError):
        pass

    OutOfMemoryError.__module__ = "torch.cuda"
    assert is_cuda_oom(OutOfMemoryError("x"))
    try:
        try:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB")
        except RuntimeError as inner:
            raise ValueError("batch failed") from inner
    except ValueError as outer:
        assert is_cuda_oom(outer)
    assert not is_cuda_oom(MemoryError("host memory"))
    assert not is_cuda_oom(RuntimeError("shape mismatch"))
