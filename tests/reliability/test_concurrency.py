"""Concurrency: 8 trainer processes x 1 000 reports at once while the controller polls, and two controllers
opened on the same save_path (the second is refused, whatever it asks for, and the first's run is intact).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from workloads import space

import hpopt
from hpopt.state.journal import load_status

HERE = Path(__file__).parent
PROCESSES, REPORTS, TRIALS = 8, 1000, 4


def _reporter(cfg: dict, index: int, start) -> None:
    start.wait()
    for j in range(REPORTS):
        hpopt.report(cfg, float(index * 100_000 + j))


@pytest.mark.slow  # 8 000 reports of two fsyncs each: 20-50 s depending on the disk
def test_8_processes_times_1000_reports(tmp_path):
    """Two processes per trial race on each trial file; the controller collects while they write."""
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(),
                       save_path=str(tmp_path / "h"), search_alg="random", num_trials=TRIALS,
                       max_iterations=PROCESSES // TRIALS * REPORTS, subset_ratio=1.0, seed=2)
    cfgs = hpo.get_next_samples(TRIALS)
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_reporter, args=(cfgs[i % TRIALS], i, start)) for i in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()
    polls = 0
    while any(p.is_alive() for p in procs):
        assert hpo.get_next_sample() is None  # nothing new to give while all trials run
        polls += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert hpo.is_finished() and polls > 0
    for t, cfg in enumerate(cfgs):
        doc = hpopt.load_json(cfg["file_path"])
        assert doc["status"] == hpopt.Status.STOP
        writers = [i for i in range(PROCESSES) if i % TRIALS == t]
        assert sorted(doc["scores"]) == sorted(float(i * 100_000 + j) for i in writers for j in range(REPORTS))
        for i in writers:  # each process's reports are in its own order: none lost, none reordered
            own = [s for s in doc["scores"] if s // 100_000 == i]
            assert own == sorted(own)
        assert len(doc["median"]) == len(doc["scores"])
    scores = [e["score"] for e in hpo.get_current_status()["config_list"]]
    assert scores == [float((TRIALS + t) * 100_000 + REPORTS - 1) for t in range(TRIALS)]
    assert hpo.get_best_config() == cfgs[-1]["params"]


CONTROLLER = """
import sys, json, hpopt
sys.path.insert(0, {tests!r})
from workloads import space
try:
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path={save!r},
                       search_alg="random", num_trials=6, max_iterations=2, subset_ratio=1.0, seed=1,
                       resume={resume})
except RuntimeError as err:
    print("REFUSED", err, flush=True)
    sys.exit(3)
print("RUNNING", flush=True)
while (cfg := hpo.get_next_sample()) is not None:
    hpopt.report(cfg, cfg["params"]["x"])
    hpopt.report(cfg, cfg["params"]["x"])
    if {wait}:
        sys.stdin.readline()  # hold the run open until the test says so
hpo.get_best_config()
hpo.close()
print("DONE", flush=True)
"""


def _controller(save: Path, resume: bool, wait: bool) -> subprocess.Popen:
    code = CONTROLLER.format(tests=str(HERE.parent), save=str(save), resume=resume, wait=wait)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("resume", [True, False])
def test_second_controller_is_refused_and_the_first_run_is_intact(tmp_path, resume):
    """resume=False must not archive a run that another controller is driving."""
    save = tmp_path / "h"
    first = _controller(save, resume=False, wait=True)
    assert first.stdout.readline().strip() == "RUNNING"
    first.stdin.write("\n")
    first.stdin.flush()  # one trial done, the run is live
    second = _controller(save, resume=resume, wait=False)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 3, err
    assert "another hpopt controller" in out and f"pid {first.pid}" in out and str(save) in out, out
    assert not (save / "archive").exists()
    out, _ = first.communicate(input="\n" * 10, timeout=60)
    assert first.returncode == 0 and "DONE" in out
    state = load_status(str(save))
    assert [e["trial_id"] for e in state["config_list"]] == list(range(6))
    assert all(e["status"] == hpopt.Status.STOP for e in state["config_list"])


def test_two_controllers_started_together_exactly_one_runs(tmp_path):
    for attempt in range(3):
        save = tmp_path / f"h{attempt}"
        procs = [_controller(save, resume=True, wait=False) for _ in range(2)]
        results = [p.communicate(timeout=120) for p in procs]
        codes = sorted(p.returncode for p in procs)
        # Either one was refused while the other ran, or the first finished before the second started
        # (then the second resumed a finished run): never two at once, never a crash.
        assert codes in ([0, 3], [0, 0]), results
        state = load_status(str(save))
        assert [e["trial_id"] for e in state["config_list"]] == list(range(6))


def test_a_killed_controller_is_replaced_at_once(tmp_path):
    save = tmp_path / "h"
    first = _controller(save, resume=False, wait=True)
    assert first.stdout.readline().strip() == "RUNNING"
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = _controller(save, resume=True, wait=False)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0 and "DONE" in out, err
    state = load_status(str(save))
    assert all(e["status"] == hpopt.Status.STOP for e in state["config_list"])


def test_in_one_process_a_new_controller_takes_over(tmp_path):
    """Re-running a notebook cell: the new object drives the run, the old one refuses to."""
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(tmp_path / "h"),
              search_alg="random", num_trials=4, max_iterations=1, subset_ratio=1.0, seed=3)
    old = hpopt.create(**kw)
    hpopt.report(old.get_next_sample(), 0.5)
    new = hpopt.create(**kw, resume=True)
    with pytest.raises(RuntimeError, match="no longer drives"):
        old.get_next_sample()
    assert new.get_next_sample()["trial_id"] == 1
